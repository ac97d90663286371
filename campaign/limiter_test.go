package campaign

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/redpacktest"
)

// stall is a span of virtual time, from the start of a test, in which a
// process is frozen (a GC pause, a starved CPU): nothing in it wakes
// before the span ends.
type stall struct{ at, d time.Duration }

// frozenSleep is a pacer's sleep in a process that stalls: a sleeper due
// to wake inside a stall wakes when it ends, together with every other.
func frozenSleep(start time.Time, stalls []stall) func(ctx context.Context, d time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		if err := sleepCtx(ctx, d); err != nil {
			return err
		}
		now := time.Since(start)
		for _, s := range stalls {
			if now >= s.at && now < s.at+s.d {
				time.Sleep(s.at + s.d - now)
			}
		}
		return ctx.Err()
	}
}

// fakeShared is the database's slots (dbLimiter's statement) in memory,
// on the bubble's clock, with answers that may come back late.
type fakeShared struct {
	g       gcra
	rate    float64
	start   time.Time
	latency func(since time.Duration) time.Duration // how late the answer to a call made at since comes back
}

func newFakeShared(rate float64, start time.Time, latency func(time.Duration) time.Duration) *fakeShared {
	f := &fakeShared{rate: rate, start: start, latency: latency}
	f.g.interval = slotInterval(rate)
	return f
}

func (f *fakeShared) reserve(ctx context.Context) (time.Duration, float64, error) {
	now := time.Now()
	wait := f.g.reserve(now).Sub(now)
	if f.latency != nil {
		if err := sleepCtx(ctx, f.latency(now.Sub(f.start))); err != nil {
			return 0, 0, err
		}
	}
	return wait, f.rate, nil
}

// sends runs workers goroutines on p, each waiting and sending until ctx
// ends, and returns the times their waits returned.
func sends(ctx context.Context, p *pacer, workers int) []time.Time {
	var mu sync.Mutex
	var out []time.Time
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for p.Wait(ctx) == nil {
				mu.Lock()
				out = append(out, time.Now())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// busiestSecond is the most sends any window of one second holds.
func busiestSecond(times []time.Time) int {
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	most, j := 0, 0
	for i := range times {
		for j < len(times) && times[j].Sub(times[i]) < time.Second {
			j++
		}
		most = max(most, j-i)
	}
	return most
}

// TestNoBurstAfterStall: a process that stalls (115 ms, as seen, and
// longer) while its waiters sleep towards slots reserved ahead must not
// let them go together: no second may hold more than the rate. On the
// bubble's virtual clock the stalls, the waits and the sends' times are
// exact, so the counts are deterministic. The control case is the old
// way (slots reserved ahead and taken however late, no window), which
// put 31 sends into one second at rate 28.
func TestNoBurstAfterStall(t *testing.T) {
	stalls := []stall{{2 * time.Second, 115 * time.Millisecond}, {4500 * time.Millisecond, 600 * time.Millisecond}, {7 * time.Second, 40 * time.Millisecond}}
	slowDB := func(since time.Duration) time.Duration {
		// The database's answers: 1 ms, but those to the calls of a
		// 50 ms span come back 115 ms late (a stalled commit).
		if since >= 3*time.Second && since < 3050*time.Millisecond {
			return 115 * time.Millisecond
		}
		return time.Millisecond
	}
	const run = 10 * time.Second
	cases := []struct {
		name  string
		rate  float64 // the limit no second may pass
		min   int     // sends at least, in the run: the pace is kept
		sends func(ctx context.Context, start time.Time) []time.Time
	}{
		{"sqlite: one process at 28", 28, 250, func(ctx context.Context, start time.Time) []time.Time {
			p := newPacer(28, nil)
			p.sleep = frozenSleep(start, stalls)
			return sends(ctx, p, 8)
		}},
		{"postgres: one process, stored 28", 28, 250, func(ctx context.Context, start time.Time) []time.Time {
			p := newPacer(28, newFakeShared(28, start, slowDB))
			p.sleep = frozenSleep(start, stalls)
			return sends(ctx, p, 8)
		}},
		{"postgres: two processes at 28, stored 20, each stalling", 20, 180, func(ctx context.Context, start time.Time) []time.Time {
			shared := newFakeShared(20, start, slowDB)
			a, b := newPacer(28, shared), newPacer(28, shared)
			a.sleep = frozenSleep(start, stalls)
			b.sleep = frozenSleep(start, []stall{{1200 * time.Millisecond, 300 * time.Millisecond}, {6 * time.Second, 115 * time.Millisecond}})
			var wg sync.WaitGroup
			var sa, sb []time.Time
			wg.Go(func() { sa = sends(ctx, a, 8) })
			wg.Go(func() { sb = sends(ctx, b, 3) })
			wg.Wait()
			return append(sa, sb...)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				ctx, cancel := context.WithTimeout(t.Context(), run)
				defer cancel()
				got := c.sends(ctx, start)
				t.Logf("%d sends in %s, busiest second %d", len(got), run, busiestSecond(got))
				assert.LessOrEqual(t, busiestSecond(got), int(c.rate), "a second holds more than the rate")
				assert.GreaterOrEqual(t, len(got), c.min, "the pace is kept: slots given up are few")
			})
		})
	}

	t.Run("control: slots taken however late, no window", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			ctx, cancel := context.WithTimeout(t.Context(), run)
			defer cancel()
			p := newPacer(28, nil)
			p.own.interval = time.Second / 28 // the old pace, exact
			p.tol, p.win.n = time.Hour, 1<<30
			p.sleep = frozenSleep(start, stalls)
			assert.Greater(t, busiestSecond(sends(ctx, p, 8)), 28, "the stalls are not seen: the test cannot tell")
		})
	})
}

// TestSlotInterval: slots spaced so that a second plus the tolerance holds
// no more than the rate, rounded down (one for a rate under 1).
func TestSlotInterval(t *testing.T) {
	for _, r := range []float64{0.5, 1, 2.5, 20, 28, 28.9, 30, 1000} {
		iv := slotInterval(r)
		n := windowSize(r)
		// n slots from t span (n-1)·iv; the (n+1)th is n·iv on, past
		// 1 s + tolerance.
		assert.GreaterOrEqual(t, time.Duration(n)*iv, time.Second+slotTolerance, "rate %g", r)
		assert.LessOrEqual(t, float64(time.Second)/float64(iv), r, "rate %g: never faster than the rate", r)
		assert.Greater(t, float64(time.Second)/float64(iv), math.Floor(r)*0.98, "rate %g: not much slower", r)
	}
}

// TestRunRefusesBadRate: a rate of zero is the default, a negative one an
// error, not pacing turned off; RunConfig.Unlimited turns it off.
func TestRunRefusesBadRate(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t)
	create(t, s, "pace", rowsOf(openids(2), 100))
	for _, r := range []float64{-5, -1, 1e-9, math.NaN(), math.Inf(1)} {
		cfg := runConfig(t, srv)
		cfg.Rate = r
		_, err := s.Run(context.Background(), "pace", cfg)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, "rate %g", r)
		assert.Equal(t, "RunConfig.Rate", ce.Field)
		assert.Contains(t, err.Error(), "positive")
	}
	assert.Empty(t, srv.Requests(), "nothing sent")
	cfg := runConfig(t, srv)
	cfg.Rate, cfg.Unlimited = 0, true
	tot, err := s.Run(context.Background(), "pace", cfg)
	require.NoError(t, err)
	assert.Equal(t, int64(2), tot.Paid)
}

// recordingSlotter records the slots the database hands out.
type recordingSlotter struct {
	l     *dbLimiter
	mu    *sync.Mutex
	slots *[]int64
	who   string
	whose map[int64]string
}

func (r recordingSlotter) reserve(ctx context.Context) (time.Duration, float64, error) {
	slot, now, perSecond, _, err := r.l.take(ctx, math.MaxInt64/4)
	if err == nil {
		r.mu.Lock()
		*r.slots = append(*r.slots, slot)
		r.whose[slot] = r.who
		r.mu.Unlock()
	}
	return time.Duration(slot-now) * time.Microsecond, perSecond, err
}

// TestStoredRateIsTheMerchants: on PostgreSQL the shared limiter spaces
// its slots by the rate stored with the merchant's row (the first run's,
// or SetRate's), whatever rate each process was started with: a process
// at rate 1 takes its slots at the stored spacing and does not push
// everyone's next slot a second on, and one at a higher rate gets no
// closer slots. The slots are what the database hands out, taken while
// its next slot is far ahead, so their spacing is exact.
func TestStoredRateIsTheMerchants(t *testing.T) {
	s := openStore(t, newDSN(t, "postgres"))
	e := s.e.(*eng[*riverpgxv5.Driver, pgx.Tx])
	ctx := context.Background()
	const mch = "1900000109"

	rate, err := s.Rate(ctx, mch)
	require.NoError(t, err)
	assert.Zero(t, rate, "no rate stored before the first run")
	_, err = e.limiter(ctx, mch, &RunConfig{Rate: 20})
	require.NoError(t, err)
	_, err = e.limiter(ctx, mch, &RunConfig{Rate: 1})
	require.NoError(t, err)
	rate, err = s.Rate(ctx, mch)
	require.NoError(t, err)
	assert.Equal(t, 20.0, rate, "the first run stores its rate; a later one does not change it")

	slow := &dbLimiter{db: e.db, mchID: mch, rate: 1}
	fast := &dbLimiter{db: e.db, mchID: mch, rate: 50}
	_, _, _, _, err = slow.take(ctx, math.MaxInt64/4)
	require.NoError(t, err)
	require.NoError(t, e.execAny(ctx, `UPDATE redpack_campaign_rate SET tat = tat + 3600000000`))
	spacing := func(perSecond float64) int64 {
		return int64(math.Ceil(float64(time.Second+slotTolerance) / float64(time.Microsecond) / math.Floor(perSecond)))
	}
	takeAll := func(ls ...*dbLimiter) []int64 {
		var gaps []int64
		prev, _, _, _, err := ls[0].take(ctx, math.MaxInt64/4)
		require.NoError(t, err)
		for _, l := range ls[1:] {
			slot, _, _, _, err := l.take(ctx, math.MaxInt64/4)
			require.NoError(t, err)
			gaps = append(gaps, slot-prev)
			prev = slot
		}
		return gaps
	}
	for i, g := range takeAll(fast, slow, fast, fast, slow, slow, fast, fast) {
		assert.Equal(t, spacing(20), g, "slot %d: the stored spacing, whichever process took it", i+1)
	}

	require.NoError(t, s.SetRate(ctx, mch, 10))
	rate, err = s.Rate(ctx, mch)
	require.NoError(t, err)
	assert.Equal(t, 10.0, rate)
	gaps := takeAll(fast, fast, slow, fast)
	for i, g := range gaps[1:] {
		assert.Equal(t, spacing(10), g, "after SetRate, slot %d", i+2)
	}

	var ce *ConfigError
	require.ErrorAs(t, s.SetRate(ctx, mch, 0), &ce)
	require.ErrorAs(t, s.SetRate(ctx, mch, -3), &ce)
	sq := openStore(t, newDSN(t, "sqlite"))
	require.ErrorIs(t, sq.SetRate(ctx, mch, 10), ErrNoSharedRate)
	_, err = sq.Rate(ctx, mch)
	require.ErrorIs(t, err, errors.ErrUnsupported)
}

// TestSlowProcessDoesNotSlowTheOthers: two processes on one PostgreSQL,
// one at its own rate 1, one at the stored 20, sending at once. The slow
// one takes about one shared slot a second, so the fast one keeps most of
// the merchant's rate; and no two slots the database handed out are
// closer than the stored rate allows. Counts over seconds, with bounds
// far from what a loaded machine could miss.
func TestSlowProcessDoesNotSlowTheOthers(t *testing.T) {
	s := openStore(t, newDSN(t, "postgres"))
	e := s.e.(*eng[*riverpgxv5.Driver, pgx.Tx])
	const mch = "1900000109"
	require.NoError(t, s.SetRate(context.Background(), mch, 20))
	var mu sync.Mutex
	var slots []int64
	whose := map[int64]string{}
	rec := func(who string, rate float64) *pacer {
		return newPacer(rate, recordingSlotter{l: &dbLimiter{db: e.db, mchID: mch, rate: rate}, mu: &mu, slots: &slots, who: who, whose: whose})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var fastSends, slowSends []time.Time
	wg.Go(func() { fastSends = sends(ctx, rec("fast", 20), 4) })
	wg.Go(func() { slowSends = sends(ctx, rec("slow", 1), 4) })
	wg.Wait()

	t.Logf("fast: %d sends, slow: %d sends, %d shared slots", len(fastSends), len(slowSends), len(slots))
	slices.Sort(slots)
	for i := 1; i < len(slots); i++ {
		require.GreaterOrEqual(t, slots[i]-slots[i-1], slotInterval(20).Microseconds()-1, "slots %d and %d", i-1, i)
	}
	slowSlots := 0
	for _, w := range whose {
		if w == "slow" {
			slowSlots++
		}
	}
	assert.LessOrEqual(t, slowSlots, 4, "the slow process takes a shared slot about once a second")
	assert.LessOrEqual(t, len(slowSends), 4)
	// About 57 in 3 s at 20 a second; the old limiter let the slow
	// process push every slot a second on, leaving the fast one a handful.
	assert.GreaterOrEqual(t, len(fastSends), 25, "the fast process was slowed: %d sends in 3 s", len(fastSends))
}

// TestOneRunPerSQLiteFile: a second Run on a SQLite file while one runs
// is refused with a *BusyError naming the holder's PID, and sends
// nothing; status and report work meanwhile; once the first Run returns
// the file is free again.
func TestOneRunPerSQLiteFile(t *testing.T) {
	dsn := newDSN(t, "sqlite")
	s := openStore(t, dsn)
	srv := redpacktest.Start(t)
	create(t, s, "one", rowsOf(openids(3), 100))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cfg := runConfig(t, srv)
	cfg.ProgressEvery = 20 * time.Millisecond
	cfg.Progress = func(Totals) {
		once.Do(func() {
			close(started)
			<-release // the first Run is held here, holding its lock
		})
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(ctx, "one", cfg)
		done <- err
	}()
	<-started

	s2 := openStore(t, dsn) // as another process opens it
	before := len(srv.Requests())
	_, err := s2.Run(ctx, "one", runConfig(t, srv))
	var busy *BusyError
	require.ErrorAs(t, err, &busy)
	assert.Equal(t, os.Getpid(), busy.PID)
	assert.Equal(t, dsn, busy.Path)
	assert.Contains(t, err.Error(), fmt.Sprintf("PID %d", os.Getpid()))
	// The same file through a symbolic link, and by a relative path from
	// another directory: the same lock.
	link := filepath.Join(t.TempDir(), "link.db")
	require.NoError(t, os.Symlink(dsn, link))
	_, err = openStore(t, link).Run(ctx, "one", runConfig(t, srv))
	require.ErrorAs(t, err, &busy, "a run through a symbolic link")
	assert.Equal(t, link, busy.Path)
	rel, err := filepath.Rel(filepath.Dir(link), dsn)
	require.NoError(t, err)
	t.Chdir(filepath.Dir(link))
	_, err = openStore(t, rel).Run(ctx, "one", runConfig(t, srv))
	require.ErrorAs(t, err, &busy, "a run by a relative path")
	_, err = s2.Status(ctx, "one")
	require.NoError(t, err, "status works while a run holds the file")
	require.Len(t, report(t, s2, "one"), 3, "report works while a run holds the file")
	// Only the first run sends: the second refused before any request.
	assert.LessOrEqual(t, len(srv.Requests())-before, 3)

	close(release)
	require.NoError(t, <-done)
	_, err = os.Stat(dsn + ".lock")
	assert.True(t, errors.Is(err, os.ErrNotExist), "the lock file outlived its run: %v", err)
	tot, err := s2.Run(ctx, "one", runConfig(t, srv))
	require.NoError(t, err, "the file is free once the first run returns")
	assert.Equal(t, int64(3), tot.Paid)
	assertMatchesLedger(t, srv, report(t, s2, "one"))
}
