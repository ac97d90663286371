package redpack

import (
	"context"
	"crypto/aes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PaymentNotification is a WeChat Pay payment-result notification (支付结果通知,
// https://pay.weixin.qq.com/doc/v2/merchant/4011937248) whose signature
// verified with the merchant's API key and whose mch_id and appid are the
// merchant's. Amounts are in fen.
//
// A verified notification proves WeChat sent it, not that it is new: WeChat
// delivers the same notification several times, and a copy can be
// replayed. Key what it causes by TransactionID, and confirm the order
// from WeChat's side before money goes out on its word.
type PaymentNotification struct {
	AppID      string
	MchID      string
	DeviceInfo string
	// ResultCode is SUCCESS for a paid order; see Paid. ErrCode and
	// ErrCodeDes say why it is not.
	ResultCode string
	ErrCode    string
	ErrCodeDes string
	// OpenID is the payer under AppID; IsSubscribe whether the payer
	// follows the Official Account (is_subscribe Y).
	OpenID      string
	IsSubscribe bool
	TradeType   string // JSAPI, NATIVE, APP, MWEB …
	BankType    string
	// TotalFee is the order's amount; CashFee what the user paid after
	// coupons; SettlementTotalFee the amount the merchant settles (0 when
	// absent).
	TotalFee           int64
	SettlementTotalFee int64
	FeeType            string
	CashFee            int64
	CashFeeType        string
	CouponFee          int64
	Coupons            []Coupon
	// TransactionID is WeChat's order number, the natural key of a
	// payment; OutTradeNo the merchant's.
	TransactionID string
	OutTradeNo    string
	Attach        string
	TimeEnd       time.Time // time_end, read in China Standard Time
	// SignType is the algorithm the signature verified with.
	SignType SignType
	// Fields holds every field received (sign excepted), those named
	// above included, for what the type does not name (sub_mch_id,
	// promotion_detail …).
	Fields map[string]string
}

// Paid reports whether the notification says the order was paid
// (result_code SUCCESS).
func (n *PaymentNotification) Paid() bool { return n.ResultCode == "SUCCESS" }

// Coupon is one coupon a payment used (coupon_id_$n, coupon_type_$n,
// coupon_fee_$n).
type Coupon struct {
	ID   string
	Type string // CASH or NO_CASH; may be empty, as WeChat sometimes omits it
	Fee  int64
}

// Reasons a notification is refused; match them with errors.Is on the
// *NotificationError.
var (
	// ErrNotificationUnsigned: the notification carries no signature.
	ErrNotificationUnsigned = errors.New("notification is not signed")
	// ErrNotificationSignature: the signature does not verify with the
	// merchant's API key: a forgery, or another merchant's.
	ErrNotificationSignature = errors.New("notification signature does not verify")
	// ErrNotificationMerchant: mch_id or appid is not the merchant's.
	ErrNotificationMerchant = errors.New("notification is not for this merchant")
	// ErrNotificationMalformed: not WeChat's XML, too large, a field
	// missing or unreadable, or return_code FAIL.
	ErrNotificationMalformed = errors.New("notification is malformed")
)

// NotificationError is a notification refused before any of its fields was
// trusted. It matches its Reason with errors.Is. Field names the field at
// fault, when one is.
type NotificationError struct {
	Reason error
	Field  string
	Detail string // never a secret or a whole signature
}

// Error implements error.
func (e *NotificationError) Error() string {
	s := "redpack: " + e.Reason.Error()
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the reason.
func (e *NotificationError) Unwrap() error { return e.Reason }

func notifyErr(reason error, field, detail string) error {
	return &NotificationError{Reason: reason, Field: field, Detail: detail}
}

// ParsePaymentNotification verifies body, a notification WeChat posted to
// the merchant's notify_url, and decodes it. It refuses, with a
// *NotificationError, a body that is not WeChat's XML or is larger than the
// client's answer limit (WithMaxResponseBytes), an unsigned notification
// whatever its result, a signature that does not verify (compared in
// constant time, MD5 or HMAC-SHA256 as sign_type says or, when it is
// absent, as the signature's length says), an mch_id that is not the
// client's, and an appid the client does not list (its own, and those of
// WithNotifyAppIDs). Only then are the fields read.
func (c *Client) ParsePaymentNotification(ctx context.Context, body []byte) (*PaymentNotification, error) {
	fields, err := c.notificationFields(ctx, body, "xml")
	if err != nil {
		return nil, err
	}
	ps := make([]param, 0, len(fields))
	for k, v := range fields {
		ps = append(ps, param{k, v})
	}
	return c.verifyNotification(fields, ps)
}

func (c *Client) verifyNotification(f map[string]string, ps []param) (*PaymentNotification, error) {
	sign := f["sign"]
	if sign == "" {
		return nil, notifyErr(ErrNotificationUnsigned, "sign", "")
	}
	var t SignType
	switch st := f["sign_type"]; {
	case st == "MD5":
		t = SignMD5
	case st == "HMAC-SHA256":
		t = SignHMACSHA256
	case st != "":
		return nil, notifyErr(ErrNotificationSignature, "sign_type", strconv.Quote(st)+" is neither MD5 nor HMAC-SHA256")
	case len(sign) == 64:
		t = SignHMACSHA256
	case len(sign) == 32:
		t = SignMD5
	default:
		return nil, notifyErr(ErrNotificationSignature, "sign", fmt.Sprintf("%d characters: neither MD5 (32) nor HMAC-SHA256 (64)", len(sign)))
	}
	if !verifySign(ps, sign, c.apiKey.get(), t) {
		return nil, notifyErr(ErrNotificationSignature, "sign", "checked as "+t.String())
	}
	delete(f, "sign")
	if err := c.checkNotifiedMerchant(f); err != nil {
		return nil, err
	}
	n := &PaymentNotification{
		AppID: f["appid"], MchID: f["mch_id"], DeviceInfo: f["device_info"],
		ResultCode: f["result_code"], ErrCode: f["err_code"], ErrCodeDes: f["err_code_des"],
		OpenID: f["openid"], IsSubscribe: f["is_subscribe"] == "Y", TradeType: f["trade_type"], BankType: f["bank_type"],
		FeeType: f["fee_type"], CashFeeType: f["cash_fee_type"],
		TransactionID: f["transaction_id"], OutTradeNo: f["out_trade_no"], Attach: f["attach"],
		SignType: t, Fields: f,
	}
	if n.ResultCode != "SUCCESS" && n.ResultCode != "FAIL" {
		return nil, notifyErr(ErrNotificationMalformed, "result_code", strconv.Quote(n.ResultCode))
	}
	if !n.Paid() {
		return n, nil // a failed payment names no amounts to trust
	}
	for _, req := range []string{"openid", "transaction_id", "out_trade_no", "total_fee", "cash_fee", "time_end"} {
		if f[req] == "" {
			return nil, notifyErr(ErrNotificationMalformed, req, "missing")
		}
	}
	var err error
	num := func(tag string, dst *int64) {
		if err != nil || f[tag] == "" {
			return
		}
		if *dst, err = parseInt64(tag, f[tag]); err != nil {
			err = notifyErr(ErrNotificationMalformed, tag, "is not a whole number of fen")
		}
	}
	num("total_fee", &n.TotalFee)
	num("cash_fee", &n.CashFee)
	num("settlement_total_fee", &n.SettlementTotalFee)
	num("coupon_fee", &n.CouponFee)
	if err != nil {
		return nil, err
	}
	if n.CashFee > n.TotalFee {
		return nil, notifyErr(ErrNotificationMalformed, "cash_fee", "more than total_fee")
	}
	if n.TimeEnd, err = parseCompactTime("time_end", f["time_end"]); err != nil {
		return nil, notifyErr(ErrNotificationMalformed, "time_end", "is not yyyyMMddHHmmss")
	}
	if n.Coupons, err = coupons(f); err != nil {
		return nil, err
	}
	return n, nil
}

// coupons reads coupon_count and the indexed coupon fields.
func coupons(f map[string]string) ([]Coupon, error) {
	s := f["coupon_count"]
	if s == "" {
		return nil, nil
	}
	count, err := parseInt64("coupon_count", s)
	if err != nil || count > 100 {
		return nil, notifyErr(ErrNotificationMalformed, "coupon_count", "is not a count of coupons")
	}
	out := make([]Coupon, 0, count)
	for i := range count {
		k := strconv.FormatInt(i, 10)
		cp := Coupon{ID: f["coupon_id_"+k], Type: f["coupon_type_"+k]}
		if cp.Fee, err = parseInt64("coupon_fee_"+k, f["coupon_fee_"+k]); err != nil {
			return nil, notifyErr(ErrNotificationMalformed, "coupon_fee_"+k, "is not a whole number of fen")
		}
		out = append(out, cp)
	}
	return out, nil
}

// notifySuccess and notifyFail are the answers WeChat reads.
const (
	notifySuccess = `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>`
	notifyFail    = `<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[%s]]></return_msg></xml>`
)

// PaymentNotifyHandler returns the handler of the merchant's notify_url.
// It reads the body through the client's answer limit, verifies it with
// ParsePaymentNotification, and calls fn with the notification. It answers
// WeChat's SUCCESS only when fn returns nil; a refused notification, or an
// error from fn, is answered FAIL, so that WeChat notifies again later.
// fn must be idempotent: WeChat delivers a notification more than once,
// sometimes at the same time from different servers.
func (c *Client) PaymentNotifyHandler(fn func(ctx context.Context, n *PaymentNotification) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			fmt.Fprintf(w, notifyFail, "POST only")
			return
		}
		// At most maxBody+1 bytes are read; the parser refuses a body over
		// the limit.
		body, err := readLimited(r.Body, r.ContentLength, c.maxBody, nil)
		var n *PaymentNotification
		if err == nil {
			n, err = c.ParsePaymentNotification(r.Context(), body)
		}
		if err == nil {
			err = fn(r.Context(), n)
		}
		if err != nil {
			if c.logger != nil {
				c.logger.WarnContext(r.Context(), "redpack: payment notification answered FAIL", "error", err.Error())
			}
			fmt.Fprintf(w, notifyFail, failText(err))
			return
		}
		_, _ = io.WriteString(w, notifySuccess)
	})
}

// failText is what the FAIL answer says: the refusal's reason, never fn's
// own error text (it may hold anything), and nothing that ends CDATA.
func failText(err error) string {
	var ne *NotificationError
	if errors.As(err, &ne) {
		return strings.ReplaceAll(ne.Reason.Error(), "]]>", "")
	}
	return "not handled"
}

// RefundNotification is a WeChat Pay refund-result notification (退款结果通知,
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16) whose
// req_info decrypted with the merchant's API key and whose mch_id and
// appid are the merchant's. The outer message is not signed: decrypting
// req_info is what shows WeChat wrote it. Amounts are in fen.
type RefundNotification struct {
	AppID string
	MchID string
	// TransactionID and OutTradeNo are the refunded payment's.
	TransactionID string
	OutTradeNo    string
	RefundID      string // WeChat's refund number
	OutRefundNo   string // the merchant's
	TotalFee      int64  // the payment's amount
	RefundFee     int64
	// SettlementRefundFee is what the merchant's settlement gives back
	// (0 when absent).
	SettlementRefundFee int64
	// RefundStatus is SUCCESS, CHANGE (refunded into an abnormal account)
	// or REFUNDCLOSE.
	RefundStatus        string
	SuccessTime         time.Time // zero unless refunded; China time
	RefundRecvAccount   string    // refund_recv_accout, as WeChat spells it
	RefundAccount       string
	RefundRequestSource string
	// Fields holds every decrypted field.
	Fields map[string]string
}

// Refunded reports whether the money went back to the payer.
func (n *RefundNotification) Refunded() bool { return n.RefundStatus == "SUCCESS" }

// ParseRefundNotification decrypts and decodes a refund notification WeChat
// posted to the refund's notify_url. It refuses, with a
// *NotificationError, a body that is not WeChat's XML, an mch_id or appid
// that is not the merchant's (ErrNotificationMerchant), and a req_info
// that does not decrypt with the API key into WeChat's <root> document
// (ErrNotificationSignature: whoever wrote it does not hold the key).
func (c *Client) ParseRefundNotification(ctx context.Context, body []byte) (*RefundNotification, error) {
	outer, err := c.notificationFields(ctx, body, "xml")
	if err != nil {
		return nil, err
	}
	if err := c.checkNotifiedMerchant(outer); err != nil {
		return nil, err
	}
	plain, err := decryptReqInfo(outer["req_info"], c.apiKey.get())
	if err != nil {
		return nil, notifyErr(ErrNotificationSignature, "req_info", err.Error())
	}
	f, err := c.notificationFields(ctx, plain, "root")
	if err != nil {
		return nil, notifyErr(ErrNotificationSignature, "req_info", "does not decrypt to WeChat's <root> document")
	}
	n := &RefundNotification{AppID: outer["appid"], MchID: outer["mch_id"],
		TransactionID: f["transaction_id"], OutTradeNo: f["out_trade_no"], RefundID: f["refund_id"], OutRefundNo: f["out_refund_no"],
		RefundStatus: f["refund_status"], RefundRecvAccount: f["refund_recv_accout"], RefundAccount: f["refund_account"],
		RefundRequestSource: f["refund_request_source"], Fields: f}
	for _, req := range []string{"transaction_id", "out_trade_no", "refund_id", "out_refund_no", "total_fee", "refund_fee", "refund_status"} {
		if f[req] == "" {
			return nil, notifyErr(ErrNotificationMalformed, req, "missing")
		}
	}
	for tag, dst := range map[string]*int64{"total_fee": &n.TotalFee, "refund_fee": &n.RefundFee, "settlement_refund_fee": &n.SettlementRefundFee} {
		if f[tag] == "" {
			continue
		}
		if *dst, err = parseInt64(tag, f[tag]); err != nil {
			return nil, notifyErr(ErrNotificationMalformed, tag, "is not a whole number of fen")
		}
	}
	if n.RefundFee > n.TotalFee {
		return nil, notifyErr(ErrNotificationMalformed, "refund_fee", "more than total_fee")
	}
	if s := f["success_time"]; s != "" {
		if n.SuccessTime, err = parseTime("success_time", s); err != nil {
			return nil, notifyErr(ErrNotificationMalformed, "success_time", "is not a time like 2006-01-02 15:04:05")
		}
	}
	return n, nil
}

// checkNotifiedMerchant refuses a notification's fields f unless they name
// the client's mch_id and a listed appid, and return_code is SUCCESS.
func (c *Client) checkNotifiedMerchant(f map[string]string) error {
	if f["mch_id"] != c.mchID {
		return notifyErr(ErrNotificationMerchant, "mch_id", fmt.Sprintf("%q is not %s", f["mch_id"], c.mchID))
	}
	if !slices.Contains(c.notifyAppIDs, f["appid"]) {
		return notifyErr(ErrNotificationMerchant, "appid", fmt.Sprintf("%q is not listed (WithNotifyAppIDs)", f["appid"]))
	}
	if f["return_code"] != "SUCCESS" {
		return notifyErr(ErrNotificationMalformed, "return_code", fmt.Sprintf("%q: %s", f["return_code"], f["return_msg"]))
	}
	return nil
}

// notificationFields parses body, whose root is rootTag, with the answers'
// bounded parser, within the client's answer limit, and returns its fields.
func (c *Client) notificationFields(ctx context.Context, body []byte, rootTag string) (map[string]string, error) {
	if int64(len(body)) > c.maxBody {
		return nil, notifyErr(ErrNotificationMalformed, "", fmt.Sprintf("larger than %d bytes", c.maxBody))
	}
	p := parsers.Get().(*answerParser)
	defer p.release()
	root, err := p.parseRoot(ctx, body, 0, rootTag)
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			return nil, notifyErr(ErrNotificationMalformed, "", de.Reason)
		}
		return nil, err
	}
	fields := make(map[string]string, 32)
	for e := range root.ChildElementsSeq() {
		if hasChildElement(e) {
			return nil, notifyErr(ErrNotificationMalformed, e.Tag, "has elements inside")
		}
		fields[e.Tag] = e.Text()
	}
	return fields, nil
}

// decryptReqInfo undoes WeChat's encryption of a refund notification's
// req_info: base64, then AES-256-ECB (PKCS#7 padding) keyed with the
// lower-case hex MD5 of the API key. The standard library has no ECB mode,
// which is AES applied to each block alone.
func decryptReqInfo(reqInfo, apiKey string) ([]byte, error) {
	if reqInfo == "" {
		return nil, errors.New("missing")
	}
	data, err := base64.StdEncoding.DecodeString(reqInfo)
	if err != nil {
		return nil, errors.New("is not base64")
	}
	sum := md5.Sum([]byte(apiKey))
	block, err := aes.NewCipher([]byte(hex.EncodeToString(sum[:])))
	if err != nil {
		return nil, err
	}
	bs := block.BlockSize()
	if len(data) == 0 || len(data)%bs != 0 {
		return nil, errors.New("is not whole AES blocks")
	}
	plain := make([]byte, len(data))
	for i := 0; i < len(data); i += bs {
		block.Decrypt(plain[i:i+bs], data[i:i+bs])
	}
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > bs {
		return nil, errors.New("does not decrypt with the API key")
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, errors.New("does not decrypt with the API key")
		}
	}
	return plain[:len(plain)-pad], nil
}
