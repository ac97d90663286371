package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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

func (p *packetFlags) register(fs *pflag.FlagSet) {
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
func resendLine(fs *pflag.FlagSet, command, billNo string) string {
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

// settleCommand names the command that settles what command sends.
func settleCommand(command string) string {
	if rest, ok := strings.CutPrefix(command, "send"); ok {
		return "settle" + rest
	}
	return command
}

// packetCmd is what a send or settle command was given.
type packetCmd struct {
	name      string // "send", "settle-group", …
	p         packetFlags
	c         conn
	queryOnly bool // settle only
	asJSON    bool
}

func (pc *packetCmd) settling() bool { return strings.HasPrefix(pc.name, "settle") }

// newPacketCmd is a send or settle command of kind: the packet's flags,
// the credentials and --json.
func newPacketCmd(e *env, use string, kind packetKind, short, long, example string) *cobra.Command {
	cmd := newLeafCmd(use, short)
	cmd.Long, cmd.Example = long, example
	pc := &packetCmd{name: cmd.Name(), p: packetFlags{kind: kind}}
	fs := cmd.Flags()
	pc.p.register(fs)
	groupFlags(fs, "Packet", packetFlagNames...)
	if pc.settling() {
		fs.BoolVar(&pc.queryOnly, "query-only", false, "only query; never re-send (for a bill number first sent 23 h or more ago)")
		groupFlags(fs, "Settling", "query-only")
	}
	pc.c.register(fs)
	fs.BoolVar(&pc.asJSON, "json", false, "print one JSON object on stdout instead of text")
	groupFlags(fs, "Output", "json")
	completeChoices(cmd, "scene", sceneIDs...)
	setEpilog(cmd, exitCodesEpilog())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return exitWith(pc.run(cmd.Context(), e, fs, args))
	}
	return cmd
}

// sendAfterwards is the end of every send command's help.
const sendAfterwards = `

The bill number is printed before anything is sent: keep it. If the outcome
is unknown (exit 4), settle it: 'redpack %s' with the same --bill and the
same fields; never send the payment under a new bill number.`

// newSendCmds are send, send-group and send-mini.
func newSendCmds(e *env) []*cobra.Command {
	return []*cobra.Command{
		newPacketCmd(e, "send [flags]", kindNormal, "send a normal red packet to one user (sendredpack)",
			`Send sends a normal red packet to one user (sendredpack). Without --scene a packet
holds 100 to 20000 fen (¥1.00 to ¥200.00). The openid is the user's under the
Official Account (--appid); for a mini-program user, use send-mini.`+fmt.Sprintf(sendAfterwards, "settle"),
			`  # Against 'redpack fake-server --dir redpack-fake' (no account needed):
  redpack send --merchant redpack-fake/merchant.json \
      --openid oUpF8uMuAJO_M2pxb1Q9zNjWeS6o --amount 1000 --send-name 天虹百货 \
      --wishing 新年快乐 --act-name 新年红包 --remark 快来抢 --client-ip 192.168.0.1`),
		newPacketCmd(e, "send-group [flags]", kindGroup, "send a group (fission) packet; offline at WeChat since 2024-06-05",
			`Send-group sends a group (fission, 裂变) red packet: the first user shares it and
--num users split --amount at random (sendgroupredpack). WeChat took group
packets offline on 2024-06-05; the command remains for merchants whose
accounts still accept them.`+fmt.Sprintf(sendAfterwards, "settle-group"),
			`  # Against 'redpack fake-server --dir redpack-fake':
  redpack send-group --merchant redpack-fake/merchant.json \
      --openid oUpF8uMuAJO_M2pxb1Q9zNjWeS6o --amount 3000 --num 3 --send-name 天虹百货 \
      --wishing 分享给好友 --act-name 裂变红包 --remark 三人同享`),
		newPacketCmd(e, "send-mini [flags]", kindMini, "send a mini-program packet and print the wx.sendBizRedPacket arguments (sendminiprogramhb)",
			`Send-mini sends a mini-program red packet (sendminiprogramhb) to a user of the
mini-program --mini-appid, and prints the arguments the mini-program passes
to wx.sendBizRedPacket so the user can open it: timeStamp, nonceStr, the
URL-encoded package, signType and paySign (signed with the API key; the
recipe is inferred from SDKs, as WeChat does not spell it out). Without
--scene a packet holds 100 to 20000 fen. To query the packet later, give the
mini-program's appid: redpack query --appid <mini-appid> <bill>.`+fmt.Sprintf(sendAfterwards, "settle-mini"),
			`  # Against 'redpack fake-server --dir redpack-fake':
  redpack send-mini --merchant redpack-fake/merchant.json --mini-appid wxd27ebc41b85ce36d \
      --openid oMiniAbCdEfGhIjKlMnOpQrStUvW --amount 1688 --send-name 天虹百货 \
      --wishing 小程序专享红包 --act-name 小程序元宵活动 --remark 打开小程序领取`),
	}
}

// run sends or settles the packet the flags describe and returns the
// exit code.
func (pc *packetCmd) run(ctx context.Context, e *env, fs *pflag.FlagSet, pos []string) int {
	name, kind, p, c, settling := pc.name, pc.p.kind, &pc.p, &pc.c, pc.settling()
	out := &reporter{e: e, command: name, json: pc.asJSON}
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
		if pc.queryOnly {
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
