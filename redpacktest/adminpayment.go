package redpacktest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// adminWaitLimit bounds how long a control-API call waits for deliveries.
// A receiver that never answers is cut off by the delivery client's
// timeout (5 s by default), so this is reached only with long Delay faults.
const adminWaitLimit = 60 * time.Second

type adminDeliveryFaultsJSON struct {
	Copies        int    `json:"copies,omitempty"`
	Delay         string `json:"delay,omitempty"`
	HoldUntilNext bool   `json:"hold_until_next,omitempty"`
}

func (j adminDeliveryFaultsJSON) faults() (DeliveryFaults, error) {
	f := DeliveryFaults{Copies: j.Copies, HoldUntilNext: j.HoldUntilNext}
	if j.Delay != "" {
		d, err := time.ParseDuration(j.Delay)
		if err != nil {
			return f, fmt.Errorf(`give "delay" as a Go duration, e.g. "2s": %v`, err)
		}
		f.Delay = d
	}
	return f, nil
}

type adminPayJSON struct {
	MchID        string `json:"mch_id"`
	OpenID       string `json:"openid"`
	AppID        string `json:"appid"`
	TotalFee     int64  `json:"total_fee"`
	CashFee      int64  `json:"cash_fee"`
	OutTradeNo   string `json:"out_trade_no"`
	TimeEnd      string `json:"time_end"`
	NotifyURL    string `json:"notify_url"`
	SignType     string `json:"sign_type"`
	OmitSignType bool   `json:"omit_sign_type"`
	Attach       string `json:"attach"`
	adminDeliveryFaultsJSON
}

type adminRefundRequestJSON struct {
	RefundFee   int64  `json:"refund_fee"`
	OutRefundNo string `json:"out_refund_no"`
	NotifyURL   string `json:"notify_url"`
	adminDeliveryFaultsJSON
}

type adminPaymentJSON struct {
	MchID         string              `json:"mch_id"`
	AppID         string              `json:"appid"`
	OpenID        string              `json:"openid"`
	TransactionID string              `json:"transaction_id"`
	OutTradeNo    string              `json:"out_trade_no"`
	TotalFee      int64               `json:"total_fee"`
	CashFee       int64               `json:"cash_fee"`
	TradeState    string              `json:"trade_state"`
	TimeEnd       string              `json:"time_end"`
	NotifyURL     string              `json:"notify_url,omitempty"`
	SignType      string              `json:"sign_type"`
	OmitSignType  bool                `json:"omit_sign_type,omitempty"`
	Attach        string              `json:"attach,omitempty"`
	Delivered     bool                `json:"delivered"`
	NextDelivery  string              `json:"next_delivery,omitempty"`
	Refunds       []adminRefundJSON   `json:"refunds"`
	Deliveries    []adminDeliveryJSON `json:"deliveries"`
}

type adminRefundJSON struct {
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
	RefundID      string `json:"refund_id"`
	OutRefundNo   string `json:"out_refund_no"`
	TotalFee      int64  `json:"total_fee"`
	RefundFee     int64  `json:"refund_fee"`
	SuccessTime   string `json:"success_time"`
	NotifyURL     string `json:"notify_url,omitempty"`
	Delivered     bool   `json:"delivered"`
	NextDelivery  string `json:"next_delivery,omitempty"`
}

type adminDeliveryJSON struct {
	Kind       string `json:"kind"`
	RefundID   string `json:"refund_id,omitempty"`
	Attempt    int    `json:"attempt"`
	Copy       int    `json:"copy"`
	Due        string `json:"due,omitempty"`
	Time       string `json:"time"`
	HTTPStatus int    `json:"http_status,omitempty"`
	ReturnCode string `json:"return_code,omitempty"`
	Error      string `json:"error,omitempty"`
	Success    bool   `json:"success"`
}

func optTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return adminTime(t)
}

func paymentJSON(p Payment) adminPaymentJSON {
	out := adminPaymentJSON{
		MchID: p.MchID, AppID: p.AppID, OpenID: p.OpenID, TransactionID: p.TransactionID, OutTradeNo: p.OutTradeNo,
		TotalFee: p.TotalFee, CashFee: p.CashFee, TradeState: p.TradeState, TimeEnd: compactTime(p.TimeEnd),
		NotifyURL: p.NotifyURL, SignType: p.SignType, OmitSignType: p.OmitSignType, Attach: p.Attach,
		Delivered: p.Delivered, NextDelivery: optTime(p.NextDelivery),
		Refunds: []adminRefundJSON{}, Deliveries: []adminDeliveryJSON{},
	}
	for _, r := range p.Refunds {
		out.Refunds = append(out.Refunds, refundJSON(r))
	}
	for _, d := range p.Deliveries {
		out.Deliveries = append(out.Deliveries, deliveryJSON(d))
	}
	return out
}

func deliveryJSON(d Delivery) adminDeliveryJSON {
	return adminDeliveryJSON{
		Kind: string(d.Kind), RefundID: d.RefundID, Attempt: d.Attempt, Copy: d.Copy,
		Due: optTime(d.Due), Time: adminTime(d.Time),
		HTTPStatus: d.StatusCode, ReturnCode: d.ReturnCode, Error: d.Error, Success: d.Success,
	}
}

func refundJSON(r Refund) adminRefundJSON {
	return adminRefundJSON{
		TransactionID: r.TransactionID, OutTradeNo: r.OutTradeNo, RefundID: r.RefundID, OutRefundNo: r.OutRefundNo,
		TotalFee: r.TotalFee, RefundFee: r.RefundFee, SuccessTime: adminTime(r.SuccessTime), NotifyURL: r.NotifyURL,
		Delivered: r.Delivered, NextDelivery: optTime(r.NextDelivery),
	}
}

func (h *Handler) adminPayments(w http.ResponseWriter, r *http.Request) {
	out := []adminPaymentJSON{}
	for _, p := range h.Payments() {
		out = append(out, paymentJSON(p))
	}
	adminJSON(w, http.StatusOK, out)
}

func (h *Handler) adminPayment(w http.ResponseWriter, r *http.Request) {
	p, ok := h.Payment(r.PathValue("txid"))
	if !ok {
		adminError(w, http.StatusNotFound, fmt.Sprintf("no payment %s", r.PathValue("txid")))
		return
	}
	adminJSON(w, http.StatusOK, paymentJSON(p))
}

func (h *Handler) adminPay(w http.ResponseWriter, r *http.Request) {
	var in adminPayJSON
	if !adminDecode(w, r, &in, false) {
		return
	}
	faults, err := in.faults()
	if err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	req := PaymentRequest{
		MchID: in.MchID, AppID: in.AppID, OpenID: in.OpenID, TotalFee: in.TotalFee, CashFee: in.CashFee,
		OutTradeNo: in.OutTradeNo, NotifyURL: in.NotifyURL, SignType: in.SignType, OmitSignType: in.OmitSignType,
		Attach: in.Attach, Faults: faults,
	}
	if in.TimeEnd != "" {
		if req.TimeEnd, err = parseCompactTime(in.TimeEnd); err != nil {
			adminError(w, http.StatusBadRequest, fmt.Sprintf(`give "time_end" as WeChat writes it, yyyyMMddHHmmss in China time, e.g. 20250101120000: %q`, in.TimeEnd))
			return
		}
	}
	p, err := h.Pay(req)
	if err != nil {
		adminError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "redpacktest: "))
		return
	}
	adminJSON(w, http.StatusOK, paymentJSON(*p))
}

func (h *Handler) adminNotify(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("txid")
	if _, ok := h.Payment(id); !ok {
		adminError(w, http.StatusNotFound, fmt.Sprintf("no payment %s", id))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminWaitLimit)
	defer cancel()
	d, err := h.Notify(ctx, id)
	if err != nil && d.Time.IsZero() {
		adminError(w, http.StatusConflict, strings.TrimPrefix(err.Error(), "redpacktest: "))
		return
	}
	adminJSON(w, http.StatusOK, deliveryJSON(d))
}

func (h *Handler) adminRefund(w http.ResponseWriter, r *http.Request) {
	var in adminRefundRequestJSON
	if !adminDecode(w, r, &in, true) {
		return
	}
	id := r.PathValue("txid")
	if _, ok := h.Payment(id); !ok {
		adminError(w, http.StatusNotFound, fmt.Sprintf("no payment %s", id))
		return
	}
	faults, err := in.faults()
	if err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	rf, err := h.Refund(id, RefundRequest{RefundFee: in.RefundFee, OutRefundNo: in.OutRefundNo, NotifyURL: in.NotifyURL, Faults: faults})
	if err != nil {
		adminError(w, http.StatusConflict, strings.TrimPrefix(err.Error(), "redpacktest: "))
		return
	}
	adminJSON(w, http.StatusOK, refundJSON(*rf))
}

// adminWaitDeliveries waits for the deliveries due, then answers every
// payment.
func (h *Handler) adminWaitDeliveries(w http.ResponseWriter, r *http.Request) {
	if !h.adminWait(w, r) {
		return
	}
	h.adminPayments(w, r)
}

// adminWait waits for the deliveries due, within adminWaitLimit; it writes
// the error itself.
func (h *Handler) adminWait(w http.ResponseWriter, r *http.Request) bool {
	ctx, cancel := context.WithTimeout(r.Context(), adminWaitLimit)
	defer cancel()
	if err := h.WaitDeliveries(ctx); err != nil {
		adminError(w, http.StatusGatewayTimeout, fmt.Sprintf("deliveries still running after %s: %v", adminWaitLimit, err))
		return false
	}
	return true
}
