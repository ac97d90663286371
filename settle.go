package redpack

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PacketRequest is a send request that Settle can settle: a
// *SendRedPackRequest, *SendGroupRedPackRequest or
// *SendMiniProgramRedPackRequest. Other packages cannot implement it.
type PacketRequest interface {
	// Validate reports the first field WeChat would refuse.
	Validate() error

	// packet says what the request pays, under which bill number and appid.
	packet(c *Client) packetIdentity
	// send sends the request through c, returning a mini-program's package
	// too.
	send(ctx context.Context, c *Client) (*SendResult, string, error)
}

// packetIdentity is what a query's answer must match to be about the
// payment a request describes.
type packetIdentity struct {
	billNo, appID, openID string
	amount                int64
	num                   int
	group                 bool
	mini                  bool // the answer to a send carries a package
}

var (
	_ PacketRequest = (*SendRedPackRequest)(nil)
	_ PacketRequest = (*SendGroupRedPackRequest)(nil)
	_ PacketRequest = (*SendMiniProgramRedPackRequest)(nil)
)

func (r *SendRedPackRequest) packet(c *Client) packetIdentity {
	return packetIdentity{billNo: r.MchBillNo, appID: c.appID, openID: r.ReOpenID, amount: r.TotalAmount, num: 1}
}

func (r *SendRedPackRequest) send(ctx context.Context, c *Client) (*SendResult, string, error) {
	res, err := c.SendRedPack(ctx, r)
	return res, "", err
}

func (r *SendGroupRedPackRequest) packet(c *Client) packetIdentity {
	return packetIdentity{billNo: r.MchBillNo, appID: c.appID, openID: r.ReOpenID, amount: r.TotalAmount, num: r.TotalNum, group: true}
}

func (r *SendGroupRedPackRequest) send(ctx context.Context, c *Client) (*SendResult, string, error) {
	res, err := c.SendGroupRedPack(ctx, r)
	return res, "", err
}

func (r *SendMiniProgramRedPackRequest) packet(*Client) packetIdentity {
	return packetIdentity{billNo: r.MchBillNo, appID: r.MiniProgramAppID, openID: r.ReOpenID, amount: r.TotalAmount, num: 1, mini: true}
}

func (r *SendMiniProgramRedPackRequest) send(ctx context.Context, c *Client) (*SendResult, string, error) {
	res, err := c.SendMiniProgramRedPack(ctx, r)
	if err != nil {
		return nil, "", err
	}
	return &res.SendResult, res.Package, nil
}

// ResendWindow is how long after a bill number's first send Settle may
// re-send it. WeChat's support says a bill number expires after at most 24
// hours, answering 该订单已经过期 (expired); the hour's margin keeps a
// re-send clear of a full day. Past it, settle with QueryOnly. Should a
// bill number expire earlier, the re-send's expired answer leaves the
// outcome unknown, never "not paid".
const ResendWindow = 23 * time.Hour

// SettleOption changes how Settle settles a bill number.
type SettleOption func(*settleOptions)

type settleOptions struct {
	queryOnly bool
}

// QueryOnly makes Settle only query, never re-send: for a bill number whose
// first send is ResendWindow or more in the past, or when re-sending is not
// wanted.
func QueryOnly() SettleOption {
	return func(o *settleOptions) { o.queryOnly = true }
}

// Settlement is what Settle found out about a bill number.
type Settlement struct {
	// Outcome is OutcomePaid, OutcomeNotPaid or OutcomeUnknown; only the
	// first two are definite.
	Outcome   Outcome
	MchBillNo string
	// SendListID is WeChat's packet number when paid (detail_id).
	SendListID string
	// Status is the status the query reported (StatusNotFound when WeChat
	// had no record), or "" when the query got no answer.
	Status Status
	// Info is the query's answer, when there was one.
	Info *RedPackInfo
	// Resent reports whether the request was sent again: when the query
	// found no record, or, for a mini-program packet the query found SENT,
	// to fetch its package (WeChat answers a repeated bill number with the
	// first result and pays nothing more).
	Resent bool
	// Package is a paid mini-program packet's package, which its user
	// opens it with, when a re-send returned it.
	Package string
	// Err is what left the outcome unknown (the query's or the re-send's
	// error), or the SEND_FAILED refusal that settled it as not paid.
	Err error
	// Advice says, in one line, what to do next when the outcome is
	// unknown, or why it is not paid.
	Advice string
}

// Settle finds out whether the packet req describes was paid, for a bill
// number that may have been sent before with an unknown outcome. It never
// pays twice:
//
//  1. It queries the bill number (with the request's appid). A definite
//     status decides: SENT, RECEIVED, RFUND_ING or REFUND is paid, FAILED is
//     not paid. SENDING leaves it unknown. So does a packet whose kind,
//     amount, count or receiver is not the request's: the bill number holds
//     another payment. A mini-program packet found SENT is re-sent once to
//     fetch its package, which pays nothing more.
//  2. Only when WeChat has no record (NOT_FOUND) does it re-send req,
//     unchanged, unless QueryOnly was given. Success is paid; SEND_FAILED is
//     not paid. Any other refusal of the re-send (FREQ_LIMIT, SIGN_ERROR,
//     NO_AUTH, …) says nothing about the earlier send and leaves the outcome
//     unknown, and so does the expired answer (ErrBillExpired).
//
// Re-send only within ResendWindow of the bill number's first send; past
// it, pass QueryOnly. The error is non-nil only for a request that cannot be
// settled, a *ValidationError, and then nothing was sent; otherwise the
// Settlement says what is known, with Err and Advice when it is unknown.
func (c *Client) Settle(ctx context.Context, req PacketRequest, opts ...SettleOption) (*Settlement, error) {
	if isNilRequest(req) {
		return nil, &ValidationError{Field: "request", Reason: "is nil"}
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	var o settleOptions
	for _, opt := range opts {
		opt(&o)
	}
	id := req.packet(c)
	qc := c
	if id.appID != c.appID {
		var err error
		if qc, err = c.ForAppID(id.appID); err != nil {
			return nil, err
		}
	}
	s := &Settlement{MchBillNo: id.billNo}
	info, err := qc.QueryRedPack(ctx, id.billNo)
	if err != nil {
		s.Err = err
		s.Advice = "the query got no answer about the bill number: settle it again later"
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.ErrCode != "" && !errors.Is(err, CodeSystemError) && !errors.Is(err, CodeFreqLimit) {
			s.Advice = "WeChat refused the query (" + apiErr.ErrCode + "), which says nothing about the packet: fix the cause, then settle it again"
		}
		return s, nil
	}
	s.Info, s.Status = info, info.Status
	if info.Status != StatusNotFound {
		if why := id.mismatch(info); why != "" {
			s.Advice = "the bill number holds another payment (" + why + "): it was used twice; check your bill numbers before anything else"
			return s, nil
		}
		switch s.Outcome = info.Status.Outcome(); s.Outcome {
		case OutcomePaid:
			s.SendListID = info.DetailID
			if id.mini && info.Status == StatusSent {
				s.fetchPackage(ctx, c, req)
			}
		case OutcomeNotPaid:
			s.Advice = "WeChat reports the packet FAILED (" + info.Reason + "): it may be paid again under a new bill number"
		default:
			s.Advice = fmt.Sprintf("WeChat reports status %s: query it again in a few minutes", info.Status)
		}
		return s, nil
	}
	if o.queryOnly {
		s.Advice = "WeChat has no record of the bill number, and it was not re-sent: query it again later; never pay it under a new bill number without a definite not-paid status"
		return s, nil
	}
	res, pkg, err := req.send(ctx, c)
	s.Resent = true
	switch {
	case err == nil:
		s.Outcome, s.SendListID, s.Package = OutcomePaid, res.SendListID, pkg
	case errors.Is(err, CodeSendFailed):
		s.Outcome, s.Err = OutcomeNotPaid, err
		s.Advice = "WeChat answered SEND_FAILED: the bill number failed and will never pay; a new attempt needs a new bill number"
	default:
		s.Err, s.Advice = err, resendAdvice(err)
	}
	return s, nil
}

// fetchPackage re-sends a mini-program request the query found paid and
// unopened, for the package its answer carries. The outcome is paid
// whatever the re-send hears.
func (s *Settlement) fetchPackage(ctx context.Context, c *Client, req PacketRequest) {
	res, pkg, err := req.send(ctx, c)
	s.Resent = true
	if err == nil && res.SendListID == s.SendListID {
		s.Package = pkg
		return
	}
	s.Advice = "paid; its package for wx.sendBizRedPacket could not be fetched: re-send the same request under the same bill number (it is paid, so that pays nothing more)"
}

// mismatch says how info is not about the payment id describes, or "".
func (id packetIdentity) mismatch(info *RedPackInfo) string {
	want := HBTypeNormal
	if id.group {
		want = HBTypeGroup
	}
	switch {
	case info.HBType != "" && info.HBType != want:
		return fmt.Sprintf("a %s packet, not %s", info.HBType, want)
	case info.TotalAmount != id.amount:
		return fmt.Sprintf("%d fen, not %d", info.TotalAmount, id.amount)
	case info.TotalNum != 0 && info.TotalNum != id.num:
		return fmt.Sprintf("%d receivers, not %d", info.TotalNum, id.num)
	case !id.group && len(info.Receivers) > 0 && info.Receivers[0].OpenID != id.openID:
		return "received by another openid"
	}
	return ""
}

// resendAdvice says what to do after a re-send left the outcome unknown.
func resendAdvice(err error) string {
	var apiErr *APIError
	switch {
	case errors.Is(err, ErrBillExpired):
		return "WeChat says the bill number has expired: query it until its status is definite; never pay it under a new bill number without a definite not-paid status"
	case errors.Is(err, ErrUnknownOutcome):
		return "the re-send's outcome is unknown too: settle it again in a few minutes"
	case errors.As(err, &apiErr) && Code(apiErr.ErrCode) == CodeFreqLimit:
		return "the re-send was rate limited (FREQ_LIMIT), which says nothing about the earlier send: settle it again later"
	case errors.As(err, &apiErr):
		code := apiErr.ErrCode
		if code == "" {
			code = "return_code=" + apiErr.ReturnCode
		}
		return fmt.Sprintf("WeChat refused the re-send (%s), which says nothing about the earlier send: fix the cause, then settle it again", code)
	}
	return "the re-send got no answer, which says nothing about the earlier send: settle it again later"
}

// isNilRequest reports a nil interface or a nil pointer in one.
func isNilRequest(req PacketRequest) bool {
	switch r := req.(type) {
	case nil:
		return true
	case *SendRedPackRequest:
		return r == nil
	case *SendGroupRedPackRequest:
		return r == nil
	case *SendMiniProgramRedPackRequest:
		return r == nil
	}
	return false
}
