package redpacktest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The control API makes payments, shows their deliveries, delivers again
// on demand, refunds, and waits for deliveries on a clock advance.
func TestAdminPayments(t *testing.T) {
	s := startPay(t)
	ad := newAdmin(t, s.Handler)
	rc := newReceiver(t, answerWith(200, answerFail))

	var p adminPaymentJSON
	ad.ok("POST", "/payments", fmt.Sprintf(`{"openid": %q, "total_fee": 1000, "cash_fee": 900, "out_trade_no": "adm-1",
		"time_end": "20250101115959", "notify_url": %q, "sign_type": "HMAC-SHA256", "omit_sign_type": true, "attach": "a"}`, openID, rc.URL), &p)
	if p.TransactionID == "" || p.MchID != DefaultMchID || p.AppID != DefaultAppID || p.CashFee != 900 || p.TimeEnd != "20250101115959" ||
		p.SignType != "HMAC-SHA256" || !p.OmitSignType || p.TradeState != "SUCCESS" {
		t.Fatalf("payment %+v", p)
	}
	ad.ok("POST", "/deliveries/wait", "", nil)
	ad.ok("GET", "/payments/"+p.TransactionID, "", &p)
	if len(p.Deliveries) != 1 || p.Deliveries[0].ReturnCode != "FAIL" || p.Deliveries[0].Success || p.Deliveries[0].HTTPStatus != 200 ||
		p.Deliveries[0].Kind != "payment" || p.NextDelivery != "2025-01-01T12:00:15+08:00" {
		t.Fatalf("payment after one delivery %+v", p)
	}
	// The clock advance answers once the re-delivery was answered.
	ad.ok("POST", "/clock/advance", `{"duration": "15s"}`, nil)
	ad.ok("GET", "/payments/"+p.TransactionID, "", &p)
	if len(p.Deliveries) != 2 || p.Deliveries[1].Attempt != 2 || p.Deliveries[1].Time != "2025-01-01T12:00:15+08:00" {
		t.Fatalf("after advance: %+v", p.Deliveries)
	}
	var d adminDeliveryJSON
	ad.ok("POST", "/payments/"+p.TransactionID+"/notify", "", &d)
	if d.Attempt != 0 || d.ReturnCode != "FAIL" || d.Kind != "payment" {
		t.Fatalf("notify: %+v", d)
	}
	var r adminRefundJSON
	ad.ok("POST", "/payments/"+p.TransactionID+"/refund", `{"refund_fee": 400, "out_refund_no": "rf-1"}`, &r)
	if r.RefundFee != 400 || r.OutRefundNo != "rf-1" || r.RefundID == "" || r.NotifyURL != rc.URL {
		t.Fatalf("refund %+v", r)
	}
	var all []adminPaymentJSON
	ad.ok("POST", "/deliveries/wait", "", &all)
	if len(all) != 1 || all[0].TradeState != "REFUND" || len(all[0].Refunds) != 1 || len(all[0].Deliveries) != 4 || all[0].Deliveries[3].Kind != "refund" {
		t.Fatalf("payments %+v", all)
	}
	ad.ok("GET", "/payments", "", &all)
	if len(all) != 1 {
		t.Fatalf("%d payments", len(all))
	}
	if n := len(rc.got()); n != 4 {
		t.Fatalf("receiver got %d", n)
	}
	// A second payment, with delivery faults.
	ad.ok("POST", "/payments", fmt.Sprintf(`{"openid": %q, "total_fee": 5, "notify_url": %q, "copies": 2, "delay": "10ms"}`, openID, rc.URL), &p)
	ad.ok("POST", "/deliveries/wait", "", nil)
	if n := len(rc.got()); n != 6 {
		t.Fatalf("receiver got %d, want 2 copies more", n)
	}

	// Errors.
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/payments", `{"total_fee": 1}`, 400, "OpenID"},
		{"POST", "/payments", `{"openid": "o", "total_fee": 1, "time_end": "2025-01-01"}`, 400, "time_end"},
		{"POST", "/payments", `{"openid": "o", "total_fee": 1, "delay": "soon"}`, 400, "delay"},
		{"POST", "/payments", `{"openid": "o", "total_fee": 1, "bogus": 1}`, 400, "bogus"},
		{"GET", "/payments/nope", "", 404, "nope"},
		{"POST", "/payments/nope/notify", "", 404, "nope"},
		{"POST", "/payments/nope/refund", "", 404, "nope"},
		{"POST", "/payments/" + p.TransactionID + "/refund", `{"refund_fee": 6}`, 409, "RefundFee"},
		{"DELETE", "/payments", "", 405, "method"},
	} {
		if msg := ad.fails(tc.method, tc.path, tc.body, tc.status); !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s: %q lacks %q", tc.method, tc.path, msg, tc.want)
		}
	}
	var q adminPaymentJSON
	ad.ok("POST", "/payments", fmt.Sprintf(`{"openid": %q, "total_fee": 5}`, openID), &q)
	if msg := ad.fails("POST", "/payments/"+q.TransactionID+"/notify", "", http.StatusConflict); !strings.Contains(msg, "notify URL") {
		t.Errorf("notify without URL: %q", msg)
	}
	ad.ok("POST", "/reset", "", nil)
	ad.ok("GET", "/payments", "", &all)
	if len(all) != 0 {
		t.Fatalf("%d payments after reset", len(all))
	}

}
