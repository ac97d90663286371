package campaign

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/redpacktest"
)

// A slot later than the caller's deadline (less the attempt's own time) is
// not taken: taken and then given up to the deadline, it would push every
// later slot back, and at a slow rate with several workers the next slot
// would run away from the clock for good (found by review: a run at 0.25
// a second paid 4 rows and then nothing).
func TestSlotPastDeadlineIsNotTaken(t *testing.T) {
	p := newPacer(0.5, nil) // a slot every 2 s
	p.margin = time.Second
	now := time.Now()
	p.now = func() time.Time { return now }
	p.sleep = func(_ context.Context, d time.Duration) error { now = now.Add(max(d, 0)); return nil }
	p.tol = time.Hour

	long, cancel := context.WithDeadline(context.Background(), now.Add(time.Hour))
	defer cancel()
	require.NoError(t, p.Wait(long)) // the slot now
	first := p.own.tat

	short, cancel2 := context.WithDeadline(context.Background(), now.Add(2*time.Second))
	defer cancel2()
	for range 20 {
		err := p.Wait(short)
		var tooFar *slotTooFarError
		require.True(t, errors.As(err, &tooFar), "%v", err)
		require.Positive(t, tooFar.In)
	}
	require.Equal(t, first, p.own.tat, "refused waits took no slot")
	require.NoError(t, p.Wait(long))
	require.Equal(t, first.Add(p.own.interval), p.own.tat, "the next slot is the one after the first")
}

// The same for the merchant's shared slots on PostgreSQL.
func TestSharedSlotPastDeadlineIsNotTaken(t *testing.T) {
	s := openStore(t, newDSN(t, "postgres"))
	ctx := context.Background()
	l := &dbLimiter{db: s.e.(interface{ queryRower() queryRower }).queryRower(), mchID: redpacktest.DefaultMchID, rate: 0.25, margin: time.Second}
	_, err := storeRate(ctx, l.db, l.mchID, 0.25, true)
	require.NoError(t, err)
	_, _, err = l.reserve(ctx) // no deadline: the slot now
	require.NoError(t, err)
	var tat0 int64
	require.NoError(t, l.db.queryRow(ctx, `SELECT tat FROM redpack_campaign_rate WHERE mch_id = $1`, []any{l.mchID}, &tat0))
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for range 10 {
		_, _, err := l.reserve(short)
		var tooFar *slotTooFarError
		require.True(t, errors.As(err, &tooFar), "%v", err)
	}
	var tat1 int64
	require.NoError(t, l.db.queryRow(ctx, `SELECT tat FROM redpack_campaign_rate WHERE mch_id = $1`, []any{l.mchID}, &tat1))
	require.Equal(t, tat0, tat1, "refused reservations moved nothing")
}

// A run at a slow rate with many workers and short jobs pays every row
// (before the fix it stalled after a few).
func TestSlowRateRunFinishes(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			create(t, s, "slow", rowsOf(openids(6), 100))
			cfg := runConfig(t, srv)
			cfg.Rate = 0.5
			cfg.Workers = 8
			cfg.AttemptTimeout = time.Second
			cfg.MaxAttempts = 1
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			tot, err := s.Run(ctx, "slow", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(6), tot.Paid)
			assertMatchesLedger(t, srv, report(t, s, "slow"))
		})
	}
}
