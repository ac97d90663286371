package redpacktest

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// The paySign vector of spec §9.4: WeChat's sample package (URL-encoded),
// appId wxd27ebc41b85ce36d, nonceStr Ww213sdad, timeStamp 1514363815 and
// the spec's key.
const (
	specPackage  = "sendid%3D242e8abd163d300019b2cae74ba8e8c06e3f0e51ab84d16b3c80decd22a5b672%26ver%3D8%26sign%3D4110d649a5aef52dd6b95654ddf91ca7d5411ac159ace4e1a766b7d3967a1c3dfe1d256811445a4abda2d9cfa4a9b377a829258bd00d90313c6c346f2349fe5d%26mchid%3D11475856%26appid%3Dwxd27ebc41b85ce36d"
	specPaySign  = "89D724E4753F4400574062E016F012AF"
	specBizNonce = "Ww213sdad"
	specBizTime  = "1514363815"
)

// bizSign is the test's own paySign: testSign over the four front-end
// arguments.
func bizSign(appID, nonceStr, pkg, timeStamp, key string) string {
	return testSign(map[string]string{"appId": appID, "nonceStr": nonceStr, "package": pkg, "timeStamp": timeStamp}, key, false)
}

func TestPaySignVector(t *testing.T) {
	if got := bizSign(DefaultMiniProgramAppID, specBizNonce, specPackage, specBizTime, DefaultAPIKey); got != specPaySign {
		t.Errorf("test recipe: %s, want %s", got, specPaySign)
	}
	f := map[string]string{"appId": DefaultMiniProgramAppID, "nonceStr": specBizNonce, "package": specPackage, "timeStamp": specBizTime}
	if got := signature(f, []string{"appId", "nonceStr", "package", "timeStamp"}, DefaultAPIKey, false); got != specPaySign {
		t.Errorf("server recipe: %s, want %s", got, specPaySign)
	}
}

// sendMini pays a mini-program packet through the raw client and returns
// its bill number and package.
func sendMini(t *testing.T, f *fixture) (bill, pkg string) {
	t.Helper()
	bill = billNo()
	a := f.do("sendminiprogramhb", miniFields(bill, 100))
	wantCode(t, a, "SUCCESS", "")
	return bill, a.F["package"]
}

// frontEnd builds the arguments a back end hands its mini-program.
func frontEnd(pkg string) BizRedPacket {
	enc := url.QueryEscape(pkg)
	return BizRedPacket{
		TimeStamp: specBizTime, NonceStr: specBizNonce, Package: enc, SignType: "MD5",
		PaySign: bizSign(DefaultMiniProgramAppID, specBizNonce, enc, specBizTime, DefaultAPIKey),
	}
}

func wantRetMsg(t *testing.T, err error, msg string) {
	t.Helper()
	var be *BizRedPacketError
	if !errors.As(err, &be) || be.RetMsg != msg {
		t.Fatalf("err = %v, want retmsg %s", err, msg)
	}
}

func TestOpenBizRedPacket(t *testing.T) {
	f := newFixture(t)
	bill, pkg := sendMini(t, f)
	args := frontEnd(pkg)

	if err := f.s.OpenBizRedPacket(args); err != nil {
		t.Fatal(err)
	}
	p := mustPacket(t, f.s, DefaultMchID, bill)
	if p.Status != StatusReceived || len(p.Receivers) != 1 || p.Receivers[0].OpenID != p.ReOpenID || p.Receivers[0].Amount != 100 {
		t.Errorf("packet after opening: %+v", p)
	}
	if q := f.do("gethbinfo", with(queryFields(bill), "appid", DefaultMiniProgramAppID)); q.F["status"] != "RECEIVED" {
		t.Errorf("gethbinfo status %s", q.F["status"])
	}
	wantRetMsg(t, f.s.OpenBizRedPacket(args), BizRetMsgClaimed)
}

func TestOpenBizRedPacketRefusals(t *testing.T) {
	f := newFixture(t)
	bill, pkg := sendMini(t, f)
	good := frontEnd(pkg)
	change := func(edit func(*BizRedPacket)) BizRedPacket {
		a := good
		edit(&a)
		return a
	}
	tests := []struct {
		name string
		args BizRedPacket
		msg  string
	}{
		{"wrong key", change(func(a *BizRedPacket) {
			a.PaySign = bizSign(DefaultMiniProgramAppID, a.NonceStr, a.Package, a.TimeStamp, "00000000000000000000000000000000")
		}), BizRetMsgSign},
		{"signed over the raw package", change(func(a *BizRedPacket) {
			a.PaySign = bizSign(DefaultMiniProgramAppID, a.NonceStr, pkg, a.TimeStamp, DefaultAPIKey)
		}), BizRetMsgSign},
		{"signed with the Official Account appid", change(func(a *BizRedPacket) {
			a.PaySign = bizSign(DefaultAppID, a.NonceStr, a.Package, a.TimeStamp, DefaultAPIKey)
		}), BizRetMsgSign},
		{"timeStamp changed after signing", change(func(a *BizRedPacket) { a.TimeStamp = "1514363816" }), BizRetMsgSign},
		{"package not URL-encoded", change(func(a *BizRedPacket) { a.Package = pkg }), BizRetMsgFormat},
		{"signType HMAC-SHA256", change(func(a *BizRedPacket) { a.SignType = "HMAC-SHA256" }), BizRetMsgFormat},
		{"timeStamp in milliseconds format", change(func(a *BizRedPacket) { a.TimeStamp = "1514363815.5" }), BizRetMsgFormat},
		{"no nonceStr", change(func(a *BizRedPacket) { a.NonceStr = "" }), BizRetMsgFormat},
		{"unknown package", frontEnd("sendid=00&ver=8&sign=00&mchid=" + DefaultMchID + "&appid=" + DefaultMiniProgramAppID), BizRetMsgFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRetMsg(t, f.s.OpenBizRedPacket(tt.args), tt.msg)
		})
	}
	if p := mustPacket(t, f.s, DefaultMchID, bill); p.Status != StatusSent {
		t.Errorf("a refused opening changed the packet: %s", p.Status)
	}
	if err := f.s.OpenBizRedPacket(good); err != nil {
		t.Errorf("the good arguments after the refusals: %v", err)
	}
}

func TestOpenBizRedPacketExpired(t *testing.T) {
	f := newFixture(t)
	bill, pkg := sendMini(t, f)
	f.s.Advance(RefundAfter)
	wantRetMsg(t, f.s.OpenBizRedPacket(frontEnd(pkg)), BizRetMsgExpired)
	f.s.Advance(RefundLag + time.Minute)
	wantRetMsg(t, f.s.OpenBizRedPacket(frontEnd(pkg)), BizRetMsgExpired)
	if p := mustPacket(t, f.s, DefaultMchID, bill); p.Status != StatusRefund || p.RefundAmount != 100 {
		t.Errorf("packet %+v", p)
	}
}

// TestAdminOpenBizRedPacket drives OpenBizRedPacket through the control
// API, as a test in another language would with its back end's JSON.
func TestAdminOpenBizRedPacket(t *testing.T) {
	f := newFixture(t)
	ad := newAdmin(t, f.s.Handler)
	bill, pkg := sendMini(t, f)
	args := frontEnd(pkg)

	type answer struct {
		RetCode int              `json:"retcode"`
		RetMsg  string           `json:"retmsg"`
		Packet  *adminPacketJSON `json:"packet"`
	}
	var bad answer
	ad.ok("POST", "/biz-red-packet", mustJSON(t, BizRedPacket{
		TimeStamp: args.TimeStamp, NonceStr: args.NonceStr, Package: args.Package, SignType: "MD5", PaySign: "00",
	}), &bad)
	if bad.RetCode != -1 || bad.RetMsg != BizRetMsgSign || bad.Packet != nil {
		t.Errorf("bad paySign: %+v", bad)
	}
	var good answer
	ad.ok("POST", "/biz-red-packet", mustJSON(t, args), &good)
	if good.RetCode != 0 || good.Packet == nil || good.Packet.MchBillNo != bill || good.Packet.Status != StatusReceived {
		t.Errorf("opening: %+v", good)
	}
	var again answer
	ad.ok("POST", "/biz-red-packet", mustJSON(t, args), &again)
	if again.RetCode != -1 || again.RetMsg != BizRetMsgClaimed {
		t.Errorf("opening twice: %+v", again)
	}
	ad.fails("POST", "/biz-red-packet", `{"timeStamp": 1}`, http.StatusBadRequest)
}
