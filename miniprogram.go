package redpack

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
)

// SendMiniProgramRedPackRequest is a red packet for a mini-program user
// (sendminiprogramhb). WeChat does not deliver it: the answer carries a
// package that the mini-program hands to wx.sendBizRedPacket, which opens
// the packet for the user (see BizRedPacketParams).
// https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon_xcx.php?chapter=18_2&index=3
//
// A mini-program openid cannot receive a packet from SendRedPack, and the
// appid here is the mini-program's, never the Official Account appid the
// client was built with: so it is named in every request, where it cannot
// be taken by mistake from the client. To query a mini-program packet, use
// a client for the same appid: client.ForAppID(req.MiniProgramAppID).
//
// Store the request, bill number included, before sending it: if the
// outcome is unknown, Client.Settle settles it with exactly this request.
type SendMiniProgramRedPackRequest struct {
	MiniProgramAppID string // required: the mini-program's appid (wxappid), bound to the merchant
	MchBillNo        string // required: 1–28 letters or digits, unique per merchant; see NewBillNo
	SendName         string // required: the sender's name shown to the user, ≤32 bytes
	ReOpenID         string // required: the user's openid under the mini-program
	TotalAmount      int64  // required: fen; 100–20000 (1–200 CNY) unless SceneID is set
	Wishing          string // required: blessing text, ≤128 bytes
	ActName          string // required: activity name, ≤32 bytes
	Remark           string // required: remark, ≤256 bytes

	SceneID SceneID // optional; required for amounts outside 1–200 CNY
}

// MiniProgramResult is WeChat's answer to a successful mini-program send:
// the packet is paid, and waits for the user to open it through the
// mini-program with Package.
type MiniProgramResult struct {
	SendResult
	// Package is the package string as WeChat returned it, not yet
	// URL-encoded, e.g. "sendid=…&ver=8&sign=…&mchid=…&appid=…". The user
	// can open the packet with it for about 24 hours.
	Package string
}

var opSendMiniProgramRedPack = operation{name: "sendminiprogramhb", path: "mmpaymkttransfers/sendminiprogramhb", pays: true}

// SendMiniProgramRedPack sends a mini-program red packet. On success the
// packet is paid; give BizRedPacketParams(res) to the mini-program so the
// user can open it. Errors are as SendRedPack's. A SUCCESS answer without
// a package is treated as unclear, like any answer the client cannot use:
// it ends as an unknown outcome. Settle settles it; a re-send of a bill
// number known to be paid is answered with the package again.
func (c *Client) SendMiniProgramRedPack(ctx context.Context, req *SendMiniProgramRedPackRequest) (*MiniProgramResult, error) {
	if req == nil {
		return nil, &ValidationError{Field: "request", Reason: "is nil"}
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	ps := make([]param, 0, 16)
	ps = append(ps,
		param{"act_name", req.ActName},
		param{"mch_billno", req.MchBillNo},
		param{"notify_way", "MINI_PROGRAM_JSAPI"},
		param{"re_openid", req.ReOpenID},
		param{"remark", req.Remark},
		param{"scene_id", string(req.SceneID)},
		param{"send_name", req.SendName},
		param{"total_amount", strconv.FormatInt(req.TotalAmount, 10)},
		param{"total_num", "1"},
		param{"wishing", req.Wishing},
		param{"wxappid", req.MiniProgramAppID},
	)
	res := &MiniProgramResult{}
	sent := SendResult{MchBillNo: req.MchBillNo, WxAppID: req.MiniProgramAppID, ReOpenID: req.ReOpenID, TotalAmount: req.TotalAmount}
	got, err := c.sendPacket(ctx, opSendMiniProgramRedPack, sent, ps, &res.Package)
	if err != nil {
		return nil, err
	}
	res.SendResult = *got
	return res, nil
}

// Validate reports the first field WeChat would refuse, as a
// *ValidationError naming the wire field, or nil. SendMiniProgramRedPack
// calls it before sending.
func (r *SendMiniProgramRedPackRequest) Validate() error {
	if err := checkAppID(r.MiniProgramAppID); err != nil {
		return err
	}
	if err := checkCommon(r.MchBillNo, r.SendName, r.ReOpenID, r.Wishing, r.ActName, r.Remark, r.SceneID, nil, ""); err != nil {
		return err
	}
	return checkAmount(r.TotalAmount, r.SceneID)
}

// BizRedPacketParams are the arguments the mini-program passes to
// wx.sendBizRedPacket to open a packet, ready to be sent to the front end
// as JSON.
// https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon.php?chapter=18_3&index=4
type BizRedPacketParams struct {
	TimeStamp string `json:"timeStamp"` // seconds since 1970, as a string
	NonceStr  string `json:"nonceStr"`  // random, 32 characters
	Package   string `json:"package"`   // the result's Package, URL-encoded
	SignType  string `json:"signType"`  // always "MD5", the only type WeChat accepts
	PaySign   string `json:"paySign"`
}

// BizRedPacketParams builds what the mini-program needs to open the packet
// res was sent as: a fresh timestamp and nonce, the package URL-encoded,
// and paySign signed with the client's API key (see the recipe below).
// Call it when the front end asks for the packet; the package is valid for
// about 24 hours after the send.
//
// The paySign recipe is inferred, not documented by WeChat: its page shows
// a 40-character sample that no MD5 yields. Every SDK and write-up that
// implements it signs appId (the mini-program appid), nonceStr, package
// (in its URL-encoded form) and timeStamp, sorted by name and joined as
// k=v&…, with &key=APIKEY appended, MD5 in upper-case hex; signType is not
// signed. That recipe lives in paySign alone, so it is one function to
// change if WeChat ever says otherwise.
func (c *Client) BizRedPacketParams(res *MiniProgramResult) (*BizRedPacketParams, error) {
	if res == nil || res.Package == "" {
		return nil, &ValidationError{Field: "package", Reason: "is required: pass the result of SendMiniProgramRedPack"}
	}
	if err := checkAppID(res.WxAppID); err != nil {
		return nil, fmt.Errorf("redpack: the result's appid: %w", err)
	}
	p := &BizRedPacketParams{
		TimeStamp: strconv.FormatInt(c.now().Unix(), 10),
		NonceStr:  c.nonce(),
		Package:   url.QueryEscape(res.Package),
		SignType:  SignMD5.String(),
	}
	p.PaySign = paySign(res.WxAppID, p.NonceStr, p.Package, p.TimeStamp, c.apiKey.get())
	return p, nil
}
