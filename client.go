package redpack

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"
	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// DefaultBaseURL is WeChat Pay's API host. The disaster-recovery host
// https://api2.mch.weixin.qq.com/ can be chosen with WithBaseURL.
const DefaultBaseURL = "https://api.mch.weixin.qq.com/"

// DefaultTimeout bounds one attempt when WithHTTPClient is not used. With
// it, the http.Client's Timeout does, and a Timeout of 0 leaves attempts
// bounded only by the caller's context.
const DefaultTimeout = 30 * time.Second

// DefaultMaxResponseBytes bounds how much of an answer is read: 64 KiB,
// over 15 times WeChat's largest answer (a group packet's query with 20
// receivers, under 4 KiB).
const DefaultMaxResponseBytes = 64 << 10

const userAgent = "redpack-go (+https://github.com/redpack-go/redpack)"

// Header values of every request, made once and shared by all clients:
// net/http only reads them (Set and Add replace a slice, Clone copies).
var (
	contentTypeXML = []string{"text/xml; charset=utf-8"}
	userAgentValue = []string{userAgent}
)

// Client sends red packets and queries them for one merchant. It is
// immutable once built and safe for concurrent use; make one per merchant
// and share it, so that its connections are reused. However it is printed
// or dumped, it shows neither the API key nor the certificate's private
// key.
type Client struct {
	mchID    string
	appID    string
	apiKey   hidden[string]
	signType SignType
	baseURL  string // absolute, ends in "/"
	rt       *http.Transport
	timeout  time.Duration // per attempt; 0: none but the caller's context
	logger   *slog.Logger
	maxBody  int64
	retry    RetryPolicy
	limiter  Limiter // nil: no limit
	// notifyAppIDs are the appids whose payment notifications the
	// merchant accepts: its own and WithNotifyAppIDs'.
	notifyAppIDs []string

	// Seams for tests; set only inside this package.
	nonce  func() string
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	jitter func(int64) int64
}

// Option changes how NewClient builds a Client. Options are checked when
// NewClient runs; a bad one makes NewClient fail.
type Option func(*options) error

type options struct {
	baseURL  string
	hc       *http.Client
	rootCAs  *x509.CertPool
	signType SignType
	logger   *slog.Logger
	maxBody  int64
	retry    RetryPolicy
	limiter  Limiter
	now      func() time.Time
	appIDs   []string // WithNotifyAppIDs
}

// WithBaseURL sends requests to baseURL instead of DefaultBaseURL, e.g. the
// disaster-recovery host or a fake server. It must be an absolute https URL;
// endpoint paths are resolved against it, so a path prefix is kept.
func WithBaseURL(baseURL string) Option {
	return func(o *options) error {
		u, err := url.Parse(baseURL)
		if err != nil {
			return fmt.Errorf("redpack: WithBaseURL: %w", err)
		}
		if u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("redpack: WithBaseURL: %q is not an absolute https URL (the client certificate needs TLS)", baseURL)
		}
		if u.User != nil {
			// Not quoted back: the password would be in the error.
			return fmt.Errorf("redpack: WithBaseURL: %q has a user or password; WeChat's API takes none", u.Redacted())
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("redpack: WithBaseURL: %q has a query or fragment", baseURL)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		o.baseURL = u.String()
		return nil
	}
}

// WithHTTPClient takes the transport and timeout of hc. Its Timeout bounds
// each attempt (0: only the caller's context does). Its Transport must be
// an *http.Transport (nil means http.DefaultTransport); the client clones
// it and adds the merchant certificate, leaving hc and its transport
// untouched. The clone speaks HTTP/1.1 only, even if the transport was
// set up for HTTP/2: over HTTP/2, a request cancelled as it goes out
// cannot be told from one never sent. A transport that skips server
// certificate verification is refused.
//
// Requests go to the transport directly, so hc's Jar and CheckRedirect are
// not used: WeChat's API sets no cookies, and a payment is never re-posted
// to where a redirect points. An answer that redirects is an unclear one.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return errors.New("redpack: WithHTTPClient: nil client")
		}
		o.hc = hc
		return nil
	}
}

// WithRootCAs verifies WeChat's server certificate against pool instead of
// the system's roots: for a fake server in tests, or a pinned CA.
func WithRootCAs(pool *x509.CertPool) Option {
	return func(o *options) error {
		if pool == nil {
			return errors.New("redpack: WithRootCAs: nil pool")
		}
		o.rootCAs = pool
		return nil
	}
}

// WithSignType chooses the signature algorithm. The default, SignMD5, is
// the only one WeChat documents for red packets; see SignHMACSHA256.
func WithSignType(t SignType) Option {
	return func(o *options) error {
		if t != SignMD5 && t != SignHMACSHA256 {
			return fmt.Errorf("redpack: WithSignType: unknown sign type %d", int(t))
		}
		o.signType = t
		return nil
	}
}

// WithLogger logs one record per attempt (operation, attempt, bill number,
// HTTP status, WeChat's codes, duration, error) to l. Nothing secret is
// logged: no API key, no signature, no body. A nil l, like no option, keeps
// the client silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return nil
	}
}

// WithNotifyAppIDs lists the appids, besides the Config's own, under which
// the merchant's payments are made (a mini-program's, an app's): a payment
// notification for any other appid is refused (ParsePaymentNotification).
func WithNotifyAppIDs(appIDs ...string) Option {
	return func(o *options) error {
		for _, id := range appIDs {
			if id == "" {
				return errors.New("redpack: WithNotifyAppIDs: an empty appid")
			}
		}
		o.appIDs = append(o.appIDs, appIDs...)
		return nil
	}
}

// MaxResponseBytesLimit is the most WithMaxResponseBytes accepts: WeChat's
// largest answers (a group packet's query) are a few kilobytes.
const MaxResponseBytesLimit = 1 << 30

// WithMaxResponseBytes bounds how much of an answer is read
// (DefaultMaxResponseBytes unless set), from 1024 to MaxResponseBytesLimit.
// A longer answer is an error, as is one of more than 1024 elements,
// whatever the limit: WeChat's answers have about 100 at most.
func WithMaxResponseBytes(n int64) Option {
	return func(o *options) error {
		if n < 1024 || n > MaxResponseBytesLimit {
			return fmt.Errorf("redpack: WithMaxResponseBytes: %d is not within 1024 and %d", n, MaxResponseBytesLimit)
		}
		o.maxBody = n
		return nil
	}
}

// NewClient checks cfg and the options and returns a Client. It fails on
// anything that would fail the first payment: empty ids, an API key that is
// not 32 characters, a certificate that is missing, expired, not yet valid
// or does not match its key, or a bad option.
func NewClient(cfg Config, opts ...Option) (*Client, error) {
	o := options{
		baseURL: DefaultBaseURL,
		maxBody: DefaultMaxResponseBytes,
		retry:   DefaultRetryPolicy(),
		limiter: rate.NewLimiter(DefaultRateLimit, 1),
		now:     time.Now,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	mchID, appID, apiKey, cert, err := checkConfig(cfg, o.now())
	if err != nil {
		return nil, err
	}
	rt, timeout, err := buildTransport(o.hc, cert, o.rootCAs)
	if err != nil {
		return nil, err
	}
	return &Client{
		mchID:        mchID,
		appID:        appID,
		apiKey:       hide(apiKey),
		signType:     o.signType,
		baseURL:      o.baseURL,
		rt:           rt,
		timeout:      timeout,
		logger:       o.logger,
		maxBody:      o.maxBody,
		retry:        o.retry,
		limiter:      o.limiter,
		notifyAppIDs: append([]string{appID}, o.appIDs...),
		nonce:        newNonce,
		now:          o.now,
		sleep:        sleepCtx,
		jitter:       randJitter,
	}, nil
}

// buildTransport clones the user's transport (or net/http's default) into
// one that presents cert, and returns it with the per-attempt timeout.
// Nothing the user passed is mutated.
func buildTransport(user *http.Client, cert tls.Certificate, roots *x509.CertPool) (*http.Transport, time.Duration, error) {
	timeout, userRT := DefaultTimeout, http.RoundTripper(nil)
	if user != nil {
		timeout, userRT = user.Timeout, user.Transport
	}
	var base *http.Transport
	switch rt := userRT.(type) {
	case nil:
		dt, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return nil, 0, fmt.Errorf("redpack: http.DefaultTransport is a %T, not an *http.Transport", http.DefaultTransport)
		}
		base = dt
	case *http.Transport:
		base = rt
	default:
		return nil, 0, fmt.Errorf("redpack: WithHTTPClient: transport %T cannot present the client certificate; use an *http.Transport", rt)
	}
	t := base.Clone()
	tc := &tls.Config{}
	if t.TLSClientConfig != nil {
		tc = t.TLSClientConfig.Clone()
	}
	if tc.InsecureSkipVerify {
		return nil, 0, errors.New("redpack: WithHTTPClient: the transport skips server certificate verification; WeChat's certificate must be verified")
	}
	if t.DialTLSContext != nil || t.DialTLS != nil { // DialTLS: deprecated, still honoured by net/http
		return nil, 0, errors.New("redpack: WithHTTPClient: the transport dials TLS itself (DialTLSContext or DialTLS), so it would neither present the merchant certificate nor keep the verification set here; use DialContext")
	}
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	// The certificate is presented from a closure rather than held in
	// Certificates, where a reflection-based dumper of the Client (go-spew,
	// a failing testify diff) would print its private key. It is chosen
	// as crypto/tls chooses from Certificates: sent if the server's
	// request allows it, else none is.
	tc.Certificates = nil
	tc.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cri.SupportsCertificate(&cert) != nil {
			return new(tls.Certificate), nil
		}
		return &cert, nil
	}
	if roots != nil {
		tc.RootCAs = roots
	}
	// HTTP/1.1 only, whatever the server offers. Over HTTP/2 the
	// WroteRequest trace fires after the frames are flushed, so a context
	// cancelled as the request goes out cannot be told from one cancelled
	// before it: a request the server received in full would be reported
	// as never sent. Over HTTP/1.1 the transport reports the write before
	// RoundTrip returns. WeChat's APIv2 needs nothing from HTTP/2.
	tc.NextProtos = []string{"http/1.1"}
	t.TLSClientConfig = tc
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // non-nil and empty: no HTTP/2
	var protos http.Protocols
	protos.SetHTTP1(true)
	t.Protocols = &protos
	if t.MaxIdleConnsPerHost == 0 {
		// The default of 2 closes connections after every burst of
		// concurrent sends, and each new one costs a TLS handshake.
		t.MaxIdleConnsPerHost = 64
	}
	return t, timeout, nil
}

// newNonce returns 32 random hex characters.
func newNonce() string {
	u := uuid.New()
	var b [32]byte
	const hexdigits = "0123456789abcdef"
	for i, c := range u {
		b[2*i] = hexdigits[c>>4]
		b[2*i+1] = hexdigits[c&0xf]
	}
	return string(b[:])
}

// AppID returns the appid this client sends as wxappid/appid.
func (c *Client) AppID() string { return c.appID }

// MchID returns the merchant id.
func (c *Client) MchID() string { return c.mchID }

// ForAppID returns a Client that sends and queries under another appid of
// the same merchant (a second Official Account), sharing c's connections.
// c itself is unchanged.
func (c *Client) ForAppID(appID string) (*Client, error) {
	if err := checkAppID(appID); err != nil {
		return nil, err
	}
	cc := *c
	cc.appID = appID
	return &cc, nil
}

// String describes the client without its API key.
func (c *Client) String() string {
	return fmt.Sprintf("redpack.Client{MchID:%q AppID:%q BaseURL:%q SignType:%s}", c.mchID, c.appID, c.baseURL, c.signType)
}

// GoString keeps %#v from printing the client's internals.
func (c *Client) GoString() string { return c.String() }

// operation names an endpoint.
type operation struct {
	name string // as in logs and errors, e.g. "sendredpack"
	path string // relative to the base URL
	pays bool   // a send: unclear outcomes are unknown outcomes
	// signed: WeChat signs this endpoint's answers (orderquery does, red
	// packets' do not), so a successful answer without a signature is
	// refused rather than trusted.
	signed bool
}

var (
	opSendRedPack      = operation{name: "sendredpack", path: "mmpaymkttransfers/sendredpack", pays: true}
	opSendGroupRedPack = operation{name: "sendgroupredpack", path: "mmpaymkttransfers/sendgroupredpack", pays: true}
	opQueryRedPack     = operation{name: "gethbinfo", path: "mmpaymkttransfers/gethbinfo"}
)

// verdict is what one attempt proves about the request.
type verdict int

const (
	vSuccess verdict = iota
	vNotSent         // it never left: nothing can have happened
	vUnclear         // it may have reached WeChat; no definite answer
	vRefused         // WeChat's definite refusal
)

// result is one attempt's outcome. err is the bare cause: a transport or
// context error, a *DecodeError or an *APIError.
type result struct {
	env    envelope // the answer's shared fields, for the log
	parsed bool     // env was read from an answer
	status int
	err    error
	v      verdict
	retry  bool // another attempt with the same body may help
}

// do is the one request path of every endpoint: it signs the fields and
// encodes the body once, sends it (again, byte for byte, on a retry), and
// decodes a successful answer with decode. ps must not contain mch_id,
// nonce_str, sign_type or sign: do adds them.
func (c *Client) do(ctx context.Context, op operation, billNo string, ps []param, decode func(*etree.Element) error) error {
	ps = append(ps, param{"mch_id", c.mchID}, param{"nonce_str", c.nonce()})
	if c.signType == SignHMACSHA256 {
		ps = append(ps, param{"sign_type", SignHMACSHA256.String()})
	}
	body := encodeRequest(ps, signParams(ps, c.apiKey.get(), c.signType))

	var r result
	var unclear *result // the last attempt that may have reached WeChat
	attempts := 0
	for attempts < c.retry.MaxAttempts {
		if attempts > 0 {
			if err := c.sleep(ctx, c.retry.backoff(attempts, c.jitter)); err != nil {
				r = result{err: err, v: vNotSent}
				break
			}
		}
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				r = result{err: err, v: vNotSent}
				break
			}
		}
		attempts++
		var start time.Time
		if c.logger != nil { // silent clients do not read the clock
			start = time.Now()
		}
		r = c.attempt(ctx, op, billNo, body, decode)
		if c.logger != nil {
			c.logAttempt(ctx, op, billNo, attempts, r, time.Since(start))
		}
		if r.v == vSuccess {
			return nil
		}
		if r.v == vUnclear {
			last := r
			unclear = &last
		}
		if !r.retry {
			break
		}
	}
	return c.finalError(op, billNo, attempts, r, unclear)
}

// finalError turns the last attempt into the error the caller sees. For a
// send, once any attempt was unclear the outcome stays unknown: a later
// refusal, timeout or FREQ_LIMIT proves nothing about the earlier attempt.
// Only SEND_FAILED, which is about the bill number itself, settles it.
func (c *Client) finalError(op operation, billNo string, attempts int, r result, unclear *result) error {
	if op.pays && unclear != nil && !errors.Is(r.err, CodeSendFailed) {
		u := &UnknownOutcomeError{Op: op.name, MchBillNo: billNo, Attempts: attempts}
		if apiErr, ok := unclear.err.(*APIError); ok {
			apiErr.Op, apiErr.Attempts = op.name, attempts
			u.Answer = apiErr
		} else {
			u.Err = unclear.err
		}
		if r.v != vUnclear || r.err != unclear.err {
			u.last = r.err
		}
		return u
	}
	if r.v == vNotSent {
		return &RequestError{Op: op.name, MchBillNo: billNo, Attempts: attempts, Err: r.err}
	}
	if apiErr, ok := r.err.(*APIError); ok {
		apiErr.Op, apiErr.Attempts = op.name, attempts
		return apiErr
	}
	return fmt.Errorf("redpack: %s bill %s, %d attempt(s): %w", op.name, billNo, attempts, r.err)
}

// attempt posts body once, reads the reply and classifies it.
func (c *Client) attempt(ctx context.Context, op operation, billNo string, body []byte, decode func(*etree.Element) error) result {
	// wrote is set once the whole request has been written: from then on,
	// WeChat may have acted on it. Flag and trace share one allocation.
	wt := &wroteTrace{}
	wt.trace.WroteRequest = func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wt.wrote.Store(true)
		}
	}
	wrote := &wt.wrote
	actx := ctx // the attempt's: ctx bounded by the timeout
	if c.timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel() // after the answer is read: the body is read under actx
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(actx, &wt.trace), http.MethodPost, c.baseURL+op.path, bytes.NewReader(body))
	if err != nil {
		return result{err: err, v: vNotSent}
	}
	// Shared, never-modified values: net/http only reads them.
	req.Header["Content-Type"] = contentTypeXML
	req.Header["User-Agent"] = userAgentValue

	// The transport, not an http.Client: a client would follow a redirect,
	// re-posting the payment to wherever it points (307, 308) or turning
	// it into a GET whose refusal would read as a definite one (302).
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		live := ctx.Err() == nil
		err = &url.Error{Op: "Post", URL: req.URL.String(), Err: schemeMismatch(err)} // as http.Client reports it
		err = withContextErr(ctx, c.timedOut(ctx, actx, err))
		if !wrote.Load() || certRefused(err) {
			return result{err: err, v: vNotSent, retry: live && !isTLSConfigError(err)}
		}
		return result{err: err, v: vUnclear, retry: live}
	}
	defer resp.Body.Close()
	unclear := func(err error) result {
		live := ctx.Err() == nil
		return result{status: resp.StatusCode, err: withContextErr(ctx, c.timedOut(ctx, actx, err)), v: vUnclear, retry: live}
	}
	pooled := answerBufs.Get().(*[]byte)
	defer func() {
		if cap(*pooled) <= maxPooledAnswer {
			answerBufs.Put(pooled)
		}
	}()
	raw, err := readLimited(resp.Body, resp.ContentLength, c.maxBody, *pooled)
	*pooled = raw[:0]
	if err != nil {
		return unclear(fmt.Errorf("reading the answer: %w", err))
	}
	if int64(len(raw)) > c.maxBody {
		return unclear(&DecodeError{HTTPStatus: resp.StatusCode, Reason: fmt.Sprintf("longer than %d bytes", c.maxBody), Excerpt: excerpt(raw)})
	}
	if resp.StatusCode != http.StatusOK {
		return unclear(&DecodeError{HTTPStatus: resp.StatusCode, Reason: "HTTP status " + resp.Status, Excerpt: excerpt(raw)})
	}
	p := parsers.Get().(*answerParser)
	defer p.release()
	root, err := p.parse(actx, raw, resp.StatusCode)
	if err != nil {
		return unclear(err)
	}
	env := readEnvelope(root)
	r := c.judge(op, billNo, root, &env, resp.StatusCode)
	if r.v == vSuccess {
		if err := decode(root); err != nil {
			r = unclear(err)
		}
	}
	r.env, r.parsed = env, true
	return r
}

// wroteTrace is an attempt's httptrace hook with the flag it sets.
type wroteTrace struct {
	wrote atomic.Bool
	trace httptrace.ClientTrace
}

// timedOut says so when err is a deadline error of the attempt's own
// timeout: actx ended while the caller's ctx is still live.
func (c *Client) timedOut(ctx, actx context.Context, err error) error {
	if ctx.Err() != nil || actx.Err() == nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("attempt timed out after %s: %w", c.timeout, err)
}

// withContextErr puts ctx's error in front of err when the context has
// ended: a failure then is most likely its doing, and callers check for
// context errors with errors.Is. Both stay in the chain.
func withContextErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	return err
}

// readLimited appends at most max+1 bytes of r to buf[:0]. sizeHint, the
// announced length or -1, sizes buf up front (up to maxUpfront) so that a
// well-behaved answer is read with no allocation beyond buf's growth; a
// server that sends more than it announced is read on, up to max+1.
//
// A body that ends before its announced length is io.ErrUnexpectedEOF.
// max must be below math.MaxInt64 (WithMaxResponseBytes sees to it).
func readLimited(r io.Reader, sizeHint, max int64, buf []byte) ([]byte, error) {
	buf = buf[:0]
	if sizeHint >= 0 && sizeHint <= max {
		buf = slices.Grow(buf, int(min(sizeHint, maxUpfront))+1) // +1: room to see EOF
	}
	for int64(len(buf)) <= max {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 512)
		}
		end := int(min(int64(cap(buf)), max+1))
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if sizeHint >= 0 && int64(len(buf)) < sizeHint {
				return nil, io.ErrUnexpectedEOF
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// answerBufs holds buffers answers are read into. Nothing keeps a buffer
// once attempt returns: etree and the excerpts copy what they keep.
var answerBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledAnswer keeps a rare huge answer from being held by the pool.
const maxPooledAnswer = 64 << 10

// maxUpfront caps what readLimited allocates on a server's word: a
// Content-Length is only a claim, and memory for a longer body is taken as
// its bytes arrive.
const maxUpfront = 64 << 10

// judge classifies a well-formed answer.
func (c *Client) judge(op operation, billNo string, root *etree.Element, env *envelope, status int) result {
	unclear := func(err error) result { return result{status: status, err: err, v: vUnclear, retry: true} }
	if env.Sign != "" {
		// Red-packet answers are unsigned; one that is signed must verify.
		t := c.signType
		switch env.SignType {
		case SignHMACSHA256.String():
			t = SignHMACSHA256
		case SignMD5.String():
			t = SignMD5
		}
		if !verifySign(leafParams(root), env.Sign, c.apiKey.get(), t) {
			return unclear(&DecodeError{HTTPStatus: status, Reason: "the answer's signature does not verify", Excerpt: `"(withheld)"`})
		}
	}
	if op.signed && env.Sign == "" && env.ReturnCode == "SUCCESS" {
		return unclear(&DecodeError{HTTPStatus: status, Reason: "the answer is not signed, and " + op.name + "'s answers are", Excerpt: excerpt([]byte(env.ReturnMsg))})
	}
	if env.MchBillNo != "" && env.MchBillNo != billNo {
		return unclear(fieldError("mch_billno", env.MchBillNo, "is not the bill number sent"))
	}
	if env.ReturnCode != "SUCCESS" && env.ReturnCode != "FAIL" {
		return unclear(&DecodeError{HTTPStatus: status, Reason: "return_code is neither SUCCESS nor FAIL", Excerpt: excerpt([]byte(env.ReturnCode))})
	}
	if env.ReturnCode == "SUCCESS" && env.ResultCode == "SUCCESS" {
		return result{status: status, v: vSuccess}
	}
	apiErr := &APIError{
		ReturnCode: env.ReturnCode,
		ReturnMsg:  env.ReturnMsg,
		ResultCode: env.ResultCode,
		ErrCode:    env.ErrCode,
		ErrCodeDes: env.ErrCodeDes,
		MchBillNo:  billNo,
		HTTPStatus: status,
	}
	switch Code(env.ErrCode) {
	case CodeFreqLimit:
		return result{status: status, err: apiErr, v: vRefused, retry: true}
	case CodeSystemError:
		if !op.pays {
			return result{status: status, err: apiErr, v: vRefused, retry: true}
		}
	}
	if op.pays && billExpired(env.ErrCode, env.ErrCodeDes+env.ReturnMsg) {
		// Not retried: the same request gets the same answer.
		return result{status: status, err: apiErr, v: vUnclear}
	}
	if op.pays && !refuses(env.ErrCode) {
		return unclear(apiErr)
	}
	return result{status: status, err: apiErr, v: vRefused}
}

// logAttempt writes one record per attempt, if a logger was given. Only
// allow-listed fields are logged: never the body, the signature or the key.
func (c *Client) logAttempt(ctx context.Context, op operation, billNo string, attempt int, r result, d time.Duration) {
	if c.logger == nil {
		return
	}
	level, msg := slog.LevelInfo, "redpack: "+op.name+" succeeded"
	switch {
	case r.v == vUnclear && op.pays:
		level, msg = slog.LevelWarn, "redpack: "+op.name+" outcome unknown"
	case r.v != vSuccess:
		level, msg = slog.LevelWarn, "redpack: "+op.name+" failed"
	}
	if !c.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("op", op.name),
		slog.Int("attempt", attempt),
		slog.String("mch_billno", billNo),
		slog.Int("http_status", r.status),
		slog.Duration("duration", d),
	)
	if r.parsed {
		attrs = append(attrs,
			slog.String("return_code", r.env.ReturnCode),
			slog.String("result_code", r.env.ResultCode),
			slog.String("err_code", r.env.ErrCode))
	}
	if r.err != nil {
		attrs = append(attrs, slog.String("error", r.err.Error()), slog.Bool("retry", r.retry))
	}
	c.logger.LogAttrs(ctx, level, msg, attrs...)
}
