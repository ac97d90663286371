package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

// newDemoCmd is "redpack demo": the whole story on a fake server started
// in the process.
func newDemoCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("demo", "the whole flow on a built-in fake WeChat Pay server: no account needed")
	cmd.Long = `Demo tells the whole story of cash red packets against redpacktest, a fake WeChat
Pay server started inside this process: sending a packet and a group packet,
users opening them, querying them back, a mini-program packet with the
arguments its front end needs, refusals, an unknown outcome settled without
paying twice, and the refund of unclaimed packets after 24 hours.
No account, credentials or network are needed; it takes a few seconds.`
	cmd.Example = "  redpack demo"
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			fmt.Fprintf(e.stderr, "redpack demo: takes no arguments, got %d\n", len(args))
			return exitWith(exitUsage)
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
		defer cancel()
		if err := demo(ctx, e.stdout); err != nil {
			fmt.Fprintf(e.stderr, "\nredpack demo: %v\n", err)
			return exitWith(exitFailure)
		}
		return nil
	}
	return cmd
}

// The demo's users, with openids in WeChat's shape.
const (
	alice = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	bob   = "oUpF8uN95-Ptaags6E_roPHg7AG0"
	chen  = "oUpF8uIuTY4ll_SNx3hZw8xD3vdg"
)

// dana uses the merchant's mini-program: her openid is under its appid.
const dana = "oMiniAbCdEfGhIjKlMnOpQrStUvW"

var demoNames = map[string]string{alice: "Alice", bob: "Bob", chen: "Chen", dana: "Dana"}

// demoRun is the demo's state: the fake server and two clients for its
// merchant, one with quick retries and one with none.
type demoRun struct {
	w       io.Writer
	srv     *redpacktest.Server
	mch     string
	client  *redpack.Client // retries on, with short waits
	noRetry *redpack.Client // retries off, to show a raw unknown outcome
	step    int
	bills   demoBills
}

// demoBills are the bill numbers of the story, set as it goes.
type demoBills struct {
	normal, group, mini, notEnough, unknown, dropped string
}

// demo tells the story on w. It checks each step against the fake server's
// ledger and fails if anything is not as told.
func demo(ctx context.Context, w io.Writer) error {
	start := time.Now().Truncate(time.Second)
	srv, err := redpacktest.NewServer(redpacktest.WithClock(start))
	if err != nil {
		return err
	}
	defer srv.Close()
	mch := redpacktest.DefaultMchID
	quick := redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 3, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, AllowFastRetries: true})
	client, err := srv.Client(mch, quick, redpack.WithRateLimit(20, 1))
	if err != nil {
		return err
	}
	noRetry, err := srv.Client(mch, redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1}), redpack.WithRateLimit(20, 1))
	if err != nil {
		return err
	}
	d := &demoRun{w: w, srv: srv, mch: mch, client: client, noRetry: noRetry}
	return d.run(ctx)
}

func (d *demoRun) run(ctx context.Context) error {
	startBalance := d.srv.Balance(d.mch)
	title := "redpack demo: WeChat Pay cash red packets, start to finish"
	fmt.Fprintf(d.w, "%s\n%s\n\n", title, strings.Repeat("=", len(title)))
	d.para("Everything below runs against redpacktest, a fake WeChat Pay server started " +
		"inside this process (mutual TLS on 127.0.0.1). It plays WeChat's part: certificates, " +
		"signatures, every documented rule, a ledger and a clock. No account, no real money.")
	d.kv([][2]string{
		{"Merchant", d.mch},
		{"Appid", d.client.AppID() + " (an Official Account)"},
		{"Balance", cny(startBalance)},
		{"Server", d.srv.URL()},
		{"Server clock", clockTime(d.srv.Now().In(chinaZone))},
	})

	steps := []func(context.Context) error{
		d.sendNormal, d.sendGroup, d.claim, d.query, d.sendMini, d.refused, d.unknown, d.refund,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return d.summary(startBalance)
}

// chinaZone is the zone WeChat shows times in.
var chinaZone = time.FixedZone("CST", 8*60*60)

func (d *demoRun) section(title string) {
	d.step++
	h := fmt.Sprintf("%d. %s", d.step, title)
	fmt.Fprintf(d.w, "%s\n%s\n", h, strings.Repeat("-", len([]rune(h))))
}

// para prints a wrapped paragraph.
func (d *demoRun) para(text string) {
	fmt.Fprintln(d.w, wrap(text, 78, "   "))
	fmt.Fprintln(d.w)
}

func (d *demoRun) kv(rows [][2]string) {
	writeKV(d.w, "     ", rows)
	fmt.Fprintln(d.w)
}

// table prints aligned columns. Cells must be ASCII, CJK aside from the
// last column, for the alignment to hold.
func (d *demoRun) table(header []string, rows [][]string) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "     %s\n", strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintf(tw, "     %s\n", strings.Join(r, "\t"))
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		fmt.Fprint(d.w, strings.TrimRight(line, " \n")+strings.Repeat("\n", strings.Count(line, "\n")))
	}
	fmt.Fprintln(d.w)
}

func who(openid string) string {
	if n, ok := demoNames[openid]; ok {
		return n
	}
	return openid
}

// packetRequest is the demo's normal packet to openid.
func packetRequest(billNo, openid string, fen int64) *redpack.SendRedPackRequest {
	return &redpack.SendRedPackRequest{
		MchBillNo:   billNo,
		SendName:    "天虹百货",
		ReOpenID:    openid,
		TotalAmount: fen,
		Wishing:     "感谢您参加猜灯谜活动，祝您元宵节快乐！",
		ClientIP:    "192.168.0.1",
		ActName:     "猜灯谜抢红包活动",
		Remark:      "猜越多得越多，快来抢！",
	}
}

func (d *demoRun) sendNormal(ctx context.Context) error {
	d.section("Send a red packet")
	d.para("A bill number is made first (redpack.NewBillNo) and stored before sending: " +
		"it is the packet's identity, and the only safe way to retry.")
	d.bills.normal = redpack.NewBillNo()
	res, err := d.client.SendRedPack(ctx, packetRequest(d.bills.normal, alice, 888))
	if err != nil {
		return fmt.Errorf("send a normal packet: %w", err)
	}
	d.kv([][2]string{
		{"Bill number", d.bills.normal},
		{"To", "Alice (" + alice + ")"},
		{"Amount", cny(res.TotalAmount)},
		{"Result", "sent and paid; WeChat's packet number " + res.SendListID},
	})
	return nil
}

func (d *demoRun) sendGroup(ctx context.Context) error {
	d.section("Send a group packet")
	d.para("Note: WeChat took group (fission, 裂变) packets offline on 2024-06-05. The call is kept " +
		"for legacy merchants whose accounts still accept it. The first user shares the packet " +
		"and the group splits the amount at random.")
	d.bills.group = redpack.NewBillNo()
	res, err := d.client.SendGroupRedPack(ctx, &redpack.SendGroupRedPackRequest{
		MchBillNo:   d.bills.group,
		SendName:    "天虹百货",
		ReOpenID:    alice,
		TotalAmount: 3000,
		TotalNum:    3,
		Wishing:     "分享给好友，一起抢！",
		ActName:     "元宵裂变红包",
		Remark:      "三人同享",
	})
	if err != nil {
		return fmt.Errorf("send a group packet: %w", err)
	}
	d.kv([][2]string{
		{"Bill number", d.bills.group},
		{"First user", "Alice"},
		{"Amount", cny(res.TotalAmount) + " for 3 people"},
		{"Result", "sent and paid; WeChat's packet number " + res.SendListID},
	})
	d.para("An account WeChat has closed to group packets gets NO_AUTH instead, nothing paid: " +
		"'redpack fake-server --group-offline' plays one.")
	return nil
}

func (d *demoRun) claim(context.Context) error {
	d.section("The users open them (claimed)")
	d.srv.Advance(5 * time.Minute)
	if err := d.srv.Claim(d.mch, d.bills.normal); err != nil {
		return err
	}
	if err := d.srv.Claim(d.mch, d.bills.group, alice, bob, chen); err != nil {
		return err
	}
	d.para("Five minutes later Alice opens hers, and Alice, Bob and Chen open the group " +
		"packet, which splits at random. From the fake server's ledger:")
	var rows [][]string
	for _, b := range []struct{ kind, bill string }{{"normal", d.bills.normal}, {"group", d.bills.group}} {
		p, ok := d.srv.Packet(d.mch, b.bill)
		if !ok {
			return fmt.Errorf("packet %s is not in the ledger", b.bill)
		}
		for _, r := range p.Receivers {
			rows = append(rows, []string{b.kind, who(r.OpenID), cny(r.Amount), clockTime(r.Time.In(chinaZone))})
		}
	}
	d.table([]string{"PACKET", "WHO", "AMOUNT", "CLAIMED AT"}, rows)
	return nil
}

func (d *demoRun) query(ctx context.Context) error {
	d.section("Query them back")
	d.para("Asking WeChat about both bill numbers (gethbinfo), as 'redpack query <bill>' does:")
	var rows [][]string
	for _, b := range []string{d.bills.normal, d.bills.group} {
		info, err := queryStatus(ctx, d.client, b, redpack.StatusReceived)
		if err != nil {
			return err
		}
		var got []string
		var sum int64
		for _, r := range info.Receivers {
			got = append(got, who(r.OpenID)+" "+cny(r.Amount))
			sum += r.Amount
		}
		if sum != info.TotalAmount {
			return fmt.Errorf("query %s: receivers got %d fen of %d", b, sum, info.TotalAmount)
		}
		rows = append(rows, []string{b, string(info.HBType), string(info.Status), cny(info.TotalAmount), strings.Join(got, ", ")})
	}
	d.table([]string{"BILL NUMBER", "KIND", "STATUS", "AMOUNT", "RECEIVERS"}, rows)
	d.para("RECEIVED means " + statusWords(redpack.StatusReceived) + ". The receivers' shares add up to the total.")
	return nil
}

func (d *demoRun) sendMini(ctx context.Context) error {
	d.section("A mini-program packet")
	mini := redpacktest.DefaultMiniProgramAppID
	d.para("Dana uses the merchant's mini-program (appid " + mini + "), so her openid is under that appid " +
		"and sendredpack cannot pay her. sendminiprogramhb pays the packet and answers with a package; " +
		"the mini-program then opens it for her with wx.sendBizRedPacket. The request names the " +
		"mini-program's appid itself, as 'redpack send-mini --mini-appid' does.")
	d.bills.mini = redpack.NewBillNo()
	res, err := d.client.SendMiniProgramRedPack(ctx, &redpack.SendMiniProgramRedPackRequest{
		MiniProgramAppID: mini,
		MchBillNo:        d.bills.mini,
		SendName:         "天虹百货",
		ReOpenID:         dana,
		TotalAmount:      1688,
		Wishing:          "小程序专享红包",
		ActName:          "小程序元宵活动",
		Remark:           "打开小程序领取",
	})
	if err != nil {
		return fmt.Errorf("send a mini-program packet: %w", err)
	}
	d.kv([][2]string{
		{"Bill number", d.bills.mini},
		{"To", "Dana (" + dana + ")"},
		{"Amount", cny(res.TotalAmount)},
		{"Result", "sent and paid; waiting for the mini-program to open it"},
	})
	params, err := d.client.BizRedPacketParams(res)
	if err != nil {
		return err
	}
	d.para("The back end answers the mini-program with the arguments of wx.sendBizRedPacket " +
		"(client.BizRedPacketParams: the package URL-encoded, paySign signed with the API key):")
	writeBizRedPacket(d.w, "     ", params)
	fmt.Fprintln(d.w)

	d.srv.Advance(time.Minute)
	if err := d.srv.OpenBizRedPacket(redpacktest.BizRedPacket(*params)); err != nil {
		return fmt.Errorf("the fake server refused the front-end arguments: %w", err)
	}
	miniClient, err := d.client.ForAppID(mini)
	if err != nil {
		return err
	}
	info, err := queryStatus(ctx, miniClient, d.bills.mini, redpack.StatusReceived)
	if err != nil {
		return err
	}
	d.para("The fake server checks paySign with its own code, as WeChat would, and Dana opens the " +
		"packet. Queried under the mini-program's appid, it is " + string(info.Status) + ".")
	return nil
}

func (d *demoRun) refused(ctx context.Context) error {
	d.section("Refused: nothing paid, and why")

	d.para("a) Checked before sending. ¥300.00 is above the ¥200.00 a packet may hold without a scene_id. The client refuses it " +
		"and names the field:")
	before := len(d.srv.Requests())
	_, err := d.client.SendRedPack(ctx, packetRequest(redpack.NewBillNo(), bob, 30000))
	var verr *redpack.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("a ¥300.00 packet without a scene: got %v, want a validation error", err)
	}
	after := len(d.srv.Requests())
	if after != before {
		return fmt.Errorf("a request reached the server although validation failed")
	}
	d.kv([][2]string{
		{"Error", verr.Error()},
		{"Field", verr.Field + " (the --amount flag)"},
		{"Sent", fmt.Sprintf("nothing: the fake server had %d requests before and %d after", before, after)},
		{"CLI exit code", "2"},
	})

	saved := d.srv.Balance(d.mch)
	if err := d.srv.SetBalance(d.mch, 500); err != nil {
		return err
	}
	d.para("b) Refused by WeChat. The merchant's balance is lowered to ¥5.00, then ¥10.00 is sent to Bob:")
	d.bills.notEnough = redpack.NewBillNo()
	req := packetRequest(d.bills.notEnough, bob, 1000)
	_, err = d.client.SendRedPack(ctx, req)
	var apiErr *redpack.APIError
	if !errors.As(err, &apiErr) || !errors.Is(err, redpack.CodeNotEnough) {
		return fmt.Errorf("send with ¥5.00 in the account: got %v, want NOTENOUGH", err)
	}
	f := explain(err, opContext{command: "send", pays: true, billNo: d.bills.notEnough})
	d.kv([][2]string{
		{"Bill number", d.bills.notEnough},
		{"err_code", apiErr.ErrCode},
		{"Description", apiErr.ErrCodeDes},
		{"Paid", f.Paid},
		{"CLI exit code", fmt.Sprint(f.ExitCode)},
	})
	d.para("Advice: " + f.Advice)
	if err := d.srv.SetBalance(d.mch, saved); err != nil {
		return err
	}
	res, err := d.client.SendRedPack(ctx, req)
	if err != nil {
		return fmt.Errorf("re-send after the top-up: %w", err)
	}
	d.para("NOTENOUGH is a definite refusal, so after a top-up the same request under the same " +
		"bill number may simply be sent again:")
	d.kv([][2]string{{"Result", "sent and paid; packet number " + res.SendListID}})
	return nil
}

func (d *demoRun) unknown(ctx context.Context) error {
	d.section("Unknown outcome, settled safely")
	d.para("The dangerous case: WeChat takes the money, then answers SYSTEMERROR (\"accepted, no " +
		"definite result\"). The fake server is told to do exactly that, and this client's own " +
		"retries are turned off so that you see the raw outcome.")
	err := d.srv.Inject(redpacktest.Fault{Op: "sendredpack", Kind: redpacktest.SystemErrorAfterCommit})
	if err != nil {
		return err
	}
	paidBefore := d.srv.Paid(d.mch)
	d.bills.unknown = redpack.NewBillNo()
	req := packetRequest(d.bills.unknown, chen, 666)
	_, err = d.noRetry.SendRedPack(ctx, req)
	if !errors.Is(err, redpack.ErrUnknownOutcome) {
		return fmt.Errorf("send under SystemErrorAfterCommit: got %v, want an unknown outcome", err)
	}
	f := explain(err, opContext{command: "send", pays: true, billNo: d.bills.unknown})
	d.kv([][2]string{
		{"Bill number", d.bills.unknown},
		{"To", "Chen, " + cny(req.TotalAmount)},
		{"Result", "OUTCOME UNKNOWN: errors.Is(err, redpack.ErrUnknownOutcome)"},
		{"err_code", f.ErrCode},
		{"CLI exit code", fmt.Sprint(f.ExitCode)},
	})
	d.para("The packet may or may not have been paid. Sending it again under a NEW bill number " +
		"could pay Chen twice. The safe move is to settle it: client.Settle (the CLI's 'redpack settle') " +
		"queries the bill number first, and only if WeChat has no record of it re-sends the same " +
		"request under the same bill number. A refusal of such a re-send (FREQ_LIMIT, SIGN_ERROR " +
		"after a key rotation, an expired bill number) would say nothing about the first send, so " +
		"it would leave the outcome unknown rather than read as \"not paid\".")

	s, err := d.client.Settle(ctx, req)
	if err != nil {
		return fmt.Errorf("settle the unknown outcome: %w", err)
	}
	if s.Outcome != redpack.OutcomePaid || s.Resent {
		return fmt.Errorf("settle the unknown outcome: %s (re-sent: %v), want paid by the query", s.Outcome, s.Resent)
	}
	sends, _ := sendsFor(d.srv, d.bills.unknown)
	packets := d.packetsFor(d.bills.unknown)
	paid := d.srv.Paid(d.mch) - paidBefore
	if packets != 1 || paid != req.TotalAmount || sends != 1 || s.SendListID == "" {
		return fmt.Errorf("bill %s: %d packets, %d fen paid, %d sends; want 1 packet paid once",
			d.bills.unknown, packets, paid, sends)
	}
	d.kv([][2]string{
		{"Settle", fmt.Sprintf("outcome %s: the query found status %s (%s)", s.Outcome, s.Status, statusWords(s.Status))},
		{"Packet number", s.SendListID},
		{"Re-sent", "no: a definite status needs no re-send"},
	})
	d.para("Settled: it was paid. The fake server's ledger proves it was paid exactly once:")
	d.kv([][2]string{
		{"Sends received", fmt.Sprintf("%d under bill %s", sends, d.bills.unknown)},
		{"Packets", fmt.Sprint(packets)},
		{"Money out", cny(paid) + ", paid exactly once"},
	})

	d.para("With retries on (the default), the client settles this by itself. This time the server " +
		"takes the money and then drops the connection without answering; the client re-sends the " +
		"identical request and WeChat answers with the first attempt's result:")
	err = d.srv.Inject(redpacktest.Fault{Op: "sendredpack", Kind: redpacktest.DropAfterCommit})
	if err != nil {
		return err
	}
	paidBefore = d.srv.Paid(d.mch)
	d.bills.dropped = redpack.NewBillNo()
	req = packetRequest(d.bills.dropped, bob, 520)
	if _, err := d.client.SendRedPack(ctx, req); err != nil {
		return fmt.Errorf("send under DropAfterCommit with retries: %w", err)
	}
	sends, bodiesSame := sendsFor(d.srv, d.bills.dropped)
	packets = d.packetsFor(d.bills.dropped)
	paid = d.srv.Paid(d.mch) - paidBefore
	if packets != 1 || paid != req.TotalAmount || sends != 2 || !bodiesSame {
		return fmt.Errorf("bill %s: %d packets, %d fen paid, %d sends (identical: %v); want 1 packet paid once",
			d.bills.dropped, packets, paid, sends, bodiesSame)
	}
	d.kv([][2]string{
		{"Bill number", d.bills.dropped},
		{"Result", fmt.Sprintf("sent and paid after %d attempts, byte-identical: %s", sends, yesNo(bodiesSame))},
		{"Money out", cny(paid) + " to Bob, paid exactly once"},
	})
	return nil
}

// sendsFor counts the send requests the server received for billNo and
// says whether their bodies were byte-identical.
func sendsFor(srv *redpacktest.Server, billNo string) (n int, same bool) {
	var first []byte
	same = true
	for _, r := range srv.Requests() {
		if r.MchBillNo != billNo || r.Op == "gethbinfo" {
			continue
		}
		if n == 0 {
			first = r.Body
		} else if !bytes.Equal(first, r.Body) {
			same = false
		}
		n++
	}
	return n, same
}

func (d *demoRun) packetsFor(billNo string) int {
	n := 0
	for _, p := range d.srv.Packets() {
		if p.MchBillNo == billNo {
			n++
		}
	}
	return n
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (d *demoRun) refund(ctx context.Context) error {
	d.section("Unclaimed packets are refunded after 24 hours")
	unclaimed := []string{d.bills.notEnough, d.bills.unknown, d.bills.dropped}
	d.para("Bob's and Chen's packets were never opened. A user has 24 hours; the fake server's " +
		"clock now jumps ahead 24 hours:")
	balance := d.srv.Balance(d.mch)
	d.srv.Advance(redpacktest.RefundAfter)
	if err := d.statusTable(ctx, unclaimed, redpack.StatusRefunding); err != nil {
		return err
	}
	d.para("An hour later the money is back:")
	d.srv.Advance(redpacktest.RefundLag)
	if err := d.statusTable(ctx, unclaimed, redpack.StatusRefund); err != nil {
		return err
	}
	var refunded int64
	for _, b := range unclaimed {
		p, _ := d.srv.Packet(d.mch, b)
		refunded += p.RefundAmount
	}
	after := d.srv.Balance(d.mch)
	if after-balance != refunded || refunded == 0 {
		return fmt.Errorf("balance went from %d to %d fen, refunds %d", balance, after, refunded)
	}
	d.kv([][2]string{
		{"Refunded", cny(refunded)},
		{"Balance", fmt.Sprintf("%s → %s", cny(balance), cny(after))},
	})
	return nil
}

// statusTable queries each bill, checks it has status want and prints them.
func (d *demoRun) statusTable(ctx context.Context, billNos []string, want redpack.Status) error {
	var rows [][]string
	for _, b := range billNos {
		info, err := queryStatus(ctx, d.client, b, want)
		if err != nil {
			return err
		}
		p, _ := d.srv.Packet(d.mch, b)
		rows = append(rows, []string{b, who(p.ReOpenID), cny(info.TotalAmount), cny(info.RefundAmount), string(info.Status), statusWords(info.Status)})
	}
	d.table([]string{"BILL NUMBER", "TO", "AMOUNT", "REFUNDED", "STATUS", "MEANING"}, rows)
	return nil
}

func (d *demoRun) summary(startBalance int64) error {
	title := "Summary: the fake server's ledger"
	fmt.Fprintf(d.w, "%s\n%s\n", title, strings.Repeat("-", len(title)))
	var rows [][]string
	var paid, refunded int64
	for _, p := range d.srv.Packets() {
		to := who(p.ReOpenID)
		if p.Kind == redpacktest.KindGroup {
			to += fmt.Sprintf(" +%d", p.TotalNum-1)
		}
		rows = append(rows, []string{p.MchBillNo, string(p.Kind), to, cny(p.TotalAmount), string(p.Status), yesNo(p.Paid)})
		if p.Paid {
			paid += p.TotalAmount
		}
		refunded += p.RefundAmount
	}
	d.table([]string{"BILL NUMBER", "KIND", "TO", "AMOUNT", "STATUS", "PAID"}, rows)
	end := d.srv.Balance(d.mch)
	if paid != d.srv.Paid(d.mch) || startBalance-paid+refunded != end {
		return fmt.Errorf("ledger does not add up: start %d, paid %d (server says %d), refunded %d, end %d",
			startBalance, paid, d.srv.Paid(d.mch), refunded, end)
	}
	d.kv([][2]string{
		{"Packets", fmt.Sprintf("%d, each paid exactly once", len(rows))},
		{"Paid out", cny(paid)},
		{"Refunded", cny(refunded)},
		{"Balance", fmt.Sprintf("%s → %s", cny(startBalance), cny(end))},
	})
	fmt.Fprintln(d.w, "Now on a real account: 'redpack help' lists the commands, credentials and exit codes.")
	return nil
}

// queryStatus queries billNo and requires the status want: the demo checks
// each step's outcome through the API, as a merchant would.
func queryStatus(ctx context.Context, c *redpack.Client, billNo string, want redpack.Status) (*redpack.RedPackInfo, error) {
	info, err := c.QueryRedPack(ctx, billNo)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", billNo, err)
	}
	if info.Status != want {
		return nil, fmt.Errorf("query %s: status %s, want %s", billNo, info.Status, want)
	}
	return info, nil
}
