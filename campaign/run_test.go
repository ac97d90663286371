package campaign

import (
	"context"
	"database/sql"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

// Every fault the fake can play, each taken by one send: the run must pay
// every row exactly once, except the one whose packet fails, and the
// report must match the ledger row by row.
func TestRunSettlesEveryFault(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			ids := openids(30)
			create(t, s, "spring", rowsOf(ids, 100))
			bills := report(t, s, "spring")
			// Each fault waits for its own row's bill number, so that a
			// client's retry does not take the next row's fault.
			faults := []redpacktest.Fault{
				{Kind: redpacktest.SystemErrorBeforeCommit},
				{Kind: redpacktest.SystemErrorAfterCommit},
				{Kind: redpacktest.ProcessingBeforeCommit},
				{Kind: redpacktest.ProcessingAfterCommit, Hold: time.Second},
				{Kind: redpacktest.DropAfterCommit},
				{Kind: redpacktest.TruncatedBody},
				{Kind: redpacktest.HTMLGateway},
				{Kind: redpacktest.SlowAfterCommit, Delay: 3 * time.Second},
				{Kind: redpacktest.ErrCodeAnswer, ErrCode: "FREQ_LIMIT", ErrCodeDes: "频率受限"},
				{Kind: redpacktest.ProcessingThenFail, Hold: time.Second},
				{Kind: redpacktest.SystemErrorAfterCommit},
				{Kind: redpacktest.DropAfterCommit},
			}
			for i := range faults {
				faults[i].Op, faults[i].MchBillNo = "sendredpack", bills[i].BillNo
			}
			// Two sends stay unknown through the client's retry, and the
			// queries that settle them fail too, at first.
			faults = append(faults,
				redpacktest.Fault{Op: "sendredpack", MchBillNo: bills[10].BillNo, Kind: redpacktest.SystemErrorBeforeCommit},
				redpacktest.Fault{Op: "sendredpack", MchBillNo: bills[11].BillNo, Kind: redpacktest.HTMLGateway},
				redpacktest.Fault{Op: "gethbinfo", MchBillNo: bills[10].BillNo, Kind: redpacktest.SystemErrorBeforeCommit},
				redpacktest.Fault{Op: "gethbinfo", MchBillNo: bills[11].BillNo, Kind: redpacktest.HTMLGateway})
			require.NoError(t, srv.Inject(faults...))

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			tot, err := s.Run(ctx, "spring", runConfig(t, srv))
			require.NoError(t, err)
			require.Empty(t, srv.PendingFaults(), "every fault was played")
			require.Equal(t, int64(30), tot.Rows)
			require.Zero(t, tot.Unknown, "no row left unknown")
			require.Equal(t, int64(1), tot.NotPaid, "the ProcessingThenFail packet")
			require.Equal(t, int64(29), tot.Paid)
			require.Equal(t, int64(2900), tot.AmountPaid)
			// FAILED when a query found it failed, SEND_FAILED when the
			// client's own retry of the PROCESSING answer did.
			require.Equal(t, int64(1), tot.Refusals["FAILED"]+tot.Refusals["SEND_FAILED"], "%v", tot.Refusals)
			require.Equal(t, int64(2900), srv.Paid(redpacktest.DefaultMchID), "nothing paid twice")

			rows := report(t, s, "spring")
			require.Len(t, rows, 30)
			assertMatchesLedger(t, srv, rows)
			for _, r := range rows {
				require.False(t, r.FirstSentAt.IsZero(), "row %d: first send time recorded", r.Row)
				require.False(t, r.SettledAt.IsZero(), "row %d: settled time recorded", r.Row)
			}

			// A second run finds nothing to do and sends nothing.
			before := len(srv.Requests())
			tot, err = s.Run(ctx, "spring", runConfig(t, srv))
			require.NoError(t, err)
			require.Equal(t, int64(29), tot.Paid)
			require.Equal(t, before, len(srv.Requests()), "a finished campaign sends nothing")
		})
	}
}

// FREQ_LIMIT is never a failure: with the campaign's pacing off and the
// fake's limit low, rows are refused for rate again and again, wait and go
// again under the same bill number until every one is paid.
func TestFreqLimitWaitsAndGoesAgain(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t, redpacktest.WithRateLimit(4))
	create(t, s, "rush", rowsOf(openids(24), 100))
	cfg := runConfig(t, srv)
	cfg.Unlimited = true
	cfg.Workers = 8
	cfg.MaxAttempts = 1
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tot, err := s.Run(ctx, "rush", cfg)
	require.NoError(t, err)
	require.Equal(t, int64(24), tot.Paid)
	require.Zero(t, tot.NotPaid)
	freq := 0
	for _, r := range srv.Requests() {
		if r.ErrCode == "FREQ_LIMIT" {
			freq++
		}
	}
	require.Positive(t, freq, "the fake refused some requests for rate")
	rows := report(t, s, "rush")
	assertMatchesLedger(t, srv, rows)
	for _, r := range rows {
		require.Equal(t, 1, countPackets(srv, r.OpenID), "row %d: one packet", r.Row)
	}
}

func countPackets(srv *redpacktest.Server, openid string) int {
	n := 0
	for _, p := range srv.Packets() {
		if p.ReOpenID == openid {
			n++
		}
	}
	return n
}

// A definite refusal is reported, not re-issued; reissue gives such rows a
// new bill number only then, and refuses rows that are paid.
func TestRefusalsAreReportedAndReissued(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			create(t, s, "lean", rowsOf(openids(6), 10000))
			// Three rows meet a refusal about the row alone.
			for _, r := range report(t, s, "lean")[3:] {
				require.NoError(t, srv.Inject(redpacktest.Fault{Op: "sendredpack", MchBillNo: r.BillNo, Kind: redpacktest.ErrCodeAnswer,
					ErrCode: "OPENID_ERROR", ErrCodeDes: "openid字段不正确"}))
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cfg := runConfig(t, srv)
			cfg.Workers = 1
			tot, err := s.Run(ctx, "lean", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(3), tot.Paid)
			require.Equal(t, int64(3), tot.NotPaid)
			require.Equal(t, map[string]int64{"OPENID_ERROR": 3}, tot.Refusals)
			rows := report(t, s, "lean")
			assertMatchesLedger(t, srv, rows)

			var paid, refused []int64
			old := map[int64]string{}
			for _, r := range rows {
				if r.Outcome == OutcomePaid {
					paid = append(paid, r.Row)
				} else {
					refused = append(refused, r.Row)
					old[r.Row] = r.BillNo
					require.Equal(t, "OPENID_ERROR", r.ErrCode)
				}
			}
			_, err = s.Reissue(ctx, "lean", Selection{Rows: append([]int64{paid[0]}, refused...)})
			var nr *NotReissuableError
			require.ErrorAs(t, err, &nr, "a paid row is never reissued")
			require.Equal(t, map[int64]string{paid[0]: "paid"}, nr.Rows)
			require.Equal(t, rows, report(t, s, "lean"), "a refused reissue changes nothing")

			re, err := s.Reissue(ctx, "lean", Selection{Rows: refused})
			require.NoError(t, err)
			require.Len(t, re, 3)
			for _, x := range re {
				require.Equal(t, old[x.Row], x.OldBill)
				require.NotEqual(t, x.OldBill, x.NewBill)
			}
			tot, err = s.Run(ctx, "lean", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(6), tot.Paid)
			rows = report(t, s, "lean")
			assertMatchesLedger(t, srv, rows)
			for _, r := range rows {
				// A refusal leaves no packet: one packet each.
				require.Equal(t, 1, countPackets(srv, r.OpenID), "row %d paid once", r.Row)
			}
		})
	}
}

// A restart after the bill numbers' first sends are 24 h old settles the
// unknown rows by query alone: a packet WeChat has is found paid, and one
// it has no record of stays unknown and is never sent again.
func TestRestartAfter24HoursQueriesOnly(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			ids := openids(3)
			create(t, s, "late", rowsOf(ids, 100))
			rows := report(t, s, "late")

			// A run that crashed yesterday: row 1 was paid (its answer lost),
			// row 2's request never reached WeChat, row 3 was never sent.
			client, err := srv.Client(redpacktest.DefaultMchID)
			require.NoError(t, err)
			_, err = client.SendRedPack(context.Background(), testTemplate.request(rows[0].BillNo, ids[0], 100))
			require.NoError(t, err)
			yesterday := time.Now().Add(-25 * time.Hour)
			markSent(t, s, "late", 1, yesterday)
			markSent(t, s, "late", 2, yesterday)
			srv.Advance(25 * time.Hour)

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cfg := runConfig(t, srv)
			cfg.SettleTries = 3
			tot, err := s.Run(ctx, "late", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(2), tot.Paid, "row 1 found paid by query, row 3 sent")
			require.Equal(t, int64(1), tot.Unknown, "row 2 stays unknown")
			require.Equal(t, int64(1), tot.GaveUp)
			require.Zero(t, sendsOf(srv, rows[1].BillNo), "row 2 was never re-sent past the window")
			require.Equal(t, 1, sendsOf(srv, rows[0].BillNo), "row 1 was not re-sent either")
			_, found := srv.Packet(redpacktest.DefaultMchID, rows[1].BillNo)
			require.False(t, found)
			got := report(t, s, "late")
			require.Equal(t, OutcomePaid, got[0].Outcome)
			require.Equal(t, OutcomeUnknown, got[1].Outcome)
			require.Equal(t, OutcomePaid, got[2].Outcome)

			// Another run settles it by query again, and still sends nothing.
			tot, err = s.Run(ctx, "late", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(1), tot.Unknown)
			require.Zero(t, sendsOf(srv, rows[1].BillNo))
		})
	}
}

// markSent journals a row as a crashed run leaves it: sent at t, outcome
// unknown.
func markSent(t *testing.T, s *Store, name string, row int64, at time.Time) {
	t.Helper()
	jr, err := s.e.(interface {
		loadRowAny(ctx context.Context, campaign string, row int64) (*jrow, error)
	}).loadRowAny(context.Background(), name, row)
	require.NoError(t, err)
	require.Equal(t, dbPending, jr.outcome)
	require.NoError(t, s.e.(interface {
		execAny(ctx context.Context, q string, args ...any) error
	}).execAny(context.Background(), `UPDATE redpack_campaign_row SET outcome = 'unknown', first_sent_at = $1, limit_day = $2 WHERE campaign = $3 AND row_no = $4`,
		at.UnixMilli(), day(at), name, row))
}

// The daily caps are checked from the journal before sending: a row that
// would pass one is held for the next day (or reported), never sent to
// collect a refusal.
func TestDailyCapsHoldRows(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t)
	id := openids(1)[0]
	rows := rowsOf([]string{id, id, id, "oOther000000000000000000000A"}, 100)
	create(t, s, "caps", rows)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := runConfig(t, srv)
	cfg.Limits = Limits{UserDailyCount: 2}
	tot, err := s.Run(ctx, "caps", cfg)
	require.NoError(t, err)
	require.Equal(t, int64(3), tot.Paid)
	require.Equal(t, int64(1), tot.Held)
	require.Zero(t, tot.Open)
	require.Equal(t, 2, countPackets(srv, id), "the third packet for the user was not sent")
	require.True(t, tot.HeldUntil.After(time.Now()))

	// The next day the held row goes.
	cfg.now = func() time.Time { return time.Now().Add(24 * time.Hour) }
	srv.Advance(24 * time.Hour)
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	// The held job is snoozed until tomorrow in real time; a new day's run
	// finds the row open and gives it a job.
	reviveHeld(t, s, "caps")
	tot, err = s.Run(ctx2, "caps", cfg)
	require.NoError(t, err)
	require.Equal(t, int64(4), tot.Paid)
	require.Equal(t, 3, countPackets(srv, id))
	assertMatchesLedger(t, srv, report(t, s, "caps"))
}

// reviveHeld releases held rows' snoozed jobs, as the next day does.
func reviveHeld(t *testing.T, s *Store, name string) {
	t.Helper()
	require.NoError(t, s.e.(interface {
		execAny(ctx context.Context, q string, args ...any) error
	}).execAny(context.Background(), `UPDATE river_job SET scheduled_at = '2000-01-01 00:00:00' WHERE state IN ('scheduled', 'available')`))
}

func TestDailyCapsReportRows(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t)
	rows := rowsOf(openids(5), 10000)
	create(t, s, "capped", rows)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := runConfig(t, srv)
	cfg.Limits = Limits{DailyAmount: 30000}
	cfg.OnLimit = ReportNotPaid
	cfg.Workers = 1
	tot, err := s.Run(ctx, "capped", cfg)
	require.NoError(t, err)
	require.Equal(t, int64(3), tot.Paid)
	require.Equal(t, int64(2), tot.NotPaid)
	require.Equal(t, map[string]int64{"SENDAMOUNT_LIMIT": 2}, tot.Refusals)
	require.Equal(t, int64(30000), srv.Paid(redpacktest.DefaultMchID))
	n := 0
	for _, r := range srv.Requests() {
		if r.Op == "sendredpack" {
			n++
		}
	}
	require.Equal(t, 3, n, "capped rows were never sent")
	assertMatchesLedger(t, srv, report(t, s, "capped"))
}

// Two attempts of one row's job (River's rescue can start a second while
// the first still runs) race to claim the row: exactly one sends it as
// new; the other settles it.
func TestOnlyOneAttemptClaimsARow(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			create(t, s, "race", rowsOf(openids(1), 100))
			e := s.e.(interface {
				loadRowAny(ctx context.Context, campaign string, row int64) (*jrow, error)
				claimAny(ctx context.Context, r *jrow, mchID string, now time.Time, l Limits) (bool, string, error)
			})
			ctx := context.Background()
			r, err := e.loadRowAny(ctx, "race", 1)
			require.NoError(t, err)
			results := make(chan bool, 8)
			for range 8 {
				go func() {
					mine := *r // each attempt read the row itself
					ok, code, err := e.claimAny(ctx, &mine, redpacktest.DefaultMchID, time.Now(), Limits{}.withDefaults())
					assert.NoError(t, err)
					assert.Empty(t, code)
					results <- ok
				}()
			}
			claimed := 0
			for range 8 {
				if <-results {
					claimed++
				}
			}
			require.Equal(t, 1, claimed)
			got, err := e.loadRowAny(ctx, "race", 1)
			require.NoError(t, err)
			require.Equal(t, dbUnknown, got.outcome)
			require.Equal(t, int64(1), got.sendGen, "one send generation")
			require.True(t, got.open(), "in flight until its attempt journals")
			require.Zero(t, got.firstSentAt, "nothing has left yet")
			require.NotZero(t, got.firstSent(), "but a settle counts the claim as a send that may have left")
			// The day's counter holds the one claim, not eight.
			var n int64
			require.NoError(t, s.e.(interface {
				queryIntAny(ctx context.Context, dest *int64, q string, args ...any) error
			}).queryIntAny(ctx, &n, `SELECT packets FROM redpack_campaign_daily WHERE openid = $1`, r.openid))
			require.Equal(t, int64(1), n)
		})
	}
}

// TestInFlightRowWaits: a row whose newest send generation is open (its
// attempt has journalled nothing since it took the row) is not settled
// before the deadline that attempt stored, from its own flags; a row whose
// sender journalled its result settles at once.
func TestInFlightRowWaits(t *testing.T) {
	now := time.Now()
	deadline := now.Add(7 * time.Minute).UnixMilli()
	wait := inFlight(&jrow{sendGen: 2, doneGen: 1, sendDeadline: deadline}, now)
	assert.InDelta(t, float64(7*time.Minute), float64(wait), float64(50*time.Millisecond))
	assert.Zero(t, inFlight(&jrow{sendGen: 2, doneGen: 2, sendDeadline: deadline}, now), "the sender journalled its result")
	assert.LessOrEqual(t, inFlight(&jrow{sendGen: 1, doneGen: 0, sendDeadline: now.Add(-time.Second).UnixMilli()}, now), time.Duration(0),
		"the claimer's time is up")
}

func TestClipKeepsUTF8(t *testing.T) {
	s := strings.Repeat("该", 200) // 600 bytes
	got := clip(s)
	assert.LessOrEqual(t, len(got), 500)
	assert.True(t, utf8.ValidString(got))
	assert.Equal(t, "short", clip("short"))
}

// TestRowOverUserDailyAmountIsReported: a row holding more than a user may
// receive in a day can never be sent under the caps, so it is reported not
// paid rather than held again every day, and nothing is sent for it.
func TestRowOverUserDailyAmountIsReported(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t)
	create(t, s, "big", rowsOf(openids(2), 5000))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := runConfig(t, srv)
	cfg.Limits = Limits{UserDailyAmount: 4000}
	tot, err := s.Run(ctx, "big", cfg)
	require.NoError(t, err)
	assert.Equal(t, int64(2), tot.NotPaid)
	assert.Zero(t, tot.Held)
	assert.Empty(t, srv.Packets(), "nothing sent to collect a refusal")
	for _, r := range report(t, s, "big") {
		assert.Equal(t, string(redpack.CodeRcvdAmountLimit), r.ErrCode)
	}
}

// TestWorkWaitsForTheClaimer: a second attempt of a row's job (a rescue,
// or the loser of the claim) finds the row claimed by an attempt that may
// still be sending it. It sends and queries nothing, and snoozes until that
// attempt's time is surely up.
func TestWorkWaitsForTheClaimer(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t)
	create(t, s, "overlap", rowsOf(openids(1), 100))
	e := s.e.(*eng[*riversqlite.Driver, *sql.Tx])
	ctx := context.Background()
	r, err := e.loadRow(ctx, "overlap", 1)
	require.NoError(t, err)
	// Attempt 1 ran with long flags (--timeout 300s): its deadline is far
	// off, further than this run's own flags would wait.
	claimerDeadline := time.Now().Add(12 * time.Minute)
	ok, _, err := e.claim(ctx, r, redpacktest.DefaultMchID, time.Now(), claimerDeadline, Limits{}.withDefaults())
	require.NoError(t, err)
	require.True(t, ok, "attempt 1 claimed it and is sending")

	cfg := runConfig(t, srv)
	cfg.now = time.Now
	client, err := redpack.NewClient(cfg.Merchant, cfg.ClientOptions...)
	require.NoError(t, err)
	info, err := s.Info(ctx, "overlap")
	require.NoError(t, err)
	w := &rowWorker[*riversqlite.Driver, *sql.Tx]{e: e, rs: &runState{cfg: &cfg, client: client, mchID: redpacktest.DefaultMchID, tmpl: info.Template,
		gate: newGate(time.Minute), logger: quietLogger()}}
	job := &river.Job[rowArgs]{JobRow: &rivertype.JobRow{Attempt: 2, State: rivertype.JobStateRunning}, Args: rowArgs{Campaign: "overlap", Row: 1}}
	err = w.Work(ctx, job)
	var snooze *river.JobSnoozeError
	require.ErrorAs(t, err, &snooze)
	require.Less(t, cfg.attemptSpan(), 2*time.Minute, "this run's own flags would wait far less")
	assert.Greater(t, snooze.Duration, time.Until(claimerDeadline)-time.Second, "until the deadline the claimer stored")
	assert.Empty(t, srv.Requests(), "nothing sent or queried while the claimer may be sending")
}
