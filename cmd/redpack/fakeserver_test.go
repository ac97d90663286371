package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redpack-go/redpack/internal/pki"
	"github.com/redpack-go/redpack/redpacktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runMainEnv makes the test binary run the command itself (TestMain), so
// that the fake server is tested as the separate process users start,
// without a second build.
const runMainEnv = "REDPACK_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// Generous limits: the machine is shared and small.
const (
	procTimeout = 3 * time.Minute
	waitTimeout = time.Minute
)

// fakeProc is a fake-server running as a subprocess.
type fakeProc struct {
	t        *testing.T
	cmd      *exec.Cmd
	baseURL  string
	adminURL string
	dir      string
	stderr   *lockedBuffer
	done     chan struct{} // closed when the process has exited
	waitErr  error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var startLine = regexp.MustCompile(`^redpack fake-server listening on (https://\S+/) with control API (http://\S+/) and credentials in (.+)merchant\.json$`)

// startFake starts fake-server on free loopback ports with dir and waits
// for its start line. The process is killed when the test ends, if it is
// still running.
func startFake(t *testing.T, dir string, extra ...string) *fakeProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	args := append([]string{"fake-server", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--dir", dir}, extra...)
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &fakeProc{t: t, cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill() // harmless if it has exited
		<-p.done
		cancel()
	})

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	select {
	case line, ok := <-lines:
		require.True(t, ok, "fake-server printed nothing; stderr:\n%s", p.stderr)
		m := startLine.FindStringSubmatch(line)
		require.NotNil(t, m, "start line %q", line)
		p.baseURL, p.adminURL, p.dir = m[1], m[2], m[3]
	case <-time.After(waitTimeout):
		t.Fatalf("fake-server did not start; stderr:\n%s", p.stderr)
	}
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *fakeProc) stop() int {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(waitTimeout):
		p.t.Fatalf("fake-server did not stop on SIGTERM; stderr:\n%s", p.stderr)
	}
	if p.waitErr != nil {
		if ee, ok := p.waitErr.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		p.t.Fatalf("wait: %v", p.waitErr)
	}
	return 0
}

// curlPath finds curl; it is required, never skipped (.ci/run installs it).
func curlPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is needed to test fake-server with a client redpack did not write: install it (.ci/run does): %v", err)
	}
	return path
}

// curl runs curl with args and stdin, and returns its stdout.
func curl(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, curlPath(t), append([]string{"-sS", "--max-time", "50"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "curl %v: %s", args, stderr.String())
	return stdout.String()
}

// merchantCreds is what merchant.json gives a client.
type merchantCreds struct {
	MchID        string   `json:"mch_id"`
	AppID        string   `json:"appid"`
	APIKey       string   `json:"api_key"`
	BaseURL      string   `json:"base_url"`
	AdminURL     string   `json:"admin_url"`
	CACert       string   `json:"ca_cert"`
	CertP12      string   `json:"cert_p12"`
	CertPassword string   `json:"cert_password"`
	CertPEM      string   `json:"cert_pem"`
	KeyPEM       string   `json:"key_pem"`
	MiniAppIDs   []string `json:"mini_program_appids"`
	Merchants    []struct {
		MchID      string   `json:"mch_id"`
		AppID      string   `json:"appid"`
		MiniAppIDs []string `json:"mini_program_appids"`
		APIKey     string   `json:"api_key"`
		CertPEM    string   `json:"cert_pem"`
		KeyPEM     string   `json:"key_pem"`
	} `json:"merchants"`
}

func readCreds(t *testing.T, dir string) merchantCreds {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "merchant.json"))
	require.NoError(t, err)
	var c merchantCreds
	require.NoError(t, json.Unmarshal(data, &c))
	return c
}

// md5Sign is WeChat's APIv2 MD5 signature, written here from the spec
// (§4.1) rather than taken from package redpack or the server.
func md5Sign(fields map[string]string, key string) string {
	var names []string
	for k, v := range fields {
		if k != "sign" && v != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + "=" + fields[k] + "&")
	}
	b.WriteString("key=" + key)
	return fmt.Sprintf("%X", md5.Sum([]byte(b.String())))
}

func xmlOf(fields map[string]string) []byte {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString("<xml>")
	for _, k := range names {
		fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>", k, fields[k], k)
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

// wechatAnswer reads an answer's top-level fields.
func wechatAnswer(t *testing.T, raw string) map[string]string {
	t.Helper()
	var doc struct {
		XMLName xml.Name
		Fields  []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	}
	require.NoError(t, xml.Unmarshal([]byte(raw), &doc), "answer: %s", raw)
	out := make(map[string]string)
	for _, f := range doc.Fields {
		out[f.XMLName.Local] = strings.TrimSpace(f.Text)
	}
	return out
}

var testNonce atomic.Int64

func packetFields(mchID, appID, bill, amount string) map[string]string {
	return map[string]string{
		"mch_billno": bill, "mch_id": mchID, "wxappid": appID,
		"nonce_str": fmt.Sprintf("n%031d", testNonce.Add(1)),
		"send_name": "天虹百货", "re_openid": openID, "total_amount": amount, "total_num": "1",
		"wishing": "新年快乐", "client_ip": "192.168.0.1", "act_name": "新年红包", "remark": "快来抢",
	}
}

// wechatClient posts signed bodies with curl, with the PEM files of
// merchant.json.
type wechatClient struct {
	t     *testing.T
	creds merchantCreds
	base  string   // base URL to post to
	tls   []string // curl's TLS flags
	signs []string // every sign sent, to check the log never shows one
}

func newWechatClient(t *testing.T, c merchantCreds) *wechatClient {
	return &wechatClient{t: t, creds: c, base: c.BaseURL,
		tls: []string{"--cacert", c.CACert, "--cert", c.CertPEM, "--key", c.KeyPEM}}
}

// post signs fields with key (the merchant's unless given) and posts them.
func (w *wechatClient) post(op string, fields map[string]string, key ...string) map[string]string {
	w.t.Helper()
	k := w.creds.APIKey
	if len(key) > 0 {
		k = key[0]
	}
	fields["sign"] = md5Sign(fields, k)
	w.signs = append(w.signs, fields["sign"])
	return w.postRaw(op, xmlOf(fields), w.tls...)
}

func (w *wechatClient) postRaw(op string, body []byte, tlsFlags ...string) map[string]string {
	w.t.Helper()
	args := append(append([]string{}, tlsFlags...), "-H", "Content-Type: text/xml; charset=utf-8",
		"--data-binary", "@-", w.base+"mmpaymkttransfers/"+op)
	return wechatAnswer(w.t, curl(w.t, body, args...))
}

// adminGet and adminPost call the control API with curl and decode JSON.
func adminGet(t *testing.T, p *fakeProc, path string, out any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(curl(t, nil, "--fail-with-body", p.adminURL+path)), out))
}

func adminPost(t *testing.T, p *fakeProc, method, path, body string, out any) {
	t.Helper()
	raw := curl(t, nil, "--fail-with-body", "-X", method, "-d", body, p.adminURL+path)
	if out != nil {
		require.NoError(t, json.Unmarshal([]byte(raw), out), raw)
	}
}

type ledgerPacket struct {
	MchBillNo    string `json:"mch_billno"`
	DetailID     string `json:"detail_id"`
	Status       string `json:"status"`
	Paid         bool   `json:"paid"`
	TotalAmount  int64  `json:"total_amount"`
	RefundAmount int64  `json:"refund_amount"`
	Receivers    []struct {
		OpenID string `json:"openid"`
	} `json:"receivers"`
}

type ledgerMerchant struct {
	Balance int64 `json:"balance"`
	Paid    int64 `json:"paid"`
}

// TestFakeServerWithCurl is the issue's acceptance test: the program as a
// subprocess, driven by curl with bodies signed here.
func TestFakeServerWithCurl(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "creds")
	p := startFake(t, dir, "--clock", "2025-01-01T12:00:00+08:00")
	absDir, err := filepath.Abs(dir)
	require.NoError(t, err)
	require.Equal(t, absDir+string(filepath.Separator), p.dir)

	// The files a client needs, secrets readable by the owner only.
	for name, perm := range map[string]os.FileMode{
		"ca.pem": 0o644, "ca-key.TEST-ONLY.pem": 0o600, "apiclient_cert.p12": 0o600,
		"apiclient_cert.pem": 0o644, "apiclient_key.pem": 0o600, "merchant.json": 0o600,
	} {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, perm, st.Mode().Perm(), name)
	}
	c := readCreds(t, dir)
	assert.Equal(t, redpacktest.DefaultMchID, c.MchID)
	assert.Equal(t, redpacktest.DefaultAppID, c.AppID)
	assert.Equal(t, redpacktest.DefaultAPIKey, c.APIKey)
	assert.Equal(t, p.baseURL, c.BaseURL)
	assert.Equal(t, p.adminURL, c.AdminURL)
	assert.Equal(t, c.MchID, c.CertPassword)
	w := newWechatClient(t, c)
	mch := c.MchID

	// A good packet is paid once.
	bill := mch + "20250101" + "0000000001"
	first := w.post("sendredpack", packetFields(mch, c.AppID, bill, "1000"))
	require.Equal(t, "SUCCESS", first["result_code"], first)
	require.NotEmpty(t, first["send_listid"])
	var pk ledgerPacket
	adminGet(t, p, "packets/"+bill, &pk)
	assert.Equal(t, ledgerPacket{MchBillNo: bill, DetailID: first["send_listid"], Status: "SENT", Paid: true,
		TotalAmount: 1000, Receivers: pk.Receivers}, pk)
	var m ledgerMerchant
	adminGet(t, p, "merchants/"+mch, &m)
	assert.Equal(t, ledgerMerchant{Balance: redpacktest.DefaultBalance - 1000, Paid: 1000}, m)

	// The same bill number again (new nonce, new sign) pays nothing more.
	again := w.post("sendredpack", packetFields(mch, c.AppID, bill, "1000"))
	require.Equal(t, "SUCCESS", again["result_code"], again)
	assert.Equal(t, first["send_listid"], again["send_listid"])
	adminGet(t, p, "merchants/"+mch, &m)
	assert.Equal(t, int64(1000), m.Paid, "a re-send paid again")

	// Changed fields under the same bill number: FATAL_ERROR.
	changed := w.post("sendredpack", packetFields(mch, c.AppID, bill, "2000"))
	assert.Equal(t, "FATAL_ERROR", changed["err_code"], changed)

	// A bad signature: SIGN_ERROR.
	badSign := w.post("sendredpack", packetFields(mch, c.AppID, mch+"202501010000000002", "1000"), "0123456789abcdef0123456789abcdef")
	assert.Equal(t, "SIGN_ERROR", badSign["err_code"], badSign)

	// No client certificate: CA_ERROR, in XML.
	fs := packetFields(mch, c.AppID, mch+"202501010000000003", "1000")
	fs["sign"] = md5Sign(fs, c.APIKey)
	noCert := w.postRaw("sendredpack", xmlOf(fs), "--cacert", c.CACert)
	assert.Equal(t, "CA_ERROR", noCert["err_code"], noCert)
	assert.Equal(t, "FAIL", noCert["return_code"])

	// The .p12 works as Java and PHP clients use it (password = mch_id).
	p12Bill := mch + "202501010000000004"
	w.tls = []string{"--cacert", c.CACert, "--cert-type", "P12", "--cert", c.CertP12 + ":" + c.CertPassword}
	viaP12 := w.post("sendredpack", packetFields(mch, c.AppID, p12Bill, "500"))
	assert.Equal(t, "SUCCESS", viaP12["result_code"], viaP12)
	w.tls = []string{"--cacert", c.CACert, "--cert", c.CertPEM, "--key", c.KeyPEM}

	// A scripted fault: paid, but the answer says SYSTEMERROR.
	adminPost(t, p, "POST", "faults", `{"kind": "SystemErrorAfterCommit", "op": "sendredpack"}`, nil)
	faultBill := mch + "202501010000000005"
	faulted := w.post("sendredpack", packetFields(mch, c.AppID, faultBill, "300"))
	assert.Equal(t, "SYSTEMERROR", faulted["err_code"], faulted)
	adminGet(t, p, "packets/"+faultBill, &pk)
	assert.True(t, pk.Paid, "SystemErrorAfterCommit paid nothing")
	settled := w.post("sendredpack", packetFields(mch, c.AppID, faultBill, "300"))
	assert.Equal(t, "SUCCESS", settled["result_code"], settled)
	adminGet(t, p, "merchants/"+mch, &m)
	assert.Equal(t, int64(1000+500+300), m.Paid)

	// Claim one, let another expire: SENT → RFUND_ING → REFUND.
	adminPost(t, p, "POST", "packets/"+bill+"/claim", "", &pk)
	assert.Equal(t, "RECEIVED", pk.Status)
	adminPost(t, p, "POST", "clock/advance", `{"duration": "24h"}`, nil)
	adminGet(t, p, "packets/"+p12Bill, &pk)
	assert.Equal(t, "RFUND_ING", pk.Status)
	adminPost(t, p, "POST", "clock/advance", `{"duration": "1h"}`, nil)
	q := w.post("gethbinfo", map[string]string{"mch_billno": p12Bill, "mch_id": mch, "appid": c.AppID,
		"bill_type": "MCHT", "nonce_str": "q1"})
	assert.Equal(t, "REFUND", q["status"], q)
	assert.Equal(t, "500", q["refund_amount"], q)

	// The ledger in full, then reset.
	var all []ledgerPacket
	adminGet(t, p, "packets", &all)
	assert.Len(t, all, 3)
	adminPost(t, p, "PUT", "merchants/"+mch+"/balance", `{"balance": 0}`, nil)
	poor := w.post("sendredpack", packetFields(mch, c.AppID, mch+"202501010000000006", "100"))
	assert.Equal(t, "NOTENOUGH", poor["err_code"], poor)
	adminPost(t, p, "POST", "reset", "", nil)
	adminGet(t, p, "packets", &all)
	assert.Empty(t, all)
	adminGet(t, p, "merchants/"+mch, &m)
	assert.Equal(t, ledgerMerchant{Balance: redpacktest.DefaultBalance}, m)

	// SIGTERM stops it cleanly.
	require.Equal(t, 0, p.stop(), p.stderr.String())
	logs := p.stderr.String()
	assert.Contains(t, logs, "redpack fake-server: stopped")
	for _, want := range []string{"op=sendredpack", "mch_billno=" + bill, "err_code=FATAL_ERROR", "err_code=CA_ERROR",
		"fault=SystemErrorAfterCommit", "op=gethbinfo", "status=200"} {
		assert.Contains(t, logs, want)
	}
	assert.NotContains(t, logs, c.APIKey)
	for _, s := range w.signs {
		assert.NotContains(t, logs, s[:12], "the log shows a signature")
	}
}

// TestFakeServerRestart starts the program twice on one directory: the
// credentials stay, and a client set up from the first run works against
// the second.
func TestFakeServerRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "creds")
	files := []string{"ca.pem", "ca-key.TEST-ONLY.pem", "apiclient_cert.p12", "apiclient_cert.pem", "apiclient_key.pem",
		"merchants/1900000109/apiclient_cert.p12"}
	read := func() map[string][]byte {
		out := make(map[string][]byte)
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(dir, f))
			require.NoError(t, err)
			out[f] = data
		}
		return out
	}

	p1 := startFake(t, dir)
	c1 := readCreds(t, dir)
	before := read()
	w := newWechatClient(t, c1)
	a := w.post("sendredpack", packetFields(c1.MchID, c1.AppID, c1.MchID+"202501020000000001", "1000"))
	require.Equal(t, "SUCCESS", a["result_code"], a)
	require.Equal(t, 0, p1.stop())

	p2 := startFake(t, dir)
	c2 := readCreds(t, dir)
	after := read()
	for _, f := range files {
		assert.Equal(t, before[f], after[f], "%s changed", f)
	}
	assert.Equal(t, c1.APIKey, c2.APIKey)
	assert.Equal(t, c1.CertP12, c2.CertP12)
	assert.Equal(t, p2.baseURL, c2.BaseURL)

	// The first run's client, pointed at the second run.
	w.base = p2.baseURL
	a = w.post("sendredpack", packetFields(c1.MchID, c1.AppID, c1.MchID+"202501020000000002", "1000"))
	require.Equal(t, "SUCCESS", a["result_code"], a)

	// The README's curl request works as it stands against the default
	// merchant.
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	_, sample, ok := strings.Cut(string(readme), "--data-binary @- <<'XML'\n")
	require.True(t, ok, "README has no sample request")
	sample, _, ok = strings.Cut(sample, "\nXML\n")
	require.True(t, ok)
	a = w.postRaw("sendredpack", []byte(sample), w.tls...)
	require.Equal(t, "SUCCESS", a["result_code"], a)
	require.Equal(t, "1900000109202501011234567890", a["mch_billno"])

	require.Equal(t, 0, p2.stop())
}

// TestFakeServerConfig runs the command in-process with two merchants
// from a config file, and stops it by cancelling its context.
func TestFakeServerConfig(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	cfg := filepath.Join(tmp, "fake.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{
		"merchants": [
			{"mch_id": "1230000109", "api_key": "abcdefghijabcdefghijabcdefghij12", "balance": 5000},
			{"mch_id": "1230000110", "appid": "wx1111111111111111", "scenes": [], "mini_program_appids": ["wx2222222222222222"],
			 "group_offline": true}
		],
		"rate_limit": 0
	}`), 0o600))
	dir := filepath.Join(tmp, "creds")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr lockedBuffer
	codes := make(chan int, 1)
	go func() {
		codes <- run(ctx, []string{"fake-server", "--config", cfg, "--dir", dir, "--addr", "127.0.0.1:0", "--admin-addr", "localhost:0"},
			strings.NewReader(""), pw, &stderr, func(string) string { return "" })
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err, stderr.String())
	go io.Copy(io.Discard, pr)
	m := startLine.FindStringSubmatch(strings.TrimSpace(line))
	require.NotNil(t, m, line)
	p := &fakeProc{t: t, adminURL: m[2]}

	c := readCreds(t, dir)
	require.Len(t, c.Merchants, 2)
	assert.Equal(t, "1230000109", c.MchID)
	assert.Equal(t, "abcdefghijabcdefghijabcdefghij12", c.APIKey)
	assert.Equal(t, redpacktest.DefaultAPIKey, c.Merchants[1].APIKey, "an unset key is the default")
	assert.Equal(t, []string{redpacktest.DefaultMiniProgramAppID}, c.MiniAppIDs, "an unset list is the default")
	assert.Equal(t, []string{"wx2222222222222222"}, c.Merchants[1].MiniAppIDs)
	var ms []struct {
		MchID   string   `json:"mch_id"`
		AppID   string   `json:"appid"`
		Balance int64    `json:"balance"`
		Scenes  []string `json:"scenes"`
	}
	adminGet(t, p, "merchants", &ms)
	require.Len(t, ms, 2)
	assert.Equal(t, int64(5000), ms[0].Balance)
	assert.Equal(t, 8, len(ms[0].Scenes))
	assert.Equal(t, "wx1111111111111111", ms[1].AppID)
	assert.Equal(t, redpacktest.DefaultBalance, ms[1].Balance)
	assert.Empty(t, ms[1].Scenes)

	// The second merchant, with its own certificate from merchants/<mch_id>/.
	second := c.Merchants[1]
	w := newWechatClient(t, c)
	w.tls = []string{"--cacert", c.CACert, "--cert", second.CertPEM, "--key", second.KeyPEM}
	a := w.post("sendredpack", packetFields(second.MchID, second.AppID, second.MchID+"202501030000000001", "1000"), second.APIKey)
	assert.Equal(t, "SUCCESS", a["result_code"], a)
	// Its mini-program's appid is refused on sendredpack.
	a = w.post("sendredpack", packetFields(second.MchID, "wx2222222222222222", second.MchID+"202501030000000003", "1000"), second.APIKey)
	assert.Equal(t, "ILLEGAL_APPID", a["err_code"], a)
	// And group packets, offline for it.
	a = w.post("sendgroupredpack", groupPacketFields(second.MchID, second.AppID, second.MchID+"202501030000000004"), second.APIKey)
	assert.Equal(t, "NO_AUTH", a["err_code"], a)
	// The first merchant's certificate is not the second's: CA_ERROR.
	w.tls = []string{"--cacert", c.CACert, "--cert", c.CertPEM, "--key", c.KeyPEM}
	a = w.post("sendredpack", packetFields(second.MchID, second.AppID, second.MchID+"202501030000000002", "1000"), second.APIKey)
	assert.Equal(t, "CA_ERROR", a["err_code"], a)

	cancel()
	select {
	case code := <-codes:
		assert.Equal(t, exitOK, code, stderr.String())
	case <-time.After(waitTimeout):
		t.Fatal("fake-server did not stop when its context ended")
	}
}

func TestFakeServerUsageErrors(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(tmp, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	badJSON := write("bad.json", `{"merchants": [{"mch_id": "1", "bogus": true}]}`)
	twoMerchants := write("two.json", `{"merchants": [{"mch_id": "1230000109"}]}`)
	trailing := write("trailing.json", `{"rate_limit": 0}}`)
	halfDir := filepath.Dir(write("half/ca.pem", "x"))
	orphanDir := filepath.Dir(filepath.Dir(filepath.Dir(write("orphan/merchants/1900000109/apiclient_cert.pem", "x"))))
	write("orphan/merchants/1900000109/apiclient_key.pem", "x")
	// A directory whose merchant certificate has expired.
	ca, err := pki.NewCA("test CA")
	require.NoError(t, err)
	expired, err := ca.Issue(pki.LeafOptions{CommonName: redpacktest.DefaultMchID, Client: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	require.NoError(t, err)
	write("stale/ca.pem", string(ca.PEM()))
	write("stale/ca-key.TEST-ONLY.pem", string(ca.KeyPEM()))
	write("stale/merchants/1900000109/apiclient_cert.pem", string(expired.CertPEM()))
	staleDir := filepath.Dir(write("stale/merchants/1900000109/apiclient_key.pem", string(expired.KeyPEM())))
	staleDir = filepath.Dir(filepath.Dir(staleDir))

	base := []string{"fake-server", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"stray argument", []string{"now"}, exitUsage, "takes no arguments"},
		{"public admin address", []string{"--admin-addr", "0.0.0.0:0"}, exitUsage, "loopback"},
		{"admin on all interfaces", []string{"--admin-addr", ":0"}, exitUsage, "loopback"},
		{"unknown config key", []string{"--config", badJSON}, exitUsage, `unknown field "bogus"`},
		{"missing config", []string{"--config", filepath.Join(tmp, "none.json")}, exitUsage, "--config"},
		{"config with trailing input", []string{"--config", trailing}, exitUsage, "more than one JSON value"},
		{"config and merchant flags", []string{"--config", twoMerchants, "--mch-id", "1"}, exitUsage, "--mch-id: the merchants come from --config"},
		{"short API key", []string{"--api-key", "short"}, exitUsage, "32 characters, got 5"},
		{"bad clock", []string{"--clock", "noon"}, exitUsage, "--clock"},
		{"CA without its key", []string{"--dir", halfDir}, exitFailure, "ca.pem is there but not"},
		{"merchant without CA", []string{"--dir", orphanDir}, exitFailure, "but no CA"},
		{"expired certificate", []string{"--dir", staleDir}, exitUsage, "expired"},
		{"expired certificate hint", []string{"--dir", staleDir}, exitUsage, "delete the directory to make new ones"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{}, base...), tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "--dir") {
				args = append(args, "--dir", filepath.Join(t.TempDir(), "d"))
			}
			r := runCLI(t, nil, "", args...)
			assert.Equal(t, tc.code, r.code, r)
			assert.Contains(t, r.stderr, tc.want, r)
			assert.Empty(t, r.stdout, "nothing announced for a server that did not start")
			assert.NotContains(t, r.stderr, "short", "the key shows in an error")
		})
	}
}

func TestFakeServerHelp(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "", "help")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "fake-server")

	for _, args := range [][]string{{"fake-server", "--help"}, {"help", "fake-server"}} {
		r := runCLI(t, nil, "", args...)
		require.Equal(t, exitOK, r.code, r)
		for _, want := range []string{"Usage:\n  redpack fake-server [flags]", "--addr", "--admin-addr", "--dir", "--config",
			"--mch-id", "--api-key", "--balance", "ca.pem", "apiclient_cert.p12", "merchant.json", "SIGTERM",
			"POST /clock/advance", "POST /faults", "POST /reset", "curl", "REDPACK_"} {
			assert.Contains(t, r.stdout, want, "%v", args)
		}
		assert.Contains(t, r.stdout, `(default "127.0.0.1:8443")`)
	}
}
