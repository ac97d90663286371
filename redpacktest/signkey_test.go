package redpacktest

import (
	"net/http"
	"testing"
)

func TestGetSignKey(t *testing.T) {
	s := Start(t, WithPathPrefix("/wx/"))
	hc := httpsClient(s, nil) // no client certificate needed
	good := map[string]string{"mch_id": DefaultMchID, "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
		"sign": "831EB27AB0FD6B7A2F9F4080572C2B26"} // spec §9.5
	if got := testSign(good, DefaultAPIKey, false); got != good["sign"] {
		t.Fatalf("spec vector: test signer says %s", got)
	}
	for _, path := range []string{"sandboxnew/pay/getsignkey", "xdc/apiv2getsignkey/sign/getsignkey"} {
		status, raw := postRaw(t, hc, s.URL()+path, xmlBody(good))
		a := parseAnswer(t, status, raw)
		if status != http.StatusOK || a.F["return_code"] != "SUCCESS" || a.F["mch_id"] != DefaultMchID {
			t.Fatalf("%s: %d %s", path, status, raw)
		}
		if key := a.F["sandbox_signkey"]; key != SandboxSignKey(DefaultMchID, DefaultAPIKey) || len(key) != 32 {
			t.Fatalf("%s: sandbox_signkey %q", path, key)
		}
	}
	for name, f := range map[string]map[string]string{
		"bad sign":    with(good, "sign", "00000000000000000000000000000000"),
		"unknown mch": with(good, "mch_id", "1234567890"),
		"no nonce":    with(good, "nonce_str", ""),
		"not xml":     nil,
	} {
		body := []byte("not xml")
		if f != nil {
			body = xmlBody(f)
		}
		status, raw := postRaw(t, hc, s.URL()+"sandboxnew/pay/getsignkey", body)
		a := parseAnswer(t, status, raw)
		if a.F["return_code"] != "FAIL" || a.F["sandbox_signkey"] != "" {
			t.Errorf("%s: %s", name, raw)
		}
	}
	if SandboxSignKey("a", "k") == SandboxSignKey("b", "k") {
		t.Error("sandbox keys must differ per merchant")
	}
}

// TestGetSignKeyDuringReset: getsignkey reads the merchant's key under the
// lock Reset takes to rewrite it (go test -race catches a read outside).
func TestGetSignKeyDuringReset(t *testing.T) {
	s := Start(t)
	hc := httpsClient(s, nil)
	fields := map[string]string{"mch_id": DefaultMchID, "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"}
	fields["sign"] = testSign(fields, DefaultAPIKey, false)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				s.Reset()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := 0; i < 20; i++ {
		status, raw := postRaw(t, hc, s.URL()+"sandboxnew/pay/getsignkey", xmlBody(fields))
		if a := parseAnswer(t, status, raw); a.F["return_code"] != "SUCCESS" {
			t.Fatalf("%d %s", status, raw)
		}
	}
}
