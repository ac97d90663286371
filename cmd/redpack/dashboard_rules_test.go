package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/redpacktest"
)

// liveRuleSet is a rule set served by rules serve, with campaign serve's
// dashboard over the same database.
type liveRuleSet struct {
	f     *fixture
	env   map[string]string
	serve *serveProc // rules serve: its notify URL is serve.url+"notify"
	dash  *serveProc // campaign serve
}

// startLiveRuleSet runs rules serve with the issue's rule (¥5 for ¥100,
// one a user a day, a ¥750 budget) on a database of the kind, and the
// dashboard over it, openids shown so that its exports are the commands'
// bytes.
func startLiveRuleSet(t *testing.T, kind string) *liveRuleSet {
	t.Helper()
	f := newFixture(t)
	env := campaignEnv(f, dbOf(t, kind, f.dir))
	l := &liveRuleSet{f: f, env: env}
	l.serve = startServe(t, env, "--config", rulesFile(t, f.dir, issueRules), "--no-rate-limit")
	l.dash = startDashboard(t, env, "--show-openids")
	return l
}

// pay pays fee fen by openid on the fake, on 15 December 2026 (within the
// rule's period), and has the fake notify rules serve of it as WeChat
// does.
func (l *liveRuleSet) pay(t *testing.T, openid string, fee int64) {
	t.Helper()
	dec15 := time.Date(2026, 12, 15, 12, 0, 0, 0, chinaTime)
	_, err := l.f.srv.Pay(redpacktest.PaymentRequest{OpenID: openid, TotalFee: fee, TimeEnd: dec15, NotifyURL: l.serve.url + "notify"})
	require.NoError(t, err)
}

// rulesStatusMap is rules status --json as generic JSON, every key.
func rulesStatusMap(t *testing.T, env map[string]string, name string) map[string]any {
	t.Helper()
	r := runLong(t, env, "rules", "status", "--name", name, "--json")
	require.Equal(t, exitOK, r.code, r)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &m))
	require.NotEmpty(t, m)
	return m
}

// The rule-set page's JSON endpoint holds every key of rules status
// --json with the same value, rule by rule, on both databases.
func TestRulesDashboardJSONEqualsStatus(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			l := startLiveRuleSet(t, kind)
			ids := campaignOpenIDs(3)
			l.pay(t, ids[0], 12000) // awarded
			l.pay(t, ids[1], 5000)  // skipped: min_fee
			l.pay(t, ids[0], 15000) // skipped: user_daily_count, a cap hit
			l.pay(t, ids[2], 10000) // awarded
			waitPaid(t, l.env, "rules", 2)
			st := waitJudged(t, l.env, 4)

			want := rulesStatusMap(t, l.env, "rules")
			code, body := get(t, l.dash.url+"api/campaigns/rules", "")
			require.Equal(t, http.StatusOK, code, body)
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(body), &got))
			for _, k := range []string{"payments", "awards_last_hour", "rules", "paid", "amount_paid"} {
				require.Contains(t, want, k)
			}
			for k, v := range want {
				assert.Equal(t, v, got[k], "key %s", k)
			}
			assert.Equal(t, true, got["rule_set"])
			r := st.Rules[0]
			assert.Equal(t, map[string]int64{"min_fee": 1, "user_daily_count": 1}, r.Skipped)
			assert.EqualValues(t, 1, r.CapHits)
			assert.EqualValues(t, 1000, r.Spent)
		})
	}
}

// waitJudged waits until the rule set has judged n payments (their
// notifications are delivered asynchronously).
func waitJudged(t *testing.T, env map[string]string, n int64) rulesStatusJSON {
	t.Helper()
	var st rulesStatusJSON
	require.Eventually(t, func() bool {
		st = rulesStatus(t, env, "rules")
		return st.Payments >= n
	}, time.Minute, 200*time.Millisecond, "payments judged")
	require.Equal(t, n, st.Payments)
	return st
}

// While rules serve receives payments, the rule set's page shows the paid
// count and the budget spent rise without a reload; then its figures
// (budget spent and left, skipped by reason, cap hits, awards by state,
// awards in the last hour and per hour) equal rules status --json's, and
// its awards export downloads rules report's bytes. Once per database,
// in one browser.
func TestDashboardRulesLiveInBrowser(t *testing.T) {
	p := newPage(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			l := startLiveRuleSet(t, kind)
			p.leaveAtEnd(t)
			p.run(t, chromedp.Navigate(l.dash.url+"c/rules"), chromedp.WaitVisible(chromedp.CSS("#rules")))
			rule := `tr[data-rule="spend100"] `
			require.EqualValues(t, 0, p.int(t, rule+`[data-rule-field="paid"]`))
			require.Equal(t, cny(0), p.text(t, rule+`[data-rule-field="spent"]`))
			require.True(t, evaluate[bool](t, p, `window.redpackNoReload = true`))

			// Six payments: four awards, a payment under min_fee, and a second
			// one of a user the daily cap refuses. After each award the page,
			// never reloaded, must show the paid count and the budget spent
			// it made.
			ids := campaignOpenIDs(5)
			plan := []struct {
				openid      string
				fee         int64
				paid, spent int64 // what the page shows after it; 0: a skip
			}{{ids[0], 12000, 1, 500}, {ids[1], 10000, 2, 1000}, {ids[2], 5000, 0, 0}, {ids[0], 20000, 0, 0},
				{ids[3], 30000, 3, 1500}, {ids[4], 10000, 4, 2000}}
			var paidSeen, spentSeen []string
			for _, pm := range plan {
				l.pay(t, pm.openid, pm.fee)
				if pm.paid == 0 {
					continue
				}
				var n, spent string
				require.Eventually(t, func() bool {
					n = p.text(t, rule+`[data-rule-field="paid"]`)
					spent = p.text(t, rule+`[data-rule-field="spent"]`)
					return n == strconv.FormatInt(pm.paid, 10) && spent == cny(pm.spent)
				}, time.Minute, 150*time.Millisecond, "paid %s, spent %s; want %d, %s", n, spent, pm.paid, cny(pm.spent))
				paidSeen, spentSeen = append(paidSeen, n), append(spentSeen, spent)
				assert.Equal(t, strconv.FormatInt(pm.paid, 10), p.text(t, `#outcomes [data-field="paid"]`), "the rows' paid count too")
			}
			assert.Equal(t, []string{"1", "2", "3", "4"}, paidSeen, "the paid count rose")
			assert.Equal(t, []string{cny(500), cny(1000), cny(1500), cny(2000)}, spentSeen, "the budget spent rose")
			assert.True(t, evaluate[bool](t, p, `window.redpackNoReload === true`), "the page was not reloaded")

			// Every figure of the rule equals rules status --json, once the
			// last notification is judged and the page has polled it.
			st := waitJudged(t, l.env, 6)
			r := st.Rules[0]
			require.EqualValues(t, 4, r.Paid)
			require.Equal(t, map[string]int64{"min_fee": 1, "user_daily_count": 1}, r.Skipped)
			want := map[string]string{
				`[data-rule-field="budget"]`:      cny(r.Budget),
				`[data-rule-field="spent"]`:       cny(r.Spent),
				`[data-rule-field="left"]`:        cny(r.Left),
				`[data-rule-field="paid"]`:        strconv.FormatInt(r.Paid, 10),
				`[data-rule-field="amount_paid"]`: cny(r.AmountPaid),
				`[data-rule-field="awards"]`:      countsPhrase(r.Awards, nil),
				`[data-rule-field="skipped"]`:     countsPhrase(r.Skipped, nil),
				`[data-rule-field="cap_hits"]`:    strconv.FormatInt(r.CapHits, 10),
				`[data-rule-field="refused"]`:     countsPhrase(r.Refused, nil),
			}
			top := map[string]string{
				`[data-field="payments"]`:         strconv.FormatInt(st.Payments, 10),
				`[data-field="awards_last_hour"]`: strconv.FormatInt(st.AwardsLastHour, 10),
				`#outcomes [data-field="paid"]`:   strconv.FormatInt(st.Paid, 10),
			}
			shown := func() map[string]string {
				m := map[string]string{}
				for sel := range want {
					m[sel] = p.text(t, rule+sel)
				}
				for sel := range top {
					m[sel] = p.text(t, sel)
				}
				return m
			}
			all := map[string]string{}
			for k, v := range want {
				all[k] = v
			}
			for k, v := range top {
				all[k] = v
			}
			var last map[string]string
			require.Eventually(t, func() bool { last = shown(); return assert.ObjectsAreEqual(all, last) }, 20*time.Second, 200*time.Millisecond)
			assert.Equal(t, all, last, "the page's figures are rules status --json's")
			assert.Equal(t, "skipped: min_fee 1, user_daily_count 1; cap hits 1",
				"skipped: "+last[`[data-rule-field="skipped"]`]+"; cap hits "+last[`[data-rule-field="cap_hits"]`])

			// Awards per hour: the hours' counts add up to the awards that
			// took budget, their amounts to what was spent.
			var count, amount int64
			require.Eventually(t, func() bool {
				count, amount = hoursSum(t, p)
				return count == r.Awards["queued"]+r.Awards["waiting"] && amount == r.Spent
			}, 10*time.Second, 200*time.Millisecond, "awards per hour: %d awards, %d fen", count, amount)
			assert.EqualValues(t, 4, count)

			// An award made in an hour after the page was rendered (one
			// award's time moved on, as the clock would): the table gains
			// that hour at the top, keeps its 24 rows, and still adds up.
			next := time.Now().Truncate(time.Hour).Add(time.Hour)
			execSQL(t, kind, l.env[campaignDBEnv], `UPDATE redpack_rule_award SET created_at = $1
				WHERE transaction_id = (SELECT MIN(transaction_id) FROM redpack_rule_award WHERE state = 'queued')`, next.Add(time.Minute).UnixMilli())
			var first []string
			require.Eventually(t, func() bool {
				first = evaluate[[]string](t, p, `(function(){var rows=document.querySelectorAll("#awards-per-hour tr[data-hour]");`+
					`var r=rows[0];return [String(rows.length),r.getAttribute("data-hour"),r.cells[0].textContent,r.cells[1].textContent,r.cells[2].textContent]})()`)
				return first[1] == strconv.FormatInt(next.UnixMilli(), 10)
			}, 10*time.Second, 200*time.Millisecond, "the new hour's row: %v", first)
			assert.Equal(t, []string{"24", strconv.FormatInt(next.UnixMilli(), 10), next.In(chinaTime).Format("2006-01-02 15:04"), "1", cny(500)}, first)
			count, amount = hoursSum(t, p)
			assert.Equal(t, [2]int64{4, r.Spent}, [2]int64{count, amount}, "the hours still add up to the awards")

			// The awards export, downloaded by the browser: rules report's
			// bytes.
			for _, format := range []string{"csv", "json"} {
				got := p.download(t, "#export-awards-"+format, "rules-awards."+format)
				rep := runLong(t, l.env, "rules", "report", "--format", format)
				require.Equal(t, exitOK, rep.code, rep)
				assert.Equal(t, rep.stdout, string(got), "the %s awards export is rules report's bytes", format)
				assert.Equal(t, 7, strings.Count(string(got), "\n")+map[string]int{"csv": 0, "json": 1}[format],
					"six awards (and the CSV's header)")
			}
			p.noProblems(t)
		})
	}
}

// hoursSum adds up the awards-per-hour table: awards and fen.
func hoursSum(t *testing.T, p *page) (count, amount int64) {
	t.Helper()
	v := evaluate[[]int64](t, p, `(function(){var c=0,a=0;document.querySelectorAll("#awards-per-hour tr[data-hour]").forEach(function(r){`+
		`c+=Number(r.querySelector('[data-hour-field="count"]').textContent);`+
		`a+=Number(r.querySelector('[data-hour-field="amount"]').getAttribute("data-fen"))});return [c,a]})()`)
	return v[0], v[1]
}

// execSQL runs one statement on the test's campaign database, to put the
// journal where a test needs it.
func execSQL(t *testing.T, kind, dsn, query string, args ...any) {
	t.Helper()
	ctx := context.Background()
	if kind == "postgres" {
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, query, args...)
		require.NoError(t, err)
		return
	}
	db, err := sql.Open("sqlite", "file:"+dsn+"?_pragma=busy_timeout(10000)") // rules serve writes meanwhile
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, query, args...)
	require.NoError(t, err)
}
