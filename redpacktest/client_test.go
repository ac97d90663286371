package redpacktest

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/internal/pki"
)

// End-to-end tests through the real redpack client: they show that the
// client and the fake server agree, and how the client reports each
// answer. The server judges the client's requests on its own.

// noRetry makes one call one attempt, so a test sees each answer as the
// client reports it; TestClientRetrySettles shows the retries.
var noRetry = redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1})

func newClient(t *testing.T, s *Server, mchID string, opts ...redpack.Option) *redpack.Client {
	t.Helper()
	c, err := s.Client(mchID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sendReq(bill string, amount int64) *redpack.SendRedPackRequest {
	return &redpack.SendRedPackRequest{
		MchBillNo:   bill,
		SendName:    "天虹百货",
		ReOpenID:    openID,
		TotalAmount: amount,
		Wishing:     "感谢您参加猜灯谜活动，祝您元宵节快乐！",
		ClientIP:    "192.168.0.1",
		ActName:     "猜灯谜抢红包活动",
		Remark:      "猜越多得越多，快来抢！",
	}
}

func wantAPICode(t *testing.T, err error, code redpack.Code) {
	t.Helper()
	if !errors.Is(err, code) {
		t.Fatalf("err = %v, want err_code %s", err, code)
	}
	if errors.Is(err, redpack.ErrUnknownOutcome) {
		t.Fatalf("%s reported as an unknown outcome: %v", code, err)
	}
	var apiErr *redpack.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != http.StatusOK {
		t.Fatalf("err = %#v, want an *APIError with HTTP 200", err)
	}
}

func TestClientSendAndReentry(t *testing.T) {
	s := Start(t, WithClock(chinaNoon))
	c := newClient(t, s, DefaultMchID)
	ctx := context.Background()
	bill := redpack.NewBillNo()
	req := sendReq(bill, 1000)
	req.SceneID = redpack.SceneEmployeeBenefit
	req.RiskInfo = &redpack.RiskInfo{PostTime: chinaNoon, Mobile: "86-13800000000", DeviceID: "IOS", ClientVersion: "8.0.50"}

	res, err := c.SendRedPack(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	p := mustPacket(t, s, DefaultMchID, bill)
	if res.SendListID != p.DetailID || res.TotalAmount != 1000 || res.ReOpenID != openID || res.WxAppID != DefaultAppID || res.MchID != DefaultMchID {
		t.Errorf("result %+v, packet %+v", res, p)
	}
	if p.Kind != KindNormal || p.SceneID != "PRODUCT_4" || p.Wishing != req.Wishing || p.SendName != req.SendName || !p.SendTime.Equal(chinaNoon) {
		t.Errorf("packet %+v", p)
	}
	// The client sends no sign_type (red packets are MD5 only).
	if body := string(s.Requests()[0].Body); strings.Contains(body, "sign_type") {
		t.Errorf("body has sign_type: %s", body)
	}

	// Re-sending the stored request is safe: same packet, paid once.
	res2, err := c.SendRedPack(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res2.SendListID != res.SendListID || s.Paid(DefaultMchID) != 1000 || len(s.Packets()) != 1 {
		t.Errorf("re-entry: %+v, paid %d, %d packets", res2, s.Paid(DefaultMchID), len(s.Packets()))
	}
	// The two bodies differ only by nonce and signature.
	reqs := s.Requests()
	if len(reqs) != 2 || string(reqs[0].Body) == string(reqs[1].Body) {
		t.Errorf("requests: %d", len(reqs))
	}

	// FATAL_ERROR when the amount or openid changes.
	_, err = c.SendRedPack(ctx, sendReq(bill, 1001))
	wantAPICode(t, err, redpack.CodeFatalError)
	changed := sendReq(bill, 1000)
	changed.ReOpenID = openID2
	_, err = c.SendRedPack(ctx, changed)
	wantAPICode(t, err, redpack.CodeFatalError)
	if s.Paid(DefaultMchID) != 1000 {
		t.Errorf("Paid = %d", s.Paid(DefaultMchID))
	}
}

func TestClientQueryLifecycle(t *testing.T) {
	s := Start(t, WithClock(chinaNoon))
	c := newClient(t, s, DefaultMchID)
	ctx := context.Background()

	info, err := c.QueryRedPack(ctx, billNo())
	if err != nil || info.Status != redpack.StatusNotFound {
		t.Fatalf("query of an unknown bill: %+v, %v; want StatusNotFound", info, err)
	}

	bill := billNo()
	if _, err := c.SendRedPack(ctx, sendReq(bill, 1000)); err != nil {
		t.Fatal(err)
	}
	info, err = c.QueryRedPack(ctx, bill)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != redpack.StatusSent || info.HBType != redpack.HBTypeNormal || info.TotalAmount != 1000 ||
		info.SendType != redpack.SendTypeAPI || !info.SendTime.Equal(chinaNoon) || info.MchBillNo != bill {
		t.Errorf("info %+v", info)
	}
	s.Advance(5 * time.Minute)
	if err := s.Claim(DefaultMchID, bill); err != nil {
		t.Fatal(err)
	}
	info, err = c.QueryRedPack(ctx, bill)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != redpack.StatusReceived || len(info.Receivers) != 1 || info.Receivers[0].OpenID != openID ||
		info.Receivers[0].Amount != 1000 || !info.Receivers[0].ReceiveTime.Equal(chinaNoon.Add(5*time.Minute)) {
		t.Errorf("received info %+v", info)
	}

	// An unclaimed packet is refunded after 24 h.
	bill2 := billNo()
	if _, err := c.SendRedPack(ctx, sendReq(bill2, 2000)); err != nil {
		t.Fatal(err)
	}
	s.Advance(RefundAfter)
	if info, err = c.QueryRedPack(ctx, bill2); err != nil || info.Status != redpack.StatusRefunding {
		t.Fatalf("info %+v, err %v", info, err)
	}
	s.Advance(RefundLag)
	info, err = c.QueryRedPack(ctx, bill2)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != redpack.StatusRefund || info.RefundAmount != 2000 || !info.RefundTime.Equal(s.Now()) {
		t.Errorf("refunded info %+v (now %v)", info, s.Now())
	}
	if got := s.Balance(DefaultMchID); got != DefaultBalance-1000 {
		t.Errorf("balance %d", got)
	}
}

func TestClientGroupPacket(t *testing.T) {
	s := Start(t, WithClock(chinaNoon), WithSeed(42))
	c := newClient(t, s, DefaultMchID)
	ctx := context.Background()
	bill := billNo()
	res, err := c.SendGroupRedPack(ctx, &redpack.SendGroupRedPackRequest{
		MchBillNo: bill, SendName: "示例科技", ReOpenID: openID, TotalAmount: 1500, TotalNum: 5,
		Wishing: "恭喜发财", ActName: "裂变红包测试", Remark: "分享给好友",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(DefaultMchID, bill, openID, openID2); err != nil {
		t.Fatal(err)
	}
	info, err := c.QueryRedPack(ctx, bill)
	if err != nil {
		t.Fatal(err)
	}
	if info.HBType != redpack.HBTypeGroup || info.Status != redpack.StatusSent || info.TotalNum != 5 ||
		info.DetailID != res.SendListID || len(info.Receivers) != 2 {
		t.Fatalf("info %+v", info)
	}
	p := mustPacket(t, s, DefaultMchID, bill)
	for i, r := range info.Receivers {
		if r.OpenID != p.Receivers[i].OpenID || r.Amount != p.Receivers[i].Amount || !r.ReceiveTime.Equal(chinaNoon) {
			t.Errorf("receiver %d = %+v, ledger %+v", i, r, p.Receivers[i])
		}
	}
}

func TestClientRefusals(t *testing.T) {
	m := DefaultMerchant()
	m.UserDailyCount = 1
	s := Start(t, WithClock(chinaNoon), WithMerchants(m))
	c := newClient(t, s, DefaultMchID)
	ctx := context.Background()

	if _, err := c.SendRedPack(ctx, sendReq(billNo(), 1000)); err != nil {
		t.Fatal(err)
	}
	capped := billNo()
	_, err := c.SendRedPack(ctx, sendReq(capped, 1000))
	wantAPICode(t, err, redpack.CodeSendNumLimit)
	_, err = c.SendRedPack(ctx, sendReq(capped, 1000))
	wantAPICode(t, err, redpack.CodeSendFailed)

	other := sendReq(billNo(), 1000)
	other.ReOpenID = openID2
	if err := s.SetBalance(DefaultMchID, 10); err != nil {
		t.Fatal(err)
	}
	_, err = c.SendRedPack(ctx, other)
	wantAPICode(t, err, redpack.CodeNotEnough)

	// A scene that is valid for the client but closed for this merchant.
	if err := s.SetBalance(DefaultMchID, DefaultBalance); err != nil {
		t.Fatal(err)
	}
	m2 := DefaultMerchant()
	m2.MchID, m2.Scenes = "1900000110", nil
	if err := s.AddMerchant(m2); err != nil {
		t.Fatal(err)
	}
	c2 := newClient(t, s, m2.MchID)
	scened := sendReq(billNo(), 50000)
	scened.SceneID = redpack.SceneLottery
	_, err = c2.SendRedPack(ctx, scened)
	wantAPICode(t, err, redpack.CodeParamError)
	if !strings.Contains(err.Error(), "该场景未开通") {
		t.Errorf("err = %v", err)
	}
	if s.Paid(DefaultMchID) != 1000 || s.Paid(m2.MchID) != 0 {
		t.Errorf("paid %d / %d", s.Paid(DefaultMchID), s.Paid(m2.MchID))
	}
}

func TestClientCaps(t *testing.T) {
	m := DefaultMerchant()
	m.UserDailyAmount = 1500
	m.DailyAmount = 2500
	s := Start(t, WithClock(chinaNoon), WithMerchants(m))
	c := newClient(t, s, DefaultMchID)
	ctx := context.Background()
	if _, err := c.SendRedPack(ctx, sendReq(billNo(), 1000)); err != nil {
		t.Fatal(err)
	}
	_, err := c.SendRedPack(ctx, sendReq(billNo(), 1000))
	wantAPICode(t, err, redpack.CodeRcvdAmountLimit)
	r := sendReq(billNo(), 1000)
	r.ReOpenID = openID2
	if _, err := c.SendRedPack(ctx, r); err != nil {
		t.Fatal(err)
	}
	r = sendReq(billNo(), 1000)
	r.ReOpenID = openID3
	_, err = c.SendRedPack(ctx, r)
	wantAPICode(t, err, redpack.CodeSendAmountLimit)
	if s.Paid(DefaultMchID) != 2000 {
		t.Errorf("Paid = %d", s.Paid(DefaultMchID))
	}
}

func TestClientFreqLimit(t *testing.T) {
	s := Start(t, WithRateLimit(2))
	c := newClient(t, s, DefaultMchID, noRetry)
	ctx := context.Background()
	bill := billNo()
	for i := 0; i < 2; i++ {
		if _, err := c.SendRedPack(ctx, sendReq(bill, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.SendRedPack(ctx, sendReq(bill, 1000))
	wantAPICode(t, err, redpack.CodeFreqLimit)
	if s.Paid(DefaultMchID) != 1000 {
		t.Errorf("Paid = %d", s.Paid(DefaultMchID))
	}
}

func TestClientCredentialsRefused(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	base := []redpack.Option{redpack.WithBaseURL(s.URL()), redpack.WithRootCAs(s.CertPool())}

	t.Run("wrong key", func(t *testing.T) {
		cfg, err := redpack.NewPKCS12Config(DefaultMchID, DefaultAppID, strings.Repeat("0", 32), s.PKCS12(DefaultMchID), "")
		if err != nil {
			t.Fatal(err)
		}
		c, err := redpack.NewClient(cfg, base...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SendRedPack(ctx, sendReq(billNo(), 1000))
		wantAPICode(t, err, redpack.CodeSignError)
		if strings.Contains(err.Error(), DefaultAPIKey) {
			t.Error("the error shows the API key")
		}
	})
	t.Run("certificate of another CA", func(t *testing.T) {
		ca, err := pki.NewCA("not WeChat")
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := ca.Issue(pki.LeafOptions{CommonName: DefaultMchID, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		c, err := redpack.NewClient(redpack.NewConfig(DefaultMchID, DefaultAppID, DefaultAPIKey, leaf.TLSCertificate()), base...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SendRedPack(ctx, sendReq(billNo(), 1000))
		wantAPICode(t, err, redpack.CodeCAError)
		_, err = c.QueryRedPack(ctx, billNo())
		wantAPICode(t, err, redpack.CodeCAError)
	})
	t.Run("HMAC-SHA256", func(t *testing.T) {
		c := newClient(t, s, DefaultMchID, redpack.WithSignType(redpack.SignHMACSHA256))
		_, err := c.SendRedPack(ctx, sendReq(billNo(), 1000))
		wantAPICode(t, err, redpack.CodeSignError)

		s2 := Start(t, WithHMACSHA256())
		c2 := newClient(t, s2, DefaultMchID, redpack.WithSignType(redpack.SignHMACSHA256))
		if _, err := c2.SendRedPack(ctx, sendReq(billNo(), 1000)); err != nil {
			t.Fatal(err)
		}
	})
	if s.Paid(DefaultMchID) != 0 {
		t.Errorf("Paid = %d", s.Paid(DefaultMchID))
	}
	if _, err := s.Client("nobody"); err == nil {
		t.Error("Client of an unknown merchant")
	}
}

func TestClientPathPrefix(t *testing.T) {
	s := Start(t, WithPathPrefix("/v2/wechat/"))
	c := newClient(t, s, DefaultMchID)
	if _, err := c.SendRedPack(context.Background(), sendReq(billNo(), 1000)); err != nil {
		t.Fatal(err)
	}
	if p := s.Requests()[0].Path; p != "/v2/wechat/mmpaymkttransfers/sendredpack" {
		t.Errorf("path %s", p)
	}
}

// TestClientFaults runs every fault kind through the client: the ones that
// leave the outcome unclear must be ErrUnknownOutcome, the ledger must show
// what was really paid, and re-sending the same request must settle it
// without paying twice.
func TestClientFaults(t *testing.T) {
	cases := []struct {
		fault   Fault
		paid    bool // the faulted request paid
		unknown bool // the client must report ErrUnknownOutcome
		code    redpack.Code
	}{
		{Fault{Kind: SystemErrorBeforeCommit}, false, true, redpack.CodeSystemError},
		{Fault{Kind: SystemErrorAfterCommit}, true, true, redpack.CodeSystemError},
		{Fault{Kind: ProcessingBeforeCommit}, false, true, redpack.CodeProcessing},
		{Fault{Kind: ProcessingAfterCommit}, true, true, redpack.CodeProcessing},
		{Fault{Kind: SlowAfterCommit, Delay: time.Minute}, true, true, ""},
		{Fault{Kind: DropAfterCommit}, true, true, ""},
		{Fault{Kind: HTMLGateway}, false, true, ""},
		{Fault{Kind: TruncatedBody}, true, true, ""},
		{Fault{Kind: ErrCodeAnswer, ErrCode: "NEW_CODE_2030"}, false, true, redpack.Code("NEW_CODE_2030")},
		{Fault{Kind: ErrCodeAnswer, ErrCode: "API_METHOD_CLOSED"}, false, false, redpack.CodeAPIMethodClosed},
	}
	for _, tc := range cases {
		t.Run(tc.fault.Kind.String()+"/"+tc.fault.ErrCode, func(t *testing.T) {
			t.Parallel()
			s := Start(t, WithClock(chinaNoon))
			c := newClient(t, s, DefaultMchID, noRetry, redpack.WithHTTPClient(&http.Client{Timeout: 500 * time.Millisecond}))
			ctx := context.Background()
			mustInject(t, s, tc.fault)
			bill := billNo()
			req := sendReq(bill, 1000)

			_, err := c.SendRedPack(ctx, req)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, redpack.ErrUnknownOutcome); got != tc.unknown {
				t.Fatalf("errors.Is(err, ErrUnknownOutcome) = %v: %v", got, err)
			}
			var uo *redpack.UnknownOutcomeError
			if tc.unknown && (!errors.As(err, &uo) || uo.MchBillNo != bill) {
				t.Errorf("err = %#v", err)
			}
			if tc.code != "" {
				// An unknown outcome holds WeChat's answer as a field; a
				// refusal matches its code.
				got := ""
				if uo != nil && uo.Answer != nil {
					got = uo.Answer.ErrCode
				} else if errors.Is(err, tc.code) {
					got = string(tc.code)
				}
				if got != string(tc.code) {
					t.Errorf("err = %v, want code %s", err, tc.code)
				}
			}
			p, ok := s.Packet(DefaultMchID, bill)
			if ok != tc.paid || p.Paid != tc.paid {
				t.Fatalf("packet %+v (found %v), want paid %v", p, ok, tc.paid)
			}
			if tc.fault.Kind == ProcessingAfterCommit {
				info, err := c.QueryRedPack(ctx, bill)
				if err != nil || info.Status != redpack.StatusSending {
					t.Fatalf("query: %+v %v", info, err)
				}
				s.Advance(DefaultHold)
			}

			if !tc.unknown {
				return // a definite refusal: nothing to recover
			}
			// The documented recovery: the same request again.
			res, err := c.SendRedPack(ctx, req)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if got := s.Paid(DefaultMchID); got != 1000 {
				t.Errorf("Paid = %d after retry, want 1000", got)
			}
			if p, _ := s.Packet(DefaultMchID, bill); res.SendListID != p.DetailID || p.Status != StatusSent {
				t.Errorf("retry result %+v, packet %+v", res, p)
			}
		})
	}
}

// TestClientRetrySettles uses the client's own retries (default policy):
// each retry re-sends the byte-identical body, and the server answers it
// with the first attempt's packet, so the call succeeds and pays once.
func TestClientRetrySettles(t *testing.T) {
	for _, kind := range []FaultKind{SystemErrorAfterCommit, DropAfterCommit} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			s := Start(t, WithClock(chinaNoon))
			c := newClient(t, s, DefaultMchID)
			mustInject(t, s, Fault{Kind: kind})
			bill := billNo()
			res, err := c.SendRedPack(context.Background(), sendReq(bill, 1000))
			if err != nil {
				t.Fatal(err)
			}
			reqs := s.Requests()
			if len(reqs) != 2 || !bytes.Equal(reqs[0].Body, reqs[1].Body) {
				t.Fatalf("%d requests; bodies equal: %v", len(reqs), len(reqs) == 2 && bytes.Equal(reqs[0].Body, reqs[1].Body))
			}
			if reqs[0].Fault != kind || reqs[1].Fault != 0 || reqs[1].ErrCode != "SUCCESS" {
				t.Errorf("requests: %+v", reqs)
			}
			if gap := reqs[1].Time.Sub(reqs[0].Time); gap < time.Second {
				t.Errorf("retried after %v, WeChat asks for at least 1 s", gap)
			}
			if p := mustPacket(t, s, DefaultMchID, bill); res.SendListID != p.DetailID || s.Paid(DefaultMchID) != 1000 {
				t.Errorf("result %+v, paid %d", res, s.Paid(DefaultMchID))
			}
		})
	}
}

// TestClientQueryFaults: a query's unclear answer is an error, not an
// unknown payment outcome.
func TestClientQueryFaults(t *testing.T) {
	s := Start(t)
	c := newClient(t, s, DefaultMchID, noRetry)
	ctx := context.Background()
	mustInject(t, s, Fault{Op: "gethbinfo", Kind: SystemErrorBeforeCommit}, Fault{Op: "gethbinfo", Kind: HTMLGateway})
	_, err := c.QueryRedPack(ctx, billNo())
	wantAPICode(t, err, redpack.CodeSystemError)
	_, err = c.QueryRedPack(ctx, billNo())
	var de *redpack.DecodeError
	if !errors.As(err, &de) || de.HTTPStatus != http.StatusBadGateway || errors.Is(err, redpack.ErrUnknownOutcome) {
		t.Errorf("err = %v", err)
	}
}
