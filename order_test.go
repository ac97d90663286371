package redpack

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// paidOrder is an orderquery answer's fields, unsigned.
func paidOrder() map[string]string {
	return map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK", "appid": testAppID, "mch_id": testMchID, "nonce_str": "ssdqRHvWLSxH4sXi",
		"result_code": "SUCCESS", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "is_subscribe": "Y", "trade_type": "JSAPI",
		"bank_type": "CMC", "total_fee": "12000", "cash_fee": "11000", "fee_type": "CNY",
		"transaction_id": "4200001234202612061234567890", "out_trade_no": "ORDER20261206001", "attach": "shop=7",
		"time_end": "20261206101112", "trade_state": "SUCCESS", "trade_state_desc": "支付成功",
	}
}

func orderStub(t *testing.T, answer func(req stubRequest) map[string]string, sign bool) *wechatStub {
	return newStub(t, func(req stubRequest) (int, string) {
		f := answer(req)
		if sign {
			f["sign"] = stubSign(f, testAPIKey)
		}
		return http.StatusOK, string(notificationXML(f))
	})
}

func TestQueryOrder(t *testing.T) {
	ctx := context.Background()
	s := orderStub(t, func(stubRequest) map[string]string { return paidOrder() }, true)
	c := s.client(t)
	o, err := c.QueryOrder(ctx, OrderQuery{TransactionID: "4200001234202612061234567890"})
	require.NoError(t, err)
	assert.True(t, o.Paid())
	assert.Equal(t, int64(12000), o.TotalFee)
	assert.Equal(t, int64(11000), o.CashFee)
	assert.Equal(t, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", o.OpenID)
	assert.True(t, o.TimeEnd.Equal(time.Date(2026, 12, 6, 2, 11, 12, 0, time.UTC)))
	req := s.requests()[0]
	assert.True(t, strings.HasSuffix(req.Path, "pay/orderquery"), req.Path)
	assert.Equal(t, "4200001234202612061234567890", req.Fields["transaction_id"])
	assert.Equal(t, testAppID, req.Fields["appid"])
	assert.Equal(t, testMchID, req.Fields["mch_id"])
	assert.NotContains(t, req.Fields, "out_trade_no")

	// By the merchant's order number, under a mini-program's appid.
	s = orderStub(t, func(r stubRequest) map[string]string {
		f := paidOrder()
		f["appid"] = r.Fields["appid"]
		return f
	}, true)
	o, err = s.client(t).QueryOrder(ctx, OrderQuery{AppID: "wx1111111111111111", OutTradeNo: "ORDER20261206001"})
	require.NoError(t, err)
	assert.Equal(t, "wx1111111111111111", o.AppID)

	// WeChat knows no such order.
	s = orderStub(t, func(stubRequest) map[string]string {
		return map[string]string{"return_code": "SUCCESS", "appid": testAppID, "mch_id": testMchID, "nonce_str": "x",
			"result_code": "FAIL", "err_code": "ORDERNOTEXIST", "err_code_des": "此交易订单号不存在"}
	}, true)
	_, err = s.client(t).QueryOrder(ctx, OrderQuery{TransactionID: "4200001234202612061234567890"})
	require.ErrorIs(t, err, CodeOrderNotExist)
}

// An orderquery answer is WeChat's word only when it is signed with the
// key and names the order and the merchant asked about.
func TestQueryOrderRefusesUntrustedAnswers(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		answer func() map[string]string
		sign   bool
		want   string
	}{
		{"unsigned", paidOrder, false, "not signed"},
		{"signed with another key", func() map[string]string {
			f := paidOrder()
			f["sign"] = stubSign(f, "0123456789abcdef0123456789abcdef")
			return f
		}, false, "signature does not verify"},
		{"another order", func() map[string]string {
			f := paidOrder()
			f["transaction_id"] = "4200009999202612069999999999"
			return f
		}, true, "transaction_id"},
		{"another merchant", func() map[string]string {
			f := paidOrder()
			f["mch_id"] = "1900000999"
			return f
		}, true, "mch_id"},
		{"no trade_state", func() map[string]string {
			f := paidOrder()
			delete(f, "trade_state")
			return f
		}, true, "trade_state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := orderStub(t, func(stubRequest) map[string]string { return tc.answer() }, tc.sign)
			o, err := s.client(t, WithRetryPolicy(RetryPolicy{MaxAttempts: 1})).QueryOrder(ctx, OrderQuery{TransactionID: "4200001234202612061234567890"})
			require.Nil(t, o)
			require.ErrorContains(t, err, tc.want)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
		})
	}

	c := newStub(t, nil).client(t)
	_, err := c.QueryOrder(ctx, OrderQuery{})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	_, err = c.QueryOrder(ctx, OrderQuery{TransactionID: "1", OutTradeNo: "2"})
	require.ErrorAs(t, err, &ve)
}
