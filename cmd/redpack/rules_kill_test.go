package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/redpacktest"
)

// killableServe is "redpack rules serve" in its own process, so that it can
// be SIGKILLed.
type killableServe struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
}

// spawnServe starts rules serve on addr in a child process and waits until
// it listens.
func spawnServe(t *testing.T, env map[string]string, addr string, args ...string) *killableServe {
	t.Helper()
	all := append([]string{"rules", "serve", "--listen", addr, "--timeout", "1s", "--max-attempts", "2"}, args...)
	cmd := exec.Command(os.Args[0], all...)
	cmd.Env = []string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &killableServe{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case line, ok := <-first:
		require.True(t, ok && serveLine.MatchString(line), "rules serve did not start: %q\n%s", line, p.stderr)
	case <-time.After(waitTimeout):
		t.Fatalf("rules serve did not start:\n%s", p.stderr)
	}
	return p
}

// kill SIGKILLs the process and waits for it to be gone.
func (p *killableServe) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case <-p.done:
	case <-time.After(waitTimeout):
		t.Fatal("rules serve survived SIGKILL")
	}
}

// freeAddr is a local address nothing listens on, kept across restarts so
// that WeChat's notify_url stays the same.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestRulesServeKilled: rules serve SIGKILLed between the award's commit
// and its answer to WeChat, then at random points under a stream of
// payments, restarted each time with other flags, while the fake notifies
// again on WeChat's schedule (its clock moved by the test). In the end
// every qualifying payment is paid exactly once, every other payment not
// at all, and the report matches the ledger. REDPACK_CHAOS_SEED replays a
// seed.
func TestRulesServeKilled(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(chaosSeedEnv); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Logf("replay with: %s=%d go test -run 'TestRulesServeKilled/%s' ./cmd/redpack/", chaosSeedEnv, seed, kind)
			playServeKills(t, kind, seed)
		})
	}
}

func playServeKills(t *testing.T, kind string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	start := time.Date(2026, 12, 15, 10, 0, 0, 0, chinaTime)
	f := newFixture(t, redpacktest.WithClock(start))
	env := campaignEnv(f, dbOf(t, kind, f.dir))
	config := rulesFile(t, f.dir, issueRules)
	addr := freeAddr(t)
	notifyURL := "http://" + addr + "/notify"

	// The merchant's own handler, behind --forward: it holds the first
	// notification until serve is killed.
	var (
		forwarded atomic.Int64
		holdFirst = make(chan struct{})
		heldOnce  sync.Once
	)
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then the server notices the client going away
		if forwarded.Add(1) == 1 {
			heldOnce.Do(func() { close(holdFirst) })
			select { // serve dies with the request open
			case <-r.Context().Done():
			case <-time.After(waitTimeout):
			}
			return
		}
		_, _ = io.WriteString(w, `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>`)
	}))
	t.Cleanup(merchant.Close)

	// 1. Killed between the journal's commit and the answer.
	serve := spawnServe(t, env, addr, "--config", config, "--forward", merchant.URL)
	ids := campaignOpenIDs(40)
	first, err := f.srv.Pay(redpacktest.PaymentRequest{OpenID: ids[0], TotalFee: 12000, NotifyURL: notifyURL})
	require.NoError(t, err)
	select {
	case <-holdFirst: // the award is committed: serve forwards only after it
	case <-time.After(waitTimeout):
		t.Fatalf("the notification was not forwarded:\n%s", serve.stderr)
	}
	st := rulesStatus(t, env, "rules")
	require.Equal(t, int64(1), st.Rules[0].Awards["waiting"]+st.Rules[0].Awards["queued"], "journalled before the answer")
	serve.kill(t)
	require.NoError(t, f.srv.WaitDeliveries(context.Background()))
	p, _ := f.srv.Payment(first.TransactionID)
	require.False(t, p.Delivered, "WeChat got no SUCCESS")

	serve = spawnServe(t, env, addr, "--config", config, "--forward", merchant.URL, "--workers", "2")
	f.srv.Advance(15 * time.Second) // WeChat notifies again
	require.NoError(t, f.srv.WaitDeliveries(context.Background()))
	p, _ = f.srv.Payment(first.TransactionID)
	require.True(t, p.Delivered, "the re-notification found the award and was answered SUCCESS")

	// 2. Killed at random points under a stream of payments, restarted
	// with other flags each time.
	qualifies := map[string]bool{first.TransactionID: true}
	var mu sync.Mutex
	stream := make(chan struct{})
	pace := rand.New(rand.NewPCG(seed+1, seed)) // the stream's own: rng is the killer's
	go func() {
		defer close(stream)
		for i := 1; i < len(ids); i++ {
			fee := int64(10000 + 500*(i%7))
			if i%4 == 0 {
				fee = 5000 // below min_fee
			}
			pay, err := f.srv.Pay(redpacktest.PaymentRequest{OpenID: ids[i], TotalFee: fee, NotifyURL: notifyURL})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			qualifies[pay.TransactionID] = fee >= 10000
			mu.Unlock()
			time.Sleep(time.Duration(20+pace.IntN(80)) * time.Millisecond)
		}
	}()
	flags := func() []string {
		a := []string{"--config", config, "--workers", strconv.Itoa(1 + rng.IntN(8))}
		if rng.IntN(2) == 0 {
			a = append(a, "--forward", merchant.URL)
		}
		if rng.IntN(3) == 0 {
			a = append(a, "--hold", "2s")
		}
		return a
	}
	for kills := 0; kills < 3; kills++ {
		time.Sleep(time.Duration(200+rng.IntN(1500)) * time.Millisecond)
		serve.kill(t)
		f.srv.Advance(time.Duration(15+rng.IntN(45)) * time.Second)
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		serve = spawnServe(t, env, addr, flags()...)
	}
	<-stream

	// 3. WeChat's schedule runs its course: every payment's notification
	// is answered SUCCESS in the end, and every award is paid.
	for _, step := range redpacktest.RedeliverySchedule() {
		require.NoError(t, f.srv.WaitDeliveries(context.Background()))
		undelivered := 0
		for _, p := range f.srv.Payments() {
			if !p.Delivered {
				undelivered++
			}
		}
		if undelivered == 0 {
			break
		}
		f.srv.Advance(step)
	}
	for _, p := range f.srv.Payments() {
		require.True(t, p.Delivered, "payment %s never answered SUCCESS", p.TransactionID)
	}
	want := int64(0)
	for _, q := range qualifies {
		if q {
			want++
		}
	}
	st = waitPaid(t, env, "rules", want)

	perOpenID := map[string]int{}
	for _, pk := range f.srv.Packets() {
		if pk.Paid {
			perOpenID[pk.ReOpenID]++
		}
	}
	for _, p := range f.srv.Payments() {
		n := perOpenID[p.OpenID]
		if qualifies[p.TransactionID] {
			assert.Equal(t, 1, n, "qualifying payment %s (openid %s) paid once", p.TransactionID, p.OpenID)
		} else {
			assert.Zero(t, n, "payment %s of %d fen paid nothing", p.TransactionID, p.TotalFee)
		}
	}
	r := st.Rules[0]
	assert.Equal(t, want, r.Awards["queued"], fmt.Sprint(r.Awards))
	assert.Equal(t, int64(len(qualifies))-want, r.Skipped["min_fee"])
	assert.Equal(t, want*500, r.Spent)
	assert.Equal(t, want*500, r.AmountPaid)
	assertReportMatchesLedger(t, f.srv, reportRows(t, env, "rules"))
}

// TestRulesServeSeveralProcesses: two rules serve processes with different
// flags share one PostgreSQL database behind a load balancer that sends
// each delivery to either; each payment's first delivery comes as two
// copies at once, and a second serve re-judges what the first journalled.
// The budget covers 20 of the 30 qualifying payments: exactly 20 are paid,
// the budget spent to the fen, across both processes.
func TestRulesServeSeveralProcesses(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, freshPostgresDSN(t))
	tight := strings.Replace(issueRules, `"budget": 75000`, `"budget": 10000`, 1)
	config := rulesFile(t, f.dir, tight)
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>`)
	}))
	t.Cleanup(merchant.Close)
	addrs := []string{freeAddr(t), freeAddr(t)}
	spawnServe(t, env, addrs[0], "--config", config, "--workers", "2", "--hold", "1s")
	spawnServe(t, env, addrs[1], "--config", config, "--workers", "6", "--forward", merchant.URL, "--rate", "10")

	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	balancer := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		mu.Lock()
		addr := addrs[rng.IntN(len(addrs))]
		mu.Unlock()
		r.SetURL(&url.URL{Scheme: "http", Host: addr})
	}})
	t.Cleanup(balancer.Close)

	dec15 := time.Date(2026, 12, 15, 12, 0, 0, 0, chinaTime)
	ids := campaignOpenIDs(40)
	qualifying := 0
	for i, id := range ids {
		fee := int64(10000)
		if i%4 == 3 {
			fee = 9999
		} else {
			qualifying++
		}
		_, err := f.srv.Pay(redpacktest.PaymentRequest{OpenID: id, TotalFee: fee, TimeEnd: dec15, NotifyURL: balancer.URL + "/notify",
			Faults: redpacktest.DeliveryFaults{Copies: 2}})
		require.NoError(t, err)
	}
	require.Equal(t, 30, qualifying)
	require.NoError(t, f.srv.WaitDeliveries(context.Background()))
	for _, p := range f.srv.Payments() {
		// Once more, to either process, and again while a delivery went
		// unanswered (WeChat's 5 s, on a loaded machine), as WeChat would.
		for try := 0; ; try++ {
			d, err := f.srv.Notify(context.Background(), p.TransactionID)
			require.NoError(t, err)
			if d.Success {
				break
			}
			require.Less(t, try, 5, "payment %s never answered SUCCESS: %+v", p.TransactionID, d)
		}
	}
	st := waitPaid(t, env, "rules", 20)
	r := st.Rules[0]
	assert.Equal(t, int64(20), r.Awards["queued"], fmt.Sprint(r.Awards))
	assert.Equal(t, int64(10), r.Skipped["budget"])
	assert.Equal(t, int64(10), r.Skipped["min_fee"])
	assert.Equal(t, int64(10000), r.Spent)
	assert.Zero(t, r.Left)
	assert.Equal(t, int64(10000), f.srv.Paid(testMchID), "the ledger: the budget to the fen")
	assertReportMatchesLedger(t, f.srv, reportRows(t, env, "rules"))
}

// TestInterruptedWhileStarting: Ctrl-C or SIGTERM while campaign run or
// rules serve opens its database exits 130, as an interruption, not 2 as
// a bad --db would (the chaos test once caught a SIGTERM there).
func TestInterruptedWhileStarting(t *testing.T) {
	f := newFixture(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			env := campaignEnv(f, dbOf(t, kind, t.TempDir()))
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the signal came first
			for _, args := range [][]string{
				{"campaign", "run", "spring"},
				{"rules", "serve", "--config", rulesFile(t, t.TempDir(), issueRules), "--listen", "127.0.0.1:0"},
			} {
				var stdout, stderr strings.Builder
				code := run(ctx, args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
				assert.Equal(t, exitInterrupted, code, "%v: %s", args, stderr.String())
				assert.Contains(t, stderr.String(), "nothing was sent", args)
			}
		})
	}
}
