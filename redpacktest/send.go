package redpacktest

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// send judges and carries out a send; h.mu is held.
func (h *Handler) send(ep *endpoint, a *account, f map[string]string, now time.Time, fault *Fault) *reply {
	if ep.kind == KindGroup && a.GroupOffline {
		// WeChat does not document what it answers since the product went
		// offline; NO_AUTH (no permission) is a definite refusal, so a
		// client settles it as not paid, as it should.
		return failure("NO_AUTH", desGroupOffline)
	}
	if des := ep.checkFields(f); des != "" {
		return failure("PARAM_ERROR", des)
	}
	switch a.appKind(f["wxappid"]) {
	case appUnbound:
		return failure("PARAM_ERROR", desAppIDMismatch)
	case appMobile:
		return failure("ILLEGAL_APPID", desIllegalAppID)
	case appMiniProgram:
		if ep.kind != KindMiniProgram {
			// sendredpack and sendgroupredpack want the Official Account's
			// appid (spec §2.1, §3.6); WeChat's text for this is not
			// documented.
			return failure("ILLEGAL_APPID", desMiniAppID)
		}
	}
	if m := f["msgappid"]; m != "" && a.appKind(m) != appBound {
		return failure("MSGAPPID_ERROR", desMsgAppID)
	}
	if f["sub_mch_id"] != "" {
		// The fake merchants are not service providers with sub-merchants.
		return failure("ACCEPTMODE_ERROR", desAcceptMode)
	}
	if c := f["consume_mch_id"]; c != "" && c != a.MchID {
		return failure("NO_CONSUME_COMPETENCE", desNoConsume)
	}

	amount, _ := strconv.ParseInt(f["total_amount"], 10, 64) // digits, ≤10 of them: checked
	num, _ := strconv.ParseInt(f["total_num"], 10, 64)
	switch ep.kind {
	case KindGroup:
		if num < 3 || num > 20 {
			return failure("PARAM_ERROR", desTotalNumGroup)
		}
		if f["amt_type"] != "ALL_RAND" {
			return failure("PARAM_ERROR", desAmtType)
		}
	default:
		if num != 1 {
			return failure("PARAM_ERROR", desTotalNumOne)
		}
	}
	if ep.kind == KindMiniProgram && f["notify_way"] != "MINI_PROGRAM_JSAPI" {
		return failure("PARAM_ERROR", desNotifyWay)
	}
	lo, hi := minPlainAmount, maxPlainAmount
	if s := f["scene_id"]; s != "" {
		if !slices.Contains(allScenes, s) {
			return failure("PARAM_ERROR", desSceneValue)
		}
		if !slices.Contains(a.Scenes, s) {
			return failure("PARAM_ERROR", desSceneClosed)
		}
		lo, hi = a.SceneMinAmount, a.SceneMaxAmount
	}
	if ep.kind == KindGroup {
		hi = min(hi, maxGroupShare)
	}
	if amount < lo*num || amount > hi*num {
		return failure("MONEY_LIMIT", fmt.Sprintf(desMoneyLimit, yuan(lo), yuan(hi)))
	}

	key := packetKey{a.MchID, f["mch_billno"]}
	if r := h.packets[key]; r != nil {
		return h.resend(r, f, amount, now)
	}

	r := h.newRecord(ep.kind, a, f, amount, int(num), now)
	if fault != nil && fault.Kind == ProcessingThenFail {
		// Accepted, never paid: it will fail once the hold ends.
		r.Status, r.holdUntil, r.failOnHold = StatusSending, now.Add(cmp.Or(fault.Hold, DefaultHold)), true
		r.failReason = cmp.Or(fault.Reason, desDefaultFailure)
		h.add(r)
		return sentReply(r)
	}

	// The daily caps (spec §8). A refused packet stays in the ledger as
	// FAILED with the reason, as WeChat's records show (spec §5.2).
	day := chinaDay(now)
	mchDay := a.MchID + "|" + day
	userDay := a.MchID + "|" + f["re_openid"] + "|" + day
	userShare := amount / num // a group counts against its seed user by the average share
	capFail := func(code, des string) *reply {
		r.Status, r.Reason = StatusFailed, des
		h.add(r)
		return failure(code, des)
	}
	switch {
	case h.daily[mchDay]+amount > a.DailyAmount:
		return capFail("SENDAMOUNT_LIMIT", desSendAmount)
	case h.userCount[userDay]+1 > a.UserDailyCount:
		return capFail("SENDNUM_LIMIT", desSendNumLimit)
	case h.userAmount[userDay]+userShare > a.UserDailyAmount:
		return capFail("RCVDAMOUNT_LIMIT", desRcvdAmount)
	}
	if a.Balance < amount {
		// Nothing recorded: the same bill number may be sent again after a
		// top-up.
		return failure("NOTENOUGH", desNotEnough)
	}

	a.Balance -= amount
	a.paid += amount
	h.daily[mchDay] += amount
	h.userCount[userDay]++
	h.userAmount[userDay] += userShare
	r.Paid = true
	r.Status = StatusSent
	if fault != nil && fault.Kind == ProcessingAfterCommit {
		r.Status, r.holdUntil = StatusSending, now.Add(cmp.Or(fault.Hold, DefaultHold))
	}
	h.add(r)
	return sentReply(r)
}

// resend answers a bill number seen before (spec §3.5): the original
// packet's state if the request matches it, nothing paid again.
func (h *Handler) resend(r *record, f map[string]string, amount int64, now time.Time) *reply {
	switch {
	case !now.Before(r.SendTime.Add(RefundAfter)):
		return failure("PARAM_ERROR", desExpired)
	case f["re_openid"] != r.ReOpenID:
		return failure("FATAL_ERROR", desOpenIDDiffers)
	case amount != r.TotalAmount:
		return failure("FATAL_ERROR", desAmountDiffers)
	}
	switch r.Status {
	case StatusSending:
		return failure("PROCESSING", desAccepted)
	case StatusFailed:
		return failure("SEND_FAILED", desSendFailed)
	}
	return sentReply(r)
}

// newRecord makes a packet for a new request; h.mu is held.
func (h *Handler) newRecord(kind Kind, a *account, f map[string]string, amount int64, num int, now time.Time) *record {
	h.seq++
	r := &record{Packet: Packet{
		MchID:       a.MchID,
		MchBillNo:   f["mch_billno"],
		DetailID:    fmt.Sprintf("1000041701%s3%012d", chinaDay(now), h.seq),
		Kind:        kind,
		WxAppID:     f["wxappid"],
		ReOpenID:    f["re_openid"],
		TotalAmount: amount,
		TotalNum:    num,
		SceneID:     f["scene_id"],
		SendName:    f["send_name"],
		Wishing:     f["wishing"],
		ActName:     f["act_name"],
		Remark:      f["remark"],
		SendTime:    now,
	}}
	switch kind {
	case KindGroup:
		r.shares = splitGroup(h.rng, amount, num)
	case KindMiniProgram:
		r.Package = "sendid=" + h.randHex(32) + "&ver=8&sign=" + h.randHex(20) +
			"&mchid=" + a.MchID + "&appid=" + f["wxappid"]
	}
	return r
}

func (h *Handler) randHex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(h.rng.Uint32())
	}
	return hex.EncodeToString(b)
}

func (h *Handler) add(r *record) {
	h.packets[packetKey{r.MchID, r.MchBillNo}] = r
	h.order = append(h.order, r)
	if r.Status != StatusFailed {
		h.open = append(h.open, r)
	}
}

// sentReply is a send's success answer for the packet (spec §9.1 Response
// 1, §9.4): the original packet's values, whichever request asked.
func sentReply(r *record) *reply {
	rep := success(desSuccess).with(
		str("mch_billno", r.MchBillNo),
		str("mch_id", r.MchID),
		str("wxappid", r.WxAppID),
		str("re_openid", r.ReOpenID),
		num("total_amount", r.TotalAmount),
		str("send_listid", r.DetailID),
	)
	if r.Package != "" {
		rep.with(str("package", r.Package))
	}
	return rep
}
