package campaign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/redpack-go/redpack"
)

// NotifyConfig says how a rule set's NotifyHandler handles WeChat's
// notifications.
type NotifyConfig struct {
	// Client verifies the notifications with the merchant's API key, mch_id
	// and appids (redpack.WithNotifyAppIDs lists the appids besides the
	// Config's under which payments arrive, a mini-program's included, so
	// that their payments are journalled as skipped rather than refused).
	Client *redpack.Client
	// Award is given to Store.Award.
	Award AwardOptions
	// Forward, when set, is the URL of the merchant's own notify handler:
	// each payment notification is posted to it unchanged, and WeChat is
	// answered SUCCESS only when the award is journalled and that handler
	// answered SUCCESS, so that the order system loses nothing (see
	// NotifyHandler for notifications that fail verification).
	// ForwardRefund does the same for refund notifications.
	Forward       string
	ForwardRefund string
	// ForwardClient posts to Forward; default a client with a 4 s timeout
	// (WeChat waits 5 s for an answer).
	ForwardClient *http.Client
	// Logger receives a line for each notification answered FAIL, without
	// bodies, signatures or keys; nil: silent.
	Logger *slog.Logger
}

// NotifyHandler serves WeChat's notifications for the rule set name:
// payment notifications at POST /notify, refund notifications at POST
// /refund. A payment notification is verified, judged and journalled
// (Store.Award) before it is answered: SUCCESS once the award is
// committed, FAIL when it could not be, so that WeChat notifies again.
// A notification that fails verification (forged, unsigned, malformed)
// awards nothing and is answered FAIL; with Forward it is still posted to
// the merchant's handler, which judged it before this handler stood in
// front of it, and still answered FAIL, so that WeChat notifies again
// until this process can verify it. A notification whose signature
// verifies but whose appid or mch_id this process does not judge is
// answered as the merchant's handler answers it. With Award.NoConfirm and
// Forward, the merchant's handler is the confirmation: it answers first,
// and only a notification it answered SUCCESS is awarded.
func (s *Store) NotifyHandler(name string, cfg NotifyConfig) (http.Handler, error) {
	if cfg.Client == nil {
		return nil, errors.New("campaign: NotifyConfig.Client is required")
	}
	if cfg.ForwardClient == nil {
		cfg.ForwardClient = &http.Client{Timeout: 4 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	h := &notifyHandler{s: s, name: name, cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notify", h.payment)
	mux.HandleFunc("POST /refund", h.refund)
	return mux, nil
}

type notifyHandler struct {
	s    *Store
	name string
	cfg  NotifyConfig
}

// WeChat's answers to a notification.
const (
	answerSuccess = `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>`
	answerFail    = `<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[%s]]></return_msg></xml>`
)

func (h *notifyHandler) payment(w http.ResponseWriter, r *http.Request) {
	body, ok := h.read(w, r)
	if !ok {
		return
	}
	n, err := h.cfg.Client.ParsePaymentNotification(r.Context(), body)
	h.answer(w, r, body, h.cfg.Forward, err, func(ctx context.Context) error {
		_, err := h.s.Award(ctx, h.name, n, h.cfg.Award)
		return err
	}, h.cfg.Award.NoConfirm)
}

func (h *notifyHandler) refund(w http.ResponseWriter, r *http.Request) {
	body, ok := h.read(w, r)
	if !ok {
		return
	}
	n, err := h.cfg.Client.ParseRefundNotification(r.Context(), body)
	h.answer(w, r, body, h.cfg.ForwardRefund, err, func(ctx context.Context) error {
		_, err := h.s.Refund(ctx, h.name, n)
		return err
	}, false)
}

// read reads a notification's body through WeChat's size limit.
func (h *notifyHandler) read(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, redpack.DefaultMaxResponseBytes))
	if err != nil {
		h.fail(w, r, "body unreadable or too large", err)
		return nil, false
	}
	return body, true
}

// answer journals a verified notification and forwards it, and answers
// SUCCESS only when everything that had to succeed did:
//
//   - Not verified (parseErr): nothing is journalled. Without a forward it
//     is answered FAIL. With one it is forwarded for the merchant's
//     handler, and still answered FAIL, so that WeChat notifies again
//     until this process can verify it (a rotated key, say): answering
//     the handler's SUCCESS would lose the award for good. Only a
//     notification whose signature verified but whose appid this process
//     does not judge takes the handler's answer.
//   - Verified: journalled, then forwarded. With forwardFirst (awards
//     without confirmation, whose confirmation is the merchant's handler)
//     the handler answers first, and only its SUCCESS is journalled.
func (h *notifyHandler) answer(w http.ResponseWriter, r *http.Request, body []byte, forward string, parseErr error, journal func(context.Context) error, forwardFirst bool) {
	ctx := r.Context()
	// forwarded forwards the notification, answering FAIL unless the
	// merchant's handler said SUCCESS.
	forwarded := func() bool {
		if err := h.forward(r, forward, body); err != nil {
			h.fail(w, r, "the merchant's handler did not answer SUCCESS", err)
			return false
		}
		return true
	}
	if parseErr != nil {
		if forward == "" {
			h.fail(w, r, "refused", parseErr)
			return
		}
		if !forwarded() {
			return
		}
		if errors.Is(parseErr, redpack.ErrNotificationMerchant) {
			h.cfg.Logger.WarnContext(ctx, "rule set: a notification for an appid or merchant this process does not judge; the merchant's handler answered it",
				"rule_set", h.name, "error", parseErr.Error())
			_, _ = io.WriteString(w, answerSuccess)
			return
		}
		h.fail(w, r, "forwarded, but not verified here", parseErr)
		return
	}
	if forward != "" && forwardFirst && !forwarded() {
		return
	}
	if err := journal(ctx); err != nil {
		h.fail(w, r, "not journalled", err)
		return
	}
	if forward != "" && !forwardFirst && !forwarded() {
		return
	}
	_, _ = io.WriteString(w, answerSuccess)
}

func (h *notifyHandler) fail(w http.ResponseWriter, r *http.Request, msg string, err error) {
	h.cfg.Logger.WarnContext(r.Context(), "rule set: notification answered FAIL", "rule_set", h.name, "why", msg, "error", err.Error())
	fmt.Fprintf(w, answerFail, msg)
}

// forward posts body to the merchant's handler and returns nil only when
// it answered WeChat's SUCCESS.
func (h *notifyHandler) forward(r *http.Request, url string, body []byte) error {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "text/xml"
	}
	req.Header.Set("Content-Type", ct)
	resp, err := h.cfg.ForwardClient.Do(req)
	if err != nil {
		// Without the URL, which may carry a token in its query.
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("forward: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("forward: HTTP %d", resp.StatusCode)
	}
	if code := returnCode(answer); code != "SUCCESS" {
		return fmt.Errorf("forward: the handler answered return_code %q", code)
	}
	return nil
}

// returnCode is the return_code of a notify answer, or "".
func returnCode(answer []byte) string {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(answer); err != nil {
		return ""
	}
	root := doc.Root()
	if root == nil || root.Tag != "xml" {
		return ""
	}
	if e := root.SelectElement("return_code"); e != nil {
		return strings.TrimSpace(e.Text())
	}
	return ""
}
