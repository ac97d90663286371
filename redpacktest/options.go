package redpacktest

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Option configures a Handler or Server. Options are checked when the
// Handler is made; a bad one makes NewHandler, NewServer or Start fail.
type Option func(*settings) error

type settings struct {
	merchants  []Merchant
	acceptHMAC bool
	rateLimit  int
	prefix     string
	start      time.Time
	frozen     bool
	seed       uint64
	hosts      []string
}

func defaultSettings() settings {
	return settings{
		merchants: []Merchant{DefaultMerchant()},
		rateLimit: DefaultRateLimit,
		prefix:    "/",
		start:     time.Now(),
		seed:      1,
		hosts:     []string{"127.0.0.1", "::1", "localhost"},
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
		p := "/" + strings.Trim(prefix, "/") + "/"
		if p == "//" {
			p = "/"
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
