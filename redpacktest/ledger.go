package redpacktest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Status is a packet's state, with gethbinfo's names (spec §2.5).
type Status string

// The statuses and how a packet moves between them:
//
//	SENDING → SENT → RECEIVED                   claimed (Claim)
//	SENDING → SENT → RFUND_ING → REFUND         unclaimed: RFUND_ING 24 h after sending,
//	                                            REFUND (balance credited) RefundLag later
//	SENDING → FAILED                            a ProcessingThenFail fault
//	FAILED                                      refused by a daily cap
//
// A packet stays SENDING only when a fault holds it there; otherwise it is
// SENT as soon as it is paid.
const (
	StatusSending   Status = "SENDING"
	StatusSent      Status = "SENT"
	StatusFailed    Status = "FAILED"
	StatusReceived  Status = "RECEIVED"
	StatusRefunding Status = "RFUND_ING" // WeChat's spelling
	StatusRefund    Status = "REFUND"
)

// Times of the state machine, on the server's clock.
const (
	// RefundAfter is how long a packet waits to be claimed: 24 h (spec §8).
	// It is also how long a bill number can be re-sent (spec §3.5).
	RefundAfter = 24 * time.Hour
	// RefundLag is how long a packet stays RFUND_ING before REFUND.
	RefundLag = time.Hour
	// QueryWindow is how far back gethbinfo finds packets: 30 days.
	QueryWindow = 30 * 24 * time.Hour
	// DefaultHold is how long ProcessingAfterCommit and ProcessingThenFail
	// keep a packet SENDING when the Fault says no Hold.
	DefaultHold = time.Minute
)

// Kind is the endpoint a packet was sent through.
type Kind string

// The kinds of packet. gethbinfo reports hb_type GROUP for KindGroup and
// NORMAL for the others.
const (
	KindNormal      Kind = "NORMAL"      // sendredpack
	KindGroup       Kind = "GROUP"       // sendgroupredpack
	KindMiniProgram Kind = "MINIPROGRAM" // sendminiprogramhb
)

func (k Kind) hbType() string {
	if k == KindGroup {
		return "GROUP"
	}
	return "NORMAL"
}

// Packet is one red packet in the server's ledger: what was asked, its
// state and who received it. Packets are values: later changes on the
// server do not show in a Packet already returned.
type Packet struct {
	MchID     string
	MchBillNo string
	// DetailID is WeChat's packet number: send_listid in the send answer,
	// detail_id in gethbinfo.
	DetailID string
	Kind     Kind

	WxAppID     string
	ReOpenID    string // the receiver (the seed user of a group packet)
	TotalAmount int64  // fen
	TotalNum    int
	SceneID     string
	SendName    string
	Wishing     string
	ActName     string
	Remark      string

	Status Status
	Reason string // why it failed
	// Paid says money left the balance for the packet: true from the moment
	// it was accepted (SENDING included), false for a FAILED packet.
	Paid     bool
	SendTime time.Time // server clock
	// Receivers lists the receipts: one for a claimed normal packet, one per
	// receiver so far for a group packet.
	Receivers []Receiver
	// RefundTime and RefundAmount are set once unclaimed money is refunded.
	RefundTime   time.Time
	RefundAmount int64
	// Package is the JSAPI package string of a mini-program packet.
	Package string
}

// Receiver is one user's receipt of (part of) a packet.
type Receiver struct {
	OpenID string
	Amount int64     // fen
	Time   time.Time // server clock
}

// record is a Packet with the server's bookkeeping.
type record struct {
	Packet
	holdUntil  time.Time // SENDING until then
	failOnHold bool      // then FAILED (with failReason) rather than SENT
	failReason string
	shares     []int64 // a group packet's split, claimed in order
}

func (r *record) snapshot() Packet {
	p := r.Packet
	p.Receivers = slices.Clone(r.Receivers)
	return p
}

func (r *record) unclaimed() int64 {
	left := r.TotalAmount
	for _, rc := range r.Receivers {
		left -= rc.Amount
	}
	return left
}

// settle moves r along the state machine up to now and says whether r
// reached a state time no longer changes. It returns the fen to credit
// back to the merchant (a refund).
func (r *record) settle(now time.Time) (credit int64, done bool) {
	if r.Status == StatusSending && !now.Before(r.holdUntil) {
		if r.failOnHold {
			r.Status, r.Reason = StatusFailed, r.failReason
		} else {
			r.Status = StatusSent
		}
	}
	refundAt := r.SendTime.Add(RefundAfter)
	if r.Status == StatusSent && !now.Before(refundAt) {
		r.Status = StatusRefunding
	}
	if r.Status == StatusRefunding && !now.Before(refundAt.Add(RefundLag)) {
		r.Status = StatusRefund
		r.RefundTime = refundAt.Add(RefundLag)
		r.RefundAmount = r.unclaimed()
		credit = r.RefundAmount
	}
	switch r.Status {
	case StatusSending, StatusSent, StatusRefunding:
		return credit, false
	}
	return credit, true
}

// claim hands the packet to openids at now.
func (r *record) claim(now time.Time, openids []string) error {
	if r.Status != StatusSent {
		return fmt.Errorf("redpacktest: packet %s is %s; only a SENT packet can be claimed", r.MchBillNo, r.Status)
	}
	if r.Kind != KindGroup {
		if len(openids) > 1 || len(openids) == 1 && openids[0] != r.ReOpenID {
			return fmt.Errorf("redpacktest: packet %s is for %s only", r.MchBillNo, r.ReOpenID)
		}
		r.Receivers = append(r.Receivers, Receiver{OpenID: r.ReOpenID, Amount: r.TotalAmount, Time: now})
		r.Status = StatusReceived
		return nil
	}
	if len(openids) == 0 {
		return fmt.Errorf("redpacktest: say who claims group packet %s", r.MchBillNo)
	}
	left := len(r.shares) - len(r.Receivers)
	if len(openids) > left {
		return fmt.Errorf("redpacktest: group packet %s has %d shares left, %d claimants", r.MchBillNo, left, len(openids))
	}
	seen := make(map[string]bool, len(r.Receivers)+len(openids))
	for _, rc := range r.Receivers {
		seen[rc.OpenID] = true
	}
	for _, o := range openids {
		if o == "" || seen[o] {
			return fmt.Errorf("redpacktest: group packet %s: openid %q is empty or claims twice", r.MchBillNo, o)
		}
		seen[o] = true
	}
	for _, o := range openids {
		r.Receivers = append(r.Receivers, Receiver{OpenID: o, Amount: r.shares[len(r.Receivers)], Time: now})
	}
	if len(r.Receivers) == len(r.shares) {
		r.Status = StatusReceived
	}
	return nil
}

// splitGroup splits total fen into n random shares, as ALL_RAND does: they
// sum to total, each is at least 1 CNY (or the average, when that is less)
// and at most 1,000 CNY. The caller guarantees total ≤ n × 1,000 CNY.
func splitGroup(rng *rand.Rand, total int64, n int) []int64 {
	floor := min(minPlainAmount, total/int64(n))
	rest := total - floor*int64(n)
	cuts := make([]int64, n-1)
	for i := range cuts {
		cuts[i] = rng.Int64N(rest + 1)
	}
	slices.Sort(cuts)
	shares := make([]int64, n)
	prev := int64(0)
	for i := range n {
		end := rest
		if i < n-1 {
			end = cuts[i]
		}
		shares[i] = floor + end - prev
		prev = end
	}
	// Move anything above the per-share ceiling to shares with room.
	var excess int64
	for i, s := range shares {
		if s > maxGroupShare {
			excess += s - maxGroupShare
			shares[i] = maxGroupShare
		}
	}
	for i := 0; excess > 0; i = (i + 1) % n {
		give := min(maxGroupShare-shares[i], excess)
		shares[i] += give
		excess -= give
	}
	return shares
}

// clock is the server's time. It runs with real time from its start unless
// frozen (WithClock); Advance and SetTime move it either way.
type clock struct {
	mu        sync.Mutex
	start     time.Time // the clock's reading at realStart, before offsets
	realStart time.Time
	frozen    bool
	offset    time.Duration
}

func newClock(start time.Time, frozen bool) *clock {
	return &clock{start: start, realStart: time.Now(), frozen: frozen}
}

// reset puts the clock back at its start: the frozen start time, or real
// time for a running clock, with no offset.
func (c *clock) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = 0
	if !c.frozen {
		now := time.Now()
		c.start, c.realStart = now, now
	}
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *clock) nowLocked() time.Time {
	t := c.start.Add(c.offset)
	if !c.frozen {
		t = t.Add(time.Since(c.realStart))
	}
	return t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += t.Sub(c.nowLocked())
}
