package redpack

import (
	"errors"
	"fmt"
)

// ErrUnknownOutcome is matched (errors.Is) by every error from a send
// operation after which the packet may or may not have been paid: WeChat
// answered SYSTEMERROR, PROCESSING or a code this package does not know, the
// answer could not be read, or the connection failed or timed out after the
// request was written.
//
// Never treat such an error as a failure and never send the packet again
// under a new bill number: that can pay twice. The only safe next steps are
// to re-send the same request (same bill number, same fields), which WeChat
// answers with the first attempt's result, or to query the bill number with
// QueryRedPack until its Status is definite. The error is an
// *UnknownOutcomeError carrying the bill number.
var ErrUnknownOutcome = errors.New("outcome unknown: the packet may or may not have been paid")

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
	// re-send with the same bill number or query.
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
	// CodeParamError: a field is missing or invalid; see ErrCodeDes.
	CodeParamError Code = "PARAM_ERROR"
	// CodeFreqLimit: rate limited. Definitely not paid; retry later with the
	// same bill number.
	CodeFreqLimit Code = "FREQ_LIMIT"
	// CodeNotEnough: the merchant's balance is too low. Definitely not paid;
	// top up and retry with the same bill number.
	CodeNotEnough Code = "NOTENOUGH"
	// CodeAPIMethodClosed: API sending is switched off in the console.
	CodeAPIMethodClosed Code = "API_METHOD_CLOSED"
	// CodePayerAccountAbnormal: the merchant's payments are restricted.
	CodePayerAccountAbnormal Code = "PAYER_ACCOUNT_ABNORMAL"
	// CodeNoConsumeCompetence: consume_mch_id has not authorised this merchant.
	CodeNoConsumeCompetence Code = "NO_CONSUME_COMPETENCE"
	// CodeNotFound (query only): no packet with this bill number, yet. Not a
	// failure: the send may still be in progress or may never have landed.
	CodeNotFound Code = "NOT_FOUND"
)

// outcome says what a send's err_code proves about the payment.
type outcome int

const (
	outcomeUnknown outcome = iota // may have paid
	outcomeNotPaid                // definitely not paid; the same bill number may be retried later
	outcomeRefused                // definitely not paid; fix the cause first
)

// sendOutcome classifies a send's err_code. Anything not listed, including
// codes WeChat may add later, is unknown: WeChat's docs say not to change the
// bill number on an unknown code.
func sendOutcome(code string) outcome {
	switch Code(code) {
	case CodeFreqLimit, CodeNotEnough:
		return outcomeNotPaid
	case CodeSendFailed, CodeFatalError, CodeNoAuth, CodeSendNumLimit, CodeRcvdAmountLimit,
		CodeSendAmountLimit, CodeMoneyLimit, CodeIllegalAppID, CodeOpenIDError, CodeMsgAppIDError,
		CodeAcceptModeError, CodeCAError, CodeSignError, CodeXMLError, CodeParamError,
		CodeAPIMethodClosed, CodePayerAccountAbnormal, CodeNoConsumeCompetence:
		return outcomeRefused
	}
	return outcomeUnknown
}

// APIError is WeChat's answer when it did not succeed: return_code=FAIL (a
// protocol-level failure) or result_code=FAIL (a business refusal, with
// ErrCode). errors.Is(err, CodeX) matches on ErrCode. For send operations an
// APIError whose code leaves the outcome unknown is wrapped in an
// *UnknownOutcomeError.
type APIError struct {
	ReturnCode string // SUCCESS or FAIL
	ReturnMsg  string
	ResultCode string // SUCCESS or FAIL; may be empty when ReturnCode is FAIL
	ErrCode    string // e.g. "NOTENOUGH"; may be empty when ReturnCode is FAIL
	ErrCodeDes string // WeChat's description, in Chinese; do not branch on it
	MchBillNo  string // the request's bill number
	HTTPStatus int
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
	return fmt.Sprintf("redpack: WeChat answered bill %s with %s (%s)", e.MchBillNo, code, excerpt([]byte(msg)))
}

// Is makes errors.Is(err, redpack.CodeNotEnough) match an APIError with that
// err_code.
func (e *APIError) Is(target error) bool {
	c, ok := target.(Code)
	return ok && string(c) == e.ErrCode
}

// UnknownOutcomeError is the error of a send whose outcome is unknown: it
// matches ErrUnknownOutcome and wraps the cause that left it unknown (an
// *APIError for SYSTEMERROR or PROCESSING, a *DecodeError, or a transport or
// context error) from the last attempt that may have reached WeChat.
//
// If later retries failed differently (FREQ_LIMIT, a refused connection, a
// cancelled context), their error is only reported in the message: it proves
// nothing about the earlier attempt, so errors.Is does not match it.
type UnknownOutcomeError struct {
	Op        string // the endpoint, e.g. "sendredpack"
	MchBillNo string // the bill number whose outcome is unknown
	Attempts  int    // how many times the request was sent
	Err       error

	last error // the final attempt's error, when it is not Err
}

// Error implements error.
func (e *UnknownOutcomeError) Error() string {
	msg := fmt.Sprintf("redpack: %s bill %s: %v after %d attempt(s); "+
		"re-send with the same bill number and fields, or query it; never use a new bill number: %v",
		e.Op, e.MchBillNo, ErrUnknownOutcome, e.Attempts, e.Err)
	if e.last != nil {
		msg += fmt.Sprintf(" (the last attempt got: %v)", e.last)
	}
	return msg
}

// Is makes errors.Is(err, ErrUnknownOutcome) true.
func (e *UnknownOutcomeError) Is(target error) bool { return target == ErrUnknownOutcome }

// Unwrap returns the cause.
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

// RequestError is a failure to get an answer that proves nothing was sent:
// the request never left (dial, TLS handshake, context done before writing),
// so nothing can have been paid and retrying the same request is safe.
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
