package redpacktest

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redpack-go/redpack/internal/pki"
)

// pathBase is where WeChat serves the red-packet endpoints.
const pathBase = "mmpaymkttransfers/"

// Handler is the fake WeChat Pay red-packet service as an http.Handler,
// independent of any listener: Server wraps it in an httptest server, and
// a standalone program can serve it with TLSConfig.
//
// It plays WeChat's part completely: it holds the certificate authority
// that issued the merchants' API certificates, checks each request's client
// certificate, signature and fields itself (never with package redpack's
// code), keeps the ledger and the merchants' balances, and answers in
// WeChat's XML. All methods are safe for concurrent use.
type Handler struct {
	ca         *pki.CA
	givenCerts map[string]*pki.Leaf // WithMerchantCertificate; read-only
	logger     *slog.Logger         // nil: silent
	caPool     *x509.CertPool
	serverCert tls.Certificate
	prefix     string
	acceptHMAC bool
	rateLimit  int
	clock      *clock

	done      chan struct{} // closed by Close: ends waits
	closeOnce sync.Once

	mu         sync.Mutex
	accounts   map[string]*account
	mchOrder   []string
	packets    map[packetKey]*record
	order      []*record // every packet, in send order
	open       []*record // packets whose state may still change with time
	daily      map[string]int64
	userCount  map[string]int
	userAmount map[string]int64
	faults     []Fault
	requests   []Request
	rng        *rand.Rand
	seed       uint64
	seq        int64
}

type packetKey struct{ mchID, billNo string }

// account is a merchant with its live state. Merchant.Balance is the live
// balance.
type account struct {
	Merchant
	config Merchant // as added: what Reset restores
	paid   int64
	leaf   *pki.Leaf
	p12    []byte
	recent []time.Time // accepted requests within the last second, for FREQ_LIMIT
}

// Request is one request the server received, as it arrived.
type Request struct {
	Op         string // "sendredpack" …, or "" for an unknown path
	Path       string
	MchID      string // from the body, if it could be read
	MchBillNo  string // from the body, if it could be read
	Body       []byte // the raw body, signature included: compare retries byte for byte
	RemoteAddr string
	Time       time.Time // real time of arrival
	ClockTime  time.Time // the server clock at arrival
	// ErrCode is the err_code the server answered ("SUCCESS" on success),
	// or meant to answer when a fault spoiled the answer; "" for a 404 or
	// an HTML page.
	ErrCode string
	// Fault is the fault the request took, 0 if none.
	Fault FaultKind
}

// NewHandler makes a Handler: a certificate authority, a server certificate
// and, per merchant, an API certificate with its apiclient_cert.p12
// (password = mch_id). All keys are throwaway test keys.
func NewHandler(opts ...Option) (*Handler, error) {
	s := defaultSettings()
	for _, opt := range opts {
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	for _, m := range s.merchants {
		// Fail on a bad merchant before spending time on keys.
		if _, err := m.normalize(); err != nil {
			return nil, err
		}
	}
	ca := s.ca
	if ca == nil {
		var err error
		ca, err = pki.NewCA("redpacktest fake WeChat Pay CA")
		if err != nil {
			return nil, fmt.Errorf("redpacktest: make CA: %w", err)
		}
	}
	for id := range s.certs {
		if !slices.ContainsFunc(s.merchants, func(m Merchant) bool { return m.MchID == id }) {
			return nil, fmt.Errorf("redpacktest: WithMerchantCertificate: no merchant %s", id)
		}
	}
	srv, err := ca.Issue(pki.LeafOptions{CommonName: "api.mch.weixin.qq.com (redpacktest)", Hosts: s.hosts})
	if err != nil {
		return nil, fmt.Errorf("redpacktest: make server certificate: %w", err)
	}
	h := &Handler{
		ca:         ca,
		givenCerts: s.certs,
		logger:     s.logger,
		caPool:     ca.Pool(),
		serverCert: srv.TLSCertificate(),
		prefix:     s.prefix,
		acceptHMAC: s.acceptHMAC,
		rateLimit:  s.rateLimit,
		clock:      newClock(s.start, s.frozen),
		seed:       s.seed,
		done:       make(chan struct{}),
		accounts:   make(map[string]*account),
		packets:    make(map[packetKey]*record),
		daily:      make(map[string]int64),
		userCount:  make(map[string]int),
		userAmount: make(map[string]int64),
		rng:        newRand(s.seed),
	}
	for _, m := range s.merchants {
		if err := h.AddMerchant(m); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// AddMerchant opens a merchant account on the server and issues its API
// certificate. Zero fields take defaults as described on Merchant.
func (h *Handler) AddMerchant(m Merchant) error {
	m, err := m.normalize()
	if err != nil {
		return err
	}
	leaf := h.givenCerts[m.MchID]
	if leaf != nil {
		if err := h.checkMerchantCert(m.MchID, leaf); err != nil {
			return err
		}
	} else {
		leaf, err = h.ca.Issue(pki.LeafOptions{CommonName: m.MchID, Client: true})
		if err != nil {
			return fmt.Errorf("redpacktest: issue certificate for %s: %w", m.MchID, err)
		}
	}
	p12, err := leaf.PKCS12(m.MchID)
	if err != nil {
		return fmt.Errorf("redpacktest: encode apiclient_cert.p12 for %s: %w", m.MchID, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.accounts[m.MchID]; dup {
		return fmt.Errorf("redpacktest: merchant %s already exists", m.MchID)
	}
	h.accounts[m.MchID] = &account{Merchant: m, config: m.snapshotOf(), leaf: leaf, p12: p12}
	h.mchOrder = append(h.mchOrder, m.MchID)
	return nil
}

// checkMerchantCert checks a certificate given with WithMerchantCertificate
// as ServeHTTP will check it, so that a stale one fails now rather than as
// CA_ERROR on the first request.
func (h *Handler) checkMerchantCert(mchID string, leaf *pki.Leaf) error {
	if err := h.verifyClient(leaf.Cert, nil); err != nil {
		return fmt.Errorf("redpacktest: certificate of merchant %s: %w", mchID, err)
	}
	if cn := leaf.Cert.Subject.CommonName; cn != mchID {
		return fmt.Errorf("redpacktest: certificate of merchant %s is issued to %q", mchID, cn)
	}
	return nil
}

// TLSConfig returns a server TLS configuration for serving the Handler:
// the server certificate, and a request (not a demand) for a client
// certificate, which the Handler verifies itself so that a missing or
// unknown one is answered CA_ERROR in XML, as WeChat does, instead of
// failing the handshake. It offers HTTP/1.1 only, so that DropAfterCommit
// closes a whole connection.
func (h *Handler) TLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{h.serverCert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// PathPrefix is the path the endpoints are served under ("/" by default).
func (h *Handler) PathPrefix() string { return h.prefix }

// CertPool returns a pool with the server's CA, which signed the server
// certificate and every merchant certificate: pass it to
// redpack.WithRootCAs.
func (h *Handler) CertPool() *x509.CertPool { return h.ca.Pool() }

// CACertPEM returns the CA certificate in PEM form.
func (h *Handler) CACertPEM() []byte { return h.ca.PEM() }

// CAKeyPEM returns the CA's private key in PKCS#8 PEM form, to save with
// CACertPEM and give back to WithCA. It is a throwaway test key: anyone
// holding it can impersonate this fake server and its merchants, and
// nothing else.
func (h *Handler) CAKeyPEM() []byte { return h.ca.KeyPEM() }

// PKCS12 returns the merchant's apiclient_cert.p12 (password = mch_id), or
// nil for an unknown merchant.
func (h *Handler) PKCS12(mchID string) []byte {
	if a := h.account(mchID); a != nil {
		return slices.Clone(a.p12)
	}
	return nil
}

// CertPEM returns the merchant's apiclient_cert.pem, or nil for an unknown
// merchant.
func (h *Handler) CertPEM(mchID string) []byte {
	if a := h.account(mchID); a != nil {
		return a.leaf.CertPEM()
	}
	return nil
}

// KeyPEM returns the merchant's apiclient_key.pem (PKCS#8), or nil for an
// unknown merchant.
func (h *Handler) KeyPEM(mchID string) []byte {
	if a := h.account(mchID); a != nil {
		return a.leaf.KeyPEM()
	}
	return nil
}

func (h *Handler) account(mchID string) *account {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.accounts[mchID]
}

// Merchant returns the merchant's settings with its current balance.
func (h *Handler) Merchant(mchID string) (Merchant, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settleLocked(h.clock.now())
	a := h.accounts[mchID]
	if a == nil {
		return Merchant{}, false
	}
	return a.snapshotOf(), true
}

// Merchants returns every merchant, in the order they were added.
func (h *Handler) Merchants() []Merchant {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settleLocked(h.clock.now())
	out := make([]Merchant, 0, len(h.mchOrder))
	for _, id := range h.mchOrder {
		out = append(out, h.accounts[id].snapshotOf())
	}
	return out
}

// Balance returns the merchant's available balance in fen (0 for an
// unknown merchant). Refunds of unclaimed packets are credited to it.
func (h *Handler) Balance(mchID string) int64 {
	m, _ := h.Merchant(mchID)
	return m.Balance
}

// SetBalance sets the merchant's available balance in fen: a top-up, or an
// empty account to provoke NOTENOUGH.
func (h *Handler) SetBalance(mchID string, fen int64) error {
	if fen < 0 {
		return fmt.Errorf("redpacktest: SetBalance: negative balance %d", fen)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.accounts[mchID]
	if a == nil {
		return fmt.Errorf("redpacktest: SetBalance: no merchant %s", mchID)
	}
	a.Balance = fen
	return nil
}

// Paid returns how many fen the merchant has paid out for packets in all,
// refunds not deducted: what a test asserts to prove a retry did not pay
// twice.
func (h *Handler) Paid(mchID string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a := h.accounts[mchID]; a != nil {
		return a.paid
	}
	return 0
}

// Now returns the server's clock.
func (h *Handler) Now() time.Time { return h.clock.now() }

// Advance moves the server's clock by d. Packets move along their state
// machine as the clock passes their deadlines. Moving the clock back does
// not undo a change already made.
func (h *Handler) Advance(d time.Duration) {
	h.clock.advance(d)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settleLocked(h.clock.now())
}

// SetTime sets the server's clock to t; see Advance.
func (h *Handler) SetTime(t time.Time) {
	h.clock.set(t)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settleLocked(h.clock.now())
}

// Packets returns every packet in the ledger, in the order they were sent.
func (h *Handler) Packets() []Packet {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settleLocked(h.clock.now())
	out := make([]Packet, len(h.order))
	for i, r := range h.order {
		out[i] = r.snapshot()
	}
	return out
}

// Packet returns the merchant's packet with the bill number.
func (h *Handler) Packet(mchID, billNo string) (Packet, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settleLocked(h.clock.now())
	r := h.packets[packetKey{mchID, billNo}]
	if r == nil {
		return Packet{}, false
	}
	return r.snapshot(), true
}

// Claim makes users open a SENT packet at the server's current time. A
// normal or mini-program packet is claimed by its re_openid: pass no
// openid or that one. A group packet is claimed by the openids given, each
// taking the next of its random shares (see splitGroup: shares sum to the
// total, each at least 1 CNY when the average allows); it is RECEIVED when
// all shares are taken and stays SENT until then.
func (h *Handler) Claim(mchID, billNo string, openids ...string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock.now()
	h.settleLocked(now)
	r := h.packets[packetKey{mchID, billNo}]
	if r == nil {
		return fmt.Errorf("redpacktest: Claim: merchant %s has no packet %s", mchID, billNo)
	}
	return r.claim(now, openids)
}

// Inject queues faults; see Fault for how requests take them.
func (h *Handler) Inject(faults ...Fault) error {
	for i := range faults {
		if err := faults[i].check(); err != nil {
			return err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = append(h.faults, faults...)
	return nil
}

// PendingFaults returns the faults no request has taken yet.
func (h *Handler) PendingFaults() []Fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.faults)
}

// Requests returns every request received so far, in order of arrival.
func (h *Handler) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.requests)
	for i := range out {
		out[i].Body = slices.Clone(out[i].Body)
	}
	return out
}

// Reset puts the Handler back as it was made, for the next test: the ledger
// emptied, pending faults dropped, the request log and the daily caps and
// rate limits cleared, every merchant's balance and settings as configured
// (SetBalance undone), the random source reseeded and the clock back at its
// start (the WithClock time when frozen, else real time). The merchants,
// their API keys and all certificates stay, so clients need not change.
// Call it between tests, with no request in flight: an answer a fault
// holds back is still delivered after Reset.
func (h *Handler) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clock.reset()
	for _, a := range h.accounts {
		a.Merchant = a.config.snapshotOf()
		a.paid, a.recent = 0, nil
	}
	h.packets = make(map[packetKey]*record)
	h.order, h.open, h.faults, h.requests = nil, nil, nil, nil
	h.daily = make(map[string]int64)
	h.userCount = make(map[string]int)
	h.userAmount = make(map[string]int64)
	h.rng = newRand(h.seed)
	h.seq = 0
}

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Close ends every wait of a fault with a Delay (the connection is then
// closed without an answer), now and later, so that a server shutdown does
// not hang. The Handler still answers requests afterwards.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.done) })
}

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
	if readErr == nil {
		if code, ok := h.serveSignKey(w, r.URL.Path, body); ok {
			req.Op, req.ErrCode, sent = "getsignkey", code, true
			return
		}
	}
	ep := h.route(r.URL.Path)

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
	f, err := parseRequest(body)
	if err != nil {
		return protocolFailure("XML_ERROR", desXMLError), nil
	}
	req.MchID, req.MchBillNo = f["mch_id"], f["mch_billno"]
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

// send judges and carries out a send; h.mu is held.
func (h *Handler) send(ep *endpoint, a *account, f map[string]string, now time.Time, fault *Fault) *reply {

	if des := ep.checkFields(f); des != "" {
		return failure("PARAM_ERROR", des)
	}
	switch a.appKind(f["wxappid"]) {
	case appUnbound:
		return failure("PARAM_ERROR", desAppIDMismatch)
	case appMobile:
		return failure("ILLEGAL_APPID", desIllegalAppID)
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

// query answers gethbinfo; h.mu is held.
func (h *Handler) query(ep *endpoint, a *account, f map[string]string, now time.Time) *reply {
	if des := ep.checkFields(f); des != "" {
		return failure("PARAM_ERROR", des)
	}
	if f["bill_type"] != "MCHT" {
		return failure("PARAM_ERROR", desBillType)
	}
	if a.appKind(f["appid"]) != appBound {
		return failure("PARAM_ERROR", desQueryAppID)
	}
	r := h.packets[packetKey{a.MchID, f["mch_billno"]}]
	if r == nil || !now.Before(r.SendTime.Add(QueryWindow)) {
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

// settleLocked moves packets along the state machine up to now and credits
// refunds; h.mu is held.
func (h *Handler) settleLocked(now time.Time) {
	keep := h.open[:0]
	for _, r := range h.open {
		credit, done := r.settle(now)
		if credit > 0 {
			h.accounts[r.MchID].Balance += credit
		}
		if !done {
			keep = append(keep, r)
		}
	}
	clear(h.open[len(keep):])
	h.open = keep
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
