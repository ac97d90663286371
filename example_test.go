package redpack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"golang.org/x/time/rate"

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
	req := lanternPacket(redpack.NewBillNo())
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
		MchBillNo:   redpack.NewBillNo(),
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
		MchBillNo:        redpack.NewBillNo(),
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
		MchBillNo:        redpack.NewBillNo(),
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

	req := lanternPacket(redpack.NewBillNo())
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
	fmt.Println(info.Status, info.HBType, info.TotalAmount, info.Status.Outcome())
	for _, r := range info.Receivers {
		fmt.Println(r.OpenID, r.Amount)
	}

	// No record yet is not a refusal: a status whose outcome is unknown.
	info, err = client.QueryRedPack(ctx, "1900000109209901019999999999")
	fmt.Println(info.Status, info.Status.Outcome(), err)
	// Output:
	// RECEIVED NORMAL 1000 paid
	// oUpF8uMuAJO_M2pxb1Q9zNjWeS6o 1000
	// NOT_FOUND unknown <nil>
}

// Errors come in three kinds: the client refused the request (nothing
// sent), WeChat refused it (this request paid nothing), or the outcome is
// unknown. OutcomeOf says which, with unknown for anything it does not
// recognise.
func ExampleOutcomeOf() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID, redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1}))
	ctx := context.Background()

	tooMuch := lanternPacket(redpack.NewBillNo())
	tooMuch.TotalAmount = 30000 // ¥300 needs a scene_id
	_, err := client.SendRedPack(ctx, tooMuch)
	fmt.Println(redpack.OutcomeOf(err), "—", err)

	_ = srv.SetBalance(redpacktest.DefaultMchID, 0)
	_, err = client.SendRedPack(ctx, lanternPacket(redpack.NewBillNo()))
	fmt.Println(redpack.OutcomeOf(err), errors.Is(err, redpack.CodeNotEnough))
	_ = srv.SetBalance(redpacktest.DefaultMchID, 1_000_000)

	_ = srv.Inject(redpacktest.Fault{Kind: redpacktest.SystemErrorAfterCommit})
	_, err = client.SendRedPack(ctx, lanternPacket(redpack.NewBillNo()))
	fmt.Println(redpack.OutcomeOf(err), errors.Is(err, redpack.CodeSystemError))
	// Output:
	// not paid — redpack: invalid total_amount: must be 100 to 20000 fen without a scene_id, got 30000
	// not paid true
	// unknown false
}

// An *APIError is WeChat's refusal of one request, the same type after one
// attempt or after retries. It proves nothing was paid under the bill
// number only if the bill number was never sent before.
func ExampleAPIError() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID)
	_ = srv.SetBalance(redpacktest.DefaultMchID, 0)

	_, err := client.SendRedPack(context.Background(), lanternPacket(redpack.NewBillNo()))
	var apiErr *redpack.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Op, apiErr.ErrCode, apiErr.Attempts)
	}
	// Output:
	// sendredpack NOTENOUGH 1
}

// An unknown outcome keeps WeChat's unclear answer as a field; it never
// matches as a refusal.
func ExampleUnknownOutcomeError() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID, redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1}))

	// WeChat pays, then answers SYSTEMERROR.
	_ = srv.Inject(redpacktest.Fault{Kind: redpacktest.SystemErrorAfterCommit})
	req := lanternPacket(redpack.NewBillNo())
	_, err := client.SendRedPack(context.Background(), req)
	var u *redpack.UnknownOutcomeError
	if errors.As(err, &u) {
		fmt.Println(u.MchBillNo == req.MchBillNo, u.Answer.ErrCode)
	}
	var apiErr *redpack.APIError
	fmt.Println(errors.As(err, &apiErr))
	// Output:
	// true SYSTEMERROR
	// false
}

// Settle settles an unknown outcome: it queries first, and re-sends the
// stored request unchanged only when WeChat has no record of it.
func ExampleClient_Settle() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID, redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1}))
	ctx := context.Background()

	// WeChat pays, then answers SYSTEMERROR.
	_ = srv.Inject(redpacktest.Fault{Kind: redpacktest.SystemErrorAfterCommit})
	req := lanternPacket(redpack.NewBillNo())
	_, err := client.SendRedPack(ctx, req)
	fmt.Println(redpack.OutcomeOf(err))

	s, err := client.Settle(ctx, req)
	if err != nil {
		log.Fatal(err) // only an invalid request
	}
	switch s.Outcome {
	case redpack.OutcomePaid:
		fmt.Println("paid:", s.Status, s.SendListID != "", "re-sent:", s.Resent)
	case redpack.OutcomeNotPaid:
		fmt.Println("not paid:", s.Advice)
	default:
		fmt.Println("still unknown:", s.Advice)
	}
	fmt.Println("paid in total:", srv.Paid(redpacktest.DefaultMchID), "fen")
	// Output:
	// unknown
	// paid: SENT true re-sent: false
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
	bill := redpack.NewBillNo() // store it under a UNIQUE constraint before sending
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")
	fmt.Println(len(bill), bill[:8] == today)
	// Output:
	// 28 true
}

func ExampleFormatBillNo() {
	// seq comes from the merchant's own database, never a process counter.
	day := time.Date(2025, 1, 1, 12, 0, 0, 0, time.FixedZone("CST", 8*3600))
	bill, err := redpack.FormatBillNo("1900000109", day, 1234567890)
	fmt.Println(bill, err)
	_, err = redpack.FormatBillNo("19000001090001", day, 1)
	fmt.Println(err != nil)
	// Output:
	// 1900000109202501011234567890 <nil>
	// true
}

// A limiter shared by every client of the merchant, here a plain
// *rate.Limiter; a campaign run on several machines passes one held in its
// database. Every attempt waits on it, retries included.
func ExampleWithLimiter() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	shared := rate.NewLimiter(28, 1) // just under WeChat's 30 a second
	a, _ := srv.Client(redpacktest.DefaultMchID, redpack.WithLimiter(shared))
	b, _ := srv.Client(redpacktest.DefaultMchID, redpack.WithLimiter(shared))
	for _, c := range []*redpack.Client{a, b} {
		_, err := c.SendRedPack(context.Background(), lanternPacket(redpack.NewBillNo()))
		fmt.Println(redpack.OutcomeOf(err))
	}
	// Output:
	// paid
	// paid
}

// Past ResendWindow from a bill number's first send, settle by query
// alone: WeChat would answer a re-send that the bill number has expired.
func ExampleQueryOnly() {
	srv, _ := redpacktest.NewServer()
	defer srv.Close()
	client, _ := srv.Client(redpacktest.DefaultMchID)
	req := lanternPacket(redpack.NewBillNo())
	firstSent := time.Now().Add(-25 * time.Hour) // from your own records

	var opts []redpack.SettleOption
	if time.Since(firstSent) >= redpack.ResendWindow {
		opts = append(opts, redpack.QueryOnly())
	}
	s, _ := client.Settle(context.Background(), req, opts...)
	fmt.Println(s.Outcome, s.Status, s.Resent)
	// Output:
	// unknown NOT_FOUND false
}

// The merchant's notify_url: the handler verifies each payment
// notification (signature, mch_id, appid) before fn sees it, and answers
// WeChat's SUCCESS only when fn returns nil. Here a notification is made
// and signed as WeChat would, and posted to the handler.
func ExampleClient_PaymentNotifyHandler() {
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /wechat/notify", client.PaymentNotifyHandler(func(ctx context.Context, n *redpack.PaymentNotification) error {
		// Idempotent by n.TransactionID: WeChat delivers more than once.
		fmt.Printf("%s paid %d fen (%d in cash) at %s\n", n.OpenID, n.TotalFee, n.CashFee, n.TimeEnd.Format(time.DateTime))
		return nil
	}))

	fields := map[string]string{
		"return_code": "SUCCESS", "appid": redpacktest.DefaultAppID, "mch_id": redpacktest.DefaultMchID,
		"nonce_str": "5d2b6c2a8db53831f7eda20af46e531c", "result_code": "SUCCESS", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		"trade_type": "JSAPI", "bank_type": "CMC", "total_fee": "12000", "cash_fee": "12000",
		"transaction_id": "4200001234202612061234567890", "out_trade_no": "ORDER20261206001", "time_end": "20261206101112",
	}
	fields["sign"] = redpack.Sign(fields, redpacktest.DefaultAPIKey, redpack.SignMD5)
	var body strings.Builder
	body.WriteString("<xml>")
	for k, v := range fields {
		body.WriteString("<" + k + "><![CDATA[" + v + "]]></" + k + ">")
	}
	body.WriteString("</xml>")

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/wechat/notify", strings.NewReader(body.String())))
	fmt.Println(w.Body.String())
	// Output:
	// oUpF8uMuAJO_M2pxb1Q9zNjWeS6o paid 12000 fen (12000 in cash) at 2026-12-06 10:11:12
	// <xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>
}

// ParsePaymentNotification refuses a notification whose signature does not
// verify, before any field is trusted.
func ExampleClient_ParsePaymentNotification() {
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	forged := `<xml><return_code>SUCCESS</return_code><appid>` + redpacktest.DefaultAppID + `</appid><mch_id>` +
		redpacktest.DefaultMchID + `</mch_id><result_code>SUCCESS</result_code><total_fee>1000000</total_fee>` +
		`<sign>9A0A8659F005D6984697E2CA0A9CF3B7</sign></xml>`
	_, err = client.ParsePaymentNotification(context.Background(), []byte(forged))
	fmt.Println(errors.Is(err, redpack.ErrNotificationSignature))
	fmt.Println(err)
	// Output:
	// true
	// redpack: notification signature does not verify: sign: checked as MD5
}

// A refund notification is not signed: only WeChat, which holds the API
// key, can encrypt its req_info, so one that does not decrypt is refused.
func ExampleClient_ParseRefundNotification() {
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	forged := `<xml><return_code>SUCCESS</return_code><appid>` + redpacktest.DefaultAppID + `</appid><mch_id>` +
		redpacktest.DefaultMchID + `</mch_id><req_info>bm90IFdlQ2hhdCBjaXBoZXJ0ZXh0LCAzMiBieXRlcy4=</req_info></xml>`
	n, err := client.ParseRefundNotification(context.Background(), []byte(forged))
	if errors.Is(err, redpack.ErrNotificationSignature) {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println(n.RefundStatus, n.RefundFee)
	// Output:
	// refused: redpack: notification signature does not verify: req_info: does not decrypt with the API key
}

// Before money goes out on a payment notification, confirm the order from
// WeChat's side: QueryOrder's answer is signed with the API key and
// verified, and names the order asked about. Here redpacktest plays the
// user's payment.
func ExampleClient_QueryOrder() {
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client(redpacktest.DefaultMchID, redpack.WithSignType(redpack.SignHMACSHA256))
	if err != nil {
		log.Fatal(err)
	}
	paid, err := srv.Pay(redpacktest.PaymentRequest{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", TotalFee: 12000, OutTradeNo: "ORDER20261206001"})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	o, err := client.QueryOrder(ctx, redpack.OrderQuery{TransactionID: paid.TransactionID})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.Paid(), o.OutTradeNo, o.TotalFee, o.OpenID)

	_, err = client.QueryOrder(ctx, redpack.OrderQuery{OutTradeNo: "NO-SUCH-ORDER"})
	fmt.Println(errors.Is(err, redpack.CodeOrderNotExist))
	// Output:
	// true ORDER20261206001 12000 oUpF8uMuAJO_M2pxb1Q9zNjWeS6o
	// true
}
