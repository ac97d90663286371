package redpack

import (
	"context"
	"time"

	"github.com/beevik/etree"
)

// Status is a packet's state in a query (status).
type Status string

// The documented statuses, and StatusNotFound.
const (
	StatusSending   Status = "SENDING"   // 发放中: being paid; not yet definite
	StatusSent      Status = "SENT"      // 已发放待领取: paid, waiting for the user
	StatusFailed    Status = "FAILED"    // 发放失败: not paid; see Reason
	StatusReceived  Status = "RECEIVED"  // 已领取: the user took it
	StatusRefunding Status = "RFUND_ING" // 退款中: unclaimed, being refunded (WeChat's spelling)
	StatusRefund    Status = "REFUND"    // 已退款: unclaimed and refunded to the merchant

	// StatusNotFound is not WeChat's: QueryRedPack reports its NOT_FOUND
	// answer (no packet under the bill number, yet) with it. It settles
	// nothing: the send may still be in progress, or may never have reached
	// WeChat. Query again later, or settle with Client.Settle.
	StatusNotFound Status = "NOT_FOUND"
)

// Outcome says what the status proves about the payment: SENT, RECEIVED,
// RFUND_ING and REFUND are OutcomePaid (a refund comes back later, but the
// packet was paid and must not be sent again); FAILED is OutcomeNotPaid,
// the only status under which the payment may be re-issued under a new
// bill number; SENDING, StatusNotFound and any status WeChat may add are
// OutcomeUnknown.
func (s Status) Outcome() Outcome {
	switch s {
	case StatusSent, StatusReceived, StatusRefunding, StatusRefund:
		return OutcomePaid
	case StatusFailed:
		return OutcomeNotPaid
	}
	return OutcomeUnknown
}

// Definite reports whether the status settles whether the packet was paid:
// whether its Outcome is not OutcomeUnknown.
func (s Status) Definite() bool { return s.Outcome() != OutcomeUnknown }

// SendType is how a packet was sent (send_type).
type SendType string

// The documented send types.
const (
	SendTypeAPI      SendType = "API"      // through this API
	SendTypeUpload   SendType = "UPLOAD"   // by a file uploaded in the console
	SendTypeActivity SendType = "ACTIVITY" // by a console activity
)

// HBType is a packet's kind (hb_type).
type HBType string

// The documented packet kinds.
const (
	HBTypeNormal HBType = "NORMAL"
	HBTypeGroup  HBType = "GROUP"
)

// RedPackInfo is a packet as gethbinfo reports it.
type RedPackInfo struct {
	MchBillNo string
	MchID     string
	DetailID  string // WeChat's packet number, the send's SendListID
	Status    Status
	SendType  SendType
	HBType    HBType

	TotalNum     int
	TotalAmount  int64  // fen
	RefundAmount int64  // fen; 0 unless refunded
	Reason       string // why it failed (may also appear while SENDING)

	// SendTime and RefundTime are in China Standard Time (UTC+8), as WeChat
	// writes them; zero when absent.
	SendTime   time.Time
	RefundTime time.Time

	Wishing string
	Remark  string
	ActName string

	// Receivers lists every receipt: one for a claimed normal packet, one per
	// receiver so far for a group packet.
	Receivers []Receiver
}

// Receiver is one user's receipt of (part of) a packet.
type Receiver struct {
	OpenID      string
	Amount      int64     // fen
	ReceiveTime time.Time // China Standard Time; zero when absent
}

// QueryRedPack looks a packet up by its bill number (gethbinfo), with the
// client's appid. Only the last 30 days can be queried.
// https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon.php?chapter=13_6&index=5
//
// Decide with info.Status.Outcome(). WeChat's NOT_FOUND (no packet under
// that number, yet) is not an error but a RedPackInfo whose Status is
// StatusNotFound, whose outcome is unknown: a send may still be in
// progress. Query again after a few minutes, or settle the bill number with
// Settle; never send the payment under a new number. An error means the
// query got no answer about the packet and settles nothing either.
func (c *Client) QueryRedPack(ctx context.Context, mchBillNo string) (*RedPackInfo, error) {
	if err := checkBillNo(mchBillNo); err != nil {
		return nil, err
	}
	ps := make([]param, 0, 8)
	ps = append(ps,
		param{"appid", c.appID},
		param{"bill_type", "MCHT"},
		param{"mch_billno", mchBillNo},
	)
	var info *RedPackInfo
	err := c.do(ctx, opQueryRedPack, mchBillNo, ps, func(root *etree.Element) (err error) {
		info, err = decodeRedPackInfo(root)
		return err
	})
	if apiErr, ok := err.(*APIError); ok && Code(apiErr.ErrCode) == CodeNotFound {
		return &RedPackInfo{MchBillNo: mchBillNo, MchID: c.mchID, Status: StatusNotFound}, nil
	}
	if err != nil {
		return nil, err
	}
	return info, nil
}

// decodeRedPackInfo maps a successful gethbinfo answer. Unknown elements
// are ignored; present ones must be well-formed.
func decodeRedPackInfo(root *etree.Element) (*RedPackInfo, error) {
	info := &RedPackInfo{}
	var err error
	for e := range root.ChildElementsSeq() {
		v := e.Text()
		switch e.Tag {
		case "mch_billno":
			info.MchBillNo = v
		case "mch_id":
			info.MchID = v
		case "detail_id":
			info.DetailID = v
		case "status":
			info.Status = Status(v)
		case "send_type":
			info.SendType = SendType(v)
		case "hb_type":
			info.HBType = HBType(v)
		case "reason":
			info.Reason = v
		case "wishing":
			info.Wishing = v
		case "remark":
			info.Remark = v
		case "act_name":
			info.ActName = v
		case "total_num":
			var n int64
			n, err = parseInt64(e.Tag, v)
			info.TotalNum = int(n)
		case "total_amount":
			info.TotalAmount, err = parseInt64(e.Tag, v)
		case "refund_amount":
			if v != "" {
				info.RefundAmount, err = parseInt64(e.Tag, v)
			}
		case "send_time":
			if v != "" {
				info.SendTime, err = parseTime(e.Tag, v)
			}
		case "refund_time":
			if v != "" {
				info.RefundTime, err = parseTime(e.Tag, v)
			}
		case "hblist":
			info.Receivers, err = decodeReceivers(e)
		}
		if err != nil {
			return nil, err
		}
	}
	if info.Status == "" {
		return nil, &DecodeError{Reason: "a successful answer without <status>", Excerpt: `""`}
	}
	if info.MchBillNo == "" {
		// A status settles a bill only if it names it (judge has checked
		// that a named one is the bill asked about).
		return nil, &DecodeError{Reason: "a successful answer without <mch_billno>", Excerpt: `""`}
	}
	return info, nil
}

func decodeReceivers(hblist *etree.Element) ([]Receiver, error) {
	var out []Receiver
	for hb := range hblist.ChildElementsSeq() {
		if hb.Tag != "hbinfo" {
			continue
		}
		var r Receiver
		for e := range hb.ChildElementsSeq() {
			v := e.Text()
			var err error
			switch e.Tag {
			case "openid":
				r.OpenID = v
			case "amount":
				r.Amount, err = parseInt64("hbinfo/amount", v)
			case "rcv_time":
				if v != "" {
					r.ReceiveTime, err = parseTime("hbinfo/rcv_time", v)
				}
			}
			if err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}
