package redpack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

// The examples run against redpacktest, the fake WeChat Pay server, so they
// need no account. In production, build the Config from your own
// credentials and drop WithBaseURL and WithRootCAs.

func lanternPacket(billNo string) *redpack.SendRedPackRequest {
	return &redpack.SendRedPackRequest{
		MchBillNo:   billNo,
		SendName:    "天虹百货",
		ReOpenID:    "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		TotalAmount: 1000, // fen: ¥10.00
		Wishing:     "感谢您参加猜灯谜活动，祝您元宵节快乐！",
		ClientIP:    "192.168.0.1",
		ActName:     "猜灯谜抢红包活动",
		Remark:      "猜越多得越多，快来抢！",
	}
}

func ExampleNewClient() {
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// A merchant loads apiclient_cert.p12 (password: the mch_id) and its
	// 32-character APIv2 key; LoadPKCS12Config reads the file from disk.
	cfg, err := redpack.NewPKCS12Config(redpacktest.DefaultMchID, redpacktest.DefaultAppID,
		redpacktest.DefaultAPIKey, srv.PKCS12(redpacktest.DefaultMchID), "")
	if err != nil {
		log.Fatal(err)
	}
	client, err := redpack.NewClient(cfg,
		redpack.WithBaseURL(srv.URL()),      // production: leave out
		redpack.WithRootCAs(srv.CertPool()), // production: leave out
		redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 3}),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.MchID(), client.AppID())
	// Printing or logging the config masks the API key.
	fmt.Println(strings.Contains(fmt.Sprint(cfg), redpacktest.DefaultAPIKey))

	// A key of the wrong length fails here, not at the first payment.
	cert, _ := cfg.Certificate()
	_, err = redpack.NewClient(redpack.NewConfig(redpacktest.DefaultMchID, redpacktest.DefaultAppID, "short", cert))
	fmt.Println(err)
	// Output:
	// 1900000109 wx8888888888888888
	// false
	// redpack: invalid key: the APIv2 key must be 32 characters, got 5
}

func ExampleClient_SendRedPack() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID)

	// Make the bill number and store it with the request before sending.
	req := lanternPacket(redpack.NewBillNo(redpacktest.DefaultMchID))
	res, err := client.SendRedPack(context.Background(), req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paid", res.TotalAmount, "fen to", res.ReOpenID)

	// Sending the same request again pays nothing more: WeChat answers with
	// the first result.
	again, err := client.SendRedPack(context.Background(), req)
	fmt.Println(err == nil, again.SendListID == res.SendListID, srv.Paid(redpacktest.DefaultMchID))
	// Output:
	// paid 1000 fen to oUpF8uMuAJO_M2pxb1Q9zNjWeS6o
	// true true 1000
}

func ExampleClient_SendGroupRedPack() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID)

	res, err := client.SendGroupRedPack(context.Background(), &redpack.SendGroupRedPackRequest{
		MchBillNo:   redpack.NewBillNo(redpacktest.DefaultMchID),
		SendName:    "示例科技",
		ReOpenID:    "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", // the seed user
		TotalAmount: 900,                            // split at random among 3
		TotalNum:    3,
		Wishing:     "恭喜发财",
		ActName:     "裂变红包测试",
		Remark:      "分享给好友",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paid", res.TotalAmount, "fen for the group")
	// Output:
	// paid 900 fen for the group
}

func ExampleClient_SendMiniProgramRedPack() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID)

	// The appid is the mini-program's, named in the request: the client's
	// own appid is the Official Account's, which sendredpack uses.
	req := &redpack.SendMiniProgramRedPackRequest{
		MiniProgramAppID: redpacktest.DefaultMiniProgramAppID,
		MchBillNo:        redpack.NewBillNo(redpacktest.DefaultMchID),
		SendName:         "示例科技",
		ReOpenID:         "oMiniAbCdEfGhIjKlMnOpQrStUvW", // an openid under the mini-program
		TotalAmount:      100,
		Wishing:          "感谢参与",
		ActName:          "小程序活动",
		Remark:           "备注",
	}
	res, err := client.SendMiniProgramRedPack(context.Background(), req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paid", res.TotalAmount, "fen; package starts", res.Package[:7])

	// The mini-program asks its back end for the packet; the back end
	// answers with these arguments for wx.sendBizRedPacket, as JSON.
	params, err := client.BizRedPacketParams(res)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(params.SignType, len(params.PaySign), strings.HasPrefix(params.Package, "sendid%3D"))

	// On the fake server, OpenBizRedPacket plays the front end's call.
	if err := srv.OpenBizRedPacket(redpacktest.BizRedPacket(*params)); err != nil {
		log.Fatal(err)
	}
	p, _ := srv.Packet(redpacktest.DefaultMchID, req.MchBillNo)
	fmt.Println(p.Status)
	// Output:
	// paid 100 fen; package starts sendid=
	// MD5 32 true
	// RECEIVED
}

// The mini-program's back end answers with the packet's front-end
// arguments as JSON; the front end spreads them into wx.sendBizRedPacket.
func ExampleClient_BizRedPacketParams() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID)
	res, err := client.SendMiniProgramRedPack(context.Background(), &redpack.SendMiniProgramRedPackRequest{
		MiniProgramAppID: redpacktest.DefaultMiniProgramAppID,
		MchBillNo:        redpack.NewBillNo(redpacktest.DefaultMchID),
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
	// Store res with the packet; build the arguments when the front end
	// asks (each call has a fresh timeStamp and nonceStr).
	params, err := client.BizRedPacketParams(res)
	if err != nil {
		log.Fatal(err)
	}
	b, _ := json.Marshal(params)
	var fields map[string]string
	_ = json.Unmarshal(b, &fields)
	fmt.Println(len(fields), fields["signType"], len(fields["paySign"]), strings.HasPrefix(fields["package"], "sendid%3D"))
	// Output:
	// 5 MD5 32 true
}

func ExampleClient_QueryRedPack() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID)
	ctx := context.Background()

	req := lanternPacket(redpack.NewBillNo(redpacktest.DefaultMchID))
	if _, err := client.SendRedPack(ctx, req); err != nil {
		log.Fatal(err)
	}
	if err := srv.Claim(redpacktest.DefaultMchID, req.MchBillNo); err != nil { // the user opens it
		log.Fatal(err)
	}

	info, err := client.QueryRedPack(ctx, req.MchBillNo)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Status, info.HBType, info.TotalAmount, info.Status.Paid())
	for _, r := range info.Receivers {
		fmt.Println(r.OpenID, r.Amount)
	}

	_, err = client.QueryRedPack(ctx, "1900000109209901019999999999")
	fmt.Println(errors.Is(err, redpack.CodeNotFound))
	// Output:
	// RECEIVED NORMAL 1000 true
	// oUpF8uMuAJO_M2pxb1Q9zNjWeS6o 1000
	// true
}

// Errors come in three kinds: the client refused the request (nothing
// sent), WeChat refused it (nothing paid), or the outcome is unknown.
func ExampleAPIError() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID)
	ctx := context.Background()

	tooMuch := lanternPacket(redpack.NewBillNo(redpacktest.DefaultMchID))
	tooMuch.TotalAmount = 30000 // ¥300 needs a scene_id
	_, err := client.SendRedPack(ctx, tooMuch)
	var ve *redpack.ValidationError
	if errors.As(err, &ve) {
		fmt.Println("not sent, fix", ve.Field)
	}

	_ = srv.SetBalance(redpacktest.DefaultMchID, 0)
	_, err = client.SendRedPack(ctx, lanternPacket(redpack.NewBillNo(redpacktest.DefaultMchID)))
	var apiErr *redpack.APIError
	switch {
	case errors.Is(err, redpack.ErrUnknownOutcome):
		fmt.Println("may have paid: re-send the same request or query")
	case errors.As(err, &apiErr):
		fmt.Println("refused, nothing paid:", apiErr.ErrCode, errors.Is(err, redpack.CodeNotEnough))
	}
	// Output:
	// not sent, fix total_amount
	// refused, nothing paid: NOTENOUGH true
}

// An unknown outcome is settled by re-sending the stored request under the
// same bill number (WeChat answers with the first attempt's result and
// pays nothing more), or by querying until the status is definite.
func ExampleUnknownOutcomeError() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID, redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1}))
	ctx := context.Background()

	// WeChat pays, then answers SYSTEMERROR.
	_ = srv.Inject(redpacktest.Fault{Kind: redpacktest.SystemErrorAfterCommit})
	req := lanternPacket(redpack.NewBillNo(redpacktest.DefaultMchID))
	_, err := client.SendRedPack(ctx, req)
	var u *redpack.UnknownOutcomeError
	if errors.As(err, &u) {
		fmt.Println("unknown outcome for the stored bill number:", u.MchBillNo == req.MchBillNo)
	}

	// Either query it...
	info, err := client.QueryRedPack(ctx, req.MchBillNo)
	if err == nil && info.Status.Definite() {
		fmt.Println("query: definite, paid =", info.Status.Paid())
	}
	// ...or re-send exactly the same request.
	if _, err := client.SendRedPack(ctx, req); err == nil {
		fmt.Println("re-send: success")
	}
	fmt.Println("paid in total:", srv.Paid(redpacktest.DefaultMchID), "fen")
	// Output:
	// unknown outcome for the stored bill number: true
	// query: definite, paid = true
	// re-send: success
	// paid in total: 1000 fen
}

func ExampleSign() {
	// WeChat's published example (签名算法).
	params := map[string]string{
		"appid":       "wxd930ea5d5a258f4f",
		"mch_id":      "10000100",
		"device_info": "1000",
		"body":        "test",
		"nonce_str":   "ibuaiVcKdpRxkhJA",
	}
	fmt.Println(redpack.Sign(params, "192006250b4c09247ec02edce69f6a2d", redpack.SignMD5))
	fmt.Println(redpack.Sign(params, "192006250b4c09247ec02edce69f6a2d", redpack.SignHMACSHA256))
	// Output:
	// 9A0A8659F005D6984697E2CA0A9CF3B7
	// 6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6
}

func ExampleNewBillNo() {
	bill := redpack.NewBillNo("1900000109")
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")
	fmt.Println(len(bill), bill[:18] == "1900000109"+today)
	// Output:
	// 28 true
}
