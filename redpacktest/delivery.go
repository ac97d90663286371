package redpacktest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// DefaultNotifyTimeout is how long a delivery waits for the receiver's
// answer with the default delivery client: WeChat's 5 s.
const DefaultNotifyTimeout = 5 * time.Second

// maxNotifyAnswer bounds what is read of a receiver's answer.
const maxNotifyAnswer = 64 << 10

// notice is one notification (a payment's or a refund's) and its schedule;
// h.mu guards it.
type notice struct {
	pay      *payment
	kind     NotificationKind
	refundID string
	url      string
	body     []byte // built once: every delivery sends the same bytes
	faults   DeliveryFaults

	attempts  int       // scheduled deliveries made
	next      time.Time // when the next is due, on the server clock
	done      bool      // delivered, or the schedule exhausted
	delivered bool
	running   bool      // a goroutine is delivering it
	held      bool      // HoldUntilNext: not due until released
	releases  []*notice // held notices to release after the first delivery
}

// state says whether the notice was delivered and when it is next due;
// nil-safe, h.mu is held.
func (n *notice) state() (bool, time.Time) {
	if n == nil {
		return false, time.Time{}
	}
	if n.done {
		return n.delivered, time.Time{}
	}
	return n.delivered, n.next
}

// addNoticeLocked registers a notification due now; h.mu is held. A held
// one waits for the next notification; a notification that is not held
// releases those waiting after its own first delivery.
func (h *Handler) addNoticeLocked(p *payment, kind NotificationKind, refundID, url string, body []byte, f DeliveryFaults, now time.Time) *notice {
	n := &notice{pay: p, kind: kind, refundID: refundID, url: url, body: body, faults: f, next: now}
	h.notices = append(h.notices, n)
	if f.HoldUntilNext {
		n.held = true
		h.held = append(h.held, n)
	} else {
		n.releases, h.held = h.held, nil
	}
	return n
}

// releaseHeldLocked releases the held notices (all those waiting when ns
// is nil); h.mu is held. The caller dispatches them.
func (h *Handler) releaseHeldLocked(ns []*notice) {
	if ns == nil {
		ns, h.held = h.held, nil
	}
	for _, n := range ns {
		n.held = false
	}
}

// dispatchLocked starts a delivery goroutine for every notice due on the
// server clock, and, when the clock runs with real time, arms a timer for
// the next one due; h.mu is held.
func (h *Handler) dispatchLocked() {
	if h.closed {
		return
	}
	now := h.clock.now()
	var next time.Time
	keep := h.notices[:0]
	for _, n := range h.notices {
		if n.done {
			continue
		}
		keep = append(keep, n)
		if n.running || n.held {
			continue
		}
		if n.next.After(now) {
			if next.IsZero() || n.next.Before(next) {
				next = n.next
			}
			continue
		}
		n.running = true
		h.startLocked()
		go h.run(n, h.gen)
	}
	clear(h.notices[len(keep):])
	h.notices = keep
	if h.clock.frozen || next.IsZero() {
		return
	}
	if h.timer != nil {
		h.timer.Stop()
	}
	h.timer = time.AfterFunc(next.Sub(now), h.dispatch)
}

func (h *Handler) dispatch() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dispatchLocked()
}

// startLocked and stopLocked count delivery goroutines, for
// WaitDeliveries; h.mu is held.
func (h *Handler) startLocked() {
	if h.inflight == 0 {
		h.idle = make(chan struct{})
	}
	h.inflight++
}

func (h *Handler) stopLocked() {
	h.inflight--
	if h.inflight == 0 {
		close(h.idle)
	}
}

// run makes a notice's due deliveries one after another: several when the
// clock has jumped past several due times.
func (h *Handler) run(n *notice, gen int) {
	for {
		h.mu.Lock()
		if gen != h.gen || h.closed {
			h.stopLocked()
			h.mu.Unlock()
			return
		}
		attempt, due, url, body, f := n.attempts+1, n.next, n.url, n.body, n.faults
		h.mu.Unlock()

		var ds []Delivery
		if f.Delay == 0 || h.wait(h.deliverCtx, f.Delay) {
			ds = h.sendCopies(n, attempt, due, url, body, max(f.Copies, 1))
		}

		h.mu.Lock()
		if gen != h.gen || h.closed || ds == nil {
			h.stopLocked()
			h.mu.Unlock()
			return
		}
		n.pay.deliveries = append(n.pay.deliveries, ds...)
		n.attempts++
		for _, d := range ds {
			n.delivered = n.delivered || d.Success
		}
		switch {
		case n.delivered:
			n.done = true
		case n.attempts > len(redeliverySchedule):
			n.done = true // WeChat gives up
		default:
			n.next = due.Add(redeliverySchedule[n.attempts-1])
		}
		if n.attempts == 1 && len(n.releases) > 0 {
			h.releaseHeldLocked(n.releases)
			n.releases = nil
			h.dispatchLocked() // before this goroutine stops counting: no idle gap
		}
		if !n.done && !n.next.After(h.clock.now()) {
			h.mu.Unlock()
			continue
		}
		n.running = false
		h.dispatchLocked() // re-arms the timer for n's next delivery
		h.stopLocked()
		h.mu.Unlock()
		return
	}
}

// sendCopies posts body copies times at once and returns the deliveries
// in copy order.
func (h *Handler) sendCopies(n *notice, attempt int, due time.Time, url string, body []byte, copies int) []Delivery {
	ds := make([]Delivery, copies)
	var wg sync.WaitGroup
	for i := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds[i] = h.post(h.deliverCtx, n, url, body)
			ds[i].Attempt, ds[i].Due, ds[i].Copy = attempt, due, i+1
		}()
	}
	wg.Wait()
	return ds
}

// post delivers body to url once and judges the answer as WeChat does:
// only HTTP 200 with an XML return_code of SUCCESS is received.
func (h *Handler) post(ctx context.Context, n *notice, url string, body []byte) Delivery {
	d := Delivery{Kind: n.kind, RefundID: n.refundID, Time: h.clock.now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		d.Error = err.Error()
		return d
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", "redpacktest (fake WeChat Pay notification)")
	resp, err := h.notifyClient.Do(req)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	defer resp.Body.Close()
	d.StatusCode = resp.StatusCode
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxNotifyAnswer+1))
	switch {
	case err != nil:
		d.Error = "read answer: " + err.Error()
		return d
	case len(answer) > maxNotifyAnswer:
		d.Error = "answer larger than 64 KiB"
		return d
	}
	f, _, err := parseRequest(answer)
	if err != nil {
		d.Error = "answer is not WeChat's XML: " + err.Error()
		return d
	}
	d.ReturnCode = f["return_code"]
	d.Success = resp.StatusCode == http.StatusOK && d.ReturnCode == "SUCCESS"
	return d
}

// WaitDeliveries waits until every delivery due on the server clock has
// been made and answered, re-deliveries that became due meanwhile
// included, or ctx ends. Pay, Refund, Advance and SetTime start
// deliveries without waiting for them; a test calls WaitDeliveries before
// it looks at what was delivered. Deliveries held by HoldUntilNext, and
// those due later, are not waited for.
func (h *Handler) WaitDeliveries(ctx context.Context) error {
	for {
		h.mu.Lock()
		h.dispatchLocked()
		if h.inflight == 0 {
			h.mu.Unlock()
			return nil
		}
		idle := h.idle
		h.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Notify delivers the payment's notification once, now, outside the
// schedule, and returns how it went: a duplicate, as WeChat's several
// servers send. It waits for the answer, is safe to call concurrently,
// and ignores the payment's DeliveryFaults. A SUCCESS answer stops the
// schedule's re-deliveries, as any received delivery does.
func (h *Handler) Notify(ctx context.Context, transactionID string) (Delivery, error) {
	h.mu.Lock()
	p := h.payByID[transactionID]
	var n *notice
	if p != nil {
		n = p.notice
	}
	gen := h.gen
	h.mu.Unlock()
	switch {
	case p == nil:
		return Delivery{}, fmt.Errorf("redpacktest: Notify: no payment %s", transactionID)
	case n == nil:
		return Delivery{}, fmt.Errorf("redpacktest: Notify: payment %s has no notify URL", transactionID)
	}
	d := h.post(ctx, n, n.url, n.body)
	d.Copy = 1
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen == h.gen {
		p.deliveries = append(p.deliveries, d)
		if d.Success {
			n.delivered, n.done = true, true
		}
	}
	if d.Error != "" && ctx.Err() != nil {
		return d, ctx.Err()
	}
	return d, nil
}

// closeDeliveries stops the deliveries for Close: nothing new starts, the
// ones in flight are cancelled, and it waits for them to end.
func (h *Handler) closeDeliveries() {
	h.mu.Lock()
	h.closed = true
	if h.timer != nil {
		h.timer.Stop()
	}
	h.cancelDeliveries()
	idle := h.idle
	busy := h.inflight > 0
	h.mu.Unlock()
	if busy {
		<-idle
	}
}

func defaultNotifyClient() *http.Client {
	return &http.Client{Timeout: DefaultNotifyTimeout}
}
