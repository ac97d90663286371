package redpack

import (
	"context"
	"time"

	"github.com/beevik/etree"
)

var opOrderQuery = operation{name: "orderquery", path: "pay/orderquery", signed: true}

// OrderQuery names a WeChat Pay order to look up: by TransactionID
// (WeChat's number, preferred) or OutTradeNo (the merchant's), one of
// them. AppID is the appid the order was paid under; empty means the
// Config's.
type OrderQuery struct {
	AppID         string
	TransactionID string
	OutTradeNo    string
}

// TradeState is an order's state (trade_state).
type TradeState string

// The documented trade states. Only TradeSuccess is a paid order.
const (
	TradeSuccess    TradeState = "SUCCESS"    // paid
	TradeRefund     TradeState = "REFUND"     // paid, then (partly) refunded
	TradeNotPay     TradeState = "NOTPAY"     // not paid
	TradeClosed     TradeState = "CLOSED"     // closed
	TradeRevoked    TradeState = "REVOKED"    // revoked (payment code orders)
	TradeUserPaying TradeState = "USERPAYING" // the user is paying
	TradePayError   TradeState = "PAYERROR"   // the payment failed
	TradeAccept     TradeState = "ACCEPT"     // accepted, to be paid
)

// Order is an order as WeChat Pay's order query (pay/orderquery,
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_2) reports it.
// Its answer is signed and verified with the API key, so an Order is
// WeChat's word: use it to confirm a payment notification before money
// goes out on it, comparing OpenID and the amounts.
type Order struct {
	AppID          string
	MchID          string
	TradeState     TradeState
	TradeStateDesc string
	OpenID         string
	IsSubscribe    bool
	TradeType      string
	BankType       string
	TotalFee       int64 // fen
	CashFee        int64 // fen: what the user paid after coupons
	TransactionID  string
	OutTradeNo     string
	Attach         string
	TimeEnd        time.Time // zero until paid; China time
}

// Paid reports whether the order is paid (SUCCESS).
func (o *Order) Paid() bool { return o.TradeState == TradeSuccess }

// QueryOrder looks an order up with pay/orderquery. Its answer must be
// signed and verify with the API key (red-packet answers are not signed;
// this one is), and must name the order asked about and the client's
// merchant: an answer that does not is an error, never an Order. An order
// WeChat does not know is an *APIError matching CodeOrderNotExist.
func (c *Client) QueryOrder(ctx context.Context, q OrderQuery) (*Order, error) {
	id, field := q.TransactionID, "transaction_id"
	switch {
	case q.TransactionID != "" && q.OutTradeNo != "":
		return nil, &ValidationError{Field: "transaction_id", Reason: "give transaction_id or out_trade_no, not both"}
	case q.TransactionID == "" && q.OutTradeNo == "":
		return nil, &ValidationError{Field: "transaction_id", Reason: "give transaction_id or out_trade_no"}
	case q.OutTradeNo != "":
		id, field = q.OutTradeNo, "out_trade_no"
	}
	if len(id) > 32 {
		return nil, &ValidationError{Field: field, Reason: "is longer than 32 characters"}
	}
	appID := q.AppID
	if appID == "" {
		appID = c.appID
	}
	ps := []param{{"appid", appID}, {field, id}}
	var o *Order
	err := c.do(ctx, opOrderQuery, id, ps, func(root *etree.Element) (err error) {
		o, err = decodeOrder(root)
		if err != nil {
			return err
		}
		switch {
		case o.MchID != c.mchID:
			return fieldError("mch_id", o.MchID, "is not the merchant's")
		case o.AppID != appID:
			return fieldError("appid", o.AppID, "is not the appid asked")
		case field == "transaction_id" && o.TransactionID != id, field == "out_trade_no" && o.OutTradeNo != id:
			return fieldError(field, id, "is not the order named in the answer")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

func decodeOrder(root *etree.Element) (*Order, error) {
	o := &Order{}
	var err error
	for e := range root.ChildElementsSeq() {
		v := e.Text()
		switch e.Tag {
		case "appid":
			o.AppID = v
		case "mch_id":
			o.MchID = v
		case "trade_state":
			o.TradeState = TradeState(v)
		case "trade_state_desc":
			o.TradeStateDesc = v
		case "openid":
			o.OpenID = v
		case "is_subscribe":
			o.IsSubscribe = v == "Y"
		case "trade_type":
			o.TradeType = v
		case "bank_type":
			o.BankType = v
		case "total_fee":
			if v != "" {
				o.TotalFee, err = parseInt64(e.Tag, v)
			}
		case "cash_fee":
			if v != "" {
				o.CashFee, err = parseInt64(e.Tag, v)
			}
		case "transaction_id":
			o.TransactionID = v
		case "out_trade_no":
			o.OutTradeNo = v
		case "attach":
			o.Attach = v
		case "time_end":
			if v != "" {
				o.TimeEnd, err = parseCompactTime(e.Tag, v)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if o.TradeState == "" {
		return nil, fieldError("trade_state", "", "is missing")
	}
	if o.CashFee > o.TotalFee {
		return nil, fieldError("cash_fee", "", "is more than total_fee")
	}
	return o, nil
}
