package campaign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/redpack-go/redpack"
)

// A rule set is a campaign of awards (满额送): its rows are made from WeChat
// Pay payment notifications instead of a file, one award per rule and
// transaction, and paid by the same run as a file's rows. This file holds
// the rules themselves: the rules file, its checks, and how a rule judges a
// payment.

// RuleSet is a rules file: the rules a merchant's payments are judged by.
//
//	{"rules": [{"name": "spend100", "appid": "wx8888888888888888",
//	  "from": "2026-12-01T00:00:00+08:00", "to": "2027-01-01T00:00:00+08:00",
//	  "min_fee": 10000, "amount": 500, "budget": 75000, "user_daily_count": 1,
//	  "send_name": "天虹百货", "wishing": "满100送5元", "act_name": "满额送", "remark": "感谢惠顾"}]}
type RuleSet struct {
	Rules []Rule `json:"rules"`
}

// Rule awards a packet for a payment that meets its condition. Amounts are
// in fen; a payment is judged by its time_end (China time).
type Rule struct {
	// Name: 1–64 characters of lower-case letters, digits, '-' and '_';
	// unique in the set. An award is keyed by rule and transaction_id.
	Name string `json:"name"`
	// AppID is the Official Account whose payments count, and which the
	// packets are sent under: its openids receive sendredpack. A payment
	// under another appid (a mini-program's, an app's) is skipped, with
	// the reason, since its openid cannot receive this packet.
	AppID string `json:"appid"`
	// From and To bound the active period, [From, To), judged on the
	// payment's time_end. To zero: no end.
	From time.Time `json:"from"`
	To   time.Time `json:"to,omitzero"`
	// Fee says which of the payment's amounts the rule compares:
	// "cash_fee" (default: what the user really paid, after coupons) or
	// "total_fee" (the order's amount).
	Fee string `json:"fee,omitempty"`
	// MinFee is the least Fee that qualifies.
	MinFee int64 `json:"min_fee"`

	// The award, one of: a fixed Amount; Tiers (the highest tier whose
	// MinFee the payment meets); or Random, drawn once per award and
	// journalled.
	Amount int64        `json:"amount,omitempty"`
	Tiers  []Tier       `json:"tiers,omitempty"`
	Random *RandomRange `json:"random,omitempty"`

	// Budget is the most the rule awards in all, in fen. An award takes its
	// amount from the budget when it is made; a refusal after confirmation
	// or a refund within the hold gives it back.
	Budget int64 `json:"budget"`

	// Per-user caps, by openid; 0: none. The daily ones count China days
	// of the payments' time_end and must be below WeChat's own (10 packets
	// and 100,000 fen a day per user).
	UserDailyCount  int64 `json:"user_daily_count,omitempty"`
	UserDailyAmount int64 `json:"user_daily_amount,omitempty"`
	UserCount       int64 `json:"user_count,omitempty"`
	UserAmount      int64 `json:"user_amount,omitempty"`

	// The packet.
	SendName string          `json:"send_name"`
	Wishing  string          `json:"wishing"`
	ActName  string          `json:"act_name"`
	Remark   string          `json:"remark"`
	ClientIP string          `json:"client_ip,omitempty"`
	SceneID  redpack.SceneID `json:"scene_id,omitempty"`
}

// Tier is one step of a tiered award: a payment of at least MinFee gets
// Amount.
type Tier struct {
	MinFee int64 `json:"min_fee"`
	Amount int64 `json:"amount"`
}

// RandomRange is a random award between Min and Max fen, both included.
type RandomRange struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
}

// Fee names for Rule.Fee.
const (
	FeeCash  = "cash_fee"
	FeeTotal = "total_fee"
)

// ParseRules reads a rules file and checks every rule (see RuleSet.Check).
// Unknown keys are refused, so that a misspelt cap is not silently no cap.
func ParseRules(r io.Reader) (*RuleSet, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(data) > 1<<20 {
		return nil, &InputError{Msg: "rules file: larger than 1 MiB"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var set RuleSet
	if err := dec.Decode(&set); err != nil {
		return nil, &InputError{Msg: "rules file: " + err.Error()}
	}
	if dec.More() {
		return nil, &InputError{Msg: "rules file: data after the JSON object"}
	}
	if err := set.Check(); err != nil {
		return nil, err
	}
	return &set, nil
}

// Check checks every rule, and returns an *InputError that names each rule
// and field at fault.
func (set *RuleSet) Check() error {
	var msgs []string
	if len(set.Rules) == 0 {
		msgs = append(msgs, "no rules")
	}
	seen := map[string]bool{}
	for i, r := range set.Rules {
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		for _, m := range r.problems() {
			msgs = append(msgs, "rule "+name+": "+m)
		}
		if seen[r.Name] {
			msgs = append(msgs, "rule "+name+": the name is used twice")
		}
		seen[r.Name] = true
	}
	if len(msgs) > 0 {
		return &InputError{Msg: strings.Join(msgs, "; ")}
	}
	return nil
}

// WeChat's own per-user daily caps, which a rule's must stay below.
const (
	wechatUserDailyCount  = 10
	wechatUserDailyAmount = 100_000
)

func (r *Rule) problems() []string {
	var p []string
	if err := checkName(r.Name); err != nil {
		p = append(p, "name: "+strings.TrimPrefix(err.Error(), "campaign name "))
	}
	if !strings.HasPrefix(r.AppID, "wx") || len(r.AppID) != 18 {
		p = append(p, fmt.Sprintf("appid %q: an Official Account's appid, wx and 16 characters", r.AppID))
	}
	if r.From.IsZero() {
		p = append(p, "from: the start of the active period is required (RFC 3339, e.g. 2026-12-01T00:00:00+08:00)")
	}
	if !r.To.IsZero() && !r.To.After(r.From) {
		p = append(p, "to: must be after from")
	}
	if r.Fee != "" && r.Fee != FeeCash && r.Fee != FeeTotal {
		p = append(p, fmt.Sprintf("fee %q: cash_fee or total_fee", r.Fee))
	}
	if r.MinFee < 0 {
		p = append(p, "min_fee: negative")
	}
	kinds := 0
	var amounts []int64
	if r.Amount != 0 {
		kinds++
		amounts = append(amounts, r.Amount)
	}
	if len(r.Tiers) > 0 {
		kinds++
		for i, t := range r.Tiers {
			if i > 0 && t.MinFee <= r.Tiers[i-1].MinFee {
				p = append(p, "tiers: min_fee must rise from tier to tier")
			}
			if t.MinFee < r.MinFee {
				p = append(p, fmt.Sprintf("tiers: tier min_fee %d is below the rule's min_fee %d", t.MinFee, r.MinFee))
			}
			amounts = append(amounts, t.Amount)
		}
	}
	if r.Random != nil {
		kinds++
		if r.Random.Max < r.Random.Min {
			p = append(p, "random: max is below min")
		}
		amounts = append(amounts, r.Random.Min, r.Random.Max)
	}
	if kinds != 1 {
		p = append(p, "the award: give exactly one of amount, tiers and random")
	}
	t := r.template()
	if err := checkTemplate(t); err != nil {
		var in *InputError
		if errors.As(err, &in) {
			p = append(p, in.Msg)
		} else {
			p = append(p, err.Error())
		}
	}
	for _, a := range amounts {
		if err := t.request(sampleBillNo, "oSampleOpenID0000000000000000", a).Validate(); err != nil {
			p = append(p, fmt.Sprintf("award %d fen: %v", a, err))
			break
		}
	}
	if r.Budget <= 0 {
		p = append(p, "budget: required, in fen")
	} else if len(amounts) > 0 && r.Budget < slices.Min(amounts) {
		p = append(p, fmt.Sprintf("budget %d fen is less than the smallest award, %d fen", r.Budget, slices.Min(amounts)))
	}
	if r.UserDailyCount < 0 || r.UserDailyCount > wechatUserDailyCount {
		p = append(p, fmt.Sprintf("user_daily_count %d: 0 (no cap) to WeChat's own %d", r.UserDailyCount, wechatUserDailyCount))
	}
	if r.UserDailyAmount < 0 || r.UserDailyAmount > wechatUserDailyAmount {
		p = append(p, fmt.Sprintf("user_daily_amount %d: 0 (no cap) to WeChat's own %d fen", r.UserDailyAmount, wechatUserDailyAmount))
	}
	if r.UserCount < 0 || r.UserAmount < 0 {
		p = append(p, "user_count and user_amount: 0 (no cap) or more")
	}
	return p
}

// template is the packet the rule sends; the amount is the award's.
func (r *Rule) template() Template {
	ip := r.ClientIP
	if ip == "" {
		ip = defaultClientIP
	}
	return Template{SendName: r.SendName, Wishing: r.Wishing, ActName: r.ActName, Remark: r.Remark, ClientIP: ip, SceneID: r.SceneID}
}

// defaultClientIP is the client_ip of a rule's packets when the rule names
// none: WeChat wants the IP of the machine that calls it, and checks only
// its shape.
const defaultClientIP = "127.0.0.1"

// fee is the amount of n the rule compares.
func (r *Rule) fee(n *redpack.PaymentNotification) int64 {
	if r.Fee == FeeTotal {
		return n.TotalFee
	}
	return n.CashFee
}

// judge says what the rule awards for a paid order, before the budget
// and the caps: the amount, or why the payment does not qualify, as a
// short code (Award.Why) and a sentence.
func (r *Rule) judge(n *redpack.PaymentNotification, draw func(lo, hi int64) int64) (amount int64, why, reason string) {
	if n.AppID != r.AppID {
		return 0, "appid", fmt.Sprintf("appid %s is not the rule's %s: the payment's openid (a mini-program's or an app's) cannot receive this packet", n.AppID, r.AppID)
	}
	if n.TimeEnd.Before(r.From) {
		return 0, "period", fmt.Sprintf("time_end %s is before the rule's period (from %s)", n.TimeEnd.In(chinaTime).Format(time.DateTime), r.From.In(chinaTime).Format(time.DateTime))
	}
	if !r.To.IsZero() && !n.TimeEnd.Before(r.To) {
		return 0, "period", fmt.Sprintf("time_end %s is after the rule's period (to %s)", n.TimeEnd.In(chinaTime).Format(time.DateTime), r.To.In(chinaTime).Format(time.DateTime))
	}
	fee := r.fee(n)
	name := r.Fee
	if name == "" {
		name = FeeCash
	}
	if fee < r.MinFee {
		return 0, "min_fee", fmt.Sprintf("%s %d is below min_fee %d", name, fee, r.MinFee)
	}
	switch {
	case r.Amount > 0:
		return r.Amount, "", ""
	case len(r.Tiers) > 0:
		for i := len(r.Tiers) - 1; i >= 0; i-- {
			if fee >= r.Tiers[i].MinFee {
				return r.Tiers[i].Amount, "", ""
			}
		}
		return 0, "tier", fmt.Sprintf("%s %d is below the lowest tier's min_fee %d", name, fee, r.Tiers[0].MinFee)
	default:
		return draw(r.Random.Min, r.Random.Max), "", ""
	}
}

// drawAmount draws a random award in [lo, hi].
func drawAmount(lo, hi int64) int64 { return lo + rand.Int64N(hi-lo+1) }
