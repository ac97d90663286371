package redpack

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// Run with: go test -run '^$' -bench . -benchmem
//
// BenchmarkSendRedPack against BenchmarkBareHTTP is the SDK's overhead over
// the bare net/http floor: same server, same mutual TLS, same body size.

// benchServer answers every request with a canned success after reading
// the body, so that server work is the same for the SDK and the floor.
func benchServer(b *testing.B) *httptest.Server {
	b.Helper()
	p := testPKI()
	answer := []byte(readFixture("sendredpack_SUCCESS.xml"))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Write(answer)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.ca.Pool(),
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	b.Cleanup(srv.Close)
	return srv
}

func benchClient(b *testing.B, srv *httptest.Server) *Client {
	b.Helper()
	c, err := NewClient(testConfig(), WithBaseURL(srv.URL+"/"), WithRootCAs(testPKI().ca.Pool()), WithRateLimit(0, 0))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// bareClient is a plain http.Client with the same certificate and roots.
func bareClient() *http.Client {
	p := testPKI()
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{Certificates: []tls.Certificate{p.client.TLSCertificate()}, RootCAs: p.ca.Pool()}
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t}
}

func benchBody() []byte {
	r := goodSend()
	ps := []param{
		{"act_name", r.ActName}, {"client_ip", r.ClientIP}, {"mch_billno", r.MchBillNo}, {"re_openid", r.ReOpenID},
		{"remark", r.Remark}, {"send_name", r.SendName}, {"total_amount", "1000"}, {"total_num", "1"},
		{"wishing", r.Wishing}, {"wxappid", testAppID}, {"mch_id", testMchID}, {"nonce_str", newNonce()},
	}
	return encodeRequest(ps, signParams(ps, testAPIKey, SignMD5))
}

func bareCall(b *testing.B, hc *http.Client, url string, body []byte) {
	resp, err := hc.Post(url, "text/xml; charset=utf-8", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

func BenchmarkBareHTTP(b *testing.B) {
	srv := benchServer(b)
	hc, body, url := bareClient(), benchBody(), srv.URL+"/mmpaymkttransfers/sendredpack"
	bareCall(b, hc, url, body) // handshake outside the timing
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bareCall(b, hc, url, body)
	}
}

func BenchmarkSendRedPack(b *testing.B) {
	c := benchClient(b, benchServer(b))
	req, ctx := goodSend(), context.Background()
	if _, err := c.SendRedPack(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.SendRedPack(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareHTTPEtree is the floor plus the one cost the SDK may not
// avoid: parsing the answer with etree, as plainly as etree's own API
// does it (a new Document per answer). SendRedPack's distance from it is
// what the SDK itself adds.
func BenchmarkBareHTTPEtree(b *testing.B) {
	srv := benchServer(b)
	hc, body, url := bareClient(), benchBody(), srv.URL+"/mmpaymkttransfers/sendredpack"
	bareCall(b, hc, url, body)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := hc.Post(url, "text/xml; charset=utf-8", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		doc := etree.NewDocument()
		if _, err := doc.ReadFrom(resp.Body); err != nil || doc.Root() == nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

func BenchmarkBareHTTPParallel(b *testing.B) {
	srv := benchServer(b)
	hc, body, url := bareClient(), benchBody(), srv.URL+"/mmpaymkttransfers/sendredpack"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bareCall(b, hc, url, body)
		}
	})
}

func BenchmarkSendRedPackParallel(b *testing.B) {
	c := benchClient(b, benchServer(b))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := goodSend()
		for pb.Next() {
			if _, err := c.SendRedPack(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	for _, t := range []SignType{SignMD5, SignHMACSHA256} {
		b.Run(t.String(), func(b *testing.B) {
			r := goodSend()
			base := []param{
				{"wxappid", testAppID}, {"act_name", r.ActName}, {"client_ip", r.ClientIP}, {"mch_billno", r.MchBillNo},
				{"re_openid", r.ReOpenID}, {"remark", r.Remark}, {"send_name", r.SendName}, {"total_amount", "1000"},
				{"total_num", "1"}, {"wishing", r.Wishing}, {"mch_id", testMchID}, {"nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"},
			}
			ps := make([]param, len(base))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				copy(ps, base)
				signParams(ps, testAPIKey, t)
			}
		})
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	r := goodSend()
	ps := []param{
		{"act_name", r.ActName}, {"client_ip", r.ClientIP}, {"mch_billno", r.MchBillNo}, {"re_openid", r.ReOpenID},
		{"remark", r.Remark}, {"send_name", r.SendName}, {"total_amount", "1000"}, {"total_num", "1"},
		{"wishing", r.Wishing}, {"wxappid", testAppID}, {"mch_id", testMchID}, {"nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"},
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		encodeRequest(ps, "CC0A027E88D2898D11B3A1D7EFF62847")
	}
}

func BenchmarkDecodeSendResult(b *testing.B) {
	body := []byte(readFixture("sendredpack_SUCCESS.xml"))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p := parsers.Get().(*answerParser) // as Client.attempt does
		root, err := p.parse(context.Background(), body, 200)
		if err != nil {
			b.Fatal(err)
		}
		_ = readEnvelope(root)
		p.release()
	}
}

func BenchmarkDecodeRedPackInfo(b *testing.B) {
	body := []byte(groupAnswer(20))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p := parsers.Get().(*answerParser)
		root, err := p.parse(context.Background(), body, 200)
		if err != nil {
			b.Fatal(err)
		}
		info, err := decodeRedPackInfo(root)
		if err != nil || len(info.Receivers) != 20 {
			b.Fatal(err)
		}
		p.release()
	}
}

// groupAnswer is a gethbinfo answer for a group packet with n receivers.
func groupAnswer(n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "<hbinfo><openid><![CDATA[oFriend%021d]]></openid><amount>%d</amount><rcv_time><![CDATA[2025-01-03 12:%02d:30]]></rcv_time></hbinfo>", i, 100+i, i)
	}
	body := readFixture("gethbinfo_GROUP.xml")
	start, end := strings.Index(body, "<hblist>")+len("<hblist>"), strings.Index(body, "</hblist>")
	return body[:start] + sb.String() + body[end:]
}

func BenchmarkValidate(b *testing.B) {
	r := goodSend()
	r.RiskInfo = nil
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := r.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// hostileAnswers are the costliest answers the client refuses, each at
// the default size limit: elements all the way (refused by their count
// before etree parses them), and as many distinct elements as the bound
// lets through, padded with text to the limit, the last one repeating
// the first (parsed, then refused by checkShape).
func hostileAnswers() map[string][]byte {
	fill := func(unit func(i int) string, n int) []byte {
		var b bytes.Buffer
		b.WriteString("<xml>")
		for i := 0; i < n && b.Len() < DefaultMaxResponseBytes-64; i++ {
			b.WriteString(unit(i))
		}
		b.WriteString("</xml>")
		return b.Bytes()
	}
	pad := strings.Repeat("x", (DefaultMaxResponseBytes-64)/maxElements-16)
	atBound := fill(func(i int) string { return fmt.Sprintf("<e%d>%s</e%d>", i, pad, i) }, maxElements-2)
	atBound = append(atBound[:len(atBound)-len("</xml>")], "<e0/></xml>"...)
	return map[string][]byte{
		"same element to the limit":      fill(func(int) string { return "<a/>" }, math.MaxInt),
		"distinct elements to the limit": fill(func(i int) string { return fmt.Sprintf("<a%d/>", i) }, math.MaxInt),
		"distinct elements at the bound": atBound,
	}
}

// BenchmarkHostileAnswer is what refusing the costliest answers takes,
// as Client.attempt parses them.
func BenchmarkHostileAnswer(b *testing.B) {
	for name, body := range hostileAnswers() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p := parsers.Get().(*answerParser)
				if _, err := p.parse(context.Background(), body, 200); err == nil {
					b.Fatal("a hostile answer was accepted")
				}
				p.release()
			}
		})
	}
}
