package redpack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// FuzzDecodeAnswer feeds arbitrary bytes to the answer decoders, seeded
// with every response in testdata: no panic, and every failure is a
// *DecodeError with a short message.
func FuzzDecodeAnswer(f *testing.F) {
	addResponseSeeds(f)
	f.Add([]byte(`<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><return_code>&b;</return_code></xml>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		root, err := newAnswerParser().parse(context.Background(), body, 200) // a fresh parser
		// A pooled parser, reused across inputs as on the request path,
		// must answer as a fresh one does.
		p := parsers.Get().(*answerParser)
		defer p.release()
		proot, perr := p.parse(context.Background(), body, 200)
		if (err == nil) != (perr == nil) || err != nil && err.Error() != perr.Error() {
			t.Fatalf("fresh parser: %v; pooled parser: %v", err, perr)
		}
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if readEnvelope(root) != readEnvelope(proot) {
			t.Fatalf("fresh and pooled parsers read different envelopes")
		}
		_ = leafParams(root)
		if _, err := decodeRedPackInfo(root); err != nil {
			checkDecodeError(t, err)
		}
		if _, err := decodeReceiversOf(root); err != nil {
			checkDecodeError(t, err)
		}
	})
}

func decodeReceiversOf(root *etree.Element) ([]Receiver, error) {
	if hb := root.SelectElement("hblist"); hb != nil {
		return decodeReceivers(hb)
	}
	return nil, nil
}

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %T is not a *DecodeError: %v", err, err)
	}
	if len(de.Excerpt) > 300 {
		t.Fatalf("excerpt of %d bytes", len(de.Excerpt))
	}
}

// FuzzSign checks the signer against the tests' independent one.
func FuzzSign(f *testing.F) {
	f.Add("wxd930ea5d5a258f4f", "test", "1000", "ibuaiVcKdpRxkhJA", "192006250b4c09247ec02edce69f6a2d")
	f.Add("", "红包 & <xml>", "=", "a&b=c", "")
	f.Fuzz(func(t *testing.T, appid, body, device, nonce, key string) {
		params := map[string]string{"appid": appid, "body": body, "device_info": device, "nonce_str": nonce, "sign": "x"}
		got := Sign(params, key, SignMD5)
		if want := stubSign(params, key); got != want {
			t.Fatalf("Sign = %s, independent signer = %s", got, want)
		}
		if len(Sign(params, key, SignHMACSHA256)) != 64 {
			t.Fatal("HMAC-SHA256 signature is not 64 hex characters")
		}
	})
}

// FuzzValidatedRequestRoundTrips: any request that passes validation is
// encoded into XML that an independent parser reads back field for field,
// with a signature an independent signer agrees with.
func FuzzValidatedRequestRoundTrips(f *testing.F) {
	r := goodSend()
	f.Add(r.MchBillNo, r.SendName, r.ReOpenID, r.TotalAmount, r.Wishing, r.ClientIP, r.ActName, r.Remark, "")
	f.Add("a1", "<&>\"'", "o", int64(100), "line\nbreak", "1.2.3.4", "]]>", "x", "PRODUCT_1")
	f.Fuzz(func(t *testing.T, bill, sendName, openID string, amount int64, wishing, ip, act, remark, scene string) {
		req := &SendRedPackRequest{MchBillNo: bill, SendName: sendName, ReOpenID: openID, TotalAmount: amount,
			Wishing: wishing, ClientIP: ip, ActName: act, Remark: remark, SceneID: SceneID(scene)}
		err := req.Validate()
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field == "" {
				t.Fatalf("validation error %T without a field: %v", err, err)
			}
			return
		}
		ps := []param{
			{"act_name", act}, {"client_ip", ip}, {"mch_billno", bill}, {"re_openid", openID}, {"remark", remark},
			{"scene_id", scene}, {"send_name", sendName}, {"total_amount", strconv.FormatInt(amount, 10)},
			{"wishing", wishing}, {"mch_id", testMchID}, {"nonce_str", "n"},
		}
		body := encodeRequest(ps, signParams(ps, testAPIKey, SignMD5))
		got := parseFlatXML(body)
		for _, p := range ps {
			if p.v != "" && got[p.k] != p.v {
				t.Fatalf("%s: sent %q, read back %q", p.k, p.v, got[p.k])
			}
		}
		if stubSign(got, testAPIKey) != got["sign"] {
			t.Fatal("an independent signer disagrees with the encoded signature")
		}
		if !utf8.Valid(body) {
			t.Fatal("body is not UTF-8")
		}
	})
}

// addResponseSeeds seeds f with every answer in testdata/responses.
func addResponseSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "responses", "*"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParsePaymentNotification: no input panics, and none is accepted
// unless it is the merchant's and signed with its key.
func FuzzParsePaymentNotification(f *testing.F) {
	f.Add(signedMD5(paidNotification()))
	g := paidNotification()
	g["sign"] = notifySignHMAC(g, testAPIKey)
	f.Add(notificationXML(g))
	f.Add(notificationXML(paidNotification()))
	f.Add([]byte("<html>502</html>"))
	f.Add([]byte("<xml><sign>x</sign></xml>"))
	c, err := NewClient(NewConfig(testMchID, testAppID, testAPIKey, testPKI().client.TLSCertificate()))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := c.ParsePaymentNotification(context.Background(), body)
		if err != nil {
			var ne *NotificationError
			if !errors.As(err, &ne) {
				t.Fatalf("not a *NotificationError: %v", err)
			}
			return
		}
		if n.MchID != testMchID || n.AppID != testAppID {
			t.Fatalf("accepted another merchant's notification: %+v", n)
		}
		if n.Paid() && (n.TransactionID == "" || n.CashFee > n.TotalFee) {
			t.Fatalf("accepted a paid notification without its fields: %+v", n)
		}
	})
}

// FuzzParseRefundNotification: no input panics, and none is accepted
// unless its req_info decrypts with the merchant's key.
func FuzzParseRefundNotification(f *testing.F) {
	f.Add(refundBody(testAppID, testMchID, "bm90IFdlQ2hhdCBjaXBoZXJ0ZXh0LCAzMiBieXRlcy4="))
	f.Add(refundBody(testAppID, testMchID, ""))
	f.Add([]byte("<xml><req_info>AAAA</req_info></xml>"))
	c, err := NewClient(NewConfig(testMchID, testAppID, testAPIKey, testPKI().client.TLSCertificate()))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := c.ParseRefundNotification(context.Background(), body)
		if err != nil {
			var ne *NotificationError
			if !errors.As(err, &ne) {
				t.Fatalf("not a *NotificationError: %v", err)
			}
			return
		}
		if n.MchID != testMchID || n.RefundFee > n.TotalFee || n.TransactionID == "" {
			t.Fatalf("accepted: %+v", n)
		}
	})
}
