package redpacktest

import (
	"net/url"
)

// BizRedPacket holds the arguments a mini-program passes to
// wx.sendBizRedPacket to open a packet sent with sendminiprogramhb (spec
// §2.7). Its JSON names are the front end's, so the JSON a back end hands
// its mini-program decodes into it as it is.
type BizRedPacket struct {
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"` // URL-encoded
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// The retmsg values WeChat documents for wx.sendBizRedPacket.
const (
	BizRetMsgSign    = "签名失败"     // paySign does not verify
	BizRetMsgFormat  = "参数格式校验错误" // a missing or malformed argument
	BizRetMsgClaimed = "已经绑定过红包"  // the packet was opened already
	BizRetMsgExpired = "已经过期"     // the packet was refunded, or is being
)

// BizRedPacketError is wx.sendBizRedPacket's failure: a non-zero retcode
// with one of the BizRetMsg texts. WeChat documents no retcode values, so
// only the message is modelled.
type BizRedPacketError struct {
	RetMsg string
}

// Error implements error.
func (e *BizRedPacketError) Error() string {
	return "redpacktest: wx.sendBizRedPacket: " + e.RetMsg
}

// OpenBizRedPacket plays the mini-program side of a mini-program packet:
// WeChat's wx.sendBizRedPacket. It finds the packet by its package, checks
// the arguments the way the server-side recipe says (paySign is MD5 over
// appId, nonceStr, package as sent, URL-encoded, and timeStamp, sorted,
// with &key= and the merchant's API key; signType is not signed) and, when
// they hold, the packet's user receives it: the packet goes from SENT to
// RECEIVED, as a Claim would. The appid signed is the one in the package.
//
// The recipe is the one SDKs and write-ups use; WeChat's page does not
// spell it out (spec §2.7), so the fake server checks it independently of
// package redpack rather than sharing its code.
func (h *Handler) OpenBizRedPacket(p BizRedPacket) error {
	_, err := h.openBizRedPacket(p)
	return err
}

// openBizRedPacket is OpenBizRedPacket, returning the packet it opened.
func (h *Handler) openBizRedPacket(p BizRedPacket) (Packet, error) {
	fail := func(msg string) (Packet, error) { return Packet{}, &BizRedPacketError{RetMsg: msg} }
	if p.SignType != "MD5" || p.PaySign == "" || p.NonceStr == "" || len(p.NonceStr) > 32 || !isDigits(p.TimeStamp) {
		return fail(BizRetMsgFormat)
	}
	raw, err := url.QueryUnescape(p.Package)
	if err != nil || raw == p.Package {
		// The package travels URL-encoded; a raw one has '=' and '&' in it.
		return fail(BizRetMsgFormat)
	}
	fields, err := url.ParseQuery(raw)
	if err != nil {
		return fail(BizRetMsgFormat)
	}
	mchID, appID := fields.Get("mchid"), fields.Get("appid")

	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock.now()
	h.settleLocked(now)
	a := h.accounts[mchID]
	if a == nil {
		return fail(BizRetMsgFormat)
	}
	var r *record
	for _, c := range h.order {
		if c.MchID == mchID && c.Package == raw { // raw is not empty: checked above
			r = c
			break
		}
	}
	if r == nil || r.WxAppID != appID {
		return fail(BizRetMsgFormat)
	}
	signed := map[string]string{"appId": appID, "nonceStr": p.NonceStr, "package": p.Package, "timeStamp": p.TimeStamp}
	want := signature(signed, []string{"appId", "nonceStr", "package", "timeStamp"}, a.APIKey, false)
	if !signMatches(want, p.PaySign) {
		return fail(BizRetMsgSign)
	}
	switch r.Status {
	case StatusSent:
		if err := r.claim(now, nil); err != nil {
			return Packet{}, err
		}
		return r.snapshot(), nil
	case StatusReceived:
		return fail(BizRetMsgClaimed)
	case StatusRefunding, StatusRefund:
		return fail(BizRetMsgExpired)
	}
	return fail(BizRetMsgFormat) // SENDING or FAILED: nothing to open
}
