package redpacktest

import "testing"

// TestQueryWxAppID: gethbinfo with wxappid (the send APIs' name) instead
// of appid, signed over what was sent, is answered PARAM_ERROR naming
// appid, not SIGN_ERROR.
func TestQueryWxAppID(t *testing.T) {
	f := newFixture(t)
	bill := billNo()
	wantCode(t, f.send(normalFields(bill, 1000)), "SUCCESS", "")
	a := f.do("gethbinfo", with(queryFields(bill), "appid", "", "wxappid", DefaultAppID))
	wantCode(t, a, "PARAM_ERROR", "appid字段必填")
	if a.F["mch_billno"] != bill {
		t.Errorf("bill number not echoed: %v", a.F)
	}
	// The signature is still checked when appid is there.
	q := queryFields(bill)
	q["sign"] = testSign(q, "00000000000000000000000000000000", false)
	wantCode(t, post(t, f.s, f.hc, "gethbinfo", xmlBody(q)), "SIGN_ERROR", "")
}

// TestQueryOtherAppID: a packet is found under the appid it was sent with
// only; under another appid of the merchant it is an unknown bill.
func TestQueryOtherAppID(t *testing.T) {
	f := newFixture(t)
	normal, mini := billNo(), billNo()
	wantCode(t, f.send(normalFields(normal, 1000)), "SUCCESS", "")
	wantCode(t, f.do("sendminiprogramhb", miniFields(mini, 100)), "SUCCESS", "")
	for _, tc := range []struct {
		bill, appid, code string
	}{
		{normal, DefaultAppID, "SUCCESS"},
		{normal, DefaultMiniProgramAppID, "NOT_FOUND"},
		{mini, DefaultMiniProgramAppID, "SUCCESS"},
		{mini, DefaultAppID, "NOT_FOUND"},
	} {
		a := f.do("gethbinfo", with(queryFields(tc.bill), "appid", tc.appid))
		wantCode(t, a, tc.code, "")
		if tc.code == "NOT_FOUND" && (a.F["detail_id"] != "" || a.F["status"] != "") {
			t.Errorf("a NOT_FOUND answer tells about the packet: %v", a.F)
		}
	}
}
