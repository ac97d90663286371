package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redpack-go/redpack"
)

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

// newQueryCmd is "redpack query BILL".
func newQueryCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("query <mch_billno>", "look a packet up by its bill number (gethbinfo)")
	cmd.Long = `Query looks a packet up by its bill number (gethbinfo): its status, amount and
receivers. Queries reach back 30 days. NOT_FOUND (exit 4) is not a failure: a
send may still be in progress, or may never have reached WeChat; settle it
with 'redpack settle'. A refused query (exit 1) says nothing about the packet.`
	cmd.Example = `  # Against 'redpack fake-server --dir redpack-fake', after the settle example:
  redpack query --merchant redpack-fake/merchant.json 1900000109202501010000000001
  redpack query 1900000109202501010000000001 --json    # credentials from REDPACK_*`
	fs := cmd.Flags()
	var c conn
	c.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON object on stdout instead of text")
	groupFlags(fs, "Output", "json")
	setEpilog(cmd, exitCodesEpilog())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return exitWith(runQuery(cmd.Context(), e, fs, &c, *asJSON, args))
	}
	return cmd
}

func runQuery(ctx context.Context, e *env, fs *pflag.FlagSet, c *conn, asJSON bool, pos []string) int {
	out := &reporter{e: e, command: "query", json: asJSON}
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
