package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/campaign"
	"github.com/redpack-go/redpack/redpacktest"
)

const testOpenID = "oUpF8uMuAJO_M2pxb1Q9z0000001"

// newStore is a SQLite journal holding one campaign of two rows, not run.
func newStore(t *testing.T) *campaign.Store {
	t.Helper()
	return newStoreAt(t, filepath.Join(t.TempDir(), "c.db"))
}

// newStoreAt is newStore in the SQLite file path.
func newStoreAt(t *testing.T, path string) *campaign.Store {
	t.Helper()
	s, err := campaign.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	tmpl := campaign.Template{SendName: "天虹百货", Wishing: "新春快乐", ActName: "新春红包", Remark: "感谢关注", ClientIP: "192.168.0.1", Amount: 100}
	_, err = s.Create(context.Background(), campaign.Spec{Name: "spring", Template: tmpl, Source: "test"},
		[]campaign.Row{{Row: 1, Line: 1, OpenID: testOpenID, Amount: 100}, {Row: 2, Line: 2, OpenID: "oUpF8uMuAJO_M2pxb1Q9z0000002", Amount: 250}})
	require.NoError(t, err)
	return s
}

func do(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Host = "127.0.0.1:8080"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	return string(b)
}

// Each security header holds on pages, assets, JSON, the export and
// errors alike.
func TestSecurityHeaders(t *testing.T) {
	d, err := New(newStore(t), Config{})
	require.NoError(t, err)
	paths := []string{"/", "/c/spring", "/c/spring/chart.svg", "/c/spring/report.csv", "/api/campaigns", "/api/campaigns/spring", "/static/live.js", "/c/nope", "/c/spring/awards.csv"}
	want := map[string]func(string) bool{
		"Content-Security-Policy": func(v string) bool {
			return strings.Contains(v, "script-src 'self'") && !strings.Contains(v, "unsafe-inline") &&
				strings.Contains(v, "frame-ancestors 'none'") && strings.Contains(v, "default-src 'none'")
		},
		"X-Frame-Options":        func(v string) bool { return v == "DENY" },
		"X-Content-Type-Options": func(v string) bool { return v == "nosniff" },
		"Referrer-Policy":        func(v string) bool { return v == "no-referrer" },
		"Cache-Control":          func(v string) bool { return v == "no-store" },
	}
	for h, ok := range want {
		t.Run(h, func(t *testing.T) {
			for _, p := range paths {
				r := do(t, d, "GET", p, nil)
				assert.Truef(t, ok(r.Header.Get(h)), "%s on %s (%d): %q", h, p, r.StatusCode, r.Header.Get(h))
			}
		})
	}
	assert.Equal(t, http.StatusNotFound, do(t, d, "GET", "/c/nope", nil).StatusCode)
	r := do(t, d, "GET", "/c/spring/awards.csv", nil)
	assert.Equal(t, http.StatusNotFound, r.StatusCode, "a campaign of a file has no awards")
	assert.Contains(t, body(t, r), "not a rule set")
}

// The pages hold no inline script or style attribute the CSP would block.
func TestNoInlineScript(t *testing.T) {
	d, err := New(newStore(t), Config{})
	require.NoError(t, err)
	for _, p := range []string{"/", "/c/spring"} {
		r := do(t, d, "GET", p, nil)
		require.Equal(t, http.StatusOK, r.StatusCode)
		b := body(t, r)
		assert.Contains(t, b, `<script src="/static/live.js" defer></script>`)
		assert.Equal(t, 1, strings.Count(b, "<script"), p)
		assert.NotContains(t, b, " style=", p)
		assert.NotContains(t, b, " onclick=", p)
	}
}

// Nothing writes: every method but GET and HEAD is refused.
func TestReadOnly(t *testing.T) {
	d, err := New(newStore(t), Config{})
	require.NoError(t, err)
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for _, p := range []string{"/", "/c/spring", "/api/campaigns/spring"} {
			assert.Equal(t, http.StatusMethodNotAllowed, do(t, d, m, p, nil).StatusCode, "%s %s", m, p)
		}
	}
}

// Without a token only loopback host names are answered (no DNS
// rebinding).
func TestLoopbackHostOnlyWithoutToken(t *testing.T) {
	d, err := New(newStore(t), Config{})
	require.NoError(t, err)
	req := httptest.NewRequest("GET", "/api/campaigns", nil)
	req.Host = "evil.example:8080"
	w := httptest.NewRecorder()
	d.ServeHTTP(w, req)
	assert.Equal(t, http.StatusMisdirectedRequest, w.Code)
	assert.Equal(t, http.StatusOK, do(t, d, "GET", "/api/campaigns", nil).StatusCode)
}

// With a token: 401 without it or with a wrong one, 200 with the bearer
// header; the login URL sets a cookie that works, and works once.
func TestToken(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	d, err := New(newStore(t), Config{Token: token})
	require.NoError(t, err)
	for _, p := range []string{"/", "/c/spring", "/api/campaigns/spring", "/c/spring/report.csv", "/static/style.css"} {
		r := do(t, d, "GET", p, nil)
		assert.Equal(t, http.StatusUnauthorized, r.StatusCode, p)
		assert.NotContains(t, body(t, r), "spring", "nothing of the campaign shows")
		assert.Equal(t, http.StatusUnauthorized, do(t, d, "GET", p, map[string]string{"Authorization": "Bearer " + token + "x"}).StatusCode, p)
		assert.Equal(t, http.StatusOK, do(t, d, "GET", p, map[string]string{"Authorization": "Bearer " + token}).StatusCode, p)
	}
	login := d.LoginURL()
	require.NotEmpty(t, login)
	assert.NotContains(t, login, token, "the login URL is not the token")
	assert.Equal(t, http.StatusUnauthorized, do(t, d, "GET", "/login?code=wrong", nil).StatusCode)
	r := do(t, d, "GET", login, nil)
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	cookies := r.Cookies()
	require.Len(t, cookies, 1)
	c := cookies[0]
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
	assert.NotContains(t, c.Value, token)
	assert.Equal(t, http.StatusOK, do(t, d, "GET", "/c/spring", map[string]string{"Cookie": c.Name + "=" + c.Value}).StatusCode)
	assert.Equal(t, http.StatusUnauthorized, do(t, d, "GET", "/c/spring", map[string]string{"Cookie": c.Name + "=x" + c.Value}).StatusCode)
	assert.Equal(t, http.StatusUnauthorized, do(t, d, "GET", login, nil).StatusCode, "the login URL is spent")
	assert.Empty(t, d.LoginURL())
}

// Openids are masked on the page, in the JSON and in the export, unless
// ShowOpenIDs.
func TestOpenIDsMasked(t *testing.T) {
	s := newStore(t)
	masked, err := New(s, Config{})
	require.NoError(t, err)
	for _, p := range []string{"/c/spring/report.csv", "/c/spring/report.json"} {
		b := body(t, do(t, masked, "GET", p, nil))
		assert.NotContains(t, b, testOpenID, p)
		assert.Contains(t, b, MaskOpenID(testOpenID), p)
	}
	shown, err := New(s, Config{ShowOpenIDs: true})
	require.NoError(t, err)
	assert.Contains(t, body(t, do(t, shown, "GET", "/c/spring/report.csv", nil)), testOpenID)
	assert.Equal(t, "oUpF********************0001", MaskOpenID(testOpenID))
}

// The chart has one bar a minute from the first payment to now, empty
// minutes included, each with its count.
func TestChartSVG(t *testing.T) {
	now := time.Date(2026, 2, 1, 10, 5, 30, 0, chinaTime)
	series := []campaign.Bucket{{At: now.Add(-3 * time.Minute).Truncate(time.Minute), Count: 7}, {At: now.Truncate(time.Minute), Count: 3}}
	svg := chartSVG(series, now, true)
	assert.Equal(t, 4, strings.Count(svg, `class="bar"`))
	assert.Contains(t, svg, `data-points="4"`)
	assert.Contains(t, svg, `data-count="7"`)
	assert.Equal(t, 2, strings.Count(svg, `data-count="0"`))
	assert.Contains(t, svg, `xmlns="http://www.w3.org/2000/svg"`)
	long := chartSVG([]campaign.Bucket{{At: now.Add(-10 * time.Hour).Truncate(time.Minute), Count: 1}}, now, false)
	assert.Equal(t, chartMinutes, strings.Count(long, `class="bar"`), "at most chartMinutes bars")
}

// A rule set's awards export is WriteAwards's bytes (rules report's),
// openids masked unless ShowOpenIDs, as the report's export.
func TestAwardsExport(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	china := time.FixedZone("CST", 8*3600)
	rule := campaign.Rule{Name: "spend100", AppID: redpacktest.DefaultAppID, From: time.Date(2026, 12, 1, 0, 0, 0, 0, china),
		MinFee: 10000, Amount: 500, Budget: 75000, SendName: "天虹百货", Wishing: "满100送5元", ActName: "满额送", Remark: "感谢惠顾"}
	require.NoError(t, s.DefineRules(ctx, "set", &campaign.RuleSet{Rules: []campaign.Rule{rule}}, redpacktest.DefaultMchID))
	for i, fee := range []int64{12000, 5000} {
		tx := fmt.Sprintf("42000000%02d", i)
		_, err := s.Award(ctx, "set", &redpack.PaymentNotification{AppID: redpacktest.DefaultAppID, MchID: redpacktest.DefaultMchID,
			ResultCode: "SUCCESS", OpenID: testOpenID, TradeType: "JSAPI", TotalFee: fee, CashFee: fee, TransactionID: tx,
			OutTradeNo: "o" + tx, TimeEnd: time.Date(2026, 12, 15, 12, 0, 0, 0, china)}, campaign.AwardOptions{NoConfirm: true})
		require.NoError(t, err)
	}
	masked, err := New(s, Config{})
	require.NoError(t, err)
	shown, err := New(s, Config{ShowOpenIDs: true})
	require.NoError(t, err)
	for _, format := range []string{"csv", "json"} {
		var want bytes.Buffer
		require.NoError(t, s.WriteAwards(ctx, "set", format, &want, campaign.ReportOptions{}))
		require.Equal(t, 2, strings.Count(want.String(), testOpenID), "two awards, one skipped: %s", want.String())
		r := do(t, shown, "GET", "/c/set/awards."+format, nil)
		require.Equal(t, http.StatusOK, r.StatusCode)
		assert.Equal(t, `attachment; filename="set-awards.`+format+`"`, r.Header.Get("Content-Disposition"))
		assert.Equal(t, want.String(), body(t, r))
		b := body(t, do(t, masked, "GET", "/c/set/awards."+format, nil))
		assert.NotContains(t, b, testOpenID)
		assert.Equal(t, 2, strings.Count(b, MaskOpenID(testOpenID)), b)
	}
	page := body(t, do(t, masked, "GET", "/c/set", nil))
	assert.Contains(t, page, `href="/c/set/awards.csv"`)
	assert.NotContains(t, body(t, do(t, masked, "GET", "/c/spring", nil)), "awards.csv", "a campaign of a file has no awards to export")
}

// The current rate is measured from the run's start when the run began
// within the rate window: 300 rows paid in the 40 s since a run started
// are 450 a minute, not the 60 a fixed 5-minute window would make of
// them; once the run is older than the window, the window rules again.
func TestRatePerMinute(t *testing.T) {
	now := time.Date(2026, 2, 1, 10, 5, 20, 0, chinaTime)
	start := now.Add(-40 * time.Second) // 10:04:40
	series := []campaign.Bucket{
		{At: now.Add(-2 * time.Hour).Truncate(time.Minute), Count: 1000}, // an earlier run, outside every window
		{At: time.Date(2026, 2, 1, 10, 4, 0, 0, chinaTime), Count: 180},
		{At: time.Date(2026, 2, 1, 10, 5, 0, 0, chinaTime), Count: 120},
	}
	assert.InDelta(t, 450, ratePerMinute(series, now, start, 5*time.Minute), 0.001)
	assert.InDelta(t, 60, ratePerMinute(series, now, time.Time{}, 5*time.Minute), 0.001, "no run start known: the whole window")
	assert.InDelta(t, 60, ratePerMinute(series, now, now.Add(-time.Hour), 5*time.Minute), 0.001, "a run older than the window")
	assert.InDelta(t, 60, ratePerMinute(series, now, now.Add(time.Minute), 5*time.Minute), 0.001, "a start in the future (clock skew) is ignored")
	// Right after the start, the span is at least minRateSpan.
	first := []campaign.Bucket{{At: now.Truncate(time.Minute), Count: 1}}
	assert.InDelta(t, 30, ratePerMinute(first, now, now.Add(-100*time.Millisecond), 5*time.Minute), 0.001)
	assert.Zero(t, ratePerMinute(nil, now, start, 5*time.Minute))
}

// The campaign's JSON measures the rate from the run's start, which Info
// reads from the journal: a run that started 30 s ago and paid both rows
// reads 4 a minute, where the 5-minute window alone would read 0.4.
func TestStatusRateFromRunStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	s := newStoreAt(t, path)
	now := time.Now().Truncate(time.Second)
	d, err := New(s, Config{now: func() time.Time { return now }})
	require.NoError(t, err)
	st, err := d.status(context.Background(), "spring")
	require.NoError(t, err)
	assert.Zero(t, st.RatePerMinute)
	assert.EqualValues(t, -1, st.ETASeconds, "no rate, no ETA")

	db := rawDB(t, path)
	_, err = db.Exec(`UPDATE redpack_campaign SET last_run_at = $1 WHERE name = 'spring'`, now.Add(-30*time.Second).UnixMilli())
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE redpack_campaign_row SET outcome = 'paid', status = 'SENT', settled_at = $1 WHERE campaign = 'spring' AND row_no = 1`, now.Add(-10*time.Second).UnixMilli())
	require.NoError(t, err)
	info, err := s.Info(context.Background(), "spring")
	require.NoError(t, err)
	assert.Equal(t, now.Add(-30*time.Second).UnixMilli(), info.LastRunAt.UnixMilli())
	st, err = d.status(context.Background(), "spring")
	require.NoError(t, err)
	assert.InDelta(t, 2, st.RatePerMinute, 0.001, "1 paid in the 30 s since the run started")
	assert.EqualValues(t, 30, st.ETASeconds, "the one open row at 2 a minute")
}
