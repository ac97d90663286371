package redpacktest

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// pathBase is where WeChat serves the red-packet endpoints.
const pathBase = "mmpaymkttransfers/"

// ServeHTTP answers one request as WeChat Pay would.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var (
		req    Request
		status = http.StatusOK
		sent   bool // false while the answer may still be dropped
	)
	if h.logger != nil {
		// Deferred so that a dropped connection (a panic with
		// http.ErrAbortHandler, which goes on) is logged too.
		defer func() {
			if !sent {
				status = 0
			}
			h.logRequest(r, &req, status, time.Since(start))
		}()
	}
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if readErr == nil && len(body) > maxRequestBytes {
		readErr = errors.New("body too large")
	}
	// The escaped path: an encoded slash (%2F) is part of a name, not a
	// separator, and must not reach an endpoint.
	path := cleanPath(r.URL.EscapedPath())
	ep := h.route(path)
	orderQuery := h.isOrderQueryPath(path)
	if r.Method != http.MethodPost && (ep != nil || orderQuery || h.isSignKeyPath(path)) {
		// WeChat documents POST only; its gateway refuses the rest before
		// the red-packet system sees them, so nothing is paid.
		h.mu.Lock()
		req = Request{Op: "getsignkey", Path: r.URL.Path, Body: body, RemoteAddr: r.RemoteAddr, Time: time.Now(), ClockTime: h.clock.now()}
		switch {
		case ep != nil:
			req.Op = ep.op
		case orderQuery:
			req.Op = "orderquery"
		}
		h.requests = append(h.requests, req)
		h.mu.Unlock()
		w.Header().Set("Allow", http.MethodPost)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusMethodNotAllowed)
		io.WriteString(w, methodNotAllowedPage)
		status, sent = http.StatusMethodNotAllowed, true
		return
	}
	if orderQuery {
		req = Request{Op: "orderquery", Path: r.URL.Path, Body: body, RemoteAddr: r.RemoteAddr, Time: time.Now(), ClockTime: h.clock.now()}
		h.serveOrderQuery(w, body, readErr, &req)
		sent = true
		return
	}
	if readErr == nil {
		if code, ok := h.serveSignKey(w, path, body); ok {
			req.Op, req.ErrCode, sent = "getsignkey", code, true
			return
		}
	}

	h.mu.Lock()
	req = Request{Path: r.URL.Path, Body: body, RemoteAddr: r.RemoteAddr, Time: time.Now(), ClockTime: h.clock.now()}
	if ep == nil {
		h.requests = append(h.requests, req)
		h.mu.Unlock()
		http.NotFound(w, r)
		status, sent = http.StatusNotFound, true
		return
	}
	req.Op = ep.op
	rep, fault := h.judge(&req, ep, r, body, readErr)
	if !rep.html {
		req.ErrCode = rep.errCode
	} else {
		status = http.StatusBadGateway
	}
	h.requests = append(h.requests, req)
	h.mu.Unlock()

	h.deliver(w, r, rep, fault)
	sent = true
}

// logRequest writes the request's log record: allow-listed fields only,
// never the body, whose sign could be replayed.
func (h *Handler) logRequest(r *http.Request, req *Request, status int, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("op", cmp.Or(req.Op, "-")),
		slog.String("path", r.URL.Path),
		slog.String("mch_id", req.MchID),
		slog.String("mch_billno", req.MchBillNo),
		slog.String("err_code", req.ErrCode),
	}
	if req.Fault != 0 {
		attrs = append(attrs, slog.String("fault", req.Fault.String()))
	}
	attrs = append(attrs,
		slog.Int("status", status),
		slog.Duration("duration", d.Round(time.Microsecond)),
		slog.String("remote", r.RemoteAddr),
	)
	h.logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// cleanPath merges runs of slashes and drops a trailing one, as a front
// end that merges slashes does (nginx's default), so that a base URL
// ending in "/" joined to "/mmpaymkttransfers/…", as gopay builds it,
// reaches the endpoint.
func cleanPath(p string) string {
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && len(b) > 0 && b[len(b)-1] == '/' {
			continue
		}
		b = append(b, p[i])
	}
	if len(b) > 1 && b[len(b)-1] == '/' {
		b = b[:len(b)-1]
	}
	return string(b)
}

// route finds the endpoint of a path cleaned by cleanPath, or nil.
func (h *Handler) route(path string) *endpoint {
	rest, ok := strings.CutPrefix(path, h.prefix+pathBase)
	if !ok {
		return nil
	}
	return endpoints[rest]
}

// judge decides the answer, carrying the request out; h.mu is held. The
// checks run in the order WeChat's layers would meet them: certificate,
// XML, merchant, rate, signature, then the endpoint's rules.
func (h *Handler) judge(req *Request, ep *endpoint, r *http.Request, body []byte, readErr error) (*reply, *Fault) {
	now := req.ClockTime
	h.settleLocked(now)

	leaf := h.verifiedClientCert(r)
	if leaf == nil {
		return protocolFailure("CA_ERROR", desCAError), nil
	}
	if readErr != nil {
		return protocolFailure("XML_ERROR", desXMLError), nil
	}
	f, root, err := parseRequest(body)
	if err != nil {
		return protocolFailure("XML_ERROR", desXMLError), nil
	}
	req.Root, req.MchID, req.MchBillNo = root, f["mch_id"], f["mch_billno"]
	rep, fault := h.decide(req, ep, r, leaf, f, now)
	if rep.echo {
		rep.with(ep.echo(f)...)
	}
	return rep, fault
}

// decide answers a request whose XML was read; h.mu is held. A failure
// it returns gets the request's echo fields from judge.
func (h *Handler) decide(req *Request, ep *endpoint, r *http.Request, leaf *x509.Certificate, f map[string]string, now time.Time) (*reply, *Fault) {
	a := h.accounts[f["mch_id"]]
	if a == nil {
		return failure("PARAM_ERROR", desUnknownMchID), nil
	}
	if leaf.Subject.CommonName != a.MchID {
		// A valid certificate, but another merchant's.
		return protocolFailure("CA_ERROR", desCAError), nil
	}
	if !a.allow(req.Time, h.rateLimit) {
		return failure("FREQ_LIMIT", desFreqLimit), nil
	}
	if ep.isQuery() && f["appid"] == "" {
		// Before the signature: a client that names the field wxappid, as
		// the send APIs do (a common SDK bug, spec §11), signs it too, and
		// SIGN_ERROR would send its engineer to check the key. PARAM_ERROR
		// naming appid is what WeChat documents for it missing (spec §2.4,
		// §5.3); where its check runs is not documented.
		return failure("PARAM_ERROR", desRequired("appid", 32)), nil
	}
	if !h.signatureOK(ep, a, f) {
		return failure("SIGN_ERROR", desSignError), nil
	}

	fault := h.takeFault(ep.op, f["mch_billno"])
	if fault != nil {
		req.Fault = fault.Kind
		if fault.Kind.beforeCommit() {
			return faultReply(fault, ep), fault
		}
	}
	remote, _ := netip.ParseAddrPort(r.RemoteAddr)
	var rep *reply
	switch {
	case !a.ipAllowed(remote.Addr()):
		rep = failure("NO_AUTH", desNoAuth)
	case ep.isQuery():
		rep = h.query(ep, a, f, now)
	default:
		rep = h.send(ep, a, f, now, fault)
	}
	if fault != nil {
		switch fault.Kind {
		case SystemErrorAfterCommit:
			rep = failure("SYSTEMERROR", desAccepted)
		case ProcessingAfterCommit, ProcessingThenFail:
			rep = failure("PROCESSING", desAccepted)
		}
	}
	return rep, fault
}

// verifiedClientCert returns the client certificate if it chains to the
// server's CA and is meant for client authentication, else nil. The real
// time is used, not the server clock: certificates are real TLS objects.
func (h *Handler) verifiedClientCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if h.verifyClient(leaf, inter) != nil {
		return nil
	}
	return leaf
}

// verifyClient checks c as a client certificate chaining to the server's
// CA, through inter (which may be nil): the one check both a request's
// certificate and one given with WithMerchantCertificate pass.
func (h *Handler) verifyClient(c *x509.Certificate, inter *x509.CertPool) error {
	_, err := c.Verify(x509.VerifyOptions{
		Roots:         h.caPool,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err
}

// signatureOK checks the request's signature over the endpoint's documented
// fields with the merchant's key.
func (h *Handler) signatureOK(ep *endpoint, a *account, f map[string]string) bool {
	got := f["sign"]
	if got == "" {
		return false
	}
	signed, useHMAC := ep.signed, false
	if h.acceptHMAC {
		switch f["sign_type"] {
		case "", "MD5":
		case signTypeHMAC:
			useHMAC = true
		default:
			return false
		}
		signed = append(slices.Clone(signed), "sign_type")
	} else if f["sign_type"] == signTypeHMAC {
		return false
	}
	return signMatches(signature(f, signed, a.APIKey, useHMAC), got)
}

// allow applies the per-merchant rate limit: at most limit accepted
// requests in any second.
func (a *account) allow(now time.Time, limit int) bool {
	if limit <= 0 {
		return true
	}
	cut := now.Add(-time.Second)
	i := 0
	for i < len(a.recent) && !a.recent[i].After(cut) {
		i++
	}
	a.recent = a.recent[i:]
	if len(a.recent) >= limit {
		return false
	}
	a.recent = append(a.recent, now)
	return true
}

func (h *Handler) takeFault(op, billNo string) *Fault {
	for i := range h.faults {
		if h.faults[i].matches(op, billNo) {
			f := h.faults[i]
			h.faults = slices.Delete(h.faults, i, i+1)
			return &f
		}
	}
	return nil
}

// faultReply is the answer of a before-commit fault.
func faultReply(f *Fault, ep *endpoint) *reply {
	switch f.Kind {
	case HTMLGateway:
		return &reply{html: true}
	case ProcessingBeforeCommit:
		return failure("PROCESSING", desAccepted)
	case ErrCodeAnswer:
		return failure(f.ErrCode, cmp.Or(f.ErrCodeDes, desForced))
	}
	if ep.isQuery() {
		return failure("SYSTEMERROR", desQueryBusy)
	}
	return failure("SYSTEMERROR", desAccepted)
}

// deliver writes the answer, spoiled as the fault says. It runs without
// h.mu, since it may wait.
func (h *Handler) deliver(w http.ResponseWriter, r *http.Request, rep *reply, fault *Fault) {
	if fault != nil && fault.Delay > 0 && !h.wait(r.Context(), fault.Delay) {
		// The client left or the server is closing: nobody to answer.
		panic(http.ErrAbortHandler)
	}
	if rep.html {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, gatewayPage)
		return
	}
	body := rep.encode()
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if fault != nil {
		switch fault.Kind {
		case DropAfterCommit:
			// Abort before anything is written: the connection closes with
			// no answer at all.
			panic(http.ErrAbortHandler)
		case TruncatedBody:
			w.WriteHeader(http.StatusOK)
			w.Write(body[:len(body)/2])
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			panic(http.ErrAbortHandler)
		}
	}
	w.Write(body)
}

// wait sleeps d unless ctx ends or the handler closes first; it says
// whether the full time passed.
func (h *Handler) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-h.done:
		return false
	}
}
