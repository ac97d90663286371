package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/redpacktest"
)

var dashboardLine = regexp.MustCompile(`on (http://\S+/) \(read-only`)

// startDashboard runs campaign serve with args on a free port and waits
// until it serves; it is stopped when the test ends.
func startDashboard(t *testing.T, env map[string]string, args ...string) *serveProc {
	t.Helper()
	p, line := launchDashboard(t, env, args...)
	m := dashboardLine.FindStringSubmatch(line)
	require.NotNil(t, m, "start line %q; stderr:\n%s", line, p.stderr)
	p.url = m[1]
	return p
}

// launchDashboard runs campaign serve and returns its first line of
// output ("" if it exited without one).
func launchDashboard(t *testing.T, env map[string]string, args ...string) (*serveProc, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	p := &serveProc{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, code: make(chan int, 1), cancel: cancel}
	all := append([]string{"campaign", "serve", "--listen", "127.0.0.1:0"}, args...)
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

// get fetches url with an optional bearer token.
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// A listener beyond loopback needs a token file, and a short token is
// refused: serve never starts open to the network.
func TestCampaignServeRefusesWithoutToken(t *testing.T) {
	t.Parallel()
	env := map[string]string{campaignDBEnv: filepath.Join(t.TempDir(), "c.db")}
	r := runCLI(t, env, "", "campaign", "serve", "--listen", "0.0.0.0:0")
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "not a loopback address: give --token-file")
	short := writeLines(t, t.TempDir(), "t", "short")
	r = runCLI(t, env, "", "campaign", "serve", "--listen", "0.0.0.0:0", "--token-file", short)
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "at least 16 characters")
}

// The JSON endpoint's figures are status --json's, key by key, for a
// finished campaign with refusals; the list is list --json's. On both
// databases.
func TestCampaignServeJSONEqualsStatus(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			env := campaignEnv(f, dbOf(t, kind, f.dir))
			refusedCampaign(t, f, env, "lean")
			p := startDashboard(t, env)

			r := runLong(t, env, "campaign", "status", "lean", "--json")
			require.Equal(t, exitOK, r.code, r)
			var want map[string]any
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &want))
			code, body := get(t, p.url+"api/campaigns/lean", "")
			require.Equal(t, http.StatusOK, code, body)
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(body), &got))
			require.NotEmpty(t, want)
			for k, v := range want {
				assert.Equal(t, v, got[k], "key %s", k)
			}
			assert.EqualValues(t, 2, got["refusals"].(map[string]any)["OPENID_ERROR"])
			assert.Len(t, got["needs_person"], 2, "the two refused rows need a person")

			r = runLong(t, env, "campaign", "list", "--json")
			require.Equal(t, exitOK, r.code, r)
			code, body = get(t, p.url+"api/campaigns", "")
			require.Equal(t, http.StatusOK, code, body)
			assert.JSONEq(t, r.stdout, body)
		})
	}
}

// refusedCampaign creates and runs a campaign of 5 rows, two of them
// refused OPENID_ERROR.
func refusedCampaign(t *testing.T, f *fixture, env map[string]string, name string) {
	t.Helper()
	file := writeLines(t, f.dir, name+".txt", campaignOpenIDs(5)...)
	r := runLong(t, env, createArgs(name, file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	for _, row := range reportRows(t, env, name)[3:] {
		require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "sendredpack", MchBillNo: row["mch_billno"], Kind: redpacktest.ErrCodeAnswer,
			ErrCode: "OPENID_ERROR", ErrCodeDes: "openid字段不正确"}))
	}
	r = runLong(t, env, "campaign", "run", name, "--workers", "1", "--timeout", "1s")
	require.Equal(t, exitOK, r.code, r)
}
