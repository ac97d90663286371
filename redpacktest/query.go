package redpacktest

import "time"

// query answers gethbinfo; h.mu is held.
func (h *Handler) query(ep *endpoint, a *account, f map[string]string, now time.Time) *reply {
	if des := ep.checkFields(f); des != "" {
		return failure("PARAM_ERROR", des)
	}
	if f["bill_type"] != "MCHT" {
		return failure("PARAM_ERROR", desBillType)
	}
	if k := a.appKind(f["appid"]); k != appBound && k != appMiniProgram {
		return failure("PARAM_ERROR", desQueryAppID)
	}
	r := h.packets[packetKey{a.MchID, f["mch_billno"]}]
	// A packet is found under the appid it was sent with (spec §2.4: "the
	// same public appid used to send"); under another bound appid it is
	// answered as an unknown bill. WeChat does not say what it answers
	// there; NOT_FOUND is what a merchant's engineer expects, as the
	// packet, like its openid, belongs to one appid.
	if r == nil || r.WxAppID != f["appid"] || !now.Before(r.SendTime.Add(QueryWindow)) {
		return failure("NOT_FOUND", desNotFound)
	}
	rep := success(desQueryOK).with(
		str("mch_billno", r.MchBillNo),
		str("mch_id", r.MchID),
		str("detail_id", r.DetailID),
		str("status", string(r.Status)),
		str("send_type", "API"),
		str("hb_type", r.Kind.hbType()),
		num("total_num", int64(r.TotalNum)),
		num("total_amount", r.TotalAmount),
	)
	if r.Reason != "" {
		rep.with(str("reason", r.Reason))
	}
	rep.with(str("send_time", wechatTime(r.SendTime)))
	if !r.RefundTime.IsZero() {
		rep.with(str("refund_time", wechatTime(r.RefundTime)), num("refund_amount", r.RefundAmount))
	}
	for _, fd := range []field{str("wishing", r.Wishing), str("remark", r.Remark), str("act_name", r.ActName)} {
		if fd.value != "" {
			rep.with(fd)
		}
	}
	for _, rc := range r.Receivers {
		rep.hblist = append(rep.hblist, []field{
			str("openid", rc.OpenID),
			num("amount", rc.Amount),
			str("rcv_time", wechatTime(rc.Time)),
		})
	}
	return rep
}
