package redpacktest

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/redpack-go/redpack"
)

// Client.QueryOrder verifies the fake's signed answer and decodes it, with
// MD5 and with HMAC-SHA256, by either order number; the order is REFUND
// once refunded.
func TestOrderQueryWithClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []redpack.Option
	}{
		{"MD5", nil},
		{"HMAC", []redpack.Option{redpack.WithSignType(redpack.SignHMACSHA256)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startPay(t)
			client := newClient(t, s, DefaultMchID, append([]redpack.Option{noRetry}, tc.opts...)...)
			p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 1000, CashFee: 900, OutTradeNo: "oq-1", Attach: "x"})
			ctx := context.Background()
			o, err := client.QueryOrder(ctx, redpack.OrderQuery{TransactionID: p.TransactionID})
			if err != nil {
				t.Fatal(err)
			}
			if !o.Paid() || o.TransactionID != p.TransactionID || o.OutTradeNo != "oq-1" || o.TotalFee != 1000 || o.CashFee != 900 ||
				o.OpenID != openID || o.AppID != DefaultAppID || o.MchID != DefaultMchID || !o.TimeEnd.Equal(payStart) ||
				o.Attach != "x" || o.TradeStateDesc == "" || !o.IsSubscribe {
				t.Errorf("order %+v", o)
			}
			if _, err := s.Refund(p.TransactionID, RefundRequest{RefundFee: 100}); err != nil {
				t.Fatal(err)
			}
			o, err = client.QueryOrder(ctx, redpack.OrderQuery{OutTradeNo: "oq-1"})
			if err != nil || o.TradeState != redpack.TradeRefund || o.TransactionID != p.TransactionID {
				t.Fatalf("after refund: %+v, %v", o, err)
			}
			_, err = client.QueryOrder(ctx, redpack.OrderQuery{TransactionID: "4200000000000000000000000000"})
			wantAPICode(t, err, redpack.CodeOrderNotExist)
			// Under another of the merchant's appids, the order is unknown.
			_, err = client.QueryOrder(ctx, redpack.OrderQuery{AppID: DefaultMiniProgramAppID, TransactionID: p.TransactionID})
			wantAPICode(t, err, redpack.CodeOrderNotExist)

			var n int
			for _, r := range s.Requests() {
				if r.Op == "orderquery" {
					n++
				}
			}
			if n != 4 {
				t.Errorf("%d orderquery requests logged, want 4", n)
			}
		})
	}
}

// A mini-program's order is found under the mini-program's appid.
func TestOrderQueryMiniProgram(t *testing.T) {
	s := startPay(t)
	client := newClient(t, s, DefaultMchID, noRetry)
	p := mustPay(t, s, PaymentRequest{AppID: DefaultMiniProgramAppID, OpenID: openID, TotalFee: 5})
	o, err := client.QueryOrder(context.Background(), redpack.OrderQuery{AppID: DefaultMiniProgramAppID, TransactionID: p.TransactionID})
	if err != nil || o.IsSubscribe || o.AppID != DefaultMiniProgramAppID {
		t.Fatalf("%+v, %v", o, err)
	}
}

// The raw protocol: no certificate needed, the answer signed as asked,
// a wrong signature or sign_type SIGN_ERROR, an unknown order ORDERNOTEXIST
// (signed too).
func TestOrderQueryWire(t *testing.T) {
	s := startPay(t)
	p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100})
	hc := httpsClient(s, nil) // no client certificate
	url := s.URL() + "pay/orderquery"
	query := func(fields map[string]string, useHMAC bool) answer {
		t.Helper()
		fields = clone(fields)
		if _, ok := fields["sign"]; !ok {
			fields["sign"] = testSign(fields, DefaultAPIKey, useHMAC)
		}
		status, raw := postRaw(t, hc, url, xmlBody(fields))
		if status != http.StatusOK {
			t.Fatalf("HTTP %d", status)
		}
		return parseAnswer(t, status, raw)
	}
	base := map[string]string{"appid": DefaultAppID, "mch_id": DefaultMchID, "nonce_str": nonce(), "transaction_id": p.TransactionID}
	verify := func(a answer, useHMAC bool) {
		t.Helper()
		if a.F["sign"] == "" || testSign(a.F, DefaultAPIKey, useHMAC) != a.F["sign"] {
			t.Fatalf("answer's signature does not verify (HMAC %v): %s", useHMAC, a.Raw)
		}
	}

	a := query(base, false)
	verify(a, false)
	if a.F["result_code"] != "SUCCESS" || a.F["trade_state"] != "SUCCESS" || a.F["transaction_id"] != p.TransactionID || a.F["total_fee"] != "100" {
		t.Fatalf("answer %s", a.Raw)
	}
	a = query(with(base, "sign_type", "HMAC-SHA256"), true)
	verify(a, true)
	if len(a.F["sign"]) != 64 || a.F["result_code"] != "SUCCESS" {
		t.Fatalf("HMAC answer %s", a.Raw)
	}
	a = query(with(base, "transaction_id", "4200000000000000000000000001"), false)
	verify(a, false)
	if a.F["return_code"] != "SUCCESS" || a.F["result_code"] != "FAIL" || a.F["err_code"] != "ORDERNOTEXIST" {
		t.Fatalf("unknown order: %s", a.Raw)
	}
	for name, f := range map[string]map[string]string{
		"WrongSign":       with(base, "sign", "0123456789ABCDEF0123456789ABCDEF"),
		"HMACSignedAsMD5": with(base, "sign_type", "HMAC-SHA256", "sign", testSign(base, DefaultAPIKey, false)),
		"BadSignType":     with(base, "sign_type", "SHA1"),
	} {
		a := query(f, false)
		if a.F["return_code"] != "FAIL" || a.F["err_code"] != "SIGN_ERROR" {
			t.Errorf("%s: %s", name, a.Raw)
		}
	}
	if a := query(with(base, "transaction_id", ""), false); a.F["return_code"] != "FAIL" {
		t.Errorf("no order number: %s", a.Raw)
	}
	last := s.Requests()[len(s.Requests())-1]
	if last.Op != "orderquery" || last.MchID != DefaultMchID || last.ErrCode != "PARAM_ERROR" {
		t.Errorf("request log: %+v", last)
	}
	// GET is refused as for the other endpoints.
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d", resp.StatusCode)
	}
}

// A merchant's order is not another merchant's.
func TestOrderQueryOtherMerchant(t *testing.T) {
	m2 := DefaultMerchant()
	m2.MchID, m2.AppID = "1900000110", "wx9999999999999999"
	s := startPay(t, WithMerchants(DefaultMerchant(), m2))
	p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100})
	_, err := newClient(t, s, m2.MchID, noRetry).QueryOrder(context.Background(), redpack.OrderQuery{TransactionID: p.TransactionID})
	if !errors.Is(err, redpack.CodeOrderNotExist) {
		t.Fatalf("err = %v", err)
	}
}
