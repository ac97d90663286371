package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/campaign"
)

// TestDashboardAt200kInBrowser: the 200,000-row campaign, in the
// middle of its run, on PostgreSQL, in the browser: the page shows status
// --json's figures to the row and the fen, its chart's minutes add up to
// the paid rows, and nothing errs. The outcomes are written with SQL: a
// real run of 200,000 packets takes two hours at WeChat's rate.
func TestDashboardAt200kInBrowser(t *testing.T) {
	f := newFixture(t)
	dsn := freshPostgresDSN(t)
	env := campaignEnv(f, dsn)
	ctx := context.Background()
	s, err := campaign.Open(ctx, dsn)
	require.NoError(t, err)
	const n = 200_000
	rows := make([]campaign.Row, n)
	for i := range rows {
		rows[i] = campaign.Row{Row: int64(i + 1), Line: int64(i + 1), OpenID: fmt.Sprintf("oUpF8uMuAJO_M2pxb1Q9z%07d", i+1), Amount: 100 + int64(i%50)}
	}
	tmpl := campaign.Template{SendName: "天虹百货", Wishing: "新春快乐", ActName: "新春红包", Remark: "感谢关注", ClientIP: "192.168.0.1", Amount: 100}
	_, err = s.Create(ctx, campaign.Spec{Name: "big", Template: tmpl, Source: "test"}, rows)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	start := time.Now().Add(-90 * time.Minute).UnixMilli()
	step := (80 * time.Minute).Milliseconds() / 150_000
	for _, q := range []string{
		fmt.Sprintf(`UPDATE redpack_campaign_row SET outcome = 'paid', status = 'RECEIVED', send_gen = 1, done_gen = 1,
			first_sent_at = %[1]d + row_no * %[2]d, settled_at = %[1]d + row_no * %[2]d + 300, send_listid = 'L' || CAST(row_no AS TEXT)
			WHERE campaign = 'big' AND row_no <= 150000`, start, step),
		fmt.Sprintf(`UPDATE redpack_campaign_row SET outcome = 'not_paid', send_gen = 1, done_gen = 1, err_code = 'OPENID_ERROR',
			first_sent_at = %[1]d, settled_at = %[1]d + 300 WHERE campaign = 'big' AND row_no > 150000 AND row_no <= 152000`, start),
		fmt.Sprintf(`UPDATE redpack_campaign_row SET outcome = 'unknown', send_gen = 1, done_gen = 1, first_sent_at = %d
			WHERE campaign = 'big' AND row_no > 152000 AND row_no <= 152500`, time.Now().Add(-time.Hour).UnixMilli()),
		`ANALYZE`,
	} {
		_, err := conn.Exec(ctx, q)
		require.NoError(t, err)
	}

	st := statusJSONOf(t, env, "big")
	require.EqualValues(t, 150000, st.Paid)
	srv := startDashboard(t, env)
	p := newPage(t)
	p.run(t, chromedp.Navigate(srv.url+"c/big"), chromedp.WaitVisible(chromedp.CSS("#outcomes")))
	for field, want := range map[string]int64{"rows": st.Rows, "paid": st.Paid, "not_paid": st.NotPaid, "unknown": st.Unknown, "pending": st.Pending} {
		assert.Equal(t, want, p.int(t, `#outcomes [data-field="`+field+`"]`), field)
	}
	assert.Equal(t, cny(st.AmountPaid), p.text(t, `#outcomes [data-field="amount_paid"]`))
	assert.Equal(t, cny(st.AmountTotal), p.text(t, `#outcomes [data-field="amount_total"]`))
	assert.Equal(t, st.Paid, p.chartSum(t), "the payments of the last 90 minutes, minute by minute")
	// A poll later, the page still shows the journal's figures.
	time.Sleep(3 * time.Second)
	assert.Equal(t, st.Paid, p.int(t, `#outcomes [data-field="paid"]`))
	p.noProblems(t)
}
