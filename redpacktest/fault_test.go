package redpacktest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Raw-protocol tests of fault injection: what goes over the wire and what
// the ledger shows.

func TestFaultBeforeCommit(t *testing.T) {
	for _, tc := range []struct {
		kind FaultKind
		code string
	}{
		{SystemErrorBeforeCommit, "SYSTEMERROR"},
		{ProcessingBeforeCommit, "PROCESSING"},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			f := newFixture(t)
			mustInject(t, f.s, Fault{Kind: tc.kind})
			bill := billNo()
			a := f.send(normalFields(bill, 1000))
			wantCode(t, a, tc.code, desAccepted)
			if a.F["mch_billno"] != bill || a.F["total_amount"] != "1000" {
				t.Errorf("not echoed: %v", a.F)
			}
			if f.s.Paid(DefaultMchID) != 0 || len(f.s.Packets()) != 0 {
				t.Fatal("a before-commit fault paid")
			}
			wantCode(t, f.query(bill), "NOT_FOUND", "")
			// The retry with the same bill number pays, once.
			wantCode(t, f.send(normalFields(bill, 1000)), "SUCCESS", "")
			if f.s.Paid(DefaultMchID) != 1000 {
				t.Errorf("Paid = %d", f.s.Paid(DefaultMchID))
			}
		})
	}
}

func TestFaultSystemErrorAfterCommit(t *testing.T) {
	f := newFixture(t)
	mustInject(t, f.s, Fault{Op: "sendredpack", Kind: SystemErrorAfterCommit})
	bill := billNo()
	wantCode(t, f.send(normalFields(bill, 1000)), "SYSTEMERROR", "")
	p := mustPacket(t, f.s, DefaultMchID, bill)
	if !p.Paid || p.Status != StatusSent || f.s.Paid(DefaultMchID) != 1000 {
		t.Fatalf("packet %+v, paid %d", p, f.s.Paid(DefaultMchID))
	}
	again := f.send(normalFields(bill, 1000))
	wantCode(t, again, "SUCCESS", "")
	if again.F["send_listid"] != p.DetailID || f.s.Paid(DefaultMchID) != 1000 {
		t.Errorf("retry: %v, paid %d", again.F, f.s.Paid(DefaultMchID))
	}
	// gethbinfo takes SYSTEMERROR too, with its own text.
	mustInject(t, f.s, Fault{Op: "gethbinfo", Kind: SystemErrorBeforeCommit})
	wantCode(t, f.query(bill), "SYSTEMERROR", desQueryBusy)
}

func TestFaultProcessingAfterCommit(t *testing.T) {
	f := newFixture(t)
	mustInject(t, f.s, Fault{Kind: ProcessingAfterCommit, Hold: 10 * time.Minute})
	bill := billNo()
	wantCode(t, f.send(normalFields(bill, 1000)), "PROCESSING", desAccepted)
	if q := f.query(bill); q.F["status"] != "SENDING" {
		t.Fatalf("status %q, want SENDING", q.F["status"])
	}
	if f.s.Paid(DefaultMchID) != 1000 {
		t.Fatal("a SENDING packet of ProcessingAfterCommit is paid")
	}
	if err := f.s.Claim(DefaultMchID, bill); err == nil {
		t.Error("claimed a SENDING packet")
	}
	// Re-entry while SENDING answers PROCESSING again.
	wantCode(t, f.send(normalFields(bill, 1000)), "PROCESSING", "")
	f.s.Advance(10 * time.Minute)
	if q := f.query(bill); q.F["status"] != "SENT" {
		t.Fatalf("status %q after hold, want SENT", q.F["status"])
	}
	wantCode(t, f.send(normalFields(bill, 1000)), "SUCCESS", "")
	if f.s.Paid(DefaultMchID) != 1000 {
		t.Errorf("Paid = %d", f.s.Paid(DefaultMchID))
	}
}

func TestFaultProcessingThenFail(t *testing.T) {
	f := newFixture(t)
	mustInject(t, f.s, Fault{Kind: ProcessingThenFail})
	bill := billNo()
	wantCode(t, f.send(normalFields(bill, 1000)), "PROCESSING", "")
	if p := mustPacket(t, f.s, DefaultMchID, bill); p.Status != StatusSending || p.Paid {
		t.Fatalf("packet %+v", p)
	}
	f.s.Advance(DefaultHold)
	q := f.query(bill)
	if q.F["status"] != "FAILED" || q.F["reason"] != desDefaultFailure {
		t.Fatalf("after hold: %v", q.F)
	}
	wantCode(t, f.send(normalFields(bill, 1000)), "SEND_FAILED", "")
	if f.s.Paid(DefaultMchID) != 0 || f.s.Balance(DefaultMchID) != DefaultBalance {
		t.Error("a failed packet was paid")
	}
}

func TestFaultHTMLGateway(t *testing.T) {
	f := newFixture(t)
	mustInject(t, f.s, Fault{Kind: HTMLGateway})
	fs := normalFields(billNo(), 1000)
	fs["sign"] = testSign(fs, DefaultAPIKey, false)
	status, raw := postRaw(t, f.hc, f.s.URL()+"mmpaymkttransfers/sendredpack", xmlBody(fs))
	if status != http.StatusBadGateway || !strings.Contains(string(raw), "<html>") {
		t.Fatalf("HTTP %d: %s", status, raw)
	}
	if len(f.s.Packets()) != 0 {
		t.Error("HTMLGateway paid")
	}
	if r := f.s.Requests()[0]; r.Fault != HTMLGateway || r.ErrCode != "" {
		t.Errorf("request log: %+v", r)
	}
}

func TestFaultErrCodeAnswer(t *testing.T) {
	f := newFixture(t)
	mustInject(t, f.s,
		Fault{Kind: ErrCodeAnswer, ErrCode: "SOME_FUTURE_CODE"},
		Fault{Kind: ErrCodeAnswer, ErrCode: "API_METHOD_CLOSED", ErrCodeDes: "你的商户号未开通该接口权限"})
	wantCode(t, f.send(normalFields(billNo(), 1000)), "SOME_FUTURE_CODE", desForced)
	wantCode(t, f.send(normalFields(billNo(), 1000)), "API_METHOD_CLOSED", "未开通")
	wantCode(t, f.send(normalFields(billNo(), 1000)), "SUCCESS", "")
	if f.s.Paid(DefaultMchID) != 1000 {
		t.Errorf("Paid = %d", f.s.Paid(DefaultMchID))
	}
}

func TestFaultDropAndTruncate(t *testing.T) {
	for _, kind := range []FaultKind{DropAfterCommit, TruncatedBody} {
		t.Run(kind.String(), func(t *testing.T) {
			f := newFixture(t)
			mustInject(t, f.s, Fault{Kind: kind})
			bill := billNo()
			fs := normalFields(bill, 1000)
			fs["sign"] = testSign(fs, DefaultAPIKey, false)
			resp, err := f.hc.Post(f.s.URL()+"mmpaymkttransfers/sendredpack", "text/xml", bytes.NewReader(xmlBody(fs)))
			if kind == DropAfterCommit {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got an answer (HTTP %d) from a dropped connection", resp.StatusCode)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				raw, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					t.Fatalf("read a whole truncated body: %s", raw)
				}
				if !strings.HasPrefix(string(raw), "<xml>") || strings.Contains(string(raw), "</xml>") {
					t.Errorf("partial body: %q", raw)
				}
			}
			if p := mustPacket(t, f.s, DefaultMchID, bill); !p.Paid {
				t.Error("not paid")
			}
			if r := f.s.Requests()[0]; r.Fault != kind || r.ErrCode != "SUCCESS" {
				t.Errorf("request log: %+v", r)
			}
		})
	}
}

func TestFaultSlowAfterCommit(t *testing.T) {
	f := newFixture(t)
	mustInject(t, f.s, Fault{Kind: SlowAfterCommit, Delay: 30 * time.Second})
	bill := billNo()
	fs := normalFields(bill, 1000)
	fs["sign"] = testSign(fs, DefaultAPIKey, false)
	hc := *f.hc
	hc.Timeout = 300 * time.Millisecond
	start := time.Now()
	if resp, err := hc.Post(f.s.URL()+"mmpaymkttransfers/sendredpack", "text/xml", bytes.NewReader(xmlBody(fs))); err == nil {
		resp.Body.Close()
		t.Fatal("no timeout")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	if p := mustPacket(t, f.s, DefaultMchID, bill); !p.Paid {
		t.Error("not paid")
	}

	// A short delay is answered normally.
	mustInject(t, f.s, Fault{Kind: SlowAfterCommit, Delay: 50 * time.Millisecond})
	start = time.Now()
	wantCode(t, f.send(normalFields(billNo(), 1000)), "SUCCESS", "")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered after %v, before the delay", d)
	}
}

// TestCloseDoesNotHang closes the server while a slow fault holds a request.
func TestCloseDoesNotHang(t *testing.T) {
	s, err := NewServer(WithRateLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	hc := merchantClient(t, s, DefaultMchID)
	mustInject(t, s, Fault{Kind: SlowAfterCommit, Delay: time.Hour})
	fs := normalFields(billNo(), 1000)
	fs["sign"] = testSign(fs, DefaultAPIKey, false)
	errc := make(chan error, 1)
	go func() {
		resp, err := hc.Post(s.URL()+"mmpaymkttransfers/sendredpack", "text/xml", bytes.NewReader(xmlBody(fs)))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for len(s.Requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on a slow request")
	}
	if err := <-errc; err == nil {
		t.Error("the slow request got an answer after Close")
	}
}

func TestFaultQueue(t *testing.T) {
	f := newFixture(t)
	b1, b2 := billNo(), billNo()
	mustInject(t, f.s,
		Fault{MchBillNo: b2, Kind: SystemErrorBeforeCommit},
		Fault{Op: "gethbinfo", Kind: ErrCodeAnswer, ErrCode: "X1"},
		Fault{Kind: ErrCodeAnswer, ErrCode: "X2"},
		Fault{Kind: ErrCodeAnswer, ErrCode: "X3"},
	)
	// b1's send skips the fault for b2 and the gethbinfo one: takes X2.
	wantCode(t, f.send(normalFields(b1, 1000)), "X2", "")
	wantCode(t, f.query(b1), "X1", "")
	wantCode(t, f.send(normalFields(b2, 1000)), "SYSTEMERROR", "")
	wantCode(t, f.send(normalFields(b2, 1000)), "X3", "")
	if n := len(f.s.PendingFaults()); n != 0 {
		t.Errorf("%d faults left", n)
	}
	wantCode(t, f.send(normalFields(b2, 1000)), "SUCCESS", "")
	// A request refused before the fault point does not take a fault.
	mustInject(t, f.s, Fault{Kind: ErrCodeAnswer, ErrCode: "X4"})
	wantCode(t, do(t, f.s, f.hc, "sendredpack", normalFields(billNo(), 1000), "00000000000000000000000000000000"), "SIGN_ERROR", "")
	if n := len(f.s.PendingFaults()); n != 1 {
		t.Errorf("%d faults left, want 1", n)
	}
	for _, bad := range []Fault{
		{Kind: 0},
		{Kind: ErrCodeAnswer},
		{Kind: SlowAfterCommit},
		{Op: "unifiedorder", Kind: HTMLGateway},
		{Kind: HTMLGateway, Delay: -1},
	} {
		if err := f.s.Inject(bad); err == nil {
			t.Errorf("Inject(%+v) accepted", bad)
		}
	}
}

func TestRequestsLog(t *testing.T) {
	f := newFixture(t)
	bill := billNo()
	fs := normalFields(bill, 1000)
	fs["sign"] = testSign(fs, DefaultAPIKey, false)
	body := xmlBody(fs)
	post(t, f.s, f.hc, "sendredpack", body)
	post(t, f.s, f.hc, "sendredpack", body)
	reqs := f.s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		if r.Op != "sendredpack" || r.MchID != DefaultMchID || r.MchBillNo != bill || !bytes.Equal(r.Body, body) ||
			r.ErrCode != "SUCCESS" || !r.ClockTime.Equal(chinaNoon) || r.Time.IsZero() || r.RemoteAddr == "" {
			t.Errorf("request %+v", r)
		}
	}
	// The log is a copy.
	reqs[0].Body[0] = 'X'
	if f.s.Requests()[0].Body[0] != '<' {
		t.Error("Requests shares its bodies")
	}
	if FaultKind(99).String() != "FaultKind(99)" || DropAfterCommit.String() != "DropAfterCommit" {
		t.Error("FaultKind.String")
	}
}
