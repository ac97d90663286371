package redpack

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/davecgh/go-spew/spew"
	"github.com/redpack-go/redpack/internal/pki"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testConfig() *MerchantConfig {
	return NewConfig(testMchID, testAppID, testAPIKey, testPKI().client.TLSCertificate())
}

func TestNewClientChecksConfig(t *testing.T) {
	p := testPKI()
	good := p.client.TLSCertificate()
	expired, err := p.ca.Issue(pki.LeafOptions{CommonName: testMchID, Client: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	require.NoError(t, err)
	future, err := p.ca.Issue(pki.LeafOptions{CommonName: testMchID, Client: true,
		NotBefore: time.Now().Add(24 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
	require.NoError(t, err)
	mismatched := good
	mismatched.PrivateKey = p.server.Key
	mismatched.Leaf = nil

	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"nil config", nil, "nil Config"},
		{"empty mch_id", NewConfig("", testAppID, testAPIKey, good), "mch_id"},
		{"bad mch_id", NewConfig("19000-00109", testAppID, testAPIKey, good), "mch_id"},
		{"empty appid", NewConfig(testMchID, "", testAPIKey, good), "wxappid"},
		{"short key", NewConfig(testMchID, testAppID, "0123456789", good), "must be 32 characters, got 10"},
		{"long key", NewConfig(testMchID, testAppID, testAPIKey+"x", good), "must be 32 characters, got 33"},
		{"key with spaces", NewConfig(testMchID, testAppID, " "+testAPIKey[1:], good), "white space"},
		{"no certificate", NewConfig(testMchID, testAppID, testAPIKey, tls.Certificate{}), "no client certificate"},
		{"expired certificate", NewConfig(testMchID, testAppID, testAPIKey, expired.TLSCertificate()), "expired"},
		{"future certificate", NewConfig(testMchID, testAppID, testAPIKey, future.TLSCertificate()), "not valid until"},
		{"key does not match", NewConfig(testMchID, testAppID, testAPIKey, mismatched), "does not match"},
		{"certificate error", failingConfig{}, "vault is sealed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.cfg)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), testAPIKey[1:])
		})
	}
}

type failingConfig struct{}

func (failingConfig) MchID() string  { return testMchID }
func (failingConfig) AppID() string  { return testAppID }
func (failingConfig) APIKey() string { return testAPIKey }
func (failingConfig) Certificate() (tls.Certificate, error) {
	return tls.Certificate{}, errors.New("vault is sealed")
}

func TestPKCS12Config(t *testing.T) {
	p := testPKI()
	p12, err := p.client.PKCS12(testMchID)
	require.NoError(t, err)

	cfg, err := NewPKCS12Config(testMchID, testAppID, testAPIKey, p12, "")
	require.NoError(t, err, "the password defaults to the mch_id")
	cert, err := cfg.Certificate()
	require.NoError(t, err)
	assert.Equal(t, p.client.Cert.Raw, cert.Certificate[0])
	_, err = NewClient(cfg)
	require.NoError(t, err)

	_, err = NewPKCS12Config(testMchID, testAppID, testAPIKey, p12, "wrong")
	assert.ErrorContains(t, err, "wrong password")
	_, err = NewPKCS12Config(testMchID, testAppID, testAPIKey, []byte("not a p12"), "")
	assert.ErrorContains(t, err, "PKCS#12")

	dir := t.TempDir()
	path := dir + "/apiclient_cert.p12"
	require.NoError(t, writeFile(path, p12))
	cfg, err = LoadPKCS12Config(testMchID, testAppID, testAPIKey, path, testMchID)
	require.NoError(t, err)
	assert.Equal(t, testMchID, cfg.MchID())
	_, err = LoadPKCS12Config(testMchID, testAppID, testAPIKey, dir+"/missing.p12", "")
	assert.ErrorContains(t, err, "read certificate")
}

func TestPEMConfig(t *testing.T) {
	p := testPKI()
	cfg, err := NewPEMConfig(testMchID, testAppID, testAPIKey, p.client.CertPEM(), p.client.KeyPEM())
	require.NoError(t, err)
	_, err = NewClient(cfg)
	require.NoError(t, err)

	_, err = NewPEMConfig(testMchID, testAppID, testAPIKey, p.client.CertPEM(), p.server.KeyPEM())
	assert.ErrorContains(t, err, "PEM")

	dir := t.TempDir()
	require.NoError(t, writeFile(dir+"/cert.pem", p.client.CertPEM()))
	require.NoError(t, writeFile(dir+"/key.pem", p.client.KeyPEM()))
	cfg, err = LoadPEMConfig(testMchID, testAppID, testAPIKey, dir+"/cert.pem", dir+"/key.pem")
	require.NoError(t, err)
	assert.Equal(t, testAppID, cfg.AppID())
	_, err = LoadPEMConfig(testMchID, testAppID, testAPIKey, dir+"/nope.pem", dir+"/key.pem")
	assert.Error(t, err)
}

func TestConfigPrintsNoSecret(t *testing.T) {
	cfg := testConfig()
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "cfg", cfg)
	c, err := NewClient(cfg)
	require.NoError(t, err)
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprintf("%s", cfg), logBuf.String(), fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", *c),
	} {
		assert.NotContains(t, s, testAPIKey)
		assert.NotContains(t, s, testAPIKey[:8])
	}
	assert.Contains(t, cfg.String(), "***(32 chars)")
	assert.Contains(t, cfg.String(), testMchID)
	assert.Contains(t, logBuf.String(), `"api_key":"***(32 chars)"`)
}

func TestClientGoStringHidesKey(t *testing.T) {
	// %#v on a *Client prints the pointer's fields through GoString if set;
	// make sure the key cannot leak through the struct's fields either.
	c, err := NewClient(testConfig())
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%#v", c), testAPIKey)
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
		want string
	}{
		{"http base url", WithBaseURL("http://api.mch.weixin.qq.com/"), "not an absolute https URL"},
		{"relative base url", WithBaseURL("/mmpaymkttransfers"), "not an absolute https URL"},
		{"base url with query", WithBaseURL("https://example.com/?a=b"), "query"},
		{"bad base url", WithBaseURL("https://exa mple.com/"), "WithBaseURL"},
		{"base url with a password", WithBaseURL("https://gw:s3cret@example.com/"), "user or password"},
		{"nil http client", WithHTTPClient(nil), "nil client"},
		{"nil pool", WithRootCAs(nil), "nil pool"},
		{"bad sign type", WithSignType(SignType(9)), "unknown sign type"},
		{"tiny max body", WithMaxResponseBytes(10), "not within 1024"},
		{"unbounded max body", WithMaxResponseBytes(math.MaxInt64), "not within 1024"},
		{"insecure transport", WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}), "must be verified"},
		{"foreign transport", WithHTTPClient(&http.Client{Transport: roundTripFunc(nil)}), "cannot present the client certificate"},
		{"transport dialing TLS itself", WithHTTPClient(&http.Client{Transport: &http.Transport{
			DialTLSContext: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("unused") },
		}}), "dials TLS itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(testConfig(), tt.opt)
			assert.ErrorContains(t, err, tt.want)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWithHTTPClientDoesNotMutate(t *testing.T) {
	userTransport := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "keep.me"}}
	user := &http.Client{Timeout: 7 * time.Second, Transport: userTransport}
	c, err := NewClient(testConfig(), WithHTTPClient(user))
	require.NoError(t, err)

	assert.Same(t, userTransport, user.Transport, "the user's client is untouched")
	assert.Empty(t, userTransport.TLSClientConfig.Certificates, "the user's TLS config is untouched")
	assert.Equal(t, 0, userTransport.MaxIdleConnsPerHost)

	assert.Equal(t, 7*time.Second, c.timeout)
	tr := c.rt
	assert.NotSame(t, userTransport, tr)
	assert.Equal(t, "keep.me", tr.TLSClientConfig.ServerName)
	assert.Empty(t, tr.TLSClientConfig.Certificates, "presented from a closure")
	require.NotNil(t, tr.TLSClientConfig.GetClientCertificate)
	got, err := tr.TLSClientConfig.GetClientCertificate(&tls.CertificateRequestInfo{Version: tls.VersionTLS13, SignatureSchemes: []tls.SignatureScheme{tls.PSSWithSHA256}})
	require.NoError(t, err)
	assert.Equal(t, testPKI().client.Cert.Raw, got.Certificate[0])
	got, err = tr.TLSClientConfig.GetClientCertificate(&tls.CertificateRequestInfo{Version: tls.VersionTLS13, SignatureSchemes: []tls.SignatureScheme{tls.Ed25519}})
	require.NoError(t, err)
	assert.Empty(t, got.Certificate, "none, as crypto/tls would choose from Certificates, if the server's request rules it out")
	assert.GreaterOrEqual(t, tr.TLSClientConfig.MinVersion, uint16(tls.VersionTLS12))

	def, err := NewClient(testConfig())
	require.NoError(t, err)
	if dc := http.DefaultTransport.(*http.Transport).TLSClientConfig; dc != nil {
		assert.Empty(t, dc.Certificates, "http.DefaultTransport never carries the certificate")
	}
	assert.Equal(t, DefaultTimeout, def.timeout)
}

func TestBaseURLPrefixIsKept(t *testing.T) {
	stub := newStub(t, fixtureReply("sendredpack_SUCCESS.xml"))
	c := stub.client(t)
	_, err := c.SendRedPack(context.Background(), goodSend())
	require.NoError(t, err)
	assert.Equal(t, testPrefix+"mmpaymkttransfers/sendredpack", stub.requests()[0].Path)

	// Without the trailing slash the prefix is still a folder.
	c2, err := NewClient(testConfig(), WithBaseURL(stub.srv.URL+strings.TrimSuffix(testPrefix, "/")), WithRootCAs(testPKI().ca.Pool()))
	require.NoError(t, err)
	_, err = c2.SendRedPack(context.Background(), goodSend())
	require.NoError(t, err)
	assert.Equal(t, testPrefix+"mmpaymkttransfers/sendredpack", stub.requests()[1].Path)
}

func TestMutualTLS(t *testing.T) {
	stub := newStub(t, fixtureReply("sendredpack_SUCCESS.xml"))
	p := testPKI()

	t.Run("request carries the merchant certificate", func(t *testing.T) {
		var seen atomic.Pointer[x509.Certificate]
		stub2 := newStub(t, func(stubRequest) (int, string) { return http.StatusOK, readFixture("sendredpack_SUCCESS.xml") })
		stub2.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.TLS.PeerCertificates) > 0 {
				seen.Store(r.TLS.PeerCertificates[0])
			}
			stub2.serve(w, r)
		})
		_, err := stub2.client(t).SendRedPack(context.Background(), goodSend())
		require.NoError(t, err)
		require.NotNil(t, seen.Load())
		assert.Equal(t, p.client.Cert.Raw, seen.Load().Raw)
	})

	t.Run("a certificate from another CA is refused", func(t *testing.T) {
		other, err := pki.NewCA("someone else")
		require.NoError(t, err)
		leaf, err := other.Issue(pki.LeafOptions{CommonName: testMchID, Client: true})
		require.NoError(t, err)
		c, err := NewClient(NewConfig(testMchID, testAppID, testAPIKey, leaf.TLSCertificate()),
			WithBaseURL(stub.srv.URL+testPrefix), WithRootCAs(p.ca.Pool()))
		require.NoError(t, err)
		_, err = c.SendRedPack(context.Background(), goodSend())
		var re *RequestError
		require.ErrorAs(t, err, &re, "a refused certificate proves nothing was processed")
		assert.Equal(t, 1, re.Attempts, "a refused certificate is not retried")
		assert.NotErrorIs(t, err, ErrUnknownOutcome)
		assert.Zero(t, stub.calls.Load(), "the handler never ran")
	})

	t.Run("a plain client without certificate is refused", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool()}}}
		_, err := hc.Post(stub.srv.URL+testPrefix+"mmpaymkttransfers/sendredpack", "text/xml", strings.NewReader("<xml/>"))
		require.Error(t, err)
		assert.Zero(t, stub.calls.Load())
	})

	t.Run("the server certificate is verified", func(t *testing.T) {
		c, err := NewClient(testConfig(), WithBaseURL(stub.srv.URL+testPrefix)) // system roots
		require.NoError(t, err)
		_, err = c.SendRedPack(context.Background(), goodSend())
		var re *RequestError
		require.ErrorAs(t, err, &re, "a handshake failure proves nothing was sent")
		assert.NotErrorIs(t, err, ErrUnknownOutcome)
		assert.Contains(t, err.Error(), "certificate")
		assert.Zero(t, stub.calls.Load())
	})
}

func TestConnectionReuse(t *testing.T) {
	var handshakes atomic.Int32
	stub := newStubWith(t, fixtureReply("sendredpack_SUCCESS.xml"), func(s *httptest.Server) {
		s.TLS.VerifyConnection = func(tls.ConnectionState) error { handshakes.Add(1); return nil }
	})
	c := stub.client(t)
	for i := 0; i < 100; i++ {
		_, err := c.SendRedPack(context.Background(), goodSend())
		require.NoError(t, err)
	}
	assert.EqualValues(t, 100, stub.calls.Load())
	assert.EqualValues(t, 1, handshakes.Load(), "one TLS handshake for sequential calls")
}

// A redirect is never followed: net/http would re-post a payment to
// wherever Location points (307, 308) or turn it into a GET (302). A send
// answered with a redirect was not answered, so its outcome is unknown.
func TestRedirectIsNotFollowed(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			var stub *wechatStub
			stub = newStubWith(t, func(r stubRequest) (int, string) { return http.StatusOK, successFor(r.Fields) }, func(s *httptest.Server) {
				s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if strings.HasSuffix(r.URL.Path, "/sendredpack") {
						stub.calls.Add(1)
						io.Copy(io.Discard, r.Body)
						http.Redirect(w, r, testPrefix+"mmpaymkttransfers/elsewhere", status)
						return
					}
					stub.serve(w, r)
				})
			})
			_, err := stub.client(t).SendRedPack(context.Background(), goodSend())
			var u *UnknownOutcomeError
			require.ErrorAs(t, err, &u)
			assert.Contains(t, err.Error(), strconv.Itoa(status))
			assert.Empty(t, stub.requests(), "nothing reached the redirect's target")
			assert.EqualValues(t, 3, stub.calls.Load(), "each attempt went to the endpoint only")
		})
	}
}

func TestTransportFailures(t *testing.T) {
	t.Run("timeout after the request was written is unknown", func(t *testing.T) {
		stub := newStub(t, fixtureReply("sendredpack_SUCCESS.xml"))
		// The handler outwaits every attempt and ends only with the test:
		// had it ended with its request's context, a loaded machine could
		// let it answer (an empty 200) before the client's timeout fired.
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		stub.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			stub.calls.Add(1)
			select {
			case <-time.After(5 * time.Second):
			case <-release:
			}
		})
		c := stub.client(t, WithHTTPClient(&http.Client{Timeout: 200 * time.Millisecond}))
		_, err := c.SendRedPack(context.Background(), goodSend())
		var u *UnknownOutcomeError
		require.ErrorAs(t, err, &u)
		assert.Equal(t, "1900000109202501011234567890", u.MchBillNo)
		assert.Equal(t, 3, u.Attempts, "a per-attempt timeout is retried")
		assert.EqualValues(t, 3, stub.calls.Load())
		assert.Contains(t, err.Error(), "attempt timed out after 200ms")
		assert.ErrorIs(t, err, context.DeadlineExceeded, "as an http.Client's timeout would")
	})

	t.Run("context deadline after writing is unknown and still a context error", func(t *testing.T) {
		stub := newStub(t, nil)
		stub.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			<-r.Context().Done()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := stub.client(t).SendRedPack(ctx, goodSend())
		assert.ErrorIs(t, err, ErrUnknownOutcome)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotContains(t, err.Error(), "attempt timed out", "the caller's deadline, not the attempt's")
	})

	t.Run("dropped connection after the request was written is unknown", func(t *testing.T) {
		stub := newStub(t, nil)
		stub.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			stub.calls.Add(1)
			panic(http.ErrAbortHandler)
		})
		_, err := stub.client(t, WithRetryPolicy(RetryPolicy{MaxAttempts: 2})).SendRedPack(context.Background(), goodSend())
		assert.ErrorIs(t, err, ErrUnknownOutcome)
		assert.EqualValues(t, 2, stub.calls.Load())
	})

	// The per-attempt timeout bounds reading the answer too, not just
	// waiting for its headers.
	stalledBody := func(t *testing.T) *wechatStub {
		stub := newStub(t, nil)
		stub.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			stub.calls.Add(1)
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, "<xml><return_code><![CDATA[SUCC")
			w.(http.Flusher).Flush()
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		})
		return stub
	}
	t.Run("an answer that stalls is unknown after the attempt's timeout", func(t *testing.T) {
		stub := stalledBody(t)
		c := stub.client(t, WithHTTPClient(&http.Client{Timeout: 200 * time.Millisecond}))
		_, err := c.SendRedPack(context.Background(), goodSend())
		var u *UnknownOutcomeError
		require.ErrorAs(t, err, &u)
		assert.Equal(t, 3, u.Attempts, "a per-attempt timeout is retried")
		assert.EqualValues(t, 3, stub.calls.Load())
		assert.Contains(t, err.Error(), "attempt timed out after 200ms: reading the answer")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("an answer that stalls past the caller's deadline is unknown and not retried", func(t *testing.T) {
		stub := stalledBody(t)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := stub.client(t).SendRedPack(ctx, goodSend())
		var u *UnknownOutcomeError
		require.ErrorAs(t, err, &u)
		assert.Equal(t, 1, u.Attempts)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotContains(t, err.Error(), "attempt timed out")
	})

	t.Run("cancelled before sending is not unknown", func(t *testing.T) {
		stub := newStub(t, fixtureReply("sendredpack_SUCCESS.xml"))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := stub.client(t).SendRedPack(ctx, goodSend())
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, ErrUnknownOutcome)
		var re *RequestError
		assert.ErrorAs(t, err, &re)
		assert.Zero(t, stub.calls.Load())
	})

	t.Run("connection refused is not unknown", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		l.Close()
		c, err := NewClient(testConfig(), WithBaseURL("https://"+addr+"/"), WithRootCAs(testPKI().ca.Pool()))
		require.NoError(t, err)
		var waits []time.Duration
		c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
		_, err = c.SendRedPack(context.Background(), goodSend())
		var re *RequestError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 3, re.Attempts, "a failed dial is retried: nothing was sent")
		assert.Len(t, waits, 2)
		assert.NotErrorIs(t, err, ErrUnknownOutcome)
		assert.Contains(t, err.Error(), "not sent")
		assert.Contains(t, err.Error(), `Post "https://`+addr+`/mmpaymkttransfers/sendredpack"`, "named as http.Client names it")
	})

	t.Run("a server without TLS is a scheme mismatch, not sent and not retried", func(t *testing.T) {
		plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer plain.Close()
		c, err := NewClient(testConfig(), WithBaseURL(strings.Replace(plain.URL, "http:", "https:", 1)+"/"), WithRootCAs(testPKI().ca.Pool()))
		require.NoError(t, err)
		_, err = c.SendRedPack(context.Background(), goodSend())
		var re *RequestError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 1, re.Attempts, "a TLS setup error is not retried")
		assert.ErrorIs(t, err, http.ErrSchemeMismatch)
	})
}

// captureHandler records every slog record as text.
type captureHandler struct {
	mu    *sync.Mutex
	lines *[]string
	attrs []slog.Attr
}

func newCapture() (*slog.Logger, func() []string) {
	h := captureHandler{mu: &sync.Mutex{}, lines: new([]string)}
	return slog.New(h), func() []string {
		h.mu.Lock()
		defer h.mu.Unlock()
		return append([]string(nil), *h.lines...)
	}
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) WithAttrs(a []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), a...)
	return h
}
func (h captureHandler) WithGroup(string) slog.Handler { return h }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	*h.lines = append(*h.lines, b.String())
	h.mu.Unlock()
	return nil
}

func TestLogging(t *testing.T) {
	reply := "sendredpack_SUCCESS.xml"
	var mu sync.Mutex
	stub := newStub(t, func(stubRequest) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		return http.StatusOK, readFixture(reply)
	})
	logger, lines := newCapture()
	c := stub.client(t, WithLogger(logger))

	_, err := c.SendRedPack(context.Background(), goodSend())
	require.NoError(t, err)
	mu.Lock()
	reply = "sendredpack_SYSTEMERROR.xml"
	mu.Unlock()
	_, err = c.SendRedPack(context.Background(), goodSend())
	require.Error(t, err)

	got := lines()
	require.Len(t, got, 4, "one line per attempt: 1 success, 3 tries of SYSTEMERROR")
	assert.Contains(t, got[0], "INFO redpack: sendredpack succeeded")
	for _, want := range []string{"op=sendredpack", "attempt=1", "mch_billno=1900000109202501011234567890", "http_status=200", "result_code=SUCCESS", "duration="} {
		assert.Contains(t, got[0], want)
	}
	assert.Contains(t, got[1], "WARN redpack: sendredpack outcome unknown")
	assert.Contains(t, got[1], "err_code=SYSTEMERROR")
	assert.Contains(t, got[1], "retry=true")
	assert.Contains(t, got[3], "attempt=3")

	quiet := stub.client(t)
	assert.Nil(t, quiet.logger, "no logger, no logging")
}

// TestSecretsNeverLeak drives success, refusals, unknown outcomes,
// validation and transport failures with a logger attached, and checks that
// neither the API key nor any full signature appears in a log line or an
// error.
func TestSecretsNeverLeak(t *testing.T) {
	logger, lines := newCapture()
	var errs []string
	var signs []string
	replies := []string{"sendredpack_SUCCESS.xml", "sendredpack_SIGN_ERROR.xml", "sendredpack_SYSTEMERROR.xml",
		"return_FAIL_nocode.xml", "html_gateway.html"}
	i := 0
	var mu sync.Mutex
	stub := newStub(t, func(r stubRequest) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		signs = append(signs, r.Fields["sign"])
		name := replies[i%len(replies)]
		i++
		return http.StatusOK, readFixture(name)
	})
	c := stub.client(t, WithLogger(logger))
	c.nonce = newNonce // distinct signatures per request
	for range replies {
		_, err := c.SendRedPack(context.Background(), goodSend())
		if err != nil {
			errs = append(errs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
		_, err = c.QueryRedPack(context.Background(), "1900000109202501011234567890")
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	bad := goodSend()
	bad.TotalAmount = 1
	_, err := c.SendRedPack(context.Background(), bad)
	errs = append(errs, err.Error())
	_, err = NewClient(NewConfig(testMchID, testAppID, testAPIKey+"!", testPKI().client.TLSCertificate()))
	errs = append(errs, err.Error())
	timeoutClient := stub.client(t, WithLogger(logger), WithHTTPClient(&http.Client{Timeout: time.Nanosecond}))
	_, err = timeoutClient.SendRedPack(context.Background(), goodSend())
	errs = append(errs, err.Error())

	all := append(lines(), errs...)
	require.NotEmpty(t, signs)
	require.GreaterOrEqual(t, len(lines()), 10)
	for _, s := range all {
		assert.NotContains(t, s, testAPIKey)
		for _, sign := range signs {
			assert.NotContains(t, s, sign)
		}
	}
}

func TestForAppID(t *testing.T) {
	stub := newStub(t, func(r stubRequest) (int, string) { return http.StatusOK, successFor(r.Fields) })
	c := stub.client(t)
	other, err := c.ForAppID("wx9999999999999999")
	require.NoError(t, err)
	_, err = other.SendRedPack(context.Background(), goodSend())
	require.NoError(t, err)
	_, err = c.SendRedPack(context.Background(), goodSend())
	require.NoError(t, err)
	reqs := stub.requests()
	assert.Equal(t, "wx9999999999999999", reqs[0].Fields["wxappid"])
	assert.Equal(t, testAppID, reqs[1].Fields["wxappid"], "the original client is unchanged")
	assert.Equal(t, "wx9999999999999999", other.AppID())
	assert.Equal(t, testMchID, other.MchID())

	for _, bad := range []string{"", "wx-bad", strings.Repeat("w", 33)} {
		_, err = c.ForAppID(bad)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, "%q", bad)
		assert.Equal(t, "wxappid", ve.Field)
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

// TestCertificateErrorsHideSecrets: certificate failures, at load time and
// on the wire, name the problem but never the password or the key.
func TestCertificateErrorsHideSecrets(t *testing.T) {
	const password = "pa55-word-never-shown"
	p := testPKI()
	p12, err := p.client.PKCS12(password)
	require.NoError(t, err)
	_, err = NewPKCS12Config(testMchID, testAppID, testAPIKey, p12, "another-"+password)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), password)
	assert.NotContains(t, err.Error(), testAPIKey)

	cfg, err := NewPKCS12Config(testMchID, testAppID, testAPIKey, p12, password)
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", cfg, cfg, *cfg), password)

	other, err := pki.NewCA("someone else")
	require.NoError(t, err)
	leaf, err := other.Issue(pki.LeafOptions{CommonName: testMchID, Client: true})
	require.NoError(t, err)
	stub := newStub(t, fixtureReply("sendredpack_SUCCESS.xml"))
	logger, lines := newCapture()
	c, err := NewClient(NewConfig(testMchID, testAppID, testAPIKey, leaf.TLSCertificate()),
		WithBaseURL(stub.srv.URL+testPrefix), WithRootCAs(p.ca.Pool()), WithLogger(logger))
	require.NoError(t, err)
	_, err = c.SendRedPack(context.Background(), goodSend())
	require.Error(t, err)
	got := lines()
	require.NotEmpty(t, got)
	for _, s := range append(got, err.Error()) {
		assert.NotContains(t, s, testAPIKey)
		assert.NotContains(t, s, password)
	}
}

// TestConnectionReuseConcurrent: 100 calls from 8 goroutines, twice. The
// first burst opens the connections it needs; the second reuses them all
// (the default transport keeps only 2 idle and would re-handshake), and
// every connection is handshaken once.
func TestConnectionReuseConcurrent(t *testing.T) {
	var handshakes, conns atomic.Int32
	stub := newStubWith(t, fixtureReply("sendredpack_SUCCESS.xml"), func(s *httptest.Server) {
		s.TLS.VerifyConnection = func(tls.ConnectionState) error { handshakes.Add(1); return nil }
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
	})
	c := stub.client(t)
	burst := func() {
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 100/8+1; i++ {
					if _, err := c.SendRedPack(context.Background(), goodSend()); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	burst()
	// A dial started during the burst may still be finishing: wait until
	// every connection the burst opened has been handshaken.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n := conns.Load(); n == handshakes.Load() {
			time.Sleep(100 * time.Millisecond)
			if conns.Load() == n {
				break
			}
		}
	}
	first := handshakes.Load()
	assert.Equal(t, conns.Load(), first, "one handshake per connection")
	burst()
	assert.Equal(t, first, handshakes.Load(), "the second burst reuses the idle connections")
}

// TestNoGrowthPerCall: nothing retained per call grows with the number of
// calls (a generous margin absorbs the runtime's own noise).
func TestNoGrowthPerCall(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 10,000 calls")
	}
	stub := newStub(t, fixtureReply("sendredpack_SUCCESS.xml"))
	c := stub.client(t)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	for i := 0; i < 500; i++ { // warm up pools and connections
		_, _ = c.SendRedPack(context.Background(), goodSend())
	}
	stub.mu.Lock()
	stub.reqs = nil
	stub.mu.Unlock()
	before := heap()
	for i := 0; i < 10000; i++ {
		if _, err := c.SendRedPack(context.Background(), goodSend()); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 { // the stub keeps requests; the client must not
			stub.mu.Lock()
			stub.reqs = nil
			stub.mu.Unlock()
		}
	}
	stub.mu.Lock()
	stub.reqs = nil
	stub.mu.Unlock()
	after := heap()
	// 10,000 calls retaining even 200 bytes each would add 2 MB.
	assert.Less(t, int64(after)-int64(before), int64(2<<20), "heap grew from %d to %d", before, after)
}

// TestPooledDecodingUnderConcurrency sends from two clients at once, each
// call getting an answer chosen by its bill number: success, SYSTEMERROR,
// an HTML page, HTTP 502 or a 4 KiB success, over one client's limit.
// Answer buffers and etree documents are pooled across all clients, so a
// buffer or tree reused too early would show as a result with another
// call's bill number or amount, or as a wrong verdict (and as a race under
// -race).
func TestPooledDecodingUnderConcurrency(t *testing.T) {
	pad := "<pad>" + strings.Repeat("x", 4096) + "</pad></xml>"
	stub := newStub(t, func(r stubRequest) (int, string) {
		bill := r.Fields["mch_billno"]
		switch bill[len(bill)-1] % 5 {
		case 0:
			return http.StatusOK, successFor(r.Fields)
		case 1:
			return http.StatusOK, readFixture("sendredpack_SYSTEMERROR.xml")
		case 2:
			return http.StatusOK, readFixture("html_gateway.html")
		case 3:
			return http.StatusBadGateway, "<html>bad gateway</html>"
		}
		return http.StatusOK, strings.TrimSuffix(successFor(r.Fields), "</xml>") + pad // a success, 4 KiB long
	})
	clients := []*Client{stub.client(t), stub.client(t, WithMaxResponseBytes(2048))}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w%2]
			for i := range 25 {
				req := goodSend()
				req.MchBillNo = fmt.Sprintf("%s%02d%02d", testMchID, w, i)
				req.TotalAmount = int64(100 + 100*w + i)
				res, err := c.SendRedPack(context.Background(), req)
				kind := req.MchBillNo[len(req.MchBillNo)-1] % 5
				switch {
				case kind == 0, kind == 4 && w%2 == 0: // a success, within the client's limit
					if err != nil || res.MchBillNo != req.MchBillNo || res.TotalAmount != req.TotalAmount {
						t.Errorf("%s: %+v, %v", req.MchBillNo, res, err)
						return
					}
				default:
					var u *UnknownOutcomeError
					if !errors.As(err, &u) || u.MchBillNo != req.MchBillNo {
						t.Errorf("%s (answer %d): %v, want an unknown outcome for it", req.MchBillNo, kind, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// h2Stub is a stub whose server offers HTTP/2 (and HTTP/1.1) in ALPN, as a
// gateway in front of WeChat may, and records each request's protocol.
func h2Stub(t *testing.T, reply func(stubRequest) (int, string), handler func(*wechatStub) http.HandlerFunc) (*wechatStub, *atomic.Pointer[string]) {
	t.Helper()
	var proto atomic.Pointer[string]
	var stub *wechatStub
	stub = newStubWith(t, reply, func(s *httptest.Server) {
		s.EnableHTTP2 = true
		s.TLS.NextProtos = []string{"h2", "http/1.1"}
		s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := fmt.Sprintf("%s ALPN %q", r.Proto, r.TLS.NegotiatedProtocol)
			proto.Store(&p)
			if handler != nil {
				handler(stub)(w, r)
				return
			}
			stub.serve(w, r)
		})
	})
	return stub, &proto
}

// The client speaks HTTP/1.1 to a server that offers HTTP/2, with its own
// transport and with a user's transport set up for HTTP/2, which it leaves
// as it was.
func TestHTTP11Only(t *testing.T) {
	stub, proto := h2Stub(t, fixtureReply("sendredpack_SUCCESS.xml"), nil)
	h2 := func() *http.Transport {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetHTTP2(true)
		return &http.Transport{ForceAttemptHTTP2: true, Protocols: &p, TLSClientConfig: &tls.Config{NextProtos: []string{"h2", "http/1.1"}}}
	}
	// A plain client with the same certificate negotiates HTTP/2: the
	// server really offers it.
	plain := h2()
	plain.TLSClientConfig.Certificates = []tls.Certificate{testPKI().client.TLSCertificate()}
	plain.TLSClientConfig.RootCAs = testPKI().ca.Pool()
	resp, err := (&http.Client{Transport: plain}).Post(stub.srv.URL+testPrefix+"mmpaymkttransfers/sendredpack", "text/xml", strings.NewReader("<xml/>"))
	require.NoError(t, err)
	resp.Body.Close()
	plain.CloseIdleConnections()
	require.Equal(t, 2, resp.ProtoMajor, "the server offers HTTP/2")

	user := h2()
	for name, opts := range map[string][]Option{
		"default transport":       nil,
		"user's HTTP/2 transport": {WithHTTPClient(&http.Client{Transport: user})},
	} {
		t.Run(name, func(t *testing.T) {
			proto.Store(nil)
			c := stub.client(t, opts...)
			_, err := c.SendRedPack(context.Background(), goodSend())
			require.NoError(t, err)
			require.NotNil(t, proto.Load())
			assert.Equal(t, `HTTP/1.1 ALPN "http/1.1"`, *proto.Load())
			assert.Equal(t, []string{"http/1.1"}, c.rt.TLSClientConfig.NextProtos)
		})
	}
	assert.Equal(t, []string{"h2", "http/1.1"}, user.TLSClientConfig.NextProtos, "the user's transport is untouched")
	assert.True(t, user.ForceAttemptHTTP2)
	assert.True(t, user.Protocols.HTTP2())
}

// A context cancelled once the server has read the whole request leaves
// the outcome unknown: the request was sent. Over HTTP/2 the transport
// could not tell, and some of these came back as "not sent".
func TestCancelAfterServerReadIsUnknown(t *testing.T) {
	var cancelCurrent atomic.Pointer[context.CancelFunc]
	stub, proto := h2Stub(t, nil, func(stub *wechatStub) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			stub.calls.Add(1)
			if cancel := cancelCurrent.Load(); cancel != nil {
				(*cancel)()
			}
			select { // no answer: the client gives up first
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}
	})
	c := stub.client(t, WithRetryPolicy(RetryPolicy{MaxAttempts: 1}))
	tries := 200
	if testing.Short() {
		tries = 50
	}
	notSent := 0
	for i := 0; i < tries; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancelCurrent.Store(&cancel)
		_, err := c.SendRedPack(ctx, goodSend())
		cancel()
		require.Error(t, err)
		var re *RequestError
		if errors.As(err, &re) {
			notSent++
			continue
		}
		require.ErrorIs(t, err, ErrUnknownOutcome, "try %d", i)
		require.ErrorIs(t, err, context.Canceled, "try %d", i)
	}
	assert.Zero(t, notSent, "of %d requests the server read in full, reported as not sent", tries)
	assert.EqualValues(t, tries, stub.calls.Load())
	assert.Contains(t, *proto.Load(), "HTTP/1.1")
}

// recordingT is a testing.TB stand-in for testify that keeps what a
// failing assertion reports.
type recordingT struct{ msgs []string }

func (r *recordingT) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

// secretForms are the ways a secret could show up in printed output: the
// API key (whole, its start or middle, in hex) and the client
// certificate's private exponent (in decimal, hex, and the words a dumper
// of big.Int's fields prints).
func secretForms() []string {
	var forms []string
	for _, s := range []string{testAPIKey, testAPIKey[:8], testAPIKey[12:20]} {
		h := hex.EncodeToString([]byte(s))
		forms = append(forms, s, h, strings.ToUpper(h))
	}
	d := testPKI().client.Key.D
	forms = append(forms, d.String()[:20], d.Text(16)[:20], strings.ToUpper(d.Text(16)[:20]))
	for _, w := range d.Bits()[:4] {
		forms = append(forms, strconv.FormatUint(uint64(w), 10), strconv.FormatUint(uint64(w), 16))
	}
	return forms
}

// No fmt verb, no reflection-based dumper and no failing testify diff
// reaches the API key (or the certificate's private key) of a
// MerchantConfig or Client: as a value, a pointer, or inside a struct.
func TestSecretsUnreachable(t *testing.T) {
	cfg := testConfig()
	c, err := NewClient(cfg)
	require.NoError(t, err)
	other, err := NewClient(NewConfig(testMchID, "wx9999999999999999", testAPIKey, testPKI().client.TLSCertificate()))
	require.NoError(t, err)
	type holder struct {
		Config  MerchantConfig
		ConfigP *MerchantConfig
		Client  Client
	}
	values := map[string]any{
		"*MerchantConfig":                  cfg,
		"MerchantConfig":                   *cfg,
		"struct holding a MerchantConfig":  struct{ C MerchantConfig }{*cfg},
		"struct holding a *MerchantConfig": struct{ C *MerchantConfig }{cfg},
		"*Client":                          c,
		"Client":                           *c,
		"struct holding a Client":          struct{ C Client }{*c},
		"struct holding a *Client":         struct{ C *Client }{c},
		"struct holding all":               holder{*cfg, cfg, *c},
	}
	var outputs []string
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			outputs = append(outputs, name+" "+verb+": "+fmt.Sprintf(verb, v))
		}
		outputs = append(outputs,
			name+" spew: "+spew.Sdump(v),
			name+" spew without methods: "+(&spew.ConfigState{DisableMethods: true}).Sdump(v))
	}
	// Failing assertions print both sides and a diff of their dumps.
	otherCfg := NewConfig(testMchID, "wx9999999999999999", testAPIKey, testPKI().client.TLSCertificate())
	for name, pair := range map[string][2]any{
		"MerchantConfig":  {*cfg, *otherCfg},
		"*MerchantConfig": {cfg, otherCfg},
		"Client":          {*c, *other},
		"*Client":         {c, other},
		"struct":          {holder{*cfg, cfg, *c}, holder{*otherCfg, otherCfg, *other}},
	} {
		rec := &recordingT{}
		assert.False(t, assert.Equal(rec, pair[0], pair[1]), name)
		require.NotEmpty(t, rec.msgs)
		outputs = append(outputs, name+" assert.Equal: "+strings.Join(rec.msgs, "\n"))
	}
	for _, out := range outputs {
		for _, secret := range secretForms() {
			if i := strings.Index(out, secret); i >= 0 {
				// Quoted only up to the secret, which is not repeated.
				t.Errorf("a secret (%d chars) shows in %q…", len(secret), out[:min(i, 100)])
				break
			}
		}
	}
	assert.Contains(t, fmt.Sprint(cfg), "***(32 chars)", "what may be said is still said")
	assert.Equal(t, testAPIKey, cfg.APIKey())
}
