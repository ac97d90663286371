package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/campaign"
)

// bigRows is the size of the campaign.
const bigRows = 200_000

// bigCampaign is a store holding one campaign, "big", of bigRows rows in
// the middle of its run: a run started 2 hours ago has paid 170,000 of
// them at a steady pace (settled_at spread over the 2 hours), refused
// 10,000 (three err_codes), left 1,000 unknown for an hour and 19,000
// pending. The outcomes are written with SQL: a real run of 200,000
// packets would take the benchmark hours.
type bigCampaign struct {
	store *campaign.Store
	now   time.Time
}

// newBigCampaign makes the store of the kind. A benchmark b must have
// sub-benchmarks, which Go runs once.
func newBigCampaign(b testing.TB, kind string) *bigCampaign {
	b.Helper()
	ctx := context.Background()
	dsn := newDSN(b, kind)
	s, err := campaign.Open(ctx, dsn)
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	rows := make([]campaign.Row, bigRows)
	for i := range rows {
		rows[i] = campaign.Row{Row: int64(i + 1), Line: int64(i + 1), OpenID: fmt.Sprintf("oUpF8uMuAJO_M2pxb1Q9z%07d", i+1), Amount: 100 + int64(i%50)}
	}
	tmpl := campaign.Template{SendName: "天虹百货", Wishing: "新春快乐", ActName: "新春红包", Remark: "感谢关注", ClientIP: "192.168.0.1", Amount: 100}
	start := time.Now()
	_, err = s.Create(ctx, campaign.Spec{Name: "big", Template: tmpl, Source: "bench"}, rows)
	require.NoError(b, err)
	b.Logf("%s: created %d rows in %s", kind, bigRows, time.Since(start).Round(time.Millisecond))

	now := time.Now()
	runStart := now.Add(-2 * time.Hour).UnixMilli()
	step := (2 * time.Hour).Milliseconds() / bigRows
	db := rawDB(b, dsn)
	for _, q := range []string{
		fmt.Sprintf(`UPDATE redpack_campaign SET last_run_at = %d WHERE name = 'big'`, runStart),
		fmt.Sprintf(`UPDATE redpack_campaign_row SET outcome = 'paid', status = 'RECEIVED', send_gen = 1, done_gen = 1,
			first_sent_at = %[1]d + row_no * %[2]d, settled_at = %[1]d + row_no * %[2]d + 300, send_listid = 'L' || CAST(row_no AS TEXT)
			WHERE campaign = 'big' AND row_no <= 170000`, runStart, step),
		fmt.Sprintf(`UPDATE redpack_campaign_row SET outcome = 'not_paid', send_gen = 1, done_gen = 1,
			err_code = CASE row_no %% 3 WHEN 0 THEN 'OPENID_ERROR' WHEN 1 THEN 'NOTENOUGH' ELSE 'SENDNUM_LIMIT' END,
			first_sent_at = %[1]d + row_no * %[2]d, settled_at = %[1]d + row_no * %[2]d + 300
			WHERE campaign = 'big' AND row_no > 170000 AND row_no <= 180000`, runStart, step),
		fmt.Sprintf(`UPDATE redpack_campaign_row SET outcome = 'unknown', send_gen = 1, done_gen = 1, first_sent_at = %d
			WHERE campaign = 'big' AND row_no > 180000 AND row_no <= 181000`, now.Add(-time.Hour).UnixMilli()),
	} {
		_, err := db.Exec(q)
		require.NoError(b, err)
	}
	if kind == "postgres" {
		_, err = db.Exec(`ANALYZE`)
		require.NoError(b, err)
	}
	return &bigCampaign{store: s, now: now}
}

// TestDashboardAt200k: the 200,000-row campaign, mid-run, on both
// databases: the JSON a page polls holds Status's figures to the row and
// the fen, its per-minute series adds up to them, and the page shows
// them.
func TestDashboardAt200k(t *testing.T) {
	kinds := dbKinds
	if raceEnabled {
		// Under the race detector the pure-Go SQLite takes longer than a
		// test binary's ten minutes to import 200,000 rows. CI runs this
		// test without it first, on both databases; with it, on
		// PostgreSQL, whose work is in the server.
		kinds = []string{"postgres"}
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			c := newBigCampaign(t, kind)
			d, err := New(c.store, Config{now: func() time.Time { return c.now }})
			require.NoError(t, err)
			ctx := context.Background()
			tot, err := c.store.Status(ctx, "big")
			require.NoError(t, err)
			require.EqualValues(t, 170000, tot.Paid)

			req := httptest.NewRequest("GET", "/api/campaigns/big", nil)
			req.Host = "127.0.0.1:8080"
			w := httptest.NewRecorder()
			d.ServeHTTP(w, req)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			var st Status
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &st))
			require.Equal(t, tot.Rows, st.Rows)
			require.Equal(t, tot.Paid, st.Paid)
			require.Equal(t, tot.NotPaid, st.NotPaid)
			require.Equal(t, tot.Unknown, st.Unknown)
			require.Equal(t, tot.Pending, st.Pending)
			require.Equal(t, tot.AmountTotal, st.AmountTotal)
			require.Equal(t, tot.AmountPaid, st.AmountPaid)
			require.Equal(t, tot.Refusals, st.Refusals)
			var n, amount int64
			for _, b := range st.PaidPerMinute {
				n, amount = n+b.Count, amount+b.Amount
			}
			require.Equal(t, tot.Paid, n, "the chart's minutes add up to the paid rows")
			require.Equal(t, tot.AmountPaid, amount, "and to the fen")
			require.Len(t, st.NeedsPerson, needsPersonLimit)

			req = httptest.NewRequest("GET", "/c/big", nil)
			req.Host = "127.0.0.1:8080"
			w = httptest.NewRecorder()
			d.ServeHTTP(w, req)
			require.Equal(t, http.StatusOK, w.Code)
			require.Contains(t, w.Body.String(), cny(tot.AmountPaid))
		})
	}
}

// BenchmarkDashboardAt200k measures what a viewer's poll costs on a
// 200,000-row campaign (GET /api/campaigns/big, every 2 s per open page)
// and the campaign's page, on SQLite and PostgreSQL. Set
// REDPACK_TEST_POSTGRES for the PostgreSQL half:
//
//	go test -run '^$' -bench DashboardAt200k -benchmem ./dashboard
func BenchmarkDashboardAt200k(b *testing.B) {
	for _, kind := range dbKinds {
		b.Run(kind, func(b *testing.B) {
			c := newBigCampaign(b, kind)
			d, err := New(c.store, Config{now: func() time.Time { return c.now }})
			require.NoError(b, err)
			// The figures are the journal's: checked once, outside the timing.
			st, err := d.status(context.Background(), "big")
			require.NoError(b, err)
			require.EqualValues(b, 170000, st.Paid)
			require.EqualValues(b, 10000, st.NotPaid)
			require.EqualValues(b, 1000, st.Unknown)
			require.EqualValues(b, 19000, st.Pending)
			require.Len(b, st.NeedsPerson, needsPersonLimit)
			if testing.Verbose() {
				ctx := context.Background()
				for name, f := range map[string]func() error{
					"Info":          func() error { _, err := c.store.Info(ctx, "big"); return err },
					"Status":        func() error { _, err := c.store.Status(ctx, "big"); return err },
					"PaidPerMinute": func() error { _, err := c.store.PaidPerMinute(ctx, "big"); return err },
					"NeedsPerson": func() error {
						_, err := c.store.NeedsPerson(ctx, "big", c.now.Add(-10*time.Minute), needsPersonLimit)
						return err
					},
					"RuleStatus": func() error { _, err := c.store.RuleStatus(ctx, "big"); return err },
				} {
					start := time.Now()
					err := f()
					b.Logf("%s %s: %s (%v)", kind, name, time.Since(start).Round(time.Microsecond), err)
				}
			}
			for _, p := range []struct{ name, path, want string }{
				{"api", "/api/campaigns/big", `"paid": 170000`},
				{"page", "/c/big", `id="rate-chart"`},
			} {
				b.Run(p.name, func(b *testing.B) {
					for b.Loop() {
						req := httptest.NewRequest("GET", p.path, nil)
						req.Host = "127.0.0.1:8080"
						w := httptest.NewRecorder()
						d.ServeHTTP(w, req)
						if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), p.want) {
							b.Fatalf("%s: %d %.200s", p.path, w.Code, w.Body.String())
						}
					}
				})
			}
		})
	}
}
