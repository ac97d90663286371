package redpacktest

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redpack-go/redpack/internal/pki"
)

// Raw-protocol tests of each documented rule and err_code: the tests sign
// and encode requests themselves (helpers_test.go).

func TestCAError(t *testing.T) {
	m2 := DefaultMerchant()
	m2.MchID = "1900000110"
	s := Start(t, WithMerchants(DefaultMerchant(), m2))
	fs := normalFields(billNo(), 1000)
	fs["sign"] = testSign(fs, DefaultAPIKey, false)
	body := xmlBody(fs)

	foreignCA, err := pki.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := foreignCA.Issue(pki.LeafOptions{CommonName: DefaultMchID, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	foreignCert := foreign.TLSCertificate()
	otherMerchant, err := tls.X509KeyPair(s.CertPEM(m2.MchID), s.KeyPEM(m2.MchID))
	if err != nil {
		t.Fatal(err)
	}
	for name, hc := range map[string]*http.Client{
		"no certificate":            httpsClient(s, nil),
		"certificate of another CA": httpsClient(s, &foreignCert),
		"another merchant's cert":   httpsClient(s, &otherMerchant),
	} {
		t.Run(name, func(t *testing.T) {
			a := post(t, s, hc, "sendredpack", body)
			wantCode(t, a, "CA_ERROR", "CA证书出错")
			if a.F["return_msg"] != desCAError {
				t.Errorf("return_msg = %q", a.F["return_msg"])
			}
		})
	}
	if n := len(s.Packets()); n != 0 {
		t.Errorf("%d packets after CA errors", n)
	}
	// Every CA_ERROR is logged with its body all the same.
	reqs := s.Requests()
	if len(reqs) != 3 || reqs[0].ErrCode != "CA_ERROR" || len(reqs[0].Body) == 0 {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestXMLError(t *testing.T) {
	f := newFixture(t)
	for name, body := range map[string]string{
		"empty":            "",
		"blank":            "  \n",
		"not xml":          "mch_id=1900000109&sign=X",
		"unclosed":         "<xml><mch_id>1900000109</mch_id>",
		"mismatched":       "<xml><mch_id>1900000109</mch_idx></xml>",
		"nested":           "<xml><mch_id><a>1</a></mch_id></xml>",
		"repeated element": "<xml><mch_id>1900000109</mch_id><mch_id>1900000109</mch_id></xml>",
		"two roots":        "<xml></xml><xml></xml>",
		"text in root":     "<xml>hello<mch_id>1</mch_id></xml>",
		"doctype":          `<!DOCTYPE xml [<!ENTITY a "b">]><xml><mch_id>1</mch_id></xml>`,
		"gbk declaration":  `<?xml version="1.0" encoding="GBK"?><xml><mch_id>1</mch_id></xml>`,
		"too large":        "<xml><remark>" + strings.Repeat("a", maxRequestBytes) + "</remark></xml>",
	} {
		t.Run(name, func(t *testing.T) {
			a := post(t, f.s, f.hc, "sendredpack", []byte(body))
			wantCode(t, a, "XML_ERROR", "xml")
		})
	}
	// Plain text (not CDATA) and a declaration are fine: WeChat takes both.
	fields := normalFields(billNo(), 1000)
	fields["sign"] = testSign(fields, DefaultAPIKey, false)
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<xml>\n")
	for k, v := range fields {
		b.WriteString("<" + k + ">" + v + "</" + k + ">\n")
	}
	b.WriteString("</xml>")
	wantCode(t, post(t, f.s, f.hc, "sendredpack", []byte(b.String())), "SUCCESS", "")
}

func TestUnknownMerchant(t *testing.T) {
	f := newFixture(t)
	a := f.send(with(normalFields(billNo(), 1000), "mch_id", "1234567890"))
	wantCode(t, a, "PARAM_ERROR", "商户号")
	if a.F["mch_id"] != "1234567890" {
		t.Errorf("mch_id not echoed: %v", a.F)
	}
	wantCode(t, f.send(with(normalFields(billNo(), 1000), "mch_id", "")), "PARAM_ERROR", "商户号")
}

func TestSignError(t *testing.T) {
	f := newFixture(t)
	base := normalFields(billNo(), 1000)

	t.Run("wrong key", func(t *testing.T) {
		a := do(t, f.s, f.hc, "sendredpack", base, "00000000000000000000000000000000")
		wantCode(t, a, "SIGN_ERROR", "签名错误")
		// Business fields are echoed (spec §9.1 Response 4).
		for _, k := range []string{"mch_billno", "mch_id", "wxappid", "re_openid", "total_amount"} {
			if a.F[k] != base[k] {
				t.Errorf("%s echoed as %q, want %q", k, a.F[k], base[k])
			}
		}
	})
	t.Run("tampered after signing", func(t *testing.T) {
		fs := clone(base)
		fs["sign"] = testSign(fs, DefaultAPIKey, false)
		fs["total_amount"] = "2000"
		wantCode(t, post(t, f.s, f.hc, "sendredpack", xmlBody(fs)), "SIGN_ERROR", "")
	})
	t.Run("no sign", func(t *testing.T) {
		wantCode(t, post(t, f.s, f.hc, "sendredpack", xmlBody(base)), "SIGN_ERROR", "")
	})
	// WeChat signs over its documented fields only (spec §4.3): an
	// undocumented field the client signed breaks the signature.
	for _, extra := range [][2]string{{"sign_type", "MD5"}, {"sub_appid", "wx1234567890123456"}, {"appid", DefaultAppID}} {
		t.Run("signed undocumented "+extra[0], func(t *testing.T) {
			wantCode(t, f.send(with(base, extra[0], extra[1])), "SIGN_ERROR", "")
		})
		t.Run("unsigned undocumented "+extra[0], func(t *testing.T) {
			fs := clone(base)
			fs["mch_billno"] = billNo()
			fs["sign"] = testSign(fs, DefaultAPIKey, false)
			fs[extra[0]] = extra[1]
			wantCode(t, post(t, f.s, f.hc, "sendredpack", xmlBody(fs)), "SUCCESS", "")
		})
	}
	t.Run("lower-case sign", func(t *testing.T) {
		fs := with(base, "mch_billno", billNo())
		fs["sign"] = strings.ToLower(testSign(fs, DefaultAPIKey, false))
		wantCode(t, post(t, f.s, f.hc, "sendredpack", xmlBody(fs)), "SUCCESS", "")
	})
	t.Run("HMAC refused by default", func(t *testing.T) {
		fs := with(base, "mch_billno", billNo(), "sign_type", "HMAC-SHA256")
		fs["sign"] = testSign(fs, DefaultAPIKey, true)
		wantCode(t, post(t, f.s, f.hc, "sendredpack", xmlBody(fs)), "SIGN_ERROR", "")
	})
	if got := f.s.Paid(DefaultMchID); got != 4*1000 {
		t.Errorf("Paid = %d, want 4000 (the four good requests)", got)
	}
}

func TestHMACAccepted(t *testing.T) {
	f := newFixture(t, WithHMACSHA256())
	fs := with(normalFields(billNo(), 1000), "sign_type", "HMAC-SHA256")
	fs["sign"] = testSign(fs, DefaultAPIKey, true)
	wantCode(t, post(t, f.s, f.hc, "sendredpack", xmlBody(fs)), "SUCCESS", "")

	// sign_type is signed in this mode: leaving it out of the HMAC fails.
	fs = with(normalFields(billNo(), 1000))
	fs["sign"] = testSign(fs, DefaultAPIKey, true)
	fs["sign_type"] = "HMAC-SHA256"
	wantCode(t, post(t, f.s, f.hc, "sendredpack", xmlBody(fs)), "SIGN_ERROR", "")

	// MD5 still works, with or without sign_type=MD5 signed.
	wantCode(t, f.send(normalFields(billNo(), 1000)), "SUCCESS", "")
	wantCode(t, f.send(with(normalFields(billNo(), 1000), "sign_type", "MD5")), "SUCCESS", "")
	wantCode(t, f.send(with(normalFields(billNo(), 1000), "sign_type", "SHA1")), "SIGN_ERROR", "")
}

func TestParamErrors(t *testing.T) {
	f := newFixture(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	han := func(n int) string { return strings.Repeat("红", n) } // 3 bytes each
	cases := []struct {
		name, op string
		fields   map[string]string
		des      string
	}{
		{"billno missing", "sendredpack", with(normalFields("", 1000)), "mch_billno字段必填"},
		{"billno 29 chars", "sendredpack", normalFields(long(29), 1000), "mch_billno"},
		{"billno with dash", "sendredpack", normalFields("1900000109-2025", 1000), "mch_billno只能包含"},
		{"wxappid missing", "sendredpack", with(normalFields(billNo(), 1000), "wxappid", ""), "wxappid字段必填"},
		{"send_name missing", "sendredpack", with(normalFields(billNo(), 1000), "send_name", ""), "send_name字段必填"},
		{"send_name 33 bytes", "sendredpack", with(normalFields(billNo(), 1000), "send_name", han(11)), "send_name"},
		{"re_openid missing", "sendredpack", with(normalFields(billNo(), 1000), "re_openid", ""), "re_openid字段必填"},
		{"re_openid 33", "sendredpack", with(normalFields(billNo(), 1000), "re_openid", long(33)), "re_openid"},
		{"total_amount missing", "sendredpack", with(normalFields(billNo(), 1000), "total_amount", ""), "total_amount字段必填"},
		{"total_amount decimal", "sendredpack", with(normalFields(billNo(), 1000), "total_amount", "10.00"), "total_amount必须为整数"},
		{"total_amount negative", "sendredpack", with(normalFields(billNo(), 1000), "total_amount", "-100"), "total_amount必须为整数"},
		{"total_num missing", "sendredpack", with(normalFields(billNo(), 1000), "total_num", ""), "total_num字段必填"},
		{"total_num 2", "sendredpack", with(normalFields(billNo(), 1000), "total_num", "2"), "total_num必须为1"},
		{"wishing missing", "sendredpack", with(normalFields(billNo(), 1000), "wishing", ""), "wishing字段必填"},
		{"wishing 129 bytes", "sendredpack", with(normalFields(billNo(), 1000), "wishing", han(43)), "wishing"},
		{"client_ip missing", "sendredpack", with(normalFields(billNo(), 1000), "client_ip", ""), "client_ip字段必填"},
		{"client_ip short", "sendredpack", with(normalFields(billNo(), 1000), "client_ip", "192.168.0"), "client_ip必须是合法的IP"},
		{"client_ip IPv6", "sendredpack", with(normalFields(billNo(), 1000), "client_ip", "::1"), "client_ip必须是合法的IP"},
		{"client_ip leading zero", "sendredpack", with(normalFields(billNo(), 1000), "client_ip", "192.168.000.1"), "client_ip必须是合法的IP"},
		{"act_name missing", "sendredpack", with(normalFields(billNo(), 1000), "act_name", ""), "act_name字段必填"},
		{"act_name 33", "sendredpack", with(normalFields(billNo(), 1000), "act_name", long(33)), "act_name"},
		{"remark missing", "sendredpack", with(normalFields(billNo(), 1000), "remark", ""), "remark字段必填"},
		{"remark 257", "sendredpack", with(normalFields(billNo(), 1000), "remark", long(257)), "remark"},
		{"nonce_str missing", "sendredpack", with(normalFields(billNo(), 1000), "nonce_str", ""), "nonce_str字段必填"},
		{"nonce_str 33", "sendredpack", with(normalFields(billNo(), 1000), "nonce_str", long(33)), "nonce_str"},
		{"risk_info 129", "sendredpack", with(normalFields(billNo(), 1000), "risk_info", long(129)), "risk_info字段长度不能超过128"},
		{"scene_id unknown", "sendredpack", with(normalFields(billNo(), 1000), "scene_id", "PRODUCT_9"), "scene_id取值错误"},
		{"group total_num 2", "sendgroupredpack", groupFields(billNo(), 900, 2), "total_num必须介于(包括)3到20之间"},
		{"group total_num 21", "sendgroupredpack", groupFields(billNo(), 4200, 21), "total_num必须介于(包括)3到20之间"},
		{"group amt_type missing", "sendgroupredpack", with(groupFields(billNo(), 900, 3), "amt_type", ""), "amt_type字段必填"},
		{"group amt_type other", "sendgroupredpack", with(groupFields(billNo(), 900, 3), "amt_type", "ALL_SAME"), "amt_type必须为ALL_RAND"},
		{"mini notify_way missing", "sendminiprogramhb", with(miniFields(billNo(), 100), "notify_way", ""), "notify_way字段必填"},
		{"mini notify_way other", "sendminiprogramhb", with(miniFields(billNo(), 100), "notify_way", "JSAPI"), "notify_way必须为MINI_PROGRAM_JSAPI"},
		{"mini total_num 2", "sendminiprogramhb", with(miniFields(billNo(), 200), "total_num", "2"), "total_num必须为1"},
		{"query appid missing", "gethbinfo", with(queryFields(billNo()), "appid", ""), "appid字段必填"},
		{"query bill_type other", "gethbinfo", with(queryFields(billNo()), "bill_type", "WX"), "bill_type必须为MCHT"},
		{"query billno missing", "gethbinfo", with(queryFields(""), "mch_billno", ""), "mch_billno字段必填"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, f.do(tc.op, tc.fields), "PARAM_ERROR", tc.des)
		})
	}
	if n := len(f.s.Packets()); n != 0 {
		t.Errorf("%d packets after parameter errors", n)
	}
	// The limits are inclusive and count UTF-8 bytes: 10 Chinese characters
	// (30 bytes) fit String(32), a 28-character bill number fits.
	ok := with(normalFields(billNo(), 1000), "send_name", han(10), "act_name", long(32), "remark", long(256), "wishing", han(42))
	wantCode(t, f.send(ok), "SUCCESS", "")
}

func TestAppIDRules(t *testing.T) {
	m := DefaultMerchant()
	m.AppAppIDs = []string{"wxapp0000000000001"}
	f := newFixture(t, WithMerchants(m))

	wantCode(t, f.send(with(normalFields(billNo(), 1000), "wxappid", "wx0000000000000000")), "PARAM_ERROR", desAppIDMismatch)
	wantCode(t, f.send(with(normalFields(billNo(), 1000), "wxappid", "wxapp0000000000001")), "ILLEGAL_APPID", "")
	wantCode(t, f.send(with(normalFields(billNo(), 1000), "msgappid", "wx0000000000000000")), "MSGAPPID_ERROR", "")
	wantCode(t, f.send(with(normalFields(billNo(), 1000), "sub_mch_id", "1900000999")), "ACCEPTMODE_ERROR", "")
	wantCode(t, f.send(with(normalFields(billNo(), 1000), "consume_mch_id", "1900000999")), "NO_CONSUME_COMPETENCE", desNoConsume)
	wantCode(t, f.do("sendminiprogramhb", with(miniFields(billNo(), 100), "wxappid", "wx0000000000000000")), "PARAM_ERROR", desAppIDMismatch)
	wantCode(t, f.do("gethbinfo", with(queryFields(billNo()), "appid", "wx0000000000000000")), "PARAM_ERROR", desQueryAppID)
	if n := len(f.s.Packets()); n != 0 {
		t.Fatalf("%d packets after refusals", n)
	}
	// Bound appids and the merchant's own consume_mch_id/msgappid are fine.
	wantCode(t, f.send(with(normalFields(billNo(), 1000), "consume_mch_id", DefaultMchID, "msgappid", DefaultAppID)), "SUCCESS", "")
}

// TestMiniProgramAppIDRefused: a mini-program's appid is for
// sendminiprogramhb (and queries); the Official Account sends refuse it.
// One listed in AppIDs, as before MiniProgramAppIDs, is still taken by all.
func TestMiniProgramAppIDRefused(t *testing.T) {
	old := DefaultMerchant()
	old.MchID, old.AppIDs, old.MiniProgramAppIDs = "1900000110", []string{DefaultMiniProgramAppID}, nil
	f := newFixture(t, WithMerchants(DefaultMerchant(), old))
	wantCode(t, f.send(with(normalFields(billNo(), 1000), "wxappid", DefaultMiniProgramAppID)), "ILLEGAL_APPID", "小程序")
	wantCode(t, f.do("sendgroupredpack", with(groupFields(billNo(), 900, 3), "wxappid", DefaultMiniProgramAppID)), "ILLEGAL_APPID", "小程序")
	if n := len(f.s.Packets()); n != 0 {
		t.Fatalf("%d packets after refusals", n)
	}
	wantCode(t, f.do("sendminiprogramhb", miniFields(billNo(), 100)), "SUCCESS", "")

	hc2 := merchantClient(t, f.s, old.MchID)
	wantCode(t, do(t, f.s, hc2, "sendredpack", with(normalFields(billNo(), 1000), "mch_id", old.MchID, "wxappid", DefaultMiniProgramAppID), old.APIKey), "SUCCESS", "")
	wantCode(t, do(t, f.s, hc2, "sendminiprogramhb", with(miniFields(billNo(), 100), "mch_id", old.MchID), old.APIKey), "SUCCESS", "")
}

func TestAmountRules(t *testing.T) {
	noScenes := DefaultMerchant()
	noScenes.MchID = "1900000110"
	noScenes.Scenes = nil
	f := newFixture(t, WithMerchants(DefaultMerchant(), noScenes))
	hc2 := merchantClient(t, f.s, noScenes.MchID)

	cases := []struct {
		name   string
		op     string
		fields map[string]string
		code   string
		des    string
	}{
		{"99 fen", "sendredpack", normalFields(billNo(), 99), "MONEY_LIMIT", "每个红包的平均金额必须在1.00元到200.00元之间."},
		{"0 fen", "sendredpack", normalFields(billNo(), 0), "MONEY_LIMIT", "1.00元到200.00元"},
		{"100 fen", "sendredpack", normalFields(billNo(), 100), "SUCCESS", ""},
		{"20000 fen", "sendredpack", normalFields(billNo(), 20000), "SUCCESS", ""},
		{"20001 fen", "sendredpack", normalFields(billNo(), 20001), "MONEY_LIMIT", "1.00元到200.00元"},
		{"scene 50000", "sendredpack", with(normalFields(billNo(), 50000), "scene_id", "PRODUCT_4"), "SUCCESS", ""},
		{"scene 30", "sendredpack", with(normalFields(billNo(), 30), "scene_id", "PRODUCT_2"), "SUCCESS", ""},
		{"scene 29", "sendredpack", with(normalFields(billNo(), 29), "scene_id", "PRODUCT_2"), "MONEY_LIMIT", "0.30元到4999.00元"},
		{"scene 499901", "sendredpack", with(normalFields(billNo(), 499901), "scene_id", "PRODUCT_2"), "MONEY_LIMIT", "0.30元到4999.00元"},
		{"group 299/3", "sendgroupredpack", groupFields(billNo(), 299, 3), "MONEY_LIMIT", "1.00元到200.00元"},
		{"group 300/3", "sendgroupredpack", groupFields(billNo(), 300, 3), "SUCCESS", ""},
		{"group 400000/20", "sendgroupredpack", groupFields(billNo(), 400000, 20), "SUCCESS", ""},
		{"group 400001/20", "sendgroupredpack", groupFields(billNo(), 400001, 20), "MONEY_LIMIT", ""},
		{"mini 99", "sendminiprogramhb", miniFields(billNo(), 99), "MONEY_LIMIT", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, f.do(tc.op, tc.fields), tc.code, tc.des)
		})
	}
	t.Run("scene not enabled", func(t *testing.T) {
		fs := with(normalFields(billNo(), 50000), "mch_id", noScenes.MchID, "scene_id", "PRODUCT_4")
		wantCode(t, do(t, f.s, hc2, "sendredpack", fs, DefaultAPIKey), "PARAM_ERROR", "该场景未开通")
		// Even within 1–200 CNY, a scene_id must be enabled.
		fs = with(normalFields(billNo(), 1000), "mch_id", noScenes.MchID, "scene_id", "PRODUCT_4")
		wantCode(t, do(t, f.s, hc2, "sendredpack", fs, DefaultAPIKey), "PARAM_ERROR", "该场景未开通")
		wantCode(t, do(t, f.s, hc2, "sendredpack", with(fs, "scene_id", ""), DefaultAPIKey), "SUCCESS", "")
	})
	want := int64(100 + 20000 + 50000 + 30 + 300 + 400000)
	if got := f.s.Paid(DefaultMchID); got != want {
		t.Errorf("Paid = %d, want %d", got, want)
	}
}

func TestReentry(t *testing.T) {
	f := newFixture(t)
	bill := billNo()
	first := f.send(normalFields(bill, 1000))
	wantCode(t, first, "SUCCESS", "")

	// Same fields, new nonce and signature: the original result, paid once.
	again := f.send(normalFields(bill, 1000))
	wantCode(t, again, "SUCCESS", "发放成功")
	if again.F["send_listid"] != first.F["send_listid"] || again.F["send_listid"] == "" {
		t.Errorf("send_listid %q, first %q", again.F["send_listid"], first.F["send_listid"])
	}
	// A changed wishing is not one of the compared fields (spec §3.5).
	wantCode(t, f.send(with(normalFields(bill, 1000), "wishing", "另一句")), "SUCCESS", "")

	wantCode(t, f.send(with(normalFields(bill, 1000), "re_openid", openID2)), "FATAL_ERROR", desOpenIDDiffers)
	wantCode(t, f.send(normalFields(bill, 1001)), "FATAL_ERROR", desAmountDiffers)

	if got := f.s.Paid(DefaultMchID); got != 1000 {
		t.Errorf("Paid = %d, want 1000", got)
	}
	if got := f.s.Balance(DefaultMchID); got != DefaultBalance-1000 {
		t.Errorf("Balance = %d", got)
	}
	if n := len(f.s.Packets()); n != 1 {
		t.Errorf("%d packets, want 1", n)
	}

	// A bill number expires 24 h after it was first used.
	f.s.Advance(RefundAfter - time.Second)
	wantCode(t, f.send(normalFields(bill, 1000)), "SUCCESS", "")
	f.s.Advance(time.Second)
	wantCode(t, f.send(normalFields(bill, 1000)), "PARAM_ERROR", desExpired)
	if got := f.s.Paid(DefaultMchID); got != 1000 {
		t.Errorf("Paid = %d after expiry, want 1000", got)
	}
}

func TestNotEnough(t *testing.T) {
	f := newFixture(t)
	if err := f.s.SetBalance(DefaultMchID, 999); err != nil {
		t.Fatal(err)
	}
	bill := billNo()
	wantCode(t, f.send(normalFields(bill, 1000)), "NOTENOUGH", desNotEnough)
	if _, ok := f.s.Packet(DefaultMchID, bill); ok || f.s.Paid(DefaultMchID) != 0 || f.s.Balance(DefaultMchID) != 999 {
		t.Fatal("NOTENOUGH paid or recorded something")
	}
	wantCode(t, f.query(bill), "NOT_FOUND", "")
	// After a top-up the same bill number goes through.
	if err := f.s.SetBalance(DefaultMchID, 1000); err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.send(normalFields(bill, 1000)), "SUCCESS", "")
	if f.s.Balance(DefaultMchID) != 0 || f.s.Paid(DefaultMchID) != 1000 {
		t.Errorf("balance %d, paid %d", f.s.Balance(DefaultMchID), f.s.Paid(DefaultMchID))
	}
	if err := f.s.SetBalance("nobody", 1); err == nil {
		t.Error("SetBalance of an unknown merchant worked")
	}
}

func TestDailyCaps(t *testing.T) {
	m := DefaultMerchant()
	m.UserDailyCount = 2
	m.UserDailyAmount = 2500
	m.DailyAmount = 5000
	f := newFixture(t, WithMerchants(m))

	wantCode(t, f.send(normalFields(billNo(), 1000)), "SUCCESS", "")
	wantCode(t, f.send(normalFields(billNo(), 1000)), "SUCCESS", "")
	third := billNo()
	wantCode(t, f.send(normalFields(third, 100)), "SENDNUM_LIMIT", desSendNumLimit)

	// The refused packet is recorded FAILED with the reason, so the bill
	// number answers SEND_FAILED from now on, even after the day ends.
	p := mustPacket(t, f.s, DefaultMchID, third)
	if p.Status != StatusFailed || p.Reason != desSendNumLimit || p.Paid {
		t.Errorf("refused packet = %+v", p)
	}
	q := f.query(third)
	wantCode(t, q, "SUCCESS", "")
	if q.F["status"] != "FAILED" || q.F["reason"] != desSendNumLimit {
		t.Errorf("gethbinfo of refused packet: %v", q.F)
	}
	wantCode(t, f.send(normalFields(third, 100)), "SEND_FAILED", desSendFailed)

	// Per-user amount: another user, 2 × 1300 > 2500.
	u2 := func(bill string, amount int64) map[string]string {
		return with(normalFields(bill, amount), "re_openid", openID2)
	}
	wantCode(t, f.send(u2(billNo(), 1300)), "SUCCESS", "")
	wantCode(t, f.send(u2(billNo(), 1300)), "RCVDAMOUNT_LIMIT", desRcvdAmount)
	// Merchant total: 1000+1000+1300 paid; 1300 more to a third user is
	// within the per-user caps but not 5000 per day.
	u3 := func(bill string, amount int64) map[string]string {
		return with(normalFields(bill, amount), "re_openid", openID3)
	}
	wantCode(t, f.send(u3(billNo(), 1700)), "SUCCESS", "")
	wantCode(t, f.send(u3(billNo(), 100)), "SENDAMOUNT_LIMIT", desSendAmount)
	if got := f.s.Paid(DefaultMchID); got != 5000 {
		t.Errorf("Paid = %d, want 5000", got)
	}

	// Caps count per China calendar day: the next day starts afresh.
	f.s.Advance(24 * time.Hour)
	wantCode(t, f.send(normalFields(billNo(), 1000)), "SUCCESS", "")
	wantCode(t, f.send(normalFields(third, 100)), "PARAM_ERROR", desExpired)
}

func TestDefaultCaps(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < DefaultUserDailyCount; i++ {
		wantCode(t, f.send(normalFields(billNo(), 100)), "SUCCESS", "")
	}
	wantCode(t, f.send(normalFields(billNo(), 100)), "SENDNUM_LIMIT", "")
	// 1000 CNY per user per day: five 200-CNY packets, then no more.
	for i := 0; i < 5; i++ {
		wantCode(t, f.send(with(normalFields(billNo(), 20000), "re_openid", openID2)), "SUCCESS", "")
	}
	wantCode(t, f.send(with(normalFields(billNo(), 100), "re_openid", openID2)), "RCVDAMOUNT_LIMIT", "")
}

func TestFreqLimit(t *testing.T) {
	m2 := DefaultMerchant()
	m2.MchID = "1900000110"
	f := newFixture(t, WithRateLimit(3), WithMerchants(DefaultMerchant(), m2))
	hc2 := merchantClient(t, f.s, m2.MchID)

	bill := billNo()
	var codes []string
	for i := 0; i < 5; i++ {
		codes = append(codes, f.query(bill).code())
	}
	want := []string{"NOT_FOUND", "NOT_FOUND", "NOT_FOUND", "FREQ_LIMIT", "FREQ_LIMIT"}
	if strings.Join(codes, ",") != strings.Join(want, ",") {
		t.Fatalf("codes = %v, want %v", codes, want)
	}
	// A send is limited too, and FREQ_LIMIT pays nothing.
	a := f.send(normalFields(bill, 1000))
	wantCode(t, a, "FREQ_LIMIT", desFreqLimit)
	if f.s.Paid(DefaultMchID) != 0 {
		t.Error("FREQ_LIMIT paid")
	}
	// The limit is per merchant.
	other := with(queryFields(bill), "mch_id", m2.MchID)
	wantCode(t, do(t, f.s, hc2, "gethbinfo", other, DefaultAPIKey), "NOT_FOUND", "")
	// A second later the window has moved on.
	time.Sleep(1100 * time.Millisecond)
	wantCode(t, f.send(normalFields(bill, 1000)), "SUCCESS", "")
}

func TestRateLimitOff(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 2*DefaultRateLimit; i++ {
		if a := f.query(billNo()); a.code() != "NOT_FOUND" {
			t.Fatalf("request %d: %s", i, a.code())
		}
	}
}

func TestNoAuth(t *testing.T) {
	m := DefaultMerchant()
	m.AllowedIPs = []string{"10.0.0.1"}
	f := newFixture(t, WithMerchants(m))
	wantCode(t, f.send(normalFields(billNo(), 1000)), "NO_AUTH", desNoAuth)
	wantCode(t, f.query(billNo()), "NO_AUTH", desNoAuth)

	m.AllowedIPs = []string{"10.0.0.1", "127.0.0.1"}
	f = newFixture(t, WithMerchants(m))
	wantCode(t, f.send(normalFields(billNo(), 1000)), "SUCCESS", "")
}

func TestPaths(t *testing.T) {
	s := Start(t, WithPathPrefix("wechat"))
	if !strings.HasSuffix(s.URL(), "/wechat/") {
		t.Fatalf("URL = %s", s.URL())
	}
	hc := merchantClient(t, s, DefaultMchID)
	fs := normalFields(billNo(), 1000)
	fs["sign"] = testSign(fs, DefaultAPIKey, false)
	base := strings.TrimSuffix(s.URL(), "wechat/")
	for _, path := range []string{
		"mmpaymkttransfers/sendredpack", // without the prefix
		"wechat/mmpaymkttransfers/sendredpackx",
		"wechat/mmpaymkttransfers/",
		"wechat/pay/unifiedorder",
	} {
		if status, _ := postRaw(t, hc, base+path, xmlBody(fs)); status != http.StatusNotFound {
			t.Errorf("%s: HTTP %d, want 404", path, status)
		}
	}
	status, raw := postRaw(t, hc, s.URL()+"mmpaymkttransfers/sendredpack", xmlBody(fs))
	wantCode(t, parseAnswer(t, status, raw), "SUCCESS", "")
	reqs := s.Requests()
	if len(reqs) != 5 || reqs[0].Op != "" || reqs[4].Op != "sendredpack" || reqs[4].MchBillNo != fs["mch_billno"] {
		t.Errorf("requests: %+v", reqs)
	}
}

func TestMiniProgram(t *testing.T) {
	f := newFixture(t)
	bill := billNo()
	a := f.do("sendminiprogramhb", miniFields(bill, 100))
	wantCode(t, a, "SUCCESS", "发放成功")
	pkg := a.F["package"]
	if !matchPackage(pkg, DefaultMiniProgramAppID) {
		t.Errorf("package = %q", pkg)
	}
	p := mustPacket(t, f.s, DefaultMchID, bill)
	if p.Kind != KindMiniProgram || p.Package != pkg || p.WxAppID != DefaultMiniProgramAppID {
		t.Errorf("packet = %+v", p)
	}
	// Re-entry gives the same package.
	if again := f.do("sendminiprogramhb", miniFields(bill, 100)); again.F["package"] != pkg {
		t.Errorf("re-entry package %q, first %q", again.F["package"], pkg)
	}
	// client_ip is not a field of this endpoint: signing it fails.
	wantCode(t, f.do("sendminiprogramhb", with(miniFields(billNo(), 100), "client_ip", "192.168.0.1")), "SIGN_ERROR", "")
	q := f.do("gethbinfo", with(queryFields(bill), "appid", DefaultMiniProgramAppID)) // the appid it was sent with
	if q.F["hb_type"] != "NORMAL" || q.F["status"] != "SENT" {
		t.Errorf("gethbinfo: %v", q.F)
	}
}

// matchPackage checks sendid=<hex>&ver=8&sign=<hex>&mchid=<mch>&appid=<appid>.
func matchPackage(pkg, appid string) bool {
	parts := strings.Split(pkg, "&")
	if len(parts) != 5 {
		return false
	}
	isHex := func(s string) bool {
		for _, c := range s {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return s != ""
	}
	sendid, ok1 := strings.CutPrefix(parts[0], "sendid=")
	sign, ok2 := strings.CutPrefix(parts[2], "sign=")
	return ok1 && ok2 && isHex(sendid) && len(sendid) == 64 && isHex(sign) &&
		parts[1] == "ver=8" && parts[3] == "mchid="+DefaultMchID && parts[4] == "appid="+appid
}

// TestGroupOffline: a merchant WeChat has closed to group packets gets
// NO_AUTH on every group send, nothing paid; other sends go on.
func TestGroupOffline(t *testing.T) {
	m := DefaultMerchant()
	m.GroupOffline = true
	f := newFixture(t, WithMerchants(m))
	bill := billNo()
	wantCode(t, f.do("sendgroupredpack", groupFields(bill, 900, 3)), "NO_AUTH", "下线")
	wantCode(t, f.do("sendgroupredpack", groupFields(bill, 900, 3)), "NO_AUTH", "下线") // and again
	if n := len(f.s.Packets()); n != 0 || f.s.Paid(DefaultMchID) != 0 {
		t.Fatalf("%d packets, %d fen paid", n, f.s.Paid(DefaultMchID))
	}
	wantCode(t, f.send(normalFields(billNo(), 1000)), "SUCCESS", "")
	wantCode(t, f.do("sendminiprogramhb", miniFields(billNo(), 100)), "SUCCESS", "")
	var mj adminMerchantJSON
	newAdmin(t, f.s.Handler).ok("GET", "/merchants/"+DefaultMchID, "", &mj)
	if !mj.GroupOffline {
		t.Errorf("merchant %+v", mj)
	}
	// The default is a legacy account that accepts them.
	wantCode(t, newFixture(t).do("sendgroupredpack", groupFields(billNo(), 900, 3)), "SUCCESS", "")
}
