package redpacktest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
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
