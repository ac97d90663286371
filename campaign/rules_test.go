package campaign

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

// The rules file of the issue, as a merchant writes it.
const issueRules = `{"rules": [{"name": "spend100", "appid": "wx8888888888888888",
  "from": "2026-12-01T00:00:00+08:00", "to": "2027-01-01T00:00:00+08:00",
  "min_fee": 10000, "amount": 500, "budget": 75000, "user_daily_count": 1,
  "send_name": "天虹百货", "wishing": "满100送5元", "act_name": "满额送", "remark": "感谢惠顾"}]}`

func parseRules(tb testing.TB, s string) *RuleSet {
	tb.Helper()
	set, err := ParseRules(strings.NewReader(s))
	require.NoError(tb, err)
	return set
}

// testRule is a fixed award of amount, budget budget, for every payment of
// at least 100 CNY in December 2026 (China time).
func testRule(name string, amount, budget int64) Rule {
	return Rule{Name: name, AppID: redpacktest.DefaultAppID,
		From: time.Date(2026, 12, 1, 0, 0, 0, 0, chinaTime), To: time.Date(2027, 1, 1, 0, 0, 0, 0, chinaTime),
		MinFee: 10000, Amount: amount, Budget: budget,
		SendName: "天虹百货", Wishing: "满100送5元", ActName: "满额送", Remark: "感谢惠顾"}
}

// payment is a paid notification of fee fen by openid at t.
func payment(txID, openid string, fee int64, t time.Time) *redpack.PaymentNotification {
	return &redpack.PaymentNotification{AppID: redpacktest.DefaultAppID, MchID: redpacktest.DefaultMchID, ResultCode: "SUCCESS",
		OpenID: openid, TradeType: "JSAPI", TotalFee: fee, CashFee: fee, TransactionID: txID, OutTradeNo: "o" + txID, TimeEnd: t}
}

var dec15 = time.Date(2026, 12, 15, 12, 0, 0, 0, chinaTime)

func defineRules(tb testing.TB, s *Store, name string, rules ...Rule) {
	tb.Helper()
	require.NoError(tb, s.DefineRules(context.Background(), name, &RuleSet{Rules: rules}, redpacktest.DefaultMchID))
}

func TestParseRulesOfTheIssue(t *testing.T) {
	set := parseRules(t, issueRules)
	require.Len(t, set.Rules, 1)
	r := set.Rules[0]
	assert.Equal(t, "spend100", r.Name)
	assert.Equal(t, int64(10000), r.MinFee)
	assert.Equal(t, int64(500), r.Amount)
	assert.Equal(t, int64(75000), r.Budget)
	assert.Equal(t, int64(1), r.UserDailyCount)
	assert.True(t, r.From.Equal(time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC)))
}

// Each bad rule is refused with the rule and the field named.
func TestParseRulesRefusals(t *testing.T) {
	for _, tc := range []struct{ edit, want string }{
		{`"amount": 500`, ""},
		{`"amount": 50`, "award 50 fen"},
		{`"amount": 500, "tiers": [{"min_fee": 10000, "amount": 500}]`, "exactly one of amount, tiers and random"},
		{`"appid": "wx8888888888888888", "fee": "paid_fee"`, `fee "paid_fee"`},
		{`"user_daily_count": 11`, "user_daily_count 11"},
		{`"budget": 75000, "user_daily_amount": 100001`, "user_daily_amount 100001"},
		{`"budget": 75000, "mystery": 1`, `unknown field "mystery"`},
		{`"send_name": "天虹百货"`, ""},
		{`"send_name": ""`, "send_name"},
		{`"budget": 75000`, ""},
		{`"budget": 0`, "budget: required"},
		{`"budget": 100`, "less than the smallest award, 500 fen"},
		{`"to": "2027-01-01T00:00:00+08:00"`, ""},
		{`"to": "2026-11-01T00:00:00+08:00"`, "to: must be after from"},
	} {
		t.Run(tc.edit, func(t *testing.T) {
			src := issueRules
			switch {
			case strings.HasPrefix(tc.edit, `"amount"`):
				src = strings.Replace(src, `"amount": 500`, tc.edit, 1)
			case strings.HasPrefix(tc.edit, `"appid"`):
				src = strings.Replace(src, `"appid": "wx8888888888888888"`, tc.edit, 1)
			case strings.HasPrefix(tc.edit, `"user_daily_count"`):
				src = strings.Replace(src, `"user_daily_count": 1`, tc.edit, 1)
			case strings.HasPrefix(tc.edit, `"budget"`):
				src = strings.Replace(src, `"budget": 75000`, tc.edit, 1)
			case strings.HasPrefix(tc.edit, `"send_name"`):
				src = strings.Replace(src, `"send_name": "天虹百货"`, tc.edit, 1)
			case strings.HasPrefix(tc.edit, `"to"`):
				src = strings.Replace(src, `"to": "2027-01-01T00:00:00+08:00"`, tc.edit, 1)
			}
			_, err := ParseRules(strings.NewReader(src))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var in *InputError
			require.ErrorAs(t, err, &in)
			assert.Contains(t, err.Error(), tc.want)
			if !strings.Contains(tc.want, "unknown field") {
				assert.Contains(t, err.Error(), "rule spend100")
			}
		})
	}
}

// awardOf is the one award Award made.
func awardOf(tb testing.TB, s *Store, set string, n *redpack.PaymentNotification, opts AwardOptions) Award {
	tb.Helper()
	a, err := s.Award(context.Background(), set, n, opts)
	require.NoError(tb, err)
	require.Len(tb, a, 1)
	return a[0]
}

// TestRuleJudges: the active period's edges in China time, the fee the
// rule compares, tiers, a mini-program's payment and the per-user caps.
func TestRuleJudges(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			testRuleJudges(t, openStore(t, newDSN(t, kind)))
		})
	}
}

func testRuleJudges(t *testing.T, s *Store) {
	tiered := testRule("tiers", 0, 1_000_000)
	tiered.Tiers = []Tier{{MinFee: 10000, Amount: 500}, {MinFee: 30000, Amount: 2000}}
	tiered.UserDailyCount = 2
	tiered.UserCount = 3
	defineRules(t, s, "judge", tiered)
	opts := AwardOptions{NoConfirm: true}
	u := openids(10)
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, chinaTime)
	end := time.Date(2027, 1, 1, 0, 0, 0, 0, chinaTime)
	cases := []struct {
		n      *redpack.PaymentNotification
		state  string
		amount int64
		why    string
	}{
		{payment("t01", u[0], 30000, start.Add(-time.Second)), AwardSkipped, 0, "period"}, // 23:59:59 on 30 Nov, China time
		{payment("t02", u[0], 30000, start), AwardWaiting, 2000, ""},                      // the first instant counts
		{payment("t03", u[1], 29999, end.Add(-time.Second)), AwardWaiting, 500, ""},       // the last second, the lower tier
		{payment("t04", u[1], 30000, end), AwardSkipped, 0, "period"},                     // To is excluded
		{payment("t05", u[2], 9999, dec15), AwardSkipped, 0, "min_fee"},
		{payment("t06", u[3], 10000, dec15), AwardWaiting, 500, ""},
		{payment("t07", u[3], 10000, dec15), AwardWaiting, 500, ""},
		{payment("t08", u[3], 10000, dec15), AwardSkipped, 0, "user_daily_count"},     // a third on the same day
		{payment("t09", u[3], 10000, dec15.Add(24*time.Hour)), AwardWaiting, 500, ""}, // the next day
		{payment("t10", u[3], 10000, dec15.Add(48*time.Hour)), AwardSkipped, 0, "user_count"},
	}
	mini := payment("t11", u[4], 50000, dec15)
	mini.AppID = redpacktest.DefaultMiniProgramAppID
	cases = append(cases, struct {
		n      *redpack.PaymentNotification
		state  string
		amount int64
		why    string
	}{mini, AwardSkipped, 0, "appid"})
	coupon := payment("t12", u[5], 12000, dec15)
	coupon.CashFee = 9000 // a coupon paid 30 CNY: the user really paid 90
	cases = append(cases, struct {
		n      *redpack.PaymentNotification
		state  string
		amount int64
		why    string
	}{coupon, AwardSkipped, 0, "min_fee"})
	for _, c := range cases {
		a := awardOf(t, s, "judge", c.n, opts)
		assert.Equal(t, c.state, a.State, "%s: %s", c.n.TransactionID, a.Reason)
		assert.Equal(t, c.amount, a.Amount, c.n.TransactionID)
		assert.Equal(t, c.why, a.Why, c.n.TransactionID)
		if c.state == AwardSkipped {
			assert.NotEmpty(t, a.Reason, c.n.TransactionID)
		}
	}
	assert.Contains(t, awardOf(t, s, "judge", mini, opts).Reason, "cannot receive this packet")

	// total_fee instead: the coupon's payment qualifies.
	byTotal := testRule("by-total", 300, 10_000)
	byTotal.Fee = FeeTotal
	defineRules(t, s, "total", byTotal)
	a := awardOf(t, s, "total", coupon, opts)
	assert.Equal(t, AwardWaiting, a.State, a.Reason)

	st, err := s.RuleStatus(context.Background(), "judge")
	require.NoError(t, err)
	r := st.Rules[0]
	assert.Equal(t, int64(2000+500+500+500+500), r.Spent)
	assert.Equal(t, r.Budget-r.Spent, r.Left)
	assert.Equal(t, int64(2), r.CapHits)
	assert.Equal(t, map[string]int64{"period": 2, "min_fee": 2, "user_daily_count": 1, "user_count": 1, "appid": 1}, r.Skipped)
	assert.Equal(t, int64(12), st.Payments)
}

// TestRandomAwardIsDrawnOnce: a random award is drawn when it is made and
// journalled; a second delivery does not draw again.
func TestRandomAwardIsDrawnOnce(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	r := testRule("lucky", 0, 100_000)
	r.Random = &RandomRange{Min: 100, Max: 888}
	defineRules(t, s, "lucky", r)
	draws := 0
	opts := AwardOptions{NoConfirm: true, draw: func(lo, hi int64) int64 { draws++; return lo + int64(draws)*7 }}
	n := payment("r1", openids(1)[0], 20000, dec15)
	first := awardOf(t, s, "lucky", n, opts)
	again := awardOf(t, s, "lucky", n, opts)
	assert.Equal(t, int64(107), first.Amount)
	assert.Equal(t, first.Amount, again.Amount)
	assert.True(t, again.Duplicate)
	assert.Equal(t, 1, draws)
	for range 200 {
		v := drawAmount(100, 888)
		require.True(t, v >= 100 && v <= 888, v)
	}
}

// TestAwardOncePerTransaction: the same notification delivered 8 times by
// the fake, 3 of them at once: one award, one packet in the ledger.
func TestAwardOncePerTransaction(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			defineRules(t, s, "dup", testRule("spend100", 500, 75000))
			base := notifyServer(t, s, srv, "dup", NotifyConfig{})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			id := openids(1)[0]
			p, err := srv.Pay(redpacktest.PaymentRequest{OpenID: id, TotalFee: 10000, TimeEnd: dec15, NotifyURL: base + "/notify",
				Faults: redpacktest.DeliveryFaults{Copies: 3}}) // the first delivery: 3 copies at once
			require.NoError(t, err)
			require.NoError(t, srv.WaitDeliveries(ctx))
			for range 5 {
				d, err := srv.Notify(ctx, p.TransactionID)
				require.NoError(t, err)
				require.True(t, d.Success, "%+v", d)
			}
			got, _ := srv.Payment(p.TransactionID)
			require.Len(t, got.Deliveries, 8)
			for _, d := range got.Deliveries {
				require.True(t, d.Success, "every delivery answered SUCCESS: %+v", d)
			}
			require.Equal(t, 1, awardCount(t, s, "dup"), "one award")

			tot, err := s.Run(ctx, "dup", runConfig(t, srv))
			require.NoError(t, err)
			require.Equal(t, int64(1), tot.Paid)
			require.Equal(t, 1, countPackets(srv, id), "one packet in the ledger")
			assertMatchesLedger(t, srv, report(t, s, "dup"))
			st, err := s.RuleStatus(ctx, "dup")
			require.NoError(t, err)
			assert.Equal(t, int64(500), st.Rules[0].AmountPaid)
			assert.Equal(t, int64(500), st.Rules[0].Spent)
		})
	}
}

// TestBudgetNeverOverspent: 200 payments' notifications delivered at once
// against a budget that covers 150: exactly 150 awards, confirmed and
// paid, the budget spent to the fen, none over.
func TestBudgetNeverOverspent(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			// WeChat gives up on an answer after 5 s; 200 awards that take
			// turns on the rule set's lock can take longer on a loaded
			// machine under the race detector, and this test is about the
			// budget, not the latency (BenchmarkNotify measures that).
			srv := redpacktest.Start(t, redpacktest.WithRateLimit(0), redpacktest.WithNotifyClient(&http.Client{Timeout: 2 * time.Minute}))
			const amount, covered, sent = 500, 150, 200
			defineRules(t, s, "budget", testRule("spend100", amount, amount*covered))
			base := notifyServer(t, s, srv, "budget", NotifyConfig{})
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			ids := openids(sent)
			txs := make([]string, sent)
			for i := range sent { // paid orders, their own deliveries held back an hour
				p, err := srv.Pay(redpacktest.PaymentRequest{OpenID: ids[i], TotalFee: 10000, TimeEnd: dec15, NotifyURL: base + "/notify",
					Faults: redpacktest.DeliveryFaults{Delay: time.Hour}})
				require.NoError(t, err)
				txs[i] = p.TransactionID
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range sent {
				wg.Go(func() {
					<-start
					d, err := srv.Notify(ctx, txs[i])
					if err != nil || !d.Success {
						t.Errorf("notification %d: %+v %v", i, d, err)
					}
				})
			}
			close(start) // all 200 at once
			wg.Wait()
			st, err := s.RuleStatus(ctx, "budget")
			require.NoError(t, err)
			r := st.Rules[0]
			require.Equal(t, int64(covered), r.Awards[AwardWaiting])
			require.Equal(t, int64(sent-covered), r.Skipped["budget"])
			require.Equal(t, int64(amount*covered), r.Spent)
			require.Zero(t, r.Left)

			// While the run pays, the rule set's status is read again and
			// again: its rows' totals and its rule's figures are one
			// instant's, so they agree at every read.
			polled := make(chan struct{})
			stopPolling := make(chan struct{})
			go func() {
				defer close(polled)
				for reads := 0; ; reads++ {
					select {
					case <-stopPolling:
						t.Logf("status read %d times during the run", reads)
						return
					default:
					}
					st, err := s.RuleStatus(ctx, "budget")
					if err != nil {
						t.Error(err)
						return
					}
					r := st.Rules[0]
					if st.Totals.Paid != r.Paid || st.Totals.AmountPaid != r.AmountPaid || r.Paid*amount != r.AmountPaid {
						t.Errorf("one read, two instants: rows paid %d (%d fen), the rule's %d (%d fen)",
							st.Totals.Paid, st.Totals.AmountPaid, r.Paid, r.AmountPaid)
						return
					}
					time.Sleep(5 * time.Millisecond) // as often as a dashboard could, not flat out
				}
			}()
			cfg := runConfig(t, srv)
			cfg.Unlimited = true
			tot, err := s.Run(ctx, "budget", cfg)
			close(stopPolling)
			<-polled
			require.NoError(t, err)
			require.Equal(t, int64(covered), tot.Paid)
			require.Equal(t, int64(amount*covered), tot.AmountPaid)
			require.Equal(t, int64(amount*covered), srv.Paid(redpacktest.DefaultMchID), "the ledger: the budget to the fen, none over")
			assertMatchesLedger(t, srv, report(t, s, "budget"))
		})
	}
}

// TestRefundWithinHoldCancels: a refund within the hold cancels the award
// and gives its amount back; a refund after it was paid is reported only.
func TestRefundWithinHoldCancels(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			defineRules(t, s, "hold", testRule("spend100", 500, 1000))
			ids := openids(2)
			ctx := context.Background()
			held := awardOf(t, s, "hold", payment("h1", ids[0], 10000, dec15), AwardOptions{NoConfirm: true, Hold: time.Hour})
			require.Equal(t, AwardWaiting, held.State)
			refund := &redpack.RefundNotification{TransactionID: "h1", RefundID: "r1", RefundFee: 10000, TotalFee: 10000, RefundStatus: "SUCCESS"}
			for range 2 { // WeChat re-delivers refunds too
				out, err := s.Refund(ctx, "hold", refund)
				require.NoError(t, err)
				require.Len(t, out, 1)
				assert.Equal(t, AwardCancelled, out[0].State)
			}
			st, err := s.RuleStatus(ctx, "hold")
			require.NoError(t, err)
			assert.Zero(t, st.Rules[0].Spent, "the cancelled award's amount is back in the budget")

			// The budget covers two awards again: one more now, paid at once.
			paid := awardOf(t, s, "hold", payment("h2", ids[1], 10000, dec15), AwardOptions{NoConfirm: true})
			require.Equal(t, AwardWaiting, paid.State)
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			tot, err := s.Run(rctx, "hold", runConfig(t, srv))
			require.NoError(t, err)
			require.Equal(t, int64(1), tot.Paid)
			_, err = s.Refund(ctx, "hold", &redpack.RefundNotification{TransactionID: "h2", RefundID: "r2", RefundFee: 10000, RefundStatus: "SUCCESS"})
			require.NoError(t, err)
			st, err = s.RuleStatus(ctx, "hold")
			require.NoError(t, err)
			assert.Equal(t, int64(1), st.Rules[0].RefundedAfterQueue)
			assert.Equal(t, int64(500), st.Rules[0].Spent, "a paid award is never clawed back")
			require.Equal(t, 0, countPackets(srv, ids[0]))
			require.Equal(t, 1, countPackets(srv, ids[1]))
			var rows []AwardRow
			require.NoError(t, s.Awards(ctx, "hold", func(a AwardRow) error { rows = append(rows, a); return nil }))
			require.Len(t, rows, 2)
			assert.Equal(t, AwardCancelled, rows[0].State)
			assert.Equal(t, OutcomePaid, rows[1].Outcome)
			assert.Equal(t, int64(10000), rows[1].RefundFee)
		})
	}
}

// A refund notification that overtakes the payment's: the payment is
// skipped when its notification comes, even without confirmation.
func TestRefundBeforePayment(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	defineRules(t, s, "early", testRule("spend100", 500, 1000))
	out, err := s.Refund(context.Background(), "early", &redpack.RefundNotification{TransactionID: "e1", RefundID: "r1", RefundFee: 10000, RefundStatus: "SUCCESS"})
	require.NoError(t, err)
	require.Empty(t, out, "no award yet")
	a := awardOf(t, s, "early", payment("e1", openids(1)[0], 10000, dec15), AwardOptions{NoConfirm: true})
	assert.Equal(t, AwardSkipped, a.State)
	assert.Equal(t, "refunded", a.Why)
	// A refund that did not succeed changes nothing.
	_, err = s.Refund(context.Background(), "early", &redpack.RefundNotification{TransactionID: "e2", RefundID: "r2", RefundFee: 10000, RefundStatus: "REFUNDCLOSE"})
	require.NoError(t, err)
	a = awardOf(t, s, "early", payment("e2", openids(2)[1], 10000, dec15), AwardOptions{NoConfirm: true})
	assert.Equal(t, AwardWaiting, a.State)
}

// A rule set is not a file's campaign, and the other way round.
func TestRuleSetKinds(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	create(t, s, "file", rowsOf(openids(1), 100))
	err := s.DefineRules(context.Background(), "file", &RuleSet{Rules: []Rule{testRule("a", 500, 1000)}}, "")
	require.ErrorIs(t, err, ErrNotRuleSet)
	_, err = s.Award(context.Background(), "file", payment("x", openids(1)[0], 10000, dec15), AwardOptions{})
	require.ErrorIs(t, err, ErrNotRuleSet)
	_, err = s.Award(context.Background(), "nope", payment("x", openids(1)[0], 10000, dec15), AwardOptions{})
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.RuleStatus(context.Background(), "file")
	require.ErrorIs(t, err, ErrNotRuleSet)
}

// A waiting award whose River job was discarded (its run killed while the
// job ran: River's rescuer, or reclaim on SQLite, discards it) gets a new
// job from the sweep, even when no row lacks one.
func TestDiscardedAwardJobIsSwept(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			defineRules(t, s, "sw", testRule("spend100", 500, 1000))
			a := awardOf(t, s, "sw", payment("t1", openids(1)[0], 10000, dec15), AwardOptions{NoConfirm: true})
			require.Equal(t, AwardWaiting, a.State)
			require.NoError(t, s.e.(testEngine).execAny(context.Background(),
				`UPDATE river_job SET state = 'discarded', finalized_at = CURRENT_TIMESTAMP WHERE kind = 'redpack_rule_award'`))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cfg := runConfig(t, srv)
			cfg.sweepEvery = 200 * time.Millisecond
			tot, err := s.Run(ctx, "sw", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(1), tot.Paid)
		})
	}
}

// A rule's budget cannot be lowered below what its awards have taken:
// they were made within the old one and would be paid all the same. At
// exactly what they took, the rule makes no new award.
func TestBudgetCannotBeLoweredBelowSpent(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t)
	defineRules(t, s, "lo", testRule("spend100", 500, 1500))
	ids := openids(3)
	for i, id := range ids[:2] {
		a := awardOf(t, s, "lo", payment(fmt.Sprintf("l%d", i), id, 10000, dec15), AwardOptions{NoConfirm: true, Hold: time.Second})
		require.Equal(t, AwardWaiting, a.State)
	}
	err := s.DefineRules(context.Background(), "lo", &RuleSet{Rules: []Rule{testRule("spend100", 500, 500)}}, "")
	var in *InputError
	require.ErrorAs(t, err, &in)
	assert.Contains(t, err.Error(), "below the 1000 its awards have already taken")
	defineRules(t, s, "lo", testRule("spend100", 500, 1000))
	a := awardOf(t, s, "lo", payment("l2", ids[2], 10000, dec15), AwardOptions{NoConfirm: true})
	assert.Equal(t, "budget", a.Why)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tot, err := s.Run(ctx, "lo", runConfig(t, srv))
	require.NoError(t, err)
	assert.Equal(t, int64(1000), tot.AmountPaid)
}

// A notification of a failed payment is answered and judged, but nothing
// is journalled: if WeChat later notifies the same transaction paid, it
// is awarded.
func TestFailedPaymentIsNotJournalled(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	defineRules(t, s, "fail", testRule("spend100", 500, 1000))
	n := payment("f1", openids(1)[0], 10000, dec15)
	n.ResultCode = "FAIL"
	a := awardOf(t, s, "fail", n, AwardOptions{NoConfirm: true})
	assert.Equal(t, AwardSkipped, a.State)
	assert.Equal(t, "not_paid", a.Why)
	n.ResultCode = "SUCCESS"
	a = awardOf(t, s, "fail", n, AwardOptions{NoConfirm: true})
	assert.Equal(t, AwardWaiting, a.State)
	assert.False(t, a.Duplicate)
}

// An award is paid with the packet of the rule as it was when the award
// was made: rules defined again while it waits (another process, another
// file) change neither its amount nor its template, so a template that
// could not carry the amount does not leave it unpayable.
func TestAwardKeepsItsTemplate(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			old := testRule("spend100", 500, 1000)
			old.SendName = "天虹百货"
			defineRules(t, s, "tmpl", old)
			id := openids(1)[0]
			a := awardOf(t, s, "tmpl", payment("k1", id, 10000, dec15), AwardOptions{NoConfirm: true, Hold: time.Second})
			require.Equal(t, AwardWaiting, a.State)
			redefined := testRule("spend100", 300, 1000)
			redefined.SendName = "另一家店"
			defineRules(t, s, "tmpl", redefined)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			info, err := s.Info(ctx, "tmpl")
			require.NoError(t, err)
			waiting, err := s.Status(ctx, "tmpl")
			require.NoError(t, err)
			assert.False(t, NewStatusReport(info, waiting).Done, "an award awaiting its hold is not done")
			tot, err := s.Run(ctx, "tmpl", runConfig(t, srv))
			require.NoError(t, err)
			require.Equal(t, int64(1), tot.Paid)
			assert.True(t, NewStatusReport(info, tot).Done)
			pk := srv.Packets()
			require.Len(t, pk, 1)
			assert.Equal(t, "天虹百货", pk[0].SendName)
			assert.Equal(t, int64(500), pk[0].TotalAmount)
		})
	}
}

// TestHoldIsOnTheDatabaseClock: the process that receives a payment and
// the one that pays its award read different clocks. The hold is measured
// on the database's, so a payer an hour ahead of the receiver still holds
// the award (and a refund within the hold cancels it), and a payer whose
// clock reads an hour behind does not hold it an hour longer. (River's own
// clock is the machine's here.)
func TestHoldIsOnTheDatabaseClock(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			defineRules(t, s, "clocks", testRule("spend100", 500, 1000))
			ids := openids(2)
			ctx := context.Background()
			behind := func() time.Time { return time.Now().Add(-time.Hour) }
			ahead := func() time.Time { return time.Now().Add(time.Hour) }

			// Received on a clock an hour behind, held a minute, and the
			// payer's clock an hour ahead: still held.
			held := awardOf(t, s, "clocks", payment("c1", ids[0], 10000, dec15), AwardOptions{NoConfirm: true, Hold: time.Minute, now: behind})
			require.Equal(t, AwardWaiting, held.State)
			cfg := runConfig(t, srv)
			cfg.now = ahead
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			tot, err := s.Run(rctx, "clocks", cfg)
			cancel()
			require.ErrorIs(t, err, context.DeadlineExceeded, "the run waits for the held award")
			require.Zero(t, tot.Paid)
			out, err := s.Refund(ctx, "clocks", &redpack.RefundNotification{TransactionID: "c1", RefundID: "r1", RefundFee: 10000, TotalFee: 10000, RefundStatus: "SUCCESS"})
			require.NoError(t, err)
			require.Len(t, out, 1)
			assert.Equal(t, AwardCancelled, out[0].State, "the refund came within the hold")
			assert.Zero(t, countPackets(srv, ids[0]))

			// Received on a clock an hour ahead, held a second, and the
			// payer's clock an hour behind: paid once the second is up.
			quick := awardOf(t, s, "clocks", payment("c2", ids[1], 10000, dec15), AwardOptions{NoConfirm: true, Hold: time.Second, now: ahead})
			require.Equal(t, AwardWaiting, quick.State)
			cfg.now = behind
			rctx, cancel = context.WithTimeout(ctx, time.Minute)
			defer cancel()
			tot, err = s.Run(rctx, "clocks", cfg)
			require.NoError(t, err)
			require.Equal(t, int64(1), tot.Paid)
			assert.Equal(t, 1, countPackets(srv, ids[1]))
		})
	}
}
