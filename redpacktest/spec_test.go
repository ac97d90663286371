package redpacktest

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Tests against the spec's published vectors and sample bodies (§4.1, §9).

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignatureOfficialVector(t *testing.T) {
	f := map[string]string{
		"appid": "wxd930ea5d5a258f4f", "body": "test", "device_info": "1000",
		"mch_id": "10000100", "nonce_str": "ibuaiVcKdpRxkhJA",
	}
	names := []string{"appid", "body", "device_info", "mch_id", "nonce_str"}
	const key = "192006250b4c09247ec02edce69f6a2d"
	for _, tc := range []struct {
		hmac bool
		want string
	}{
		{false, "9A0A8659F005D6984697E2CA0A9CF3B7"},
		{true, "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"},
	} {
		if got := signature(f, names, key, tc.hmac); got != tc.want {
			t.Errorf("signature(hmac=%v) = %s, want %s", tc.hmac, got, tc.want)
		}
		if got := testSign(f, key, tc.hmac); got != tc.want {
			t.Errorf("testSign(hmac=%v) = %s, want %s", tc.hmac, got, tc.want)
		}
	}
}

// TestSignatureSpecRequests checks the server's signing code against every
// signed sample body of §9, parsed by the server's own parser.
func TestSignatureSpecRequests(t *testing.T) {
	for _, tc := range []struct{ file, op, want string }{
		{"sendredpack_a.xml", "sendredpack", "CC0A027E88D2898D11B3A1D7EFF62847"},
		{"sendredpack_b.xml", "sendredpack", "229A8F1222F84556E05BC3D543A66122"},
		{"sendgroupredpack.xml", "sendgroupredpack", "93FFE8251FDE915A3063AEC011BE8C92"},
		{"gethbinfo.xml", "gethbinfo", "23156A6803624B152A5189ED8CC0CBA7"},
		{"sendminiprogramhb.xml", "sendminiprogramhb", "C9B8417A92EF992347F79E5E8DCAE136"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, _, err := parseRequest(readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if f["sign"] != tc.want {
				t.Fatalf("sample sign = %s, want %s", f["sign"], tc.want)
			}
			if got := signature(f, endpoints[tc.op].signed, DefaultAPIKey, false); got != tc.want {
				t.Errorf("signature = %s, want %s", got, tc.want)
			}
			if got := testSign(f, DefaultAPIKey, false); got != tc.want {
				t.Errorf("testSign = %s, want %s", got, tc.want)
			}
			// A wrong key must not verify.
			if got := signature(f, endpoints[tc.op].signed, "00000000000000000000000000000000", false); got == tc.want {
				t.Error("signature ignores the key")
			}
		})
	}
}

// answersEqual compares the leaf fields and hblist of two answers.
func answersEqual(t *testing.T, got, want answer) {
	t.Helper()
	if !reflect.DeepEqual(got.F, want.F) {
		t.Errorf("fields differ:\n got %v\nwant %v", got.F, want.F)
	}
	if !reflect.DeepEqual(got.HBList, want.HBList) {
		t.Errorf("hblist differs:\n got %v\nwant %v", got.HBList, want.HBList)
	}
}

// TestSpecSamplesEndToEnd posts the spec's sample requests verbatim and
// expects the spec's sample answers field for field.
func TestSpecSamplesEndToEnd(t *testing.T) {
	sendAt := time.Date(2025, 1, 1, 10, 0, 5, 0, chinaTime)
	s := Start(t, WithClock(sendAt))
	hc := merchantClient(t, s, DefaultMchID)

	got := post(t, s, hc, "sendredpack", readTestdata(t, "sendredpack_a.xml"))
	answersEqual(t, got, parseAnswer(t, 200, readTestdata(t, "sendredpack_success.xml")))
	for _, frag := range []string{"<total_amount>1000</total_amount>", "<mch_id><![CDATA[1900000109]]></mch_id>"} {
		if !strings.Contains(got.Raw, frag) {
			t.Errorf("answer lacks %s:\n%s", frag, got.Raw)
		}
	}
	if strings.Contains(got.Raw, "<sign>") {
		t.Errorf("answer is signed; red-packet answers are not:\n%s", got.Raw)
	}

	s.Advance(3*time.Minute + 36*time.Second) // 10:03:41
	if err := s.Claim(DefaultMchID, "1900000109202501011234567890"); err != nil {
		t.Fatal(err)
	}
	q := post(t, s, hc, "gethbinfo", readTestdata(t, "gethbinfo.xml"))
	want := parseAnswer(t, 200, readTestdata(t, "gethbinfo_received.xml"))
	// The sample omits the texts; the server adds them when the packet has them.
	for _, k := range []string{"wishing", "remark", "act_name"} {
		delete(q.F, k)
	}
	answersEqual(t, q, want)

	nf := do(t, s, hc, "gethbinfo", queryFields("1900000109202501099999999999"), DefaultAPIKey)
	answersEqual(t, nf, parseAnswer(t, 200, readTestdata(t, "gethbinfo_not_found.xml")))

	for _, file := range []string{"sendredpack_b.xml", "sendgroupredpack.xml", "sendminiprogramhb.xml"} {
		op := map[string]string{"sendredpack_b.xml": "sendredpack", "sendgroupredpack.xml": "sendgroupredpack", "sendminiprogramhb.xml": "sendminiprogramhb"}[file]
		a := post(t, s, hc, op, readTestdata(t, file))
		wantCode(t, a, "SUCCESS", "发放成功")
	}
	if got, want := s.Paid(DefaultMchID), int64(1000+50000+900+100); got != want {
		t.Errorf("Paid = %d, want %d", got, want)
	}
	if got, want := s.Balance(DefaultMchID), DefaultBalance-s.Paid(DefaultMchID); got != want {
		t.Errorf("Balance = %d, want %d", got, want)
	}
}

// TestSpecNoAuthSample compares a NO_AUTH answer with §9.4's sample.
func TestSpecNoAuthSample(t *testing.T) {
	m := DefaultMerchant()
	m.AllowedIPs = []string{"10.9.8.7"}
	s := Start(t, WithMerchants(m))
	hc := merchantClient(t, s, DefaultMchID)
	got := post(t, s, hc, "sendminiprogramhb", readTestdata(t, "sendminiprogramhb.xml"))
	answersEqual(t, got, parseAnswer(t, 200, readTestdata(t, "sendminiprogramhb_no_auth.xml")))
	if len(s.Packets()) != 0 {
		t.Error("a NO_AUTH request made a packet")
	}
}
