package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/campaign"
	"github.com/redpack-go/redpack/internal/pki"
	"github.com/redpack-go/redpack/redpacktest"
)

// issueRules is the rules file of issue 19, as a merchant writes it; its
// appid is the fake merchant's Official Account.
const issueRules = `{"rules": [{"name": "spend100", "appid": "wx8888888888888888",
  "from": "2026-12-01T00:00:00+08:00", "to": "2027-01-01T00:00:00+08:00",
  "min_fee": 10000, "amount": 500, "budget": 75000, "user_daily_count": 1,
  "send_name": "天虹百货", "wishing": "满100送5元", "act_name": "满额送", "remark": "感谢惠顾"}]}`

// payment is a paid notification's fields: fee fen by openid under appid,
// on 15 December 2026 (China time), within the issue's rule's period.
func payment(txID, openid, appid string, fee int64) map[string]string {
	return map[string]string{
		"return_code": "SUCCESS", "appid": appid, "mch_id": testMchID, "nonce_str": "n" + txID,
		"result_code": "SUCCESS", "openid": openid, "is_subscribe": "Y", "trade_type": "JSAPI", "bank_type": "CMC",
		"total_fee": fmt.Sprint(fee), "fee_type": "CNY", "cash_fee": fmt.Sprint(fee),
		"transaction_id": txID, "out_trade_no": "o" + txID, "time_end": "20261215120000",
	}
}

// signed is the notification's body, signed with key as WeChat signs it
// (md5Sign is this package's own, from the spec).
func signed(fields map[string]string, key string) []byte {
	f := map[string]string{}
	for k, v := range fields {
		f[k] = v
	}
	f["sign"] = md5Sign(f, key)
	return xmlOf(f)
}

// serveProc is "redpack rules serve" run in this process by run.
type serveProc struct {
	url    string // http(s)://host:port/
	stdout *lockedBuffer
	stderr *lockedBuffer
	code   chan int
	cancel context.CancelFunc
}

var serveLine = regexp.MustCompile(`listening on (https?://\S+/) \(POST /notify`)

// startServe runs rules serve with args on a free port and waits until it
// serves; it is stopped when the test ends.
func startServe(t *testing.T, env map[string]string, args ...string) *serveProc {
	t.Helper()
	p, line := launchServe(t, env, args...)
	m := serveLine.FindStringSubmatch(line)
	require.NotNil(t, m, "start line %q; stderr:\n%s", line, p.stderr)
	p.url = m[1]
	return p
}

// launchServe runs rules serve and returns its first line of output ("" if
// it exited without one).
func launchServe(t *testing.T, env map[string]string, args ...string) (*serveProc, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	p := &serveProc{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, code: make(chan int, 1), cancel: cancel}
	all := append([]string{"rules", "serve", "--listen", "127.0.0.1:0", "--timeout", "1s", "--max-attempts", "2"}, args...)
	go func() {
		c := run(ctx, all, strings.NewReader(""), pw, p.stderr, func(k string) string { return env[k] })
		pw.Close()
		p.code <- c
	}()
	t.Cleanup(func() { p.stop(t) })
	line, _ := bufio.NewReader(pr).ReadString('\n')
	p.stdout.Write([]byte(line))
	go io.Copy(p.stdout, pr)
	return p, strings.TrimSpace(line)
}

// stop cancels serve's context, as Ctrl-C does, and returns its exit code.
func (p *serveProc) stop(t *testing.T) int {
	t.Helper()
	p.cancel()
	return p.wait(t)
}

func (p *serveProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case c := <-p.code:
		p.code <- c
		return c
	case <-time.After(waitTimeout):
		t.Fatalf("rules serve did not stop; stderr:\n%s", p.stderr)
		return -1
	}
}

// notify posts body to path (notify or refund) and returns WeChat's
// return_code of the answer.
func notify(t *testing.T, client *http.Client, base, path string, body []byte) string {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Post(base+path, "text/xml", strings.NewReader(string(body)))
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	m := regexp.MustCompile(`<return_code><!\[CDATA\[(\w+)\]\]></return_code>`).FindSubmatch(data)
	require.NotNil(t, m, "answer %q", data)
	return string(m[1])
}

// rulesStatus is rules status --json, decoded.
func rulesStatus(t *testing.T, env map[string]string, name string) rulesStatusJSON {
	t.Helper()
	r := runLong(t, env, "rules", "status", "--name", name, "--json")
	require.Equal(t, exitOK, r.code, r)
	var st rulesStatusJSON
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&st), r.stdout)
	return st
}

// waitPaid waits until the rule set has n paid rows.
func waitPaid(t *testing.T, env map[string]string, name string, n int64) rulesStatusJSON {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := rulesStatus(t, env, name)
		if st.Paid >= n || time.Now().After(deadline) {
			require.Equal(t, n, st.Paid, "paid rows")
			return st
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func rulesFile(t *testing.T, dir, text string) string {
	t.Helper()
	return writeLines(t, dir, "rules.json", text)
}

func dbOf(t *testing.T, kind, dir string) string {
	t.Helper()
	if kind == "postgres" {
		return freshPostgresDSN(t)
	}
	return filepath.Join(dir, "rules.db")
}

func TestRulesCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runCLI(t, nil, "", "rules", "check", "--config", rulesFile(t, dir, issueRules))
	require.Equal(t, exitOK, r.code, r)
	for _, want := range []string{"spend100", "wx8888888888888888", "2026-12-01 00:00 to 2027-01-01 00:00", "cash_fee ≥ ¥100.00",
		"¥5.00", "¥750.00", "1 a day", "1 rule, no problem found."} {
		assert.Contains(t, r.stdout, want)
	}

	tiers := strings.Replace(issueRules, `"amount": 500`, `"fee": "total_fee", "tiers": [{"min_fee": 10000, "amount": 500}, {"min_fee": 30000, "amount": 2000}]`, 1)
	tiers = strings.Replace(tiers, `"to": "2027-01-01T00:00:00+08:00",`, ``, 1)
	r = runCLI(t, nil, "", "rules", "check", "--config", rulesFile(t, t.TempDir(), tiers))
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "≥¥100.00: ¥5.00, ≥¥300.00: ¥20.00")
	assert.Contains(t, r.stdout, "total_fee ≥ ¥100.00")
	assert.Contains(t, r.stdout, "to no end")

	two := `{"rules": [` + strings.TrimSuffix(strings.TrimPrefix(issueRules, `{"rules": [`), `]}`) + `,` +
		strings.NewReplacer(`"spend100"`, `"spend300"`, `"amount": 500`, `"amount": 50`, `"budget": 75000`, `"budget": 0`).
			Replace(strings.TrimSuffix(strings.TrimPrefix(issueRules, `{"rules": [`), `]}`)) + `]}`
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"two problems of one rule", two, []string{"2 problems", "  rule spend300: award 50 fen", "  rule spend300: budget: required"}},
		{"an unknown key", strings.Replace(issueRules, `"budget"`, `"mystery": 1, "budget"`, 1), []string{`unknown field "mystery"`}},
		{"not JSON", "rules: []", []string{"rules file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, "", "rules", "check", "--config", rulesFile(t, t.TempDir(), tc.text))
			require.Equal(t, exitUsage, r.code, r)
			for _, w := range tc.want {
				assert.Contains(t, r.stderr, w)
			}
			assert.Empty(t, r.stdout)
		})
	}
	r = runCLI(t, nil, "", "rules", "check")
	require.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "--config is required")
	r = runCLI(t, nil, "", "rules", "check", "--config", filepath.Join(dir, "missing.json"))
	require.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "missing.json")
}

// TestRulesServe: signed notifications posted to /notify are awarded,
// judged and paid by the same process; status --json and report say
// what the fake's ledger says; a forged notification is answered FAIL and
// awards nothing; Ctrl-C exits 130.
func TestRulesServe(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			env := campaignEnv(f, dbOf(t, kind, f.dir))
			p := startServe(t, env, "--config", rulesFile(t, f.dir, issueRules), "--no-confirm", "--no-rate-limit",
				"--notify-appid", redpacktest.DefaultMiniProgramAppID)
			ids := campaignOpenIDs(3)
			key := f.apiKey
			for _, n := range []map[string]string{
				payment("4200000001", ids[0], testAppID, 10000),                           // awarded ¥5
				payment("4200000002", ids[1], testAppID, 9999),                            // skipped: min_fee
				payment("4200000003", ids[2], redpacktest.DefaultMiniProgramAppID, 50000), // skipped: a mini-program's
				payment("4200000001", ids[0], testAppID, 10000),                           // delivered again
				payment("4200000004", ids[0], testAppID, 20000),                           // skipped: user_daily_count
			} {
				require.Equal(t, "SUCCESS", notify(t, nil, p.url, "notify", signed(n, key)), n["transaction_id"])
			}
			forged := payment("4200000005", ids[1], testAppID, 90000)
			require.Equal(t, "FAIL", notify(t, nil, p.url, "notify", signed(forged, strings.Repeat("f", 32))))
			unknownApp := payment("4200000006", ids[1], "wx0000000000000000", 90000)
			require.Equal(t, "FAIL", notify(t, nil, p.url, "notify", signed(unknownApp, key)))

			st := waitPaid(t, env, "rules", 1)
			require.Equal(t, exitInterrupted, p.stop(t), "stderr:\n%s", p.stderr)

			require.Len(t, f.srv.Packets(), 1, "one packet in the ledger")
			pk := f.srv.Packets()[0]
			assert.Equal(t, ids[0], pk.ReOpenID)
			assert.Equal(t, int64(500), pk.TotalAmount)
			assert.Equal(t, "满100送5元", pk.Wishing)

			assert.Equal(t, int64(1), st.Rows)
			assert.Equal(t, int64(500), st.AmountPaid)
			assert.Equal(t, int64(4), st.Payments, "the forged and the unlisted appid's were not judged")
			require.Len(t, st.Rules, 1)
			r := st.Rules[0]
			assert.Equal(t, "spend100", r.Name)
			assert.True(t, r.Active)
			assert.Equal(t, int64(75000), r.Budget)
			assert.Equal(t, int64(500), r.Spent)
			assert.Equal(t, int64(74500), r.Left)
			assert.Equal(t, int64(1), r.Paid)
			assert.Equal(t, int64(500), r.AmountPaid)
			assert.Equal(t, map[string]int64{"queued": 1, "skipped": 3}, r.Awards)
			assert.Equal(t, map[string]int64{"min_fee": 1, "appid": 1, "user_daily_count": 1}, r.Skipped)
			assert.Equal(t, int64(1), r.CapHits)
			assert.Zero(t, r.Awaiting)
			assert.Zero(t, r.RefundedAfterQueue)

			// One line per notification answered FAIL, without the body,
			// the signature or the key.
			fails := strings.Count(p.stderr.String(), "answered FAIL")
			assert.Equal(t, 2, fails, p.stderr.String())
			for _, secret := range []string{key, md5Sign(forged, strings.Repeat("f", 32)), "<xml>", "4200000005"} {
				assert.NotContains(t, p.stderr.String(), secret)
			}
			assert.Contains(t, p.stderr.String(), "Stopped: no longer answering notifications")

			// The text status says the same.
			text := runLong(t, env, "rules", "status")
			require.Equal(t, exitOK, text.code, text)
			for _, want := range []string{"rule spend100 (active)", "left ¥745.00", "paid 1 ¥5.00", "awards queued 1, skipped 3",
				"skipped appid 1, min_fee 1, user_daily_count 1", "cap hits 1"} {
				assert.Contains(t, flat(text.stdout), want)
			}

			// The report: one line per award, CSV and JSON lines.
			rep := runLong(t, env, "rules", "report", "--format", "csv")
			require.Equal(t, exitOK, rep.code, rep)
			recs, err := csv.NewReader(strings.NewReader(rep.stdout)).ReadAll()
			require.NoError(t, err)
			require.Equal(t, campaign.AwardsHeader, recs[0])
			require.Len(t, recs, 5, "a header and four awards")
			byTx := map[string]map[string]string{}
			for _, rec := range recs[1:] {
				m := map[string]string{}
				for i, h := range recs[0] {
					m[h] = rec[i]
				}
				byTx[m["transaction_id"]] = m
			}
			paid := byTx["4200000001"]
			assert.Equal(t, "queued", paid["state"])
			assert.Equal(t, "paid", paid["outcome"])
			assert.Equal(t, "500", paid["amount"])
			assert.Equal(t, pk.DetailID, paid["send_listid"])
			assert.Equal(t, pk.MchBillNo, paid["mch_billno"])
			assert.Equal(t, "2026-12-15T12:00:00+08:00", paid["time_end"])
			assert.Equal(t, "skipped", byTx["4200000003"]["state"])
			assert.Equal(t, "appid", byTx["4200000003"]["why"])
			assert.Contains(t, byTx["4200000003"]["reason"], "cannot receive this packet")
			assert.Equal(t, "", byTx["4200000003"]["mch_billno"])

			rep = runLong(t, env, "rules", "report", "--format", "json")
			require.Equal(t, exitOK, rep.code, rep)
			lines := strings.Split(strings.TrimSpace(rep.stdout), "\n")
			require.Len(t, lines, 4)
			for _, l := range lines {
				var a map[string]any
				require.NoError(t, json.Unmarshal([]byte(l), &a), l)
				if a["transaction_id"] == "4200000001" {
					assert.Equal(t, "paid", a["outcome"])
					assert.Equal(t, pk.DetailID, a["send_listid"])
				}
			}

			// A rule set is a campaign: campaign report lists its row.
			rows := reportRows(t, env, "rules")
			require.Len(t, rows, 1)
			assertReportMatchesLedger(t, f.srv, rows)
		})
	}
}

// TestRulesServeForward: the merchant's handler behind --forward fails,
// so WeChat is answered FAIL; WeChat notifies again once it recovers and
// is answered SUCCESS; one award in the end. A notification this process
// cannot verify goes to the handler too, awards nothing, and is answered
// FAIL, so that WeChat notifies again until this process can verify it.
func TestRulesServeForward(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			env := campaignEnv(f, dbOf(t, kind, f.dir))
			var (
				healthy atomic.Bool
				mu      sync.Mutex
				got     [][]byte
			)
			merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, body)
				mu.Unlock()
				if !healthy.Load() {
					http.Error(w, "the order system is down", http.StatusBadGateway)
					return
				}
				io.WriteString(w, `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>`)
			}))
			defer merchant.Close()
			p := startServe(t, env, "--config", rulesFile(t, f.dir, issueRules), "--no-confirm", "--no-rate-limit",
				"--forward", merchant.URL+"/wechat/notify")
			body := signed(payment("4200000101", campaignOpenIDs(1)[0], testAppID, 10000), f.apiKey)
			for range 2 {
				require.Equal(t, "FAIL", notify(t, nil, p.url, "notify", body), "the merchant's handler failed")
			}
			healthy.Store(true)
			require.Equal(t, "SUCCESS", notify(t, nil, p.url, "notify", body), "delivered again after the handler recovered")

			forged := signed(payment("4200000102", campaignOpenIDs(2)[1], testAppID, 90000), strings.Repeat("0", 32))
			require.Equal(t, "FAIL", notify(t, nil, p.url, "notify", forged), "forwarded for the merchant's handler, but not verified here: WeChat must notify again")

			st := waitPaid(t, env, "rules", 1)
			require.Equal(t, exitInterrupted, p.stop(t), "stderr:\n%s", p.stderr)
			require.Len(t, st.Rules, 1)
			assert.Equal(t, map[string]int64{"queued": 1}, st.Rules[0].Awards, "one award for three deliveries; none for the forgery")
			assert.Equal(t, int64(1), st.Payments)
			assert.Equal(t, int64(500), st.Rules[0].Spent)
			require.Len(t, f.srv.Packets(), 1)
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, got, 4, "every delivery was forwarded")
			for _, b := range got[:3] {
				assert.Equal(t, string(body), string(b), "forwarded unchanged")
			}
			assert.Equal(t, string(forged), string(got[3]))
			assert.Equal(t, 3, strings.Count(p.stderr.String(), "answered FAIL"), p.stderr.String())
		})
	}
}

// TestRulesServeTLS: with --tls-cert and --tls-key the notifications are
// served over HTTPS (a throwaway certificate from internal/pki); plain
// HTTP to it gets no award; the two flags go together.
func TestRulesServeTLS(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "rules.db"))
	ca, err := pki.NewCA("redpack test notify CA")
	require.NoError(t, err)
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1"}})
	require.NoError(t, err)
	cert := f.write(t, "notify.pem", leaf.CertPEM())
	key := f.write(t, "notify-key.pem", leaf.KeyPEM())
	config := rulesFile(t, f.dir, issueRules)

	r := runLong(t, env, "rules", "serve", "--config", config, "--tls-cert", cert, "--listen", "127.0.0.1:0")
	require.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "--tls-cert and --tls-key go together")

	p := startServe(t, env, "--config", config, "--no-confirm", "--no-rate-limit", "--tls-cert", cert, "--tls-key", key)
	require.True(t, strings.HasPrefix(p.url, "https://127.0.0.1:"), p.url)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
	body := signed(payment("4200000201", campaignOpenIDs(1)[0], testAppID, 10000), f.apiKey)
	require.Equal(t, "SUCCESS", notify(t, client, p.url, "notify", body))

	plain := strings.Replace(p.url, "https://", "http://", 1)
	resp, err := http.Post(plain+"notify", "text/xml", strings.NewReader(string(body)))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP to the TLS listener")

	waitPaid(t, env, "rules", 1)
	require.Equal(t, exitInterrupted, p.stop(t), p.stderr.String())
	require.Len(t, f.srv.Packets(), 1)
}

// TestRulesServeRefusesBadInput: the rules file's problems, a rule for
// another appid than the merchant's, and flags are refused with exit 2
// before anything is served; nothing is created for a file that fails.
func TestRulesServeRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	db := filepath.Join(f.dir, "rules.db")
	env := campaignEnv(f, db)
	for _, tc := range []struct {
		name  string
		rules string
		extra []string
		want  string
	}{
		{"a bad rule", strings.Replace(issueRules, `"budget": 75000`, `"budget": 0`, 1), nil, "rule spend100: budget: required"},
		{"another appid", strings.Replace(issueRules, testAppID, "wx0000000000000000", 1), nil, "rule spend100: appid wx0000000000000000 is not the merchant's"},
		{"a bad forward", issueRules, []string{"--forward", "ftp://x"}, `--forward: "ftp://x" is not an http:// or https:// URL`},
		{"a bad rate", issueRules, []string{"--rate", "0"}, "--rate must be a positive number"},
		{"a bad name", issueRules, []string{"--name", "Rules!"}, "only lower-case letters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"rules", "serve", "--listen", "127.0.0.1:0", "--config", rulesFile(t, t.TempDir(), tc.rules)}, tc.extra...)
			r := runLong(t, env, args...)
			require.Equal(t, exitUsage, r.code, r)
			assert.Contains(t, r.stderr, tc.want)
			assert.NotContains(t, r.stdout, "listening")
		})
	}
	r := runLong(t, env, "rules", "status")
	assert.Equal(t, exitUsage, r.code, "no rule set was defined: %s", r)
	r = runLong(t, campaignEnv(f, filepath.Join(f.dir, "none.db")), "rules", "status")
	require.Equal(t, exitUsage, r.code, r)
	_, err := os.Stat(filepath.Join(f.dir, "none.db"))
	assert.True(t, os.IsNotExist(err), "status never creates a database")
}

// TestRulesServeStopsWithTheRun: the payer's stop is the serve's: a
// balance too low ends it with exit 6, and the award waits with its bill
// number for the next serve, which pays it.
func TestRulesServeStopsWithTheRun(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "rules.db"))
	config := rulesFile(t, f.dir, issueRules)
	require.NoError(t, f.srv.SetBalance(testMchID, 100))
	p := startServe(t, env, "--config", config, "--no-confirm", "--no-rate-limit")
	require.Equal(t, "SUCCESS", notify(t, nil, p.url, "notify", signed(payment("4200000301", campaignOpenIDs(1)[0], testAppID, 10000), f.apiKey)))
	require.Equal(t, exitBalanceLow, p.wait(t), "stderr:\n%s", p.stderr)
	assert.Contains(t, p.stderr.String(), "balance too low")
	assert.Contains(t, p.stderr.String(), "redpack rules serve --config")
	require.Zero(t, f.srv.Paid(testMchID), "nothing paid")
	st := rulesStatus(t, env, "rules")
	require.Equal(t, int64(1), st.Rows, "the award is a row")
	require.Equal(t, int64(1), st.Pending, "waiting with its bill number")

	require.NoError(t, f.srv.SetBalance(testMchID, 1_000_000))
	p = startServe(t, env, "--config", config, "--no-confirm", "--no-rate-limit")
	waitPaid(t, env, "rules", 1)
	require.Equal(t, exitInterrupted, p.stop(t), p.stderr.String())
	assert.Equal(t, int64(500), f.srv.Paid(testMchID))
}

// TestRulesServeSignals runs serve as its own process: a second serve on
// the same SQLite file exits 2 without serving; SIGTERM stops the first,
// which answers what it was given and exits 130.
func TestRulesServeSignals(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "rules.db"))
	config := rulesFile(t, f.dir, issueRules)
	cmd := exec.Command(os.Args[0], "rules", "serve", "--config", config, "--no-confirm", "--no-rate-limit", "--listen", "127.0.0.1:0")
	cmd.Env = []string{runMainEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(done)
	}()
	var base string
	select {
	case line := <-lines:
		m := serveLine.FindStringSubmatch(line)
		require.NotNil(t, m, "start line %q; stderr:\n%s", line, stderr)
		base = m[1]
	case <-time.After(waitTimeout):
		t.Fatalf("rules serve did not start:\n%s", stderr)
	}

	second, line := launchServe(t, env, "--config", config, "--no-confirm")
	require.Equal(t, exitUsage, second.wait(t), "stderr:\n%s", second.stderr)
	assert.Empty(t, line, "the second serve never listened")
	assert.Contains(t, second.stderr.String(), "one serve at a time pays a SQLite file")

	require.Equal(t, "SUCCESS", notify(t, nil, base, "notify", signed(payment("4200000401", campaignOpenIDs(1)[0], testAppID, 10000), f.apiKey)))
	waitPaid(t, env, "rules", 1)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("rules serve did not stop on SIGTERM:\n%s", stderr)
	}
	require.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode(), "stderr:\n%s", stderr)
	assert.Contains(t, stderr.String(), "Stopped: no longer answering notifications")
	_, err = http.Post(base+"notify", "text/xml", strings.NewReader("<xml/>"))
	require.Error(t, err, "nothing listens after the stop")
}

// TestRulesReadme: the README's rules section shows a rules file that
// check accepts, names every flag of serve's own, and proxies to serve's
// default listener.
func TestRulesReadme(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := string(data)
	start := strings.Index(readme, "## Rules (满额送)")
	require.Positive(t, start, "the README has a rules section")
	end := strings.Index(readme[start+1:], "\n## ")
	require.Positive(t, end)
	section := readme[start : start+1+end]
	require.Less(t, strings.Index(readme, "## Campaigns"), start, "after Campaigns")

	block := regexp.MustCompile("(?s)```json\n(.*?)```").FindStringSubmatch(section)
	require.NotNil(t, block, "a rules file in the section")
	r := runCLI(t, nil, "", "rules", "check", "--config", rulesFile(t, t.TempDir(), block[1]))
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, strings.Join(strings.Fields(issueRules), ""), strings.Join(strings.Fields(block[1]), ""), "the issue's example")

	serve := commandTree(t)["rules serve"]
	serve.Flags().VisitAll(func(f *pflag.Flag) {
		if len(f.Annotations[flagGroupKey]) == 0 && f.Name != "help" { // serve's own flags
			assert.Contains(t, section, "--"+f.Name, "the README's rules section names --%s", f.Name)
		}
	})
	assert.Contains(t, section, "proxy_pass http://"+serve.Flags().Lookup("listen").DefValue+"/notify")
	for _, key := range []string{"cash_fee", "total_fee", "tiers", "random", "budget", "user_daily_count", "user_daily_amount", "user_count", "user_amount"} {
		assert.Contains(t, section, "`"+key+"`")
	}
}

// TestRulesServeConfirmsWithOrderQuery: payments made on the fake
// (redpacktest's payment side) deliver their own signed notifications to
// serve; without --no-confirm an award is paid only once pay/orderquery
// confirms it. A notification correctly signed but for an order WeChat
// never had (a key leaked, say) is journalled and then refused: nothing is
// paid and its amount goes back to the budget.
func TestRulesServeConfirmsWithOrderQuery(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			env := campaignEnv(f, dbOf(t, kind, f.dir))
			p := startServe(t, env, "--config", rulesFile(t, f.dir, issueRules), "--no-rate-limit")
			ids := campaignOpenIDs(3)
			dec15 := time.Date(2026, 12, 15, 12, 0, 0, 0, chinaTime)
			paid, err := f.srv.Pay(redpacktest.PaymentRequest{OpenID: ids[0], TotalFee: 12000, TimeEnd: dec15, NotifyURL: p.url + "notify"})
			require.NoError(t, err)
			_, err = f.srv.Pay(redpacktest.PaymentRequest{OpenID: ids[1], TotalFee: 5000, TimeEnd: dec15, NotifyURL: p.url + "notify"})
			require.NoError(t, err)
			ghost := payment("4200000000000000000000009999", ids[2], testAppID, 10000)
			require.Equal(t, "SUCCESS", notify(t, nil, p.url, "notify", signed(ghost, f.apiKey)))

			st := waitPaid(t, env, "rules", 1)
			deadline := time.Now().Add(time.Minute)
			for st.Rules[0].Awards["refused"] == 0 && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				st = rulesStatus(t, env, "rules")
			}
			require.Equal(t, exitInterrupted, p.stop(t), p.stderr.String())
			r := st.Rules[0]
			assert.Equal(t, map[string]int64{"queued": 1, "skipped": 1, "refused": 1}, r.Awards)
			assert.Equal(t, map[string]int64{"no_order": 1}, r.Refused)
			assert.Equal(t, int64(500), r.Spent, "the refused award's amount is back in the budget")
			pk := f.srv.Packets()
			require.Len(t, pk, 1)
			assert.Equal(t, ids[0], pk[0].ReOpenID)
			rows := reportRows(t, env, "rules")
			require.Len(t, rows, 1)
			assertReportMatchesLedger(t, f.srv, rows)

			rep := runLong(t, env, "rules", "report", "--format", "csv")
			require.Equal(t, exitOK, rep.code, rep)
			assert.Contains(t, rep.stdout, paid.TransactionID)
		})
	}
}

// TestRulesReportRefusesWhatIsNoRuleSet: rules report on a file's campaign
// or an unknown name exits 2 with the reason and creates no --out file.
func TestRulesReportRefusesWhatIsNoRuleSet(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	r := runLong(t, env, createArgs("spring", writeLines(t, f.dir, "a.txt", campaignOpenIDs(2)...), "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	out := filepath.Join(f.dir, "awards.csv")
	r = runLong(t, env, "rules", "report", "--name", "spring", "--out", out)
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "not a rule set")
	r = runLong(t, env, "rules", "report", "--name", "sprung", "--out", out)
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "spring", "did you mean")
	assert.NoFileExists(t, out)
}
