package redpack

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/requests")

// TestGoldenRequests sends the spec's example requests (§9) with their
// fixed nonces and checks the signature against the spec's published value
// and the whole body against testdata/requests (regenerate with -update).
func TestGoldenRequests(t *testing.T) {
	group := &SendGroupRedPackRequest{
		MchBillNo: "1900000109202501030000000002", SendName: "示例科技", ReOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		TotalAmount: 900, TotalNum: 3, Wishing: "恭喜发财", ActName: "裂变红包测试", Remark: "分享给好友",
	}
	sceneB := &SendRedPackRequest{
		MchBillNo: "1900000109202501020000000001", SendName: "示例科技", ReOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		TotalAmount: 50000, Wishing: "新年快乐", ClientIP: "10.1.2.3", ActName: "年终福利", Remark: "员工福利",
		SceneID: SceneEmployeeBenefit,
		RiskInfo: &RiskInfo{PostTime: time.Unix(1735689600, 0), Mobile: "86-13800000000", DeviceID: "IOS",
			ClientVersion: "8.0.50"},
	}
	tests := []struct {
		name, nonce, wantSign, path string
		call                        func(*Client) error
	}{
		{"sendredpack", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "CC0A027E88D2898D11B3A1D7EFF62847", "sendredpack",
			func(c *Client) error { _, err := c.SendRedPack(context.Background(), goodSend()); return err }},
		{"sendredpack_scene_risk", "ibuaiVcKdpRxkhJA", "229A8F1222F84556E05BC3D543A66122", "sendredpack",
			func(c *Client) error { _, err := c.SendRedPack(context.Background(), sceneB); return err }},
		{"sendgroupredpack", "Wm3WZYTPz0wzccnW", "93FFE8251FDE915A3063AEC011BE8C92", "sendgroupredpack",
			func(c *Client) error { _, err := c.SendGroupRedPack(context.Background(), group); return err }},
		{"gethbinfo", "50780e0cca98c8c8e814883e5caa672e", "23156A6803624B152A5189ED8CC0CBA7", "gethbinfo",
			func(c *Client) error {
				_, err := c.QueryRedPack(context.Background(), "1900000109202501011234567890")
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newStub(t, func(r stubRequest) (int, string) {
				// Echo the request's bill number and amount so the answer is consistent.
				if strings.HasSuffix(r.Path, "gethbinfo") {
					return http.StatusOK, readFixture("gethbinfo_RECEIVED.xml")
				}
				return http.StatusOK, successFor(r.Fields)
			})
			c := stub.client(t)
			c.nonce = func() string { return tt.nonce }
			require.NoError(t, tt.call(c))

			reqs := stub.requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, testPrefix+"mmpaymkttransfers/"+tt.path, reqs[0].Path)
			assert.Equal(t, tt.wantSign, reqs[0].Fields["sign"], "signature differs from the spec's vector")
			assert.NotContains(t, reqs[0].Fields, "sign_type", "MD5 requests carry no sign_type")

			golden := filepath.Join("testdata", "requests", tt.name+".xml")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, reqs[0].Body, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(reqs[0].Body))
		})
	}
}

// successFor answers a send with success, echoing its fields.
func successFor(f map[string]string) string {
	return "<xml><return_code><![CDATA[SUCCESS]]></return_code><result_code><![CDATA[SUCCESS]]></result_code>" +
		"<err_code>SUCCESS</err_code><mch_billno>" + f["mch_billno"] + "</mch_billno><mch_id>" + f["mch_id"] +
		"</mch_id><wxappid>" + f["wxappid"] + "</wxappid><re_openid>" + f["re_openid"] + "</re_openid><total_amount>" +
		f["total_amount"] + "</total_amount><send_listid>1000041701202501013000000000001</send_listid></xml>"
}

func TestSendRedPackSuccess(t *testing.T) {
	stub := newStub(t, fixtureReply("sendredpack_SUCCESS.xml"))
	res, err := stub.client(t).SendRedPack(context.Background(), goodSend())
	require.NoError(t, err)
	assert.Equal(t, &SendResult{
		MchBillNo: "1900000109202501011234567890", MchID: "1900000109", WxAppID: "wx8888888888888888",
		ReOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", TotalAmount: 1000, SendListID: "1000041701202501013000000000001",
	}, res)
	f := stub.requests()[0].Fields
	assert.Equal(t, "1", f["total_num"])
	assert.Equal(t, testAppID, f["wxappid"])
	assert.Equal(t, testMchID, f["mch_id"])
	assert.NotContains(t, f, "amt_type")
}

func TestSendRedPackPlainTextAnswer(t *testing.T) {
	// WeChat may send plain text instead of CDATA; both read the same.
	plain := strings.NewReplacer("<![CDATA[", "", "]]>", "").Replace(readFixture("sendredpack_SUCCESS.xml"))
	stub := newStub(t, func(stubRequest) (int, string) { return http.StatusOK, plain })
	res, err := stub.client(t).SendRedPack(context.Background(), goodSend())
	require.NoError(t, err)
	assert.Equal(t, "1000041701202501013000000000001", res.SendListID)
	assert.Equal(t, int64(1000), res.TotalAmount)
}

func TestSendGroupRedPackFields(t *testing.T) {
	stub := newStub(t, func(r stubRequest) (int, string) { return http.StatusOK, successFor(r.Fields) })
	req := &SendGroupRedPackRequest{
		MchBillNo: "1900000109202501030000000002", SendName: "示例科技", ReOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		TotalAmount: 900, TotalNum: 3, Wishing: "恭喜发财", ActName: "裂变红包测试", Remark: "分享给好友",
	}
	res, err := stub.client(t).SendGroupRedPack(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, int64(900), res.TotalAmount)
	f := stub.requests()[0].Fields
	assert.Equal(t, "ALL_RAND", f["amt_type"])
	assert.Equal(t, "3", f["total_num"])
	assert.NotContains(t, f, "client_ip")
}

// TestSendErrorCodes feeds every documented err_code, and one unknown, and
// checks what the client concludes about the payment.
func TestSendErrorCodes(t *testing.T) {
	unknown := map[Code]bool{CodeSystemError: true, CodeProcessing: true, "NEW_FUTURE_CODE": true}
	codes := []Code{CodeSystemError, CodeProcessing, CodeSendFailed, CodeFatalError, CodeNoAuth, CodeSendNumLimit,
		CodeRcvdAmountLimit, CodeSendAmountLimit, CodeMoneyLimit, CodeIllegalAppID, CodeOpenIDError, CodeMsgAppIDError,
		CodeAcceptModeError, CodeCAError, CodeSignError, CodeXMLError, CodeParamError, CodeFreqLimit, CodeNotEnough,
		CodeAPIMethodClosed, CodePayerAccountAbnormal, CodeNoConsumeCompetence, "NEW_FUTURE_CODE"}
	for _, code := range codes {
		t.Run(string(code), func(t *testing.T) {
			stub := newStub(t, fixtureReply("sendredpack_"+string(code)+".xml"))
			res, err := stub.client(t).SendRedPack(context.Background(), goodSend())
			require.Error(t, err)
			assert.Nil(t, res)

			// An unknown outcome holds WeChat's answer as a field, and
			// never matches as a refusal.
			apiErr := new(APIError)
			var u *UnknownOutcomeError
			if unknown[code] {
				require.ErrorAs(t, err, &u)
				assert.False(t, errors.As(err, &apiErr), "an unknown outcome must not match *APIError")
				assert.NotErrorIs(t, err, code)
				assert.Equal(t, "1900000109202501011234567890", u.MchBillNo)
				assert.Equal(t, "sendredpack", u.Op)
				assert.Contains(t, err.Error(), "never use a new bill number")
				assert.Equal(t, OutcomeUnknown, OutcomeOf(err))
				require.NotNil(t, u.Answer)
				apiErr = u.Answer
			} else {
				require.ErrorAs(t, err, &apiErr)
				assert.ErrorIs(t, err, code)
				assert.Equal(t, OutcomeNotPaid, OutcomeOf(err))
			}
			assert.Equal(t, string(code), apiErr.ErrCode)
			assert.Equal(t, "SUCCESS", apiErr.ReturnCode)
			assert.Equal(t, "FAIL", apiErr.ResultCode)
			assert.Equal(t, "1900000109202501011234567890", apiErr.MchBillNo)
			assert.Equal(t, http.StatusOK, apiErr.HTTPStatus)
			assert.Equal(t, "sendredpack", apiErr.Op)
			assert.NotZero(t, apiErr.Attempts)
			assert.NotEmpty(t, apiErr.ErrCodeDes)
			assert.NotErrorIs(t, err, CodeNotFound)
			assert.Equal(t, unknown[code], errors.Is(err, ErrUnknownOutcome))
			assert.NotErrorIs(t, err, ErrBillExpired)
		})
	}
}

// TestSendBillExpired: WeChat's answer to a bill number first used 24 h or
// more ago is a PARAM_ERROR that says nothing about the first send, and
// tells the merchant to change the bill number, which would pay twice. It
// is an unknown outcome, not retried, that users can branch on.
func TestSendBillExpired(t *testing.T) {
	stub := newStub(t, fixtureReply("sendredpack_PARAM_ERROR_expired.xml"))
	_, err := stub.client(t).SendRedPack(context.Background(), goodSend())
	assert.ErrorIs(t, err, ErrUnknownOutcome)
	assert.ErrorIs(t, err, ErrBillExpired)
	assert.NotErrorIs(t, err, CodeParamError)
	var apiErr *APIError
	assert.False(t, errors.As(err, &apiErr))
	var u *UnknownOutcomeError
	require.ErrorAs(t, err, &u)
	assert.Equal(t, "PARAM_ERROR", u.Answer.ErrCode)
	assert.Equal(t, OutcomeUnknown, OutcomeOf(err))
	assert.Contains(t, err.Error(), "never re-issue")
	assert.Len(t, stub.requests(), 1, "the same request would get the same answer")
}

func TestSendReturnCodeFail(t *testing.T) {
	t.Run("with a final err_code", func(t *testing.T) {
		stub := newStub(t, fixtureReply("return_FAIL_CA_ERROR.xml"))
		_, err := stub.client(t).SendRedPack(context.Background(), goodSend())
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, "FAIL", apiErr.ReturnCode)
		assert.ErrorIs(t, err, CodeCAError)
		assert.NotErrorIs(t, err, ErrUnknownOutcome)
	})
	t.Run("without an err_code", func(t *testing.T) {
		// Nothing says what happened: treat as unknown, never as failed.
		stub := newStub(t, fixtureReply("return_FAIL_nocode.xml"))
		_, err := stub.client(t).SendRedPack(context.Background(), goodSend())
		var u *UnknownOutcomeError
		require.ErrorAs(t, err, &u)
		assert.Equal(t, "系统繁忙,请稍后再试.", u.Answer.ReturnMsg)
		assert.ErrorIs(t, err, ErrUnknownOutcome)
		var apiErr *APIError
		assert.False(t, errors.As(err, &apiErr))
	})
}

// TestSendUnreadableAnswers: whatever the answer, if it cannot be read the
// outcome of a send is unknown, and the error says so without a panic.
func TestSendUnreadableAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"html gateway page", http.StatusOK, readFixture("html_gateway.html"), "HTML page"},
		{"502 with html", http.StatusBadGateway, readFixture("html_gateway.html"), "HTTP status 502"},
		{"500 empty", http.StatusInternalServerError, "", "HTTP status 500"},
		{"empty body", http.StatusOK, "", "no <xml> root"},
		{"truncated", http.StatusOK, readFixture("sendredpack_SUCCESS.xml")[:200], "malformed XML"},
		{"wrong root", http.StatusOK, "<response><return_code>SUCCESS</return_code></response>", "no <xml> root"},
		{"json", http.StatusOK, `{"return_code":"SUCCESS"}`, "no <xml> root"},
		{"odd return_code", http.StatusOK, "<xml><return_code>MAYBE</return_code></xml>", "neither SUCCESS nor FAIL"},
		{"amount not a number", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "<total_amount>1000", "<total_amount>10.00", 1), "not a whole number"},
		{"negative amount", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "<total_amount>1000", "<total_amount>-1000", 1), "not a whole number"},
		{"other amount", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "<total_amount>1000", "<total_amount>2000", 1), "not the amount sent"},
		{"other openid", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "oSomebodyElse00000000000000", 1), "not the openid sent"},
		{"other bill number", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "1234567890]]></mch_billno>", "1234567891]]></mch_billno>", 1), "not the bill number sent"},
		{"entity expansion", http.StatusOK, `<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><xml><return_code>&b;</return_code></xml>`, "malformed XML"},
		{"external entity", http.StatusOK, `<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><return_code>SUCCESS</return_code><result_code>&x;</result_code></xml>`, "malformed XML"},
		{"too deep", http.StatusOK, "<xml>" + strings.Repeat("<a>", 50) + strings.Repeat("</a>", 50) + "</xml>", "malformed XML"},
		// A success must name the bill and the packet paid.
		{"bare SUCCESS", http.StatusOK, "<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code></xml>", "<mch_billno> is missing"},
		{"no bill number", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "<mch_billno><![CDATA[1900000109202501011234567890]]></mch_billno>", "", 1), "<mch_billno> is missing"},
		{"empty bill number", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "<![CDATA[1900000109202501011234567890]]>", "", 1), "<mch_billno> is missing"},
		{"no packet number", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "<send_listid><![CDATA[1000041701202501013000000000001]]></send_listid>", "", 1), "<send_listid> is missing"},
		{"empty packet number", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "<![CDATA[1000041701202501013000000000001]]>", "", 1), "<send_listid> is missing"},
		{"bad signature", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "</xml>", "<sign>0123456789ABCDEF0123456789ABCDEF</sign></xml>", 1), "signature does not verify"},
		// Ambiguous answers: reading either copy could flip the outcome.
		{"err_code twice", http.StatusOK, strings.Replace(readFixture("sendredpack_SYSTEMERROR.xml"), "</xml>", "<err_code>PARAM_ERROR</err_code></xml>", 1), "<err_code> appears more than once"},
		{"result_code twice", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "<result_code>", "<result_code>FAIL</result_code><result_code>", 1), "<result_code> appears more than once"},
		{"another bill number first", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "<mch_billno>", "<mch_billno>1900000109202501019999999999</mch_billno><mch_billno>", 1), "<mch_billno> appears more than once"},
		{"namespaced field", http.StatusOK, strings.Replace(readFixture("sendredpack_SYSTEMERROR.xml"), "</xml>", `<a:err_code xmlns:a="x">PARAM_ERROR</a:err_code></xml>`, 1), "namespaced"},
		{"a second root", http.StatusOK, readFixture("sendredpack_SYSTEMERROR.xml") + "<xml><return_code>FAIL</return_code></xml>", "more than one root"},
		{"a second root of another name", http.StatusOK, readFixture("sendredpack_SYSTEMERROR.xml") + "<other/>", "more than one root"},
		{"a value hidden behind markup", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "<mch_billno>", "<mch_billno><?x?>", 1), "processing instruction"},
		{"text mixed with elements", http.StatusOK, strings.Replace(readFixture("sendredpack_SUCCESS.xml"), "<mch_id>", "<mch_id>1<b/>", 1), "mixes text and elements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newStub(t, func(stubRequest) (int, string) { return tt.status, tt.body })
			res, err := stub.client(t).SendRedPack(context.Background(), goodSend())
			require.Error(t, err)
			assert.Nil(t, res)
			assert.ErrorIs(t, err, ErrUnknownOutcome)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "1900000109202501011234567890")
			assert.Less(t, len(err.Error()), 600, "errors quote only a short excerpt")
		})
	}
}

func TestSendAnswerOverSizeLimit(t *testing.T) {
	huge := "<xml><return_code>SUCCESS</return_code><pad>" + strings.Repeat("x", 4096) + "</pad></xml>"
	stub := newStub(t, func(stubRequest) (int, string) { return http.StatusOK, huge })
	_, err := stub.client(t, WithMaxResponseBytes(2048)).SendRedPack(context.Background(), goodSend())
	assert.ErrorIs(t, err, ErrUnknownOutcome)
	assert.ErrorContains(t, err, "longer than 2048 bytes")

	t.Run("the default limit is what WeChat's answers need, with a wide margin", func(t *testing.T) {
		assert.EqualValues(t, 64<<10, DefaultMaxResponseBytes)
		assert.Greater(t, DefaultMaxResponseBytes, 15*len(groupAnswer(20)))
		huge := "<xml><return_code>SUCCESS</return_code><pad>" + strings.Repeat("x", DefaultMaxResponseBytes) + "</pad></xml>"
		stub := newStub(t, func(stubRequest) (int, string) { return http.StatusOK, huge })
		_, err := stub.client(t).SendRedPack(context.Background(), goodSend())
		assert.ErrorIs(t, err, ErrUnknownOutcome)
		assert.ErrorContains(t, err, "longer than 65536 bytes")
	})
	t.Run("a raised limit still bounds the elements", func(t *testing.T) {
		hostile := hostileAnswers()["distinct elements to the limit"]
		stub := newStub(t, func(stubRequest) (int, string) { return http.StatusOK, string(hostile) })
		_, err := stub.client(t, WithMaxResponseBytes(MaxResponseBytesLimit)).SendRedPack(context.Background(), goodSend())
		assert.ErrorIs(t, err, ErrUnknownOutcome)
		assert.ErrorContains(t, err, "more than 1024 elements")
	})
}

func TestSignedAnswerVerifies(t *testing.T) {
	// Red-packet answers are unsigned, but one that is signed and correct passes.
	body := readFixture("sendredpack_SUCCESS.xml")
	fields := parseFlatXML([]byte(body))
	body = strings.Replace(body, "</xml>", "<sign>"+stubSign(fields, testAPIKey)+"</sign></xml>", 1)
	stub := newStub(t, func(stubRequest) (int, string) { return http.StatusOK, body })
	_, err := stub.client(t).SendRedPack(context.Background(), goodSend())
	require.NoError(t, err)
}

func TestHMACSignTypeIsSent(t *testing.T) {
	// The stub checks MD5 only, as WeChat does for red packets: it refuses.
	stub := newStub(t, fixtureReply("sendredpack_SUCCESS.xml"))
	_, err := stub.client(t, WithSignType(SignHMACSHA256)).SendRedPack(context.Background(), goodSend())
	assert.ErrorIs(t, err, CodeSignError)
	f := stub.requests()[0].Fields
	assert.Equal(t, "HMAC-SHA256", f["sign_type"])
	want := map[string]string{}
	for k, v := range f {
		want[k] = v
	}
	assert.Equal(t, Sign(want, testAPIKey, SignHMACSHA256), f["sign"])
	assert.Len(t, f["sign"], 64)
}

// TestValidation checks every rule WeChat enforces, and that a refused
// request never reaches the network.
func TestValidation(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(r *SendRedPackRequest)
		field string
	}{
		{"no bill number", func(r *SendRedPackRequest) { r.MchBillNo = "" }, "mch_billno"},
		{"bill number too long", func(r *SendRedPackRequest) { r.MchBillNo = strings.Repeat("1", 29) }, "mch_billno"},
		{"bill number with dash", func(r *SendRedPackRequest) { r.MchBillNo = "1900000109-2025" }, "mch_billno"},
		{"bill number with unicode", func(r *SendRedPackRequest) { r.MchBillNo = "１９００" }, "mch_billno"},
		{"no send_name", func(r *SendRedPackRequest) { r.SendName = "" }, "send_name"},
		{"send_name 33 bytes", func(r *SendRedPackRequest) { r.SendName = strings.Repeat("a", 33) }, "send_name"},
		{"send_name 11 Chinese chars", func(r *SendRedPackRequest) { r.SendName = strings.Repeat("红", 11) }, "send_name"},
		{"no openid", func(r *SendRedPackRequest) { r.ReOpenID = "" }, "re_openid"},
		{"openid too long", func(r *SendRedPackRequest) { r.ReOpenID = strings.Repeat("o", 33) }, "re_openid"},
		{"no wishing", func(r *SendRedPackRequest) { r.Wishing = "" }, "wishing"},
		{"wishing too long", func(r *SendRedPackRequest) { r.Wishing = strings.Repeat("福", 43) }, "wishing"},
		{"wishing with control char", func(r *SendRedPackRequest) { r.Wishing = "hi\x00there" }, "wishing"},
		{"wishing not utf-8", func(r *SendRedPackRequest) { r.Wishing = "\xff\xfe" }, "wishing"},
		{"remark with U+FFFF", func(r *SendRedPackRequest) { r.Remark = "\uffff" }, "remark"},
		{"no act_name", func(r *SendRedPackRequest) { r.ActName = "" }, "act_name"},
		{"act_name too long", func(r *SendRedPackRequest) { r.ActName = strings.Repeat("a", 33) }, "act_name"},
		{"no remark", func(r *SendRedPackRequest) { r.Remark = "" }, "remark"},
		{"remark too long", func(r *SendRedPackRequest) { r.Remark = strings.Repeat("a", 257) }, "remark"},
		{"no client_ip", func(r *SendRedPackRequest) { r.ClientIP = "" }, "client_ip"},
		{"ipv6 client_ip", func(r *SendRedPackRequest) { r.ClientIP = "::1" }, "client_ip"},
		{"bad client_ip", func(r *SendRedPackRequest) { r.ClientIP = "192.168.0.256" }, "client_ip"},
		{"hostname client_ip", func(r *SendRedPackRequest) { r.ClientIP = "localhost" }, "client_ip"},
		{"amount 99 fen", func(r *SendRedPackRequest) { r.TotalAmount = 99 }, "total_amount"},
		{"amount 200.01 CNY", func(r *SendRedPackRequest) { r.TotalAmount = 20001 }, "total_amount"},
		{"amount zero", func(r *SendRedPackRequest) { r.TotalAmount = 0 }, "total_amount"},
		{"amount negative with scene", func(r *SendRedPackRequest) { r.TotalAmount, r.SceneID = -5, SceneLottery }, "total_amount"},
		{"amount over scene ceiling", func(r *SendRedPackRequest) { r.TotalAmount, r.SceneID = 500000, SceneLottery }, "total_amount"},
		{"amount below scene floor", func(r *SendRedPackRequest) { r.TotalAmount, r.SceneID = 29, SceneLottery }, "total_amount"},
		{"unknown scene", func(r *SendRedPackRequest) { r.SceneID = "PRODUCT_9" }, "scene_id"},
		{"lower-case scene", func(r *SendRedPackRequest) { r.SceneID = "product_1" }, "scene_id"},
		{"risk_info too long", func(r *SendRedPackRequest) { r.RiskInfo = &RiskInfo{DeviceID: strings.Repeat("d", 120)} }, "risk_info"},
		{"risk value forging a key", func(r *SendRedPackRequest) { r.RiskInfo = &RiskInfo{DeviceID: "IOS&mobile=00-0"} }, "risk_info"},
		{"risk value with =", func(r *SendRedPackRequest) { r.RiskInfo = &RiskInfo{ClientVersion: "v=8"} }, "risk_info"},
		{"risk mobile with +", func(r *SendRedPackRequest) { r.RiskInfo = &RiskInfo{Mobile: "+86-13800000000"} }, "risk_info"},
		{"consume_mch_id bad", func(r *SendRedPackRequest) { r.ConsumeMchID = "12-34" }, "consume_mch_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newStub(t, fixtureReply("sendredpack_SUCCESS.xml"))
			req := goodSend()
			tt.edit(req)
			_, err := stub.client(t).SendRedPack(context.Background(), req)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.field, ve.Field)
			assert.Contains(t, err.Error(), tt.field)
			assert.NotErrorIs(t, err, ErrUnknownOutcome)
			assert.Zero(t, stub.calls.Load(), "a refused request must not be sent")
		})
	}
}

func TestValidationAccepts(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *SendRedPackRequest)
	}{
		{"1 CNY", func(r *SendRedPackRequest) { r.TotalAmount = 100 }},
		{"200 CNY", func(r *SendRedPackRequest) { r.TotalAmount = 20000 }},
		{"30 fen with scene", func(r *SendRedPackRequest) { r.TotalAmount, r.SceneID = 30, SceneLottery }},
		{"4999 CNY with scene", func(r *SendRedPackRequest) { r.TotalAmount, r.SceneID = 499900, SceneEmployeeBenefit }},
		{"send_name 10 Chinese chars", func(r *SendRedPackRequest) { r.SendName = strings.Repeat("红", 10) }},
		{"28-char bill number", func(r *SendRedPackRequest) { r.MchBillNo = "abcdefghijklmnopqrstuvwxyzAB" }},
		{"all scenes valid", func(r *SendRedPackRequest) { r.SceneID = SceneTaxScratchPrize }},
		{"risk info", func(r *SendRedPackRequest) { r.RiskInfo = &RiskInfo{Mobile: "86-13800000000"} }},
		{"consume mch id", func(r *SendRedPackRequest) { r.ConsumeMchID = "1222000096" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := goodSend()
			tt.edit(req)
			assert.NoError(t, req.Validate())
		})
	}
}

func TestGroupValidation(t *testing.T) {
	good := func() *SendGroupRedPackRequest {
		return &SendGroupRedPackRequest{MchBillNo: "1900000109202501030000000002", SendName: "示例科技",
			ReOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", TotalAmount: 900, TotalNum: 3, Wishing: "恭喜发财",
			ActName: "裂变红包测试", Remark: "分享给好友"}
	}
	require.NoError(t, good().Validate())
	tests := []struct {
		name  string
		edit  func(r *SendGroupRedPackRequest)
		field string
	}{
		{"2 receivers", func(r *SendGroupRedPackRequest) { r.TotalNum = 2 }, "total_num"},
		{"21 receivers", func(r *SendGroupRedPackRequest) { r.TotalNum = 21 }, "total_num"},
		{"average below 1 CNY", func(r *SendGroupRedPackRequest) { r.TotalAmount = 299 }, "total_amount"},
		{"average above 200 CNY", func(r *SendGroupRedPackRequest) { r.TotalAmount = 60001 }, "total_amount"},
		{"no wishing", func(r *SendGroupRedPackRequest) { r.Wishing = "" }, "wishing"},
		{"bad bill number", func(r *SendGroupRedPackRequest) { r.MchBillNo = "a_b" }, "mch_billno"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newStub(t, fixtureReply("sendredpack_SUCCESS.xml"))
			req := good()
			tt.edit(req)
			_, err := stub.client(t).SendGroupRedPack(context.Background(), req)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.field, ve.Field)
			assert.Zero(t, stub.calls.Load())
		})
	}
	edge := good()
	edge.TotalAmount, edge.TotalNum = 20*20000, 20
	assert.NoError(t, edge.Validate(), "20 receivers at 200 CNY each")
	edge.SceneID = SceneLottery
	edge.TotalAmount = 20 * 100000
	assert.NoError(t, edge.Validate(), "with a scene, up to 1000 CNY a share")
	edge.TotalAmount++
	assert.Error(t, edge.Validate(), "one share may not exceed 1000 CNY")
}

func TestNilRequests(t *testing.T) {
	stub := newStub(t, fixtureReply("sendredpack_SUCCESS.xml"))
	c := stub.client(t)
	_, err := c.SendRedPack(context.Background(), nil)
	var ve *ValidationError
	assert.ErrorAs(t, err, &ve)
	_, err = c.SendGroupRedPack(context.Background(), nil)
	assert.ErrorAs(t, err, &ve)
	assert.Zero(t, stub.calls.Load())
}

func TestRiskInfoEncoding(t *testing.T) {
	assert.Equal(t, "", (*RiskInfo)(nil).encode())
	assert.Equal(t, "", (&RiskInfo{}).encode())
	assert.Equal(t, "posttime%3d1735689600%26mobile%3d86-13800000000%26deviceid%3dIOS%26clientversion%3d8.0.50",
		(&RiskInfo{PostTime: time.Unix(1735689600, 0), Mobile: "86-13800000000", DeviceID: "IOS", ClientVersion: "8.0.50"}).encode())
	assert.Equal(t, "deviceid%3da%26b%3d", (&RiskInfo{DeviceID: "a&b="}).encode(), "values are escaped with the whole")
}

func TestNewBillNo(t *testing.T) {
	n := NewBillNo()
	assert.Len(t, n, 28)
	assert.True(t, strings.HasPrefix(n, time.Now().In(chinaTime).Format("20060102")), n)
	assert.NoError(t, checkBillNo(n))
	assert.Regexp(t, `^[0-9]{8}[0-9A-Z]{20}$`, n)
}

// TestNewBillNoNoCollisions: millions of bill numbers of one day, from
// several goroutines, and no two alike. NewBillNo keeps no state between
// calls (every character comes from crypto/rand), so each call stands for
// a fresh process, as the CLI, cron jobs and workers that make one number
// each are; the alphabet check below catches a generator that counts.
func TestNewBillNoNoCollisions(t *testing.T) {
	total := 2_000_000
	if testing.Short() {
		total = 200_000
	}
	const workers = 8
	type tail [billNoRandom]byte
	all := make([]tail, total)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				b := NewBillNo()
				copy(all[i][:], b[8:])
			}
		}()
	}
	wg.Wait()
	// Every character of the alphabet turns up in every position: the
	// numbers use the whole space rather than a corner of it.
	for pos := 0; pos < billNoRandom; pos++ {
		seen := map[byte]bool{}
		for _, x := range all[:20000] {
			seen[x[pos]] = true
		}
		assert.Len(t, seen, 36, "position %d", pos)
	}
	slices.SortFunc(all, func(a, b tail) int { return bytes.Compare(a[:], b[:]) })
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("bill number tail %s made twice among %d", all[i][:], total)
		}
	}
}

func TestFormatBillNo(t *testing.T) {
	day := time.Date(2026, 12, 1, 23, 30, 0, 0, time.UTC) // 2026-12-02 in China
	got, err := FormatBillNo("1900000109", day, 42)
	require.NoError(t, err)
	assert.Equal(t, "1900000109202612020000000042", got)

	// Every valid mch_id length: the result fits 28 characters or is an
	// error, never an over-long bill number.
	for n := 1; n <= 32; n++ {
		mch := strings.Repeat("9", n)
		got, err := FormatBillNo(mch, day, 9_999_999_999)
		if n <= 10 {
			require.NoError(t, err, "mch_id of %d digits", n)
			assert.Len(t, got, n+18)
			assert.NoError(t, checkBillNo(got))
			continue
		}
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, "mch_id of %d digits", n)
		assert.Equal(t, "mch_billno", ve.Field)
		assert.Empty(t, got)
	}
	_, err = FormatBillNo("1900000109", day, 10_000_000_000)
	assert.ErrorContains(t, err, "more than 10 digits")
	_, err = FormatBillNo("19000A0109", day, 1)
	assert.ErrorContains(t, err, "not all digits")
}
