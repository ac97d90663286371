package redpacktest

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

func TestStateMachineClaimed(t *testing.T) {
	f := newFixture(t)
	bill := billNo()
	wantCode(t, f.send(normalFields(bill, 1000)), "SUCCESS", "")
	q := f.query(bill)
	if q.F["status"] != "SENT" || len(q.HBList) != 0 || q.F["send_time"] != "2025-01-01 12:00:00" {
		t.Fatalf("after send: %v %v", q.F, q.HBList)
	}
	f.s.Advance(90 * time.Second)
	if err := f.s.Claim(DefaultMchID, bill, openID2); err == nil {
		t.Error("another user claimed a normal packet")
	}
	if err := f.s.Claim(DefaultMchID, bill); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Claim(DefaultMchID, bill); err == nil {
		t.Error("a packet was claimed twice")
	}
	q = f.query(bill)
	if q.F["status"] != "RECEIVED" || len(q.HBList) != 1 {
		t.Fatalf("after claim: %v %v", q.F, q.HBList)
	}
	hb := q.HBList[0]
	if hb["openid"] != openID || hb["amount"] != "1000" || hb["rcv_time"] != "2025-01-01 12:01:30" {
		t.Errorf("hbinfo = %v", hb)
	}
	// A received packet is never refunded.
	f.s.Advance(48 * time.Hour)
	p := mustPacket(t, f.s, DefaultMchID, bill)
	if p.Status != StatusReceived || !p.RefundTime.IsZero() || f.s.Balance(DefaultMchID) != DefaultBalance-1000 {
		t.Errorf("received packet after 48 h: %+v, balance %d", p, f.s.Balance(DefaultMchID))
	}
}

func TestStateMachineRefund(t *testing.T) {
	f := newFixture(t)
	bill := billNo()
	wantCode(t, f.send(with(normalFields(bill, 50000), "scene_id", "PRODUCT_4")), "SUCCESS", "")
	if got := f.s.Balance(DefaultMchID); got != DefaultBalance-50000 {
		t.Fatalf("balance %d", got)
	}
	f.s.Advance(RefundAfter - time.Second)
	if p := mustPacket(t, f.s, DefaultMchID, bill); p.Status != StatusSent {
		t.Fatalf("just before 24 h: %s", p.Status)
	}
	f.s.Advance(time.Second)
	if q := f.query(bill); q.F["status"] != "RFUND_ING" || q.F["refund_time"] != "" {
		t.Fatalf("at 24 h: %v", q.F)
	}
	if err := f.s.Claim(DefaultMchID, bill); err == nil {
		t.Error("claimed a packet being refunded")
	}
	if got := f.s.Balance(DefaultMchID); got != DefaultBalance-50000 {
		t.Errorf("balance credited before REFUND: %d", got)
	}
	f.s.Advance(RefundLag)
	q := f.query(bill)
	if q.F["status"] != "REFUND" || q.F["refund_amount"] != "50000" || q.F["refund_time"] != "2025-01-02 13:00:00" {
		t.Fatalf("after refund: %v", q.F)
	}
	if q.F["wishing"] == "" || q.F["act_name"] == "" || q.F["remark"] == "" {
		t.Errorf("texts missing: %v", q.F)
	}
	if got := f.s.Balance(DefaultMchID); got != DefaultBalance {
		t.Errorf("balance after refund = %d, want %d", got, DefaultBalance)
	}
	if got := f.s.Paid(DefaultMchID); got != 50000 {
		t.Errorf("Paid = %d: refunds are not deducted", got)
	}
	// Refunding happens once, however often the clock moves.
	f.s.Advance(time.Hour)
	f.s.SetTime(f.s.Now().Add(time.Hour))
	if got := f.s.Balance(DefaultMchID); got != DefaultBalance {
		t.Errorf("balance = %d after more time", got)
	}
}

func TestStateMachineLazyWithoutAdvance(t *testing.T) {
	// The real-time clock moves packets too; SetTime stands in for waiting.
	s := Start(t)
	hc := merchantClient(t, s, DefaultMchID)
	bill := billNo()
	wantCode(t, do(t, s, hc, "sendredpack", normalFields(bill, 1000), DefaultAPIKey), "SUCCESS", "")
	start := s.Now()
	time.Sleep(20 * time.Millisecond)
	if !s.Now().After(start) {
		t.Error("the default clock does not run")
	}
	s.SetTime(start.Add(RefundAfter + RefundLag))
	if p := mustPacket(t, s, DefaultMchID, bill); p.Status != StatusRefund || p.RefundAmount != 1000 {
		t.Errorf("packet = %+v", p)
	}
}

func TestGroupPacketClaims(t *testing.T) {
	f := newFixture(t)
	bill := billNo()
	wantCode(t, f.do("sendgroupredpack", groupFields(bill, 900, 3)), "SUCCESS", "")
	f.s.Advance(30 * time.Second)
	if err := f.s.Claim(DefaultMchID, bill); err == nil {
		t.Error("group claim without openids worked")
	}
	if err := f.s.Claim(DefaultMchID, bill, openID, openID2); err != nil {
		t.Fatal(err)
	}
	q := f.query(bill)
	if q.F["hb_type"] != "GROUP" || q.F["status"] != "SENT" || q.F["total_num"] != "3" || len(q.HBList) != 2 {
		t.Fatalf("partly claimed: %v %v", q.F, q.HBList)
	}
	if err := f.s.Claim(DefaultMchID, bill, openID2); err == nil {
		t.Error("one user claimed twice")
	}
	if err := f.s.Claim(DefaultMchID, bill, openID3, "oFourth"); err == nil {
		t.Error("more claimants than shares")
	}
	f.s.Advance(time.Minute)
	if err := f.s.Claim(DefaultMchID, bill, openID3); err != nil {
		t.Fatal(err)
	}
	q = f.query(bill)
	if q.F["status"] != "RECEIVED" || len(q.HBList) != 3 {
		t.Fatalf("all claimed: %v %v", q.F, q.HBList)
	}
	var sum int64
	for i, hb := range q.HBList {
		n, err := strconv.ParseInt(hb["amount"], 10, 64)
		if err != nil || n < 100 {
			t.Errorf("share %d = %q", i, hb["amount"])
		}
		sum += n
	}
	if sum != 900 {
		t.Errorf("shares sum to %d, want 900", sum)
	}
	if q.HBList[0]["rcv_time"] != "2025-01-01 12:00:30" || q.HBList[2]["rcv_time"] != "2025-01-01 12:01:30" {
		t.Errorf("receive times: %v", q.HBList)
	}

	// An unclaimed rest is refunded.
	bill2 := billNo()
	wantCode(t, f.do("sendgroupredpack", groupFields(bill2, 600, 3)), "SUCCESS", "")
	if err := f.s.Claim(DefaultMchID, bill2, openID); err != nil {
		t.Fatal(err)
	}
	f.s.Advance(RefundAfter + RefundLag)
	p := mustPacket(t, f.s, DefaultMchID, bill2)
	if p.Status != StatusRefund || p.RefundAmount != 600-p.Receivers[0].Amount {
		t.Errorf("group refund: %+v", p)
	}
	if got := f.s.Balance(DefaultMchID); got != DefaultBalance-900-p.Receivers[0].Amount {
		t.Errorf("balance = %d", got)
	}
}

func TestSplitGroup(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 2000; i++ {
		n := 3 + rng.IntN(18)
		total := int64(n) * (30 + rng.Int64N(maxGroupShare-29))
		shares := splitGroup(rng, total, n)
		if len(shares) != n {
			t.Fatalf("%d shares for %d", len(shares), n)
		}
		var sum int64
		floor := min(minPlainAmount, total/int64(n))
		for _, s := range shares {
			if s < floor || s > maxGroupShare {
				t.Fatalf("share %d outside %d–%d (total %d, n %d)", s, floor, maxGroupShare, total, n)
			}
			sum += s
		}
		if sum != total {
			t.Fatalf("shares sum to %d, want %d", sum, total)
		}
	}
	// The same seed gives the same split.
	a := splitGroup(rand.New(rand.NewPCG(1, 2)), 1000, 5)
	b := splitGroup(rand.New(rand.NewPCG(1, 2)), 1000, 5)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("splits differ: %v %v", a, b)
		}
	}
}

func TestGethbinfoWindow(t *testing.T) {
	f := newFixture(t)
	bill := billNo()
	wantCode(t, f.send(normalFields(bill, 1000)), "SUCCESS", "")
	f.s.Advance(QueryWindow - time.Second)
	wantCode(t, f.query(bill), "SUCCESS", "OK")
	f.s.Advance(time.Second)
	nf := f.query(bill)
	wantCode(t, nf, "NOT_FOUND", desNotFound)
	if nf.F["return_msg"] != desNotFound || nf.F["mch_billno"] != bill || nf.F["mch_id"] != DefaultMchID {
		t.Errorf("NOT_FOUND shape: %v", nf.F)
	}
	// The ledger still has it: only the query window closed.
	mustPacket(t, f.s, DefaultMchID, bill)
}

func TestGethbinfoPerMerchant(t *testing.T) {
	m2 := DefaultMerchant()
	m2.MchID = "1900000110"
	f := newFixture(t, WithMerchants(DefaultMerchant(), m2))
	bill := billNo()
	wantCode(t, f.send(normalFields(bill, 1000)), "SUCCESS", "")
	hc2 := merchantClient(t, f.s, m2.MchID)
	// Bill numbers are per merchant: another merchant does not see it.
	wantCode(t, do(t, f.s, hc2, "gethbinfo", with(queryFields(bill), "mch_id", m2.MchID), DefaultAPIKey), "NOT_FOUND", "")
	// and may use the same number for its own packet.
	wantCode(t, do(t, f.s, hc2, "sendredpack", with(normalFields(bill, 2000), "mch_id", m2.MchID), DefaultAPIKey), "SUCCESS", "")
	if f.s.Paid(DefaultMchID) != 1000 || f.s.Paid(m2.MchID) != 2000 {
		t.Errorf("paid %d and %d", f.s.Paid(DefaultMchID), f.s.Paid(m2.MchID))
	}
	if len(f.s.Packets()) != 2 || len(f.s.Merchants()) != 2 {
		t.Errorf("packets %d, merchants %d", len(f.s.Packets()), len(f.s.Merchants()))
	}
	if _, ok := f.s.Merchant("nobody"); ok || f.s.Balance("nobody") != 0 || f.s.PKCS12("nobody") != nil {
		t.Error("an unknown merchant has data")
	}
}

func TestMerchantSettings(t *testing.T) {
	for name, m := range map[string]Merchant{
		"no id":          {AppID: "wx1"},
		"id with dash":   {MchID: "19-00", AppID: "wx1"},
		"no appid":       {MchID: "1900000111"},
		"short key":      {MchID: "1900000111", AppID: "wx1", APIKey: "short"},
		"unknown scene":  {MchID: "1900000111", AppID: "wx1", Scenes: []string{"PRODUCT_0"}},
		"bad allowed IP": {MchID: "1900000111", AppID: "wx1", AllowedIPs: []string{"localhost"}},
		"negative":       {MchID: "1900000111", AppID: "wx1", Balance: -1},
	} {
		if _, err := NewHandler(WithMerchants(m)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	h, err := NewHandler(WithMerchants(Merchant{MchID: "1900000111", AppID: "wx1"}))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := h.Merchant("1900000111")
	if m.APIKey != DefaultAPIKey || m.UserDailyCount != DefaultUserDailyCount || m.Balance != 0 || m.Scenes != nil {
		t.Errorf("defaults: %+v", m)
	}
	if err := h.AddMerchant(Merchant{MchID: "1900000111", AppID: "wx2"}); err == nil {
		t.Error("a duplicate merchant was added")
	}
	for _, opt := range []Option{WithRateLimit(-1), WithClock(time.Time{}), WithHosts(), WithMerchants(), WithPathPrefix("a?b")} {
		if _, err := NewHandler(opt); err == nil {
			t.Error("a bad option was accepted")
		}
	}
}
