package campaign

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

// Campaign throughput with every rate limit lifted (the fake's and the
// campaign's), on each database, for 10k and 100k rows:
//
//	go test -run '^$' -bench 'BenchmarkRun|BenchmarkDirectSend' -benchtime 1x -timeout 60m ./campaign/
//
// The fake server runs in a child process (this test binary, see
// TestMain), so that heap-peak-MB, the largest heap seen during the run,
// is the campaign's own and not the fake's ledger: it should not grow with
// the row count. rows/s is the run's pace; BenchmarkDirectSend sends the
// same packets with the client alone, as many at once, so the difference
// per row is what the journal and River cost.
func BenchmarkRun(b *testing.B) {
	for _, kind := range dbKinds {
		for _, n := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/%dk", kind, n/1000), func(b *testing.B) {
				for range b.N {
					benchRun(b, kind, n)
				}
			})
		}
	}
}

// BenchmarkRunAtDefaultRate pays 600 rows at DefaultRate, as a campaign
// runs against WeChat: rows/s is the pace a merchant sees, which the
// limiter keeps under the rate in every second.
//
//	go test -run '^$' -bench BenchmarkRunAtDefaultRate -benchtime 1x ./campaign/
func BenchmarkRunAtDefaultRate(b *testing.B) {
	for _, kind := range dbKinds {
		b.Run(kind, func(b *testing.B) {
			for range b.N {
				benchRunAt(b, kind, 600, DefaultRate)
			}
		})
	}
}

// benchWorkers is how many rows are in flight at once, in both benchmarks.
const benchWorkers = 16

// benchFakeEnv makes the test binary serve a fake for a benchmark (see
// TestMain) and write its credentials to the directory it names.
const benchFakeEnv = "REDPACK_BENCH_FAKE_DIR"

// TestMain serves a fake WeChat Pay server instead of running tests when
// benchFakeEnv is set: a merchant that can pay a campaign of any size (the
// balance, the caps and the rate limit lifted), until stdin closes.
func TestMain(m *testing.M) {
	dir := os.Getenv(benchFakeEnv)
	if dir == "" {
		os.Exit(m.Run())
	}
	mer := redpacktest.DefaultMerchant()
	mer.Balance = 1 << 50
	mer.DailyAmount = 1 << 50
	srv, err := redpacktest.NewServer(redpacktest.WithRateLimit(0), redpacktest.WithMerchants(mer))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	files := map[string][]byte{"ca.pem": srv.CACertPEM(), "cert.pem": srv.CertPEM(mer.MchID), "key.pem": srv.KeyPEM(mer.MchID), "url": []byte(srv.URL())}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".tmp"), data, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.Rename(filepath.Join(dir, name+".tmp"), filepath.Join(dir, name)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
	os.Exit(0)
}

// benchFake is a fake server in a child process.
type benchFake struct {
	url   string
	cfg   *redpack.MerchantConfig
	roots *x509.CertPool
}

func startBenchFake(b *testing.B) *benchFake {
	b.Helper()
	dir := b.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), benchFakeEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	cmd.Stderr = os.Stderr
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, "url")); err == nil {
			break
		}
		require.True(b, time.Now().Before(deadline), "the fake did not start")
		time.Sleep(50 * time.Millisecond)
	}
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(b, err)
		return data
	}
	cfg, err := redpack.NewPEMConfig(redpacktest.DefaultMchID, redpacktest.DefaultAppID, redpacktest.DefaultAPIKey, read("cert.pem"), read("key.pem"))
	require.NoError(b, err)
	roots := x509.NewCertPool()
	require.True(b, roots.AppendCertsFromPEM(read("ca.pem")))
	return &benchFake{url: string(read("url")), cfg: cfg, roots: roots}
}

func (f *benchFake) options() []redpack.Option {
	return []redpack.Option{redpack.WithBaseURL(f.url), redpack.WithRootCAs(f.roots)}
}

func benchRun(b *testing.B, kind string, n int) { benchRunAt(b, kind, n, 0) }

// benchRunAt pays n rows at rate, or with no pacing at all for 0.
func benchRunAt(b *testing.B, kind string, n int, rate float64) {
	b.StopTimer()
	fake := startBenchFake(b)
	s := openStore(b, newDSN(b, kind))
	t0 := time.Now()
	create(b, s, "bench", rowsOf(openids(n), 100))
	importTime := time.Since(t0)
	cfg := RunConfig{Merchant: fake.cfg, ClientOptions: fake.options(), MaxAttempts: 2, SettleBackoff: 100 * time.Millisecond}
	cfg.Rate, cfg.Unlimited = rate, rate == 0
	cfg.Workers = benchWorkers
	cfg.AttemptTimeout = 10 * time.Second
	cfg.ProgressEvery = time.Second
	cfg.Limits = Limits{UserDailyCount: -1, UserDailyAmount: -1, DailyAmount: -1}

	peak := watchHeap()
	b.StartTimer()
	start := time.Now()
	tot, err := s.Run(context.Background(), "bench", cfg)
	el := time.Since(start)
	b.StopTimer()
	heap := peak()
	require.NoError(b, err)
	require.Equal(b, int64(n), tot.Paid)
	b.ReportMetric(float64(n)/el.Seconds(), "rows/s")
	b.ReportMetric(float64(el.Microseconds())/float64(n), "µs/row")
	b.ReportMetric(float64(importTime.Microseconds())/float64(n), "import-µs/row")
	b.ReportMetric(float64(heap)/(1<<20), "heap-peak-MB")
}

// BenchmarkDirectSend sends the same packets with the client alone, with
// as many at once: the baseline the journal's overhead is measured
// against.
func BenchmarkDirectSend(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				fake := startBenchFake(b)
				client, err := redpack.NewClient(fake.cfg, append(fake.options(), redpack.WithRateLimit(0, 1))...)
				require.NoError(b, err)
				ids := openids(n)
				var next atomic.Int64
				var wg sync.WaitGroup
				peak := watchHeap()
				b.StartTimer()
				start := time.Now()
				for range benchWorkers {
					wg.Go(func() {
						for {
							i := next.Add(1) - 1
							if i >= int64(n) {
								return
							}
							req := testTemplate.request(redpack.NewBillNo(), ids[i], 100)
							if _, err := client.SendRedPack(context.Background(), req); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				el := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(n)/el.Seconds(), "rows/s")
				b.ReportMetric(float64(el.Microseconds())/float64(n), "µs/row")
				b.ReportMetric(float64(peak())/(1<<20), "heap-peak-MB")
			}
		})
	}
}

// watchHeap samples the heap until the returned function is called, which
// returns the largest heap in use seen.
func watchHeap() func() uint64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak.Load()
	}
}

// BenchmarkNotify measures how many payment notifications a rule set's
// NotifyHandler (what "redpack rules serve" runs) verifies, judges and
// journals a second, with the payer running behind it at DefaultRate
// against a fake in a child process, and the latency of WeChat's answer:
//
//	go test -run '^$' -bench BenchmarkNotify -benchtime 2000x ./campaign/
//
// 16 notifications are in flight at once, as from WeChat's several
// servers; each is a new transaction that qualifies.
func BenchmarkNotify(b *testing.B) {
	for _, kind := range dbKinds {
		b.Run(kind, func(b *testing.B) { benchNotify(b, kind) })
	}
}

func benchNotify(b *testing.B, kind string) {
	fake := startBenchFake(b)
	s := openStore(b, newDSN(b, kind))
	rule := testRule("spend100", 100, 1<<40)
	rule.To = time.Time{}
	defineRules(b, s, "bench", rule)
	client, err := redpack.NewClient(fake.cfg, fake.options()...)
	require.NoError(b, err)
	h, err := s.NotifyHandler("bench", NotifyConfig{Client: client})
	require.NoError(b, err)
	ts := httptest.NewServer(h)
	defer ts.Close()

	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() {
		cfg := RunConfig{Merchant: fake.cfg, ClientOptions: fake.options(), Follow: true, Workers: benchWorkers,
			Limits: Limits{UserDailyCount: -1, UserDailyAmount: -1, DailyAmount: -1}}
		_, err := s.Run(ctx, "bench", cfg)
		runDone <- err
	}()

	bodies := make([][]byte, b.N)
	ids := openids(b.N)
	for i := range bodies {
		bodies[i] = signedBody(notification(fmt.Sprintf("4200%024d", i), ids[i], 10000, dec15), redpacktest.DefaultAPIKey)
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers}}
	b.ResetTimer()
	start := time.Now()
	for range benchWorkers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				resp, err := hc.Post(ts.URL+"/notify", "text/xml", bytes.NewReader(bodies[i]))
				if err != nil {
					b.Error(err)
					return
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if returnCode(answer) != "SUCCESS" {
					b.Errorf("notification %d answered %s", i, answer)
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	cancel()
	<-runDone
	st, err := s.RuleStatus(context.Background(), "bench")
	require.NoError(b, err)
	require.Equal(b, int64(b.N), st.Rules[0].Awards[AwardWaiting]+st.Rules[0].Awards[AwardQueued], "every notification journalled one award")
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/el.Seconds(), "notifications/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(st.Rules[0].Paid), "paid-meanwhile")
}
