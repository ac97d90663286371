package redpacktest

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Copies: each scheduled delivery arrives several times at once, the same
// bytes each time.
func TestDeliveryFaultCopies(t *testing.T) {
	s := startPay(t)
	rc := newReceiver(t, answerWith(200, answerFail))
	p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100, NotifyURL: rc.URL, Faults: DeliveryFaults{Copies: 3}})
	waitDeliveries(t, s)
	s.Advance(15 * time.Second)
	waitDeliveries(t, s)
	got := rc.got()
	if len(got) != 6 {
		t.Fatalf("%d deliveries, want 2 × 3", len(got))
	}
	for _, b := range got {
		if string(b) != string(got[0]) {
			t.Fatal("copies differ")
		}
	}
	pp := mustPayment(t, s, p.TransactionID)
	for i, d := range pp.Deliveries {
		if d.Attempt != i/3+1 || d.Copy != i%3+1 {
			t.Errorf("delivery %d: attempt %d copy %d", i, d.Attempt, d.Copy)
		}
	}
}

// Delay: the delivery waits real time before it is sent, and
// WaitDeliveries waits for it.
func TestDeliveryFaultDelay(t *testing.T) {
	s := startPay(t)
	rc := newReceiver(t, answerWith(200, answerSuccess))
	start := time.Now()
	mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100, NotifyURL: rc.URL, Faults: DeliveryFaults{Delay: 300 * time.Millisecond}})
	if n := len(rc.got()); n != 0 {
		t.Fatalf("%d deliveries at once, want none before the delay", n)
	}
	waitDeliveries(t, s)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.times) != 1 || rc.times[0].Sub(start) < 300*time.Millisecond {
		t.Fatalf("deliveries at %v after Pay", rc.times)
	}
}

// Close ends a delay: no delivery is made, and Close does not wait it out.
func TestDeliveryDelayEndsOnClose(t *testing.T) {
	s, err := NewServer(WithClock(payStart))
	if err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, answerWith(200, answerSuccess))
	mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100, NotifyURL: rc.URL, Faults: DeliveryFaults{Delay: time.Hour}})
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 5*time.Second || len(rc.got()) != 0 {
		t.Fatalf("Close took %v; %d deliveries", d, len(rc.got()))
	}
}

// HoldUntilNext: the first payment's notification arrives after the
// second's.
func TestDeliveryFaultHoldUntilNext(t *testing.T) {
	s := startPay(t)
	rc := newReceiver(t, answerWith(200, answerSuccess))
	a := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100, NotifyURL: rc.URL, Faults: DeliveryFaults{HoldUntilNext: true}})
	waitDeliveries(t, s)
	if n := len(rc.got()); n != 0 {
		t.Fatalf("%d deliveries while held", n)
	}
	if pa := mustPayment(t, s, a.TransactionID); pa.Delivered {
		t.Fatal("held payment delivered")
	}
	b := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 200, NotifyURL: rc.URL})
	waitDeliveries(t, s)
	got := rc.got()
	if len(got) != 2 || !strings.Contains(string(got[0]), b.TransactionID) || !strings.Contains(string(got[1]), a.TransactionID) {
		t.Fatalf("deliveries out of the wanted order: %d", len(got))
	}
	if pa := mustPayment(t, s, a.TransactionID); !pa.Delivered {
		t.Fatal("held payment never delivered")
	}
}

// Notify delivers now, outside the schedule, and may be called
// concurrently; a SUCCESS stops the schedule.
func TestNotifyConcurrent(t *testing.T) {
	s := startPay(t)
	var mu sync.Mutex
	fail := true
	rc := newReceiver(t, func(w http.ResponseWriter, _ []byte) {
		mu.Lock()
		f := fail
		mu.Unlock()
		if f {
			w.Write([]byte(answerFail))
			return
		}
		w.Write([]byte(answerSuccess))
	})
	p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100, NotifyURL: rc.URL})
	waitDeliveries(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := s.Notify(context.Background(), p.TransactionID)
			if err == nil && (d.Attempt != 0 || d.Success || d.ReturnCode != "FAIL") {
				t.Errorf("delivery %+v", d)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if pp := mustPayment(t, s, p.TransactionID); len(pp.Deliveries) != 4 || pp.Delivered || pp.NextDelivery.IsZero() {
		t.Fatalf("payment %+v", pp)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	if d, err := s.Notify(context.Background(), p.TransactionID); err != nil || !d.Success {
		t.Fatalf("%+v, %v", d, err)
	}
	s.Advance(time.Hour)
	waitDeliveries(t, s)
	if pp := mustPayment(t, s, p.TransactionID); len(rc.got()) != 5 || !pp.Delivered || !pp.NextDelivery.IsZero() {
		t.Fatalf("%d deliveries; payment %+v", len(rc.got()), pp)
	}
	if _, err := s.Notify(context.Background(), "nope"); err == nil {
		t.Fatal("Notify of no payment")
	}
	q := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 1})
	if _, err := s.Notify(context.Background(), q.TransactionID); err == nil {
		t.Fatal("Notify without notify URL")
	}
}
