package redpacktest_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

func newRequest(billNo string) *redpack.SendRedPackRequest {
	return &redpack.SendRedPackRequest{
		MchBillNo:   billNo,
		SendName:    "天虹百货",
		ReOpenID:    "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		TotalAmount: 1000, // fen: 10 CNY
		Wishing:     "感谢您参加猜灯谜活动，祝您元宵节快乐！",
		ClientIP:    "192.168.0.1",
		ActName:     "猜灯谜抢红包活动",
		Remark:      "猜越多得越多，快来抢！",
	}
}

// A ready client sends a packet; the ledger shows it was paid.
func Example() {
	srv, err := redpacktest.NewServer() // in a test: redpacktest.Start(t)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	client, err := srv.Client(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	req := newRequest("1900000109202501011234567890")
	if _, err := client.SendRedPack(context.Background(), req); err != nil {
		log.Fatal(err)
	}

	p, _ := srv.Packet(redpacktest.DefaultMchID, req.MchBillNo)
	fmt.Println(p.Status, p.TotalAmount, "fen to", p.ReOpenID)
	fmt.Println("balance:", srv.Balance(redpacktest.DefaultMchID))
	// Output:
	// SENT 1000 fen to oUpF8uMuAJO_M2pxb1Q9zNjWeS6o
	// balance: 999000
}

// The packet is paid but the answer says SYSTEMERROR: the client reports an
// unknown outcome, and re-sending the same request settles it without
// paying twice.
func ExampleHandler_Inject() {
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	// One attempt per call, to show the first answer; by default the client
	// retries with the same body itself.
	client, err := srv.Client(redpacktest.DefaultMchID,
		redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		log.Fatal(err)
	}
	err = srv.Inject(redpacktest.Fault{Op: "sendredpack", Kind: redpacktest.SystemErrorAfterCommit})
	if err != nil {
		log.Fatal(err)
	}

	req := newRequest("1900000109202501011234567891")
	_, err = client.SendRedPack(context.Background(), req)
	fmt.Println("unknown outcome:", errors.Is(err, redpack.ErrUnknownOutcome))
	fmt.Println("paid so far:", srv.Paid(redpacktest.DefaultMchID))

	_, err = client.SendRedPack(context.Background(), req) // the same request again
	fmt.Println("retry error:", err)
	fmt.Println("paid in all:", srv.Paid(redpacktest.DefaultMchID))
	// Output:
	// unknown outcome: true
	// paid so far: 1000
	// retry error: <nil>
	// paid in all: 1000
}

// A user opens one packet; another is never claimed and is refunded after
// 24 hours on the server's clock.
func ExampleHandler_Claim() {
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.FixedZone("CST", 8*3600))
	srv, err := redpacktest.NewServer(redpacktest.WithClock(start))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	claimed, unclaimed := newRequest("1900000109202501010000000001"), newRequest("1900000109202501010000000002")
	for _, req := range []*redpack.SendRedPackRequest{claimed, unclaimed} {
		if _, err := client.SendRedPack(ctx, req); err != nil {
			log.Fatal(err)
		}
	}

	srv.Advance(3 * time.Minute)
	if err := srv.Claim(redpacktest.DefaultMchID, claimed.MchBillNo); err != nil {
		log.Fatal(err)
	}
	srv.Advance(redpacktest.RefundAfter + redpacktest.RefundLag)

	for _, req := range []*redpack.SendRedPackRequest{claimed, unclaimed} {
		info, err := client.QueryRedPack(ctx, req.MchBillNo)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(info.MchBillNo, info.Status, len(info.Receivers), "receiver(s), refunded", info.RefundAmount)
	}
	fmt.Println("balance:", srv.Balance(redpacktest.DefaultMchID))
	// Output:
	// 1900000109202501010000000001 RECEIVED 1 receiver(s), refunded 0
	// 1900000109202501010000000002 REFUND 0 receiver(s), refunded 1000
	// balance: 999000
}

// A mini-program packet is opened with the wx.sendBizRedPacket arguments
// the back end built; the server checks paySign with its own code.
func ExampleHandler_OpenBizRedPacket() {
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.SendMiniProgramRedPack(context.Background(), &redpack.SendMiniProgramRedPackRequest{
		MiniProgramAppID: redpacktest.DefaultMiniProgramAppID,
		MchBillNo:        "1900000109202501040000000003",
		SendName:         "示例科技",
		ReOpenID:         "oMiniAbCdEfGhIjKlMnOpQrStUvW",
		TotalAmount:      100,
		Wishing:          "感谢参与",
		ActName:          "小程序活动",
		Remark:           "备注",
	})
	if err != nil {
		log.Fatal(err)
	}
	params, err := client.BizRedPacketParams(res)
	if err != nil {
		log.Fatal(err)
	}
	args := redpacktest.BizRedPacket(*params) // the front end's JSON, field for field

	tampered := args
	tampered.TimeStamp += "0"
	fmt.Println(srv.OpenBizRedPacket(tampered))
	fmt.Println(srv.OpenBizRedPacket(args))
	fmt.Println(srv.OpenBizRedPacket(args))
	p, _ := srv.Packet(redpacktest.DefaultMchID, res.MchBillNo)
	fmt.Println(p.Status, p.Receivers[0].OpenID)
	// Output:
	// redpacktest: wx.sendBizRedPacket: 签名失败
	// <nil>
	// redpacktest: wx.sendBizRedPacket: 已经绑定过红包
	// RECEIVED oMiniAbCdEfGhIjKlMnOpQrStUvW
}

// The control API drives the server over plain HTTP, as a test in another
// language does against redpack fake-server.
func ExampleHandler_AdminHandler() {
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	admin := httptest.NewServer(srv.AdminHandler()) // fake-server serves it on --admin-addr
	defer admin.Close()

	resp, err := http.Post(admin.URL+"/merchants/"+redpacktest.DefaultMchID+"/balance", "application/json",
		strings.NewReader(`{"balance": 500}`))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("POST:", resp.StatusCode) // the route takes PUT

	req, _ := http.NewRequest(http.MethodPut, admin.URL+"/merchants/"+redpacktest.DefaultMchID+"/balance",
		strings.NewReader(`{"balance": 500}`))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("PUT:", resp.StatusCode, "balance now", srv.Balance(redpacktest.DefaultMchID))

	client, err := srv.Client(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.SendRedPack(context.Background(), newRequest("1900000109202501011234567892"))
	fmt.Println(errors.Is(err, redpack.CodeNotEnough))

	resp, err = http.Post(admin.URL+"/reset", "application/json", nil)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("after reset:", srv.Balance(redpacktest.DefaultMchID))
	// Output:
	// POST: 405
	// PUT: 200 balance now 500
	// true
	// after reset: 1000000
}

// A server restarted from saved credentials accepts the clients of the
// first: the same CA and merchant certificate, so a test suite's files
// stay valid (redpack fake-server --dir does this).
func ExampleWithCA() {
	first, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	caCert, caKey := first.CACertPEM(), first.CAKeyPEM()
	cert, key := first.CertPEM(redpacktest.DefaultMchID), first.KeyPEM(redpacktest.DefaultMchID)
	p12 := first.PKCS12(redpacktest.DefaultMchID)
	first.Close()

	second, err := redpacktest.NewServer(
		redpacktest.WithCA(caCert, caKey),
		redpacktest.WithMerchantCertificate(redpacktest.DefaultMchID, cert, key),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer second.Close()
	// A client set up with the first server's files.
	cfg, err := redpack.NewPKCS12Config(redpacktest.DefaultMchID, redpacktest.DefaultAppID, redpacktest.DefaultAPIKey, p12, "")
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caCert)
	client, err := redpack.NewClient(cfg, redpack.WithBaseURL(second.URL()), redpack.WithRootCAs(roots))
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.SendRedPack(context.Background(), newRequest("1900000109202501011234567893"))
	fmt.Println(err)
	// Output:
	// <nil>
}

// The README's test of an unknown outcome: with one attempt per call, a
// packet paid but answered SYSTEMERROR reaches the unknown path, and
// Settle finds it paid, once. (With the default retry policy the client
// would re-send the same body itself, be answered SUCCESS, and never
// report an unknown outcome.)
func ExampleServer_unknownOutcome() {
	ctx := context.Background()
	srv, serr := redpacktest.NewServer() // in a test: redpacktest.Start(t)
	if serr != nil {
		log.Fatal(serr)
	}
	defer srv.Close()
	req := newRequest("1900000109202501011234567895")

	client, _ := srv.Client(redpacktest.DefaultMchID, redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1}))
	srv.Inject(redpacktest.Fault{Op: "sendredpack", Kind: redpacktest.SystemErrorAfterCommit}) // paid, but answered SYSTEMERROR
	_, err := client.SendRedPack(ctx, req)
	if !errors.Is(err, redpack.ErrUnknownOutcome) {
		log.Fatalf("the unknown path was not reached: %v", err)
	}
	s, _ := client.Settle(ctx, req)                             // queries the bill number: paid
	p, _ := srv.Packet(redpacktest.DefaultMchID, req.MchBillNo) // what was really paid: once
	fmt.Println("settled:", s.Outcome, "resent:", s.Resent)
	fmt.Println("ledger:", p.Status, p.TotalAmount, "paid in all:", srv.Paid(redpacktest.DefaultMchID))
	// Output:
	// settled: paid resent: false
	// ledger: SENT 1000 paid in all: 1000
}

// A user pays; the fake posts the signed payment notification to the
// merchant's notify_url, whose handler verifies it with package redpack.
// A handler that fails is notified again on WeChat's schedule, on the
// server clock.
func ExampleHandler_Pay() {
	srv, err := redpacktest.NewServer(redpacktest.WithClock(time.Date(2025, 1, 1, 12, 0, 0, 0, time.FixedZone("CST", 8*3600))))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID)

	fail := true // the merchant's first answer is FAIL
	notify := httptest.NewServer(client.PaymentNotifyHandler(func(ctx context.Context, n *redpack.PaymentNotification) error {
		fmt.Println("notified:", n.OutTradeNo, n.TotalFee, n.SignType)
		if fail {
			fail = false
			return errors.New("database down")
		}
		return nil
	}))
	defer notify.Close()

	p, err := srv.Pay(redpacktest.PaymentRequest{
		OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", TotalFee: 2000, OutTradeNo: "order-1",
		NotifyURL: notify.URL, SignType: redpacktest.SignTypeHMACSHA256, OmitSignType: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_ = srv.WaitDeliveries(ctx) // the first delivery, answered FAIL
	srv.Advance(15 * time.Second)
	_ = srv.WaitDeliveries(ctx) // the re-delivery 15 s later, answered SUCCESS

	got, _ := srv.Payment(p.TransactionID)
	for _, d := range got.Deliveries {
		fmt.Println(d.Attempt, d.Time.Format(time.TimeOnly), d.ReturnCode, d.Success)
	}
	fmt.Println("delivered:", got.Delivered)
	// Output:
	// notified: order-1 2000 HMAC-SHA256
	// notified: order-1 2000 HMAC-SHA256
	// 1 12:00:00 FAIL false
	// 2 12:00:15 SUCCESS true
	// delivered: true
}

// A refund turns the order REFUND and posts the refund notification, whose
// req_info only the merchant's API key decrypts.
func ExampleHandler_Refund() {
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID)

	bodies := make(chan []byte, 2)
	notify := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		bodies <- body
		io.WriteString(w, `<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>`)
	}))
	defer notify.Close()

	p, _ := srv.Pay(redpacktest.PaymentRequest{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", TotalFee: 2000, NotifyURL: notify.URL})
	_ = srv.WaitDeliveries(context.Background())
	<-bodies // the payment notification

	r, err := srv.Refund(p.TransactionID, redpacktest.RefundRequest{RefundFee: 500, OutRefundNo: "refund-1"})
	if err != nil {
		log.Fatal(err)
	}
	_ = srv.WaitDeliveries(context.Background())
	n, err := client.ParseRefundNotification(context.Background(), <-bodies)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n.OutRefundNo, n.RefundFee, n.TotalFee, n.Refunded(), n.RefundID == r.RefundID)
	got, _ := srv.Payment(p.TransactionID)
	fmt.Println(got.TradeState)
	// Output:
	// refund-1 500 2000 true true
	// REFUND
}
