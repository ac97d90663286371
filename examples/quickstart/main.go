// Command quickstart sends one red packet, settles an unknown outcome and
// queries the packet back, all against redpacktest, the fake WeChat Pay
// server, started in-process: no account needed.
//
//	go run ./examples/quickstart
//
// To pay for real, replace the server with your credentials:
//
//	cfg, err := redpack.LoadPKCS12Config(mchID, appID, apiKey, "apiclient_cert.p12", "")
//	client, err := redpack.NewClient(cfg)
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

func main() {
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client(redpacktest.DefaultMchID,
		redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1})) // show the unknown outcome as it is
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// 1. Store the bill number with the request, then send.
	req := &redpack.SendRedPackRequest{
		MchBillNo:   redpack.NewBillNo(),
		SendName:    "天虹百货",
		ReOpenID:    "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		TotalAmount: 1000,
		Wishing:     "感谢您参加猜灯谜活动，祝您元宵节快乐！",
		ClientIP:    "192.168.0.1",
		ActName:     "猜灯谜抢红包活动",
		Remark:      "猜越多得越多，快来抢！",
	}
	// The fake server pays, then answers SYSTEMERROR, as WeChat sometimes does.
	if err := srv.Inject(redpacktest.Fault{Kind: redpacktest.SystemErrorAfterCommit}); err != nil {
		log.Fatal(err)
	}
	_, err = client.SendRedPack(ctx, req)
	if !errors.Is(err, redpack.ErrUnknownOutcome) {
		log.Fatalf("expected an unknown outcome, got %v", err)
	}
	var u *redpack.UnknownOutcomeError
	if errors.As(err, &u) && u.Answer != nil {
		fmt.Printf("send %s: outcome %s (WeChat answered %s)\n", req.MchBillNo, redpack.OutcomeOf(err), u.Answer.ErrCode)
	}

	// 2. Settle it: Settle queries the bill number first, and re-sends the
	// same request only if WeChat has no record of it. Never a new bill
	// number: that could pay twice.
	s, err := client.Settle(ctx, req)
	if err != nil {
		log.Fatal(err) // only an invalid request
	}
	if s.Outcome != redpack.OutcomePaid {
		log.Fatalf("settle: %s: %s", s.Outcome, s.Advice)
	}
	fmt.Printf("settle: %s (query: %s), WeChat packet %s, re-sent: %v\n", s.Outcome, s.Status, s.SendListID, s.Resent)

	// 3. The user opens it; query it back.
	if err := srv.Claim(redpacktest.DefaultMchID, req.MchBillNo); err != nil {
		log.Fatal(err)
	}
	info, err := client.QueryRedPack(ctx, req.MchBillNo)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("query: %s, %d receiver(s), outcome: %s\n", info.Status, len(info.Receivers), info.Status.Outcome())
	fmt.Printf("the fake server's ledger: %d fen paid out in total (once)\n", srv.Paid(redpacktest.DefaultMchID))
}
