package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redpack-go/redpack"
)

// packetKind is which send a command makes.
type packetKind int

const (
	kindNormal packetKind = iota // send: sendredpack
	kindGroup                    // send-group: sendgroupredpack
	kindMini                     // send-mini: sendminiprogramhb
)

// packetFlags are the fields of a send request.
type packetFlags struct {
	kind packetKind

	miniAppID, bill, openID, sendName, wishing, clientIP, actName, remark string
	amount                                                                int64
	num                                                                   int
	scene, consumeMchID                                                   string
	riskPostTime, riskMobile, riskDeviceID, riskClientVersion             string
}

func (p *packetFlags) register(fs *flag.FlagSet) {
	group := func(s string) string {
		if p.kind == kindGroup {
			return s
		}
		return ""
	}
	openID := "the `openid` of the receiver" + group(" who shares the packet first") + " (re_openid)"
	if p.kind == kindMini {
		fs.StringVar(&p.miniAppID, "mini-appid", "", "the mini-program's `appid` (wxappid), not the Official Account's (env REDPACK_MINI_APPID)")
		openID = "the receiver's `openid` under the mini-program (re_openid)"
	}
	fs.StringVar(&p.bill, "bill", "", "bill `number` mch_billno, ≤28 letters/digits (default: a new one from redpack.NewBillNo)")
	fs.StringVar(&p.openID, "openid", "", openID)
	fs.Int64Var(&p.amount, "amount", 0, "`fen`"+group(" for the whole group")+": 100 = ¥1.00 (total_amount)")
	switch p.kind {
	case kindGroup:
		fs.IntVar(&p.num, "num", 0, "`receivers` sharing the packet, 3 to 20 (total_num)")
	case kindNormal:
		fs.StringVar(&p.clientIP, "client-ip", "", "IPv4 `address` of the calling machine (client_ip)")
	}
	fs.StringVar(&p.sendName, "send-name", "", "sender `name` shown to the user, ≤32 bytes (send_name)")
	fs.StringVar(&p.wishing, "wishing", "", "blessing `text`, ≤128 bytes")
	fs.StringVar(&p.actName, "act-name", "", "activity `name`, ≤32 bytes (act_name)")
	fs.StringVar(&p.remark, "remark", "", "remark `text`, ≤256 bytes")
	fs.StringVar(&p.scene, "scene", "", "`scene_id` PRODUCT_1 … PRODUCT_8; needed outside ¥1–¥200"+group(" per receiver"))
	if p.kind == kindMini {
		return // sendminiprogramhb takes no consume_mch_id or risk_info
	}
	fs.StringVar(&p.consumeMchID, "consume-mch-id", "", "funding merchant `id`, for service providers (consume_mch_id)")
	fs.StringVar(&p.riskPostTime, "risk-posttime", "", "risk_info: `time` of the user's action, Unix seconds or RFC 3339")
	fs.StringVar(&p.riskMobile, "risk-mobile", "", "risk_info: the user's `phone`, e.g. 86-13800000000")
	fs.StringVar(&p.riskDeviceID, "risk-deviceid", "", "risk_info: MAC address or device `id`")
	fs.StringVar(&p.riskClientVersion, "risk-clientversion", "", "risk_info: client `version` of the user's action")
}

// packetFlagNames are every packet flag, in the order of help and of the
// resend line; register decides which of them a kind has.
var packetFlagNames = []string{"mini-appid", "bill", "openid", "amount", "num", "client-ip", "send-name",
	"wishing", "act-name", "remark", "scene", "consume-mch-id",
	"risk-posttime", "risk-mobile", "risk-deviceid", "risk-clientversion"}

// missing returns the required flags that were not given, so that all of
// them are reported at once and nothing is announced for a request that
// cannot be sent. Checking the values is the library's job.
func (p *packetFlags) missing() []string {
	var out []string
	for _, f := range []struct {
		name  string
		unset bool
	}{
		{"mini-appid", p.kind == kindMini && p.miniAppID == ""},
		{"openid", p.openID == ""},
		{"amount", p.amount == 0},
		{"num", p.kind == kindGroup && p.num == 0},
		{"client-ip", p.kind == kindNormal && p.clientIP == ""},
		{"send-name", p.sendName == ""},
		{"wishing", p.wishing == ""},
		{"act-name", p.actName == ""},
		{"remark", p.remark == ""},
	} {
		if f.unset {
			out = append(out, "--"+f.name)
		}
	}
	return out
}

// riskInfo returns the risk_info flags as a RiskInfo, or nil when none is
// set.
func (p *packetFlags) riskInfo() (*redpack.RiskInfo, error) {
	if p.riskPostTime == "" && p.riskMobile == "" && p.riskDeviceID == "" && p.riskClientVersion == "" {
		return nil, nil
	}
	r := &redpack.RiskInfo{Mobile: p.riskMobile, DeviceID: p.riskDeviceID, ClientVersion: p.riskClientVersion}
	if s := p.riskPostTime; s != "" {
		if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
			r.PostTime = time.Unix(secs, 0)
		} else if t, err := time.Parse(time.RFC3339, s); err == nil {
			r.PostTime = t
		} else {
			return nil, usageErr("risk-posttime", "--risk-posttime %q is neither Unix seconds nor an RFC 3339 time", s)
		}
	}
	return r, nil
}

// request is the library request the flags describe under billNo, with
// risk, the flags' riskInfo.
func (p *packetFlags) request(billNo string, risk *redpack.RiskInfo) redpack.PacketRequest {
	switch p.kind {
	case kindMini:
		return &redpack.SendMiniProgramRedPackRequest{
			MiniProgramAppID: p.miniAppID, MchBillNo: billNo, SendName: p.sendName, ReOpenID: p.openID,
			TotalAmount: p.amount, Wishing: p.wishing, ActName: p.actName, Remark: p.remark,
			SceneID: redpack.SceneID(p.scene),
		}
	}
	if p.kind == kindGroup {
		return &redpack.SendGroupRedPackRequest{
			MchBillNo: billNo, SendName: p.sendName, ReOpenID: p.openID, TotalAmount: p.amount,
			TotalNum: p.num, Wishing: p.wishing, ActName: p.actName, Remark: p.remark,
			SceneID: redpack.SceneID(p.scene), RiskInfo: risk, ConsumeMchID: p.consumeMchID,
		}
	}
	return &redpack.SendRedPackRequest{
		MchBillNo: billNo, SendName: p.sendName, ReOpenID: p.openID, TotalAmount: p.amount,
		Wishing: p.wishing, ClientIP: p.clientIP, ActName: p.actName, Remark: p.remark,
		SceneID: redpack.SceneID(p.scene), RiskInfo: risk, ConsumeMchID: p.consumeMchID,
	}
}

// resendLine is the command that sends this packet again under the same
// bill number: the safe retry after an unknown outcome. It repeats every
// packet flag fs has with a value, so that none can be left out. Credentials
// are left out: they come from the same flags or environment as before.
func resendLine(fs *flag.FlagSet, command, billNo string) string {
	parts := []string{"redpack", command}
	for _, name := range packetFlagNames {
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		v := f.Value.String()
		if name == "bill" {
			v = billNo
		}
		if v != "" {
			parts = append(parts, "--"+name, shellQuote(v))
		}
	}
	return strings.Join(parts, " ")
}

// sendJSON is the result of a send in --json output.
type sendJSON struct {
	MchBillNo       string `json:"mch_billno"`
	SendListID      string `json:"send_listid"`
	MchID           string `json:"mch_id"`
	WxAppID         string `json:"wxappid"`
	ReOpenID        string `json:"re_openid"`
	HBType          string `json:"hb_type"`
	TotalNum        int    `json:"total_num"`
	TotalAmount     int64  `json:"total_amount"`
	TotalAmountYuan string `json:"total_amount_yuan"`
	// A mini-program packet's package, and the wx.sendBizRedPacket
	// arguments its front end needs.
	Package      string                      `json:"package,omitempty"`
	BizRedPacket *redpack.BizRedPacketParams `json:"biz_red_packet,omitempty"`
}

func runSend(ctx context.Context, e *env, args []string) int {
	return sendCommand(ctx, e, "send", kindNormal, args)
}

func runSendGroup(ctx context.Context, e *env, args []string) int {
	return sendCommand(ctx, e, "send-group", kindGroup, args)
}

func runSendMini(ctx context.Context, e *env, args []string) int {
	return sendCommand(ctx, e, "send-mini", kindMini, args)
}

func runSettle(ctx context.Context, e *env, args []string) int {
	return sendCommand(ctx, e, "settle", kindNormal, args)
}

func runSettleGroup(ctx context.Context, e *env, args []string) int {
	return sendCommand(ctx, e, "settle-group", kindGroup, args)
}

func runSettleMini(ctx context.Context, e *env, args []string) int {
	return sendCommand(ctx, e, "settle-mini", kindMini, args)
}

// settleCommand names the command that settles what command sends.
func settleCommand(command string) string {
	if rest, ok := strings.CutPrefix(command, "send"); ok {
		return "settle" + rest
	}
	return command
}

const (
	sendHelp = `Usage: redpack send [flags]

Sends a normal red packet to one user (sendredpack). Without --scene a packet
holds 100 to 20000 fen (¥1.00 to ¥200.00). The openid is the user's under the
Official Account (--appid); for a mini-program user, use send-mini.
`
	sendGroupHelp = `Usage: redpack send-group [flags]

Sends a group (fission, 裂变) red packet: the first user shares it and --num
users split --amount at random (sendgroupredpack). WeChat took group packets
offline on 2024-06-05; the command remains for merchants whose accounts still
accept them.
`
	sendMiniHelp = `Usage: redpack send-mini [flags]

Sends a mini-program red packet (sendminiprogramhb) to a user of the
mini-program --mini-appid, and prints the arguments the mini-program passes
to wx.sendBizRedPacket so the user can open it: timeStamp, nonceStr, the
URL-encoded package, signType and paySign (signed with the API key; the
recipe is inferred from SDKs, as WeChat does not spell it out). Without
--scene a packet holds 100 to 20000 fen. To query the packet later, give the
mini-program's appid: redpack query --appid <mini-appid> <bill>.
`
	settleHelp = `Usage: redpack %s --bill <mch_billno> [the packet's flags]

Settles a bill number that may have been sent before with an unknown outcome
(exit 4): it queries the bill number first, and a definite status decides
(SENT, RECEIVED, RFUND_ING, REFUND: paid; FAILED: not paid). Only when WeChat
has no record of it (NOT_FOUND) does it re-send the same packet, unchanged,
under the same bill number: success is paid, SEND_FAILED not paid. Any other
refusal of that re-send (FREQ_LIMIT, SIGN_ERROR, NO_AUTH, an expired bill
number, …) says nothing about the earlier send: the outcome stays unknown.
Give exactly the fields of the first send; --query-only never re-sends (for a
bill number first sent 23 hours or more ago: WeChat expires bill numbers after
24 hours).

Exit 0 paid, 3 not paid, 4 still unknown (run it again later; never send the
payment under a new bill number).
`
)

func sendCommand(ctx context.Context, e *env, name string, kind packetKind, args []string) int {
	settling := strings.HasPrefix(name, "settle")
	fs := newFlagSet(name)
	p := &packetFlags{kind: kind}
	p.register(fs)
	var queryOnly *bool
	if settling {
		queryOnly = fs.Bool("query-only", false, "only query; never re-send (for a bill number first sent 23 h or more ago)")
	}
	var c conn
	c.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON object on stdout instead of text")

	usage := func(w io.Writer) {
		if settling {
			fmt.Fprintf(w, settleHelp, name)
			writeCommandHelp(w, fs, flagGroup{"Packet", packetFlagNames}, flagGroup{"Settling", []string{"query-only"}})
			return
		}
		fmt.Fprint(w, map[packetKind]string{kindNormal: sendHelp, kindGroup: sendGroupHelp, kindMini: sendMiniHelp}[kind])
		fmt.Fprintf(w, `
The bill number is printed before anything is sent: keep it. If the outcome
is unknown (exit 4), settle it: 'redpack %s' with the same --bill and the
same fields; never send the payment under a new bill number.
`, settleCommand(name))
		writeCommandHelp(w, fs, flagGroup{"Packet", packetFlagNames})
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return handleParseError(e, name, err, usage)
	}
	out := &reporter{e: e, command: name, json: *asJSON}
	oc := opContext{command: name, pays: true}
	if len(pos) > 0 {
		// The stray argument is not quoted back: it may be a secret whose
		// flag was mistyped ("--api-key= KEY").
		return out.fail(usageErr("", "%s takes no arguments, got %d (flags start with --)", name, len(pos)), oc)
	}
	if kind == kindMini && p.miniAppID == "" {
		p.miniAppID = e.getenv("REDPACK_MINI_APPID")
	}
	m := p.missing()
	if settling && p.bill == "" {
		m = append([]string{"--bill"}, m...)
	}
	if len(m) > 0 {
		return out.fail(usageErr(strings.TrimPrefix(m[0], "--"), "required flags not given: %s", strings.Join(m, ", ")), oc)
	}
	risk, err := p.riskInfo() // a flag error comes before credentials
	if err != nil {
		return out.fail(err, oc)
	}
	c.resolve(fs, e.getenv)
	client, err := c.client(e)
	if err != nil {
		return out.fail(err, oc)
	}

	oc.billNo, oc.explicitBill = p.bill, p.bill != ""
	if oc.billNo == "" {
		oc.billNo = redpack.NewBillNo()
	}
	req := p.request(oc.billNo, risk)
	// Checked before the bill number is announced: a request the library
	// would refuse is never presented as being sent.
	if err := req.Validate(); err != nil {
		return out.fail(err, oc)
	}
	oc.settle = resendLine(fs, settleCommand(name), oc.billNo)
	if settling {
		var opts []redpack.SettleOption
		if *queryOnly {
			opts = append(opts, redpack.QueryOnly())
			oc.settle += " --query-only"
		}
		fmt.Fprintf(out.notice(), "Settling bill number %s: querying it first …\n", oc.billNo)
		if !out.json {
			fmt.Fprintln(out.notice())
		}
		s, err := client.Settle(ctx, req, opts...)
		if err != nil {
			return out.fail(err, oc)
		}
		var biz *redpack.BizRedPacketParams
		if mini, ok := req.(*redpack.SendMiniProgramRedPackRequest); ok && s.Package != "" {
			res := &redpack.MiniProgramResult{SendResult: redpack.SendResult{WxAppID: mini.MiniProgramAppID}, Package: s.Package}
			if biz, err = client.BizRedPacketParams(res); err != nil {
				fmt.Fprintf(out.notice(), "redpack: the packet is PAID, but its wx.sendBizRedPacket arguments could not be built: %v\n", err)
			}
		}
		return out.settled(s, oc, biz)
	}
	announce(out.notice(), oc.billNo, p, out.json)

	var (
		res  *redpack.SendResult
		mini *redpack.MiniProgramResult
		biz  *redpack.BizRedPacketParams
	)
	switch r := req.(type) {
	case *redpack.SendRedPackRequest:
		res, err = client.SendRedPack(ctx, r)
	case *redpack.SendGroupRedPackRequest:
		res, err = client.SendGroupRedPack(ctx, r)
	case *redpack.SendMiniProgramRedPackRequest:
		mini, err = client.SendMiniProgramRedPack(ctx, r)
		if err == nil {
			res = &mini.SendResult
		}
	}
	if err != nil {
		return out.fail(err, oc)
	}
	if mini != nil {
		// Paid whatever happens next: a failure here must not be reported
		// as the send's (the library's checks make it unreachable).
		var bizErr error
		if biz, bizErr = client.BizRedPacketParams(mini); bizErr != nil {
			fmt.Fprintf(out.notice(), "redpack: the packet is PAID, but its wx.sendBizRedPacket arguments could not be built: %v\n", bizErr)
		}
	}
	hbType, num := "NORMAL", 1
	if kind == kindGroup {
		hbType, num = "GROUP", p.num
	}
	result := sendJSON{
		MchBillNo: res.MchBillNo, SendListID: res.SendListID, MchID: res.MchID, WxAppID: res.WxAppID,
		ReOpenID: res.ReOpenID, HBType: hbType, TotalNum: num, TotalAmount: res.TotalAmount,
		TotalAmountYuan: yuanString(res.TotalAmount), BizRedPacket: biz,
	}
	if mini != nil {
		result.Package = mini.Package
	}
	return out.succeed(result, func(w io.Writer) {
		fmt.Fprintln(w, "PAID")
		rows := [][2]string{
			{"Bill number", res.MchBillNo},
			{"Packet number", res.SendListID + " (send_listid)"},
			{"Merchant", res.MchID},
			{"Appid", res.WxAppID},
			{"Receiver", res.ReOpenID},
			{"Amount", fmt.Sprintf("%s (%d fen)", cny(res.TotalAmount), res.TotalAmount)},
		}
		if kind == kindGroup {
			rows[4][0] = "First receiver"
			rows = append(rows, [2]string{"Shared by", fmt.Sprintf("%d users", num)})
		}
		writeKV(w, "  ", rows)
		query := "redpack query " + res.MchBillNo
		if biz != nil {
			fmt.Fprintln(w, "\nThe mini-program opens it for the user with wx.sendBizRedPacket and these arguments:")
			writeBizRedPacket(w, "  ", biz)
			query = "redpack query --appid " + shellQuote(res.WxAppID) + " " + res.MchBillNo
		}
		fmt.Fprintf(w, "\nThe user has 24 hours to open it; then it is refunded. Check it with:\n  %s\n", query)
	})
}

// writeBizRedPacket prints the wx.sendBizRedPacket arguments as the JSON a
// back end hands its mini-program, each line after indent.
func writeBizRedPacket(w io.Writer, indent string, biz *redpack.BizRedPacketParams) {
	b, _ := json.MarshalIndent(biz, indent, "  ") // five strings: cannot fail
	fmt.Fprintf(w, "%s%s\n", indent, b)
}

// announce prints the bill number before anything is sent, so that the
// user can store it.
func announce(w io.Writer, billNo string, p *packetFlags, quiet bool) {
	if quiet {
		fmt.Fprintf(w, "redpack: bill number %s (keep it: after an unknown outcome, settle it under this number)\n", billNo)
		return
	}
	fmt.Fprintf(w, "Bill number  %s\n", billNo)
	fmt.Fprintln(w, "             Keep it. If the outcome is unclear, settle it under this number")
	fmt.Fprintln(w, "             (redpack settle; never a new number).")
	switch p.kind {
	case kindGroup:
		fmt.Fprintf(w, "\nSending a group packet of %s for %d users, first to %s (sendgroupredpack; offline at WeChat since 2024-06-05) …\n\n",
			cny(p.amount), p.num, p.openID)
	case kindMini:
		fmt.Fprintf(w, "\nSending %s to %s of mini-program %s (sendminiprogramhb) …\n\n", cny(p.amount), p.openID, p.miniAppID)
	default:
		fmt.Fprintf(w, "\nSending %s to %s (sendredpack) …\n\n", cny(p.amount), p.openID)
	}
}

// queryJSON is the result of a query in --json output.
type queryJSON struct {
	MchBillNo        string         `json:"mch_billno"`
	MchID            string         `json:"mch_id"`
	DetailID         string         `json:"detail_id"`
	Status           string         `json:"status"`
	Definite         bool           `json:"definite"`
	Outcome          string         `json:"outcome"` // "paid", "not paid" or "unknown"
	SendType         string         `json:"send_type"`
	HBType           string         `json:"hb_type"`
	TotalNum         int            `json:"total_num"`
	TotalAmount      int64          `json:"total_amount"`
	TotalAmountYuan  string         `json:"total_amount_yuan"`
	RefundAmount     int64          `json:"refund_amount"`
	RefundAmountYuan string         `json:"refund_amount_yuan"`
	Reason           string         `json:"reason,omitempty"`
	SendTime         string         `json:"send_time,omitempty"`
	RefundTime       string         `json:"refund_time,omitempty"`
	Wishing          string         `json:"wishing,omitempty"`
	Remark           string         `json:"remark,omitempty"`
	ActName          string         `json:"act_name,omitempty"`
	Receivers        []receiverJSON `json:"hblist"`
}

type receiverJSON struct {
	OpenID     string `json:"openid"`
	Amount     int64  `json:"amount"`
	AmountYuan string `json:"amount_yuan"`
	RcvTime    string `json:"rcv_time,omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

func runQuery(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("query")
	var c conn
	c.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON object on stdout instead of text")
	usage := func(w io.Writer) {
		fmt.Fprint(w, `Usage: redpack query [flags] <mch_billno>

Looks a packet up by its bill number (gethbinfo): its status, amount and
receivers. Queries reach back 30 days. NOT_FOUND (exit 4) is not a failure: a
send may still be in progress, or may never have reached WeChat; settle it
with 'redpack settle'. A refused query (exit 1) says nothing about the packet.
`)
		writeCommandHelp(w, fs)
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return handleParseError(e, "query", err, usage)
	}
	out := &reporter{e: e, command: "query", json: *asJSON}
	if len(pos) != 1 {
		return out.fail(usageErr("", "query takes one bill number, got %d arguments", len(pos)), opContext{})
	}
	oc := opContext{billNo: pos[0]}
	c.resolve(fs, e.getenv)
	client, err := c.client(e)
	if err != nil {
		return out.fail(err, oc)
	}
	info, err := client.QueryRedPack(ctx, oc.billNo)
	if err != nil {
		return out.fail(err, oc)
	}
	if info.Status == redpack.StatusNotFound {
		return out.report(notFound(oc.billNo))
	}
	return out.succeed(queryResult(info), func(w io.Writer) { writeInfo(w, info) })
}

func queryResult(info *redpack.RedPackInfo) queryJSON {
	q := queryJSON{
		MchBillNo: info.MchBillNo, MchID: info.MchID, DetailID: info.DetailID,
		Status: string(info.Status), Definite: info.Status.Definite(), Outcome: info.Status.Outcome().String(),
		SendType: string(info.SendType), HBType: string(info.HBType),
		TotalNum: info.TotalNum, TotalAmount: info.TotalAmount, TotalAmountYuan: yuanString(info.TotalAmount),
		RefundAmount: info.RefundAmount, RefundAmountYuan: yuanString(info.RefundAmount),
		Reason: info.Reason, SendTime: rfc3339(info.SendTime), RefundTime: rfc3339(info.RefundTime),
		Wishing: info.Wishing, Remark: info.Remark, ActName: info.ActName,
		Receivers: []receiverJSON{},
	}
	for _, r := range info.Receivers {
		q.Receivers = append(q.Receivers, receiverJSON{
			OpenID: r.OpenID, Amount: r.Amount, AmountYuan: yuanString(r.Amount), RcvTime: rfc3339(r.ReceiveTime),
		})
	}
	return q
}

// writeInfo prints a queried packet as a table.
func writeInfo(w io.Writer, info *redpack.RedPackInfo) {
	kind := string(info.HBType)
	if info.SendType != "" {
		kind += ", sent by " + string(info.SendType)
	}
	rows := [][2]string{
		{"Bill number", info.MchBillNo},
		{"Packet number", info.DetailID},
		{"Status", fmt.Sprintf("%s: %s", info.Status, statusWords(info.Status))},
		{"Kind", kind},
		{"Amount", fmt.Sprintf("%s in %d share(s)", cny(info.TotalAmount), info.TotalNum)},
		{"Sent", clockTime(info.SendTime)},
	}
	if !info.RefundTime.IsZero() || info.RefundAmount > 0 {
		rows = append(rows, [2]string{"Refunded", fmt.Sprintf("%s at %s", cny(info.RefundAmount), clockTime(info.RefundTime))})
	}
	for _, kv := range [][2]string{{"Reason", info.Reason}, {"Activity", info.ActName}, {"Wishing", info.Wishing}, {"Remark", info.Remark}} {
		if kv[1] != "" {
			rows = append(rows, kv)
		}
	}
	writeKV(w, "", rows)
	fmt.Fprintln(w)
	if len(info.Receivers) == 0 {
		fmt.Fprintln(w, "Receivers: nobody has opened it yet.")
		return
	}
	fmt.Fprintln(w, "Receivers:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  OPENID\tAMOUNT\tOPENED AT")
	for _, r := range info.Receivers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.OpenID, cny(r.Amount), clockTime(r.ReceiveTime))
	}
	tw.Flush()
}

// writeCommandHelp ends a command's help: its flags in groups, then the
// credential and output flags every command shares, then the exit codes.
func writeCommandHelp(w io.Writer, fs *flag.FlagSet, groups ...flagGroup) {
	writeFlags(w, fs, append(groups,
		flagGroup{"Credentials and connection", connFlagNames()},
		flagGroup{"Output", []string{"json"}}))
	fmt.Fprint(w, "\nExit codes:\n")
	writeExitCodes(w)
}
