package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --merchant points every command at fake-server's merchant.json with one
// flag; flags and REDPACK_* variables still override its fields.
func TestMerchantFileFromFakeServer(t *testing.T) {
	p := startFake(t, t.TempDir(), "--quiet")
	mj := filepath.Join(p.dir, "merchant.json")
	none := map[string]string{}

	r := runCLI(t, none, "", sendArgs("100", "--merchant", mj)...)
	require.Equal(t, exitOK, r.code, r)
	bill := billFrom(t, r.stdout+r.stderr)
	r = runCLI(t, map[string]string{"REDPACK_MERCHANT": mj}, "", "query", bill, "--json")
	require.Equal(t, exitOK, r.code, "$REDPACK_MERCHANT works as --merchant: %s", r)

	env := map[string]string{campaignDBEnv: filepath.Join(t.TempDir(), "c.db")}
	r = runLong(t, env, createArgs("spring", writeLines(t, t.TempDir(), "a.txt", campaignOpenIDs(2)...), "--amount", "100", "--merchant", mj)...)
	require.Equal(t, exitOK, r.code, r)
	r = runLong(t, env, "campaign", "status", "spring", "--json")
	require.Equal(t, exitOK, r.code, r)
	var st campaignStatus
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	require.Equal(t, testMchID, st.MchID, "create ties the campaign to the file's merchant")
	r = runLong(t, env, append([]string{"campaign", "run", "spring", "--merchant", mj}, fastRun...)...)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, flat(r.stdout), "paid 2")

	// A variable overrides the file, a flag overrides both.
	closed := closedURL(t)
	r = runCLI(t, map[string]string{"REDPACK_BASE_URL": closed}, "", sendArgs("100", "--merchant", mj)...)
	require.Equal(t, exitNotSent, r.code, "the variable's base URL, not the file's: %s", r)
	r = runCLI(t, map[string]string{"REDPACK_BASE_URL": closed}, "", sendArgs("100", "--merchant", mj, "--base-url", p.baseURL)...)
	require.Equal(t, exitOK, r.code, "the flag's base URL: %s", r)
}

// A merchant file or key that others may read is refused, as ssh refuses
// such a key, with the chmod that fixes it; the key is never printed.
func TestMerchantFilePermissions(t *testing.T) {
	f := newFixture(t)
	mf := merchantFile{MchID: testMchID, AppID: testAppID, APIKey: f.apiKey, BaseURL: f.srv.URL(),
		CACert: "ca.pem", CertP12: "apiclient_cert.p12"} // relative to the file
	data, err := json.Marshal(mf)
	require.NoError(t, err)
	mj := f.write(t, "merchant.json", data)
	t.Chdir(t.TempDir())
	none := map[string]string{}

	r := runCLI(t, none, "", sendArgs("100", "--merchant", mj)...)
	require.Equal(t, exitOK, r.code, "paths relative to the file: %s", r)

	require.NoError(t, os.Chmod(mj, 0o640))
	r = runCLI(t, none, "", sendArgs("100", "--merchant", mj)...)
	require.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "chmod 600 "+mj)
	assert.Contains(t, r.stderr, "mode 0640")
	assert.NotContains(t, r.stdout+r.stderr, f.apiKey)
	require.NoError(t, os.Chmod(mj, 0o600))

	key := f.write(t, "apiclient_key.pem", f.srv.KeyPEM(testMchID))
	cert := f.write(t, "apiclient_cert.pem", f.srv.CertPEM(testMchID))
	require.NoError(t, os.Chmod(key, 0o644))
	r = runCLI(t, none, "", sendArgs("100", "--merchant", mj, "--cert-pem", cert, "--key-pem", key)...)
	require.Equal(t, exitUsage, r.code, "the flags' certificate replaces the file's whole, and its key is checked: %s", r)
	assert.Contains(t, r.stderr, "--key-pem")
	assert.Contains(t, r.stderr, "chmod 600 "+key)
	require.NoError(t, os.Chmod(key, 0o600))
	r = runCLI(t, none, "", sendArgs("100", "--merchant", mj, "--cert-pem", cert, "--key-pem", key)...)
	require.Equal(t, exitOK, r.code, r)

	require.NoError(t, os.Chmod(f.p12, 0o604))
	r = runCLI(t, f.env(), "", sendArgs("100")...)
	require.Equal(t, exitUsage, r.code, "a .p12 others may read: %s", r)
	assert.Contains(t, r.stderr, "chmod 600 "+f.p12)
}
