package redpacktest

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/redpack-go/redpack/internal/pki"
)

// Option configures a Handler or Server. Options are checked when the
// Handler is made; a bad one makes NewHandler, NewServer or Start fail.
type Option func(*settings) error

type settings struct {
	merchants    []Merchant
	acceptHMAC   bool
	rateLimit    int
	prefix       string
	start        time.Time
	frozen       bool
	seed         uint64
	hosts        []string
	ca           *pki.CA
	certs        map[string]*pki.Leaf // merchant certificates given, by mch_id
	logger       *slog.Logger
	notifyClient *http.Client
}

func defaultSettings() settings {
	return settings{
		merchants:    []Merchant{DefaultMerchant()},
		rateLimit:    DefaultRateLimit,
		prefix:       "/",
		start:        time.Now(),
		seed:         1,
		hosts:        []string{"127.0.0.1", "::1", "localhost"},
		notifyClient: defaultNotifyClient(),
	}
}

// WithMerchants replaces the default merchant with ms. Each gets its own
// client certificate. Merchant ids must differ.
func WithMerchants(ms ...Merchant) Option {
	return func(s *settings) error {
		if len(ms) == 0 {
			return errors.New("redpacktest: WithMerchants: no merchant")
		}
		s.merchants = append([]Merchant(nil), ms...)
		return nil
	}
}

// WithHMACSHA256 makes the server accept requests signed with
// sign_type=HMAC-SHA256, as APIv2's other endpoints do; sign_type is then
// part of the signed fields whenever it is sent. Without it the server
// behaves as WeChat does for red packets (spec §4.3): sign_type is ignored
// and never signed, and sign_type=HMAC-SHA256 is answered SIGN_ERROR.
func WithHMACSHA256() Option {
	return func(s *settings) error {
		s.acceptHMAC = true
		return nil
	}
}

// WithRateLimit sets how many requests per second (real time, sliding
// window) each merchant may make before FREQ_LIMIT; 0 turns the limit
// off. The default is WeChat's 30 (DefaultRateLimit).
func WithRateLimit(perSecond int) Option {
	return func(s *settings) error {
		if perSecond < 0 {
			return fmt.Errorf("redpacktest: WithRateLimit: %d is negative", perSecond)
		}
		s.rateLimit = perSecond
		return nil
	}
}

// WithPathPrefix serves the endpoints under prefix, e.g. "/wechat/" makes
// them /wechat/mmpaymkttransfers/…; Server.URL includes it. A client that
// builds absolute paths instead of resolving against its base URL then
// gets 404.
func WithPathPrefix(prefix string) Option {
	return func(s *settings) error {
		// Cleaned as request paths are, so that the URL Server.URL
		// advertises reaches the endpoints.
		p := cleanPath("/" + strings.Trim(prefix, "/"))
		if p != "/" {
			p += "/"
		}
		if strings.ContainsAny(p, "?#") {
			return fmt.Errorf("redpacktest: WithPathPrefix: %q holds a query or fragment", prefix)
		}
		s.prefix = p
		return nil
	}
}

// WithClock freezes the server's clock at start: it then moves only with
// Advance and SetTime, so send and receive times are exact. Without it the
// clock follows real time (plus whatever Advance and SetTime add).
func WithClock(start time.Time) Option {
	return func(s *settings) error {
		if start.IsZero() {
			return errors.New("redpacktest: WithClock: zero time")
		}
		s.start, s.frozen = start, true
		return nil
	}
}

// WithSeed seeds the randomness of group-packet splits and mini-program
// package strings. The default seed is 1: runs are reproducible unless
// requests race each other.
func WithSeed(seed uint64) Option {
	return func(s *settings) error {
		s.seed = seed
		return nil
	}
}

// WithHosts sets the names and addresses the server certificate is valid
// for; the default is 127.0.0.1, ::1 and localhost.
func WithHosts(hosts ...string) Option {
	return func(s *settings) error {
		if len(hosts) == 0 {
			return errors.New("redpacktest: WithHosts: no host")
		}
		s.hosts = append([]string(nil), hosts...)
		return nil
	}
}

// WithCA makes the Handler use an existing certificate authority, given as
// the PEM of its certificate and private key (CACertPEM and CAKeyPEM of an
// earlier Handler), instead of making a new one. Clients that trust the old
// CA then trust the new Handler's server certificate, which is issued anew
// from it. Together with WithMerchantCertificate it lets a fake server be
// restarted with the credentials its clients already hold.
func WithCA(certPEM, keyPEM []byte) Option {
	return func(s *settings) error {
		ca, err := pki.ParseCA(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("redpacktest: WithCA: %w", err)
		}
		s.ca = ca
		return nil
	}
}

// WithMerchantCertificate gives the merchant mchID an existing API
// certificate and key in PEM form (the CertPEM and KeyPEM of an earlier
// Handler) instead of issuing a new one. The certificate must be issued by
// the Handler's CA (see WithCA), for client authentication, with mchID as
// its common name, and be valid now; the merchant must exist when the
// Handler is made. The merchant's apiclient_cert.p12 is encoded anew from
// it.
func WithMerchantCertificate(mchID string, certPEM, keyPEM []byte) Option {
	return func(s *settings) error {
		leaf, err := pki.ParseLeaf(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("redpacktest: WithMerchantCertificate %s: %w", mchID, err)
		}
		if s.certs == nil {
			s.certs = make(map[string]*pki.Leaf)
		}
		s.certs[mchID] = leaf
		return nil
	}
}

// WithLogger makes the Handler log one record per request at Info level:
// the operation, path, mch_id, mch_billno, the err_code answered, the
// fault taken, the HTTP status (0 when the connection was dropped) and the
// duration. It never logs a body, a signature or a key. Without it the
// Handler logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			return errors.New("redpacktest: WithLogger: nil logger")
		}
		s.logger = l
		return nil
	}
}

// WithNotifyClient sets the HTTP client that delivers payment and refund
// notifications to their notify URLs, e.g. an httptest.Server's Client()
// to reach an HTTPS receiver with a test certificate. The default has
// WeChat's 5 s timeout (DefaultNotifyTimeout) and trusts the system's
// roots. The client's own timeout applies: give it one.
func WithNotifyClient(c *http.Client) Option {
	return func(s *settings) error {
		if c == nil {
			return errors.New("redpacktest: WithNotifyClient: nil client")
		}
		s.notifyClient = c
		return nil
	}
}
