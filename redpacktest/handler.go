package redpacktest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/redpack-go/redpack/internal/pki"
)

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

	// Notification deliveries (delivery.go).
	notifyClient     *http.Client
	deliverCtx       context.Context // ended by Close
	cancelDeliveries context.CancelFunc

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

	// Payments (payment.go) and their notifications (delivery.go).
	payments []*payment // in creation order
	payByID  map[string]*payment
	payByOut map[paymentKey]*payment
	paySeq   int64
	notices  []*notice     // notifications not yet done
	held     []*notice     // HoldUntilNext notices waiting for the next one
	inflight int           // delivery goroutines running
	idle     chan struct{} // closed when inflight falls to 0
	timer    *time.Timer   // the next due delivery, when the clock runs
	gen      int           // bumped by Reset: older deliveries are dropped
	closed   bool
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
	Op   string // "sendredpack" …, "orderquery", or "" for an unknown path
	Path string
	// Root is the name of the body's root element, if it could be read:
	// "xml" as the spec writes it, or whatever the client sent instead.
	Root       string
	MchID      string // from the body, if it could be read
	MchBillNo  string // from the body, if it could be read
	Body       []byte // the raw body, signature included: compare retries byte for byte
	RemoteAddr string
	Time       time.Time // real time of arrival
	ClockTime  time.Time // the server clock at arrival
	// ErrCode is the err_code the server answered ("SUCCESS" on success),
	// or meant to answer when a fault spoiled the answer; "" for a 404,
	// a method other than POST (405) or an HTML page.
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
		ca:           ca,
		givenCerts:   s.certs,
		logger:       s.logger,
		caPool:       ca.Pool(),
		serverCert:   srv.TLSCertificate(),
		prefix:       s.prefix,
		acceptHMAC:   s.acceptHMAC,
		rateLimit:    s.rateLimit,
		clock:        newClock(s.start, s.frozen),
		seed:         s.seed,
		done:         make(chan struct{}),
		accounts:     make(map[string]*account),
		packets:      make(map[packetKey]*record),
		daily:        make(map[string]int64),
		userCount:    make(map[string]int),
		userAmount:   make(map[string]int64),
		rng:          newRand(s.seed),
		payByID:      make(map[string]*payment),
		payByOut:     make(map[paymentKey]*payment),
		notifyClient: s.notifyClient,
	}
	h.deliverCtx, h.cancelDeliveries = context.WithCancel(context.Background())
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
// failing the handshake. It offers HTTP/1.1 and HTTP/1.0 (for clients
// such as curl --http1.0, which fail the handshake when their protocol is
// not offered), never HTTP/2, so that DropAfterCommit closes a whole
// connection.
func (h *Handler) TLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{h.serverCert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1", "http/1.0"},
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
// machine as the clock passes their deadlines, and the notification
// deliveries that fall due are started, in the background: Advance does
// not wait for them (WaitDeliveries does). Moving the clock back does not
// undo a change already made, and packets then seem sent in the future:
// the control API refuses it (see AdminHandler).
func (h *Handler) Advance(d time.Duration) {
	h.clock.advance(d)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settleLocked(h.clock.now())
	h.dispatchLocked()
}

// SetTime sets the server's clock to t; see Advance.
func (h *Handler) SetTime(t time.Time) {
	h.clock.set(t)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.settleLocked(h.clock.now())
	h.dispatchLocked()
}

// setTimeForward is SetTime for the control API: it never moves the clock
// back before the last packet's send time, so that no packet ends up sent
// in the future (on an empty ledger, after a start or a Reset, it may go
// anywhere), and reports whether it moved it. Whole seconds count, as GET
// /clock shows them, so the time it printed can be put back. Reading the
// ledger and setting the clock happen under one lock, so that no send
// slips in between.
func (h *Handler) setTimeForward(t time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.order {
		if t.Before(r.SendTime.Truncate(time.Second)) {
			return false
		}
	}
	h.clock.set(t)
	h.settleLocked(h.clock.now())
	h.dispatchLocked()
	return true
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
// Payments and their refunds are dropped too, with the notifications still
// to deliver; a delivery in flight is finished but not recorded.
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
	h.payments, h.notices, h.held = nil, nil, nil
	h.payByID = make(map[string]*payment)
	h.payByOut = make(map[paymentKey]*payment)
	h.paySeq = 0
	h.gen++
	if h.timer != nil {
		h.timer.Stop()
	}
}

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Close ends every wait of a fault with a Delay (the connection is then
// closed without an answer), now and later, so that a server shutdown does
// not hang. It also stops the notification deliveries: those in flight are
// cancelled and waited for, and no more are made. The Handler still
// answers requests afterwards.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.done) })
	h.closeDeliveries()
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
