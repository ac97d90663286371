package redpack

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// paidNotification is a payment notification's fields as WeChat sends
// them, unsigned.
func paidNotification() map[string]string {
	return map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK", "appid": testAppID, "mch_id": testMchID,
		"nonce_str": "5d2b6c2a8db53831f7eda20af46e531c", "result_code": "SUCCESS",
		"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "is_subscribe": "Y", "trade_type": "JSAPI", "bank_type": "CMC",
		"total_fee": "12000", "fee_type": "CNY", "cash_fee": "11000", "coupon_fee": "1000", "coupon_count": "2",
		"coupon_id_0": "10000", "coupon_fee_0": "600", "coupon_type_0": "CASH",
		"coupon_id_1": "10001", "coupon_fee_1": "400", // coupon_type_1 missing, as WeChat sometimes sends it
		"transaction_id": "4200001234202612061234567890", "out_trade_no": "ORDER20261206001",
		"attach": "shop=7", "time_end": "20261206101112", "sub_mch_id": "1900000110",
	}
}

// notifySignHMAC is a plain HMAC-SHA256 signer, apart from the client's.
func notifySignHMAC(fields map[string]string, key string) string {
	var parts []string
	for k, v := range fields {
		if k != "sign" && v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	sort.Strings(parts)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(strings.Join(parts, "&") + "&key=" + key))
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

func notificationXML(fields map[string]string) []byte {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("<xml>")
	for _, k := range keys {
		b.WriteString("<" + k + "><![CDATA[" + fields[k] + "]]></" + k + ">")
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

func signedMD5(f map[string]string) []byte {
	f["sign"] = stubSign(f, testAPIKey)
	return notificationXML(f)
}

func TestParsePaymentNotification(t *testing.T) {
	c := newStub(t, nil).client(t)
	ctx := context.Background()

	n, err := c.ParsePaymentNotification(ctx, signedMD5(paidNotification()))
	require.NoError(t, err)
	assert.True(t, n.Paid())
	assert.Equal(t, SignMD5, n.SignType)
	assert.Equal(t, int64(12000), n.TotalFee)
	assert.Equal(t, int64(11000), n.CashFee)
	assert.Equal(t, int64(1000), n.CouponFee)
	assert.Equal(t, []Coupon{{ID: "10000", Type: "CASH", Fee: 600}, {ID: "10001", Fee: 400}}, n.Coupons)
	assert.Equal(t, "4200001234202612061234567890", n.TransactionID)
	assert.Equal(t, "ORDER20261206001", n.OutTradeNo)
	assert.Equal(t, "shop=7", n.Attach)
	assert.True(t, n.IsSubscribe)
	assert.True(t, n.TimeEnd.Equal(time.Date(2026, 12, 6, 2, 11, 12, 0, time.UTC)), "time_end is China time: %v", n.TimeEnd)
	assert.Equal(t, "1900000110", n.Fields["sub_mch_id"], "fields the type does not name are kept")
	assert.NotContains(t, n.Fields, "sign")

	// HMAC-SHA256 without sign_type: told by the signature's length.
	f := paidNotification()
	f["sign"] = notifySignHMAC(f, testAPIKey)
	n, err = c.ParsePaymentNotification(ctx, notificationXML(f))
	require.NoError(t, err)
	assert.Equal(t, SignHMACSHA256, n.SignType)
	// With sign_type, which is signed too.
	f = paidNotification()
	f["sign_type"] = "HMAC-SHA256"
	f["sign"] = notifySignHMAC(f, testAPIKey)
	n, err = c.ParsePaymentNotification(ctx, notificationXML(f))
	require.NoError(t, err)
	assert.Equal(t, SignHMACSHA256, n.SignType)

	// A failed payment, signed: a notification, not paid.
	f = map[string]string{"return_code": "SUCCESS", "appid": testAppID, "mch_id": testMchID, "nonce_str": "x",
		"result_code": "FAIL", "err_code": "ORDERNOTEXIST", "err_code_des": "订单不存在"}
	n, err = c.ParsePaymentNotification(ctx, signedMD5(f))
	require.NoError(t, err)
	assert.False(t, n.Paid())
}

// Every refusal, each before any field is trusted.
func TestParsePaymentNotificationRefusals(t *testing.T) {
	c := newStub(t, nil).client(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		body   func() []byte
		reason error
		field  string
	}{
		{"unsigned", func() []byte { return notificationXML(paidNotification()) }, ErrNotificationUnsigned, "sign"},
		{"unsigned failure", func() []byte {
			return notificationXML(map[string]string{"return_code": "SUCCESS", "appid": testAppID, "mch_id": testMchID, "result_code": "FAIL"})
		}, ErrNotificationUnsigned, "sign"},
		{"another key", func() []byte {
			f := paidNotification()
			f["sign"] = stubSign(f, "0123456789abcdef0123456789abcdef")
			return notificationXML(f)
		}, ErrNotificationSignature, "sign"},
		{"amount changed after signing", func() []byte {
			f := paidNotification()
			f["sign"] = stubSign(f, testAPIKey)
			f["total_fee"], f["cash_fee"] = "1200000", "1200000"
			return notificationXML(f)
		}, ErrNotificationSignature, "sign"},
		{"HMAC signature claimed as MD5", func() []byte {
			f := paidNotification()
			f["sign_type"] = "MD5"
			f["sign"] = notifySignHMAC(f, testAPIKey)
			return notificationXML(f)
		}, ErrNotificationSignature, "sign"},
		{"signature of an odd length", func() []byte {
			f := paidNotification()
			f["sign"] = "ABCDEF"
			return notificationXML(f)
		}, ErrNotificationSignature, "sign"},
		{"unknown sign_type", func() []byte {
			f := paidNotification()
			f["sign_type"] = "SHA1"
			f["sign"] = stubSign(f, testAPIKey)
			return notificationXML(f)
		}, ErrNotificationSignature, "sign_type"},
		{"another merchant", func() []byte {
			f := paidNotification()
			f["mch_id"] = "1900000999"
			return signedMD5(f)
		}, ErrNotificationMerchant, "mch_id"},
		{"an appid not listed", func() []byte {
			f := paidNotification()
			f["appid"] = "wx1111111111111111"
			return signedMD5(f)
		}, ErrNotificationMerchant, "appid"},
		{"return_code FAIL", func() []byte {
			f := paidNotification()
			f["return_code"], f["return_msg"] = "FAIL", "签名失败"
			return signedMD5(f)
		}, ErrNotificationMalformed, "return_code"},
		{"paid without an amount", func() []byte {
			f := paidNotification()
			delete(f, "total_fee")
			return signedMD5(f)
		}, ErrNotificationMalformed, "total_fee"},
		{"an amount that is not fen", func() []byte {
			f := paidNotification()
			f["total_fee"] = "120.00"
			return signedMD5(f)
		}, ErrNotificationMalformed, "total_fee"},
		{"more paid in cash than in all", func() []byte {
			f := paidNotification()
			f["cash_fee"] = "13000"
			return signedMD5(f)
		}, ErrNotificationMalformed, "cash_fee"},
		{"a bad time_end", func() []byte {
			f := paidNotification()
			f["time_end"] = "2026-12-06 10:11:12"
			return signedMD5(f)
		}, ErrNotificationMalformed, "time_end"},
		{"a field twice", func() []byte {
			b := signedMD5(paidNotification())
			return []byte(strings.Replace(string(b), "</xml>", "<total_fee>1</total_fee></xml>", 1))
		}, ErrNotificationMalformed, ""},
		{"an HTML page", func() []byte { return []byte("<html><body>502 Bad Gateway</body></html>") }, ErrNotificationMalformed, ""},
		{"too large", func() []byte {
			f := paidNotification()
			f["attach"] = strings.Repeat("a", DefaultMaxResponseBytes)
			return signedMD5(f)
		}, ErrNotificationMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := c.ParsePaymentNotification(ctx, tc.body())
			require.Nil(t, n)
			require.ErrorIs(t, err, tc.reason)
			var ne *NotificationError
			require.ErrorAs(t, err, &ne)
			assert.Equal(t, tc.field, ne.Field)
			assert.NotContains(t, err.Error(), testAPIKey)
		})
	}

	// A listed appid (a mini-program's) is accepted.
	mini := newStub(t, nil).client(t, WithNotifyAppIDs("wx1111111111111111"))
	f := paidNotification()
	f["appid"] = "wx1111111111111111"
	n, err := mini.ParsePaymentNotification(ctx, signedMD5(f))
	require.NoError(t, err)
	assert.Equal(t, "wx1111111111111111", n.AppID)
	_, err = NewClient(NewConfig(testMchID, testAppID, testAPIKey, testPKI().client.TLSCertificate()), WithNotifyAppIDs(""))
	require.Error(t, err)
}

// The handler answers WeChat's SUCCESS only when fn returns nil.
func TestPaymentNotifyHandler(t *testing.T) {
	c := newStub(t, nil).client(t)
	var got []*PaymentNotification
	fail := false
	h := c.PaymentNotifyHandler(func(ctx context.Context, n *PaymentNotification) error {
		got = append(got, n)
		if fail {
			return errors.New("database down: secret details")
		}
		return nil
	})
	post := func(body []byte) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/notify", strings.NewReader(string(body))))
		return w
	}

	w := post(signedMD5(paidNotification()))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>`, w.Body.String())
	require.Len(t, got, 1)
	assert.Equal(t, int64(11000), got[0].CashFee)

	fail = true
	w = post(signedMD5(paidNotification()))
	assert.Contains(t, w.Body.String(), "<return_code><![CDATA[FAIL]]></return_code>", "so that WeChat notifies again")
	assert.NotContains(t, w.Body.String(), "secret", "fn's error is not echoed")
	require.Len(t, got, 2)

	f := paidNotification()
	f["sign"] = stubSign(f, "0123456789abcdef0123456789abcdef")
	w = post(notificationXML(f))
	assert.Contains(t, w.Body.String(), "FAIL")
	require.Len(t, got, 2, "a forged notification never reaches fn")

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/notify", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	require.Len(t, got, 2)

	big := strings.Repeat("x", DefaultMaxResponseBytes+10)
	w = post([]byte(big))
	assert.Contains(t, w.Body.String(), "FAIL")
	require.Len(t, got, 2)
}

// encryptReqInfo encrypts as WeChat does, apart from the client's code:
// PKCS#7, AES-256-ECB keyed with the hex MD5 of the key, base64.
func encryptReqInfo(t *testing.T, plain, key string) string {
	t.Helper()
	sum := md5.Sum([]byte(key))
	block, err := aes.NewCipher([]byte(hex.EncodeToString(sum[:])))
	require.NoError(t, err)
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	data := append([]byte(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	out := make([]byte, len(data))
	for i := 0; i < len(data); i += aes.BlockSize {
		block.Encrypt(out[i:i+aes.BlockSize], data[i:i+aes.BlockSize])
	}
	return base64.StdEncoding.EncodeToString(out)
}

const refundRoot = `<root><out_refund_no><![CDATA[R20261206001]]></out_refund_no><out_trade_no><![CDATA[ORDER20261206001]]></out_trade_no>` +
	`<refund_account><![CDATA[REFUND_SOURCE_RECHARGE_FUNDS]]></refund_account><refund_fee><![CDATA[5000]]></refund_fee>` +
	`<refund_id><![CDATA[50000408942018112310187263]]></refund_id><refund_recv_accout><![CDATA[支付用户零钱]]></refund_recv_accout>` +
	`<refund_request_source><![CDATA[API]]></refund_request_source><refund_status><![CDATA[SUCCESS]]></refund_status>` +
	`<settlement_refund_fee><![CDATA[5000]]></settlement_refund_fee><settlement_total_fee><![CDATA[12000]]></settlement_total_fee>` +
	`<success_time><![CDATA[2026-12-06 11:00:01]]></success_time><total_fee><![CDATA[12000]]></total_fee>` +
	`<transaction_id><![CDATA[4200001234202612061234567890]]></transaction_id></root>`

func refundBody(appID, mchID, reqInfo string) []byte {
	return []byte(`<xml><return_code>SUCCESS</return_code><appid><![CDATA[` + appID + `]]></appid><mch_id><![CDATA[` + mchID +
		`]]></mch_id><nonce_str><![CDATA[0b9f35f484df17a732e537c37708d1d0]]></nonce_str><req_info><![CDATA[` + reqInfo + `]]></req_info></xml>`)
}

func TestParseRefundNotification(t *testing.T) {
	c := newStub(t, nil).client(t)
	ctx := context.Background()
	n, err := c.ParseRefundNotification(ctx, refundBody(testAppID, testMchID, encryptReqInfo(t, refundRoot, testAPIKey)))
	require.NoError(t, err)
	assert.True(t, n.Refunded())
	assert.Equal(t, "4200001234202612061234567890", n.TransactionID)
	assert.Equal(t, "R20261206001", n.OutRefundNo)
	assert.Equal(t, int64(12000), n.TotalFee)
	assert.Equal(t, int64(5000), n.RefundFee)
	assert.Equal(t, "支付用户零钱", n.RefundRecvAccount)
	assert.True(t, n.SuccessTime.Equal(time.Date(2026, 12, 6, 3, 0, 1, 0, time.UTC)), "China time: %v", n.SuccessTime)
	assert.Equal(t, "12000", n.Fields["settlement_total_fee"])

	for _, tc := range []struct {
		name   string
		body   []byte
		reason error
		field  string
	}{
		{"another key", refundBody(testAppID, testMchID, encryptReqInfo(t, refundRoot, "0123456789abcdef0123456789abcdef")), ErrNotificationSignature, "req_info"},
		{"not base64", refundBody(testAppID, testMchID, "not base64!"), ErrNotificationSignature, "req_info"},
		{"no req_info", refundBody(testAppID, testMchID, ""), ErrNotificationSignature, "req_info"},
		{"not WeChat's root", refundBody(testAppID, testMchID, encryptReqInfo(t, "<xml><a>1</a></xml>", testAPIKey)), ErrNotificationSignature, "req_info"},
		{"another merchant", refundBody(testAppID, "1900000999", encryptReqInfo(t, refundRoot, testAPIKey)), ErrNotificationMerchant, "mch_id"},
		{"an appid not listed", refundBody("wx1111111111111111", testMchID, encryptReqInfo(t, refundRoot, testAPIKey)), ErrNotificationMerchant, "appid"},
		{"more refunded than paid", refundBody(testAppID, testMchID, encryptReqInfo(t,
			strings.Replace(refundRoot, "<refund_fee><![CDATA[5000]]>", "<refund_fee><![CDATA[50000]]>", 1), testAPIKey)), ErrNotificationMalformed, "refund_fee"},
		{"HTML", []byte("<html>502</html>"), ErrNotificationMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := c.ParseRefundNotification(ctx, tc.body)
			require.Nil(t, n)
			require.ErrorIs(t, err, tc.reason)
			var ne *NotificationError
			require.ErrorAs(t, err, &ne)
			assert.Equal(t, tc.field, ne.Field)
		})
	}
}
