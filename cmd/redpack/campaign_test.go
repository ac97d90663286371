package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/internal/testpg"
	"github.com/redpack-go/redpack/redpacktest"
)

// campaignEnv is the fixture's credentials with a campaign database.
func campaignEnv(f *fixture, db string) map[string]string {
	env := f.env()
	env[campaignDBEnv] = db
	return env
}

// runLong is runCLI with room for a whole campaign.
func runLong(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func campaignOpenIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("oUpF8uMuAJO_M2pxb1Q9z%07d", i)
	}
	return out
}

func writeLines(t *testing.T, dir, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return p
}

var templateFlags = []string{"--send-name", "天虹百货", "--wishing", "新春快乐", "--act-name", "新春红包", "--remark", "感谢关注", "--client-ip", "192.168.0.1"}

func createArgs(name, file string, extra ...string) []string {
	args := append([]string{"campaign", "create", name, "--file", file}, templateFlags...)
	return append(args, extra...)
}

// fastRun are run flags that keep crash tests short: a job's time limit
// follows from them, and so does how soon a killed run's rows are rescued.
var fastRun = []string{"--timeout", "1s", "--max-attempts", "2", "--no-progress"}

// reportRows reads the CSV report.
func reportRows(t *testing.T, env map[string]string, name string) []map[string]string {
	t.Helper()
	r := runLong(t, env, "campaign", "report", name, "--format", "csv")
	require.Equal(t, exitOK, r.code, r)
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, reportHeader, recs[0])
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

// assertReportMatchesLedger checks the CSV report against the fake's
// ledger row by row, and that no openid was paid more than once.
func assertReportMatchesLedger(t *testing.T, srv *redpacktest.Server, rows []map[string]string) {
	t.Helper()
	perOpenID := map[string]int{}
	for _, p := range srv.Packets() {
		if p.Paid {
			perOpenID[p.ReOpenID]++
		}
	}
	for id, n := range perOpenID {
		require.Equalf(t, 1, n, "openid %s paid %d times", id, n)
	}
	for _, r := range rows {
		p, ok := srv.Packet(testMchID, r["mch_billno"])
		switch r["outcome"] {
		case "paid":
			require.Truef(t, ok && p.Paid, "row %s paid in the report, not in the ledger", r["row"])
			require.Equal(t, r["openid"], p.ReOpenID)
			require.Equal(t, r["amount"], strconv.FormatInt(p.TotalAmount, 10))
			require.Equal(t, p.DetailID, r["send_listid"], "row %s", r["row"])
		case "not paid":
			require.Falsef(t, ok && p.Paid, "row %s not paid in the report, paid in the ledger", r["row"])
		default:
			t.Fatalf("row %s is %s", r["row"], r["outcome"])
		}
	}
}

func TestCampaignCommands(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	ids := campaignOpenIDs(12)
	// CSV with a BOM, CRLF line ends, a blank line and a per-row amount.
	var b strings.Builder
	b.WriteString("\ufeffopenid,amount\r\n")
	for i, id := range ids {
		amount := ""
		if i == 0 {
			amount = "250"
		}
		fmt.Fprintf(&b, "%s,%s\r\n", id, amount)
		if i == 5 {
			b.WriteString("\r\n")
		}
	}
	file := filepath.Join(f.dir, "openids.csv")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))

	r := runLong(t, env, createArgs("spring", file, "--amount", "100", "--dry-run")...)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, flat(r.stdout), "Rows 12")
	assert.Contains(t, flat(r.stdout), "Total amount ¥13.50")
	assert.Contains(t, r.stdout, "Run time")
	_, err := os.Stat(filepath.Join(f.dir, "c.db"))
	require.True(t, os.IsNotExist(err), "a dry run creates no database")

	r = runLong(t, env, createArgs("spring", file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "12 rows, ¥13.50 in all")
	require.Empty(t, f.srv.Requests(), "create sends nothing")

	r = runLong(t, env, createArgs("spring", file, "--amount", "100")...)
	require.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "campaign exists")

	pending := reportRows(t, env, "spring")
	require.Len(t, pending, 12)
	bills := map[string]bool{}
	for _, row := range pending {
		require.Equal(t, "pending", row["outcome"])
		require.Len(t, row["mch_billno"], 28)
		bills[row["mch_billno"]] = true
	}
	require.Len(t, bills, 12, "every row has its own bill number")
	require.Equal(t, "9", pending[6]["line"], "line numbers count the header and the blank line")

	r = runLong(t, env, append([]string{"campaign", "run", "spring"}, fastRun...)...)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, flat(r.stdout), "paid 12 ¥13.50")

	rows := reportRows(t, env, "spring")
	assertReportMatchesLedger(t, f.srv, rows)
	for i, row := range rows {
		require.Equal(t, pending[i]["mch_billno"], row["mch_billno"], "the journalled bill number was sent")
	}
	require.Equal(t, "250", rows[0]["amount"])

	r = runLong(t, env, "campaign", "status", "spring", "--json")
	require.Equal(t, exitOK, r.code, r)
	var st campaignStatus
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	require.Equal(t, int64(12), st.Paid)
	require.Equal(t, int64(1350), st.AmountPaid)
	require.True(t, st.Done)

	out := filepath.Join(f.dir, "report.json")
	r = runLong(t, env, "campaign", "report", "spring", "--format", "json", "--out", out)
	require.Equal(t, exitOK, r.code, r)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	var js []map[string]any
	require.NoError(t, json.Unmarshal(data, &js))
	require.Len(t, js, 12)
	require.Equal(t, "paid", js[3]["outcome"])
	require.Equal(t, rows[3]["send_listid"], js[3]["send_listid"])

	r = runLong(t, env, "campaign", "reissue", "spring", "--rows", "2-3")
	require.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "rows 2-3 are paid")
}

// Without --db or $REDPACK_CAMPAIGN_DB the campaign lives in
// redpack-campaigns.db in the current directory.
func TestCampaignDefaultDatabase(t *testing.T) {
	f := newFixture(t)
	env := f.env()
	file := writeLines(t, f.dir, "openids.txt", campaignOpenIDs(3)...)
	dir := t.TempDir()
	t.Chdir(dir)
	r := runLong(t, env, createArgs("here", file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	_, err := os.Stat(filepath.Join(dir, "redpack-campaigns.db"))
	require.NoError(t, err)
	r = runLong(t, env, append([]string{"campaign", "run", "here"}, fastRun...)...)
	require.Equal(t, exitOK, r.code, r)
	assertReportMatchesLedger(t, f.srv, reportRows(t, env, "here"))
	require.Len(t, f.srv.Packets(), 3)
}

// Bad input: clear errors, nothing sent, nothing imported.
func TestCampaignCreateBadInput(t *testing.T) {
	f := newFixture(t)
	db := filepath.Join(f.dir, "c.db")
	env := campaignEnv(f, db)
	ids := campaignOpenIDs(4)
	notSQLite := writeLines(t, f.dir, "garbage.db", "this is not a database, just text that is long enough to be read as a header")

	cases := []struct {
		name  string
		lines []string
		extra []string
		env   map[string]string
		want  []string
	}{
		{"bad rows by line", []string{ids[0], "not an openid!", ids[1], "", strings.Repeat("o", 40)}, nil, nil,
			[]string{"2 bad rows", "line 2: openid", "line 5: openid", "longer than 32"}},
		{"duplicates", []string{ids[0], ids[1], ids[0]}, nil, nil, []string{"line 3: openid " + ids[0] + " is also on line 1", "--allow-duplicates"}},
		{"bad amounts", []string{"openid,amount", ids[0] + ",abc", ids[1] + ",50", ids[2] + ",300000"}, nil, nil,
			[]string{"line 2: amount \"abc\"", "line 3:", "line 4:", "total_amount"}},
		{"empty file", []string{"", "  "}, nil, nil, []string{"the file has no rows"}},
		{"a template field", []string{ids[0]}, []string{"--send-name", strings.Repeat("名", 20)}, nil, []string{"template: ", "send_name"}},
		{"CSV without an openid column", []string{"user,amount", ids[0] + ",100"}, nil, nil, []string{"header naming the openid column"}},
		{"a database in no directory", []string{ids[0]}, nil, campaignEnv(f, filepath.Join(f.dir, "missing", "c.db")), []string{"campaign database", "missing"}},
		{"a file that is not SQLite", []string{ids[0]}, nil, campaignEnv(f, notSQLite), []string{"campaign database", "garbage.db"}},
		{"an unreachable PostgreSQL", []string{ids[0]}, nil, campaignEnv(f, "postgres://nobody:secretpw@127.0.0.1:1/none?connect_timeout=2"), []string{"campaign database", "127.0.0.1:1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := writeLines(t, t.TempDir(), "f.txt", c.lines...)
			e := env
			if c.env != nil {
				e = c.env
			}
			args := createArgs("bad", file, append([]string{"--amount", "100"}, c.extra...)...)
			r := runLong(t, e, args...)
			require.Equal(t, exitUsage, r.code, r)
			for _, w := range c.want {
				assert.Contains(t, r.stderr, w)
			}
			assert.NotContains(t, r.stderr, "secretpw", "a password never printed")
			r = runLong(t, e, "campaign", "status", "bad")
			require.NotEqual(t, exitOK, r.code, "nothing imported: %s", r)
		})
	}
	require.Empty(t, f.srv.Requests(), "nothing sent")

	// The good rows of a refused file were not imported either: the same
	// name imports cleanly once the file is fixed.
	file := writeLines(t, f.dir, "good.txt", ids...)
	r := runLong(t, env, createArgs("bad", file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "4 rows")
}

// freshPostgresDSN returns a DSN of a new schema on the test PostgreSQL
// server (see internal/testpg).
func freshPostgresDSN(t *testing.T) string { return testpg.Fresh(t) }

// runProc is "redpack campaign run" as a separate process.
type runProc struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan struct{}
	status *os.ProcessState
}

func startRun(t *testing.T, env map[string]string, name string, extra ...string) *runProc {
	t.Helper()
	args := append([]string{"campaign", "run", name}, fastRun...)
	cmd := exec.Command(os.Args[0], append(args, extra...)...)
	cmd.Env = []string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &runProc{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		p.status = cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *runProc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *runProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("run did not finish in %s:\n%s", d, p.out)
	}
	return p.status.ExitCode()
}

// faultsFor scripts one fault of each kind on chosen rows' bill numbers.
func faultsFor(t *testing.T, srv *redpacktest.Server, rows []map[string]string) {
	t.Helper()
	kinds := []redpacktest.Fault{
		{Kind: redpacktest.SystemErrorBeforeCommit},
		{Kind: redpacktest.SystemErrorAfterCommit},
		{Kind: redpacktest.ProcessingBeforeCommit},
		{Kind: redpacktest.ProcessingAfterCommit, Hold: 2 * time.Second},
		{Kind: redpacktest.DropAfterCommit},
		{Kind: redpacktest.SlowAfterCommit, Delay: 3 * time.Second},
		{Kind: redpacktest.HTMLGateway},
		{Kind: redpacktest.TruncatedBody},
		{Kind: redpacktest.ErrCodeAnswer, ErrCode: "FREQ_LIMIT", ErrCodeDes: "频率受限"},
		{Kind: redpacktest.ProcessingThenFail, Hold: 2 * time.Second}, // the one row not paid
	}
	for i, k := range kinds {
		k.Op, k.MchBillNo = "sendredpack", rows[(i*7+3)%len(rows)]["mch_billno"]
		require.NoError(t, srv.Inject(k))
	}
}

// A run killed with SIGKILL at random instants, several times, then run
// to the end: every openid paid exactly once, and the report matches the
// ledger row by row.
func TestCampaignSurvivesSIGKILL(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	file := writeLines(t, f.dir, "openids.txt", campaignOpenIDs(150)...)
	r := runLong(t, env, createArgs("kill", file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	faultsFor(t, f.srv, reportRows(t, env, "kill"))

	// Ctrl-C (SIGINT), then SIGTERM: the run stops taking rows, journals
	// what is in flight and exits 130, as shells expect, saying how to go
	// on.
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		p := startRun(t, env, "kill")
		time.Sleep(1500 * time.Millisecond)
		require.NoError(t, p.cmd.Process.Signal(sig))
		code := p.wait(t, time.Minute)
		if code != exitOK { // it may have finished first
			require.Equal(t, exitInterrupted, code, "%v: %s", sig, p.out)
			require.Contains(t, p.out.String(), "Stopped with")
		}
	}

	killed := 0
	for i := range 4 {
		p := startRun(t, env, "kill")
		select {
		case <-p.done:
			t.Logf("run %d finished before its kill:\n%s", i, p.out)
		case <-time.After(time.Duration(300+rand.IntN(1700)) * time.Millisecond):
			p.kill(t)
			killed++
		}
	}
	require.Positive(t, killed, "some runs were killed mid-way")
	p := startRun(t, env, "kill")
	code := p.wait(t, 3*time.Minute)
	require.Equal(t, exitOK, code, "%s", p.out)

	rows := reportRows(t, env, "kill")
	require.Len(t, rows, 150)
	assertReportMatchesLedger(t, f.srv, rows)
	paid := 0
	for _, row := range rows {
		if row["outcome"] == "paid" {
			paid++
		}
	}
	require.Equal(t, 149, paid, "all but the ProcessingThenFail row")
	require.Equal(t, int64(14900), f.srv.Paid(testMchID), "nothing paid twice")
}

// Three runs of one campaign on one PostgreSQL, one killed mid-run: no row
// paid twice, and together they kept under WeChat's rate (the fake counts
// 30 requests in any second) at the default rate.
func TestCampaignThreeRunsOnPostgres(t *testing.T) {
	dsn := freshPostgresDSN(t)
	f := newFixture(t)
	env := campaignEnv(f, dsn)
	n := 240
	file := writeLines(t, f.dir, "openids.txt", campaignOpenIDs(n)...)
	r := runLong(t, env, createArgs("multi", file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)

	procs := []*runProc{startRun(t, env, "multi"), startRun(t, env, "multi"), startRun(t, env, "multi")}
	time.Sleep(3 * time.Second)
	procs[1].kill(t)
	for _, i := range []int{0, 2} {
		require.Equal(t, exitOK, procs[i].wait(t, 3*time.Minute), "%s", procs[i].out)
	}

	rows := reportRows(t, env, "multi")
	require.Len(t, rows, n)
	assertReportMatchesLedger(t, f.srv, rows)
	require.Equal(t, int64(100*n), f.srv.Paid(testMchID))

	// The fake judged every request against its strict window of 30 in
	// any second: none was refused. Its log shows the pace it saw.
	reqs := f.srv.Requests()
	times := make([]time.Time, 0, len(reqs))
	for i, q := range reqs {
		require.NotEqual(t, "FREQ_LIMIT", q.ErrCode, "request %d refused for rate", i)
		times = append(times, q.Time)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	most := 0
	for i := range times {
		j := sort.Search(len(times), func(j int) bool { return !times[j].Before(times[i].Add(time.Second)) })
		most = max(most, j-i)
	}
	span := times[len(times)-1].Sub(times[0])
	rate := float64(len(times)-1) / span.Seconds()
	t.Logf("%d requests in %s: %.1f a second, at most %d in any second", len(times), span.Round(time.Millisecond), rate, most)
	require.LessOrEqual(t, most, 30, "at most 30 requests in any second")
	require.Less(t, rate, 29.0, "the combined pace stays under the default rate's 28 a second, give or take")
}

// Refusals are reported by err_code, and reissue sends them again under
// new bill numbers once the cause is fixed; progress goes to stderr as
// plain lines when it is not a terminal.
func TestCampaignReissueRefused(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	file := writeLines(t, f.dir, "openids.txt", campaignOpenIDs(5)...)
	r := runLong(t, env, createArgs("lean", file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	// Two rows meet a refusal about the row alone.
	for _, row := range reportRows(t, env, "lean")[3:] {
		require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "sendredpack", MchBillNo: row["mch_billno"], Kind: redpacktest.ErrCodeAnswer,
			ErrCode: "OPENID_ERROR", ErrCodeDes: "openid字段不正确"}))
	}

	r = runLong(t, env, "campaign", "run", "lean", "--workers", "1", "--timeout", "1s")
	require.Equal(t, exitOK, r.code, "refused rows are settled: %s", r)
	assert.Contains(t, r.stderr, "5/5 rows settled, paid 3, not paid 2")
	r = runLong(t, env, "campaign", "status", "lean")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, flat(r.stdout), "Not paid, by err_code: OPENID_ERROR 2 appid / openid mismatch: use the appid the openid belongs to",
		"each code with the README's meaning and what to do")

	var refused []string
	old := map[string]string{}
	for _, row := range reportRows(t, env, "lean") {
		if row["outcome"] == "not paid" {
			require.Equal(t, "OPENID_ERROR", row["err_code"])
			refused = append(refused, row["row"])
			old[row["row"]] = row["mch_billno"]
		}
	}
	require.Len(t, refused, 2)
	r = runLong(t, env, "campaign", "reissue", "lean", "--rows", strings.Join(refused, ","))
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "reissued 2 rows of lean")

	r = runLong(t, env, append([]string{"campaign", "run", "lean"}, fastRun...)...)
	require.Equal(t, exitOK, r.code, r)
	rows := reportRows(t, env, "lean")
	assertReportMatchesLedger(t, f.srv, rows)
	for _, row := range rows {
		require.Equal(t, "paid", row["outcome"])
		if o, ok := old[row["row"]]; ok {
			require.NotEqual(t, o, row["mch_billno"], "a reissued row went under a new bill number")
		}
	}
}

// TestCampaignRunStopsWithReason: a refusal that holds for the whole file
// stops the run with its own exit code and one line saying what to do;
// an unreachable WeChat stops it after --outage-limit with exit 5. The
// rows keep their bill numbers and the next run pays them.
func TestCampaignRunStopsWithReason(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	file := writeLines(t, f.dir, "ids.txt", campaignOpenIDs(6)...)
	require.Equal(t, exitOK, runLong(t, env, createArgs("lean", file, "--amount", "1000")...).code)

	r := runLong(t, env, append([]string{"campaign", "run", "lean", "--on-balance", "later"}, fastRun...)...)
	require.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "--on-balance is stop or wait")

	require.NoError(t, f.srv.SetBalance(redpacktest.DefaultMchID, 2000))
	r = runLong(t, env, append([]string{"campaign", "run", "lean", "--workers", "1"}, fastRun...)...)
	require.Equal(t, exitBalanceLow, r.code, r)
	assert.Contains(t, r.stderr, "balance too low: top up the operating account")
	assert.Contains(t, r.stderr, "4 rows wait with their bill numbers")

	require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "sendredpack", Kind: redpacktest.ErrCodeAnswer, ErrCode: "SIGN_ERROR"}))
	require.NoError(t, f.srv.SetBalance(redpacktest.DefaultMchID, 1_000_000))
	r = runLong(t, env, append([]string{"campaign", "run", "lean", "--workers", "1"}, fastRun...)...)
	require.Equal(t, exitMerchantConfig, r.code, r)
	assert.Contains(t, r.stderr, "SIGN_ERROR")
	assert.Contains(t, r.stderr, "API key")

	dark := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	dark["REDPACK_BASE_URL"] = closedURL(t)
	r = runLong(t, dark, append([]string{"campaign", "run", "lean", "--outage-limit", "2s"}, fastRun...)...)
	require.Equal(t, exitNotSent, r.code, r)
	assert.Contains(t, r.stderr, "WeChat could not be reached")

	r = runLong(t, env, append([]string{"campaign", "run", "lean"}, fastRun...)...)
	require.Equal(t, exitOK, r.code, r)
	rows := reportRows(t, env, "lean")
	assertReportMatchesLedger(t, f.srv, rows)
	require.Len(t, f.srv.Packets(), 6)
}
