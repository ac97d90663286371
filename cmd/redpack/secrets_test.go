package main

import (
	"testing"

	"github.com/redpack-go/redpack/redpacktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// TestSecretsNeverPrinted runs every kind of outcome with a distinctive API
// key and certificate password, given through flags and through the
// environment, and checks neither ever shows up in stdout or stderr.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const (
		apiKey      = "S3cretApiKeyS3cretApiKeyS3cretAK" // 32 characters
		wrongKey    = "Wr0ngApiKeyWr0ngApiKeyWr0ngApiKy" // 32 characters
		password    = "Pa55w0rd-Of-The-Cert"
		wrongPass   = "Wr0ng-Pa55w0rd-Given"
		shortSecret = "Sh0rtS3cret"
	)
	require.Len(t, apiKey, 32)
	require.Len(t, wrongKey, 32)
	m := redpacktest.DefaultMerchant()
	m.APIKey = apiKey
	m.UserDailyCount = 1000 // the runs send many packets to one user
	f := newFixture(t, redpacktest.WithMerchants(m))
	f.apiKey = apiKey

	// The .p12 again, under a password that is not the mch_id.
	key, leaf, chain, err := pkcs12.DecodeChain(f.srv.PKCS12(testMchID), testMchID)
	require.NoError(t, err)
	p12, err := pkcs12.Modern.Encode(key, leaf, chain, password)
	require.NoError(t, err)
	f.p12 = f.write(t, "protected.p12", p12)

	envCreds := f.env()
	envCreds["REDPACK_CERT_PASSWORD"] = password
	flagCreds := []string{"--mch-id", testMchID, "--appid", testAppID, "--api-key", apiKey,
		"--cert-p12", f.p12, "--cert-password", password, "--ca-cert", f.caCert, "--base-url", f.srv.URL()}
	closed := closedURL(t)

	type run struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		code  int
		setup func()
	}
	var runs []run
	for _, creds := range []struct {
		name  string
		env   map[string]string
		flags []string
	}{{"env", envCreds, nil}, {"flags", nil, flagCreds}} {
		// The credential flags go right after the command name, so that a
		// case's own flags (a wrong key, a closed URL) come later and win.
		with := func(args ...string) []string {
			return append(append([]string{args[0]}, creds.flags...), args[1:]...)
		}
		runs = append(runs,
			run{name: "help", env: creds.env, args: []string{"help"}, code: exitOK},
			run{name: "send --help", env: creds.env, args: with(sendArgs("1000", "--help")...), code: exitOK},
			run{name: "query -h", env: creds.env, args: with("query", "-h"), code: exitOK},
			run{name: "help send", env: creds.env, args: []string{"help", "send"}, code: exitOK},
			run{name: "send", env: creds.env, args: with(sendArgs("1000", "--verbose")...), code: exitOK},
			run{name: "send --json", env: creds.env, args: with(sendArgs("1000", "--json", "--verbose")...), code: exitOK},
			run{name: "send-group", env: creds.env, args: with(groupArgs("3000", "3", "--verbose")...), code: exitOK},
			run{name: "query", env: creds.env, args: with("query", "--verbose", "SecretBill01"), code: exitUnknown},
			run{name: "validation", env: creds.env, args: with(sendArgs("30000")...), code: exitUsage},
			run{name: "refused", env: creds.env, args: with(sendArgs("1000", "--verbose")...), code: exitRefused,
				setup: func() { require.NoError(t, f.srv.SetBalance(testMchID, 0)) }},
			run{name: "unknown", env: creds.env, args: with(sendArgs("1000", "--max-attempts", "1", "--verbose")...), code: exitUnknown,
				setup: func() {
					require.NoError(t, f.srv.SetBalance(testMchID, redpacktest.DefaultBalance))
					require.NoError(t, f.srv.Inject(redpacktest.Fault{Kind: redpacktest.SystemErrorAfterCommit}))
				}},
			run{name: "unknown --json", env: creds.env, args: with(sendArgs("1000", "--max-attempts", "1", "--json")...), code: exitUnknown,
				setup: func() {
					require.NoError(t, f.srv.Inject(redpacktest.Fault{Kind: redpacktest.DropAfterCommit}))
				}},
			run{name: "not sent", env: creds.env, args: with(sendArgs("1000", "--max-attempts", "1", "--verbose", "--base-url", closed)...), code: exitNotSent},
			run{name: "wrong key", env: creds.env, args: with(sendArgs("1000", "--api-key", wrongKey, "--verbose")...), code: exitRefused},
			run{name: "wrong key --json", env: creds.env, args: with(sendArgs("1000", "--api-key", wrongKey, "--json")...), code: exitRefused},
			run{name: "short key", env: creds.env, args: with(sendArgs("1000", "--api-key", shortSecret)...), code: exitUsage},
			run{name: "wrong password", env: creds.env, args: with(sendArgs("1000", "--cert-password", wrongPass)...), code: exitUsage},
			run{name: "wrong password --json", env: creds.env, args: with(sendArgs("1000", "--cert-password", wrongPass, "--json")...), code: exitUsage},
			run{name: "bad flag", env: creds.env, args: with(sendArgs("1000", "--amount", "lots")...), code: exitUsage},
			run{name: "mistyped key flag", env: creds.env, args: with(sendArgs("1000", "--api-key=", apiKey)...), code: exitUsage},
		)
	}
	runs = append(runs, run{name: "key from stdin", env: envCreds, stdin: apiKey + "\n",
		args: sendArgs("1000", "--api-key", "-", "--verbose"), code: exitOK})

	for _, r := range runs {
		if r.setup != nil {
			r.setup()
		}
		res := runCLI(t, r.env, r.stdin, r.args...)
		assert.Equal(t, r.code, res.code, "%s: %s", r.name, res)
		for _, secret := range []string{apiKey, wrongKey, password, wrongPass, shortSecret} {
			assert.NotContains(t, res.stdout, secret, "%s: stdout", r.name)
			assert.NotContains(t, res.stderr, secret, "%s: stderr", r.name)
			// Not even a good part of one.
			assert.NotContains(t, res.stdout+res.stderr, secret[:len(secret)/2], "%s", r.name)
		}
	}
	assert.GreaterOrEqual(t, len(f.srv.Packets()), 6, "the runs reached the server")
}
