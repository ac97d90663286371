package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// screenshotEnv names the variable that makes TestDashboardLiveInBrowser
// write the README's screenshot, docs/dashboard.png:
//
//	REDPACK_DASHBOARD_SCREENSHOT=1 go test -run TestDashboardLiveInBrowser ./cmd/redpack
const screenshotEnv = "REDPACK_DASHBOARD_SCREENSHOT"

// chromium returns the path of a Chromium (Debian's package "chromium";
// $REDPACK_CHROMIUM overrides). In CI (CI=true) a missing browser fails
// the test; elsewhere it skips.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("REDPACK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but no Chromium: .ci/run installs Debian's package chromium")
	}
	t.Skip("no Chromium: install Debian's package chromium (apt-get install chromium) or set REDPACK_CHROMIUM")
	return ""
}

// page is a headless Chromium tab; problems collects its console errors,
// uncaught exceptions and error log entries (CSP violations among them).
type page struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
	statuses map[string]int64 // document URL → HTTP status
}

func newPage(t *testing.T) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 1400),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	// One browser serves a test's subtests, one per database.
	ctx, cancelT := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	p := &page{ctx: ctx, statuses: map[string]int64{}}
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				p.problems = append(p.problems, fmt.Sprintf("console.error %v", ev.Args))
			}
		case *runtime.EventExceptionThrown:
			p.problems = append(p.problems, "exception "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				p.problems = append(p.problems, "log "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		case *network.EventResponseReceived:
			if ev.Type == network.ResourceTypeDocument {
				p.statuses[ev.Response.URL] = ev.Response.Status
			}
		}
	}))
	_, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, runtime.Enable, cdp.Empty{})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	return p
}

func (p *page) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(p.ctx, actions...))
}

func (p *page) text(t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, sel)
	return strings.TrimSpace(s)
}

func evaluate[T any](t *testing.T, p *page, js string) T {
	t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

func (p *page) int(t *testing.T, sel string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(p.text(t, sel), 10, 64)
	require.NoError(t, err, sel)
	return n
}

// chartSum adds up the counts of the rate chart's bars.
func (p *page) chartSum(t *testing.T) int64 {
	t.Helper()
	bars, err := chromedp.Run(p.ctx, chromedp.AttributesAll(chromedp.CSSAll("#rate-chart rect.bar")))
	require.NoError(t, err)
	require.NotEmpty(t, bars, "the chart has bars")
	var sum int64
	for _, b := range bars {
		n, err := strconv.ParseInt(b["data-count"], 10, 64)
		require.NoError(t, err)
		sum += n
	}
	return sum
}

// download clicks the link sel and returns the bytes the browser saved as
// file.
func (p *page) download(t *testing.T, sel, file string) []byte {
	t.Helper()
	dir := t.TempDir()
	_, err := chromedp.CallBrowser(p.ctx, browser.SetDownloadBehavior,
		browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
	require.NoError(t, err)
	p.run(t, chromedp.Click(chromedp.CSS(sel)))
	var got []byte
	require.Eventually(t, func() bool {
		var err error
		got, err = os.ReadFile(filepath.Join(dir, file))
		return err == nil && len(got) > 0
	}, 20*time.Second, 100*time.Millisecond, "no download of %s", file)
	return got
}

// noProblems asserts the browser reported no error since the last call.
func (p *page) noProblems(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Empty(t, p.problems, "the browser reported errors")
	p.problems = nil
}

// leaveAtEnd has the page leave for about:blank when the subtest ends,
// before the subtest's dashboard stops (cleanups run last first: call it
// after starting the dashboard), so that the page's live polling of a
// stopped server is not an error in the next subtest on the same page.
func (p *page) leaveAtEnd(t *testing.T) {
	t.Cleanup(func() {
		_, _ = chromedp.Run(p.ctx, chromedp.Navigate("about:blank"))
		p.mu.Lock()
		p.problems = nil
		p.mu.Unlock()
	})
}

// statusJSONOf is campaign status --json, decoded.
func statusJSONOf(t *testing.T, env map[string]string, name string) campaignStatus {
	t.Helper()
	r := runLong(t, env, "campaign", "status", name, "--json")
	require.Equal(t, exitOK, r.code, r)
	var st campaignStatus
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	return st
}

// The list page and a campaign page load without a console error, show
// status --json's figures, draw the chart, and export the bytes campaign
// report writes. On both databases, in one browser.
func TestDashboardInBrowser(t *testing.T) {
	p := newPage(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			env := campaignEnv(f, dbOf(t, kind, f.dir))
			refusedCampaign(t, f, env, "lean")
			srv := startDashboard(t, env, "--show-openids")
			p.leaveAtEnd(t)
			st := statusJSONOf(t, env, "lean")

			p.run(t, chromedp.Navigate(srv.url), chromedp.WaitVisible(chromedp.CSS("#campaigns")))
			row := `tr[data-campaign="lean"] `
			assert.Equal(t, st.Paid, p.int(t, row+`[data-field="paid"]`))
			assert.Equal(t, st.NotPaid, p.int(t, row+`[data-field="not_paid"]`))
			assert.Equal(t, st.Rows, p.int(t, row+`[data-field="rows"]`))
			assert.Equal(t, cny(st.AmountPaid), p.text(t, row+`[data-field="amount_paid"]`))

			p.run(t, chromedp.Navigate(srv.url+"c/lean"), chromedp.WaitVisible(chromedp.CSS("#outcomes")))
			for field, want := range map[string]int64{"rows": st.Rows, "paid": st.Paid, "not_paid": st.NotPaid, "unknown": st.Unknown, "pending": st.Pending} {
				assert.Equal(t, want, p.int(t, `#outcomes [data-field="`+field+`"]`), field)
			}
			assert.Equal(t, cny(st.AmountPaid), p.text(t, `#outcomes [data-field="amount_paid"]`))
			assert.Equal(t, cny(st.AmountTotal), p.text(t, `#outcomes [data-field="amount_total"]`))
			assert.Contains(t, p.text(t, "#refusals"), "appid / openid mismatch", "the README's meaning of OPENID_ERROR")
			assert.Contains(t, p.text(t, "#needs-person"), "redpack campaign reissue lean --rows 4 --dry-run")

			// The chart: one bar a minute, their counts adding up to the paid rows.
			assert.Equal(t, st.Paid, p.chartSum(t))

			// The export, downloaded by the browser.
			for _, format := range []string{"csv", "json"} {
				got := p.download(t, "#export-"+format, "lean."+format)
				r := runLong(t, env, "campaign", "report", "lean", "--format", format)
				require.Equal(t, exitOK, r.code, r)
				assert.Equal(t, r.stdout, string(got), "the %s export is campaign report's bytes", format)
			}
			p.noProblems(t)
		})
	}
}

// While a campaign runs, its page's paid count rises without a reload. On
// both databases, in one browser; the screenshot is SQLite's.
func TestDashboardLiveInBrowser(t *testing.T) {
	p := newPage(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			env := campaignEnv(f, dbOf(t, kind, f.dir))
			file := writeLines(t, f.dir, "live.txt", campaignOpenIDs(60)...)
			r := runLong(t, env, createArgs("live", file, "--amount", "100")...)
			require.Equal(t, exitOK, r.code, r)
			srv := startDashboard(t, env)
			p.leaveAtEnd(t)
			p.run(t, chromedp.Navigate(srv.url+"c/live"), chromedp.WaitVisible(chromedp.CSS("#outcomes")))
			require.EqualValues(t, 0, p.int(t, `#outcomes [data-field="paid"]`))
			require.True(t, evaluate[bool](t, p, `window.redpackNoReload = true`))

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"campaign", "run", "live", "--rate", "5", "--workers", "2", "--timeout", "1s", "--no-progress"},
					strings.NewReader(""), &lockedBuffer{}, &lockedBuffer{}, func(k string) string { return env[k] })
			}()
			t.Cleanup(func() { cancel(); <-done })

			var seen []int64
			require.Eventually(t, func() bool {
				n := p.int(t, `#outcomes [data-field="paid"]`)
				if len(seen) == 0 || n != seen[len(seen)-1] {
					seen = append(seen, n)
				}
				return len(seen) >= 3 && n > 0
			}, 60*time.Second, 200*time.Millisecond, "the paid count did not rise: %v", seen)
			assert.True(t, evaluate[bool](t, p, `window.redpackNoReload === true`), "the page was not reloaded")
			assert.Equal(t, "live", p.text(t, "#live"))

			if os.Getenv(screenshotEnv) != "" && kind == "sqlite" {
				png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
				require.NoError(t, err)
				require.NoError(t, os.MkdirAll("../../docs", 0o755))
				require.NoError(t, os.WriteFile("../../docs/dashboard.png", png, 0o644))
			}
			p.noProblems(t)
		})
	}
}

// With a token required, a browser without it gets 401 and never sees the
// page; the one-time login URL lets it in. On both databases, in one
// browser whose cookies are cleared between them.
func TestDashboardTokenInBrowser(t *testing.T) {
	p := newPage(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			// The last subtest's login cookie would let this one in.
			_, err := chromedp.Call(p.ctx, network.ClearBrowserCookies, cdp.Empty{})
			require.NoError(t, err)
			f := newFixture(t)
			env := campaignEnv(f, dbOf(t, kind, f.dir))
			refusedCampaign(t, f, env, "lean")
			token := writeLines(t, f.dir, "token", "0123456789abcdef0123456789abcdef")
			srv := startDashboard(t, env, "--token-file", token)
			p.leaveAtEnd(t)
			p.run(t, chromedp.Navigate(srv.url+"c/lean"), chromedp.WaitReady(chromedp.CSS("body")))
			p.mu.Lock()
			status := p.statuses[srv.url+"c/lean"]
			p.mu.Unlock()
			assert.EqualValues(t, 401, status)
			assert.Zero(t, evaluate[int](t, p, `document.querySelectorAll("#outcomes").length`), "the page never renders")
			assert.Contains(t, p.text(t, "body"), "401 unauthorized")

			var login string
			require.Eventually(t, func() bool {
				for _, line := range strings.Split(srv.stdout.String(), "\n") {
					if i := strings.Index(line, "http://"); i >= 0 && strings.Contains(line, "/login?code=") {
						login = strings.Fields(line[i:])[0]
						return true
					}
				}
				return false
			}, 5*time.Second, 50*time.Millisecond, "no login URL in %q", srv.stdout.String())
			p.run(t, chromedp.Navigate(login), chromedp.WaitVisible(chromedp.CSS("#campaigns")))
			assert.Equal(t, "2", p.text(t, `tr[data-campaign="lean"] [data-field="not_paid"]`))
		})
	}
}

// River's UI under /river, reached from the dashboard's header, renders a
// campaign's jobs in the browser on SQLite and PostgreSQL without a
// console error or a CSP violation; with --river-ui=false it is not
// there.
func TestRiverUIInBrowser(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			db := filepath.Join(f.dir, "c.db")
			if kind == "postgres" {
				db = freshPostgresDSN(t)
			}
			env := campaignEnv(f, db)
			file := writeLines(t, f.dir, "jobs.txt", campaignOpenIDs(3)...)
			r := runLong(t, env, createArgs("jobs", file, "--amount", "100")...)
			require.Equal(t, exitOK, r.code, r)
			srv := startDashboard(t, env)
			p := newPage(t)
			p.run(t, chromedp.Navigate(srv.url), chromedp.WaitVisible(chromedp.CSS("#river-link")), chromedp.Click(chromedp.CSS("#river-link")))
			var text string
			require.Eventually(t, func() bool {
				text = evaluate[string](t, p, `document.body ? document.body.innerText : ""`)
				return strings.Contains(text, "Job State")
			}, 30*time.Second, 200*time.Millisecond, "River's UI did not render: %s", text)
			// The jobs are available (no run works them); River lists running ones first.
			p.run(t, chromedp.Navigate(srv.url+"river/jobs?state=available"))
			ok := assert.Eventually(t, func() bool {
				text = evaluate[string](t, p, `document.body ? document.body.innerText : ""`)
				return strings.Contains(text, "redpack_campaign_row")
			}, 30*time.Second, 200*time.Millisecond, "River's UI did not list the campaign's jobs")
			if !ok {
				t.Logf("page: %s\nproblems: %v", text, p.problems)
			}
			assert.Contains(t, evaluate[string](t, p, `location.pathname`), "/river/")
			// Everything it loaded (scripts, styles, its API) came from the binary.
			loaded := evaluate[[]string](t, p, `performance.getEntriesByType("resource").map(e => e.name)`)
			require.NotEmpty(t, loaded)
			for _, u := range loaded {
				assert.True(t, strings.HasPrefix(u, srv.url+"river/"), "fetched from elsewhere: %s", u)
			}
			p.noProblems(t)

			off := startDashboard(t, env, "--river-ui=false")
			code, _ := get(t, off.url+"river/", "")
			assert.Equal(t, 404, code)
		})
	}
}
