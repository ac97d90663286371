package redpacktest

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"
)

// AdminHandler returns the control API of the Handler: plain HTTP with JSON
// in and out, for tests written in any language against a standalone fake
// server (the redpack command's fake-server serves it on its
// --admin-addr). It reads the ledger, claims packets, moves the clock,
// scripts faults, sets balances and resets the Handler, as the Go methods
// of the same names do. Serve it on loopback only: it has no
// authentication. A request carrying an Origin header (a browser's), or a
// Host header other than a loopback address or localhost (a rebound DNS
// name), is refused, so that a web page can neither drive nor read it.
//
// The routes (times are RFC 3339, written in China time; amounts are fen;
// durations are Go durations such as "90s" or "25h"):
//
//	GET  /                              summary: clock, merchant ids, counts
//	GET  /packets[?mch_id=]             every packet, in send order
//	GET  /packets/{mch_billno}[?mch_id=] one packet (mch_id needed only if two merchants used the bill number)
//	POST /packets/{mch_billno}/claim    {"openids": ["o…", …], "mch_id": "…"}, both optional → the packet
//	POST /biz-red-packet                the wx.sendBizRedPacket arguments a mini-program got from its back end,
//	                                    {"timeStamp", "nonceStr", "package", "signType", "paySign"} →
//	                                    {"retcode": 0, "retmsg": "ok", "packet": …} once opened, or
//	                                    {"retcode": -1, "retmsg": "签名失败"} (see OpenBizRedPacket)
//	GET  /merchants                     every merchant with balance and paid (never the API key)
//	GET  /merchants/{mch_id}            one merchant
//	PUT  /merchants/{mch_id}/balance    {"balance": 100000} → the merchant
//	GET  /clock                         {"now": "…"}
//	PUT  /clock                         {"now": "2025-01-01T12:00:00+08:00"} → {"now": "…"}; never back before the last packet was sent
//	POST /clock/advance                 {"duration": "25h"} → {"now": "…"}; never a negative duration
//	GET  /faults                        the faults no request has taken yet
//	POST /faults                        a fault or an array of them → the pending faults
//	GET  /requests                      every request received (a body's SHA-256 and root element, never the body)
//	POST /reset                         see Reset → the summary
//	POST /payments                      a payment (below) → the payment; its notification is delivered in the background
//	GET  /payments                      every payment with its deliveries, in creation order
//	GET  /payments/{transaction_id}     one payment
//	POST /payments/{transaction_id}/notify  deliver its notification once, now, outside the schedule → the delivery
//	POST /payments/{transaction_id}/refund  {"refund_fee", "out_refund_no", "notify_url"}, all optional → the refund
//	POST /deliveries/wait               wait until every delivery due was made and answered → every payment
//
// PUT /clock and POST /clock/advance, like POST /deliveries/wait, answer
// once the notification deliveries that fell due were made and answered
// (at most a minute), so a script reads their outcome next; POST /payments
// and POST …/refund answer at once.
//
// A payment request is {"openid", "total_fee", "mch_id", "appid",
// "cash_fee", "out_trade_no", "time_end" (yyyyMMddHHmmss, China time),
// "notify_url", "sign_type" (MD5 or HMAC-SHA256), "omit_sign_type",
// "attach", "copies", "delay", "hold_until_next"}, all but openid and
// total_fee optional, meaning what PaymentRequest's and DeliveryFaults'
// fields do; a refund request takes "copies", "delay" and
// "hold_until_next" too. A payment answers {"mch_id", "appid", "openid",
// "transaction_id", "out_trade_no", "total_fee", "cash_fee",
// "trade_state", "time_end", "notify_url", "sign_type", "delivered",
// "next_delivery", "refunds": [{"refund_id", "out_refund_no",
// "refund_fee", "success_time", "delivered", "next_delivery", …}],
// "deliveries": [{"kind" (payment or refund), "refund_id", "attempt" (0
// for /notify), "copy", "due", "time", "http_status", "return_code",
// "error", "success"}]}.
//
// A fault is {"kind": "SystemErrorAfterCommit", "op": "sendredpack",
// "mch_billno": "…", "delay": "2s", "hold": "1m", "reason": "…",
// "err_code": "…", "err_code_des": "…"}: kind is a FaultKind name, the
// other fields are optional and mean what Fault's do.
//
// A packet is {"mch_id", "mch_billno", "detail_id", "kind" (NORMAL, GROUP or
// MINIPROGRAM), "hb_type", "status" (SENDING, SENT, FAILED, RECEIVED,
// RFUND_ING, REFUND), "reason", "paid", "wxappid", "re_openid",
// "total_amount", "total_num", "scene_id", "send_name", "wishing",
// "act_name", "remark", "send_time", "receivers": [{"openid", "amount",
// "time"}], "refund_time", "refund_amount", "package"}; empty optional
// fields are left out.
//
// Every error is {"error": "…"} (application/json) with status 400 (a bad
// request), 403 (a request from a web page or a non-loopback Host), 404 (no
// such route, packet, payment or merchant), 405 (a method the route does not take;
// the Allow header lists those it does) or 409 (a bill number used by two
// merchants, a packet that cannot be claimed, PUT /clock to the past
// while the ledger holds packets, a refund beyond the amount paid, or
// /notify for a payment without notify_url); 504 when deliveries are still
// running after a minute.
func (h *Handler) AdminHandler() http.Handler {
	routes := []struct {
		method, path string
		serve        http.HandlerFunc
	}{
		{"GET", "/{$}", h.adminSummary},
		{"GET", "/packets", h.adminPackets},
		{"GET", "/packets/{billno}", h.adminPacket},
		{"POST", "/packets/{billno}/claim", h.adminClaim},
		{"POST", "/biz-red-packet", h.adminOpenBizRedPacket},
		{"GET", "/merchants", h.adminMerchants},
		{"GET", "/merchants/{mchid}", h.adminMerchant},
		{"PUT", "/merchants/{mchid}/balance", h.adminSetBalance},
		{"GET", "/clock", h.adminClock},
		{"PUT", "/clock", h.adminSetClock},
		{"POST", "/clock/advance", h.adminAdvance},
		{"GET", "/faults", h.adminFaults},
		{"POST", "/faults", h.adminInject},
		{"GET", "/requests", h.adminRequests},
		{"GET", "/payments", h.adminPayments},
		{"POST", "/payments", h.adminPay},
		{"GET", "/payments/{txid}", h.adminPayment},
		{"POST", "/payments/{txid}/notify", h.adminNotify},
		{"POST", "/payments/{txid}/refund", h.adminRefund},
		{"POST", "/deliveries/wait", h.adminWaitDeliveries},
		{"POST", "/reset", h.adminReset},
	}
	mux := http.NewServeMux()
	var paths []string
	methods := make(map[string][]string)
	for _, rt := range routes {
		mux.HandleFunc(rt.method+" "+rt.path, rt.serve)
		if methods[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
	}
	// The mux's own 404 and 405 are plain text; these catch the same
	// requests first (a pattern without a method matches any method, one
	// with a method wins where it matches) and answer in JSON.
	for _, p := range paths {
		allow := strings.Join(methods[p], ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			adminError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed; use %s", r.Method, r.URL.Path, allow))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		adminError(w, http.StatusNotFound, fmt.Sprintf("no such route: %s %s", r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			adminError(w, http.StatusForbidden, "requests from web pages are refused")
			return
		}
		if !loopbackHost(r.Host) {
			// A web page whose name was rebound to 127.0.0.1 sends its own
			// name as Host: refused, so it cannot read the ledger either.
			adminError(w, http.StatusForbidden, "the control API answers only to a loopback address or localhost")
			return
		}
		if p := r.URL.Path; p != muxCleanPath(p) {
			// The mux would answer a redirect with an empty body, which a
			// script's JSON decoder cannot read.
			adminError(w, http.StatusNotFound, fmt.Sprintf("no such route: %s %s (a path has no empty, . or .. segments)", r.Method, p))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// muxCleanPath is p as net/http's ServeMux cleans it before routing: no
// doubled slash and no . or .. segment, a trailing slash kept.
func muxCleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// loopbackHost reports whether a Host header names this machine: a
// loopback IP or localhost, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// maxAdminBody bounds a control request's body.
const maxAdminBody = 64 << 10

type adminPacketJSON struct {
	MchID        string              `json:"mch_id"`
	MchBillNo    string              `json:"mch_billno"`
	DetailID     string              `json:"detail_id"`
	Kind         Kind                `json:"kind"`
	HBType       string              `json:"hb_type"`
	Status       Status              `json:"status"`
	Reason       string              `json:"reason,omitempty"`
	Paid         bool                `json:"paid"`
	WxAppID      string              `json:"wxappid"`
	ReOpenID     string              `json:"re_openid"`
	TotalAmount  int64               `json:"total_amount"`
	TotalNum     int                 `json:"total_num"`
	SceneID      string              `json:"scene_id,omitempty"`
	SendName     string              `json:"send_name,omitempty"`
	Wishing      string              `json:"wishing,omitempty"`
	ActName      string              `json:"act_name,omitempty"`
	Remark       string              `json:"remark,omitempty"`
	SendTime     string              `json:"send_time"`
	Receivers    []adminReceiverJSON `json:"receivers"`
	RefundTime   string              `json:"refund_time,omitempty"`
	RefundAmount int64               `json:"refund_amount,omitempty"`
	Package      string              `json:"package,omitempty"`
}

type adminReceiverJSON struct {
	OpenID string `json:"openid"`
	Amount int64  `json:"amount"`
	Time   string `json:"time"`
}

func packetJSON(p Packet) adminPacketJSON {
	out := adminPacketJSON{
		MchID: p.MchID, MchBillNo: p.MchBillNo, DetailID: p.DetailID,
		Kind: p.Kind, HBType: p.Kind.hbType(), Status: p.Status, Reason: p.Reason, Paid: p.Paid,
		WxAppID: p.WxAppID, ReOpenID: p.ReOpenID, TotalAmount: p.TotalAmount, TotalNum: p.TotalNum,
		SceneID: p.SceneID, SendName: p.SendName, Wishing: p.Wishing, ActName: p.ActName, Remark: p.Remark,
		SendTime:     adminTime(p.SendTime),
		Receivers:    make([]adminReceiverJSON, 0, len(p.Receivers)),
		RefundAmount: p.RefundAmount,
		Package:      p.Package,
	}
	for _, rc := range p.Receivers {
		out.Receivers = append(out.Receivers, adminReceiverJSON{OpenID: rc.OpenID, Amount: rc.Amount, Time: adminTime(rc.Time)})
	}
	if !p.RefundTime.IsZero() {
		out.RefundTime = adminTime(p.RefundTime)
	}
	return out
}

type adminMerchantJSON struct {
	MchID           string   `json:"mch_id"`
	AppID           string   `json:"appid"`
	AppIDs          []string `json:"appids"`
	MiniAppIDs      []string `json:"mini_program_appids"`
	AppAppIDs       []string `json:"app_appids"`
	Balance         int64    `json:"balance"`
	Paid            int64    `json:"paid"`
	Scenes          []string `json:"scenes"`
	SceneMinAmount  int64    `json:"scene_min_amount"`
	SceneMaxAmount  int64    `json:"scene_max_amount"`
	UserDailyCount  int      `json:"user_daily_count"`
	UserDailyAmount int64    `json:"user_daily_amount"`
	DailyAmount     int64    `json:"daily_amount"`
	AllowedIPs      []string `json:"allowed_ips"`
	GroupOffline    bool     `json:"group_offline"`
}

func (h *Handler) merchantJSON(m Merchant) adminMerchantJSON {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return adminMerchantJSON{
		MchID: m.MchID, AppID: m.AppID, AppIDs: nonNil(m.AppIDs), MiniAppIDs: nonNil(m.MiniProgramAppIDs), AppAppIDs: nonNil(m.AppAppIDs),
		Balance: m.Balance, Paid: h.Paid(m.MchID), Scenes: nonNil(m.Scenes),
		SceneMinAmount: m.SceneMinAmount, SceneMaxAmount: m.SceneMaxAmount,
		UserDailyCount: m.UserDailyCount, UserDailyAmount: m.UserDailyAmount, DailyAmount: m.DailyAmount,
		AllowedIPs: nonNil(m.AllowedIPs), GroupOffline: m.GroupOffline,
	}
}

type adminFaultJSON struct {
	Kind       string `json:"kind"`
	Op         string `json:"op,omitempty"`
	MchBillNo  string `json:"mch_billno,omitempty"`
	Delay      string `json:"delay,omitempty"`
	Hold       string `json:"hold,omitempty"`
	Reason     string `json:"reason,omitempty"`
	ErrCode    string `json:"err_code,omitempty"`
	ErrCodeDes string `json:"err_code_des,omitempty"`
}

func faultJSON(f Fault) adminFaultJSON {
	out := adminFaultJSON{Kind: f.Kind.String(), Op: f.Op, MchBillNo: f.MchBillNo,
		Reason: f.Reason, ErrCode: f.ErrCode, ErrCodeDes: f.ErrCodeDes}
	if f.Delay != 0 {
		out.Delay = f.Delay.String()
	}
	if f.Hold != 0 {
		out.Hold = f.Hold.String()
	}
	return out
}

func (j adminFaultJSON) fault() (Fault, error) {
	f := Fault{Op: j.Op, MchBillNo: j.MchBillNo, Reason: j.Reason, ErrCode: j.ErrCode, ErrCodeDes: j.ErrCodeDes}
	for k, name := range faultNames {
		if strings.EqualFold(name, j.Kind) {
			f.Kind = k
		}
	}
	if f.Kind == 0 {
		return f, fmt.Errorf("unknown fault kind %q; the kinds are %s", j.Kind, strings.Join(faultKindNames(), ", "))
	}
	for _, d := range []struct {
		name, s string
		to      *time.Duration
	}{{"delay", j.Delay, &f.Delay}, {"hold", j.Hold, &f.Hold}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return f, fmt.Errorf("fault %s: %w", d.name, err)
		}
		*d.to = v
	}
	return f, nil
}

func faultKindNames() []string {
	var names []string
	for k := SystemErrorBeforeCommit; k <= ErrCodeAnswer; k++ {
		names = append(names, k.String())
	}
	return names
}

type adminRequestJSON struct {
	Op         string `json:"op"`
	Path       string `json:"path"`
	Root       string `json:"root,omitempty"`
	MchID      string `json:"mch_id,omitempty"`
	MchBillNo  string `json:"mch_billno,omitempty"`
	ErrCode    string `json:"err_code,omitempty"`
	Fault      string `json:"fault,omitempty"`
	RemoteAddr string `json:"remote_addr"`
	Time       string `json:"time"`
	ClockTime  string `json:"clock_time"`
	BodyBytes  int    `json:"body_bytes"`
	BodySHA256 string `json:"body_sha256"`
}

type adminSummaryJSON struct {
	Now           string   `json:"now"`
	Merchants     []string `json:"merchants"`
	Packets       int      `json:"packets"`
	PendingFaults int      `json:"pending_faults"`
	Requests      int      `json:"requests"`
}

type adminClockJSON struct {
	Now string `json:"now"`
}

// adminTime writes t as WeChat's zone sees it, in RFC 3339.
func adminTime(t time.Time) string { return t.In(chinaTime).Format(time.RFC3339) }

func (h *Handler) adminSummary(w http.ResponseWriter, r *http.Request) {
	adminJSON(w, http.StatusOK, h.summary())
}

func (h *Handler) summary() adminSummaryJSON {
	s := adminSummaryJSON{Now: adminTime(h.Now()), Merchants: []string{}}
	for _, m := range h.Merchants() {
		s.Merchants = append(s.Merchants, m.MchID)
	}
	h.mu.Lock()
	s.Packets, s.PendingFaults, s.Requests = len(h.order), len(h.faults), len(h.requests)
	h.mu.Unlock()
	return s
}

func (h *Handler) adminPackets(w http.ResponseWriter, r *http.Request) {
	mch := r.URL.Query().Get("mch_id")
	out := []adminPacketJSON{}
	for _, p := range h.Packets() {
		if mch == "" || p.MchID == mch {
			out = append(out, packetJSON(p))
		}
	}
	adminJSON(w, http.StatusOK, out)
}

// findPacket finds the packet with the bill number, of the merchant mch or,
// if mch is empty, of the one merchant that has it. It writes the error
// itself.
func (h *Handler) findPacket(w http.ResponseWriter, mch, billNo string) (Packet, bool) {
	if mch != "" {
		p, ok := h.Packet(mch, billNo)
		if !ok {
			adminError(w, http.StatusNotFound, fmt.Sprintf("merchant %s has no packet %s", mch, billNo))
		}
		return p, ok
	}
	var found []Packet
	for _, m := range h.Merchants() {
		if p, ok := h.Packet(m.MchID, billNo); ok {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		adminError(w, http.StatusNotFound, fmt.Sprintf("no packet %s", billNo))
		return Packet{}, false
	case 1:
		return found[0], true
	}
	adminError(w, http.StatusConflict, fmt.Sprintf("%d merchants have a packet %s: say which with mch_id", len(found), billNo))
	return Packet{}, false
}

func (h *Handler) adminPacket(w http.ResponseWriter, r *http.Request) {
	if p, ok := h.findPacket(w, r.URL.Query().Get("mch_id"), r.PathValue("billno")); ok {
		adminJSON(w, http.StatusOK, packetJSON(p))
	}
}

func (h *Handler) adminClaim(w http.ResponseWriter, r *http.Request) {
	var in struct {
		MchID   string   `json:"mch_id"`
		OpenIDs []string `json:"openids"`
	}
	if !adminDecode(w, r, &in, true) {
		return
	}
	mch := cmp.Or(in.MchID, r.URL.Query().Get("mch_id"))
	p, ok := h.findPacket(w, mch, r.PathValue("billno"))
	if !ok {
		return
	}
	if err := h.Claim(p.MchID, p.MchBillNo, in.OpenIDs...); err != nil {
		adminError(w, http.StatusConflict, err.Error())
		return
	}
	p, _ = h.Packet(p.MchID, p.MchBillNo)
	adminJSON(w, http.StatusOK, packetJSON(p))
}

// adminOpenBizRedPacket plays wx.sendBizRedPacket. Its answer has the
// front end's retcode and retmsg; WeChat documents no retcode but 0, so a
// refusal is -1 with WeChat's retmsg text.
func (h *Handler) adminOpenBizRedPacket(w http.ResponseWriter, r *http.Request) {
	var in BizRedPacket
	if !adminDecode(w, r, &in, false) {
		return
	}
	type answer struct {
		RetCode int              `json:"retcode"`
		RetMsg  string           `json:"retmsg"`
		Packet  *adminPacketJSON `json:"packet,omitempty"`
	}
	p, err := h.openBizRedPacket(in)
	if err != nil {
		var be *BizRedPacketError
		if !errors.As(err, &be) {
			adminError(w, http.StatusInternalServerError, err.Error())
			return
		}
		adminJSON(w, http.StatusOK, answer{RetCode: -1, RetMsg: be.RetMsg})
		return
	}
	pj := packetJSON(p)
	adminJSON(w, http.StatusOK, answer{RetMsg: "ok", Packet: &pj})
}

func (h *Handler) adminMerchants(w http.ResponseWriter, r *http.Request) {
	out := []adminMerchantJSON{}
	for _, m := range h.Merchants() {
		out = append(out, h.merchantJSON(m))
	}
	adminJSON(w, http.StatusOK, out)
}

func (h *Handler) adminMerchant(w http.ResponseWriter, r *http.Request) {
	m, ok := h.Merchant(r.PathValue("mchid"))
	if !ok {
		adminError(w, http.StatusNotFound, fmt.Sprintf("no merchant %s", r.PathValue("mchid")))
		return
	}
	adminJSON(w, http.StatusOK, h.merchantJSON(m))
}

func (h *Handler) adminSetBalance(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Balance *int64 `json:"balance"`
	}
	if !adminDecode(w, r, &in, false) {
		return
	}
	id := r.PathValue("mchid")
	if _, ok := h.Merchant(id); !ok {
		adminError(w, http.StatusNotFound, fmt.Sprintf("no merchant %s", id))
		return
	}
	if in.Balance == nil {
		adminError(w, http.StatusBadRequest, `give the balance in fen: {"balance": 100000}`)
		return
	}
	if err := h.SetBalance(id, *in.Balance); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	m, _ := h.Merchant(id)
	adminJSON(w, http.StatusOK, h.merchantJSON(m))
}

func (h *Handler) adminClock(w http.ResponseWriter, r *http.Request) {
	adminJSON(w, http.StatusOK, adminClockJSON{Now: adminTime(h.Now())})
}

func (h *Handler) adminSetClock(w http.ResponseWriter, r *http.Request) {
	var in adminClockJSON
	if !adminDecode(w, r, &in, false) {
		return
	}
	t, err := time.Parse(time.RFC3339, in.Now)
	if err != nil {
		adminError(w, http.StatusBadRequest, fmt.Sprintf(`give "now" in RFC 3339, e.g. 2025-01-01T12:00:00+08:00: %v`, err))
		return
	}
	if !h.setTimeForward(t) {
		adminError(w, http.StatusConflict, fmt.Sprintf("the clock reads %s: moving it back before the last packet was sent would put it in the future; POST /reset first (on an empty ledger the clock may go anywhere)", adminTime(h.Now())))
		return
	}
	if !h.adminWait(w, r) {
		return
	}
	adminJSON(w, http.StatusOK, adminClockJSON{Now: adminTime(h.Now())})
}

func (h *Handler) adminAdvance(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Duration string `json:"duration"`
	}
	if !adminDecode(w, r, &in, false) {
		return
	}
	d, err := time.ParseDuration(in.Duration)
	if err != nil {
		adminError(w, http.StatusBadRequest, fmt.Sprintf(`give "duration" as a Go duration, e.g. "25h": %v`, err))
		return
	}
	if d < 0 {
		adminError(w, http.StatusBadRequest, fmt.Sprintf("duration %s: the clock only advances; to start over at an earlier time, POST /reset, then PUT /clock", d))
		return
	}
	h.Advance(d)
	if !h.adminWait(w, r) {
		return
	}
	adminJSON(w, http.StatusOK, adminClockJSON{Now: adminTime(h.Now())})
}

func (h *Handler) adminFaults(w http.ResponseWriter, r *http.Request) {
	out := []adminFaultJSON{}
	for _, f := range h.PendingFaults() {
		out = append(out, faultJSON(f))
	}
	adminJSON(w, http.StatusOK, out)
}

func (h *Handler) adminInject(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if !adminDecode(w, r, &raw, false) {
		return
	}
	var in []adminFaultJSON
	var err error
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		err = strictUnmarshal(raw, &in)
	} else {
		var one adminFaultJSON
		err = strictUnmarshal(raw, &one)
		in = []adminFaultJSON{one}
	}
	if err != nil {
		adminError(w, http.StatusBadRequest, "bad fault: "+err.Error())
		return
	}
	faults := make([]Fault, 0, len(in))
	for _, j := range in {
		f, err := j.fault()
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		faults = append(faults, f)
	}
	if err := h.Inject(faults...); err != nil {
		adminError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "redpacktest: "))
		return
	}
	h.adminFaults(w, r)
}

func (h *Handler) adminRequests(w http.ResponseWriter, r *http.Request) {
	out := []adminRequestJSON{}
	for _, q := range h.Requests() {
		sum := sha256.Sum256(q.Body)
		j := adminRequestJSON{
			Op: q.Op, Path: q.Path, Root: q.Root, MchID: q.MchID, MchBillNo: q.MchBillNo, ErrCode: q.ErrCode,
			RemoteAddr: q.RemoteAddr, Time: q.Time.Format(time.RFC3339Nano), ClockTime: adminTime(q.ClockTime),
			BodyBytes: len(q.Body), BodySHA256: hex.EncodeToString(sum[:]),
		}
		if q.Fault != 0 {
			j.Fault = q.Fault.String()
		}
		out = append(out, j)
	}
	adminJSON(w, http.StatusOK, out)
}

func (h *Handler) adminReset(w http.ResponseWriter, r *http.Request) {
	h.Reset()
	adminJSON(w, http.StatusOK, h.summary())
}

// adminDecode reads the request's JSON body into v, strictly; an empty body
// is allowed when emptyOK. It writes the error itself.
func adminDecode(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		adminError(w, http.StatusBadRequest, "read body: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return true
		}
		adminError(w, http.StatusBadRequest, "a JSON body is needed")
		return false
	}
	if err := strictUnmarshal(body, v); err != nil {
		adminError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return false
	}
	return true
}

func strictUnmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value")
	}
	return nil
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	// Not HTML-escaped: a package's '&' stays readable in a terminal.
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		adminError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body.Bytes())
}

func adminError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
