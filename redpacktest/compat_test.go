package redpacktest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// This file holds what SDKs redpack did not write send, where WeChat is
// lenient and the server must be too.

// request is sendredpack's body as silenceper/wechat/v2 builds it:
// encoding/xml of a struct with no XMLName, so the root takes the type's
// name, <request>; values are plain text and sign sits among the fields.
type request struct {
	NonceStr    string `xml:"nonce_str"`
	Sign        string `xml:"sign"`
	MchID       string `xml:"mch_id"`
	MchBillno   string `xml:"mch_billno"`
	Wxappid     string `xml:"wxappid"`
	SendName    string `xml:"send_name"`
	ReOpenID    string `xml:"re_openid"`
	TotalAmount int    `xml:"total_amount"`
	TotalNum    int    `xml:"total_num"`
	Wishing     string `xml:"wishing"`
	ClientIP    string `xml:"client_ip"`
	ActName     string `xml:"act_name"`
	Remark      string `xml:"remark"`
}

func silenceperBody(t *testing.T, fields map[string]string) []byte {
	t.Helper()
	amount, _ := strconv.Atoi(fields["total_amount"])
	num, _ := strconv.Atoi(fields["total_num"])
	body, err := xml.Marshal(request{
		NonceStr: fields["nonce_str"], Sign: testSign(fields, DefaultAPIKey, false),
		MchID: fields["mch_id"], MchBillno: fields["mch_billno"], Wxappid: fields["wxappid"],
		SendName: fields["send_name"], ReOpenID: fields["re_openid"], TotalAmount: amount, TotalNum: num,
		Wishing: fields["wishing"], ClientIP: fields["client_ip"], ActName: fields["act_name"], Remark: fields["remark"],
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestAnyRootElement(t *testing.T) {
	f := newFixture(t)
	bill := billNo()
	body := silenceperBody(t, normalFields(bill, 1000))
	if string(body[:9]) != "<request>" {
		t.Fatalf("body starts %q", body[:9])
	}
	wantCode(t, post(t, f.s, f.hc, "sendredpack", body), "SUCCESS", "")
	if p := mustPacket(t, f.s, DefaultMchID, bill); !p.Paid {
		t.Errorf("packet %+v", p)
	}
	wantCode(t, f.query(bill), "SUCCESS", "")

	reqs := f.s.Requests()
	if reqs[0].Root != "request" || reqs[1].Root != "xml" {
		t.Errorf("roots %q, %q; want request, xml", reqs[0].Root, reqs[1].Root)
	}
	var logged []adminRequestJSON
	newAdmin(t, f.s.Handler).ok("GET", "/requests", "", &logged)
	if len(logged) != 2 || logged[0].Root != "request" {
		t.Errorf("/requests %+v", logged)
	}

	// Still one flat root: two roots or nested fields are XML_ERROR.
	wantCode(t, post(t, f.s, f.hc, "sendredpack", []byte("<request></request><request></request>")), "XML_ERROR", "")
	wantCode(t, post(t, f.s, f.hc, "sendredpack", []byte("<request><mch_id><a>1</a></mch_id></request>")), "XML_ERROR", "")
}

func TestByteOrderMark(t *testing.T) {
	f := newFixture(t)
	for name, prolog := range map[string]string{
		"BOM":                  utf8BOM,
		"BOM with declaration": utf8BOM + `<?xml version="1.0" encoding="utf-8"?>` + "\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			bill := billNo()
			fs := normalFields(bill, 1000)
			fs["sign"] = testSign(fs, DefaultAPIKey, false)
			wantCode(t, post(t, f.s, f.hc, "sendredpack", append([]byte(prolog), xmlBody(fs)...)), "SUCCESS", "")
			mustPacket(t, f.s, DefaultMchID, bill)
		})
	}
	// A BOM alone is still an empty body.
	wantCode(t, post(t, f.s, f.hc, "sendredpack", []byte(utf8BOM)), "XML_ERROR", "")
}

// TestPathSlashes: gopay joins its base URL and "/mmpaymkttransfers/…", so
// a base URL ending in "/" makes "//"; a front end that merges slashes
// passes it on, as it does a trailing slash.
func TestPathSlashes(t *testing.T) {
	for _, prefix := range []string{"/", "/wechat/"} {
		t.Run(prefix, func(t *testing.T) {
			f := newFixture(t, WithPathPrefix(prefix))
			root := strings.TrimSuffix(f.s.URL(), prefix)
			for _, path := range []string{
				prefix + "/mmpaymkttransfers/sendredpack",
				prefix + "mmpaymkttransfers//sendredpack",
				prefix + "mmpaymkttransfers/sendredpack/",
				"/" + prefix + "/mmpaymkttransfers/sendredpack//",
			} {
				bill := billNo()
				fs := normalFields(bill, 1000)
				fs["sign"] = testSign(fs, DefaultAPIKey, false)
				status, raw := postRaw(t, f.hc, root+path, xmlBody(fs))
				if status != http.StatusOK {
					t.Fatalf("%s: HTTP %d: %s", path, status, raw)
				}
				wantCode(t, parseAnswer(t, status, raw), "SUCCESS", "")
				if got := f.s.Requests(); got[len(got)-1].Path != path {
					t.Errorf("Request.Path = %q, want the path as sent, %q", got[len(got)-1].Path, path)
				}
			}
			if len(f.s.Packets()) != 4 {
				t.Errorf("%d packets, want 4", len(f.s.Packets()))
			}
			// Merging slashes does not make up a missing part of the path,
			// and an encoded slash is no separator.
			for _, path := range []string{prefix + "sendredpack", prefix + "mmpaymkttransfers/sendredpackx",
				prefix + "mmpaymkttransfers%2Fsendredpack", prefix + "%2Fmmpaymkttransfers/sendredpack"} {
				if status, _ := postRaw(t, f.hc, root+path, nil); status != http.StatusNotFound {
					t.Errorf("%s: HTTP %d, want 404", path, status)
				}
			}
		})
	}
	f := newFixture(t, WithPathPrefix("/wechat/"))
	if status, _ := postRaw(t, f.hc, strings.TrimSuffix(f.s.URL(), "/wechat/")+"//mmpaymkttransfers/sendredpack", nil); status != http.StatusNotFound {
		t.Errorf("a path without the prefix: HTTP %d, want 404", status)
	}
	// A prefix with doubled slashes is cleaned too: the URL the server
	// advertises reaches its endpoints.
	f = newFixture(t, WithPathPrefix("/v2//wechat/"))
	if !strings.HasSuffix(f.s.URL(), "/v2/wechat/") {
		t.Errorf("URL %s, want the prefix cleaned", f.s.URL())
	}
	fs := normalFields(billNo(), 1000)
	fs["sign"] = testSign(fs, DefaultAPIKey, false)
	status, raw := postRaw(t, f.hc, f.s.URL()+"mmpaymkttransfers/sendredpack", xmlBody(fs))
	if status != http.StatusOK {
		t.Fatalf("under the cleaned prefix: HTTP %d: %s", status, raw)
	}
	wantCode(t, parseAnswer(t, status, raw), "SUCCESS", "")
}

// TestNonPostRefused: a valid, signed body sent with another method is
// refused as WeChat's gateway would (405, an HTML page), pays nothing and
// is logged; the same body POSTed afterwards pays.
func TestNonPostRefused(t *testing.T) {
	var logs syncBuffer
	f := newFixture(t, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	bill := billNo()
	fs := normalFields(bill, 1000)
	fs["sign"] = testSign(fs, DefaultAPIKey, false)
	body := xmlBody(fs)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, err := http.NewRequest(method, f.s.URL()+"mmpaymkttransfers/sendredpack", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := f.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" || !strings.Contains(string(raw), "405") {
			t.Errorf("%s: HTTP %d, Allow %q: %s", method, resp.StatusCode, resp.Header.Get("Allow"), raw)
		}
	}
	resp, err := f.hc.Get(f.s.URL() + "sandboxnew/pay/getsignkey")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET getsignkey: HTTP %d, want 405", resp.StatusCode)
	}
	if n := len(f.s.Packets()); n != 0 || f.s.Paid(DefaultMchID) != 0 {
		t.Fatalf("%d packets, %d fen paid after refused methods", n, f.s.Paid(DefaultMchID))
	}
	reqs := f.s.Requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests logged, want 5", len(reqs))
	}
	for _, r := range reqs[:4] {
		if r.Op != "sendredpack" || r.ErrCode != "" || !bytes.Equal(r.Body, body) {
			t.Errorf("request %+v", r)
		}
	}
	if reqs[4].Op != "getsignkey" {
		t.Errorf("request %+v", reqs[4])
	}
	if n := strings.Count(logs.String(), "status=405"); n != 5 {
		t.Errorf("%d log lines with status=405, want 5:\n%s", n, logs.String())
	}
	wantCode(t, post(t, f.s, f.hc, "sendredpack", body), "SUCCESS", "")
	if f.s.Paid(DefaultMchID) != 1000 {
		t.Errorf("paid %d after the POST", f.s.Paid(DefaultMchID))
	}
}

// TestHTTP10: a client that offers only http/1.0 in ALPN (curl --http1.0)
// completes the handshake and is answered.
func TestHTTP10(t *testing.T) {
	f := newFixture(t)
	cert, err := tls.X509KeyPair(f.s.CertPEM(DefaultMchID), f.s.KeyPEM(DefaultMchID))
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(f.s.URL(), "https://"), "/")
	conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: f.s.CertPool(), Certificates: []tls.Certificate{cert},
		ServerName: "127.0.0.1", NextProtos: []string{"http/1.0"}})
	if err != nil {
		t.Fatalf("handshake offering http/1.0: %v", err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.0" {
		t.Errorf("negotiated %q", p)
	}
	fs := normalFields(billNo(), 1000)
	fs["sign"] = testSign(fs, DefaultAPIKey, false)
	body := xmlBody(fs)
	fmt.Fprintf(conn, "POST /mmpaymkttransfers/sendredpack HTTP/1.0\r\nHost: %s\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s", host, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	wantCode(t, parseAnswer(t, resp.StatusCode, raw), "SUCCESS", "")
}
