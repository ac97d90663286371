// Command miniprogram is the back end of a mini-program red packet: it pays
// the packet with SendMiniProgramRedPack and serves the wx.sendBizRedPacket
// arguments to the mini-program as JSON, all against redpacktest, the fake
// WeChat Pay server, started in-process: no account needed.
//
//	go run ./examples/miniprogram
//
// The mini-program side is one call with what GET /redpack/{bill} returns:
//
//	const params = await request(`/redpack/${bill}`)
//	wx.sendBizRedPacket({ ...params, success() { … }, fail(err) { … } })
//
// Here the fake server plays that call (OpenBizRedPacket), checking paySign
// with its own code, as WeChat would.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

// miniAppID is the mini-program's appid; the client itself is built with
// the Official Account appid, so every mini-program request names it.
const miniAppID = redpacktest.DefaultMiniProgramAppID

// backend pays packets and remembers their results, as a real service
// would in its database, so that the mini-program can ask for a packet's
// arguments when the user taps it.
type backend struct {
	client *redpack.Client
	mu     sync.Mutex
	paid   map[string]*redpack.MiniProgramResult // by bill number
}

func (b *backend) pay(ctx context.Context, openID string, fen int64) (string, error) {
	req := &redpack.SendMiniProgramRedPackRequest{
		MiniProgramAppID: miniAppID,
		MchBillNo:        redpack.NewBillNo(), // store it before sending
		SendName:         "示例科技",
		ReOpenID:         openID,
		TotalAmount:      fen,
		Wishing:          "感谢参与",
		ActName:          "小程序活动",
		Remark:           "打开小程序领取",
	}
	res, err := b.client.SendMiniProgramRedPack(ctx, req)
	if err != nil {
		// An unknown outcome (errors.Is(err, redpack.ErrUnknownOutcome))
		// is settled with b.client.Settle(ctx, req), never a new bill
		// number.
		return "", err
	}
	b.mu.Lock()
	b.paid[req.MchBillNo] = res
	b.mu.Unlock()
	return req.MchBillNo, nil
}

// ServeHTTP answers GET /redpack/{bill} with the wx.sendBizRedPacket
// arguments. A real service checks first that the caller is the packet's
// user.
func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	res := b.paid[r.PathValue("bill")]
	b.mu.Unlock()
	if res == nil {
		http.NotFound(w, r)
		return
	}
	params, err := b.client.BizRedPacketParams(res) // fresh timeStamp and nonceStr each time
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(params)
}

func main() {
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	b := &backend{client: client, paid: make(map[string]*redpack.MiniProgramResult)}
	bill, err := b.pay(ctx, "oMiniAbCdEfGhIjKlMnOpQrStUvW", 888)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paid", bill)

	mux := http.NewServeMux()
	mux.Handle("GET /redpack/{bill}", b)
	api := httptest.NewServer(mux)
	defer api.Close()

	// The mini-program asks for the packet's arguments…
	resp, err := http.Get(api.URL + "/redpack/" + bill)
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		log.Fatalf("GET /redpack/%s: %d %s %v", bill, resp.StatusCode, body, err)
	}
	fmt.Printf("the mini-program receives %s", body)

	// …and calls wx.sendBizRedPacket with them.
	var args redpacktest.BizRedPacket
	if err := json.Unmarshal(body, &args); err != nil {
		log.Fatal(err)
	}
	if err := srv.OpenBizRedPacket(args); err != nil {
		log.Fatalf("wx.sendBizRedPacket: %v", err)
	}
	mini, err := client.ForAppID(miniAppID) // query under the appid it was sent with
	if err != nil {
		log.Fatal(err)
	}
	info, err := mini.QueryRedPack(ctx, bill)
	if err != nil {
		log.Fatal(err)
	}
	if info.Status != redpack.StatusReceived || len(info.Receivers) != 1 {
		log.Fatalf("the packet is %s with %d receivers", info.Status, len(info.Receivers))
	}
	fmt.Printf("opened: %s is %s, %d fen to %s\n", bill, info.Status, info.Receivers[0].Amount, info.Receivers[0].OpenID)
}
