package redpacktest

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpack-go/redpack/internal/pki"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// A second server made from the first one's CA and merchant certificate
// accepts the clients of the first, unchanged.
func TestWithCAAndMerchantCertificate(t *testing.T) {
	first := Start(t, WithRateLimit(0))
	second := Start(t, WithRateLimit(0),
		WithCA(first.CACertPEM(), first.CAKeyPEM()),
		WithMerchantCertificate(DefaultMchID, first.CertPEM(DefaultMchID), first.KeyPEM(DefaultMchID)))

	if !bytes.Equal(first.CACertPEM(), second.CACertPEM()) || !bytes.Equal(first.CAKeyPEM(), second.CAKeyPEM()) {
		t.Fatal("the CA changed")
	}
	if !bytes.Equal(first.CertPEM(DefaultMchID), second.CertPEM(DefaultMchID)) ||
		!bytes.Equal(first.KeyPEM(DefaultMchID), second.KeyPEM(DefaultMchID)) {
		t.Fatal("the merchant certificate changed")
	}
	_, leaf, err := pkcs12.Decode(second.PKCS12(DefaultMchID), DefaultMchID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(leaf.Raw, certOf(t, first.CertPEM(DefaultMchID)).Raw) {
		t.Fatal("apiclient_cert.p12 holds another certificate")
	}

	// The first server's client: its CA pool and merchant certificate.
	a := do(t, second, merchantClient(t, first, DefaultMchID), "sendredpack", normalFields(billNo(), 1000), DefaultAPIKey)
	wantCode(t, a, "SUCCESS", "")
}

func certOf(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCredentialOptionsRefused(t *testing.T) {
	a := Start(t)
	b := Start(t)
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	expired, err := ca.Issue(pki.LeafOptions{CommonName: DefaultMchID, Client: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	other := DefaultMerchant()
	other.MchID = "1900000110"
	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"CA key of another CA", []Option{WithCA(a.CACertPEM(), b.CAKeyPEM())}, "does not match"},
		{"certificate of another CA", []Option{WithCA(a.CACertPEM(), a.CAKeyPEM()),
			WithMerchantCertificate(DefaultMchID, b.CertPEM(DefaultMchID), b.KeyPEM(DefaultMchID))}, "certificate of merchant 1900000109"},
		{"certificate of another merchant", []Option{WithCA(a.CACertPEM(), a.CAKeyPEM()), WithMerchants(other),
			WithMerchantCertificate(other.MchID, a.CertPEM(DefaultMchID), a.KeyPEM(DefaultMchID))}, `is issued to "1900000109"`},
		{"certificate of no merchant", []Option{WithCA(a.CACertPEM(), a.CAKeyPEM()),
			WithMerchantCertificate("42", a.CertPEM(DefaultMchID), a.KeyPEM(DefaultMchID))}, "no merchant 42"},
		{"expired certificate", []Option{WithCA(ca.PEM(), ca.KeyPEM()),
			WithMerchantCertificate(DefaultMchID, expired.CertPEM(), expired.KeyPEM())}, "expired"},
		{"key of another certificate", []Option{WithCA(a.CACertPEM(), a.CAKeyPEM()),
			WithMerchantCertificate(DefaultMchID, a.CertPEM(DefaultMchID), b.KeyPEM(DefaultMchID))}, "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewHandler(tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewHandler: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestReset(t *testing.T) {
	f := newFixture(t)
	paidBill, failedBill := billNo(), billNo()
	wantCode(t, f.send(normalFields(paidBill, 1000)), "SUCCESS", "")
	mustInject(t, f.s, Fault{Kind: ProcessingThenFail, MchBillNo: failedBill}, Fault{Kind: HTMLGateway, Op: "gethbinfo"})
	wantCode(t, f.send(normalFields(failedBill, 1000)), "PROCESSING", "")
	f.s.Advance(2 * time.Hour)
	if err := f.s.SetBalance(DefaultMchID, 5); err != nil {
		t.Fatal(err)
	}

	f.s.Reset()
	if n := len(f.s.Packets()); n != 0 {
		t.Errorf("%d packets after Reset", n)
	}
	if n := len(f.s.PendingFaults()); n != 0 {
		t.Errorf("%d pending faults after Reset", n)
	}
	if n := len(f.s.Requests()); n != 0 {
		t.Errorf("%d requests after Reset", n)
	}
	if b, p := f.s.Balance(DefaultMchID), f.s.Paid(DefaultMchID); b != DefaultBalance || p != 0 {
		t.Errorf("balance %d, paid %d after Reset", b, p)
	}
	if now := f.s.Now(); !now.Equal(chinaNoon) {
		t.Errorf("clock at %v after Reset, want %v", now, chinaNoon)
	}
	// Both bill numbers are new again, and pay.
	for _, bill := range []string{paidBill, failedBill} {
		a := f.send(normalFields(bill, 1000))
		wantCode(t, a, "SUCCESS", "")
		if a.F["send_listid"] != mustPacket(t, f.s, DefaultMchID, bill).DetailID {
			t.Error("send_listid is not the ledger's")
		}
	}
	if p := f.s.Paid(DefaultMchID); p != 2000 {
		t.Errorf("paid %d after two sends, want 2000", p)
	}
}

// A running clock restarts from real time, not from the time it was made.
func TestResetRunningClock(t *testing.T) {
	s := Start(t)
	s.Advance(48 * time.Hour)
	s.Reset()
	if d := time.Since(s.Now()); d < -time.Minute || d > time.Minute {
		t.Fatalf("clock %v after Reset, %v from real time", s.Now(), d)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogger(t *testing.T) {
	var buf syncBuffer
	f := newFixture(t, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	bill := billNo()
	fs := normalFields(bill, 1000)
	fs["sign"] = testSign(fs, DefaultAPIKey, false)
	post(t, f.s, f.hc, "sendredpack", xmlBody(fs))
	mustInject(t, f.s, Fault{Kind: DropAfterCommit})
	fs2 := normalFields(billNo(), 1000)
	fs2["sign"] = testSign(fs2, DefaultAPIKey, false)
	resp, err := f.hc.Post(f.s.URL()+"mmpaymkttransfers/sendredpack", "text/xml", bytes.NewReader(xmlBody(fs2)))
	if err == nil {
		resp.Body.Close()
		t.Fatal("a dropped connection answered")
	}
	postRaw(t, f.hc, f.s.URL()+"nowhere", nil)

	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", len(lines), out)
	}
	for i, want := range [][]string{
		{"msg=request", "op=sendredpack", "mch_id=" + DefaultMchID, "mch_billno=" + bill, "err_code=SUCCESS", "status=200", "duration="},
		{"op=sendredpack", "err_code=SUCCESS", "fault=DropAfterCommit", "status=0"},
		{"op=-", "path=/nowhere", "status=404"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("log line %d lacks %q: %s", i, w, lines[i])
			}
		}
	}
	for _, secret := range []string{DefaultAPIKey, fs["sign"], fs["sign"][:16], fs["nonce_str"]} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
	if _, err := NewHandler(WithLogger(nil)); err == nil {
		t.Error("WithLogger(nil) accepted")
	}
}
