package campaign

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

// sendCount counts the fake's sendredpack requests.
func sendCount(srv *redpacktest.Server) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Op == "sendredpack" {
			n++
		}
	}
	return n
}

// billsOf maps row → bill number.
func billsOf(rows []ReportRow) map[int64]string {
	m := map[int64]string{}
	for _, r := range rows {
		m[r.Row] = r.BillNo
	}
	return m
}

// TestBalanceRunsOutStopsTheRun: the balance runs out at row k of n.
// Exactly k−1 rows are paid, nothing is journalled not paid, the run stops
// with ErrBalanceLow saying how many rows wait, and after a top-up a
// second run pays the rest under their original bill numbers, none twice.
func TestBalanceRunsOutStopsTheRun(t *testing.T) {
	const n, k = 12, 5
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			create(t, s, "lean", rowsOf(openids(n), 1000))
			bills := billsOf(report(t, s, "lean"))
			require.NoError(t, srv.SetBalance(redpacktest.DefaultMchID, (k-1)*1000))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cfg := runConfig(t, srv)
			cfg.Workers = 1
			tot, err := s.Run(ctx, "lean", cfg)
			require.ErrorIs(t, err, ErrBalanceLow)
			var stopped *StoppedError
			require.ErrorAs(t, err, &stopped)
			assert.Equal(t, "NOTENOUGH", stopped.ErrCode)
			assert.Equal(t, int64(n-k+1), stopped.Waiting, "rows that wait with their bill numbers")
			require.Equal(t, int64(k-1), tot.Paid)
			require.Zero(t, tot.NotPaid, "nothing journalled not paid")
			require.Zero(t, tot.Unknown)
			require.Equal(t, k, sendCount(srv), "no row sent after the refusal")
			list, err := s.List(ctx)
			require.NoError(t, err)
			require.WithinDuration(t, time.Now(), list[0].LastRunAt, time.Minute, "a run records when it started, for list")
			for _, r := range report(t, s, "lean") {
				if r.Outcome == OutcomePending && r.Row == k {
					assert.Equal(t, "NOTENOUGH", r.ErrCode, "the refused row says why it waits")
				}
			}

			require.NoError(t, srv.SetBalance(redpacktest.DefaultMchID, 1_000_000))
			tot, err = s.Run(ctx, "lean", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(n), tot.Paid)
			rows := report(t, s, "lean")
			assertMatchesLedger(t, srv, rows)
			for _, r := range rows {
				assert.Equal(t, bills[r.Row], r.BillNo, "row %d paid under its original bill number", r.Row)
				assert.Equal(t, 1, countPackets(srv, r.OpenID), "row %d paid once", r.Row)
			}
		})
	}
}

// TestBalanceRunsOutManyWorkers: with several workers, at most the rows
// in flight when the balance ran out are sent after it.
func TestBalanceRunsOutManyWorkers(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t)
	create(t, s, "lean", rowsOf(openids(40), 1000))
	require.NoError(t, srv.SetBalance(redpacktest.DefaultMchID, 10*1000))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := runConfig(t, srv)
	cfg.Workers = 4
	tot, err := s.Run(ctx, "lean", cfg)
	require.ErrorIs(t, err, ErrBalanceLow)
	require.Equal(t, int64(10), tot.Paid)
	require.Zero(t, tot.NotPaid)
	require.LessOrEqual(t, sendCount(srv), 10+cfg.Workers, "only the rows in flight went after the first NOTENOUGH")
}

// TestWaitForBalance: with WaitForBalance the run pauses at NOTENOUGH,
// probes slowly, and goes on by itself after a top-up.
func TestWaitForBalance(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t)
	create(t, s, "patient", rowsOf(openids(10), 1000))
	require.NoError(t, srv.SetBalance(redpacktest.DefaultMchID, 3000))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := runConfig(t, srv)
	cfg.Workers = 2
	cfg.OnBalance = WaitForBalance
	cfg.balancePoll = 300 * time.Millisecond
	var refused atomic.Int64
	cfg.Progress = func(t Totals) {
		if t.Paid == 3 && refused.Load() == 0 {
			refused.Store(1)
			go func() {
				time.Sleep(time.Second) // a few probes meet NOTENOUGH
				_ = srv.SetBalance(redpacktest.DefaultMchID, 1_000_000)
			}()
		}
	}
	cfg.ProgressEvery = 50 * time.Millisecond
	tot, err := s.Run(ctx, "patient", cfg)
	require.NoError(t, err)
	require.Equal(t, int64(10), tot.Paid)
	notEnough := 0
	for _, r := range srv.Requests() {
		if r.ErrCode == "NOTENOUGH" {
			notEnough++
		}
	}
	require.Positive(t, notEnough)
	require.Less(t, notEnough, 12, "a paused run probes one row at a time, slowly")
	assertMatchesLedger(t, srv, report(t, s, "patient"))
}

// TestConfigRefusalStopsTheRun: SIGN_ERROR or NO_AUTH at row k stops the
// run at once: no row after it is sent, the run says which setting to
// fix, and the next run sends row k under its own bill number.
func TestConfigRefusalStopsTheRun(t *testing.T) {
	const n, k = 8, 3
	for _, code := range []string{"SIGN_ERROR", "NO_AUTH"} {
		for _, kind := range dbKinds {
			t.Run(code+"/"+kind, func(t *testing.T) {
				t.Parallel()
				s := openStore(t, newDSN(t, kind))
				srv := redpacktest.Start(t)
				create(t, s, "conf", rowsOf(openids(n), 100))
				bills := billsOf(report(t, s, "conf"))
				require.NoError(t, srv.Inject(redpacktest.Fault{Op: "sendredpack", MchBillNo: bills[k], Kind: redpacktest.ErrCodeAnswer, ErrCode: code}))
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				cfg := runConfig(t, srv)
				cfg.Workers = 1
				tot, err := s.Run(ctx, "conf", cfg)
				require.ErrorIs(t, err, ErrMerchantConfig)
				var stopped *StoppedError
				require.ErrorAs(t, err, &stopped)
				assert.Equal(t, code, stopped.ErrCode)
				assert.NotEmpty(t, stopped.Advice)
				require.Equal(t, k, sendCount(srv), "nothing sent after the refusal")
				require.Equal(t, int64(k-1), tot.Paid)
				require.Zero(t, tot.NotPaid)

				tot, err = s.Run(ctx, "conf", cfg)
				require.NoError(t, err)
				require.Equal(t, int64(n), tot.Paid)
				rows := report(t, s, "conf")
				assertMatchesLedger(t, srv, rows)
				assert.Equal(t, bills[k], rows[k-1].BillNo, "the refused row keeps its bill number")
			})
		}
	}
}

// TestDailyAmountRefusalHoldsTheDay: WeChat's SENDAMOUNT_LIMIT holds the
// rest of the day's rows for the next day, under their bill numbers.
func TestDailyAmountRefusalHoldsTheDay(t *testing.T) {
	const n, k = 6, 3
	s := openStore(t, newDSN(t, "sqlite"))
	// The console's daily amount for the merchant lets k-1 rows through.
	m := redpacktest.DefaultMerchant()
	m.DailyAmount = (k - 1) * 100
	srv := redpacktest.Start(t, redpacktest.WithMerchants(m))
	create(t, s, "daily", rowsOf(openids(n), 100))
	bills := billsOf(report(t, s, "daily"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := runConfig(t, srv)
	cfg.Workers = 1
	tot, err := s.Run(ctx, "daily", cfg)
	require.NoError(t, err)
	require.Equal(t, int64(k-1), tot.Paid)
	require.Equal(t, int64(n-k+1), tot.Held)
	require.Zero(t, tot.NotPaid)
	require.Equal(t, k, sendCount(srv))

	refused := report(t, s, "daily")[k-1]
	require.Equal(t, OutcomePending, refused.Outcome)
	require.NotEqual(t, bills[k], refused.BillNo, "WeChat holds the refused bill number as a failed packet: the row waits under a new one")
	p, found := srv.Packet(redpacktest.DefaultMchID, bills[k])
	require.True(t, found)
	require.False(t, p.Paid)

	// Each next day, an hour in (well within the resend window), the
	// cap lets k-1 more rows through, until every row is paid.
	for d := 1; tot.Paid < n; d++ {
		require.LessOrEqual(t, d, 3)
		at := nextDay(time.Now().Add(time.Duration(d-1) * 24 * time.Hour)).Add(time.Hour)
		offset := time.Until(at)
		cfg.now = func() time.Time { return time.Now().Add(offset) }
		srv.Advance(at.Sub(srv.Now()))
		reviveHeld(t, s, "daily")
		before := tot.Paid
		tot, err = s.Run(ctx, "daily", cfg)
		require.NoError(t, err)
		require.Equal(t, min(before+k-1, n), tot.Paid, "day %d", d)
	}
	rows := report(t, s, "daily")
	assertMatchesLedger(t, srv, rows)
	for _, r := range rows {
		if r.Row <= k-1 {
			assert.Equal(t, bills[r.Row], r.BillNo, "row %d paid the first day under its bill number", r.Row)
			continue
		}
		if r.Reissues > 0 {
			assert.NotEqual(t, bills[r.Row], r.BillNo, "row %d: refused by the cap, paid under a new bill number", r.Row)
		}
	}
	assert.Equal(t, refused.BillNo, rows[k-1].BillNo, "row k paid under the bill number it was given")
}

// TestClassify sorts every refusal the issue names.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		code string
		want refusalClass
	}{
		{"NOTENOUGH", classBalance}, {"SENDAMOUNT_LIMIT", classDaily}, {"FREQ_LIMIT", classRate},
		{"SIGN_ERROR", classConfig}, {"CA_ERROR", classConfig}, {"NO_AUTH", classConfig}, {"ILLEGAL_APPID", classConfig},
		{"MSGAPPID_ERROR", classConfig}, {"API_METHOD_CLOSED", classConfig}, {"ACCEPTMODE_ERROR", classConfig}, {"XML_ERROR", classConfig},
		{"PAYER_ACCOUNT_ABNORMAL", classConfig}, {"NO_CONSUME_COMPETENCE", classConfig},
		{"OPENID_ERROR", classRow}, {"SENDNUM_LIMIT", classRow}, {"RCVDAMOUNT_LIMIT", classRow}, {"MONEY_LIMIT", classRow},
		{"PARAM_ERROR", classRow}, {"FATAL_ERROR", classRow},
	} {
		got, advice := classify(apiErr(c.code))
		assert.Equal(t, c.want, got, c.code)
		if got == classConfig {
			assert.NotEmpty(t, advice, c.code)
		}
	}
	got, advice := classify(&redpackAPIError{ReturnCode: "FAIL", ReturnMsg: "签名错误"})
	assert.Equal(t, classConfig, got, "return_code=FAIL without an err_code")
	assert.NotEmpty(t, advice)
	assert.False(t, errors.Is(&StoppedError{Reason: ErrOutage}, ErrBalanceLow))
}

type redpackAPIError = redpack.APIError

func apiErr(code string) *redpack.APIError {
	return &redpack.APIError{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: code}
}

// TestGateBalancePause: with WaitForBalance, only a probe (a send) lifts
// the pause: a settle's query that WeChat answers says nothing about the
// balance, and must not let every worker claim a row at once.
func TestGateBalancePause(t *testing.T) {
	g := newGate(time.Minute)
	now := time.Now()
	g.pauseBalance(now)
	ok, _ := g.allow(now, true)
	require.False(t, ok, "paused: no claim")
	ok, probe := g.allow(now, false)
	require.True(t, ok, "a settle of an unknown row goes")
	require.False(t, probe)
	g.answered(now, probe, false) // its query was answered
	ok, _ = g.allow(now, true)
	require.False(t, ok, "a query's answer did not lift the pause")

	later := now.Add(time.Minute)
	ok, probe = g.allow(later, true)
	require.True(t, ok)
	require.True(t, probe, "one probe a BalancePoll")
	ok, _ = g.allow(later, true)
	require.False(t, ok, "one probe at a time")
	g.answered(later, probe, true) // NOTENOUGH again
	ok, _ = g.allow(later, true)
	require.False(t, ok)
	ok, probe = g.allow(later.Add(time.Minute), true)
	require.True(t, ok && probe)
	g.answered(later.Add(time.Minute), probe, false) // paid: the top-up came
	ok, probe = g.allow(later.Add(time.Minute), true)
	require.True(t, ok)
	require.False(t, probe, "resumed")
}

// TestRefusedRowPastWindowGetsANewBill: a row NOTENOUGH refused keeps its
// bill number for the next run; if that run comes more than
// redpack.ResendWindow later, WeChat would answer the old bill number as
// expired, so the row goes on under a new one and the journal keeps the
// old as not paid, as Reissue would. A row never sent keeps its own.
func TestRefusedRowPastWindowGetsANewBill(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			create(t, s, "later", rowsOf(openids(2), 100))
			bills := billsOf(report(t, s, "later"))
			require.NoError(t, srv.SetBalance(redpacktest.DefaultMchID, 0))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cfg := runConfig(t, srv)
			cfg.Workers = 1
			_, err := s.Run(ctx, "later", cfg)
			require.ErrorIs(t, err, ErrBalanceLow)
			rows := report(t, s, "later")
			refused := rows[0]
			if rows[1].ErrCode == "NOTENOUGH" {
				refused = rows[1]
			}
			require.Equal(t, OutcomePending, refused.Outcome)
			require.False(t, refused.FirstSentAt.IsZero(), "the refused send is counted for the window")

			require.NoError(t, srv.SetBalance(redpacktest.DefaultMchID, 100_000))
			cfg.now = func() time.Time { return time.Now().Add(24 * time.Hour) }
			srv.Advance(24 * time.Hour)
			tot, err := s.Run(ctx, "later", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(2), tot.Paid)
			rows = report(t, s, "later")
			assertMatchesLedger(t, srv, rows)
			for _, r := range rows {
				if r.Row == refused.Row {
					assert.NotEqual(t, bills[r.Row], r.BillNo, "past the window: a new bill number")
					assert.Equal(t, int64(1), r.Reissues)
					var n int64
					require.NoError(t, s.e.(testEngine).queryIntAny(ctx, &n,
						`SELECT COUNT(*) FROM redpack_campaign_old_bill WHERE bill_no = $1 AND outcome = 'not_paid'`, bills[r.Row]))
					assert.Equal(t, int64(1), n, "the old bill number is kept as not paid")
					continue
				}
				assert.Equal(t, bills[r.Row], r.BillNo, "a row never sent keeps its bill number")
			}
		})
	}
}
