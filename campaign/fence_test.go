package campaign

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

type testEngine interface {
	loadRowAny(ctx context.Context, campaign string, row int64) (*jrow, error)
	execAny(ctx context.Context, q string, args ...any) error
	queryIntAny(ctx context.Context, dest *int64, q string, args ...any) error
}

func queryInt(t *testing.T, s *Store, q string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.e.(testEngine).queryIntAny(context.Background(), &n, q, args...))
	return n
}

// TestLateRefusalIsFenced plays the double payment an outside review
// found, through River's executor: attempt A claims row 1 and sends it;
// WeChat's answer (NOTENOUGH) takes seconds. Meanwhile A's time is up in
// everyone's eyes (its clock was behind), River rescues its job, and the
// row's new job settles it: query NOT_FOUND, re-send paid, answered
// PROCESSING. Then A's late NOTENOUGH arrives. It must not be journalled
// as "not paid" (a reissue would pay the row twice), and A, finishing,
// must not complete the job that replaced its own.
func TestLateRefusalIsFenced(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			create(t, s, "fenced", rowsOf(openids(1), 100))
			bill := report(t, s, "fenced")[0].BillNo
			require.NoError(t, srv.Inject(
				// A's send: refused, seconds late.
				redpacktest.Fault{Op: "sendredpack", MchBillNo: bill, Kind: redpacktest.ErrCodeAnswer, ErrCode: "NOTENOUGH",
					ErrCodeDes: "帐号余额不足，请到商户平台充值后再重试", Delay: 8 * time.Second},
				// The settling re-send: paid, answered PROCESSING.
				redpacktest.Fault{Op: "sendredpack", MchBillNo: bill, Kind: redpacktest.ProcessingAfterCommit, Hold: time.Hour},
			))
			var offset atomic.Int64
			cfg := runConfig(t, srv)
			cfg.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			cfg.Workers = 2
			cfg.AttemptTimeout = 20 * time.Second
			cfg.MaxAttempts = 1
			cfg.sweepEvery = 200 * time.Millisecond

			type result struct {
				tot *Totals
				err error
			}
			done := make(chan result, 1)
			go func() {
				tot, err := s.Run(ctx, "fenced", cfg)
				done <- result{tot, err}
			}()

			e := s.e.(testEngine)
			waitFor(t, func() bool {
				r, err := e.loadRowAny(ctx, "fenced", 1)
				return err == nil && r.sendGen == 1 && r.open()
			}, "A claims the row")
			jobA := queryInt(t, s, `SELECT job_id FROM redpack_campaign_row WHERE campaign = 'fenced' AND row_no = 1`)
			// A's deadline passes for everyone (A's clock was behind), and
			// River's rescuer discards its job, as it does a job of one
			// attempt that runs too long.
			offset.Store(int64(time.Hour))
			require.NoError(t, e.execAny(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = CURRENT_TIMESTAMP WHERE id = $1`, jobA))

			waitFor(t, func() bool {
				r, err := e.loadRowAny(ctx, "fenced", 1)
				return err == nil && r.sendGen == 2 && !r.open()
			}, "the new job settles the row: query, re-send, PROCESSING")
			jobB := queryInt(t, s, `SELECT job_id FROM redpack_campaign_row WHERE campaign = 'fenced' AND row_no = 1`)
			require.NotEqual(t, jobA, jobB)

			res := <-done // A's late NOTENOUGH stops the run: the balance is low
			require.ErrorIs(t, res.err, ErrBalanceLow)
			got := report(t, s, "fenced")[0]
			require.Equal(t, OutcomeUnknown, got.Outcome, "a stale refusal is no verdict on the bill number: %+v", got)
			assert.Equal(t, int64(1), queryInt(t, s, `SELECT COUNT(*) FROM river_job WHERE id = $1 AND state = 'discarded'`, jobA),
				"A's job stays discarded")
			assert.Equal(t, int64(1), queryInt(t, s, `SELECT COUNT(*) FROM river_job WHERE id = $1
				AND state IN ('available', 'pending', 'running', 'retryable', 'scheduled')`, jobB),
				"A did not complete the job that replaced its own")
			_, err := s.Reissue(ctx, "fenced", Selection{Rows: []int64{1}})
			var nr *NotReissuableError
			require.ErrorAs(t, err, &nr, "an unknown row is never reissued")

			// The next run settles it by query: paid, once.
			srv.Advance(2 * time.Hour)
			tot, err := s.Run(ctx, "fenced", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(1), tot.Paid)
			rows := report(t, s, "fenced")
			assertMatchesLedger(t, srv, rows)
			require.NotEmpty(t, rows[0].SendListID)
			require.Len(t, srv.Packets(), 1, "one packet in the ledger")
			_, err = s.Reissue(ctx, "fenced", Selection{Rows: []int64{1}})
			require.ErrorAs(t, err, &nr, "a paid row is never reissued")
		})
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStaleWrites checks apply's fencing rules directly: a refusal from a
// generation that is no longer the newest is written as unknown; what is
// about the bill number (paid) is written whatever the generation; a
// request that never left returns the row to pending only while no other
// send may have left.
func TestStaleWrites(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := openStore(t, newDSN(t, kind))
			create(t, s, "w", rowsOf(openids(3), 100))
			require.NoError(t, s.e.(testEngine).execAny(ctx, `UPDATE redpack_campaign SET mch_id = $1`, redpacktest.DefaultMchID)) // as a run ties it
			e := s.e.(interface {
				testEngine
				claimAny(ctx context.Context, r *jrow, mchID string, now time.Time, l Limits) (bool, string, error)
				applyAny(ctx context.Context, r *jrow, u *update) error
				beginSettleAny(ctx context.Context, r *jrow, now, deadline time.Time) (bool, error)
			})
			load := func(row int64) *jrow {
				r, err := e.loadRowAny(ctx, "w", row)
				require.NoError(t, err)
				return r
			}
			claim := func(row int64) *jrow {
				r := load(row)
				ok, _, err := e.claimAny(ctx, r, redpacktest.DefaultMchID, time.Now(), Limits{}.withDefaults())
				require.NoError(t, err)
				require.True(t, ok)
				return r
			}

			// Row 1: gen 1 is replaced by a settle's gen 2; gen 1's refusal
			// lands late.
			r1 := claim(1)
			later := load(1)
			ok, err := e.beginSettleAny(ctx, later, time.Now(), time.Now().Add(time.Minute))
			require.NoError(t, err)
			require.True(t, ok)
			require.NoError(t, e.applyAny(ctx, r1, &update{kind: updRefused, gen: 1, left: true, errCode: "NOTENOUGH", errMsg: "余额不足"}))
			got := load(1)
			assert.Equal(t, dbUnknown, got.outcome, "stale refusal")
			assert.NotZero(t, got.firstSentAt, "gen 1 may have left: it counts as a send")
			// Paid, from the stale generation: about the bill, so written.
			require.NoError(t, e.applyAny(ctx, r1, &update{kind: updFinal, gen: 1, left: true, outcome: dbPaid, status: "SENT", sendListID: "1000041701202612"}))
			assert.Equal(t, dbPaid, load(1).outcome)

			// Row 2: the newest generation's refusal of a first send: not
			// paid, and per-row.
			r2 := claim(2)
			require.NoError(t, e.applyAny(ctx, r2, &update{kind: updRefused, gen: r2.sendGen, left: true, errCode: "OPENID_ERROR"}))
			assert.Equal(t, dbNotPaid, load(2).outcome)

			// Row 3: never left, so back to pending with no first send.
			r3 := claim(3)
			require.NoError(t, e.applyAny(ctx, r3, &update{kind: updNotSent, gen: r3.sendGen, errCode: "NOT_SENT"}))
			got = load(3)
			assert.Equal(t, dbPending, got.outcome)
			assert.Zero(t, got.firstSent())
			assert.Equal(t, int64(0), queryInt(t, s, `SELECT COALESCE(SUM(packets), 0) FROM redpack_campaign_daily WHERE openid = $1`, got.openid),
				"what it had put towards the caps is released")
			// Refused (FREQ_LIMIT: sent again later under the same bill
			// number), then claimed again and never left: pending again,
			// the refused send's time kept for the resend window.
			r3 = claim(3)
			require.NoError(t, e.applyAny(ctx, r3, &update{kind: updRefused, retry: true, gen: r3.sendGen, left: true, errCode: "FREQ_LIMIT"}))
			refusedAt := load(3).firstSentAt
			require.NotZero(t, refusedAt)
			r3 = claim(3)
			require.NoError(t, e.applyAny(ctx, r3, &update{kind: updNotSent, gen: r3.sendGen, errCode: "NOT_SENT"}))
			got = load(3)
			assert.Equal(t, dbPending, got.outcome, "a refused row whose next request never left is pending, not unknown")
			assert.Equal(t, refusedAt, got.firstSentAt)
			// Claimed again and unclear (may have left), then settled under
			// a newer generation: the stale "never left" changes nothing.
			r3 = claim(3)
			stale := *r3
			require.NoError(t, e.applyAny(ctx, r3, &update{kind: updUnknown, gen: r3.sendGen, left: true, errMsg: "timeout"}))
			settling := load(3)
			ok, err = e.beginSettleAny(ctx, settling, time.Now(), time.Now().Add(time.Minute))
			require.NoError(t, err)
			require.True(t, ok)
			require.NoError(t, e.applyAny(ctx, &stale, &update{kind: updNotSent, gen: stale.sendGen, errCode: "NOT_SENT"}))
			assert.Equal(t, dbUnknown, load(3).outcome, "a send that may have left keeps the row unknown")
		})
	}
}

// TestStaleRetryRefusalDoesNotHoldTheRow: a SENDAMOUNT_LIMIT (held to the
// next day) from an attempt that a newer send replaced is written as
// unknown, and the row's job comes back soon to settle it, not tomorrow
// (found by review).
func TestStaleRetryRefusalDoesNotHoldTheRow(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t)
	create(t, s, "stale", rowsOf(openids(1), 100))
	e := s.e.(*eng[*riversqlite.Driver, *sql.Tx])
	ctx := context.Background()
	require.NoError(t, e.execAny(ctx, `UPDATE redpack_campaign SET mch_id = $1`, redpacktest.DefaultMchID))
	r, err := e.loadRow(ctx, "stale", 1)
	require.NoError(t, err)
	ok, _, err := e.claim(ctx, r, redpacktest.DefaultMchID, time.Now(), time.Now().Add(time.Minute), Limits{}.withDefaults())
	require.NoError(t, err)
	require.True(t, ok)
	newer, err := e.loadRow(ctx, "stale", 1)
	require.NoError(t, err)
	ok, err = e.beginSettle(ctx, newer, time.Now(), time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.True(t, ok)

	cfg := runConfig(t, srv)
	cfg.now = time.Now
	cfg.SettleBackoff = time.Second
	w := &rowWorker[*riversqlite.Driver, *sql.Tx]{e: e, rs: &runState{cfg: &cfg, mchID: redpacktest.DefaultMchID, gate: newGate(time.Minute), logger: quietLogger()}}
	job := &river.Job[rowArgs]{JobRow: &rivertype.JobRow{Attempt: 1, State: rivertype.JobStateRunning}, Args: rowArgs{Campaign: "stale", Row: 1}}
	err = w.afterSend(ctx, job, r, nil, &redpack.APIError{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: "SENDAMOUNT_LIMIT"})
	var snooze *river.JobSnoozeError
	require.ErrorAs(t, err, &snooze)
	assert.Less(t, snooze.Duration, time.Minute, "settled soon, not held to the next day")
	got, err := e.loadRow(ctx, "stale", 1)
	require.NoError(t, err)
	assert.Equal(t, dbUnknown, got.outcome)
	assert.Equal(t, r.billNo, got.billNo, "a stale refusal renews no bill number")
}
