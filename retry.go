package redpack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// RetryPolicy says how often and how patiently a Client repeats a request.
// Every attempt sends the byte-identical signed body, bill number included,
// which WeChat answers with the first attempt's result: a retry never pays
// twice.
//
// Retried: outcomes WeChat documents as unknown (SYSTEMERROR, PROCESSING,
// an unknown err_code, an unreadable answer, a 5xx, a timeout or dropped
// connection after the request was written), FREQ_LIMIT, and failures
// before anything was written (dial, a TLS handshake cut short). Never
// retried: a cancelled or expired context, certificate and TLS
// configuration errors, validation errors, and WeChat's definite refusals
// (SIGN_ERROR, PARAM_ERROR, NOTENOUGH, …).
type RetryPolicy struct {
	// MaxAttempts counts the first attempt: 1 disables retries. Zero means
	// the default, 3.
	MaxAttempts int
	// MinBackoff is the least wait before a retry. Zero means the default,
	// 1 s: WeChat asks for at least a second between retries of one order
	// (同笔订单最短重试时间 = 1s,
	// https://pay.weixin.qq.com/doc/v2/merchant/4011974053). Less is
	// refused unless AllowFastRetries is set.
	MinBackoff time.Duration
	// MaxBackoff caps the wait. Zero means the default, 10 s, or
	// MinBackoff if that is longer.
	MaxBackoff time.Duration
	// AllowFastRetries lets MinBackoff be under a second, which breaks
	// WeChat's rule: for tests against a fake server only.
	AllowFastRetries bool
}

// DefaultRetryPolicy returns the policy a Client uses when WithRetryPolicy
// is not given: 3 attempts, waits from 1 s up to 10 s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, MinBackoff: time.Second, MaxBackoff: 10 * time.Second}
}

// WithRetryPolicy replaces DefaultRetryPolicy. Zero fields take the
// default's values; RetryPolicy{MaxAttempts: 1} turns retries off. A
// negative field, a MaxBackoff below MinBackoff, or a MinBackoff under a
// second without AllowFastRetries makes NewClient fail.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(o *options) error {
		p, err := p.withDefaults()
		if err != nil {
			return fmt.Errorf("redpack: WithRetryPolicy: %w", err)
		}
		o.retry = p
		return nil
	}
}

// withDefaults fills p's zero fields from DefaultRetryPolicy and checks
// the result.
func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.MaxAttempts < 0 || p.MinBackoff < 0 || p.MaxBackoff < 0 {
		return p, fmt.Errorf("negative value in %+v", p)
	}
	def := DefaultRetryPolicy()
	if p.MaxAttempts == 0 {
		p.MaxAttempts = def.MaxAttempts
	}
	if p.MinBackoff == 0 {
		p.MinBackoff = def.MinBackoff
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = max(def.MaxBackoff, p.MinBackoff)
	}
	if p.MinBackoff < time.Second && !p.AllowFastRetries {
		return p, fmt.Errorf("MinBackoff %v is under the second WeChat asks for between retries of one order (AllowFastRetries allows it, for a fake server)", p.MinBackoff)
	}
	if p.MaxBackoff < p.MinBackoff {
		return p, fmt.Errorf("MaxBackoff %v is below MinBackoff %v", p.MaxBackoff, p.MinBackoff)
	}
	return p, nil
}

// backoff is the wait before retry number n (1 for the first retry): at
// least MinBackoff, plus full jitter over the doubling window above it,
// capped at MaxBackoff. jitter(k) returns a uniform value in [0, k).
func (p RetryPolicy) backoff(n int, jitter func(int64) int64) time.Duration {
	window := p.MinBackoff
	for i := 1; i < n && window < p.MaxBackoff; i++ {
		window *= 2
	}
	window = min(window, p.MaxBackoff)
	extra := window - p.MinBackoff
	if extra <= 0 {
		return p.MinBackoff
	}
	return p.MinBackoff + time.Duration(jitter(int64(extra)+1))
}

// DefaultRateLimit is WeChat's documented limit for one merchant: 30
// requests a second (1800 a minute).
const DefaultRateLimit = 30

// WithRateLimit spaces the client's requests (every attempt counts) to
// perSecond, with bursts of up to burst; waiting honours the context.
// perSecond <= 0 turns limiting off. The default is DefaultRateLimit with a
// burst of 1. Clients made with ForAppID share their parent's limiter, as
// WeChat counts per merchant.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(o *options) error {
		if perSecond <= 0 {
			o.limiter = nil
			return nil
		}
		if burst < 1 {
			return fmt.Errorf("redpack: WithRateLimit: burst %d is below 1", burst)
		}
		o.limiter = rate.NewLimiter(rate.Limit(perSecond), burst)
		return nil
	}
}

// Limiter paces a client's requests: Wait blocks until the next request
// may go, or returns an error when ctx ends first. *rate.Limiter (from
// golang.org/x/time/rate) satisfies it; so can a limiter shared by many
// processes, such as one held in a database.
type Limiter interface {
	Wait(ctx context.Context) error
}

// WithLimiter makes every attempt of the client, retries included, wait on
// l, in place of WithRateLimit's limiter: for a limit shared with other
// clients or processes of the same merchant, as WeChat counts per merchant.
// A nil l turns limiting off. Clients made with ForAppID share it.
func WithLimiter(l Limiter) Option {
	return func(o *options) error {
		if rl, ok := l.(*rate.Limiter); ok && rl == nil {
			l = nil // a nil *rate.Limiter in the interface would panic in Wait
		}
		o.limiter = l
		return nil
	}
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func randJitter(n int64) int64 { return rand.Int64N(n) }

// isTLSConfigError reports a TLS failure that retrying cannot cure: a
// certificate WeChat or we refuse, or TLS spoken to something that is not.
func isTLSConfigError(err error) bool {
	var (
		verr    *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		alert   tls.AlertError
		record  tls.RecordHeaderError
	)
	return certRefused(err) || errors.As(err, &verr) || errors.As(err, &unknown) || errors.As(err, &host) ||
		errors.As(err, &invalid) || errors.As(err, &alert) || errors.As(err, &record)
}

// schemeMismatch names a plain-HTTP answer to the TLS handshake as
// http.Client does: the base URL points at a server without TLS.
func schemeMismatch(err error) error {
	var rec tls.RecordHeaderError
	if errors.As(err, &rec) && string(rec.RecordHeader[:]) == "HTTP/" {
		return fmt.Errorf("%w: %w", http.ErrSchemeMismatch, err)
	}
	return err
}

// certRefused reports the server's TLS alert refusing our certificate. With
// TLS 1.3 it arrives after the client has written its request, but a
// server that refused the handshake never decrypted that request: nothing
// was sent, and the same certificate will be refused again.
func certRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error" && strings.Contains(op.Err.Error(), "certificate")
}
