package campaign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
	// answered SUCCESS, so that the order system loses nothing.
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
// A notification that fails verification (forged, unsigned, another
// merchant's) awards nothing and is answered FAIL, unless Forward is set:
// then the merchant's handler judges it, as it did before this handler
// stood in front of it.
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
	h.serve(w, r, h.cfg.Forward, func(ctx context.Context, body []byte) error {
		n, err := h.cfg.Client.ParsePaymentNotification(ctx, body)
		if err != nil {
			return &refusedError{err}
		}
		_, err = h.s.Award(ctx, h.name, n, h.cfg.Award)
		return err
	})
}

func (h *notifyHandler) refund(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, h.cfg.ForwardRefund, func(ctx context.Context, body []byte) error {
		n, err := h.cfg.Client.ParseRefundNotification(ctx, body)
		if err != nil {
			return &refusedError{err}
		}
		_, err = h.s.Refund(ctx, h.name, n)
		return err
	})
}

// refusedError is a notification that failed verification.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// serve reads the notification, journals it with fn and forwards it, and
// answers SUCCESS only when everything that had to succeed did.
func (h *notifyHandler) serve(w http.ResponseWriter, r *http.Request, forward string, fn func(context.Context, []byte) error) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, redpack.DefaultMaxResponseBytes))
	if err != nil {
		h.fail(w, r, "body unreadable or too large", err)
		return
	}
	err = fn(r.Context(), body)
	var refused *refusedError
	isRefused := errors.As(err, &refused)
	if err != nil && (forward == "" || !isRefused) {
		// Without a forward a refused notification is answered FAIL; with
		// one, only a journal that failed is (the order system judges
		// what this process could not verify).
		msg := "not journalled"
		if isRefused {
			msg = "refused"
		}
		h.fail(w, r, msg, err)
		return
	}
	if err != nil {
		h.cfg.Logger.WarnContext(r.Context(), "rule set: notification failed verification; forwarded for the merchant's handler to judge",
			"rule_set", h.name, "error", err.Error())
	}
	if forward != "" {
		if ferr := h.forward(r, forward, body); ferr != nil {
			h.fail(w, r, "the merchant's handler did not answer SUCCESS", ferr)
			return
		}
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
