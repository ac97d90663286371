package campaign

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

// closedURL is an https base URL on a local port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "https://" + addr + "/"
}

// TestOutageStrandsNothing: with WeChat unreachable a run claims only a
// few rows before it pauses, probes, and stops with ErrOutage after
// OutageLimit. No row is left unknown or counted as sent, since no
// request left; a day later, with WeChat back, every row is paid once.
func TestOutageStrandsNothing(t *testing.T) {
	const n = 20
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			create(t, s, "dark", rowsOf(openids(n), 100))
			bills := billsOf(report(t, s, "dark"))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cfg := runConfig(t, srv)
			cfg.ClientOptions = []redpack.Option{redpack.WithBaseURL(closedURL(t)), redpack.WithRootCAs(srv.CertPool())}
			cfg.OutageLimit = 3 * time.Second
			cfg.ProgressEvery = 100 * time.Millisecond
			tot, err := s.Run(ctx, "dark", cfg)
			require.ErrorIs(t, err, ErrOutage)
			var stopped *StoppedError
			require.ErrorAs(t, err, &stopped)
			assert.Contains(t, stopped.Detail, "not sent")
			require.Equal(t, int64(n), tot.Pending, "every row waits, unsent")
			require.Zero(t, tot.Unknown)
			claims := queryInt(t, s, `SELECT COALESCE(SUM(send_gen), 0) FROM redpack_campaign_row WHERE campaign = 'dark'`)
			assert.Less(t, claims, int64(n), "the run never claims the whole file into an outage")
			for _, r := range report(t, s, "dark") {
				require.Truef(t, r.FirstSentAt.IsZero(), "row %d: no send left, none is counted", r.Row)
			}

			// A day later (past the resend window) WeChat is back.
			cfg = runConfig(t, srv)
			cfg.now = func() time.Time { return time.Now().Add(25 * time.Hour) }
			srv.Advance(25 * time.Hour)
			tot, err = s.Run(ctx, "dark", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(n), tot.Paid)
			rows := report(t, s, "dark")
			assertMatchesLedger(t, srv, rows)
			for _, r := range rows {
				assert.Equal(t, bills[r.Row], r.BillNo, "row %d sent under its bill number", r.Row)
				assert.Equal(t, 1, sendsOf(srv, r.BillNo), "row %d sent once", r.Row)
			}
		})
	}
}

// switchProxy forwards TCP to a target and can be switched off (listener
// closed, every connection cut) and on again on the same port, as a
// server stopped and restarted looks to its clients.
type switchProxy struct {
	addr, target string
	mu           sync.Mutex
	l            net.Listener
	conns        map[net.Conn]bool
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	p := &switchProxy{target: target, conns: map[net.Conn]bool{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.down)
	return p
}

func (p *switchProxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *switchProxy) pipe(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); u.Close() }()
	_, _ = io.Copy(c, u)
	c.Close()
}

func (p *switchProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *switchProxy) up() error {
	var l net.Listener
	var err error
	for range 50 { // the port was just closed; it may take a moment
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	p.serve(l)
	return nil
}

// TestServerRestartMidRun: WeChat goes away in the middle of a run and
// comes back. No row is paid twice and none is stranded.
func TestServerRestartMidRun(t *testing.T) {
	const n = 60
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			u, err := url.Parse(srv.URL())
			require.NoError(t, err)
			p := newSwitchProxy(t, u.Host)
			create(t, s, "blink", rowsOf(openids(n), 100))
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cfg := runConfig(t, srv)
			cfg.ClientOptions = []redpack.Option{redpack.WithBaseURL("https://" + p.addr + u.Path), redpack.WithRootCAs(srv.CertPool())}
			cfg.ProgressEvery = 50 * time.Millisecond
			var once sync.Once
			cfg.Progress = func(t2 Totals) {
				if t2.Paid >= n/3 {
					once.Do(func() {
						p.down()
						go func() {
							time.Sleep(2 * time.Second)
							assert.NoError(t, p.up())
						}()
					})
				}
			}
			tot, err := s.Run(ctx, "blink", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(n), tot.Paid, "%+v", tot)
			assertMatchesLedger(t, srv, report(t, s, "blink"))
			require.Len(t, srv.Packets(), n, "no row paid twice")
		})
	}
}
