package redpacktest

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redpack-go/redpack"
)

// Server is a Handler listening on a local HTTPS port (mutual TLS, HTTP/1.x),
// in the manner of httptest.Server. The embedded Handler's methods are the
// Server's too (go doc redpacktest.Handler lists them all); those a test
// calls most:
//
//   - faults and requests: [Handler.Inject], [Handler.PendingFaults],
//     [Handler.Requests], [Handler.Reset]
//   - the ledger: [Handler.Packet], [Handler.Packets], [Handler.Paid],
//     [Handler.Balance], [Handler.SetBalance]
//   - users and the clock: [Handler.Claim], [Handler.OpenBizRedPacket],
//     [Handler.Advance], [Handler.SetTime], [Handler.Now]
//   - payments and their notifications: [Handler.Pay], [Handler.Refund],
//     [Handler.Payment], [Handler.Payments], [Handler.Notify],
//     [Handler.WaitDeliveries]
//   - credentials: [Handler.Merchant], [Handler.PKCS12], [Handler.CertPEM],
//     [Handler.KeyPEM], [Handler.CertPool], [Handler.CACertPEM]
//
// Server adds URL, Client and Config, which point a redpack client at it.
type Server struct {
	*Handler
	ts  *httptest.Server
	url string
}

// NewServer starts a Server on 127.0.0.1. The caller must Close it. It is
// usable outside tests, e.g. by a demo program.
func NewServer(opts ...Option) (*Server, error) {
	h, err := NewHandler(opts...)
	if err != nil {
		return nil, err
	}
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = h.TLSConfig()
	ts.StartTLS()
	return &Server{
		Handler: h,
		ts:      ts,
		url:     strings.TrimSuffix(ts.URL, "/") + h.PathPrefix(),
	}, nil
}

// Start starts a Server for a test or benchmark, fails tb if it cannot,
// and closes it when tb ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := NewServer(opts...)
	if err != nil {
		tb.Fatalf("redpacktest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// URL is the base URL to give redpack.WithBaseURL: https://127.0.0.1:port/
// followed by the path prefix, ending in "/".
func (s *Server) URL() string { return s.url }

// Close ends the waits of slow faults, then shuts the listener down and
// waits for the requests in progress.
func (s *Server) Close() {
	s.Handler.Close()
	s.ts.Close()
}

// Config returns the merchant's redpack configuration: its mch_id, main
// AppID and API key, with the certificate read from its
// apiclient_cert.p12, as a merchant would load it.
func (s *Server) Config(mchID string) (*redpack.MerchantConfig, error) {
	m, ok := s.Merchant(mchID)
	if !ok {
		return nil, fmt.Errorf("redpacktest: no merchant %s", mchID)
	}
	return redpack.NewPKCS12Config(m.MchID, m.AppID, m.APIKey, s.PKCS12(mchID), m.MchID)
}

// Client returns a redpack client for the merchant, pointed at the server
// and trusting its CA. opts are applied after those two, so they may add
// to them (a logger, a shorter timeout) or override them.
func (s *Server) Client(mchID string, opts ...redpack.Option) (*redpack.Client, error) {
	cfg, err := s.Config(mchID)
	if err != nil {
		return nil, err
	}
	all := append([]redpack.Option{redpack.WithBaseURL(s.url), redpack.WithRootCAs(s.CertPool())}, opts...)
	return redpack.NewClient(cfg, all...)
}
