package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file tests fake-server as SDKs redpack did not write meet it
// (issue 14).

// inProcFake is fake-server run in this process by run, on free ports.
type inProcFake struct {
	fakeProc
	stderr *lockedBuffer
	codes  chan int
	cancel context.CancelFunc
}

// startInProc runs fake-server with args and waits for its start line; it
// is stopped when the test ends, unless stopped before.
func startInProc(t *testing.T, args ...string) *inProcFake {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	p := &inProcFake{stderr: &lockedBuffer{}, codes: make(chan int, 1), cancel: cancel}
	all := append([]string{"fake-server", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, args...)
	go func() {
		p.codes <- run(ctx, all, strings.NewReader(""), pw, p.stderr, func(string) string { return "" })
		pw.Close()
	}()
	t.Cleanup(func() { p.stop(t) })
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err, p.stderr.String())
	go io.Copy(io.Discard, pr)
	m := startLine.FindStringSubmatch(strings.TrimSpace(line))
	require.NotNil(t, m, line)
	p.t, p.baseURL, p.adminURL, p.dir = t, m[1], m[2], m[3]
	return p
}

// stop cancels the server's context and returns its exit code.
func (p *inProcFake) stop(t *testing.T) int {
	t.Helper()
	p.cancel()
	select {
	case code := <-p.codes:
		p.codes <- code // for a second stop
		return code
	case <-time.After(waitTimeout):
		t.Fatal("fake-server did not stop when its context ended")
		return -1
	}
}

func groupPacketFields(mchID, appID, bill string) map[string]string {
	fs := packetFields(mchID, appID, bill, "900")
	delete(fs, "client_ip")
	fs["total_num"], fs["amt_type"] = "3", "ALL_RAND"
	return fs
}

// TestFakeServerGroupOffline: --group-offline plays a merchant WeChat has
// closed to group packets: NO_AUTH, nothing paid; without it, a legacy one.
func TestFakeServerGroupOffline(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "creds")
	p := startInProc(t, "--dir", dir, "--group-offline")
	c := readCreds(t, dir)
	w := newWechatClient(t, c)
	a := w.post("sendgroupredpack", groupPacketFields(c.MchID, c.AppID, c.MchID+"202501040000000001"))
	assert.Equal(t, "NO_AUTH", a["err_code"], a)
	var m struct {
		Paid         int64 `json:"paid"`
		GroupOffline bool  `json:"group_offline"`
	}
	adminGet(t, &p.fakeProc, "merchants/"+c.MchID, &m)
	assert.True(t, m.GroupOffline)
	assert.Zero(t, m.Paid)
	a = w.post("sendredpack", packetFields(c.MchID, c.AppID, c.MchID+"202501040000000002", "1000"))
	assert.Equal(t, "SUCCESS", a["result_code"], a)
	require.Equal(t, exitOK, p.stop(t), p.stderr.String())

	// The same directory without the flag: group packets are accepted.
	p = startInProc(t, "--dir", dir)
	w.base = p.baseURL
	a = w.post("sendgroupredpack", groupPacketFields(c.MchID, c.AppID, c.MchID+"202501040000000003"))
	assert.Equal(t, "SUCCESS", a["result_code"], a)

	r := runCLI(t, nil, "", "help", "fake-server")
	assert.Contains(t, r.stdout, "--group-offline")
}

// TestFakeServerOneServerPerDir: a second fake-server on a directory a
// live one holds refuses to start and leaves merchant.json alone; a lock
// whose process is gone is taken over.
func TestFakeServerOneServerPerDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "creds")
	p1 := startFake(t, dir)
	before, err := os.ReadFile(filepath.Join(dir, "merchant.json"))
	require.NoError(t, err)
	lock, err := os.ReadFile(filepath.Join(dir, "fake-server.lock"))
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(p1.cmd.Process.Pid)+"\n", string(lock))

	r := runCLI(t, nil, "", "fake-server", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--dir", dir)
	assert.Equal(t, exitFailure, r.code, r)
	assert.Contains(t, r.stderr, "in use by another fake-server (PID "+strconv.Itoa(p1.cmd.Process.Pid)+")", r)
	assert.Empty(t, r.stdout)
	after, err := os.ReadFile(filepath.Join(dir, "merchant.json"))
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the refused server rewrote merchant.json")
	assert.Equal(t, p1.baseURL, readCreds(t, dir).BaseURL)

	require.Equal(t, 0, p1.stop(), p1.stderr.String())
	_, err = os.Stat(filepath.Join(dir, "fake-server.lock"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "the lock outlived its server")

	// A lock left by a process that is gone (killed), or unreadable, is
	// taken over; so is one naming a live process that holds no lock, such
	// as this one (a container's PID 1, restarted) or init.
	gone := exec.Command("sh", "-c", "exit 0")
	require.NoError(t, gone.Run())
	for _, stale := range []string{strconv.Itoa(gone.Process.Pid) + "\n", "garbage", "", strconv.Itoa(os.Getpid()) + "\n", "1\n"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "fake-server.lock"), []byte(stale), 0o644))
		p := startInProc(t, "--dir", dir)
		lock, err := os.ReadFile(filepath.Join(dir, "fake-server.lock"))
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(os.Getpid())+"\n", string(lock))
		assert.Equal(t, p.baseURL, readCreds(t, dir).BaseURL)
		require.Equal(t, exitOK, p.stop(t), p.stderr.String())
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), "lock", "left behind: %s", e.Name())
	}
}

// TestFakeServerDistrustHint: a client that does not trust ca.pem fails
// the handshake, and the log says to give it ca.pem.
func TestFakeServerDistrustHint(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "creds")
	p := startInProc(t, "--dir", dir)
	host := strings.TrimSuffix(strings.TrimPrefix(p.baseURL, "https://"), "/")
	_, err := tls.Dial("tcp", host, &tls.Config{ServerName: "127.0.0.1"}) // the system's roots only
	require.Error(t, err)
	caPath := filepath.Join(dir, "ca.pem")
	require.Eventually(t, func() bool { return strings.Contains(p.stderr.String(), "hint=") }, waitTimeout, 20*time.Millisecond,
		"no hint in:\n%s", p.stderr)
	logs := p.stderr.String()
	assert.Contains(t, logs, "TLS handshake error")
	assert.Contains(t, logs, caPath)

	// The alert some clients end with, and one that is not about trust.
	var out strings.Builder
	h := tlsHintHandler{Handler: slog.NewTextHandler(&out, nil), caPath: caPath}
	l := slog.NewLogLogger(h, slog.LevelWarn)
	l.Print("http: TLS handshake error from 127.0.0.1:50000: local error: tls: bad record MAC")
	l.Print("http: TLS handshake error from 127.0.0.1:50001: EOF")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], "hint=")
	assert.NotContains(t, lines[1], "hint=")
}

// readmeSamples returns the README's shell blocks that post a sample
// request, as printed.
func readmeSamples(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	var out []string
	for _, part := range strings.Split(string(readme), "```sh\n")[1:] {
		block, _, ok := strings.Cut(part, "```")
		require.True(t, ok, "unclosed block")
		if strings.Contains(block, "<<'XML'") {
			out = append(out, block)
		}
	}
	return out
}

// runSample runs a README block with bash in dir, pointed at base instead
// of the README's https://127.0.0.1:8443/, and reads curl's answer.
func runSample(t *testing.T, dir, base, script string) map[string]string {
	t.Helper()
	require.Contains(t, script, "https://127.0.0.1:8443/")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	curlPath(t) // fails, rather than skips, without curl
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", strings.ReplaceAll(script, "https://127.0.0.1:8443/", base))
	cmd.Dir = dir
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s\n%s", script, stderr.String())
	return wechatAnswer(t, stdout.String())
}

// edit replaces old with new in s, and fails if s does not hold old: a
// README change that drops what a test edits must fail the test.
func edit(t *testing.T, s, old, new string) string {
	t.Helper()
	require.Contains(t, s, old)
	return strings.Replace(s, old, new, 1)
}

// TestReadmeSamples runs the README's curl samples as printed (the port
// aside) and checks each claim its paragraph makes.
func TestReadmeSamples(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	p := startInProc(t, "--dir", filepath.Join(tmp, "wechat-fake"))
	samples := readmeSamples(t)
	require.Len(t, samples, 2, "the README's samples: a send, and the same bill number for 20 CNY")
	send, changed := samples[0], samples[1]
	require.True(t, strings.HasPrefix(send, "cd wechat-fake\n"), send)
	inDir := filepath.Join(tmp, "wechat-fake")
	paid := func() int64 {
		var m ledgerMerchant
		adminGet(t, &p.fakeProc, "merchants/1900000109", &m)
		return m.Paid
	}

	first := runSample(t, tmp, p.baseURL, send)
	require.Equal(t, "SUCCESS", first["result_code"], first)
	require.NotEmpty(t, first["send_listid"])
	again := runSample(t, tmp, p.baseURL, send)
	assert.Equal(t, first["send_listid"], again["send_listid"], "sending it again")
	assert.Equal(t, int64(1000), paid())

	fatal := runSample(t, inDir, p.baseURL, changed)
	assert.Equal(t, "FATAL_ERROR", fatal["err_code"], fatal)

	unsigned := edit(t, send, "<total_amount>1000</total_amount>", "<total_amount>2000</total_amount>")
	assert.Equal(t, "SIGN_ERROR", runSample(t, tmp, p.baseURL, unsigned)["err_code"], "an edit without signing anew")
	wrongSign := edit(t, send, "CC0A027E88D2898D11B3A1D7EFF62847", "0C0A027E88D2898D11B3A1D7EFF62847")
	assert.Equal(t, "SIGN_ERROR", runSample(t, tmp, p.baseURL, wrongSign)["err_code"], "a wrong sign")
	noCert := edit(t, send, " --cert apiclient_cert.pem --key apiclient_key.pem", "")
	assert.Equal(t, "CA_ERROR", runSample(t, tmp, p.baseURL, noCert)["err_code"], "no --cert")
	p12 := edit(t, send, "--cert apiclient_cert.pem --key apiclient_key.pem", "--cert-type P12 --cert apiclient_cert.p12:1900000109")
	assert.Equal(t, first["send_listid"], runSample(t, tmp, p.baseURL, p12)["send_listid"], "the .p12")
	http10 := edit(t, send, "\ncurl ", "\ncurl --http1.0 ")
	assert.Equal(t, first["send_listid"], runSample(t, tmp, p.baseURL, http10)["send_listid"], "curl --http1.0")
	assert.Equal(t, int64(1000), paid(), "paid more than once")
}

// request is sendredpack's body as silenceper/wechat/v2 marshals
// it: encoding/xml of a struct named request, so the root is <request>.
type request struct {
	NonceStr    string `xml:"nonce_str"`
	Sign        string `xml:"sign"`
	MchID       string `xml:"mch_id"`
	MchBillno   string `xml:"mch_billno"`
	Wxappid     string `xml:"wxappid"`
	SendName    string `xml:"send_name"`
	ReOpenID    string `xml:"re_openid"`
	TotalAmount int    `xml:"total_amount"`
	TotalNum    int    `xml:"total_num"`
	Wishing     string `xml:"wishing"`
	ClientIP    string `xml:"client_ip"`
	ActName     string `xml:"act_name"`
	Remark      string `xml:"remark"`
}

// TestFakeServerForeignShapes drives the program with what other SDKs
// send, through curl: gopay's URL from a base URL ending in "/",
// silenceper's <request> body, a .NET writer's byte-order mark, a query
// naming wxappid, other methods; and the control API's errors.
func TestFakeServerForeignShapes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "creds")
	p := startInProc(t, "--dir", dir)
	c := readCreds(t, dir)
	require.True(t, strings.HasSuffix(c.BaseURL, "/"))
	w := newWechatClient(t, c)
	tlsArgs := append([]string{"-H", "Content-Type: text/xml"}, w.tls...)
	postTo := func(url string, body []byte, extra ...string) string {
		t.Helper()
		return curl(t, body, append(append(append([]string{}, tlsArgs...), extra...), "--data-binary", "@-", url)...)
	}
	mch := c.MchID
	bill := func(n int) string { return fmt.Sprintf("%s20250105%010d", mch, n) }

	// gopay: BaseURL + "/mmpaymkttransfers/sendredpack", base_url pasted as is.
	fs := packetFields(mch, c.AppID, bill(1), "1000")
	fs["sign"] = md5Sign(fs, c.APIKey)
	a := wechatAnswer(t, postTo(c.BaseURL+"/mmpaymkttransfers/sendredpack", xmlOf(fs)))
	assert.Equal(t, "SUCCESS", a["result_code"], a)

	// silenceper: <request>…</request>.
	fs = packetFields(mch, c.AppID, bill(2), "1000")
	body, err := xml.Marshal(request{NonceStr: fs["nonce_str"], Sign: md5Sign(fs, c.APIKey), MchID: mch, MchBillno: bill(2),
		Wxappid: c.AppID, SendName: fs["send_name"], ReOpenID: fs["re_openid"], TotalAmount: 1000, TotalNum: 1,
		Wishing: fs["wishing"], ClientIP: fs["client_ip"], ActName: fs["act_name"], Remark: fs["remark"]})
	require.NoError(t, err)
	a = wechatAnswer(t, postTo(c.BaseURL+"mmpaymkttransfers/sendredpack", body))
	assert.Equal(t, "SUCCESS", a["result_code"], a)

	// A byte-order mark.
	fs = packetFields(mch, c.AppID, bill(3), "1000")
	fs["sign"] = md5Sign(fs, c.APIKey)
	a = wechatAnswer(t, postTo(c.BaseURL+"mmpaymkttransfers/sendredpack", append([]byte("\xef\xbb\xbf"), xmlOf(fs)...)))
	assert.Equal(t, "SUCCESS", a["result_code"], a)

	// gethbinfo naming the field wxappid: PARAM_ERROR about appid.
	q := map[string]string{"mch_billno": bill(1), "mch_id": mch, "wxappid": c.AppID, "bill_type": "MCHT", "nonce_str": "q1"}
	a = w.post("gethbinfo", q)
	assert.Equal(t, "PARAM_ERROR", a["err_code"], a)
	assert.Contains(t, a["err_code_des"], "appid")

	// Other methods pay nothing.
	fs = packetFields(mch, c.AppID, bill(4), "1000")
	fs["sign"] = md5Sign(fs, c.APIKey)
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		out := postTo(c.BaseURL+"mmpaymkttransfers/sendredpack", xmlOf(fs), "-X", m, "-o", "/dev/null", "-w", "%{http_code}")
		assert.Equal(t, "405", out, m)
	}
	var m ledgerMerchant
	adminGet(t, &p.fakeProc, "merchants/"+mch, &m)
	assert.Equal(t, int64(3000), m.Paid)

	// The control API's errors are JSON, and the clock does not go back.
	for _, tc := range []struct{ args, status string }{
		{"-X GET " + p.adminURL + "nowhere", "404"},
		{"-X DELETE " + p.adminURL + "packets", "405"},
		{"-X POST " + p.adminURL + "clock/advance -d {\"duration\":\"-240h\"}", "400"},
		{"-X PUT " + p.adminURL + "clock -d {\"now\":\"2020-01-01T00:00:00Z\"}", "409"},
	} {
		out := curl(t, nil, append(strings.Fields(tc.args), "-w", "\n%{http_code} %{content_type}")...)
		i := strings.LastIndex(out, "\n")
		body, status := out[:i], out[i+1:]
		assert.Equal(t, tc.status+" application/json", status, tc.args)
		var e struct {
			Error string `json:"error"`
		}
		assert.NoError(t, json.Unmarshal([]byte(body), &e), body)
		assert.NotEmpty(t, e.Error, tc.args)
	}
}
