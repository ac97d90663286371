package redpack

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// SceneID is the scene a packet is sent for (scene_id). WeChat requires one,
// enabled for the merchant in the console (产品中心 → 现金红包 → 产品设置), for
// any amount below 1 or above 200 CNY.
type SceneID string

// The documented scenes.
const (
	SceneProductPromotion SceneID = "PRODUCT_1" // 商品促销
	SceneLottery          SceneID = "PRODUCT_2" // 抽奖
	SceneVirtualPrize     SceneID = "PRODUCT_3" // 虚拟物品兑奖
	SceneEmployeeBenefit  SceneID = "PRODUCT_4" // 企业内部福利
	SceneChannelShare     SceneID = "PRODUCT_5" // 渠道分润
	SceneInsuranceRebate  SceneID = "PRODUCT_6" // 保险回馈
	SceneLotteryPayout    SceneID = "PRODUCT_7" // 彩票派奖
	SceneTaxScratchPrize  SceneID = "PRODUCT_8" // 税务刮奖
)

func (s SceneID) valid() bool {
	return len(s) == len("PRODUCT_1") && strings.HasPrefix(string(s), "PRODUCT_") && s[8] >= '1' && s[8] <= '8'
}

// RiskInfo is optional anti-fraud data about the user action behind a
// packet (risk_info). Empty fields are left out; values may not hold "&"
// or "=", which would forge other keys.
type RiskInfo struct {
	PostTime      time.Time // when the user acted
	Mobile        string    // "86-13800000000": country code, dash, number, no "+"
	DeviceID      string    // MAC address or another unique device id
	ClientVersion string    // version of the client the user acted in
}

// encode renders r as WeChat documents it: the non-empty k=v pairs joined by
// &, then URL-encoded as a whole (with lower-case escapes, as WeChat's own
// example). The encoded form is what is sent and signed.
func (r *RiskInfo) encode() string {
	if r == nil {
		return ""
	}
	var pairs []string
	if !r.PostTime.IsZero() {
		pairs = append(pairs, "posttime="+strconv.FormatInt(r.PostTime.Unix(), 10))
	}
	for _, kv := range [...][2]string{{"mobile", r.Mobile}, {"deviceid", r.DeviceID}, {"clientversion", r.ClientVersion}} {
		if kv[1] != "" {
			pairs = append(pairs, kv[0]+"="+kv[1])
		}
	}
	if len(pairs) == 0 {
		return ""
	}
	esc := []byte(url.QueryEscape(strings.Join(pairs, "&")))
	for i := 0; i+2 < len(esc); i++ {
		if esc[i] == '%' {
			esc[i+1], esc[i+2] = lowerHex(esc[i+1]), lowerHex(esc[i+2])
		}
	}
	return string(esc)
}

// check refuses values that would change the pairs WeChat decodes: an
// "&" or "=" in a value forges another key (a DeviceID of
// "x&mobile=1" would send a second mobile).
func (r *RiskInfo) check() error {
	for _, kv := range [...][2]string{{"mobile", r.Mobile}, {"deviceid", r.DeviceID}, {"clientversion", r.ClientVersion}} {
		if strings.ContainsAny(kv[1], "&=") {
			return &ValidationError{Field: "risk_info", Reason: fmt.Sprintf("its %s holds \"&\" or \"=\", which would forge another key", kv[0])}
		}
	}
	if strings.HasPrefix(r.Mobile, "+") {
		return &ValidationError{Field: "risk_info", Reason: `its mobile is "country code-number" without "+", e.g. 86-13800000000`}
	}
	return nil
}

func lowerHex(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + ('a' - 'A')
	}
	return c
}

// SendRedPackRequest is a normal red packet for one user (sendredpack).
// https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon.php?chapter=13_4&index=3
//
// Store the request, bill number included, before sending it: if the
// outcome is unknown, Client.Settle settles it with exactly this request.
type SendRedPackRequest struct {
	MchBillNo   string // required: 1–28 letters or digits, unique per merchant; see NewBillNo
	SendName    string // required: the sender's name shown to the user, ≤32 bytes
	ReOpenID    string // required: the user's openid under the client's appid
	TotalAmount int64  // required: fen; 100–20000 (1–200 CNY) unless SceneID is set
	Wishing     string // required: blessing text, ≤128 bytes
	ClientIP    string // required: IPv4 address of the calling machine
	ActName     string // required: activity name, ≤32 bytes
	Remark      string // required: remark, ≤256 bytes

	SceneID      SceneID   // optional; required for amounts outside 1–200 CNY
	RiskInfo     *RiskInfo // optional
	ConsumeMchID string    // optional: the funding merchant, for service providers
}

// SendGroupRedPackRequest is a fission (group) red packet (sendgroupredpack):
// the first user shares it and TotalNum users split TotalAmount at random.
// WeChat took this product offline on 2024-06-05; the call remains for
// merchants whose accounts still accept it.
// https://pay.weixin.qq.com/wiki/doc/api/tools/cash_coupon.php?chapter=13_5&index=4
type SendGroupRedPackRequest struct {
	MchBillNo   string // required: as SendRedPackRequest
	SendName    string // required
	ReOpenID    string // required: the seed user, who receives first
	TotalAmount int64  // required: fen, for the whole group
	TotalNum    int    // required: 3–20 receivers, the seed user included
	Wishing     string // required
	ActName     string // required
	Remark      string // required

	SceneID      SceneID   // optional; required for an average outside 1–200 CNY
	RiskInfo     *RiskInfo // optional
	ConsumeMchID string    // optional
}

// SendResult is WeChat's answer to a successful send: the packet is paid.
type SendResult struct {
	MchBillNo   string
	MchID       string
	WxAppID     string
	ReOpenID    string
	TotalAmount int64  // fen
	SendListID  string // WeChat's packet number (detail_id in queries)
}

// Amount limits, in fen.
const (
	minAmount      = 100    // 1 CNY: below it WeChat requires a scene
	maxAmount      = 20000  // 200 CNY: above it WeChat requires a scene
	minSceneAmount = 30     // 0.30 CNY: the lowest floor a scene can be given
	maxSceneAmount = 499900 // 4999 CNY: the per-packet ceiling a scene allows
	maxGroupShare  = 100000 // 1000 CNY: the most one share of a group packet may hold
)

// SendRedPack sends a normal red packet. On success the packet is paid.
//
// OutcomeOf(err) says what an error proves. OutcomeUnknown
// (errors.Is(err, ErrUnknownOutcome), an *UnknownOutcomeError) means it may
// have been paid: settle it with Settle, never under a new bill number. A
// *ValidationError means nothing was sent; an *APIError is WeChat's refusal
// of this request, which proves nothing was paid only if the bill number
// was never sent before.
func (c *Client) SendRedPack(ctx context.Context, req *SendRedPackRequest) (*SendResult, error) {
	if req == nil {
		return nil, &ValidationError{Field: "request", Reason: "is nil"}
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	ps := make([]param, 0, 16)
	ps = append(ps,
		param{"act_name", req.ActName},
		param{"client_ip", req.ClientIP},
		param{"consume_mch_id", req.ConsumeMchID},
		param{"mch_billno", req.MchBillNo},
		param{"re_openid", req.ReOpenID},
		param{"remark", req.Remark},
		param{"risk_info", req.RiskInfo.encode()},
		param{"scene_id", string(req.SceneID)},
		param{"send_name", req.SendName},
		param{"total_amount", strconv.FormatInt(req.TotalAmount, 10)},
		param{"total_num", "1"},
		param{"wishing", req.Wishing},
		param{"wxappid", c.appID},
	)
	sent := SendResult{MchBillNo: req.MchBillNo, WxAppID: c.appID, ReOpenID: req.ReOpenID, TotalAmount: req.TotalAmount}
	return c.sendPacket(ctx, opSendRedPack, sent, ps, nil)
}

// SendGroupRedPack sends a fission red packet. Errors are as SendRedPack's.
func (c *Client) SendGroupRedPack(ctx context.Context, req *SendGroupRedPackRequest) (*SendResult, error) {
	if req == nil {
		return nil, &ValidationError{Field: "request", Reason: "is nil"}
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	ps := make([]param, 0, 16)
	ps = append(ps,
		param{"act_name", req.ActName},
		param{"amt_type", "ALL_RAND"},
		param{"consume_mch_id", req.ConsumeMchID},
		param{"mch_billno", req.MchBillNo},
		param{"re_openid", req.ReOpenID},
		param{"remark", req.Remark},
		param{"risk_info", req.RiskInfo.encode()},
		param{"scene_id", string(req.SceneID)},
		param{"send_name", req.SendName},
		param{"total_amount", strconv.FormatInt(req.TotalAmount, 10)},
		param{"total_num", strconv.Itoa(req.TotalNum)},
		param{"wishing", req.Wishing},
		param{"wxappid", c.appID},
	)
	sent := SendResult{MchBillNo: req.MchBillNo, WxAppID: c.appID, ReOpenID: req.ReOpenID, TotalAmount: req.TotalAmount}
	return c.sendPacket(ctx, opSendGroupRedPack, sent, ps, nil)
}

// sendPacket runs a send through the request path and reads its result,
// starting from sent: the bill number, appid, openid and amount sent, which
// the answer's echoes must match. If pkg is not nil the answer must carry a
// mini-program package, stored there.
func (c *Client) sendPacket(ctx context.Context, op operation, sent SendResult, ps []param, pkg *string) (*SendResult, error) {
	sent.MchID = c.mchID
	res := &SendResult{}
	err := c.do(ctx, op, sent.MchBillNo, ps, func(root *etree.Element) error {
		*res = sent
		if pkg != nil {
			*pkg = ""
		}
		namesBill := false
		for e := range root.ChildElementsSeq() {
			switch e.Tag {
			case "mch_billno":
				// judge has refused another bill number.
				namesBill = e.Text() != ""
			case "mch_id":
				// Not compared: with consume_mch_id, which merchant WeChat
				// names here is not documented.
				if v := e.Text(); v != "" {
					res.MchID = v
				}
			case "wxappid":
				// The appid sent stays the result's: paySign is signed for it.
				if v := e.Text(); v != "" && v != sent.WxAppID {
					return fieldError(e.Tag, v, "is not the appid sent")
				}
			case "re_openid":
				if v := e.Text(); v != "" && v != sent.ReOpenID {
					return fieldError(e.Tag, v, "is not the openid sent")
				}
			case "send_listid":
				res.SendListID = e.Text()
			case "package":
				if pkg != nil {
					*pkg = e.Text()
				}
			case "total_amount":
				n, err := parseInt64(e.Tag, e.Text())
				if err != nil {
					return err
				}
				if n != sent.TotalAmount {
					return fieldError(e.Tag, e.Text(), "is not the amount sent")
				}
			}
		}
		// A success must say which bill it is about and which packet it
		// paid, as a query's must: a bare SUCCESS (a gateway's, a stub's)
		// proves nothing about this bill.
		if !namesBill {
			return fieldError("mch_billno", "", "is missing from a successful answer")
		}
		if res.SendListID == "" {
			return fieldError("send_listid", "", "is missing from a successful answer")
		}
		if pkg != nil && *pkg == "" {
			// WeChat said SUCCESS, but a packet the user cannot open is not
			// a result: the caller re-sends (the answer to a repeated bill
			// number carries the package) or queries, as for any unclear
			// answer.
			return fieldError("package", "", "is missing from a successful mini-program answer")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Validate reports the first field WeChat would refuse, as a
// *ValidationError naming the wire field, or nil. SendRedPack calls it
// before sending; call it yourself to check a request before storing it.
func (r *SendRedPackRequest) Validate() error {
	if err := checkCommon(r.MchBillNo, r.SendName, r.ReOpenID, r.Wishing, r.ActName, r.Remark, r.SceneID, r.RiskInfo, r.ConsumeMchID); err != nil {
		return err
	}
	if err := checkAmount(r.TotalAmount, r.SceneID); err != nil {
		return err
	}
	if r.ClientIP == "" {
		return &ValidationError{Field: "client_ip", Reason: "is required"}
	}
	var canon [len("255.255.255.255")]byte
	if ip, err := netip.ParseAddr(r.ClientIP); err != nil || !ip.Is4() || string(ip.AppendTo(canon[:0])) != r.ClientIP {
		return &ValidationError{Field: "client_ip", Reason: fmt.Sprintf("%q is not an IPv4 address like 192.168.0.1", r.ClientIP)}
	}
	return nil
}

// Validate is SendRedPackRequest.Validate for group packets.
func (r *SendGroupRedPackRequest) Validate() error {
	if err := checkCommon(r.MchBillNo, r.SendName, r.ReOpenID, r.Wishing, r.ActName, r.Remark, r.SceneID, r.RiskInfo, r.ConsumeMchID); err != nil {
		return err
	}
	if r.TotalNum < 3 || r.TotalNum > 20 {
		return &ValidationError{Field: "total_num", Reason: fmt.Sprintf("a group packet has 3 to 20 receivers, got %d", r.TotalNum)}
	}
	// WeChat checks the average per receiver against the per-packet range.
	n := int64(r.TotalNum)
	lo, hi := amountRange(r.SceneID)
	hi = min(hi, maxGroupShare)
	if r.TotalAmount < lo*n || r.TotalAmount > hi*n {
		return &ValidationError{Field: "total_amount", Reason: fmt.Sprintf(
			"the average per receiver must be %d to %d fen%s; %d fen for %d receivers is outside that",
			lo, hi, sceneNote(r.SceneID), r.TotalAmount, r.TotalNum)}
	}
	return nil
}

// amountRange is the fen one packet may hold: 1–200 CNY, or with a scene
// from 0.30 CNY (the lowest floor a scene can have) up to the 4999 CNY
// ceiling; the scene's own limits, set in the merchant console, are checked
// by WeChat.
func amountRange(scene SceneID) (lo, hi int64) {
	if scene == "" {
		return minAmount, maxAmount
	}
	return minSceneAmount, maxSceneAmount
}

func sceneNote(scene SceneID) string {
	if scene == "" {
		return " without a scene_id"
	}
	return " with a scene_id"
}

// checkAmount applies WeChat's per-packet range to a normal packet's fen.
func checkAmount(fen int64, scene SceneID) error {
	lo, hi := amountRange(scene)
	if fen < lo || fen > hi {
		return &ValidationError{Field: "total_amount", Reason: fmt.Sprintf(
			"must be %d to %d fen%s, got %d", lo, hi, sceneNote(scene), fen)}
	}
	return nil
}

// checkCommon checks the fields every send shares.
func checkCommon(billNo, sendName, openID, wishing, actName, remark string, scene SceneID, risk *RiskInfo, consumeMchID string) error {
	if err := checkBillNo(billNo); err != nil {
		return err
	}
	for _, f := range [...]struct {
		name, value string
		max         int
	}{
		{"send_name", sendName, 32},
		{"re_openid", openID, 32},
		{"wishing", wishing, 128},
		{"act_name", actName, 32},
		{"remark", remark, 256},
	} {
		if err := checkText(f.name, f.value, f.max, true); err != nil {
			return err
		}
	}
	if scene != "" && !scene.valid() {
		return &ValidationError{Field: "scene_id", Reason: fmt.Sprintf("%q is not PRODUCT_1 to PRODUCT_8", string(scene))}
	}
	if risk != nil {
		if err := risk.check(); err != nil {
			return err
		}
		if err := checkText("risk_info", risk.encode(), 128, false); err != nil {
			return err
		}
	}
	if consumeMchID != "" && (len(consumeMchID) > 32 || !isAlnum(consumeMchID)) {
		return &ValidationError{Field: "consume_mch_id", Reason: "must be at most 32 letters or digits"}
	}
	return nil
}

// checkAppID checks an appid's shape, for ForAppID and mini-program
// requests; whether it is bound to the merchant only WeChat knows.
func checkAppID(appID string) error {
	if appID == "" {
		return &ValidationError{Field: "wxappid", Reason: "is required"}
	}
	if len(appID) > 32 || !isAlnum(appID) {
		return &ValidationError{Field: "wxappid", Reason: "must be at most 32 letters or digits"}
	}
	return nil
}

func checkBillNo(billNo string) error {
	switch {
	case billNo == "":
		return &ValidationError{Field: "mch_billno", Reason: "is required"}
	case len(billNo) > 28:
		return &ValidationError{Field: "mch_billno", Reason: fmt.Sprintf("is %d characters, at most 28 allowed", len(billNo))}
	case !isAlnum(billNo):
		return &ValidationError{Field: "mch_billno", Reason: "may hold only 0-9, a-z and A-Z"}
	}
	return nil
}

// checkText checks a text field's presence, its length in UTF-8 bytes (as
// WeChat counts) and that it holds no control characters, which XML cannot
// carry and which would break the signature.
func checkText(field, v string, max int, required bool) error {
	if v == "" {
		if required {
			return &ValidationError{Field: field, Reason: "is required"}
		}
		return nil
	}
	if len(v) > max {
		return &ValidationError{Field: field, Reason: fmt.Sprintf("is %d bytes, at most %d allowed (a Chinese character is 3)", len(v), max)}
	}
	if !utf8.ValidString(v) {
		return &ValidationError{Field: field, Reason: "is not valid UTF-8"}
	}
	if strings.IndexFunc(v, notXMLChar) >= 0 {
		return &ValidationError{Field: field, Reason: "holds a control character or a character XML cannot carry"}
	}
	return nil
}

// notXMLChar reports a rune that XML 1.0 documents cannot hold (or, for
// tab and newlines, that WeChat's fields have no use for): sent anyway,
// WeChat would answer XML_ERROR.
func notXMLChar(r rune) bool {
	return unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// billNoRandom is how many random characters NewBillNo puts after the
// date: 20 of [0-9A-Z], about 103 bits.
const billNoRandom = 20

// NewBillNo returns a new bill number: the date (yyyymmdd, China time)
// followed by 20 random digits and upper-case letters from crypto/rand, 28
// characters in all. With about 103 random bits, numbers made by any number
// of processes and machines, without coordination, do not collide: as the
// date is part of the number, only numbers of one day can, and a billion a
// day for a century gives odds of a collision below one in 500 million. One
// letter case only, so that a database column compared case-insensitively
// (MySQL's default) still keeps them apart.
//
// A bill number is an idempotency key: store it with the request under a
// UNIQUE constraint before sending, and settle an unknown outcome under the
// same number. For WeChat's all-digit form, see FormatBillNo.
func NewBillNo() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var b [8 + billNoRandom]byte
	time.Now().In(chinaTime).AppendFormat(b[:0], "20060102")
	var pool [64]byte
	n := 8
	for n < len(b) {
		_, _ = rand.Read(pool[:]) // never fails (crypto/rand panics rather)
		for _, c := range pool {
			// 252 = 7 × 36: rejecting the rest keeps every character
			// equally likely.
			if c < 252 && n < len(b) {
				b[n] = alphabet[c%36]
				n++
			}
		}
	}
	return string(b[:])
}

// FormatBillNo returns a bill number in the all-digit form WeChat's pages
// suggest: mch_id, the date (yyyymmdd, China time) and seq as 10 digits. The
// sequence must be unique per merchant and day, and it is the caller's to
// draw, from its own database (a sequence or an auto-increment key), never
// from a process-local counter, which repeats across restarts and
// processes. It fails if mchID is not all digits, if seq has more than 10
// digits, or if the result would exceed WeChat's 28 characters (an mch_id
// over 10 digits).
func FormatBillNo(mchID string, day time.Time, seq uint64) (string, error) {
	if mchID == "" || !isDigits(mchID) {
		return "", &ValidationError{Field: "mch_billno", Reason: fmt.Sprintf("FormatBillNo: mch_id %q is not all digits", mchID)}
	}
	if seq >= 10_000_000_000 {
		return "", &ValidationError{Field: "mch_billno", Reason: fmt.Sprintf("FormatBillNo: sequence %d has more than 10 digits", seq)}
	}
	if n := len(mchID) + 18; n > 28 {
		return "", &ValidationError{Field: "mch_billno", Reason: fmt.Sprintf("FormatBillNo: mch_id %s + yyyymmdd + 10 digits is %d characters, at most 28 allowed; use NewBillNo", mchID, n)}
	}
	return mchID + day.In(chinaTime).Format("20060102") + fmt.Sprintf("%010d", seq), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
