package redpack

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpack-go/redpack/internal/pki"
	"github.com/stretchr/testify/require"
)

// The public example credentials of WeChat's docs and the spec's vectors.
const (
	testMchID  = "1900000109"
	testAppID  = "wx8888888888888888"
	testAPIKey = "192006250b4c09247ec02edce69f6a2d"
	testPrefix = "/wx/" // the server is mounted under a prefix so absolute paths fail
)

// testPKI is made once per test binary: RSA key generation is slow.
var testPKI = sync.OnceValue(func() struct {
	ca             *pki.CA
	client, server *pki.Leaf
} {
	ca, err := pki.NewCA("redpack test CA")
	if err != nil {
		panic(err)
	}
	server, err := ca.Issue(pki.LeafOptions{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		panic(err)
	}
	client, err := ca.Issue(pki.LeafOptions{CommonName: testMchID, Client: true})
	if err != nil {
		panic(err)
	}
	return struct {
		ca             *pki.CA
		client, server *pki.Leaf
	}{ca, client, server}
})

// wechatStub is a TLS server that demands the merchant's client
// certificate, parses and checks each request's signature with its own
// code, and answers with whatever reply returns.
type wechatStub struct {
	srv   *httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	reqs  []stubRequest
	reply func(r stubRequest) (status int, body string)
	waits []time.Duration // backoffs the client slept, recorded instead of slept
}

type stubRequest struct {
	Path   string
	Body   []byte
	Fields map[string]string
}

func newStub(t *testing.T, reply func(r stubRequest) (int, string)) *wechatStub {
	t.Helper()
	return newStubWith(t, reply, nil)
}

// newStubWith lets configure change the server before it starts (changing
// it afterwards races with the serving goroutines).
func newStubWith(t *testing.T, reply func(r stubRequest) (int, string), configure func(*httptest.Server)) *wechatStub {
	t.Helper()
	p := testPKI()
	s := &wechatStub{reply: reply}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.ca.Pool(),
	}
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if configure != nil {
		configure(s.srv)
	}
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *wechatStub) serve(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	req := stubRequest{Path: r.URL.Path, Body: body, Fields: parseFlatXML(body)}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	if !strings.HasPrefix(r.URL.Path, testPrefix+"mmpaymkttransfers/") && !strings.HasPrefix(r.URL.Path, testPrefix+"pay/") {
		http.NotFound(w, r)
		return
	}
	if stubSign(req.Fields, testAPIKey) != req.Fields["sign"] {
		io.WriteString(w, readFixture("sendredpack_SIGN_ERROR.xml"))
		return
	}
	status, out := s.reply(req)
	w.WriteHeader(status)
	io.WriteString(w, out)
}

func (s *wechatStub) requests() []stubRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stubRequest(nil), s.reqs...)
}

// client returns a Client for the stub with a fixed nonce.
func (s *wechatStub) client(t *testing.T, opts ...Option) *Client {
	t.Helper()
	p := testPKI()
	cfg := NewConfig(testMchID, testAppID, testAPIKey, p.client.TLSCertificate())
	opts = append([]Option{WithBaseURL(s.srv.URL + testPrefix), WithRootCAs(p.ca.Pool()), WithRateLimit(0, 0)}, opts...)
	c, err := NewClient(cfg, opts...)
	require.NoError(t, err)
	c.nonce = func() string { return "5K8264ILTKCH16CQ2502SI8ZNMTM67VS" }
	c.sleep = func(ctx context.Context, d time.Duration) error {
		s.mu.Lock()
		s.waits = append(s.waits, d)
		s.mu.Unlock()
		return ctx.Err()
	}
	return c
}

// parseFlatXML reads <xml><k>v</k>…</xml> with encoding/xml, independently
// of the client's etree-based code.
func parseFlatXML(b []byte) map[string]string {
	var doc struct {
		Fields []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	}
	m := map[string]string{}
	if xml.Unmarshal(b, &doc) != nil {
		return m
	}
	for _, f := range doc.Fields {
		m[f.XMLName.Local] = f.Value
	}
	return m
}

// stubSign is a second, deliberately plain MD5 signer for the stub.
func stubSign(fields map[string]string, key string) string {
	var keys []string
	for k, v := range fields {
		if k != "sign" && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	// stringA, then "&key=" appended to it as the doc says, even when
	// stringA is empty.
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+fields[k])
	}
	stringSignTemp := strings.Join(parts, "&") + "&key=" + key
	sum := md5.Sum([]byte(stringSignTemp))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func readFixture(name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", "responses", name))
	if err != nil {
		panic(err)
	}
	return string(b)
}

func fixtureReply(name string) func(stubRequest) (int, string) {
	body := readFixture(name)
	return func(stubRequest) (int, string) { return http.StatusOK, body }
}

// goodSend is the spec's Request A (§9.1).
func goodSend() *SendRedPackRequest {
	return &SendRedPackRequest{
		MchBillNo:   "1900000109202501011234567890",
		SendName:    "天虹百货",
		ReOpenID:    "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		TotalAmount: 1000,
		Wishing:     "感谢您参加猜灯谜活动，祝您元宵节快乐！",
		ClientIP:    "192.168.0.1",
		ActName:     "猜灯谜抢红包活动",
		Remark:      "猜越多得越多，快来抢！",
	}
}
