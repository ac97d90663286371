package redpacktest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// This file holds the tests' own WeChat client: its own signer, its own
// XML writer and reader, and plain HTTPS with the merchant certificate, so
// the server is tested independently of both package redpack and the
// server's own signing code.

// testSign signs like WeChat's doc says (spec §4.1), written apart from
// signature() on purpose.
func testSign(fields map[string]string, key string, useHMAC bool) string {
	var keys []string
	for k, v := range fields {
		if k == "sign" || v == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		parts = append(parts, k+"="+fields[k])
	}
	parts = append(parts, "key="+key)
	s := strings.Join(parts, "&")
	if useHMAC {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(s))
		return fmt.Sprintf("%X", m.Sum(nil))
	}
	return fmt.Sprintf("%X", md5.Sum([]byte(s)))
}

// xmlBody writes fields as a request document, strings in CDATA, in
// sorted order for reproducible bodies.
func xmlBody(fields map[string]string) []byte {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("<xml>")
	for _, k := range keys {
		fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>", k, fields[k], k)
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

// answer is a parsed WeChat answer.
type answer struct {
	Status int
	Raw    string
	F      map[string]string
	HBList []map[string]string
}

func (a answer) code() string { return a.F["err_code"] }

type anyElem struct {
	XMLName xml.Name
	Text    string    `xml:",chardata"`
	Kids    []anyElem `xml:",any"`
}

func parseAnswer(t *testing.T, status int, raw []byte) answer {
	t.Helper()
	a := answer{Status: status, Raw: string(raw), F: map[string]string{}}
	var root anyElem
	if err := xml.Unmarshal(raw, &root); err != nil {
		t.Fatalf("answer is not XML: %v\n%s", err, raw)
	}
	if root.XMLName.Local != "xml" {
		t.Fatalf("answer root is <%s>", root.XMLName.Local)
	}
	for _, k := range root.Kids {
		if k.XMLName.Local == "hblist" {
			for _, hb := range k.Kids {
				m := map[string]string{}
				for _, e := range hb.Kids {
					m[e.XMLName.Local] = e.Text
				}
				a.HBList = append(a.HBList, m)
			}
			continue
		}
		a.F[k.XMLName.Local] = k.Text
	}
	return a
}

// httpsClient presents cert (none if nil) and trusts the server's CA.
func httpsClient(s *Server, cert *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: s.CertPool()}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

// merchantClient presents the merchant's certificate, loaded from its PEM
// files as a merchant would.
func merchantClient(t *testing.T, s *Server, mchID string) *http.Client {
	t.Helper()
	cert, err := tls.X509KeyPair(s.CertPEM(mchID), s.KeyPEM(mchID))
	if err != nil {
		t.Fatalf("load merchant %s certificate: %v", mchID, err)
	}
	hc := httpsClient(s, &cert)
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func postRaw(t *testing.T, hc *http.Client, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := hc.Post(url, "text/xml; charset=utf-8", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return resp.StatusCode, raw
}

// do signs fields with key (MD5) and posts them to op.
func do(t *testing.T, s *Server, hc *http.Client, op string, fields map[string]string, key string) answer {
	t.Helper()
	fields = clone(fields)
	fields["sign"] = testSign(fields, key, false)
	return post(t, s, hc, op, xmlBody(fields))
}

func post(t *testing.T, s *Server, hc *http.Client, op string, body []byte) answer {
	t.Helper()
	status, raw := postRaw(t, hc, s.URL()+"mmpaymkttransfers/"+op, body)
	if status != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", op, status, raw)
	}
	return parseAnswer(t, status, raw)
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// with returns fields with changes; an empty value deletes the field.
func with(fields map[string]string, kv ...string) map[string]string {
	out := clone(fields)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

var nonceSeq atomic.Int64

func nonce() string { return fmt.Sprintf("nonce%027d", nonceSeq.Add(1)) }

var billSeq atomic.Int64

// billNo returns a fresh 28-character bill number for the default merchant.
func billNo() string { return fmt.Sprintf("%s20250101%010d", DefaultMchID, billSeq.Add(1)) }

const (
	openID  = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	openID2 = "oFriendAAAAAAAAAAAAAAAAAAAAA"
	openID3 = "oFriendBBBBBBBBBBBBBBBBBBBBB"
)

// normalFields is a valid sendredpack request for the default merchant.
func normalFields(bill string, amount int64) map[string]string {
	return map[string]string{
		"act_name":     "猜灯谜抢红包活动",
		"client_ip":    "192.168.0.1",
		"mch_billno":   bill,
		"mch_id":       DefaultMchID,
		"nonce_str":    nonce(),
		"re_openid":    openID,
		"remark":       "猜越多得越多，快来抢！",
		"send_name":    "天虹百货",
		"total_amount": strconv.FormatInt(amount, 10),
		"total_num":    "1",
		"wishing":      "感谢您参加猜灯谜活动，祝您元宵节快乐！",
		"wxappid":      DefaultAppID,
	}
}

func groupFields(bill string, amount int64, n int) map[string]string {
	return map[string]string{
		"act_name":     "裂变红包测试",
		"amt_type":     "ALL_RAND",
		"mch_billno":   bill,
		"mch_id":       DefaultMchID,
		"nonce_str":    nonce(),
		"re_openid":    openID,
		"remark":       "分享给好友",
		"send_name":    "示例科技",
		"total_amount": strconv.FormatInt(amount, 10),
		"total_num":    strconv.Itoa(n),
		"wishing":      "恭喜发财",
		"wxappid":      DefaultAppID,
	}
}

func miniFields(bill string, amount int64) map[string]string {
	return map[string]string{
		"act_name":     "小程序活动",
		"mch_billno":   bill,
		"mch_id":       DefaultMchID,
		"nonce_str":    nonce(),
		"notify_way":   "MINI_PROGRAM_JSAPI",
		"re_openid":    "oMiniAbCdEfGhIjKlMnOpQrStUvW",
		"remark":       "备注",
		"send_name":    "示例科技",
		"total_amount": strconv.FormatInt(amount, 10),
		"total_num":    "1",
		"wishing":      "感谢参与",
		"wxappid":      DefaultMiniProgramAppID,
	}
}

func queryFields(bill string) map[string]string {
	return map[string]string{
		"appid":      DefaultAppID,
		"bill_type":  "MCHT",
		"mch_billno": bill,
		"mch_id":     DefaultMchID,
		"nonce_str":  nonce(),
	}
}

// fixture is a default server with a frozen clock and a raw client.
type fixture struct {
	t  *testing.T
	s  *Server
	hc *http.Client
}

// chinaNoon is 2025-01-01 12:00:00 China time, far from a day boundary.
var chinaNoon = time.Date(2025, 1, 1, 12, 0, 0, 0, time.FixedZone("UTC+8", 8*3600))

// Its rate limit is off, since table tests send fast; opts may turn it on.
func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	opts = append([]Option{WithClock(chinaNoon), WithRateLimit(0)}, opts...)
	s := Start(t, opts...)
	return &fixture{t: t, s: s, hc: merchantClient(t, s, DefaultMchID)}
}

func (f *fixture) do(op string, fields map[string]string) answer {
	f.t.Helper()
	return do(f.t, f.s, f.hc, op, fields, DefaultAPIKey)
}

func (f *fixture) send(fields map[string]string) answer {
	f.t.Helper()
	return f.do("sendredpack", fields)
}

func (f *fixture) query(bill string) answer {
	f.t.Helper()
	return f.do("gethbinfo", queryFields(bill))
}

// wantCode fails unless the answer carries code (and, if des is not empty,
// an err_code_des containing it).
func wantCode(t *testing.T, a answer, code, des string) {
	t.Helper()
	if a.code() != code {
		t.Fatalf("err_code = %q (%s), want %s\n%s", a.code(), a.F["err_code_des"], code, a.Raw)
	}
	if des != "" && !strings.Contains(a.F["err_code_des"], des) {
		t.Fatalf("err_code_des = %q, want it to contain %q", a.F["err_code_des"], des)
	}
	wantReturn := "SUCCESS"
	if code == "CA_ERROR" || code == "XML_ERROR" {
		wantReturn = "FAIL"
	}
	if a.F["return_code"] != wantReturn {
		t.Fatalf("return_code = %q, want %s", a.F["return_code"], wantReturn)
	}
	wantResult := "FAIL"
	if code == "SUCCESS" {
		wantResult = "SUCCESS"
	}
	if a.F["result_code"] != wantResult {
		t.Fatalf("result_code = %q, want %s", a.F["result_code"], wantResult)
	}
}

func mustInject(t *testing.T, s *Server, faults ...Fault) {
	t.Helper()
	if err := s.Inject(faults...); err != nil {
		t.Fatal(err)
	}
}

func mustPacket(t *testing.T, s *Server, mchID, bill string) Packet {
	t.Helper()
	p, ok := s.Packet(mchID, bill)
	if !ok {
		t.Fatalf("no packet %s/%s in the ledger", mchID, bill)
	}
	return p
}
