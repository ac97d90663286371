package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/campaign"
)

// failure is an error explained for the user: what kind it is, what it
// proves about the money, and what to do. It is also the "error" object of
// --json output.
type failure struct {
	Kind       string `json:"kind"` // usage, config, validation, refused, not_found, unknown_outcome, not_sent, error
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"` // the wire field of a validation error
	Flag       string `json:"flag,omitempty"`  // the flag to fix, without dashes
	ErrCode    string `json:"err_code,omitempty"`
	ErrCodeDes string `json:"err_code_des,omitempty"`
	ReturnCode string `json:"return_code,omitempty"`
	ReturnMsg  string `json:"return_msg,omitempty"`
	MchBillNo  string `json:"mch_billno,omitempty"`
	Attempts   int    `json:"attempts,omitempty"`
	Paid       string `json:"paid,omitempty"` // "no", "unknown"; empty when the question does not arise
	Advice     string `json:"advice,omitempty"`
	ExitCode   int    `json:"-"`
}

// fieldFlags names the flag that sets each wire field.
var fieldFlags = map[string]string{
	"mch_billno":     "bill",
	"send_name":      "send-name",
	"re_openid":      "openid",
	"total_amount":   "amount",
	"total_num":      "num",
	"wishing":        "wishing",
	"client_ip":      "client-ip",
	"act_name":       "act-name",
	"remark":         "remark",
	"scene_id":       "scene",
	"risk_info":      "risk-*",
	"consume_mch_id": "consume-mch-id",
	"mch_id":         "mch-id",
	"wxappid":        "appid",
	"key":            "api-key",
}

// opContext is what explain needs to know about the operation that failed.
type opContext struct {
	command string // "send", "send-group", "query", …
	pays    bool   // a send: money may move
	billNo  string
	// explicitBill: the bill number came from --bill, so it may have been
	// sent before, and a refusal of this request settles nothing.
	explicitBill bool
	settle       string // the command line that settles the same packet, for sends
}

// explain classifies err into a failure with its exit code. It never puts
// anything in the failure that err does not already hold, and the library's
// errors hold no secret.
func explain(err error, oc opContext) *failure {
	f := &failure{Message: err.Error(), MchBillNo: oc.billNo, ExitCode: exitFailure, Kind: "error"}

	var (
		in      *inputError
		valid   *redpack.ValidationError
		unknown *redpack.UnknownOutcomeError
		notSent *redpack.RequestError
		apiErr  *redpack.APIError
	)
	if errors.As(err, &apiErr) {
		f.ErrCode, f.ErrCodeDes = apiErr.ErrCode, apiErr.ErrCodeDes
		f.ReturnCode, f.ReturnMsg = apiErr.ReturnCode, apiErr.ReturnMsg
	}
	switch {
	case errors.As(err, &in):
		f.Kind, f.Flag, f.ExitCode = in.kind, in.flag, exitUsage
		f.MchBillNo = ""
		if in.kind == "config" {
			f.Advice = "Nothing was sent. Check the credentials; 'redpack help' lists the flags and environment variables."
		} else {
			f.Advice = "Nothing was sent. Run 'redpack help " + oc.command + "' for the flags."
		}

	case errors.As(err, &valid):
		f.Kind, f.Field, f.ExitCode = "validation", valid.Field, exitUsage
		f.Flag = fieldFlags[valid.Field]
		if oc.command == "query" && valid.Field == "mch_billno" {
			f.Flag = ""
		}
		if strings.HasSuffix(oc.command, "-mini") && valid.Field == "wxappid" {
			f.Flag = "mini-appid"
		}
		what := "the field"
		if f.Flag != "" {
			what = "--" + f.Flag
		}
		f.Advice = "Nothing was sent. Fix " + what + " and run the command again."
		if oc.pays {
			f.Paid = oc.paidIfRefused()
		}

	case errors.Is(err, redpack.ErrUnknownOutcome):
		f.Kind, f.ExitCode, f.Paid = "unknown_outcome", exitUnknown, "unknown"
		if errors.As(err, &unknown) {
			f.Attempts = unknown.Attempts
			f.MchBillNo = unknown.MchBillNo
			if a := unknown.Answer; a != nil {
				f.ErrCode, f.ErrCodeDes = a.ErrCode, a.ErrCodeDes
				f.ReturnCode, f.ReturnMsg = a.ReturnCode, a.ReturnMsg
			}
		}
		f.Advice = unknownAdvice(f.MchBillNo, oc.settle, errors.Is(err, redpack.ErrBillExpired))

	case errors.As(err, &notSent):
		f.Kind, f.ExitCode, f.Attempts = "not_sent", exitNotSent, notSent.Attempts
		switch {
		case oc.pays && oc.explicitBill:
			f.Paid = "unknown"
			f.Advice = "This request never reached WeChat, so it paid nothing; if bill number " + f.MchBillNo +
				" was sent before, that send's outcome is still what it was. It is safe to run the same command again with --bill " +
				f.MchBillNo + ", or to settle it:\n  " + oc.settle
		case oc.pays:
			f.Paid = "no"
			f.Advice = "The request never reached WeChat, so nothing was paid. It is safe to run the same command again; keep --bill " +
				f.MchBillNo + " so that a retry can never pay twice."
		default:
			f.Advice = "The request never reached WeChat. It is safe to run the same command again."
		}

	case apiErr != nil && !oc.pays && (errors.Is(err, redpack.CodeSystemError) || errors.Is(err, redpack.CodeFreqLimit)):
		// A busy answer to a query proves nothing either way.
		f.Kind, f.ExitCode = "error", exitFailure
		f.Advice = "WeChat is busy. Run the query again in a moment."

	case apiErr != nil && !oc.pays:
		// A refused query says nothing about the packet: not exit 3,
		// which means "not paid".
		f.Kind, f.ExitCode = "refused", exitFailure
		f.Advice = "WeChat refused the query, which says nothing about the packet. " + refusalAdvice(redpack.Code(apiErr.ErrCode), f.MchBillNo)

	case apiErr != nil:
		f.Kind, f.ExitCode = "refused", exitRefused
		f.Advice = refusalAdvice(redpack.Code(apiErr.ErrCode), f.MchBillNo)
		switch {
		case oc.pays && oc.explicitBill && !errors.Is(err, redpack.CodeSendFailed):
			// WeChat judges each request anew: its outer checks refuse a
			// re-send without looking at the first one.
			f.ExitCode, f.Paid = exitUnknown, "unknown"
			f.Advice = "WeChat refused this request, which proves nothing was paid only if bill number " + f.MchBillNo +
				" was never sent before. If it may have been (an earlier send ended with an unknown outcome), " +
				"settle it; never send the payment under a new bill number:\n  " + oc.settle + "\n" + f.Advice
		case oc.pays:
			f.Paid = "no"
			f.Advice = "Nothing was paid. " + f.Advice
		}
	}
	return f
}

// paidIfRefused is what a send that did not go through proves about the
// payment: nothing, when the bill number was given and may have been sent
// before.
func (oc opContext) paidIfRefused() string {
	if oc.explicitBill {
		return "unknown"
	}
	return "no"
}

// notFound is the failure of a query WeChat answered NOT_FOUND.
func notFound(billNo string) *failure {
	return &failure{
		Kind: "not_found", ExitCode: exitUnknown, MchBillNo: billNo, ErrCode: string(redpack.CodeNotFound), Paid: "unknown",
		Message: "WeChat has no packet under bill number " + billNo + " (NOT_FOUND)",
		Advice: "Not a failure: WeChat has no packet under this bill number yet, and a send may still be in progress. " +
			"Query again in a few minutes, or settle it with 'redpack settle' and the original packet's flags; never send it under a new bill number. " +
			"Queries reach back 30 days.",
	}
}

func unknownAdvice(billNo, settle string, expired bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The packet may or may not have been paid. Keep bill number %s. "+
		"Do NOT send this payment under a new bill number: that can pay twice.\n", billNo)
	if expired {
		b.WriteString("WeChat says the bill number has expired (first used 24 hours or more ago): its text says to change " +
			"the bill number, which pays twice if the first send paid. Only a query can settle it:\n")
		if settle != "" {
			b.WriteString("  " + strings.TrimSuffix(settle, " --query-only") + " --query-only\n")
		}
		b.WriteString("or: redpack query " + billNo)
		return b.String()
	}
	b.WriteString("Settle it: this queries the bill number first and re-sends the same request, " +
		"under the same bill number, only if WeChat has no record of it:\n")
	if settle != "" {
		b.WriteString("  " + settle + "\n")
	}
	b.WriteString("or query it until its status is definite:\n")
	b.WriteString("  redpack query " + billNo)
	return b.String()
}

// refusalAdvice says what to do about a definite refusal, after the README's
// err_code table.
func refusalAdvice(code redpack.Code, billNo string) string {
	sameBill := "run the same command again with the same --bill " + billNo + "."
	switch code {
	case redpack.CodeNotEnough:
		return "The merchant's available balance is too low. Top it up in the merchant console, then " + sameBill
	case redpack.CodeFreqLimit:
		return "Too many requests. Wait a moment, then " + sameBill
	case redpack.CodeSendFailed:
		return "This bill number has failed for good and will never pay. To try again, first confirm with 'redpack query " +
			billNo + "' that it is FAILED, then send under a new bill number."
	case redpack.CodeFatalError:
		return "The openid or amount differ from the first request sent under this bill number. Re-send exactly the original request, or query it."
	case redpack.CodeMoneyLimit:
		return "The amount is outside what may be sent: 100 to 20000 fen (1 to 200 CNY) per packet, or pass a --scene enabled in the merchant console."
	case redpack.CodeSendNumLimit:
		return "The user has received today's maximum number of packets. Try another day, or raise the per-user cap in the merchant console."
	case redpack.CodeRcvdAmountLimit:
		return "The user has received today's maximum amount. Try another day, or raise the per-user cap in the merchant console."
	case redpack.CodeSendAmountLimit:
		return "The merchant has sent today's maximum amount. Raise the daily cap in the merchant console, or wait until tomorrow."
	case redpack.CodeParamError:
		return "A field is invalid; WeChat's description (err_code_des) says which. Fix it and run the command again."
	case redpack.CodeNoAuth:
		return "Refused by risk control, the caller-IP whitelist or a missing product permission: check the merchant console."
	case redpack.CodeIllegalAppID:
		return "Use the Official Account (公众号) appid bound to the merchant, not a mobile-app appid."
	case redpack.CodeOpenIDError:
		return "The openid does not belong to --appid: use an openid of that Official Account."
	case redpack.CodeCAError:
		return "WeChat refused the client certificate: download a fresh apiclient_cert from the merchant console."
	case redpack.CodeSignError:
		return "The signature did not match: check the API key (merchant console → 账户中心 → API安全)."
	case redpack.CodeAPIMethodClosed:
		return "Sending by API is switched off: enable it in the merchant console."
	}
	return "WeChat refused it; its description (err_code_des) says why."
}

// jsonReport is the one object --json prints.
type jsonReport struct {
	OK       bool     `json:"ok"`
	Command  string   `json:"command"`
	ExitCode int      `json:"exit_code"`
	Result   any      `json:"result,omitempty"`
	Error    *failure `json:"error,omitempty"`
}

// reporter writes a command's outcome as text or JSON.
type reporter struct {
	e       *env
	command string
	json    bool
}

// notice is informational text for a person: on stdout normally, on stderr
// with --json so that stdout holds only the JSON object.
func (r *reporter) notice() io.Writer {
	if r.json {
		return r.e.stderr
	}
	return r.e.stdout
}

func (r *reporter) fail(err error, oc opContext) int {
	oc.command = r.command
	return r.report(explain(err, oc))
}

// report writes the failure f and returns its exit code.
func (r *reporter) report(f *failure) int {
	if r.json {
		writeJSON(r.e.stdout, jsonReport{Command: r.command, ExitCode: f.ExitCode, Error: f})
		return f.ExitCode
	}
	writeFailure(r.e.stderr, r.command, f)
	return f.ExitCode
}

// settleJSON is the result of a settle command in --json output.
type settleJSON struct {
	Outcome    string `json:"outcome"` // "paid", "not paid" or "unknown"
	Paid       string `json:"paid"`    // "yes", "no" or "unknown", as failures' "paid"
	MchBillNo  string `json:"mch_billno"`
	SendListID string `json:"send_listid,omitempty"`
	Status     string `json:"status,omitempty"` // what the query reported
	Resent     bool   `json:"resent"`
	ErrCode    string `json:"err_code,omitempty"`
	Error      string `json:"error,omitempty"`
	Advice     string `json:"advice,omitempty"`
	Package    string `json:"package,omitempty"`
	// The wx.sendBizRedPacket arguments of a paid mini-program packet.
	BizRedPacket *redpack.BizRedPacketParams `json:"biz_red_packet,omitempty"`
}

// settled writes what settle found and returns the exit code that says it:
// 0 paid, 3 not paid, 4 unknown.
func (r *reporter) settled(s *redpack.Settlement, oc opContext, biz *redpack.BizRedPacketParams) int {
	j := settleJSON{Outcome: s.Outcome.String(), MchBillNo: s.MchBillNo, SendListID: s.SendListID,
		Status: string(s.Status), Resent: s.Resent, Advice: s.Advice, Package: s.Package, BizRedPacket: biz}
	j.Paid = map[redpack.Outcome]string{redpack.OutcomePaid: "yes", redpack.OutcomeNotPaid: "no", redpack.OutcomeUnknown: "unknown"}[s.Outcome]
	var apiErr *redpack.APIError
	var unknown *redpack.UnknownOutcomeError
	switch {
	case errors.As(s.Err, &unknown) && unknown.Answer != nil:
		j.ErrCode = unknown.Answer.ErrCode
	case errors.As(s.Err, &apiErr):
		j.ErrCode = apiErr.ErrCode
	}
	if s.Err != nil {
		j.Error = s.Err.Error()
	}
	code := map[redpack.Outcome]int{redpack.OutcomePaid: exitOK, redpack.OutcomeNotPaid: exitRefused}[s.Outcome]
	var next string // the command to run next, on a line of its own
	if s.Outcome == redpack.OutcomeUnknown {
		code = exitUnknown
		switch {
		case s.Status.Definite():
			// A definite status that is not this payment's: another
			// payment holds the bill number, and settling again cannot help.
		case errors.Is(s.Err, redpack.ErrBillExpired):
			next = strings.TrimSuffix(oc.settle, " --query-only") + " --query-only"
		default:
			next = oc.settle
		}
	}
	if next != "" {
		j.Advice += "; then run again:\n  " + next
	}
	if r.json {
		writeJSON(r.e.stdout, jsonReport{OK: code == exitOK, Command: r.command, ExitCode: code, Result: j})
		return code
	}
	w := r.e.stdout
	if code != exitOK {
		w = r.e.stderr
	}
	fmt.Fprintln(w, map[redpack.Outcome]string{redpack.OutcomePaid: "PAID", redpack.OutcomeNotPaid: "NOT PAID",
		redpack.OutcomeUnknown: "OUTCOME UNKNOWN: the packet may or may not have been paid"}[s.Outcome])
	status := "no answer"
	if s.Status != "" {
		status = fmt.Sprintf("%s: %s", s.Status, statusWords(s.Status))
	}
	rows := [][2]string{{"Bill number", s.MchBillNo}, {"Query", status}}
	if s.SendListID != "" {
		rows = append(rows, [2]string{"Packet number", s.SendListID})
	}
	resent := "no"
	if s.Resent {
		resent = "yes, unchanged, under the same bill number"
	}
	rows = append(rows, [2]string{"Re-sent", resent})
	if j.ErrCode != "" {
		rows = append(rows, [2]string{"err_code", j.ErrCode})
	}
	if j.Error != "" {
		rows = append(rows, [2]string{"Error", j.Error})
	}
	writeKV(w, "  ", rows)
	if j.Advice != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, wrap(j.Advice, 76, "  "))
	}
	if biz != nil {
		fmt.Fprintln(w, "\nThe mini-program opens it for the user with wx.sendBizRedPacket and these arguments:")
		writeBizRedPacket(w, "  ", biz)
	}
	return code
}

func (r *reporter) succeed(result any, text func(io.Writer)) int {
	if r.json {
		writeJSON(r.e.stdout, jsonReport{OK: true, Command: r.command, Result: result})
		return exitOK
	}
	text(r.e.stdout)
	return exitOK
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeFailure prints f for a person.
func writeFailure(w io.Writer, command string, f *failure) {
	switch f.Kind {
	case "usage", "config":
		fmt.Fprintf(w, "redpack %s: %s\n", command, f.Message)
		fmt.Fprintln(w, wrap(f.Advice, 76, ""))
		return
	case "validation":
		what := f.Field
		if f.Flag != "" {
			what += " (--" + f.Flag + ")"
		}
		fmt.Fprintf(w, "NOT SENT: invalid %s\n", what)
	case "refused":
		fmt.Fprintf(w, "REFUSED by WeChat: %s\n", codeOrReturn(f))
	case "not_found":
		fmt.Fprintf(w, "NOT FOUND: WeChat has no packet under bill number %s (NOT_FOUND)\n", f.MchBillNo)
	case "unknown_outcome":
		fmt.Fprintf(w, "OUTCOME UNKNOWN: the packet may or may not have been paid\n")
	case "not_sent":
		fmt.Fprintf(w, "NOT SENT: the request never reached WeChat\n")
	default:
		fmt.Fprintf(w, "FAILED: redpack %s\n", command)
	}
	rows := [][2]string{}
	if f.MchBillNo != "" {
		rows = append(rows, [2]string{"Bill number", f.MchBillNo})
	}
	if f.ErrCode != "" && f.Kind != "refused" {
		rows = append(rows, [2]string{"err_code", f.ErrCode})
	}
	if f.ErrCodeDes != "" {
		rows = append(rows, [2]string{"Description", f.ErrCodeDes})
	}
	if f.Attempts > 0 {
		rows = append(rows, [2]string{"Attempts", strconv.Itoa(f.Attempts)})
	}
	rows = append(rows, [2]string{"Error", f.Message})
	writeKV(w, "  ", rows)
	if f.Advice != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, wrap(f.Advice, 76, "  "))
	}
}

func codeOrReturn(f *failure) string {
	if f.ErrCode != "" {
		return f.ErrCode
	}
	return "return_code=" + f.ReturnCode
}

// writeKV prints aligned "key  value" rows. Keys must be ASCII for the
// alignment to hold; values may be anything.
func writeKV(w io.Writer, indent string, rows [][2]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s%s\t%s\n", indent, r[0], r[1])
	}
	tw.Flush()
}

// wrap folds each line of text at width, prefixing every output line with
// indent. Lines that start with a space (commands) are kept whole.
func wrap(text string, width int, indent string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, " ") {
			out = append(out, indent+line)
			continue
		}
		cur := ""
		for _, word := range strings.Fields(line) {
			if cur != "" && len([]rune(indent+cur+" "+word)) > width {
				out = append(out, indent+cur)
				cur = word
				continue
			}
			if cur == "" {
				cur = word
			} else {
				cur += " " + word
			}
		}
		out = append(out, indent+cur)
	}
	return strings.Join(out, "\n")
}

// cny formats fen as yuan, as everything of redpack shows money.
func cny(fen int64) string { return campaign.CNY(fen) }

// yuanString is fen as a plain decimal for JSON: 1000 → "10.00".
func yuanString(fen int64) string {
	return strings.NewReplacer("¥", "", ",", "").Replace(cny(fen))
}

// clockTime formats a WeChat time (China Standard Time).
func clockTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

// statusWords explains a status in plain words.
func statusWords(s redpack.Status) string {
	switch s {
	case redpack.StatusSending:
		return "being paid; not definite yet, query again later"
	case redpack.StatusSent:
		return "paid, waiting for the user to open it"
	case redpack.StatusFailed:
		return "failed, not paid"
	case redpack.StatusReceived:
		return "paid and opened"
	case redpack.StatusRefunding:
		return "unclaimed, being refunded"
	case redpack.StatusRefund:
		return "unclaimed, refunded to the merchant"
	case redpack.StatusNotFound:
		return "WeChat has no record of it yet; not definite"
	}
	return "unknown status: not definite"
}
