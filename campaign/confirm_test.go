package campaign

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/redpacktest"
)

// TestConfirmBeforePay: an award is paid only once WeChat's order query
// confirms the payment as notified. Notifications signed with the right
// key (as if it had leaked) but for an order WeChat does not have, or with
// an amount it does not have, are refused at confirmation and give back
// what they took; a payment refunded within the hold is cancelled; the
// genuine payments delivered by the fake are paid once each.
func TestConfirmBeforePay(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			const amount = 500
			defineRules(t, s, "conf", testRule("spend100", amount, 10*amount))
			base := notifyServer(t, s, srv, "conf", NotifyConfig{Award: AwardOptions{Hold: 2 * time.Second}})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ids := openids(6)

			// Two genuine payments, delivered by the fake.
			var genuine []string
			for _, id := range ids[:2] {
				p, err := srv.Pay(redpacktest.PaymentRequest{OpenID: id, TotalFee: 10000, TimeEnd: dec15, NotifyURL: base + "/notify"})
				require.NoError(t, err)
				genuine = append(genuine, p.TransactionID)
			}
			// A third, refunded within the hold.
			refunded, err := srv.Pay(redpacktest.PaymentRequest{OpenID: ids[2], TotalFee: 10000, TimeEnd: dec15, NotifyURL: base + "/notify"})
			require.NoError(t, err)
			require.NoError(t, srv.WaitDeliveries(ctx))
			_, err = srv.Refund(refunded.TransactionID, redpacktest.RefundRequest{NotifyURL: base + "/refund"})
			require.NoError(t, err)
			require.NoError(t, srv.WaitDeliveries(ctx))

			// Signed with the merchant's key, but not WeChat's word.
			assert.Equal(t, "SUCCESS", post(t, base+"/notify", signedBody(notification("4200000000000000000000000404", ids[3], 10000, dec15), redpacktest.DefaultAPIKey)))
			small, err := srv.Pay(redpacktest.PaymentRequest{OpenID: ids[4], TotalFee: 100, TimeEnd: dec15})
			require.NoError(t, err)
			inflated := notification(small.TransactionID, ids[4], 50000, dec15)
			inflated["out_trade_no"] = small.OutTradeNo
			assert.Equal(t, "SUCCESS", post(t, base+"/notify", signedBody(inflated, redpacktest.DefaultAPIKey)))

			// A genuine payment made before the rule's period, re-signed with
			// a time_end inside it.
			early, err := srv.Pay(redpacktest.PaymentRequest{OpenID: ids[5], TotalFee: 10000, TimeEnd: dec15.AddDate(0, -1, 0)})
			require.NoError(t, err)
			shifted := notification(early.TransactionID, ids[5], 10000, dec15)
			shifted["out_trade_no"] = early.OutTradeNo
			assert.Equal(t, "SUCCESS", post(t, base+"/notify", signedBody(shifted, redpacktest.DefaultAPIKey)))

			st, err := s.RuleStatus(ctx, "conf")
			require.NoError(t, err)
			require.Equal(t, int64(5), st.Rules[0].Awards[AwardWaiting], "awarded at once; paid only when confirmed")
			require.Equal(t, int64(1), st.Rules[0].Refused["refunded"], "the refund within the hold cancelled its award")
			require.Equal(t, int64(5*amount), st.Rules[0].Spent)

			tot, err := s.Run(ctx, "conf", runConfig(t, srv))
			require.NoError(t, err)
			require.Equal(t, int64(2), tot.Paid)
			require.Zero(t, tot.Awaiting)
			st, err = s.RuleStatus(ctx, "conf")
			require.NoError(t, err)
			r := st.Rules[0]
			assert.Equal(t, int64(2), r.Awards[AwardQueued])
			assert.Equal(t, int64(3), r.Awards[AwardRefused])
			assert.Equal(t, map[string]int64{"no_order": 1, "mismatch": 2, "refunded": 1}, r.Refused)
			assert.Equal(t, int64(2*amount), r.Spent, "refused and cancelled awards gave their amounts back")
			assert.Equal(t, int64(2*amount), r.AmountPaid)
			for i, id := range ids {
				want := 0
				if i < 2 {
					want = 1
				}
				assert.Equal(t, want, countPackets(srv, id), "openid %d", i)
			}
			assertMatchesLedger(t, srv, report(t, s, "conf"))
			var reasons []string
			require.NoError(t, s.Awards(ctx, "conf", func(a AwardRow) error {
				if a.State == AwardRefused {
					reasons = append(reasons, a.Reason)
				}
				return nil
			}))
			require.Len(t, reasons, 3)
			all := strings.Join(reasons, "; ")
			assert.Contains(t, all, "ORDERNOTEXIST")
			assert.Contains(t, all, "total_fee 100")
			assert.Contains(t, all, "time_end 2026-11-15 12:00:00")
		})
	}
}
