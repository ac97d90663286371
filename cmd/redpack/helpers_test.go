package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/internal/tcpswitch"
	"github.com/redpack-go/redpack/redpacktest"
	"github.com/stretchr/testify/require"
)

const (
	testMchID = redpacktest.DefaultMchID
	testAppID = redpacktest.DefaultAppID
	openID    = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
)

// fixture is a fake WeChat Pay server with the merchant's credentials
// written to files, as a user would have them.
type fixture struct {
	srv    *redpacktest.Server
	dir    string
	p12    string // apiclient_cert.p12, password the mch_id
	caCert string // the fake server's CA, PEM
	apiKey string
}

func newFixture(t *testing.T, opts ...redpacktest.Option) *fixture {
	t.Helper()
	srv := redpacktest.Start(t, opts...)
	m, ok := srv.Merchant(testMchID)
	require.True(t, ok)
	f := &fixture{srv: srv, dir: t.TempDir(), apiKey: m.APIKey}
	f.p12 = f.write(t, "apiclient_cert.p12", srv.PKCS12(testMchID))
	f.caCert = f.write(t, "ca.pem", srv.CACertPEM())
	return f
}

func (f *fixture) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(f.dir, name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// env is the credentials as environment variables, the server's URL and CA
// included.
func (f *fixture) env() map[string]string {
	return map[string]string{
		"REDPACK_MCH_ID":   testMchID,
		"REDPACK_APPID":    testAppID,
		"REDPACK_API_KEY":  f.apiKey,
		"REDPACK_CERT_P12": f.p12,
		"REDPACK_BASE_URL": f.srv.URL(),
		"REDPACK_CA_CERT":  f.caCert,
	}
}

// sendArgs are the flags of a valid normal packet of fen.
func sendArgs(fen string, extra ...string) []string {
	return append([]string{"send",
		"--openid", openID, "--amount", fen,
		"--send-name", "天虹百货", "--wishing", "新年快乐，万事如意",
		"--act-name", "新年红包", "--remark", "快来抢", "--client-ip", "192.168.0.1",
	}, extra...)
}

func groupArgs(fen, num string, extra ...string) []string {
	return append([]string{"send-group",
		"--openid", openID, "--amount", fen, "--num", num,
		"--send-name", "天虹百货", "--wishing", "分享给好友", "--act-name", "裂变红包", "--remark", "三人同享",
	}, extra...)
}

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout\n" + r.stdout + "\n--- stderr\n" + r.stderr
}

// runCLI runs the command in-process with env as its whole environment.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr, getenv)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// flat collapses every run of white space to one space, so that prose can
// be matched however it was wrapped.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// report is --json output, decoded.
type report struct {
	OK       bool            `json:"ok"`
	Command  string          `json:"command"`
	ExitCode int             `json:"exit_code"`
	Result   json.RawMessage `json:"result"`
	Error    *failure        `json:"error"`
}

// decodeOne decodes stdout as exactly one JSON object.
func decodeOne(t *testing.T, stdout string) report {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var r report
	require.NoError(t, dec.Decode(&r), "stdout: %s", stdout)
	_, err := dec.Token()
	require.ErrorIs(t, err, io.EOF, "stdout holds more than one JSON value: %s", stdout)
	return r
}

// closedURL is an https URL on a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	u, err := tcpswitch.ClosedURL()
	require.NoError(t, err)
	return u
}

// billFrom returns the bill number the command announced on out.
func billFrom(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "Bill number"); ok {
			return strings.TrimSpace(rest)
		}
		if _, rest, ok := strings.Cut(line, "redpack: bill number "); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no bill number announced in:\n%s", out)
	return ""
}

// sendDirect sends a packet with the library, for tests of query.
func sendDirect(t *testing.T, srv *redpacktest.Server, fen int64) string {
	t.Helper()
	client, err := srv.Client(testMchID)
	require.NoError(t, err)
	bill := redpack.NewBillNo()
	_, err = client.SendRedPack(context.Background(), packetRequest(bill, openID, fen))
	require.NoError(t, err)
	return bill
}

// resendFrom returns the last line of stderr that starts with prefix: the
// re-send command an unknown outcome's advice gives.
func resendFrom(t *testing.T, stderr, prefix string) string {
	t.Helper()
	resend := ""
	for _, line := range strings.Split(stderr, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, prefix) {
			resend = l
		}
	}
	require.NotEmpty(t, resend, "no line starting with %q in:\n%s", prefix, stderr)
	return resend
}
