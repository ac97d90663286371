package redpacktest

import (
	"net/http"
	"strings"
)

// orderQueryPath is where WeChat serves the order query
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_2), under
// the same base as the red-packet endpoints.
const orderQueryPath = "pay/orderquery"

// isOrderQueryPath reports whether a path cleaned by cleanPath is
// pay/orderquery.
func (h *Handler) isOrderQueryPath(path string) bool {
	rest, ok := strings.CutPrefix(path, h.prefix)
	return ok && rest == orderQueryPath
}

// serveOrderQuery answers pay/orderquery from the payments, filling req.
// No client certificate is needed (one is accepted and ignored), and no
// rate limit applies: WeChat's 30 a second is the red-packet API's, and
// it documents none for orderquery. The request's signature covers every
// field it sends (sign_type included), MD5 unless sign_type says
// HMAC-SHA256; the answer is signed with the same algorithm.
func (h *Handler) serveOrderQuery(w http.ResponseWriter, body []byte, readErr error, req *Request) {
	rep := h.orderQuery(body, readErr, req)
	req.ErrCode = rep.errCode
	h.mu.Lock()
	h.requests = append(h.requests, *req)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(rep.encode())
}

// The texts of orderquery's answers. WeChat documents the err_codes, not
// every return_msg; these are the ones its servers are seen to write.
const (
	desOrderNotExist  = "此交易订单号不存在"
	desOrderSignError = "签名错误"
	desOrderXMLError  = "XML格式错误"
	desOrderMchID     = "mch_id参数格式错误"
	desOrderAppID     = "appid和mch_id不匹配"
	desOrderNoID      = "transaction_id或者out_trade_no必填"
	desOrderNonce     = "nonce_str参数格式错误"
)

// orderFailure is a refusal before the order is looked at: return_code
// FAIL with WeChat's text, unsigned, and, for the request log and clients
// that read it, err_code.
func orderFailure(code, msg string) *reply {
	return &reply{errCode: code, fields: []field{
		str("return_code", "FAIL"),
		str("return_msg", msg),
		str("err_code", code),
	}}
}

func (h *Handler) orderQuery(body []byte, readErr error, req *Request) *reply {
	if readErr != nil {
		return orderFailure("XML_ERROR", desOrderXMLError)
	}
	f, root, err := parseRequest(body)
	if err != nil {
		return orderFailure("XML_ERROR", desOrderXMLError)
	}
	req.Root, req.MchID = root, f["mch_id"]
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.accounts[f["mch_id"]]
	if a == nil {
		return orderFailure("PARAM_ERROR", desOrderMchID)
	}
	var useHMAC bool
	switch f["sign_type"] {
	case "", SignTypeMD5:
	case SignTypeHMACSHA256:
		useHMAC = true
	default:
		return orderFailure("SIGN_ERROR", desOrderSignError)
	}
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	if f["sign"] == "" || !signMatches(signature(f, names, a.APIKey, useHMAC), f["sign"]) {
		return orderFailure("SIGN_ERROR", desOrderSignError)
	}
	switch {
	case a.appKind(f["appid"]) == appUnbound:
		return orderFailure("PARAM_ERROR", desOrderAppID)
	case f["nonce_str"] == "" || len(f["nonce_str"]) > 32:
		return orderFailure("PARAM_ERROR", desOrderNonce)
	case f["transaction_id"] == "" && f["out_trade_no"] == "":
		return orderFailure("PARAM_ERROR", desOrderNoID)
	}
	// transaction_id wins when both are given, as WeChat documents.
	var p *payment
	if id := f["transaction_id"]; id != "" {
		p = h.payByID[id]
	} else {
		p = h.payByOut[paymentKey{a.MchID, f["out_trade_no"]}]
	}
	head := []field{
		str("return_code", "SUCCESS"),
		str("return_msg", "OK"),
		str("appid", f["appid"]),
		str("mch_id", a.MchID),
		str("nonce_str", newNonce()),
	}
	// An order is found under the appid it was paid with, as the payer's
	// openid belongs to it.
	if p == nil || p.MchID != a.MchID || p.AppID != f["appid"] {
		rep := signedReply(append(head,
			str("result_code", "FAIL"),
			str("err_code", "ORDERNOTEXIST"),
			str("err_code_des", desOrderNotExist),
		), a.APIKey, useHMAC)
		rep.errCode = "ORDERNOTEXIST"
		return rep
	}
	desc := "支付成功"
	if p.TradeState == TradeStateRefund {
		desc = "订单发生过退款，退款详情请查询退款单"
	}
	fs := append(head,
		str("result_code", "SUCCESS"),
		str("openid", p.OpenID),
		str("is_subscribe", isSubscribe(a, p.AppID)),
		str("trade_type", "JSAPI"),
		str("bank_type", "OTHERS"),
		num("total_fee", p.TotalFee),
		str("fee_type", "CNY"),
		num("cash_fee", p.CashFee),
		str("transaction_id", p.TransactionID),
		str("out_trade_no", p.OutTradeNo),
		str("time_end", compactTime(p.TimeEnd)),
		str("trade_state", p.TradeState),
		str("trade_state_desc", desc),
	)
	if p.Attach != "" {
		fs = append(fs, str("attach", p.Attach))
	}
	fs = append(fs, couponFields(p)...)
	return signedReply(fs, a.APIKey, useHMAC)
}
