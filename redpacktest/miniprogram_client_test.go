package redpacktest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/redpack-go/redpack"
)

func miniReq(bill string, amount int64) *redpack.SendMiniProgramRedPackRequest {
	return &redpack.SendMiniProgramRedPackRequest{
		MiniProgramAppID: DefaultMiniProgramAppID,
		MchBillNo:        bill,
		SendName:         "示例科技",
		ReOpenID:         "oMiniAbCdEfGhIjKlMnOpQrStUvW",
		TotalAmount:      amount,
		Wishing:          "感谢参与",
		ActName:          "小程序活动",
		Remark:           "备注",
	}
}

// TestClientMiniProgram pays a mini-program packet with the redpack client
// and opens it with the front-end arguments the client builds: the server
// checks paySign with its own recipe.
func TestClientMiniProgram(t *testing.T) {
	s := Start(t, WithClock(chinaNoon))
	c := newClient(t, s, DefaultMchID)
	ctx := context.Background()
	bill := redpack.NewBillNo()

	res, err := c.SendMiniProgramRedPack(ctx, miniReq(bill, 150))
	if err != nil {
		t.Fatal(err)
	}
	p := mustPacket(t, s, DefaultMchID, bill)
	if p.Kind != KindMiniProgram || res.Package != p.Package || res.SendListID != p.DetailID ||
		res.WxAppID != DefaultMiniProgramAppID || res.TotalAmount != 150 || s.Paid(DefaultMchID) != 150 {
		t.Fatalf("result %+v, packet %+v", res, p)
	}

	// Re-sending the stored request pays nothing more and gives the same package.
	again, err := c.SendMiniProgramRedPack(ctx, miniReq(bill, 150))
	if err != nil || again.Package != res.Package || s.Paid(DefaultMchID) != 150 {
		t.Fatalf("re-entry: %+v, %v, paid %d", again, err, s.Paid(DefaultMchID))
	}
	_, err = c.SendMiniProgramRedPack(ctx, miniReq(bill, 151))
	wantAPICode(t, err, redpack.CodeFatalError)

	// The back end hands the front end JSON; the front end calls
	// wx.sendBizRedPacket with it.
	params, err := c.BizRedPacketParams(res)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	var args BizRedPacket
	if err := json.Unmarshal(raw, &args); err != nil {
		t.Fatal(err)
	}
	if args.SignType != "MD5" || args.PaySign == "" || args.Package == res.Package {
		t.Fatalf("front-end arguments %s", raw)
	}
	if err := s.OpenBizRedPacket(args); err != nil {
		t.Fatalf("the server refuses the SDK's paySign: %v (arguments %s)", err, raw)
	}

	// Queried under the mini-program's appid, the packet is received.
	mini, err := c.ForAppID(DefaultMiniProgramAppID)
	if err != nil {
		t.Fatal(err)
	}
	info, err := mini.QueryRedPack(ctx, bill)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != redpack.StatusReceived || len(info.Receivers) != 1 || info.Receivers[0].Amount != 150 {
		t.Errorf("query: %+v", info)
	}
}

// TestClientMiniProgramUnknownOutcome: a mini-program send goes through
// the same retries as any send, and an unclear attempt stays unknown.
func TestClientMiniProgramUnknownOutcome(t *testing.T) {
	s := Start(t, WithClock(chinaNoon))
	c := newClient(t, s, DefaultMchID, noRetry)
	bill := redpack.NewBillNo()
	mustInject(t, s, Fault{Kind: SystemErrorAfterCommit, Op: "sendminiprogramhb"})

	_, err := c.SendMiniProgramRedPack(context.Background(), miniReq(bill, 100))
	var u *redpack.UnknownOutcomeError
	if !errors.As(err, &u) || u.MchBillNo != bill || u.Op != "sendminiprogramhb" {
		t.Fatalf("err = %v, want an unknown outcome for %s", err, bill)
	}
	if s.Paid(DefaultMchID) != 100 {
		t.Fatalf("the fault commits first: paid %d", s.Paid(DefaultMchID))
	}
	// Re-sending the stored request settles it, paying nothing more.
	res, err := c.SendMiniProgramRedPack(context.Background(), miniReq(bill, 100))
	if err != nil || res.Package == "" || s.Paid(DefaultMchID) != 100 {
		t.Fatalf("settling: %+v, %v, paid %d", res, err, s.Paid(DefaultMchID))
	}
}
