package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/campaign"
	"github.com/redpack-go/redpack/internal/testpg"
	"github.com/redpack-go/redpack/redpacktest"
)

// dsnOf returns an empty database of the kind (see internal/testpg).
func dsnOf(t *testing.T, kind string) string {
	t.Helper()
	if kind == "sqlite" {
		return filepath.Join(t.TempDir(), "c.db")
	}
	return testpg.Fresh(t)
}

// A row whose outcome stays unknown needs a person only once it is older
// than UnknownAfter, and then with the command that settles it: a run
// within 24 hours of its first send, a query (never a reissue) after. The
// dashboard's clock is moved, not the journal's: the rows are as a run
// against the fake left them.
func TestNeedsPersonUnknownRows(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			s, err := campaign.Open(ctx, dsnOf(t, kind))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			tmpl := campaign.Template{SendName: "天虹百货", Wishing: "新春快乐", ActName: "新春红包", Remark: "感谢关注", ClientIP: "192.168.0.1", Amount: 100}
			var rows []campaign.Row
			for i := range 3 {
				rows = append(rows, campaign.Row{Row: int64(i + 1), Line: int64(i + 1), OpenID: testOpenID[:len(testOpenID)-1] + string(rune('1'+i)), Amount: 100})
			}
			_, err = s.Create(ctx, campaign.Spec{Name: "late", Template: tmpl, Source: "test"}, rows)
			require.NoError(t, err)
			var bills []string
			require.NoError(t, s.Report(ctx, "late", func(r campaign.ReportRow) error { bills = append(bills, r.BillNo); return nil }))
			require.Len(t, bills, 3)

			// Row 2: WeChat answers PROCESSING and keeps the packet SENDING
			// for an hour, so no query settles it. Row 3: refused.
			srv := redpacktest.Start(t)
			require.NoError(t, srv.Inject(redpacktest.Fault{Op: "sendredpack", MchBillNo: bills[1], Kind: redpacktest.ProcessingThenFail, Hold: time.Hour}))
			require.NoError(t, srv.Inject(redpacktest.Fault{Op: "sendredpack", MchBillNo: bills[2], Kind: redpacktest.ErrCodeAnswer,
				ErrCode: "OPENID_ERROR", ErrCodeDes: "openid字段不正确"}))
			mc, err := srv.Config(redpacktest.DefaultMchID)
			require.NoError(t, err)
			runCtx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			tot, err := s.Run(runCtx, "late", campaign.RunConfig{Merchant: mc,
				ClientOptions: []redpack.Option{redpack.WithBaseURL(srv.URL()), redpack.WithRootCAs(srv.CertPool())},
				Rate:          25, Workers: 2, AttemptTimeout: time.Second, MaxAttempts: 2, SettleTries: 2, SettleBackoff: 50 * time.Millisecond})
			require.NoError(t, err)
			require.EqualValues(t, 1, tot.Paid)
			require.EqualValues(t, 1, tot.Unknown, "row 2 stays unknown")
			require.EqualValues(t, 1, tot.NotPaid)
			var sentAt time.Time
			require.NoError(t, s.Report(ctx, "late", func(r campaign.ReportRow) error {
				if r.Row == 2 {
					sentAt = r.FirstSentAt
				}
				return nil
			}))
			require.False(t, sentAt.IsZero(), "row 2 has its first send journalled")

			var now time.Time
			d, err := New(s, Config{ShowOpenIDs: true, now: func() time.Time { return now }})
			require.NoError(t, err)
			need := func(at time.Time) (map[int64]Attention, string) {
				t.Helper()
				now = at
				r := do(t, d, "GET", "/api/campaigns/late", nil)
				require.Equal(t, http.StatusOK, r.StatusCode)
				var st Status
				require.NoError(t, json.Unmarshal([]byte(body(t, r)), &st))
				out := map[int64]Attention{}
				for _, a := range st.NeedsPerson {
					out[a.Row] = a
				}
				page := do(t, d, "GET", "/c/late", nil)
				require.Equal(t, http.StatusOK, page.StatusCode)
				return out, body(t, page)
			}

			got, _ := need(sentAt.Add(9 * time.Minute))
			assert.NotContains(t, got, int64(2), "unknown for less than --unknown-after: a run may still settle it")
			require.Contains(t, got, int64(3), "the refused row needs a person at once")
			assert.Equal(t, "redpack campaign reissue late --rows 3 --dry-run", got[3].Command)

			got, page := need(sentAt.Add(11 * time.Minute))
			require.Contains(t, got, int64(2), "unknown past --unknown-after")
			a := got[2]
			assert.Equal(t, campaign.OutcomeUnknown, a.Outcome)
			assert.Equal(t, bills[1], a.BillNo)
			assert.Equal(t, "redpack campaign run late", a.Command)
			assert.Contains(t, a.Why, "unknown for more than 10m0s")
			assert.True(t, a.FirstSentAt.Equal(sentAt), "first_sent_at %s, journal %s", a.FirstSentAt, sentAt)
			assert.Contains(t, page, "<code>redpack campaign run late</code>")
			assert.Len(t, got, 2, "the paid row never needs a person")

			got, page = need(sentAt.Add(24*time.Hour + time.Minute))
			require.Contains(t, got, int64(2))
			assert.Equal(t, "redpack query "+bills[1], got[2].Command, "past 24 hours only a query settles it")
			assert.Contains(t, got[2].Why, "never reissue")
			assert.Contains(t, page, "<code>redpack query "+bills[1]+"</code>")
			assert.NotContains(t, page, "reissue late --rows 2", "an unknown row is never offered a reissue")
		})
	}
}
