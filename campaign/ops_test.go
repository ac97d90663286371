package campaign

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// List counts every campaign's rows by outcome from the journal, and
// shows when a run last started.
func TestList(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, newDSN(t, kind))
			empty, err := s.List(ctx)
			require.NoError(t, err)
			require.Empty(t, empty)

			create(t, s, "spring", rowsOf(openids(5), 100))
			create(t, s, "autumn", rowsOf(openids(2), 250))
			e := s.e.(interface {
				execAny(ctx context.Context, q string, args ...any) error
			})
			require.NoError(t, e.execAny(ctx, `UPDATE redpack_campaign_row SET outcome = 'paid' WHERE campaign = 'spring' AND row_no IN (1, 2)`))
			require.NoError(t, e.execAny(ctx, `UPDATE redpack_campaign_row SET outcome = 'not_paid', err_code = 'NOTENOUGH' WHERE campaign = 'spring' AND row_no = 3`))
			require.NoError(t, e.execAny(ctx, `UPDATE redpack_campaign_row SET outcome = 'unknown' WHERE campaign = 'spring' AND row_no = 4`))
			started := time.Date(2026, 2, 1, 9, 30, 0, 0, chinaTime)
			require.NoError(t, s.e.touchRun(ctx, "spring", started))
			require.ErrorIs(t, s.e.touchRun(ctx, "winter", started), ErrNotFound)

			list, err := s.List(ctx)
			require.NoError(t, err)
			require.Len(t, list, 2)
			a, sp := list[0], list[1]
			require.Equal(t, "autumn", a.Name, "sorted by name")
			require.Equal(t, Summary{Name: "autumn", Source: "test", Rows: 2, Pending: 2, AmountTotal: 500, CreatedAt: a.CreatedAt}, a)
			require.WithinDuration(t, time.Now(), a.CreatedAt, time.Minute)
			require.Equal(t, Summary{Name: "spring", Source: "test", Rows: 5, Paid: 2, NotPaid: 1, Unknown: 1, Pending: 1,
				AmountTotal: 500, AmountPaid: 200, CreatedAt: sp.CreatedAt, LastRunAt: sp.LastRunAt}, sp)
			require.True(t, sp.LastRunAt.Equal(started))

			names, err := s.Names(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"autumn", "spring"}, names)
		})
	}
}
