package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/internal/pki"
)

// commandTree is every command of a fresh tree, by path ("send",
// "campaign run"), cobra's hidden ones aside.
func commandTree(t *testing.T) map[string]*cobra.Command {
	t.Helper()
	root := newRootCmd(&env{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), getenv: func(string) string { return "" }})
	out := map[string]*cobra.Command{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		out[strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), "redpack"), " ")] = c
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// Every command has help, through "redpack help …" and --help alike, with
// its usage, an example and its flags.
func TestEveryCommandHasHelpWithAnExample(t *testing.T) {
	t.Parallel()
	tree := commandTree(t)
	require.Contains(t, tree, "campaign run")
	require.Contains(t, tree, "completion zsh")
	for path, c := range tree {
		words := strings.Fields(path)
		assert.NotEmpty(t, c.Example, "%q has no example", path)
		viaHelp := runCLI(t, nil, "", append([]string{"help"}, words...)...)
		require.Equal(t, exitOK, viaHelp.code, "help %s: %s", path, viaHelp)
		viaFlag := runCLI(t, nil, "", append(words, "--help")...)
		require.Equal(t, exitOK, viaFlag.code, "%s --help: %s", path, viaFlag)
		assert.Equal(t, viaHelp.stdout, viaFlag.stdout, "%q: help and --help differ", path)
		for _, want := range []string{"Usage:\n  " + c.CommandPath(), "Examples:\n", "-h, --help"} {
			assert.Contains(t, viaHelp.stdout, want, "%q", path)
		}
	}
}

// exampleLines are the command lines of an Example text: continuation
// lines joined, comments and shell redirections cut off.
func exampleLines(example string) []string {
	var out []string
	for _, line := range strings.Split(strings.ReplaceAll(example, "\\\n", " "), "\n") {
		line = strings.TrimSpace(line)
		for _, cut := range []string{" #", " >", " |"} {
			line, _, _ = strings.Cut(line, cut)
		}
		if strings.HasPrefix(line, "redpack ") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// TestExamplesRun runs the examples of the help, in an order in which
// each finds what the one before left, against a fake server started as
// the examples say ("redpack fake-server --dir redpack-fake"). Only lines
// that cannot run here are skipped: the fake server itself, which runs
// until stopped, PostgreSQL URLs and placeholders (…).
func TestExamplesRun(t *testing.T) {
	fake := startInProc(t, "--dir", filepath.Join(t.TempDir(), "redpack-fake"), "--quiet")
	work := t.TempDir()
	openids := writeLines(t, work, "openids.csv", campaignOpenIDs(3)...)
	rules := writeLines(t, work, "rules.json", issueRules)
	apiKey := readCreds(t, fake.dir).APIKey
	// A throwaway certificate for the HTTPS serve example.
	ca, err := pki.NewCA("redpack test notify CA")
	require.NoError(t, err)
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1"}})
	require.NoError(t, err)
	notifyCert := writeLines(t, work, "notify.pem", string(leaf.CertPEM()))
	notifyKey := writeLines(t, work, "notify-key.pem", string(leaf.KeyPEM()))
	httpsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
	served := 0
	tree := commandTree(t)

	order := []string{"send", "send-group", "send-mini", "settle", "settle-group", "settle-mini", "query",
		"campaign create", "campaign run", "campaign status", "campaign list", "campaign report", "campaign reissue",
		"campaign rate", "campaign serve", "campaign", "rules check", "rules serve", "rules status", "rules report", "rules", "", "help", "fake-server", "completion", "completion bash", "completion zsh", "completion fish", "completion powershell", "demo"}
	ran := map[string]bool{}
	for _, path := range order {
		c, ok := tree[path]
		require.True(t, ok, "no command %q", path)
		// The campaign group's own example starts again from create.
		db := filepath.Join(work, "leaf.db")
		if path == "campaign" {
			db = filepath.Join(work, "group.db")
		}
		env := map[string]string{
			"REDPACK_MERCHANT": filepath.Join(fake.dir, "merchant.json"),
			campaignDBEnv:      db,
		}
		for _, line := range exampleLines(c.Example) {
			ran[line] = true
			if strings.Contains(line, "fake-server") || strings.Contains(line, "postgres://") || strings.Contains(line, "…") {
				continue
			}
			args := shellSplit(t, strings.TrimPrefix(line, "redpack "))
			for i, a := range args {
				a = strings.ReplaceAll(a, "redpack-fake/", fake.dir)
				switch a {
				case "openids.csv":
					a = openids
				case "spring.csv", "awards.jsonl":
					a = filepath.Join(work, a)
				case "rules.json":
					a = rules
				case "notify.pem":
					a = notifyCert
				case "notify-key.pem":
					a = notifyKey
				case "dashboard.token":
					a = writeLines(t, work, a, "0123456789abcdef0123456789abcdef")
				}
				if i > 0 && args[i-1] == "--listen" {
					a = "127.0.0.1:0" // a free port
				}
				args[i] = a
			}
			if len(args) > 1 && args[0] == "rules" && args[1] == "serve" {
				// serve runs until stopped: it must answer a notification
				// SUCCESS, then stop as on Ctrl-C.
				p := startServe(t, env, args[2:]...)
				served++
				n := payment(fmt.Sprintf("42000099%02d", served), campaignOpenIDs(served + 1)[served], testAppID, 10000)
				require.Equal(t, "SUCCESS", notify(t, httpsClient, p.url, "notify", signed(n, apiKey)), "example of %q: %s\n%s", path, line, p.stderr)
				require.Equal(t, exitInterrupted, p.stop(t), "example of %q: %s\n%s", path, line, p.stderr)
				continue
			}
			if len(args) > 1 && args[0] == "campaign" && args[1] == "serve" {
				// serve runs until stopped: it must show the campaign
				// the examples made, then stop as on Ctrl-C.
				p := startDashboard(t, env, args[2:]...)
				req, err := http.NewRequest("GET", p.url+"api/campaigns", nil)
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer 0123456789abcdef0123456789abcdef")
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode, "example of %q: %s\n%s", path, line, body)
				assert.Contains(t, string(body), `"name": "spring"`, "example of %q: %s", path, line)
				require.Equal(t, exitInterrupted, p.stop(t), "example of %q: %s\n%s", path, line, p.stderr)
				continue
			}
			r := runLong(t, env, args...)
			require.Equal(t, exitOK, r.code, "example of %q: %s\n%s", path, line, r)
		}
	}
	for path, c := range tree {
		for _, line := range exampleLines(c.Example) {
			assert.True(t, ran[line], "the example %q of %q is not run by this test", line, path)
		}
	}
	rows := reportRows(t, map[string]string{campaignDBEnv: filepath.Join(work, "leaf.db")}, "spring")
	require.Len(t, rows, 3)
	for _, row := range rows {
		assert.Equal(t, "paid", row["outcome"], "the campaign examples paid row %s", row["row"])
	}
}

// Long flags with one dash, as Go's flag package took them, still work;
// a value that starts with a dash stays a value, and a mistyped flag is
// named without the value given with it.
func TestOneDashLongFlags(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bill := sendDirect(t, f.srv, 1234)
	r := runCLI(t, f.env(), "", "query", "-json", bill)
	require.Equal(t, exitOK, r.code, r)
	assert.True(t, decodeOne(t, r.stdout).OK)

	r = runCLI(t, f.env(), "", sendArgs("1000", "-json", "-bill=OneDash0001", "--wishing", "-json")...)
	require.Equal(t, exitOK, r.code, r)
	p, ok := f.srv.Packet(testMchID, "OneDash0001")
	require.True(t, ok)
	assert.Equal(t, "-json", p.Wishing, "the value of --wishing is not read as a flag")
	var res sendJSON
	require.NoError(t, json.Unmarshal(decodeOne(t, r.stdout).Result, &res))

	const secret = "S3cretApiKeyS3cretApiKeyS3cretAK"
	r = runCLI(t, f.env(), "", sendArgs("1000", "-api-kye="+secret)...)
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "unknown flag: --api-kye")
	assert.NotContains(t, r.stdout+r.stderr, secret)

	r = runCLI(t, nil, "", "-help")
	assert.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "Usage:")
}

// A group command without a subcommand is a usage error with its help on
// stderr; "campaign help run" is run's help.
func TestGroupsWithoutCommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"campaign"}, {"completion"}} {
		r := runCLI(t, nil, "", args...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", args, r)
		assert.Contains(t, r.stderr, "Usage:", "%v", args)
		assert.Empty(t, r.stdout, "%v", args)
	}
	r := runCLI(t, nil, "", "campaign", "help", "run")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "Usage:\n  redpack campaign run NAME")
	assert.Contains(t, r.stdout, "--on-balance")
	r = runCLI(t, nil, "", "help", "campaign", "rnu")
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, `redpack help: unknown command "rnu"; did you mean "run"?`)
}

// The error RunE returns decides the exit code; only errors no command
// has reported are printed.
func TestExitCode(t *testing.T) {
	t.Parallel()
	cmd := &cobra.Command{Use: "send"}
	(&cobra.Command{Use: "redpack"}).AddCommand(cmd)
	for _, tc := range []struct {
		err    error
		code   int
		stderr string
	}{
		{nil, exitOK, ""},
		{exitWith(exitOK), exitOK, ""},
		{exitWith(exitUnknown), exitUnknown, ""},
		{exitWith(exitInterrupted), exitInterrupted, ""},
		{&usageError{msg: "redpack: unknown command"}, exitUsage, "redpack: unknown command\n"},
		{&flagError{cmd: cmd, err: errors.New("unknown flag: --amout")}, exitUsage,
			"redpack send: unknown flag: --amout\nRun 'redpack help send' for usage.\n"},
		{errors.New("boom"), exitFailure, "redpack: boom\n"},
	} {
		var stderr bytes.Buffer
		assert.Equal(t, tc.code, exitCode(&stderr, tc.err), "%v", tc.err)
		assert.Equal(t, tc.stderr, stderr.String(), "%v", tc.err)
	}
}
