package redpack

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownOutcome is matched (errors.Is) by every error from a send
// operation after which the packet may or may not have been paid: WeChat
// answered SYSTEMERROR, PROCESSING, a code this package does not know or
// that the bill number has expired, the answer could not be read, or the
// connection failed or timed out after the request was written.
//
// Never treat such an error as a failure and never send the packet again
// under a new bill number: that can pay twice. Settle it with
// Client.Settle, which queries the bill number first and re-sends the same
// request only when WeChat has no record of it. The error is an
// *UnknownOutcomeError carrying the bill number; it never matches an
// *APIError or a Code, so code that branches on refusals cannot read it as
// one.
var ErrUnknownOutcome = errors.New("outcome unknown: the packet may or may not have been paid")

// ErrBillExpired is matched, besides ErrUnknownOutcome, by the error of a
// send that WeChat answered with PARAM_ERROR 该订单已经过期 ("the order has
// expired, change the bill number"): the bill number was first used too long
// ago (WeChat's support says a bill number lasts at most 24 hours). That answer says nothing about whether the first send paid, and
// WeChat's advice to change the bill number pays twice if it did. Query the
// bill number (Client.QueryRedPack or Client.Settle with QueryOnly) until
// its status is definite; never re-issue the payment without a definite
// not-paid status.
var ErrBillExpired = errors.New("bill number expired: only a query can settle it")

// Code is a WeChat err_code. Every Code is an error, so callers can branch
// with errors.Is(err, redpack.CodeNotEnough) through any wrapping.
type Code string

// Error implements error.
func (c Code) Error() string { return "redpack: err_code " + string(c) }

// The err_codes WeChat documents for the red-packet endpoints
// (https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon.php?chapter=13_4&index=3
// and chapter=13_6&index=5), plus two seen in production.
const (
	// CodeSystemError: accepted without a definite result. Unknown outcome:
	// settle the bill number (Client.Settle). A send answered SYSTEMERROR
	// returns an *UnknownOutcomeError whose Answer has this code.
	CodeSystemError Code = "SYSTEMERROR"
	// CodeProcessing: accepted and still being processed. Unknown outcome:
	// query later (WeChat suggests after about 20 minutes).
	CodeProcessing Code = "PROCESSING"
	// CodeSendFailed: this bill number has already failed; it will never pay.
	// A new attempt needs a new bill number.
	CodeSendFailed Code = "SEND_FAILED"
	// CodeFatalError: the openid or amount differs from the first request
	// sent with this bill number. A programming error: keep retries identical.
	CodeFatalError Code = "FATAL_ERROR"
	// CodeNoAuth: refused as risky, caller IP not whitelisted, or no product
	// permission.
	CodeNoAuth Code = "NO_AUTH"
	// CodeSendNumLimit: the user reached today's per-user packet count.
	CodeSendNumLimit Code = "SENDNUM_LIMIT"
	// CodeRcvdAmountLimit: the user reached today's per-user amount.
	CodeRcvdAmountLimit Code = "RCVDAMOUNT_LIMIT"
	// CodeSendAmountLimit: the merchant reached today's total amount.
	CodeSendAmountLimit Code = "SENDAMOUNT_LIMIT"
	// CodeMoneyLimit: the amount is outside the allowed range.
	CodeMoneyLimit Code = "MONEY_LIMIT"
	// CodeIllegalAppID: the appid is not an Official Account appid bound to
	// the merchant.
	CodeIllegalAppID Code = "ILLEGAL_APPID"
	// CodeOpenIDError: the openid does not belong to the appid.
	CodeOpenIDError Code = "OPENID_ERROR"
	// CodeMsgAppIDError: msgappid is not bound to the merchant.
	CodeMsgAppIDError Code = "MSGAPPID_ERROR"
	// CodeAcceptModeError: the service-provider relationship check failed.
	CodeAcceptModeError Code = "ACCEPTMODE_ERROR"
	// CodeCAError: the client certificate is missing or wrong.
	CodeCAError Code = "CA_ERROR"
	// CodeSignError: the signature did not match (wrong API key, usually).
	CodeSignError Code = "SIGN_ERROR"
	// CodeXMLError: the request body was not valid XML.
	CodeXMLError Code = "XML_ERROR"
	// CodeParamError: a field is missing or invalid; see ErrCodeDes. One
	// PARAM_ERROR is no refusal: 该订单已经过期 (the bill number was first used
	// 24 h or more ago), which a send reports as an unknown outcome matching
	// ErrBillExpired.
	CodeParamError Code = "PARAM_ERROR"
	// CodeFreqLimit: rate limited. This request paid nothing; retry later
	// with the same bill number.
	CodeFreqLimit Code = "FREQ_LIMIT"
	// CodeNotEnough: the merchant's balance is too low. This request paid
	// nothing; top up and retry with the same bill number.
	CodeNotEnough Code = "NOTENOUGH"
	// CodeAPIMethodClosed: API sending is switched off in the console.
	CodeAPIMethodClosed Code = "API_METHOD_CLOSED"
	// CodePayerAccountAbnormal: the merchant's payments are restricted.
	CodePayerAccountAbnormal Code = "PAYER_ACCOUNT_ABNORMAL"
	// CodeNoConsumeCompetence: consume_mch_id has not authorised this merchant.
	CodeNoConsumeCompetence Code = "NO_CONSUME_COMPETENCE"
	// CodeNotFound (query only): no packet with this bill number, yet. Not a
	// failure: the send may still be in progress or may never have landed.
	// QueryRedPack reports it as StatusNotFound, not as an error.
	CodeNotFound Code = "NOT_FOUND"
	// CodeOrderNotExist: orderquery knows no such order (ORDERNOTEXIST).
	CodeOrderNotExist Code = "ORDERNOTEXIST"
)

// refuses reports whether a send's err_code is a refusal of the request:
// it paid nothing. Anything not listed, including codes WeChat may add
// later, leaves the outcome unknown: WeChat's docs say not to change the
// bill number on an unknown code. PARAM_ERROR is a refusal but for the
// expired bill number, which judge tells apart first.
func refuses(code string) bool {
	switch Code(code) {
	case CodeFreqLimit, CodeNotEnough,
		CodeSendFailed, CodeFatalError, CodeNoAuth, CodeSendNumLimit, CodeRcvdAmountLimit,
		CodeSendAmountLimit, CodeMoneyLimit, CodeIllegalAppID, CodeOpenIDError, CodeMsgAppIDError,
		CodeAcceptModeError, CodeCAError, CodeSignError, CodeXMLError, CodeParamError,
		CodeAPIMethodClosed, CodePayerAccountAbnormal, CodeNoConsumeCompetence:
		return true
	}
	return false
}

// billExpired reports WeChat's answer to a bill number first used 24 h or
// more ago: PARAM_ERROR 该订单已经过期，请更换商户单号. The text is the only
// mark, so any PARAM_ERROR that speaks of the order having expired counts.
func billExpired(errCode, des string) bool {
	return Code(errCode) == CodeParamError && strings.Contains(des, "过期")
}

// APIError is WeChat's definite refusal of a request: return_code=FAIL (a
// protocol-level failure) or result_code=FAIL (a business refusal, with
// ErrCode). errors.Is(err, CodeX) matches on ErrCode. It is the same type
// whether it came after one attempt or after retries.
//
// For a send, an APIError proves that this request paid nothing. It proves
// that nothing was paid under the bill number only if the bill number was
// never sent before: WeChat judges every request anew, and an outer check
// (FREQ_LIMIT, SIGN_ERROR after a key rotation, NO_AUTH after an IP change)
// refuses a re-send without looking at the first one. After an earlier
// unknown outcome, settle the bill number with Client.Settle instead of
// reading a re-send's refusal. SEND_FAILED alone is about the bill number
// itself. Answers that leave the outcome unknown (SYSTEMERROR, PROCESSING,
// the expired bill number) are never an APIError but an
// *UnknownOutcomeError.
type APIError struct {
	Op         string // the endpoint, e.g. "sendredpack"
	ReturnCode string // SUCCESS or FAIL
	ReturnMsg  string
	ResultCode string // SUCCESS or FAIL; may be empty when ReturnCode is FAIL
	ErrCode    string // e.g. "NOTENOUGH"; may be empty when ReturnCode is FAIL
	ErrCodeDes string // WeChat's description, in Chinese; do not branch on it
	MchBillNo  string // the request's bill number
	HTTPStatus int
	Attempts   int // how many times the request was sent
}

// Error implements error.
func (e *APIError) Error() string {
	code := e.ErrCode
	if code == "" {
		code = "return_code=" + e.ReturnCode
	}
	msg := e.ErrCodeDes
	if msg == "" {
		msg = e.ReturnMsg
	}
	s := fmt.Sprintf("redpack: WeChat answered bill %s with %s (%s)", e.MchBillNo, code, excerpt([]byte(msg)))
	if e.Attempts > 1 {
		s += fmt.Sprintf(" after %d attempt(s)", e.Attempts)
	}
	return s
}

// Is makes errors.Is(err, redpack.CodeNotEnough) match an APIError with that
// err_code.
func (e *APIError) Is(target error) bool {
	c, ok := target.(Code)
	return ok && string(c) == e.ErrCode
}

// UnknownOutcomeError is the error of a send whose outcome is unknown. It
// matches ErrUnknownOutcome (and ErrBillExpired when WeChat said the bill
// number has expired), and holds what left the outcome unknown on the last
// attempt that may have reached WeChat: WeChat's unclear answer in Answer
// (SYSTEMERROR, PROCESSING, an unknown code, the expired bill number), or
// the cause in Err (a *DecodeError, or a transport or context error).
//
// Unwrap yields Err only, never an *APIError: errors.As(err, &apiErr) and
// errors.Is(err, CodeSystemError) are false for an unknown outcome, so code
// written to branch on refusals cannot read it as one, while
// errors.Is(err, context.DeadlineExceeded) still works. If later retries
// failed differently (FREQ_LIMIT, a refused connection, a cancelled
// context), that is only reported in the message: it proves nothing about
// the earlier attempt.
type UnknownOutcomeError struct {
	Op        string    // the endpoint, e.g. "sendredpack"
	MchBillNo string    // the bill number whose outcome is unknown
	Attempts  int       // how many times the request was sent
	Answer    *APIError // WeChat's unclear answer, or nil
	Err       error     // the cause when there was no such answer, or nil

	last error // the final attempt's error, when it is not the cause
}

// Error implements error.
func (e *UnknownOutcomeError) Error() string {
	cause := e.Err
	if e.Answer != nil {
		cause = e.Answer
	}
	advice := "settle it with Client.Settle, which queries the bill number first; never use a new bill number"
	if e.expired() {
		advice = "the bill number has expired: query it until its status is definite; never re-issue the payment without a definite not-paid status"
	}
	msg := fmt.Sprintf("redpack: %s bill %s: %v after %d attempt(s); %s: %v",
		e.Op, e.MchBillNo, ErrUnknownOutcome, e.Attempts, advice, cause)
	if e.last != nil {
		msg += fmt.Sprintf(" (the last attempt got: %v)", e.last)
	}
	return msg
}

// Is makes errors.Is(err, ErrUnknownOutcome) true, and
// errors.Is(err, ErrBillExpired) when WeChat said the bill number expired.
func (e *UnknownOutcomeError) Is(target error) bool {
	return target == ErrUnknownOutcome || (target == ErrBillExpired && e.expired())
}

// expired reports whether Answer says the bill number has expired.
func (e *UnknownOutcomeError) expired() bool {
	return e.Answer != nil && billExpired(e.Answer.ErrCode, e.Answer.ErrCodeDes+e.Answer.ReturnMsg)
}

// Unwrap returns Err: a transport, context or decoding cause, never an
// *APIError.
func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// ValidationError reports a request the client refused to send because
// WeChat would refuse it. Field is the wire name, e.g. "total_amount".
type ValidationError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *ValidationError) Error() string {
	return "redpack: invalid " + e.Field + ": " + e.Reason
}

// RequestError is a failure to get an answer that proves this request was
// not sent: it never left (dial, TLS handshake, context done before
// writing), so it cannot have paid, and retrying the same request is safe.
// As for an *APIError, that says nothing about an earlier send of the same
// bill number.
type RequestError struct {
	Op        string
	MchBillNo string
	Attempts  int // how many attempts were made, none of which left
	Err       error
}

// Error implements error.
func (e *RequestError) Error() string {
	return fmt.Sprintf("redpack: %s bill %s: not sent (%d attempt(s)): %v", e.Op, e.MchBillNo, e.Attempts, e.Err)
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// DecodeError reports an answer that could not be read as WeChat's XML. For
// a send it is wrapped in an *UnknownOutcomeError.
type DecodeError struct {
	HTTPStatus int
	Reason     string
	Excerpt    string // a short, quoted start of the body
}

// Error implements error.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("redpack: unreadable answer (HTTP %d): %s; body starts %s", e.HTTPStatus, e.Reason, e.Excerpt)
}
