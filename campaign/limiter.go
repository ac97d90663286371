package campaign

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/internal/flock"
)

// A run's pace. Every request waits for a slot: one from this process's
// own pace (RunConfig.Rate) and, on PostgreSQL, one from the merchant's
// pace stored in the database, which every process shares. A slot is
// reserved ahead and slept for, so a process that stalls (a GC pause, a
// starved CPU, a slow database answer) would wake several waiters at once
// and put them into one second together; instead a waiter that wakes more
// than slotTolerance past its slot gives it up and reserves another. Slots
// are spaced so that any second plus that tolerance holds at most the
// rate (rounded down) of them, and a window of this process's last sends
// holds it to that many in any one second whatever happens.

// slotTolerance is how late past its slot a request may still go.
const slotTolerance = 10 * time.Millisecond

// maxGiveUps is how many late slots one wait gives up before it takes one
// anyway, so that a machine too loaded to wake anything on time still
// makes progress; the window still holds this process to its rate.
const maxGiveUps = 4

// slotInterval is the spacing of slots at perSecond: any 1 s +
// slotTolerance holds at most ⌊perSecond⌋ slots (one slot for a rate
// under 1), so that sends taken up to slotTolerance late never put more
// than the rate into one second.
func slotInterval(perSecond float64) time.Duration {
	if perSecond < 1 {
		return time.Duration(math.Ceil(float64(time.Second)/perSecond)) + slotTolerance
	}
	return time.Duration(math.Ceil(float64(time.Second+slotTolerance) / math.Floor(perSecond)))
}

// windowSize is how many sends one second may hold at perSecond.
func windowSize(perSecond float64) int {
	return max(1, int(perSecond))
}

// minRate is the slowest rate: one request an hour.
const minRate = 1.0 / 3600

// checkRate refuses a rate that cannot pace anything.
func checkRate(field string, perSecond float64) error {
	if math.IsNaN(perSecond) || math.IsInf(perSecond, 0) || perSecond < minRate {
		return &ConfigError{Field: field, Msg: fmt.Sprintf("%s is %g: a rate is a positive number of requests a second, at least one an hour", field, perSecond)}
	}
	return nil
}

// ConfigError is a RunConfig (or a rate) that is refused before anything
// is sent.
type ConfigError struct {
	Field string // e.g. "RunConfig.Rate"
	Msg   string
}

// Error implements error.
func (e *ConfigError) Error() string { return "campaign: " + e.Msg }

// unlimited is no pacing at all (RunConfig.Unlimited), for a fake server.
type unlimited struct{}

func (unlimited) Wait(ctx context.Context) error { return ctx.Err() }

// slotter hands out the merchant's shared slots.
type slotter interface {
	// reserve takes the next slot and says how long after its call it
	// comes, and the rate stored for the merchant.
	reserve(ctx context.Context) (wait time.Duration, perSecond float64, err error)
}

// pacer is a run's redpack.Limiter.
type pacer struct {
	own    gcra    // this process's pace
	rate   float64 // this process's rate
	shared slotter // the merchant's, on PostgreSQL; nil on SQLite
	win    window  // this process's last sends

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	tol   time.Duration // slotTolerance; tests turn it off

	// margin is kept free before the caller's deadline for the request
	// itself (the run's AttemptTimeout): a slot later than that is not
	// taken (see slotTooFarError).
	margin time.Duration

	mu     sync.Mutex
	minRTT time.Duration // the fastest reservation of a shared slot seen
}

// slotTooFarError says the next slot comes too late for the caller's
// deadline, so none was taken: a slot taken and then given up to a
// deadline would push every later one back, and a slow rate would then
// stall for good. The request is not sent; In says when a slot comes.
type slotTooFarError struct{ In time.Duration }

func (e *slotTooFarError) Error() string {
	return fmt.Sprintf("campaign rate limit: the next slot is in %s, too late for this attempt; none taken", e.In.Round(time.Millisecond))
}

// latest is the last instant a slot may be taken for ctx, or ok false
// when ctx has no deadline.
func (p *pacer) latest(ctx context.Context) (time.Time, bool) {
	dl, ok := ctx.Deadline()
	return dl.Add(-p.margin), ok
}

func newPacer(perSecond float64, shared slotter) *pacer {
	p := &pacer{rate: perSecond, shared: shared, now: time.Now, sleep: sleepCtx, tol: slotTolerance}
	p.own.interval = slotInterval(perSecond)
	p.win.n = windowSize(perSecond)
	return p
}

var _ redpack.Limiter = (*pacer)(nil)

// Wait returns when a request may go.
func (p *pacer) Wait(ctx context.Context) error {
	for tries := 0; ; tries++ {
		strict := tries < maxGiveUps
		latest, bounded := p.latest(ctx)
		slot, ok := p.own.reserveBy(p.now(), latest, bounded)
		if !ok {
			return &slotTooFarError{In: slot.Sub(p.now())}
		}
		if err := p.sleep(ctx, slot.Sub(p.now())); err != nil {
			return err
		}
		if strict && p.now().Sub(slot) > p.tol {
			continue // woke too late: give the slot up
		}
		if p.shared != nil {
			start := p.now()
			wait, perSecond, err := p.shared.reserve(ctx)
			if err != nil {
				return err
			}
			rtt := p.now().Sub(start)
			p.win.resize(windowSize(min(p.rate, perSecond)))
			// The slot is wait after the database read its clock, some time
			// during the round trip: sleeping wait from its end never goes
			// early. A round trip slower than the fastest seen may have
			// brought the answer late (a stalled commit, a slow network), so
			// it counts towards how late the slot is taken.
			if err := p.sleep(ctx, wait); err != nil {
				return err
			}
			late := p.now().Sub(start.Add(wait)) - p.fastest(rtt)
			if strict && late > p.tol {
				continue
			}
		}
		if d, ok := p.win.take(p.now()); !ok {
			if err := p.sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		return nil
	}
}

// fastest records rtt and returns the fastest round trip seen.
func (p *pacer) fastest(rtt time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.minRTT == 0 || rtt < p.minRTT {
		p.minRTT = max(rtt, 1)
	}
	return p.minRTT
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// gcra is a generic cell rate algorithm in memory: the theoretical
// arrival time of the next slot.
type gcra struct {
	mu       sync.Mutex
	interval time.Duration
	tat      time.Time
}

// reserve takes the next slot at or after now.
func (g *gcra) reserve(now time.Time) time.Time {
	slot, _ := g.reserveBy(now, time.Time{}, false)
	return slot
}

// reserveBy takes the next slot at or after now, unless bounded and the
// slot comes after latest: then it takes none and says when it would be.
func (g *gcra) reserveBy(now, latest time.Time, bounded bool) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	slot := g.tat
	if now.After(slot) {
		slot = now
	}
	if bounded && slot.After(latest) {
		return slot, false
	}
	g.tat = slot.Add(g.interval)
	return slot, true
}

// window holds this process to n sends in any one second: it keeps the
// times of the sends of the last second.
type window struct {
	mu   sync.Mutex
	n    int
	sent []time.Time
}

// take records a send at now, or says how long until one would not put
// more than n sends into one second.
func (w *window) take(now time.Time) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := 0
	for i < len(w.sent) && now.Sub(w.sent[i]) >= time.Second {
		i++
	}
	w.sent = w.sent[i:]
	if len(w.sent) >= w.n {
		return w.sent[len(w.sent)-w.n].Add(time.Second).Sub(now), false
	}
	w.sent = append(w.sent, now)
	return 0, true
}

func (w *window) resize(n int) {
	w.mu.Lock()
	w.n = n
	w.mu.Unlock()
}

// queryRower runs one statement outside a transaction.
type queryRower interface {
	queryRow(ctx context.Context, q string, args []any, dest ...any) error
}

// dbLimiter hands out the merchant's shared slots on PostgreSQL: a
// generic cell rate algorithm whose one row holds the theoretical arrival
// time and the merchant's stored rate, updated in one statement per
// request on the database's clock, so that machines with skewed clocks
// still share one pace, and every process keeps to the stored rate
// whatever its own.
type dbLimiter struct {
	db    queryRower
	mchID string
	// rate is stored for the merchant if its row is missing (removed
	// while the run ran).
	rate float64
	// margin: as pacer's; no slot later than the caller's deadline less
	// margin is taken.
	margin time.Duration
}

// intervalSQL is slotInterval in SQL, in microseconds, of the row r and
// the tolerance $2.
const intervalSQL = `CAST(CASE WHEN r.per_second >= 1 THEN CEIL((1000000 + $2) / FLOOR(r.per_second))
	ELSE CEIL(1000000 / r.per_second) + $2 END AS BIGINT)`

func (l *dbLimiter) reserve(ctx context.Context) (time.Duration, float64, error) {
	maxWait := int64(math.MaxInt64 / 4) // µs: no deadline
	if dl, ok := ctx.Deadline(); ok {
		maxWait = time.Until(dl.Add(-l.margin)).Microseconds()
	}
	slot, now, perSecond, reserved, err := l.take(ctx, maxWait)
	wait := time.Duration(slot-now) * time.Microsecond
	if err == nil && !reserved {
		err = &slotTooFarError{In: wait}
	}
	return wait, perSecond, err
}

// take reserves the next slot, unless it comes more than maxWait (µs)
// after the database's now: it returns the slot's time and the
// database's time, in microseconds, the stored rate, and whether the slot
// was taken. The row is locked first, so that the slot judged is the one
// taken.
func (l *dbLimiter) take(ctx context.Context, maxWait int64) (slot, now int64, perSecond float64, reserved bool, err error) {
	for try := 0; ; try++ {
		err = l.db.queryRow(ctx, `WITH c AS (SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS now),
				o AS (SELECT tat FROM redpack_campaign_rate WHERE mch_id = $1 FOR UPDATE)
			UPDATE redpack_campaign_rate AS r SET tat = CASE WHEN GREATEST(o.tat, c.now) - c.now <= $3
					THEN GREATEST(o.tat, c.now) + `+intervalSQL+` ELSE o.tat END
			FROM c, o WHERE r.mch_id = $1 AND r.per_second > 0
			RETURNING GREATEST(o.tat, c.now), c.now, r.per_second, GREATEST(o.tat, c.now) - c.now <= $3`,
			[]any{l.mchID, slotTolerance.Microseconds(), maxWait}, &slot, &now, &perSecond, &reserved)
		if !errors.Is(err, pgx.ErrNoRows) || try > 0 {
			break
		}
		if _, err = storeRate(ctx, l.db, l.mchID, l.rate, false); err != nil {
			break
		}
	}
	if err != nil {
		return 0, 0, 0, false, fmt.Errorf("campaign rate limit: %w", err)
	}
	return slot, now, perSecond, reserved, nil
}

// storeRate stores perSecond as the merchant's rate, if none is stored
// yet or overwrite is set, and returns the rate stored.
func storeRate(ctx context.Context, db queryRower, mchID string, perSecond float64, overwrite bool) (float64, error) {
	set := `CASE WHEN r.per_second > 0 THEN r.per_second ELSE EXCLUDED.per_second END`
	if overwrite {
		set = `EXCLUDED.per_second`
	}
	var stored float64
	err := db.queryRow(ctx, `INSERT INTO redpack_campaign_rate AS r (mch_id, tat, per_second) VALUES ($1, 0, $2)
		ON CONFLICT (mch_id) DO UPDATE SET per_second = `+set+` RETURNING r.per_second`,
		[]any{mchID, perSecond}, &stored)
	return stored, err
}

// limiter makes a run's limiter: none when cfg.Unlimited; this process's
// own pace at cfg.Rate; on PostgreSQL also the merchant's shared pace, at
// the rate stored for it (this run's, if it is the first).
func (e *eng[TD, TTx]) limiter(ctx context.Context, mchID string, cfg *RunConfig) (redpack.Limiter, error) {
	if cfg.Unlimited {
		return unlimited{}, nil
	}
	if e.kind != "postgres" {
		p := newPacer(cfg.Rate, nil)
		p.margin = cfg.AttemptTimeout
		return p, nil
	}
	stored, err := storeRate(ctx, e.db, mchID, cfg.Rate, false)
	if err != nil {
		return nil, fmt.Errorf("campaign rate limit: %w", err)
	}
	p := newPacer(cfg.Rate, &dbLimiter{db: e.db, mchID: mchID, rate: cfg.Rate, margin: cfg.AttemptTimeout})
	p.margin = cfg.AttemptTimeout
	p.win.n = windowSize(min(cfg.Rate, stored))
	return p, nil
}

// ErrNoSharedRate: the database keeps no merchant rate (SQLite, where one
// run at a time paces itself with RunConfig.Rate).
var ErrNoSharedRate = fmt.Errorf("a merchant rate shared by runs is kept on PostgreSQL only: on SQLite one run at a time paces itself with its own rate: %w", errors.ErrUnsupported)

// SetRate stores the merchant's rate, in requests a second, which every
// run of every campaign of mchID on this PostgreSQL database keeps to
// together, at once and from then on; a run's own RunConfig.Rate can only
// pace that run lower. The first run for a merchant stores its own rate.
// On SQLite it returns ErrNoSharedRate.
func (s *Store) SetRate(ctx context.Context, mchID string, perSecond float64) error {
	if err := checkRate("the rate", perSecond); err != nil {
		return err
	}
	if mchID == "" {
		return &ConfigError{Field: "mchID", Msg: "a merchant id is required"}
	}
	if s.kind != "postgres" {
		return ErrNoSharedRate
	}
	_, err := storeRate(ctx, s.e.queryRower(), mchID, perSecond, true)
	return err
}

// Rate returns the merchant's stored rate (see SetRate), or 0 when none
// is stored yet. On SQLite it returns ErrNoSharedRate.
func (s *Store) Rate(ctx context.Context, mchID string) (float64, error) {
	if s.kind != "postgres" {
		return 0, ErrNoSharedRate
	}
	var r float64
	err := s.e.queryRower().queryRow(ctx, `SELECT per_second FROM redpack_campaign_rate WHERE mch_id = $1`, []any{mchID}, &r)
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return r, err
}

func (e *eng[TD, TTx]) queryRower() queryRower { return e.db }

// BusyError is a SQLite campaign database another run is using: one run
// at a time may use a SQLite file, as two would each take the merchant's
// whole rate. Match it with errors.As.
type BusyError struct {
	Path string // the database file
	PID  int    // the process running on it; 0 if its lock file is unreadable
}

// Error implements error.
func (e *BusyError) Error() string {
	return fmt.Sprintf("campaign database %s is in use by another run (PID %d): one run at a time may use a SQLite file; wait for it, or stop it", e.Path, e.PID)
}

// lockRun takes the SQLite file's run lock, lockPath, for this Run; path
// is the file as it was opened, for the error.
func lockRun(lockPath, path string) (release func(), err error) {
	release, err = flock.TryLock(lockPath)
	var held *flock.HeldError
	if errors.As(err, &held) {
		return nil, &BusyError{Path: path, PID: held.PID}
	}
	if err != nil {
		return nil, fmt.Errorf("campaign: lock the database for this run: %w", err)
	}
	return release, nil
}
