package redpack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testMiniAppID = "wxd27ebc41b85ce36d"

// goodMini is the spec's sendminiprogramhb example (§9.4).
func goodMini() *SendMiniProgramRedPackRequest {
	return &SendMiniProgramRedPackRequest{
		MiniProgramAppID: testMiniAppID,
		MchBillNo:        "1900000109202501040000000003",
		SendName:         "示例科技",
		ReOpenID:         "oMiniAbCdEfGhIjKlMnOpQrStUvW",
		TotalAmount:      100,
		Wishing:          "感谢参与",
		ActName:          "小程序活动",
		Remark:           "备注",
	}
}

// TestGoldenMiniProgramRequest reproduces the spec's signed example
// request byte for byte (regenerate with -update).
func TestGoldenMiniProgramRequest(t *testing.T) {
	stub := newStub(t, fixtureReply("sendminiprogramhb_SUCCESS.xml"))
	c := stub.client(t)
	c.nonce = func() string { return "a1a0928f25b561ddaf6dbe50791aaf3f" }
	_, err := c.SendMiniProgramRedPack(context.Background(), goodMini())
	require.NoError(t, err)

	reqs := stub.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, testPrefix+"mmpaymkttransfers/sendminiprogramhb", reqs[0].Path)
	assert.Equal(t, "C9B8417A92EF992347F79E5E8DCAE136", reqs[0].Fields["sign"], "signature differs from the spec's vector")
	golden := filepath.Join("testdata", "requests", "sendminiprogramhb.xml")
	if *update {
		require.NoError(t, os.WriteFile(golden, reqs[0].Body, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(reqs[0].Body))
}

func TestSendMiniProgramRedPackSuccess(t *testing.T) {
	stub := newStub(t, fixtureReply("sendminiprogramhb_SUCCESS.xml"))
	res, err := stub.client(t).SendMiniProgramRedPack(context.Background(), goodMini())
	require.NoError(t, err)
	assert.Equal(t, &MiniProgramResult{
		SendResult: SendResult{
			MchBillNo: "1900000109202501040000000003", MchID: "1900000109", WxAppID: testMiniAppID,
			ReOpenID: "oMiniAbCdEfGhIjKlMnOpQrStUvW", TotalAmount: 100, SendListID: "1000041701202501043000000000004",
		},
		Package: "sendid=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0&ver=8&sign=aaaabbbb&mchid=1900000109&appid=wxd27ebc41b85ce36d",
	}, res)

	f := stub.requests()[0].Fields
	assert.Equal(t, "MINI_PROGRAM_JSAPI", f["notify_way"])
	assert.Equal(t, testMiniAppID, f["wxappid"], "the request's appid, not the client's")
	assert.Equal(t, "1", f["total_num"])
	for _, absent := range []string{"client_ip", "risk_info", "consume_mch_id", "scene_id", "sign_type"} {
		assert.NotContains(t, f, absent)
	}
}

func TestSendMiniProgramRedPackRefused(t *testing.T) {
	stub := newStub(t, fixtureReply("sendminiprogramhb_NO_AUTH.xml"))
	_, err := stub.client(t).SendMiniProgramRedPack(context.Background(), goodMini())
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.ErrorIs(t, err, CodeNoAuth)
	assert.NotErrorIs(t, err, ErrUnknownOutcome)
	assert.Equal(t, "1900000109202501040000000003", apiErr.MchBillNo)
	assert.EqualValues(t, 1, stub.calls.Load(), "a definite refusal is not retried")
}

// TestSendMiniProgramRetriesSameBody: the mini-program send shares the
// request path, so an unclear answer is retried with the same bytes, and
// a success that cannot be used (no package) is not mistaken for one.
func TestSendMiniProgramRetriesSameBody(t *testing.T) {
	var n int
	stub := newStub(t, func(r stubRequest) (int, string) {
		n++
		if n == 1 {
			return http.StatusOK, readFixture("sendredpack_SYSTEMERROR.xml")
		}
		return http.StatusOK, readFixture("sendminiprogramhb_SUCCESS.xml")
	})
	res, err := stub.client(t).SendMiniProgramRedPack(context.Background(), goodMini())
	require.NoError(t, err)
	assert.NotEmpty(t, res.Package)
	reqs := stub.requests()
	require.Len(t, reqs, 2)
	assert.True(t, bytes.Equal(reqs[0].Body, reqs[1].Body), "a retry must re-send the same body")
}

func TestSendMiniProgramNoPackageIsUnknown(t *testing.T) {
	noPackage := strings.Replace(readFixture("sendminiprogramhb_SUCCESS.xml"), "<package>", "<other>", 1)
	noPackage = strings.Replace(noPackage, "</package>", "</other>", 1)
	stub := newStub(t, func(stubRequest) (int, string) { return http.StatusOK, noPackage })
	_, err := stub.client(t).SendMiniProgramRedPack(context.Background(), goodMini())
	require.ErrorIs(t, err, ErrUnknownOutcome, "WeChat said SUCCESS: money may have left")
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Reason, "package")
}

func TestMiniProgramValidation(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(r *SendMiniProgramRedPackRequest)
		field string
	}{
		{"no mini-program appid", func(r *SendMiniProgramRedPackRequest) { r.MiniProgramAppID = "" }, "wxappid"},
		{"appid with a dash", func(r *SendMiniProgramRedPackRequest) { r.MiniProgramAppID = "wx-d27ebc41b85ce36d" }, "wxappid"},
		{"appid too long", func(r *SendMiniProgramRedPackRequest) { r.MiniProgramAppID = strings.Repeat("w", 33) }, "wxappid"},
		{"no bill number", func(r *SendMiniProgramRedPackRequest) { r.MchBillNo = "" }, "mch_billno"},
		{"no openid", func(r *SendMiniProgramRedPackRequest) { r.ReOpenID = "" }, "re_openid"},
		{"send_name too long", func(r *SendMiniProgramRedPackRequest) { r.SendName = strings.Repeat("红", 11) }, "send_name"},
		{"no wishing", func(r *SendMiniProgramRedPackRequest) { r.Wishing = "" }, "wishing"},
		{"no act_name", func(r *SendMiniProgramRedPackRequest) { r.ActName = "" }, "act_name"},
		{"no remark", func(r *SendMiniProgramRedPackRequest) { r.Remark = "" }, "remark"},
		{"amount 99 fen", func(r *SendMiniProgramRedPackRequest) { r.TotalAmount = 99 }, "total_amount"},
		{"amount 200.01 CNY", func(r *SendMiniProgramRedPackRequest) { r.TotalAmount = 20001 }, "total_amount"},
		{"unknown scene", func(r *SendMiniProgramRedPackRequest) { r.SceneID = "PRODUCT_0" }, "scene_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newStub(t, fixtureReply("sendminiprogramhb_SUCCESS.xml"))
			req := goodMini()
			tt.edit(req)
			_, err := stub.client(t).SendMiniProgramRedPack(context.Background(), req)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.field, ve.Field)
			assert.Zero(t, stub.calls.Load(), "a refused request must not be sent")
		})
	}
	_, err := (&Client{}).SendMiniProgramRedPack(context.Background(), nil)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)

	ok := goodMini()
	ok.TotalAmount, ok.SceneID = 50000, SceneLottery
	assert.NoError(t, ok.Validate())
}

// The spec's paySign vector (§9.4): WeChat's sample package, URL-encoded.
const (
	specBizPackage = "sendid=242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672&ver=8&sign=4110d649a5aef52dd6b95654ddf91ca7d5411ac159ace4e1a766b7d3967a1c3dfe1d256811445a4abda2d9cfa4a9b377a829258bd00d90313c6c346f2349fe5d&mchid=11475856&appid=wxd27ebc41b85ce36d"
	specBizEncoded = "sendid%3D242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672%26ver%3D8%26sign%3D4110d649a5aef52dd6b95654ddf91ca7d5411ac159ace4e1a766b7d3967a1c3dfe1d256811445a4abda2d9cfa4a9b377a829258bd00d90313c6c346f2349fe5d%26mchid%3D11475856%26appid%3Dwxd27ebc41b85ce36d"
)

func TestPaySignVector(t *testing.T) {
	assert.Equal(t, "89D724E4753F4400574062E016F012AF",
		paySign(testMiniAppID, "Ww213sdad", specBizEncoded, "1514363815", testAPIKey))
}

func TestBizRedPacketParams(t *testing.T) {
	stub := newStub(t, fixtureReply("sendminiprogramhb_SUCCESS.xml"))
	c := stub.client(t)
	c.nonce = func() string { return "Ww213sdad" }
	c.now = func() time.Time { return time.Unix(1514363815, 0) }

	res := &MiniProgramResult{SendResult: SendResult{WxAppID: testMiniAppID}, Package: specBizPackage}
	p, err := c.BizRedPacketParams(res)
	require.NoError(t, err)
	assert.Equal(t, &BizRedPacketParams{
		TimeStamp: "1514363815",
		NonceStr:  "Ww213sdad",
		Package:   specBizEncoded,
		SignType:  "MD5",
		PaySign:   "89D724E4753F4400574062E016F012AF",
	}, p)
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	assert.JSONEq(t, `{"timeStamp":"1514363815","nonceStr":"Ww213sdad","package":"`+specBizEncoded+
		`","signType":"MD5","paySign":"89D724E4753F4400574062E016F012AF"}`, string(raw))
	dec, err := url.QueryUnescape(p.Package)
	require.NoError(t, err)
	assert.Equal(t, specBizPackage, dec)
	assert.NotContains(t, string(raw), testAPIKey)

	// From a real send: the appid signed is the mini-program's.
	sent, err := c.SendMiniProgramRedPack(context.Background(), goodMini())
	require.NoError(t, err)
	p, err = c.BizRedPacketParams(sent)
	require.NoError(t, err)
	assert.Equal(t, paySign(testMiniAppID, p.NonceStr, url.QueryEscape(sent.Package), p.TimeStamp, testAPIKey), p.PaySign)
	assert.NotEqual(t, paySign(testAppID, p.NonceStr, p.Package, p.TimeStamp, testAPIKey), p.PaySign)
}

func TestBizRedPacketParamsRefusesEmpty(t *testing.T) {
	c := newStub(t, fixtureReply("sendminiprogramhb_SUCCESS.xml")).client(t)
	for _, res := range []*MiniProgramResult{nil, {}, {SendResult: SendResult{WxAppID: testMiniAppID}}} {
		_, err := c.BizRedPacketParams(res)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "package", ve.Field)
	}
	_, err := c.BizRedPacketParams(&MiniProgramResult{Package: specBizPackage})
	var ve *ValidationError
	require.True(t, errors.As(err, &ve))
	assert.Equal(t, "wxappid", ve.Field)
}

// TestSendMiniProgramAppIDEcho: the result keeps the appid that was sent,
// which paySign is signed for; an answer naming another one is not
// trusted, and one naming none is fine.
func TestSendMiniProgramAppIDEcho(t *testing.T) {
	for _, tc := range []struct {
		name, echo string
		ok         bool
	}{
		{"echoed", "<wxappid>" + testMiniAppID + "</wxappid>", true},
		{"empty", "<wxappid></wxappid>", true},
		{"absent", "", true},
		{"another appid", "<wxappid>wx8888888888888888</wxappid>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer := strings.Replace(readFixture("sendminiprogramhb_SUCCESS.xml"),
				"<wxappid><![CDATA[wxd27ebc41b85ce36d]]></wxappid>", tc.echo, 1)
			stub := newStub(t, func(stubRequest) (int, string) { return http.StatusOK, answer })
			c := stub.client(t)
			res, err := c.SendMiniProgramRedPack(context.Background(), goodMini())
			if !tc.ok {
				require.ErrorIs(t, err, ErrUnknownOutcome)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, testMiniAppID, res.WxAppID)
			_, err = c.BizRedPacketParams(res)
			assert.NoError(t, err)
		})
	}
}

// TestMiniProgramLogsNoSecret: the mini-program send logs as the others
// do, one allow-listed record per attempt, with neither the API key, the
// request's signature nor the paySign built afterwards.
func TestMiniProgramLogsNoSecret(t *testing.T) {
	var mu sync.Mutex
	var signs []string
	replies := []string{"sendminiprogramhb_SUCCESS.xml", "sendredpack_SYSTEMERROR.xml"}
	n := 0
	stub := newStub(t, func(r stubRequest) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		signs = append(signs, r.Fields["sign"])
		reply := replies[min(n, 1)]
		n++
		return http.StatusOK, readFixture(reply)
	})
	logger, lines := newCapture()
	c := stub.client(t, WithLogger(logger))
	c.nonce = newNonce
	res, err := c.SendMiniProgramRedPack(context.Background(), goodMini())
	require.NoError(t, err)
	params, err := c.BizRedPacketParams(res)
	require.NoError(t, err)
	_, err = c.SendMiniProgramRedPack(context.Background(), goodMini())
	require.ErrorIs(t, err, ErrUnknownOutcome)

	got := lines()
	require.Len(t, got, 4, "1 success, then 3 attempts answered SYSTEMERROR")
	assert.Contains(t, got[0], "redpack: sendminiprogramhb succeeded")
	assert.Contains(t, got[0], "op=sendminiprogramhb")
	assert.Contains(t, got[1], "redpack: sendminiprogramhb outcome unknown")
	for _, line := range append(got, err.Error()) {
		assert.NotContains(t, line, testAPIKey)
		assert.NotContains(t, line, params.PaySign)
		assert.NotContains(t, line, res.Package, "the package opens the packet: not for logs")
		for _, s := range signs {
			assert.NotContains(t, line, s)
		}
	}
}
