package redpack

import "strings"

// CodeInfo is one row of the README's "err_codes and what to do" table:
// what an err_code means for a bill number sent for the first time, and
// what to do about it. The command line and the campaign dashboard show
// it beside their refusal counts; a test keeps the README's table and
// this data the same.
//
// Label, Meaning, Paid and Action are the README's cells, so they may hold
// `backquoted` code spans; Plain removes the quotes.
type CodeInfo struct {
	// Codes are the err_codes the row covers; none for the row about
	// answers without a code.
	Codes []Code
	// Label is the row's first cell: the codes, and what narrows them
	// (a text of err_code_des, or "(query)").
	Label   string
	Meaning string
	// Paid is what the answer proves: "no", "unknown", or "unknown" with
	// the error or status that says so.
	Paid   string
	Action string
	// Only marks a row that covers its code only when err_code_des holds
	// this text (PARAM_ERROR for an expired bill number); LookupCode
	// passes such rows over.
	Only string
}

// Plain returns s without the backquotes of its code spans, for a
// terminal.
func Plain(s string) string { return strings.ReplaceAll(s, "`", "") }

// CodeTable returns the README's "err_codes and what to do" table, row by
// row: a copy, the caller's to change.
func CodeTable() []CodeInfo {
	out := make([]CodeInfo, len(codeTable))
	for i, ci := range codeTable {
		ci.Codes = append([]Code(nil), ci.Codes...)
		out[i] = ci
	}
	return out
}

// codeTable is the table itself, never changed.
var codeTable = []CodeInfo{
	{Codes: []Code{CodeSystemError}, Label: "`SYSTEMERROR`", Meaning: "accepted, no definite result", Paid: "unknown",
		Action: "settle it: `client.Settle` queries, then re-sends the same request"},
	{Codes: []Code{CodeProcessing}, Label: "`PROCESSING`", Meaning: "accepted, still processing", Paid: "unknown",
		Action: "query in ~20 minutes, or settle it"},
	{Label: "(unknown code, unreadable answer, timeout)", Meaning: "—", Paid: "unknown", Action: "settle it"},
	{Codes: []Code{CodeFreqLimit}, Label: "`FREQ_LIMIT`", Meaning: "rate limited", Paid: "no",
		Action: "retry later, same bill number (the client does)"},
	{Codes: []Code{CodeNotEnough}, Label: "`NOTENOUGH`", Meaning: "balance too low", Paid: "no",
		Action: "top up, retry with the same bill number"},
	{Codes: []Code{CodeSendFailed}, Label: "`SEND_FAILED`", Meaning: "this bill number already failed", Paid: "no",
		Action: "a new attempt needs a new bill number"},
	{Codes: []Code{CodeFatalError}, Label: "`FATAL_ERROR`", Meaning: "openid or amount differ from the first request under this bill number", Paid: "no",
		Action: "a bug: keep retries identical"},
	{Codes: []Code{CodeSendNumLimit, CodeRcvdAmountLimit}, Label: "`SENDNUM_LIMIT`, `RCVDAMOUNT_LIMIT`",
		Meaning: "the user's daily count / amount reached", Paid: "no", Action: "another day, or raise the cap"},
	{Codes: []Code{CodeSendAmountLimit}, Label: "`SENDAMOUNT_LIMIT`", Meaning: "the merchant's daily amount reached", Paid: "no",
		Action: "raise the cap"},
	{Codes: []Code{CodeMoneyLimit}, Label: "`MONEY_LIMIT`", Meaning: "amount out of range", Paid: "no",
		Action: "1–200 CNY, or an enabled scene"},
	{Codes: []Code{CodeParamError}, Label: "`PARAM_ERROR`", Meaning: "a field is invalid; see `ErrCodeDes`", Paid: "no",
		Action: "fix the field"},
	{Codes: []Code{CodeParamError}, Label: "`PARAM_ERROR` `该订单已经过期，请更换商户单号`", Only: "该订单已经过期",
		Meaning: "the bill number was first used 24 h or more ago; this answer says nothing about that send",
		Paid:    "unknown (`ErrBillExpired`)",
		Action:  "query it until its status is definite (`Settle` with `QueryOnly`); never re-issue without a definite not-paid status, whatever the text says"},
	{Codes: []Code{CodeNoAuth}, Label: "`NO_AUTH`", Meaning: "risk control, IP whitelist or no permission", Paid: "no",
		Action: "check the console"},
	{Codes: []Code{CodeIllegalAppID, CodeOpenIDError, CodeMsgAppIDError}, Label: "`ILLEGAL_APPID`, `OPENID_ERROR`, `MSGAPPID_ERROR`",
		Meaning: "appid / openid mismatch", Paid: "no",
		Action: "use the appid the openid belongs to: the Official Account's for `SendRedPack`, the mini-program's for `SendMiniProgramRedPack`"},
	{Codes: []Code{CodeCAError, CodeSignError}, Label: "`CA_ERROR`, `SIGN_ERROR`", Meaning: "certificate or API key wrong", Paid: "no",
		Action: "fix the credentials"},
	{Codes: []Code{CodeXMLError, CodeAPIMethodClosed, CodeAcceptModeError, CodePayerAccountAbnormal, CodeNoConsumeCompetence},
		Label:   "`XML_ERROR`, `API_METHOD_CLOSED`, `ACCEPTMODE_ERROR`, `PAYER_ACCOUNT_ABNORMAL`, `NO_CONSUME_COMPETENCE`",
		Meaning: "see the code's doc", Paid: "no", Action: "fix the cause"},
	{Codes: []Code{CodeNotFound}, Label: "`NOT_FOUND` (query)", Meaning: "no packet under this number yet",
		Paid: "unknown (`StatusNotFound`, not an error)", Action: "query later, or settle it"},
}

// LookupCode returns the CodeTable row for an err_code, and false for a
// code the table does not hold. For PARAM_ERROR it returns the general
// row; the expired-bill-number row needs err_code_des to tell it apart.
func LookupCode(code string) (CodeInfo, bool) {
	for _, ci := range codeTable {
		if ci.Only != "" {
			continue
		}
		for _, c := range ci.Codes {
			if string(c) == code {
				ci.Codes = append([]Code(nil), ci.Codes...)
				return ci, true
			}
		}
	}
	return CodeInfo{}, false
}
