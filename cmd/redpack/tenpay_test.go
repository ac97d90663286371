package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nodeDir holds the pinned npm package (package.json, package-lock.json)
// and the script that drives the fake server with it.
var nodeDir = filepath.Join("testdata", "node")

// tenpayVersion is the version package.json pins.
const tenpayVersion = "2.1.18"

// needTenpay returns node's path, and fails in CI (CI=true), or skips
// elsewhere, when node or the npm package is missing.
func needTenpay(t *testing.T) string {
	t.Helper()
	missing := func(what string) {
		msg := what + `: TestFakeServerWithTenpay drives fake-server with the Node SDK tenpay; install Node and run "npm ci --prefix cmd/redpack/testdata/node" (.ci/run does both)`
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	// tenpay.js uses the global fetch, from Node 18 on.
	out, err := exec.Command(node, "-p", "process.versions.node.split('.')[0]").Output()
	if major, convErr := strconv.Atoi(strings.TrimSpace(string(out))); err != nil || convErr != nil || major < 18 {
		missing("Node 18 or later is needed, found " + strings.TrimSpace(string(out)))
	}
	data, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", "tenpay", "package.json"))
	if err != nil {
		missing("tenpay is not installed in " + nodeDir)
	}
	var pkg struct {
		Version string `json:"version"`
	}
	require.NoError(t, json.Unmarshal(data, &pkg))
	if pkg.Version != tenpayVersion {
		missing("tenpay " + pkg.Version + " is installed, not the pinned " + tenpayVersion)
	}
	return node
}

// tenpayStep is one step of tenpay.js: tenpay's answer or its error.
type tenpayStep struct {
	OK          bool   `json:"ok"`
	Error       string `json:"error"`
	ResultCode  string `json:"result_code"`
	MchBillNo   string `json:"mch_billno"`
	SendListID  string `json:"send_listid"`
	DetailID    string `json:"detail_id"`
	Status      string `json:"status"`
	HBType      string `json:"hb_type"`
	TotalAmount string `json:"total_amount"`
	HBList      struct {
		HBInfo struct {
			OpenID string `json:"openid"`
			Amount string `json:"amount"`
		} `json:"hbinfo"`
	} `json:"hblist"`
}

// TestFakeServerWithTenpay drives the program with tenpay, a Node SDK
// installed from the npm registry, changed only in its URLs, certificate
// and CA, as a merchant testing with the fake would.
func TestFakeServerWithTenpay(t *testing.T) {
	t.Parallel()
	node := needTenpay(t)
	dir := filepath.Join(t.TempDir(), "creds")
	p := startFake(t, dir)
	c := readCreds(t, dir)
	bill, other, group := c.MchID+"202501060000000001", c.MchID+"202501060000000002", c.MchID+"202501060000000003"

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "tenpay.js", filepath.Join(dir, "merchant.json"), bill, other, group)
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+c.CACert)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tenpay.js: %s\nfake-server:\n%s", stderr.String(), p.stderr)
	var steps map[string]tenpayStep
	require.NoError(t, json.Unmarshal(out, &steps), "%s", out)

	send := steps["send"]
	require.True(t, send.OK, "send: %+v", send)
	require.NotEmpty(t, send.SendListID)
	assert.Equal(t, bill, send.MchBillNo)
	assert.Equal(t, tenpayStep{OK: true, ResultCode: "SUCCESS", MchBillNo: bill, SendListID: send.SendListID, TotalAmount: "1000"},
		steps["resend"], "a re-send answers the first packet")
	assert.Equal(t, "FATAL_ERROR", steps["changed"].Error, "%+v", steps["changed"])
	assert.Equal(t, "SIGN_ERROR", steps["bad_key"].Error, "%+v", steps["bad_key"])
	assert.True(t, steps["group"].OK, "group: %+v", steps["group"])

	q := steps["query"]
	assert.True(t, q.OK, "query: %+v", q)
	assert.Equal(t, send.SendListID, q.DetailID)
	assert.Equal(t, "RECEIVED", q.Status)
	assert.Equal(t, "NORMAL", q.HBType)
	assert.Equal(t, openID, q.HBList.HBInfo.OpenID)
	assert.Equal(t, "1000", q.HBList.HBInfo.Amount)

	// The ledger: paid once for the packet, once for the group.
	var m ledgerMerchant
	adminGet(t, p, "merchants/"+c.MchID, &m)
	assert.Equal(t, int64(1000+900), m.Paid)
	var all []ledgerPacket
	adminGet(t, p, "packets", &all)
	assert.Len(t, all, 2)

	require.Equal(t, 0, p.stop(), p.stderr.String())
	assert.NotContains(t, p.stderr.String(), c.APIKey)
}
