package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/redpack-go/redpack/redpacktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	miniAppID  = redpacktest.DefaultMiniProgramAppID
	miniOpenID = "oMiniAbCdEfGhIjKlMnOpQrStUvW"
)

// miniArgs are the flags of a valid mini-program packet of fen.
func miniArgs(fen string, extra ...string) []string {
	return append([]string{"send-mini", "--mini-appid", miniAppID,
		"--openid", miniOpenID, "--amount", fen,
		"--send-name", "示例科技", "--wishing", "感谢参与", "--act-name", "小程序活动", "--remark", "备注",
	}, extra...)
}

func TestSendMini(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	r := runCLI(t, f.env(), "", miniArgs("150")...)
	require.Equal(t, exitOK, r.code, r)
	bill := billFrom(t, r.stdout)
	p, ok := f.srv.Packet(testMchID, bill)
	require.True(t, ok)
	assert.Equal(t, redpacktest.KindMiniProgram, p.Kind)
	assert.Equal(t, miniAppID, p.WxAppID)
	assert.Equal(t, int64(150), p.TotalAmount)
	for _, want := range []string{"PAID", "sendminiprogramhb", "wx.sendBizRedPacket", `"signType": "MD5"`, `"paySign": "`,
		`"package": "sendid%3D`, "redpack query --appid " + miniAppID + " " + bill} {
		assert.Contains(t, r.stdout, want)
	}
	assert.NotContains(t, r.stdout+r.stderr, f.apiKey)

	// The mini-program appid from the environment; the JSON result carries
	// the arguments, and they open the packet on the fake server.
	env := f.env()
	env["REDPACK_MINI_APPID"] = miniAppID
	args := miniArgs("200", "--json")[3:] // without --mini-appid
	r = runCLI(t, env, "", append([]string{"send-mini"}, args...)...)
	require.Equal(t, exitOK, r.code, r)
	rep := decodeOne(t, r.stdout)
	require.True(t, rep.OK, r)
	var res sendJSON
	require.NoError(t, json.Unmarshal(rep.Result, &res))
	p, ok = f.srv.Packet(testMchID, res.MchBillNo)
	require.True(t, ok)
	assert.Equal(t, p.Package, res.Package)
	require.NotNil(t, res.BizRedPacket)
	var front redpacktest.BizRedPacket
	raw, err := json.Marshal(res.BizRedPacket)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &front))
	require.NoError(t, f.srv.OpenBizRedPacket(front), "the printed arguments open the packet")

	r = runCLI(t, f.env(), "", "query", "--appid", miniAppID, res.MchBillNo)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "RECEIVED")
}

func TestSendMiniUsage(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "", "help", "send-mini")
	require.Equal(t, exitOK, r.code, r)
	for _, want := range []string{"Usage:\n  redpack send-mini [flags]", "--mini-appid", "REDPACK_MINI_APPID", "wx.sendBizRedPacket", "--scene"} {
		assert.Contains(t, r.stdout, want)
	}
	for _, absent := range []string{"--client-ip", "--risk-mobile", "--consume-mch-id", "--num "} {
		assert.NotContains(t, r.stdout, absent, "sendminiprogramhb has no such field")
	}
	r = runCLI(t, nil, "", "help")
	assert.Contains(t, r.stdout, "send-mini")

	f := newFixture(t)
	r = runCLI(t, f.env(), "", miniArgs("150")[3:]...) // no command, no appid: "--openid" is not a command
	assert.Equal(t, exitUsage, r.code, r)
	r = runCLI(t, f.env(), "", append([]string{"send-mini"}, miniArgs("150")[3:]...)...)
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "required flags not given: --mini-appid")

	for _, tc := range []struct {
		name, field, flag string
		args              []string
	}{
		{"bad appid", "wxappid", "mini-appid", miniArgs("150", "--mini-appid", "wx-d27e")},
		{"amount too small", "total_amount", "amount", miniArgs("99")},
		{"unknown scene", "scene_id", "scene", miniArgs("150", "--scene", "PRODUCT_0")},
	} {
		r = runCLI(t, f.env(), "", append(tc.args, "--json")...)
		assert.Equal(t, exitUsage, r.code, r)
		assert.NotContains(t, r.stdout+r.stderr, "bill number", "%s: nothing is announced for a request that cannot be sent", tc.name)
		rep := decodeOne(t, r.stdout)
		require.NotNil(t, rep.Error, tc.name)
		assert.Equal(t, tc.field, rep.Error.Field, tc.name)
		assert.Equal(t, tc.flag, rep.Error.Flag, tc.name)
	}
	assert.Empty(t, f.srv.Requests(), "the fake server saw a request")
}

func TestSendMiniUnknownOutcome(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "sendminiprogramhb", Kind: redpacktest.DropAfterCommit}))
	r := runCLI(t, f.env(), "", miniArgs("300", "--max-attempts", "1", "--bill", "Mini0001")...)
	assert.Equal(t, exitUnknown, r.code, r)
	settle := resendFrom(t, r.stderr, "redpack settle-mini")
	require.Contains(t, settle, "redpack settle-mini --mini-appid "+miniAppID+" --bill Mini0001", r.stderr)
	r = runCLI(t, f.env(), "", shellSplit(t, strings.TrimPrefix(settle, "redpack "))...)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "PAID")
	assert.Contains(t, r.stdout, "SENT", "the query, under the mini-program's appid, decided")
	assert.Contains(t, r.stdout, "wx.sendBizRedPacket", "the package, fetched by a re-send of the paid bill")
	assert.Contains(t, r.stdout, `"paySign"`)
	assert.Equal(t, int64(300), f.srv.Paid(testMchID), "paid exactly once")
}
