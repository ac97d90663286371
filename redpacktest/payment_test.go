package redpacktest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpack-go/redpack"
)

// payStart is the frozen clock of the payment tests: 2025-01-01 12:00:00
// China time.
var payStart = time.Date(2025, 1, 1, 12, 0, 0, 0, chinaTime)

// receiver is a notify_url: it records every body and answers with the
// current answer function.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	times  []time.Time
	answer atomic.Value // func(http.ResponseWriter, []byte)
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, body []byte)) *receiver {
	rc := &receiver{}
	rc.answer.Store(answer)
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, body)
		rc.times = append(rc.times, time.Now())
		rc.mu.Unlock()
		rc.answer.Load().(func(http.ResponseWriter, []byte))(w, body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...)
}

const (
	answerSuccess = `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>`
	answerFail    = `<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[busy]]></return_msg></xml>`
)

func answerWith(status int, body string) func(http.ResponseWriter, []byte) {
	return func(w http.ResponseWriter, _ []byte) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func startPay(t *testing.T, opts ...Option) *Server {
	t.Helper()
	return Start(t, append([]Option{WithClock(payStart)}, opts...)...)
}

func waitDeliveries(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.WaitDeliveries(ctx); err != nil {
		t.Fatal(err)
	}
}

func mustPay(t *testing.T, s *Server, p PaymentRequest) *Payment {
	t.Helper()
	pay, err := s.Pay(p)
	if err != nil {
		t.Fatal(err)
	}
	return pay
}

func mustPayment(t *testing.T, s *Server, id string) Payment {
	t.Helper()
	p, ok := s.Payment(id)
	if !ok {
		t.Fatalf("no payment %s", id)
	}
	return p
}

// The notification verifies with the client's ParsePaymentNotification
// whatever the algorithm, sign_type sent or not, and says what was paid.
func TestPaymentNotificationVerifies(t *testing.T) {
	for _, tc := range []struct {
		name     string
		signType string
		omit     bool
		wantType redpack.SignType
		wantST   bool // sign_type in the body
	}{
		{"MD5", "", false, redpack.SignMD5, false},
		{"HMAC", SignTypeHMACSHA256, false, redpack.SignHMACSHA256, true},
		{"HMACWithoutSignType", SignTypeHMACSHA256, true, redpack.SignHMACSHA256, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startPay(t)
			client := newClient(t, s, DefaultMchID, redpack.WithNotifyAppIDs(DefaultMiniProgramAppID))
			var mu sync.Mutex
			var got []*redpack.PaymentNotification
			h := client.PaymentNotifyHandler(func(ctx context.Context, n *redpack.PaymentNotification) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, n)
				return nil
			})
			var raw atomic.Value
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				raw.Store(b)
				r.Body = io.NopCloser(strings.NewReader(string(b)))
				h.ServeHTTP(w, r)
			}))
			defer ts.Close()

			p := mustPay(t, s, PaymentRequest{
				AppID: DefaultMiniProgramAppID, OpenID: openID, TotalFee: 1000, CashFee: 800,
				OutTradeNo: "order-1", NotifyURL: ts.URL + "/notify", SignType: tc.signType, OmitSignType: tc.omit,
				Attach: "campaign=spring",
			})
			if len(p.TransactionID) != 28 || !strings.HasPrefix(p.TransactionID, "4200") {
				t.Errorf("transaction_id %q is not like WeChat's", p.TransactionID)
			}
			waitDeliveries(t, s)
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 {
				t.Fatalf("%d notifications handled, want 1", len(got))
			}
			n := got[0]
			if n.SignType != tc.wantType || !n.Paid() || n.TransactionID != p.TransactionID || n.OutTradeNo != "order-1" ||
				n.TotalFee != 1000 || n.CashFee != 800 || n.CouponFee != 200 || len(n.Coupons) != 1 || n.Coupons[0].Fee != 200 ||
				n.AppID != DefaultMiniProgramAppID || n.OpenID != openID || n.Attach != "campaign=spring" ||
				n.TradeType != "JSAPI" || n.FeeType != "CNY" || n.IsSubscribe || !n.TimeEnd.Equal(payStart) {
				t.Errorf("notification %+v", n)
			}
			if has := strings.Contains(string(raw.Load().([]byte)), "<sign_type>"); has != tc.wantST {
				t.Errorf("sign_type in body: %v, want %v", has, tc.wantST)
			}
			pp := mustPayment(t, s, p.TransactionID)
			if !pp.Delivered || !pp.NextDelivery.IsZero() || len(pp.Deliveries) != 1 {
				t.Fatalf("payment after delivery: %+v", pp)
			}
			d := pp.Deliveries[0]
			if !d.Success || d.StatusCode != 200 || d.ReturnCode != "SUCCESS" || d.Attempt != 1 || d.Kind != PaymentNotification || !d.Time.Equal(payStart) {
				t.Errorf("delivery %+v", d)
			}
		})
	}
}

// A notification signed with another key is refused by the client: the
// test above proves something.
func TestPaymentNotificationWrongKeyRefused(t *testing.T) {
	other := DefaultMerchant()
	other.APIKey = strings.Repeat("a", 32)
	s := startPay(t, WithMerchants(other))
	rc := newReceiver(t, answerWith(200, answerSuccess))
	mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100, NotifyURL: rc.URL})
	waitDeliveries(t, s)
	good := startPay(t)
	client := newClient(t, good, DefaultMchID)
	_, err := client.ParsePaymentNotification(context.Background(), rc.got()[0])
	if !errors.Is(err, redpack.ErrNotificationSignature) {
		t.Fatalf("err = %v, want ErrNotificationSignature", err)
	}
}

// A receiver that keeps failing gets the notification again at exactly
// WeChat's schedule on the server clock, and never after the last.
func TestRedeliverySchedule(t *testing.T) {
	s := startPay(t)
	rc := newReceiver(t, answerWith(200, answerFail))
	p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100, NotifyURL: rc.URL})
	waitDeliveries(t, s)
	due := payStart
	for i, gap := range RedeliverySchedule() {
		if n := len(rc.got()); n != i+1 {
			t.Fatalf("before re-delivery %d: %d deliveries", i+1, n)
		}
		pp := mustPayment(t, s, p.TransactionID)
		due = due.Add(gap)
		if !pp.NextDelivery.Equal(due) {
			t.Fatalf("re-delivery %d due %v, want %v", i+1, pp.NextDelivery, due)
		}
		s.Advance(gap - time.Second)
		waitDeliveries(t, s)
		if n := len(rc.got()); n != i+1 {
			t.Fatalf("a second early: %d deliveries, want %d", n, i+1)
		}
		s.Advance(time.Second)
		waitDeliveries(t, s)
	}
	if n := len(rc.got()); n != 16 {
		t.Fatalf("%d deliveries, want 16", n)
	}
	s.Advance(72 * time.Hour)
	waitDeliveries(t, s)
	pp := mustPayment(t, s, p.TransactionID)
	if n := len(rc.got()); n != 16 || len(pp.Deliveries) != 16 || !pp.NextDelivery.IsZero() || pp.Delivered {
		t.Fatalf("after the schedule: %d deliveries, %+v", n, pp)
	}
	if last := pp.Deliveries[15]; last.Attempt != 16 || !last.Due.Equal(payStart.Add(24*time.Hour+4*time.Minute)) ||
		!last.Time.Equal(last.Due) || last.ReturnCode != "FAIL" || last.Success {
		t.Fatalf("last delivery %+v", last)
	}
	for i := range rc.got() {
		if string(rc.got()[i]) != string(rc.got()[0]) {
			t.Fatal("a re-delivery is not the same notification")
		}
	}
}

// A jump of the clock makes every delivery that fell due, in order, each
// with its own due time.
func TestRedeliveryCatchesUpAfterJump(t *testing.T) {
	s := startPay(t)
	rc := newReceiver(t, answerWith(200, answerFail))
	p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100, NotifyURL: rc.URL})
	s.Advance(25 * time.Hour)
	waitDeliveries(t, s)
	pp := mustPayment(t, s, p.TransactionID)
	if len(pp.Deliveries) != 16 {
		t.Fatalf("%d deliveries, want 16", len(pp.Deliveries))
	}
	due := payStart
	for i, d := range pp.Deliveries[1:] {
		due = due.Add(RedeliverySchedule()[i])
		if !d.Due.Equal(due) || d.Attempt != i+2 {
			t.Fatalf("delivery %d: %+v, want due %v", i+2, d, due)
		}
	}
}

// SUCCESS stops the re-deliveries.
func TestSuccessStopsRedelivery(t *testing.T) {
	s := startPay(t)
	var calls atomic.Int32
	rc := newReceiver(t, func(w http.ResponseWriter, _ []byte) {
		if calls.Add(1) < 3 {
			io.WriteString(w, answerFail)
			return
		}
		io.WriteString(w, answerSuccess)
	})
	p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100, NotifyURL: rc.URL})
	s.Advance(15 * time.Second)
	waitDeliveries(t, s)
	s.Advance(15 * time.Second)
	waitDeliveries(t, s)
	s.Advance(48 * time.Hour)
	waitDeliveries(t, s)
	pp := mustPayment(t, s, p.TransactionID)
	if len(rc.got()) != 3 || !pp.Delivered || !pp.NextDelivery.IsZero() || !pp.Deliveries[2].Success {
		t.Fatalf("%d deliveries, payment %+v", len(rc.got()), pp)
	}
}

// Only HTTP 200 with return_code SUCCESS is a delivery.
func TestFailedDeliveries(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	slow := newReceiver(t, func(w http.ResponseWriter, _ []byte) {
		time.Sleep(500 * time.Millisecond)
		io.WriteString(w, answerSuccess)
	})
	for _, tc := range []struct {
		name       string
		url        string
		answer     func(http.ResponseWriter, []byte)
		status     int
		returnCode string
		errText    string
	}{
		{"FAIL", "", answerWith(200, answerFail), 200, "FAIL", ""},
		{"HTTP500WithSuccess", "", answerWith(500, answerSuccess), 500, "SUCCESS", ""},
		{"HTMLPage", "", answerWith(200, "<html><body>oops</body></html>"), 200, "", ""},
		{"JSON", "", answerWith(200, `{"return_code": "SUCCESS"}`), 200, "", "not WeChat's XML"},
		{"PlainSuccess", "", answerWith(200, "SUCCESS"), 200, "", "not WeChat's XML"},
		{"Refused", closedURL, nil, 0, "", "connect"},
		{"Timeout", slow.URL, nil, 0, "", "Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startPay(t, WithNotifyClient(&http.Client{Timeout: 100 * time.Millisecond}))
			url := tc.url
			if url == "" {
				url = newReceiver(t, tc.answer).URL
			}
			p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100, NotifyURL: url})
			waitDeliveries(t, s)
			pp := mustPayment(t, s, p.TransactionID)
			d := pp.Deliveries[0]
			if d.Success || pp.Delivered || d.StatusCode != tc.status || d.ReturnCode != tc.returnCode || !strings.Contains(d.Error, tc.errText) {
				t.Fatalf("delivery %+v", d)
			}
			if !pp.NextDelivery.Equal(payStart.Add(15 * time.Second)) {
				t.Fatalf("next delivery %v", pp.NextDelivery)
			}
		})
	}
}

// With a clock that runs, re-deliveries come by themselves as time passes.
func TestRedeliveryOnRunningClock(t *testing.T) {
	s := Start(t)
	rc := newReceiver(t, answerWith(200, answerFail))
	mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 100, NotifyURL: rc.URL})
	waitDeliveries(t, s)
	s.Advance(15*time.Second - 200*time.Millisecond) // due in 0.2 s of real time
	deadline := time.Now().Add(5 * time.Second)
	for len(rc.got()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(rc.got()); n != 2 {
		t.Fatalf("%d deliveries, want 2", n)
	}
}

// The refund notification decrypts with the client's
// ParseRefundNotification and names the refund; the order turns REFUND.
func TestRefundNotification(t *testing.T) {
	s := startPay(t)
	client := newClient(t, s, DefaultMchID)
	rc := newReceiver(t, answerWith(200, answerSuccess))
	p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 1000, OutTradeNo: "order-r", NotifyURL: rc.URL})
	waitDeliveries(t, s)
	s.Advance(time.Minute)
	r, err := s.Refund(p.TransactionID, RefundRequest{RefundFee: 300, OutRefundNo: "refund-1"})
	if err != nil {
		t.Fatal(err)
	}
	waitDeliveries(t, s)
	bodies := rc.got()
	if len(bodies) != 2 {
		t.Fatalf("%d deliveries, want 2", len(bodies))
	}
	if strings.Contains(string(bodies[1]), "<sign>") {
		t.Error("the refund notification is signed; WeChat's is not")
	}
	n, err := client.ParseRefundNotification(context.Background(), bodies[1])
	if err != nil {
		t.Fatal(err)
	}
	if !n.Refunded() || n.TransactionID != p.TransactionID || n.OutTradeNo != "order-r" || n.RefundID != r.RefundID ||
		n.OutRefundNo != "refund-1" || n.TotalFee != 1000 || n.RefundFee != 300 || n.SettlementRefundFee != 300 ||
		!n.SuccessTime.Equal(payStart.Add(time.Minute)) || n.RefundRecvAccount == "" || n.RefundAccount == "" || n.RefundRequestSource != "API" {
		t.Errorf("refund notification %+v", n)
	}
	pp := mustPayment(t, s, p.TransactionID)
	if pp.TradeState != TradeStateRefund || len(pp.Refunds) != 1 || !pp.Refunds[0].Delivered ||
		pp.Deliveries[1].Kind != RefundNotification || pp.Deliveries[1].RefundID != r.RefundID {
		t.Fatalf("payment %+v", pp)
	}
	// Another merchant's key cannot read it.
	other := DefaultMerchant()
	other.APIKey = strings.Repeat("b", 32)
	s2 := startPay(t, WithMerchants(other))
	if _, err := newClient(t, s2, DefaultMchID).ParseRefundNotification(context.Background(), bodies[1]); !errors.Is(err, redpack.ErrNotificationSignature) {
		t.Errorf("another key: err = %v", err)
	}
	// The rest, by default; then nothing is left.
	rest, err := s.Refund(p.TransactionID, RefundRequest{})
	if err != nil || rest.RefundFee != 700 {
		t.Fatalf("full refund: %+v, %v", rest, err)
	}
	if _, err := s.Refund(p.TransactionID, RefundRequest{RefundFee: 1}); err == nil {
		t.Fatal("a refund beyond the amount paid was made")
	}
	if _, err := s.Refund("nope", RefundRequest{}); err == nil {
		t.Fatal("a refund of no payment was made")
	}
}

// A failing refund receiver is re-notified on the same schedule.
func TestRefundRedelivery(t *testing.T) {
	s := startPay(t)
	rc := newReceiver(t, answerWith(200, answerFail))
	p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 1000})
	r, err := s.Refund(p.TransactionID, RefundRequest{NotifyURL: rc.URL})
	if err != nil {
		t.Fatal(err)
	}
	s.Advance(30 * time.Second)
	waitDeliveries(t, s)
	pp := mustPayment(t, s, p.TransactionID)
	if len(rc.got()) != 3 || len(pp.Deliveries) != 3 || pp.Deliveries[2].Kind != RefundNotification ||
		!pp.Refunds[0].NextDelivery.Equal(payStart.Add(time.Minute)) || pp.Refunds[0].RefundID != r.RefundID {
		t.Fatalf("%d deliveries, payment %+v", len(rc.got()), pp)
	}
}

func TestPayRefusals(t *testing.T) {
	s := startPay(t)
	for _, tc := range []struct {
		name string
		p    PaymentRequest
	}{
		{"NoOpenID", PaymentRequest{TotalFee: 1}},
		{"NoAmount", PaymentRequest{OpenID: openID}},
		{"CashAboveTotal", PaymentRequest{OpenID: openID, TotalFee: 1, CashFee: 2}},
		{"UnboundAppID", PaymentRequest{OpenID: openID, TotalFee: 1, AppID: "wx0000000000000000"}},
		{"UnknownMerchant", PaymentRequest{OpenID: openID, TotalFee: 1, MchID: "1"}},
		{"SignType", PaymentRequest{OpenID: openID, TotalFee: 1, SignType: "SHA1"}},
		{"NotifyURL", PaymentRequest{OpenID: openID, TotalFee: 1, NotifyURL: "ftp://x/"}},
		{"Copies", PaymentRequest{OpenID: openID, TotalFee: 1, Faults: DeliveryFaults{Copies: -1}}},
	} {
		if _, err := s.Pay(tc.p); err == nil {
			t.Errorf("%s: paid", tc.name)
		}
	}
	mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 1, OutTradeNo: "dup"})
	if _, err := s.Pay(PaymentRequest{OpenID: openID, TotalFee: 1, OutTradeNo: "dup"}); err == nil {
		t.Error("an out_trade_no was used twice")
	}
	if n := len(s.Payments()); n != 1 {
		t.Errorf("%d payments, want 1", n)
	}
}

// Reset drops payments and what they still had to deliver.
func TestResetDropsPayments(t *testing.T) {
	s := startPay(t)
	rc := newReceiver(t, answerWith(200, answerFail))
	mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 1, NotifyURL: rc.URL})
	waitDeliveries(t, s)
	s.Reset()
	s.Advance(time.Hour)
	waitDeliveries(t, s)
	if len(s.Payments()) != 0 || len(rc.got()) != 1 {
		t.Fatalf("%d payments, %d deliveries after Reset", len(s.Payments()), len(rc.got()))
	}
}

// An https notify_url is reached with the client WithNotifyClient gives;
// the default client trusts only the system's roots, so a test
// certificate fails the delivery.
func TestDeliveryOverHTTPS(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, answerSuccess)
	}))
	defer ts.Close()
	for _, tc := range []struct {
		name string
		opts []Option
		want bool
	}{
		{"WithNotifyClient", []Option{WithNotifyClient(ts.Client())}, true},
		{"Default", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startPay(t, tc.opts...)
			p := mustPay(t, s, PaymentRequest{OpenID: openID, TotalFee: 1, NotifyURL: ts.URL})
			waitDeliveries(t, s)
			if d := mustPayment(t, s, p.TransactionID).Deliveries[0]; d.Success != tc.want || (!tc.want && !strings.Contains(d.Error, "certificate")) {
				t.Fatalf("delivery %+v", d)
			}
		})
	}
}
