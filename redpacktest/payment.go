package redpacktest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"time"
)

// The trade states a payment can be in (orderquery's trade_state). The fake
// makes paid orders only: SUCCESS, then REFUND once a refund is made.
const (
	TradeStateSuccess = "SUCCESS"
	TradeStateRefund  = "REFUND"
)

// The sign_type values of payment notifications and order queries.
const (
	SignTypeMD5        = "MD5"
	SignTypeHMACSHA256 = signTypeHMAC
)

// PaymentRequest describes a WeChat Pay payment a user makes, for Pay. Only
// OpenID and TotalFee are required.
type PaymentRequest struct {
	// MchID is the merchant paid; DefaultMchID if empty.
	MchID string
	// AppID is the appid the order was paid under: one of the merchant's
	// (its main appid, AppIDs, MiniProgramAppIDs or AppAppIDs). The
	// merchant's main AppID if empty.
	AppID string
	// OpenID is the payer, under AppID. Required.
	OpenID string
	// TotalFee is the order's amount in fen, more than 0. Required.
	TotalFee int64
	// CashFee is what the user paid after coupons, 1 to TotalFee; 0 means
	// TotalFee. When it is less than TotalFee the notification carries one
	// coupon for the difference.
	CashFee int64
	// OutTradeNo is the merchant's order number, at most 32 characters,
	// unique per merchant; generated if empty.
	OutTradeNo string
	// TimeEnd is when the payment completed; the server clock if zero.
	// Notifications write it as WeChat does, yyyyMMddHHmmss in China time,
	// so it is kept to the second.
	TimeEnd time.Time
	// NotifyURL is where the payment-result notification is posted (http
	// or https); none is sent if empty.
	NotifyURL string
	// SignType is the algorithm the order was created with: SignTypeMD5
	// (the default, "") or SignTypeHMACSHA256. The notifications and the
	// orderquery answers about the order are signed with it.
	SignType string
	// OmitSignType leaves sign_type out of HMAC-SHA256-signed
	// notifications, as WeChat often does: the receiver must tell the
	// algorithm from the signature. MD5-signed notifications never carry
	// sign_type, as in WeChat's documented sample.
	OmitSignType bool
	// Attach is the merchant's data, echoed in the notification; at most
	// 127 bytes.
	Attach string
	// Faults spoils the deliveries of the notification; see
	// DeliveryFaults.
	Faults DeliveryFaults
}

// DeliveryFaults makes the deliveries of one notification misbehave, as
// WeChat's do. The zero value delivers each notification once per
// scheduled attempt, at once.
type DeliveryFaults struct {
	// Copies sends each scheduled delivery this many times at once, as
	// WeChat's several servers do: a receiver must handle the same
	// notification concurrently. 0 and 1 mean once.
	Copies int
	// Delay waits this long (real time) before each scheduled delivery is
	// sent. Close ends the wait, and the delivery is then not made.
	Delay time.Duration
	// HoldUntilNext holds the first delivery back until the next
	// notification the server makes (another payment's or a refund's) has
	// had its first delivery, so that the two arrive out of order. Held
	// deliveries are not due: WaitDeliveries does not wait for them.
	HoldUntilNext bool
}

func (f DeliveryFaults) check() error {
	switch {
	case f.Copies < 0:
		return fmt.Errorf("negative Copies %d", f.Copies)
	case f.Copies > 100:
		return fmt.Errorf("Copies %d is more than 100", f.Copies)
	case f.Delay < 0:
		return fmt.Errorf("negative Delay %s", f.Delay)
	}
	return nil
}

// RefundRequest describes a refund of a payment, for Refund. Every field
// is optional.
type RefundRequest struct {
	// RefundFee is the amount refunded in fen; what is left of the
	// payment if 0 (a full refund).
	RefundFee int64
	// OutRefundNo is the merchant's refund number, at most 64 characters,
	// unique per merchant; generated if empty.
	OutRefundNo string
	// NotifyURL is where the refund notification is posted; the
	// payment's NotifyURL if empty.
	NotifyURL string
	// Faults spoils the deliveries of the refund notification.
	Faults DeliveryFaults
}

// Payment is a paid WeChat Pay order on the fake server, with the
// deliveries of its notifications. Payments are values: later changes on
// the server do not show in one already returned.
type Payment struct {
	MchID         string
	AppID         string
	OpenID        string
	TransactionID string // WeChat's order number: 28 digits, 4200…
	OutTradeNo    string
	TotalFee      int64
	CashFee       int64
	TradeState    string    // TradeStateSuccess or TradeStateRefund
	TimeEnd       time.Time // China time
	NotifyURL     string
	SignType      string // SignTypeMD5 or SignTypeHMACSHA256
	OmitSignType  bool
	Attach        string
	// Refunds are the payment's refunds, in the order they were made.
	Refunds []Refund
	// Deliveries are every delivery of the payment's notification and of
	// its refunds' notifications, in the order they were answered.
	Deliveries []Delivery
	// Delivered reports whether a delivery of the payment notification
	// was answered SUCCESS.
	Delivered bool
	// NextDelivery is when the payment notification is next due on the
	// server clock; zero when none is scheduled (delivered, no NotifyURL,
	// or the schedule exhausted).
	NextDelivery time.Time
}

// Refund is one refund of a payment.
type Refund struct {
	TransactionID string
	OutTradeNo    string
	RefundID      string // WeChat's refund number
	OutRefundNo   string
	TotalFee      int64 // the payment's amount
	RefundFee     int64
	SuccessTime   time.Time // China time
	NotifyURL     string
	// Delivered and NextDelivery are as Payment's, for the refund
	// notification.
	Delivered    bool
	NextDelivery time.Time
}

// NotificationKind says which notification a delivery carried.
type NotificationKind string

// The kinds of notification.
const (
	PaymentNotification NotificationKind = "payment" // 支付结果通知
	RefundNotification  NotificationKind = "refund"  // 退款结果通知
)

// Delivery is one HTTP POST of a notification to its notify_url and what
// the receiver answered.
type Delivery struct {
	Kind     NotificationKind
	RefundID string // the refund's, for a refund notification
	// Attempt is the delivery's place in WeChat's schedule: 1 for the
	// first, 2 for the first re-delivery (15 s later) … 16 for the last;
	// 0 for a delivery made with Notify, outside the schedule.
	Attempt int
	// Copy numbers the copies of a delivery sent at once
	// (DeliveryFaults.Copies), from 1.
	Copy int
	// Due is when the delivery was due on the server clock (zero for
	// Notify); Time is the server clock when it was sent, later than Due
	// when the clock jumped past several due times at once.
	Due  time.Time
	Time time.Time
	// StatusCode and ReturnCode are the receiver's HTTP status and the
	// return_code of its XML answer; Error says why there is none (a
	// refused connection, a timeout, an answer that is not XML).
	StatusCode int
	ReturnCode string
	Error      string
	// Success reports whether the delivery counted as received: HTTP 200
	// with return_code SUCCESS.
	Success bool
}

// RedeliverySchedule returns how long WeChat waits after a failed delivery
// before the next one (pay.weixin.qq.com/doc/v2/merchant/4011937248):
// 15 re-deliveries, 24 h 4 m in all, measured on the server clock from
// when the failed one was due. After the last, nothing more is sent. The
// slice is a copy.
func RedeliverySchedule() []time.Duration { return slices.Clone(redeliverySchedule) }

var redeliverySchedule = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second,
	3 * time.Minute, 10 * time.Minute, 20 * time.Minute,
	30 * time.Minute, 30 * time.Minute, 30 * time.Minute,
	60 * time.Minute, 3 * time.Hour, 3 * time.Hour,
	3 * time.Hour, 6 * time.Hour, 6 * time.Hour,
}

// payment is a payment in the ledger; h.mu guards it.
type payment struct {
	Payment
	refunded   int64
	notice     *notice // nil without a NotifyURL
	refunds    []*refund
	deliveries []Delivery
}

type refund struct {
	Refund
	notice *notice
}

type paymentKey struct{ mchID, outTradeNo string }

// Pay makes a paid order, as if the user had paid the merchant, and, when
// p.NotifyURL is set, starts delivering its signed payment-result
// notification in the background (it never waits for the receiver): the
// first delivery now, re-deliveries on RedeliverySchedule until one is
// answered SUCCESS. WaitDeliveries waits for them.
func (h *Handler) Pay(p PaymentRequest) (*Payment, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock.now()
	rec, err := h.newPaymentLocked(p, now)
	if err != nil {
		return nil, fmt.Errorf("redpacktest: Pay: %w", err)
	}
	if rec.NotifyURL != "" {
		body := paymentNotification(rec, h.accounts[rec.MchID])
		rec.notice = h.addNoticeLocked(rec, PaymentNotification, "", rec.NotifyURL, body, p.Faults, now)
	} else {
		h.releaseHeldLocked(nil)
	}
	h.dispatchLocked()
	out := rec.snapshot()
	return &out, nil
}

func (h *Handler) newPaymentLocked(p PaymentRequest, now time.Time) (*payment, error) {
	if p.MchID == "" {
		p.MchID = DefaultMchID
	}
	a := h.accounts[p.MchID]
	if a == nil {
		return nil, fmt.Errorf("no merchant %s", p.MchID)
	}
	if p.AppID == "" {
		p.AppID = a.AppID
	}
	if a.appKind(p.AppID) == appUnbound {
		return nil, fmt.Errorf("appid %s is not bound to merchant %s", p.AppID, p.MchID)
	}
	switch {
	case p.OpenID == "":
		return nil, errors.New("no OpenID")
	case p.TotalFee <= 0:
		return nil, fmt.Errorf("TotalFee %d: give a positive amount in fen", p.TotalFee)
	case p.CashFee < 0 || p.CashFee > p.TotalFee:
		return nil, fmt.Errorf("CashFee %d is not within 1–%d", p.CashFee, p.TotalFee)
	case len(p.OutTradeNo) > 32:
		return nil, fmt.Errorf("OutTradeNo %q is longer than 32 characters", p.OutTradeNo)
	case len(p.Attach) > 127:
		return nil, errors.New("Attach is longer than 127 bytes")
	case p.SignType != "" && p.SignType != SignTypeMD5 && p.SignType != SignTypeHMACSHA256:
		return nil, fmt.Errorf("SignType %q is neither MD5 nor HMAC-SHA256", p.SignType)
	}
	if err := checkNotifyURL(p.NotifyURL); err != nil {
		return nil, err
	}
	if err := p.Faults.check(); err != nil {
		return nil, err
	}
	h.paySeq++
	if p.OutTradeNo == "" {
		p.OutTradeNo = fmt.Sprintf("fake%s%010d", chinaDay(now), h.paySeq)
	}
	if h.payByOut[paymentKey{p.MchID, p.OutTradeNo}] != nil {
		return nil, fmt.Errorf("merchant %s already has an order %s", p.MchID, p.OutTradeNo)
	}
	if p.CashFee == 0 {
		p.CashFee = p.TotalFee
	}
	if p.TimeEnd.IsZero() {
		p.TimeEnd = now
	}
	rec := &payment{Payment: Payment{
		MchID: p.MchID, AppID: p.AppID, OpenID: p.OpenID,
		// WeChat's are 28 digits: 4200, then digits that differ per
		// order, the day, and more digits.
		TransactionID: fmt.Sprintf("4200%06d%s%010d", h.paySeq%1_000_000, chinaDay(p.TimeEnd), rand.Uint64N(10_000_000_000)),
		OutTradeNo:    p.OutTradeNo,
		TotalFee:      p.TotalFee, CashFee: p.CashFee,
		TradeState:   TradeStateSuccess,
		TimeEnd:      p.TimeEnd.In(chinaTime).Truncate(time.Second),
		NotifyURL:    p.NotifyURL,
		SignType:     cmpOr(p.SignType, SignTypeMD5),
		OmitSignType: p.OmitSignType,
		Attach:       p.Attach,
	}}
	h.payments = append(h.payments, rec)
	h.payByID[rec.TransactionID] = rec
	h.payByOut[paymentKey{p.MchID, p.OutTradeNo}] = rec
	return rec, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func checkNotifyURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("notify URL %q is not an absolute http or https URL", s)
	}
	return nil
}

// Refund refunds a payment: it becomes REFUND, and when the refund (or
// else the payment) has a notify URL, the refund notification is delivered
// in the background on the same schedule as a payment notification. Refunds
// add up to at most the payment's TotalFee.
func (h *Handler) Refund(transactionID string, r RefundRequest) (*Refund, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.payByID[transactionID]
	if p == nil {
		return nil, fmt.Errorf("redpacktest: Refund: no payment %s", transactionID)
	}
	left := p.TotalFee - p.refunded
	if r.RefundFee == 0 {
		r.RefundFee = left
	}
	switch {
	case left == 0:
		return nil, fmt.Errorf("redpacktest: Refund: payment %s is refunded in full", transactionID)
	case r.RefundFee < 0 || r.RefundFee > left:
		return nil, fmt.Errorf("redpacktest: Refund: RefundFee %d is not within 1–%d", r.RefundFee, left)
	case len(r.OutRefundNo) > 64:
		return nil, fmt.Errorf("redpacktest: Refund: OutRefundNo %q is longer than 64 characters", r.OutRefundNo)
	}
	if err := checkNotifyURL(r.NotifyURL); err != nil {
		return nil, fmt.Errorf("redpacktest: Refund: %w", err)
	}
	if err := r.Faults.check(); err != nil {
		return nil, fmt.Errorf("redpacktest: Refund: %w", err)
	}
	now := h.clock.now()
	h.paySeq++
	if r.OutRefundNo == "" {
		r.OutRefundNo = fmt.Sprintf("fakerefund%s%010d", chinaDay(now), h.paySeq)
	}
	for _, q := range h.payments {
		for _, rf := range q.refunds {
			if q.MchID == p.MchID && rf.OutRefundNo == r.OutRefundNo {
				return nil, fmt.Errorf("redpacktest: Refund: merchant %s already has a refund %s", p.MchID, r.OutRefundNo)
			}
		}
	}
	rf := &refund{Refund: Refund{
		TransactionID: p.TransactionID, OutTradeNo: p.OutTradeNo,
		RefundID:    fmt.Sprintf("5030%06d%s%010d", h.paySeq%1_000_000, chinaDay(now), rand.Uint64N(10_000_000_000)),
		OutRefundNo: r.OutRefundNo,
		TotalFee:    p.TotalFee, RefundFee: r.RefundFee,
		SuccessTime: now.In(chinaTime).Truncate(time.Second),
		NotifyURL:   cmpOr(r.NotifyURL, p.NotifyURL),
	}}
	p.refunded += r.RefundFee
	p.TradeState = TradeStateRefund
	p.refunds = append(p.refunds, rf)
	if rf.NotifyURL != "" {
		body, err := refundNotification(p, rf, h.accounts[p.MchID])
		if err != nil {
			return nil, fmt.Errorf("redpacktest: Refund: %w", err)
		}
		rf.notice = h.addNoticeLocked(p, RefundNotification, rf.RefundID, rf.NotifyURL, body, r.Faults, now)
	} else {
		h.releaseHeldLocked(nil)
	}
	h.dispatchLocked()
	out := rf.snapshot()
	return &out, nil
}

// Payment returns the payment with WeChat's order number transactionID.
func (h *Handler) Payment(transactionID string) (Payment, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.payByID[transactionID]
	if p == nil {
		return Payment{}, false
	}
	return p.snapshot(), true
}

// Payments returns every payment, in the order they were made.
func (h *Handler) Payments() []Payment {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Payment, len(h.payments))
	for i, p := range h.payments {
		out[i] = p.snapshot()
	}
	return out
}

// snapshot copies the payment; h.mu is held.
func (p *payment) snapshot() Payment {
	out := p.Payment
	out.Deliveries = slices.Clone(p.deliveries)
	out.Refunds = make([]Refund, len(p.refunds))
	for i, r := range p.refunds {
		out.Refunds[i] = r.snapshot()
	}
	out.Delivered, out.NextDelivery = p.notice.state()
	return out
}

func (r *refund) snapshot() Refund {
	out := r.Refund
	out.Delivered, out.NextDelivery = r.notice.state()
	return out
}

// paymentNotification is the payment's signed notification body (spec §2);
// h.mu is held.
func paymentNotification(p *payment, a *account) []byte {
	fs := []field{
		str("appid", p.AppID),
		str("bank_type", "OTHERS"),
		num("cash_fee", p.CashFee),
		str("fee_type", "CNY"),
		str("is_subscribe", isSubscribe(a, p.AppID)),
		str("mch_id", p.MchID),
		str("nonce_str", newNonce()),
		str("openid", p.OpenID),
		str("out_trade_no", p.OutTradeNo),
		str("result_code", "SUCCESS"),
		str("return_code", "SUCCESS"),
		str("time_end", compactTime(p.TimeEnd)),
		num("total_fee", p.TotalFee),
		str("trade_type", "JSAPI"),
		str("transaction_id", p.TransactionID),
	}
	if p.Attach != "" {
		fs = append(fs, str("attach", p.Attach))
	}
	fs = append(fs, couponFields(p)...)
	if p.SignType == SignTypeHMACSHA256 && !p.OmitSignType {
		fs = append(fs, str("sign_type", SignTypeHMACSHA256))
	}
	return signedReply(fs, a.APIKey, p.SignType == SignTypeHMACSHA256).encode()
}

// couponFields are the coupon a payment used when the user paid less than
// the order's amount. coupon_type_0 is left out, as WeChat often does.
func couponFields(p *payment) []field {
	c := p.TotalFee - p.CashFee
	if c <= 0 {
		return nil
	}
	return []field{
		num("coupon_fee", c),
		num("coupon_count", 1),
		str("coupon_id_0", "2000000"+p.TransactionID[len(p.TransactionID)-10:]),
		num("coupon_fee_0", c),
	}
}

// isSubscribe says whether the payer follows the Official Account: the
// fake's payers follow the merchant's Official Accounts and nothing else.
func isSubscribe(a *account, appid string) string {
	if a.appKind(appid) == appBound {
		return "Y"
	}
	return "N"
}

// signedReply sorts fs by name, signs them all and adds sign, as WeChat
// signs its notifications and orderquery answers: over every field sent.
func signedReply(fs []field, apiKey string, useHMAC bool) *reply {
	slices.SortFunc(fs, func(a, b field) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	m := make(map[string]string, len(fs))
	names := make([]string, 0, len(fs))
	for _, f := range fs {
		m[f.name] = f.value
		names = append(names, f.name)
	}
	r := &reply{errCode: "SUCCESS", fields: fs}
	return r.with(str("sign", signature(m, names, apiKey, useHMAC)))
}

// compactTime writes t as WeChat's time_end: yyyyMMddHHmmss, China time.
func compactTime(t time.Time) string { return t.In(chinaTime).Format("20060102150405") }

// parseCompactTime reads a time written by compactTime.
func parseCompactTime(s string) (time.Time, error) {
	return time.ParseInLocation("20060102150405", s, chinaTime)
}

const nonceChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func newNonce() string {
	b := make([]byte, 32)
	for i := range b {
		b[i] = nonceChars[rand.IntN(len(nonceChars))]
	}
	return string(b)
}
