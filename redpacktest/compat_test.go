package redpacktest

import (
	"encoding/xml"
	"strconv"
	"testing"
)

// This file holds what SDKs redpack did not write send, where WeChat is
// lenient and the server must be too.

// request is sendredpack's body as silenceper/wechat/v2 builds it:
// encoding/xml of a struct with no XMLName, so the root takes the type's
// name, <request>; values are plain text and sign sits among the fields.
type request struct {
	NonceStr    string `xml:"nonce_str"`
	Sign        string `xml:"sign"`
	MchID       string `xml:"mch_id"`
	MchBillno   string `xml:"mch_billno"`
	Wxappid     string `xml:"wxappid"`
	SendName    string `xml:"send_name"`
	ReOpenID    string `xml:"re_openid"`
	TotalAmount int    `xml:"total_amount"`
	TotalNum    int    `xml:"total_num"`
	Wishing     string `xml:"wishing"`
	ClientIP    string `xml:"client_ip"`
	ActName     string `xml:"act_name"`
	Remark      string `xml:"remark"`
}

func silenceperBody(t *testing.T, fields map[string]string) []byte {
	t.Helper()
	amount, _ := strconv.Atoi(fields["total_amount"])
	num, _ := strconv.Atoi(fields["total_num"])
	body, err := xml.Marshal(request{
		NonceStr: fields["nonce_str"], Sign: testSign(fields, DefaultAPIKey, false),
		MchID: fields["mch_id"], MchBillno: fields["mch_billno"], Wxappid: fields["wxappid"],
		SendName: fields["send_name"], ReOpenID: fields["re_openid"], TotalAmount: amount, TotalNum: num,
		Wishing: fields["wishing"], ClientIP: fields["client_ip"], ActName: fields["act_name"], Remark: fields["remark"],
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestAnyRootElement(t *testing.T) {
	f := newFixture(t)
	bill := billNo()
	body := silenceperBody(t, normalFields(bill, 1000))
	if string(body[:9]) != "<request>" {
		t.Fatalf("body starts %q", body[:9])
	}
	wantCode(t, post(t, f.s, f.hc, "sendredpack", body), "SUCCESS", "")
	if p := mustPacket(t, f.s, DefaultMchID, bill); !p.Paid {
		t.Errorf("packet %+v", p)
	}
	wantCode(t, f.query(bill), "SUCCESS", "")

	reqs := f.s.Requests()
	if reqs[0].Root != "request" || reqs[1].Root != "xml" {
		t.Errorf("roots %q, %q; want request, xml", reqs[0].Root, reqs[1].Root)
	}
	var logged []adminRequestJSON
	newAdmin(t, f.s.Handler).ok("GET", "/requests", "", &logged)
	if len(logged) != 2 || logged[0].Root != "request" {
		t.Errorf("/requests %+v", logged)
	}

	// Still one flat root: two roots or nested fields are XML_ERROR.
	wantCode(t, post(t, f.s, f.hc, "sendredpack", []byte("<request></request><request></request>")), "XML_ERROR", "")
	wantCode(t, post(t, f.s, f.hc, "sendredpack", []byte("<request><mch_id><a>1</a></mch_id></request>")), "XML_ERROR", "")
}

func TestByteOrderMark(t *testing.T) {
	f := newFixture(t)
	for name, prolog := range map[string]string{
		"BOM":                  utf8BOM,
		"BOM with declaration": utf8BOM + `<?xml version="1.0" encoding="utf-8"?>` + "\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			bill := billNo()
			fs := normalFields(bill, 1000)
			fs["sign"] = testSign(fs, DefaultAPIKey, false)
			wantCode(t, post(t, f.s, f.hc, "sendredpack", append([]byte(prolog), xmlBody(fs)...)), "SUCCESS", "")
			mustPacket(t, f.s, DefaultMchID, bill)
		})
	}
	// A BOM alone is still an empty body.
	wantCode(t, post(t, f.s, f.hc, "sendredpack", []byte(utf8BOM)), "XML_ERROR", "")
}
