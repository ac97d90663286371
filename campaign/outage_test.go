package campaign

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/internal/tcpswitch"
	"github.com/redpack-go/redpack/redpacktest"
)

// closedURL is an https base URL on a local port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	u, err := tcpswitch.ClosedURL()
	require.NoError(t, err)
	return u
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
			p, err := tcpswitch.New(u.Host)
			require.NoError(t, err)
			t.Cleanup(p.Off)
			create(t, s, "blink", rowsOf(openids(n), 100))
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cfg := runConfig(t, srv)
			cfg.ClientOptions = []redpack.Option{redpack.WithBaseURL("https://" + p.Addr + u.Path), redpack.WithRootCAs(srv.CertPool())}
			cfg.ProgressEvery = 50 * time.Millisecond
			var once sync.Once
			cfg.Progress = func(t2 Totals) {
				if t2.Paid >= n/3 {
					once.Do(func() {
						p.Off()
						go func() {
							time.Sleep(2 * time.Second)
							assert.NoError(t, p.On())
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

// TestRestartAfterKillSettlesAtOnce: on SQLite a run holds the file's
// lock, so a run that starts after one was killed knows the killed run's
// open attempts and running jobs are dead. It settles those rows at once
// rather than waiting for the deadlines the dead run stored (an hour here)
// and River's rescue window.
func TestRestartAfterKillSettlesAtOnce(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t)
	create(t, s, "killed", rowsOf(openids(3), 100))
	e := s.e.(interface {
		testEngine
		claimAny(ctx context.Context, r *jrow, mchID string, now time.Time, l Limits) (bool, string, error)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The killed run had claimed row 1, with a deadline an hour away, and
	// River still shows its job running.
	r, err := e.loadRowAny(ctx, "killed", 1)
	require.NoError(t, err)
	require.NoError(t, e.execAny(ctx, `UPDATE redpack_campaign SET mch_id = $1`, redpacktest.DefaultMchID))
	ok, _, err := e.claimAny(ctx, r, redpacktest.DefaultMchID, time.Now(), Limits{}.withDefaults())
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, e.execAny(ctx, `UPDATE redpack_campaign_row SET send_deadline = $1 WHERE campaign = 'killed' AND row_no = 1`,
		time.Now().Add(time.Hour).UnixMilli()))
	jobID := queryInt(t, s, `SELECT job_id FROM redpack_campaign_row WHERE campaign = 'killed' AND row_no = 1`)
	require.NoError(t, e.execAny(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = $1 WHERE id = $2`,
		time.Now().Add(-time.Second).UTC().Format("2006-01-02 15:04:05.000"), jobID))

	tot, err := s.Run(ctx, "killed", runConfig(t, srv))
	require.NoError(t, err, "the dead run's row is settled without waiting an hour")
	require.Equal(t, int64(3), tot.Paid)
	assertMatchesLedger(t, srv, report(t, s, "killed"))
	require.Equal(t, int64(1), queryInt(t, s, `SELECT COUNT(*) FROM river_job WHERE id = $1 AND state = 'discarded'`, jobID),
		"the dead run's job was rescued, as River's rescuer would")
}
