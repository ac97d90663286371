package campaign

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/redpacktest"
)

// The watcher's queries agree with Status: the paid series adds up to the
// paid rows and amount, and the rows needing a person are the refused
// ones, with their err_code.
func TestWatchQueriesAgreeWithStatus(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			rows := rowsOf(openids(6), 100)
			rows[5].Amount = 250
			create(t, s, "watch", rows)
			bills := report(t, s, "watch")
			for _, r := range bills[1:3] {
				require.NoError(t, srv.Inject(redpacktest.Fault{Op: "sendredpack", MchBillNo: r.BillNo, Kind: redpacktest.ErrCodeAnswer,
					ErrCode: "OPENID_ERROR", ErrCodeDes: "openid字段不正确"}))
			}
			before := time.Now().Truncate(time.Minute)
			_, err := s.Run(ctx, "watch", runConfig(t, srv))
			require.NoError(t, err)

			st, err := s.Status(ctx, "watch")
			require.NoError(t, err)
			require.EqualValues(t, 4, st.Paid)
			series, err := s.PaidPerMinute(ctx, "watch")
			require.NoError(t, err)
			require.NotEmpty(t, series)
			var n, amount int64
			for i, b := range series {
				n, amount = n+b.Count, amount+b.Amount
				assert.Equal(t, b.At, b.At.Truncate(time.Minute), "a bucket starts on the minute")
				assert.False(t, b.At.Before(before), "no payment before the run")
				if i > 0 {
					assert.True(t, b.At.After(series[i-1].At), "oldest first")
				}
			}
			assert.Equal(t, st.Paid, n)
			assert.Equal(t, st.AmountPaid, amount)
			assert.EqualValues(t, 550, amount)

			need, err := s.NeedsPerson(ctx, "watch", time.Now().Add(-time.Hour), 10)
			require.NoError(t, err)
			require.Len(t, need, 2)
			for i, r := range need {
				assert.Equal(t, bills[i+1].BillNo, r.BillNo)
				assert.Equal(t, OutcomeNotPaid, r.Outcome)
				assert.Equal(t, "OPENID_ERROR", r.ErrCode)
			}
			need, err = s.NeedsPerson(ctx, "watch", time.Now(), 1)
			require.NoError(t, err)
			assert.Len(t, need, 1, "limit holds")

			_, err = s.AwardsPerHour(ctx, "watch")
			assert.ErrorIs(t, err, ErrNotRuleSet)
			_, err = s.PaidPerMinute(ctx, "nope")
			assert.ErrorIs(t, err, ErrNotFound)
		})
	}
}

// AwardsPerHour counts the awards that take budget, by the hour made.
func TestAwardsPerHour(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := openStore(t, newDSN(t, kind))
			defineRules(t, s, "set", testRule("spend100", 500, 100_000))
			ids := openids(4)
			for i, id := range ids[:3] {
				awardOf(t, s, "set", payment(fmt.Sprintf("tx%d", i), id, 10000, dec15), AwardOptions{})
			}
			awardOf(t, s, "set", payment("small", ids[3], 100, dec15), AwardOptions{}) // skipped: under min_fee
			series, err := s.AwardsPerHour(ctx, "set")
			require.NoError(t, err)
			var n, amount int64
			for _, b := range series {
				n, amount = n+b.Count, amount+b.Amount
				assert.Equal(t, b.At, b.At.Truncate(time.Hour))
			}
			assert.EqualValues(t, 3, n, "the skip takes no budget and is not counted")
			assert.EqualValues(t, 1500, amount)
		})
	}
}
