package redpacktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// admin is a client of a fixture's control API.
type admin struct {
	t   *testing.T
	url string
}

func newAdmin(t *testing.T, h *Handler) *admin {
	ts := httptest.NewServer(h.AdminHandler())
	t.Cleanup(ts.Close)
	return &admin{t: t, url: ts.URL}
}

// call sends body (JSON, or none if "") and decodes the answer into out
// (unless nil); it returns the status.
func (a *admin) call(method, path, body string, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: HTTP %d, not JSON: %v\n%s", method, path, resp.StatusCode, err, raw)
		}
	}
	return resp.StatusCode
}

// ok calls and fails unless the status is 200.
func (a *admin) ok(method, path, body string, out any) {
	a.t.Helper()
	var raw json.RawMessage
	if st := a.call(method, path, body, &raw); st != http.StatusOK {
		a.t.Fatalf("%s %s: HTTP %d: %s", method, path, st, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatal(err)
		}
	}
}

// fails calls, wants status, and returns the error text.
func (a *admin) fails(method, path, body string, status int) string {
	a.t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if st := a.call(method, path, body, &e); st != status {
		a.t.Fatalf("%s %s: HTTP %d, want %d (%s)", method, path, st, status, e.Error)
	}
	if e.Error == "" {
		a.t.Fatalf("%s %s: no error text", method, path)
	}
	return e.Error
}

func TestAdminLedger(t *testing.T) {
	f := newFixture(t)
	ad := newAdmin(t, f.s.Handler)
	normal, group := billNo(), billNo()
	wantCode(t, f.send(normalFields(normal, 1000)), "SUCCESS", "")
	wantCode(t, f.do("sendgroupredpack", groupFields(group, 900, 3)), "SUCCESS", "")

	var sum adminSummaryJSON
	ad.ok("GET", "/", "", &sum)
	if sum.Packets != 2 || sum.Requests != 2 || len(sum.Merchants) != 1 || sum.Now != "2025-01-01T12:00:00+08:00" {
		t.Errorf("summary %+v", sum)
	}

	var list []adminPacketJSON
	ad.ok("GET", "/packets", "", &list)
	if len(list) != 2 || list[0].MchBillNo != normal || list[1].MchBillNo != group {
		t.Fatalf("packets %+v", list)
	}
	ad.ok("GET", "/packets?mch_id=42", "", &list)
	if len(list) != 0 {
		t.Errorf("packets of merchant 42: %+v", list)
	}

	var p adminPacketJSON
	ad.ok("GET", "/packets/"+normal, "", &p)
	want := mustPacket(t, f.s, DefaultMchID, normal)
	if p.MchID != DefaultMchID || p.DetailID != want.DetailID || p.Status != StatusSent || !p.Paid ||
		p.TotalAmount != 1000 || p.TotalNum != 1 || p.Kind != KindNormal || p.HBType != "NORMAL" ||
		p.ReOpenID != openID || p.WxAppID != DefaultAppID || p.SendTime != "2025-01-01T12:00:00+08:00" ||
		p.Receivers == nil || len(p.Receivers) != 0 || p.Wishing == "" {
		t.Errorf("packet %+v", p)
	}
	ad.ok("GET", "/packets/"+group+"?mch_id="+DefaultMchID, "", &p)
	if p.Kind != KindGroup || p.HBType != "GROUP" || p.TotalNum != 3 {
		t.Errorf("group packet %+v", p)
	}
	ad.fails("GET", "/packets/nosuchbill", "", http.StatusNotFound)
	ad.fails("GET", "/packets/"+normal+"?mch_id=42", "", http.StatusNotFound)
}

func TestAdminClaimAndClock(t *testing.T) {
	f := newFixture(t)
	ad := newAdmin(t, f.s.Handler)
	claimed, unclaimed, group := billNo(), billNo(), billNo()
	wantCode(t, f.send(normalFields(claimed, 1000)), "SUCCESS", "")
	wantCode(t, f.send(normalFields(unclaimed, 2000)), "SUCCESS", "")
	wantCode(t, f.do("sendgroupredpack", groupFields(group, 900, 3)), "SUCCESS", "")

	var c adminClockJSON
	ad.ok("POST", "/clock/advance", `{"duration": "3m"}`, &c)
	if c.Now != "2025-01-01T12:03:00+08:00" {
		t.Errorf("clock after 3m: %s", c.Now)
	}

	var p adminPacketJSON
	ad.ok("POST", "/packets/"+claimed+"/claim", "", &p)
	if p.Status != StatusReceived || len(p.Receivers) != 1 || p.Receivers[0].OpenID != openID ||
		p.Receivers[0].Amount != 1000 || p.Receivers[0].Time != "2025-01-01T12:03:00+08:00" {
		t.Errorf("claimed packet %+v", p)
	}
	ad.fails("POST", "/packets/"+claimed+"/claim", "", http.StatusConflict) // already RECEIVED

	// A group packet is split among the receivers named.
	ad.ok("POST", "/packets/"+group+"/claim", `{"openids": ["`+openID+`", "`+openID2+`"]}`, &p)
	if p.Status != StatusSent || len(p.Receivers) != 2 || p.Receivers[1].OpenID != openID2 {
		t.Errorf("half-claimed group packet %+v", p)
	}
	ad.ok("POST", "/packets/"+group+"/claim", `{"openids": ["`+openID3+`"], "mch_id": "`+DefaultMchID+`"}`, &p)
	if p.Status != StatusReceived || p.Receivers[0].Amount+p.Receivers[1].Amount+p.Receivers[2].Amount != 900 {
		t.Errorf("claimed group packet %+v", p)
	}

	// Unclaimed: RFUND_ING after 24 h, REFUND an hour later, money back.
	ad.ok("POST", "/clock/advance", `{"duration": "24h"}`, nil)
	ad.ok("GET", "/packets/"+unclaimed, "", &p)
	if p.Status != StatusRefunding {
		t.Errorf("after 24 h: %s", p.Status)
	}
	ad.ok("POST", "/clock/advance", `{"duration": "1h"}`, nil)
	ad.ok("GET", "/packets/"+unclaimed, "", &p)
	if p.Status != StatusRefund || p.RefundAmount != 2000 || p.RefundTime != "2025-01-02T13:00:00+08:00" {
		t.Errorf("after 25 h: %+v", p)
	}
	var m adminMerchantJSON
	ad.ok("GET", "/merchants/"+DefaultMchID, "", &m)
	if m.Balance != DefaultBalance-1000-900 || m.Paid != 3900 {
		t.Errorf("merchant %+v", m)
	}

	ad.ok("PUT", "/clock", `{"now": "2025-03-01T08:00:00Z"}`, &c)
	if c.Now != "2025-03-01T16:00:00+08:00" {
		t.Errorf("clock set: %s", c.Now)
	}
	ad.ok("GET", "/clock", "", &c)
	if c.Now != "2025-03-01T16:00:00+08:00" {
		t.Errorf("clock read: %s", c.Now)
	}
	ad.fails("PUT", "/clock", `{"now": "tomorrow"}`, http.StatusBadRequest)
	ad.fails("POST", "/clock/advance", `{"duration": "a day"}`, http.StatusBadRequest)
}

func TestAdminFaults(t *testing.T) {
	f := newFixture(t)
	ad := newAdmin(t, f.s.Handler)
	var pending []adminFaultJSON
	ad.ok("POST", "/faults", `{"kind": "SystemErrorAfterCommit", "op": "sendredpack"}`, &pending)
	if len(pending) != 1 || pending[0].Kind != "SystemErrorAfterCommit" || pending[0].Op != "sendredpack" {
		t.Fatalf("pending %+v", pending)
	}
	ad.ok("POST", "/faults", `[{"kind": "errcodeanswer", "err_code": "API_METHOD_CLOSED"},
		{"kind": "ProcessingAfterCommit", "hold": "10m"}, {"kind": "SlowAfterCommit", "delay": "1ms"}]`, &pending)
	if len(pending) != 4 || pending[1].Kind != "ErrCodeAnswer" || pending[2].Hold != "10m0s" || pending[3].Delay != "1ms" {
		t.Fatalf("pending %+v", pending)
	}

	bill := billNo()
	wantCode(t, f.send(normalFields(bill, 1000)), "SYSTEMERROR", "")
	if !mustPacket(t, f.s, DefaultMchID, bill).Paid {
		t.Error("SystemErrorAfterCommit did not pay")
	}
	wantCode(t, f.send(normalFields(billNo(), 1000)), "API_METHOD_CLOSED", "")
	ad.ok("GET", "/faults", "", &pending)
	if len(pending) != 2 {
		t.Errorf("pending after two requests %+v", pending)
	}

	for body, want := range map[string]string{
		`{"kind": "Meteor"}`:                    "SystemErrorBeforeCommit, SystemErrorAfterCommit",
		`{"kind": "SlowAfterCommit"}`:           "needs a Delay",
		`{"kind": "HTMLGateway", "op": "pay"}`:  `unknown op "pay"`,
		`{"kind": "HTMLGateway", "delay": "x"}`: "fault delay",
		`{"kind": "HTMLGateway", "when": 1}`:    "unknown field",
		`[{"kind": "HTMLGateway"}, 7]`:          "bad fault",
		``:                                      "JSON body",
	} {
		if got := ad.fails("POST", "/faults", body, http.StatusBadRequest); !strings.Contains(got, want) {
			t.Errorf("%s: error %q, want %q", body, got, want)
		}
	}
	ad.ok("GET", "/faults", "", &pending)
	if len(pending) != 2 {
		t.Errorf("a refused script changed the queue: %+v", pending)
	}
}

func TestAdminBalanceResetRequests(t *testing.T) {
	f := newFixture(t)
	ad := newAdmin(t, f.s.Handler)
	var m adminMerchantJSON
	ad.ok("PUT", "/merchants/"+DefaultMchID+"/balance", `{"balance": 0}`, &m)
	if m.Balance != 0 {
		t.Errorf("balance %d", m.Balance)
	}
	bill := billNo()
	fs := normalFields(bill, 1000)
	fs["sign"] = testSign(fs, DefaultAPIKey, false)
	wantCode(t, post(t, f.s, f.hc, "sendredpack", xmlBody(fs)), "NOTENOUGH", "")
	ad.ok("PUT", "/merchants/"+DefaultMchID+"/balance", `{"balance": 5000}`, nil)
	wantCode(t, post(t, f.s, f.hc, "sendredpack", xmlBody(fs)), "SUCCESS", "")

	var reqs []map[string]any
	ad.ok("GET", "/requests", "", &reqs)
	if len(reqs) != 2 || reqs[0]["body_sha256"] != reqs[1]["body_sha256"] || reqs[0]["err_code"] != "NOTENOUGH" ||
		reqs[1]["mch_billno"] != bill || reqs[1]["op"] != "sendredpack" {
		t.Errorf("requests %v", reqs)
	}
	for _, r := range reqs {
		if _, ok := r["body"]; ok {
			t.Error("a request's body is shown")
		}
	}

	ad.fails("PUT", "/merchants/"+DefaultMchID+"/balance", `{}`, http.StatusBadRequest)
	ad.fails("PUT", "/merchants/"+DefaultMchID+"/balance", `{"balance": -1}`, http.StatusBadRequest)
	ad.fails("PUT", "/merchants/42/balance", `{"balance": 1}`, http.StatusNotFound)
	ad.fails("GET", "/merchants/42", "", http.StatusNotFound)

	f.s.Advance(time.Hour)
	mustInject(t, f.s, Fault{Kind: HTMLGateway})
	var sum adminSummaryJSON
	ad.ok("POST", "/reset", "", &sum)
	if sum.Packets != 0 || sum.PendingFaults != 0 || sum.Requests != 0 || sum.Now != "2025-01-01T12:00:00+08:00" {
		t.Errorf("summary after reset %+v", sum)
	}
	var ms []adminMerchantJSON
	ad.ok("GET", "/merchants", "", &ms)
	if len(ms) != 1 || ms[0].Balance != DefaultBalance || ms[0].Paid != 0 || len(ms[0].Scenes) != 8 {
		t.Errorf("merchants after reset %+v", ms)
	}
	if strings.Contains(mustJSON(t, ms), DefaultAPIKey) {
		t.Error("the merchants list shows the API key")
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAdminRefusals(t *testing.T) {
	other := DefaultMerchant()
	other.MchID = "1900000110"
	f := newFixture(t, WithMerchants(DefaultMerchant(), other))
	ad := newAdmin(t, f.s.Handler)

	// The same bill number at two merchants: the lookup must say which.
	bill := billNo()
	wantCode(t, f.send(normalFields(bill, 1000)), "SUCCESS", "")
	hc2 := merchantClient(t, f.s, other.MchID)
	wantCode(t, do(t, f.s, hc2, "sendredpack", with(normalFields(bill, 1000), "mch_id", other.MchID), other.APIKey), "SUCCESS", "")
	if got := ad.fails("GET", "/packets/"+bill, "", http.StatusConflict); !strings.Contains(got, "mch_id") {
		t.Errorf("ambiguous bill: %q", got)
	}
	var p adminPacketJSON
	ad.ok("GET", "/packets/"+bill+"?mch_id="+other.MchID, "", &p)
	if p.MchID != other.MchID {
		t.Errorf("packet of %s", p.MchID)
	}

	req, _ := http.NewRequest("POST", ad.url+"/reset", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(f.s.Packets()) != 2 {
		t.Errorf("a browser's request: HTTP %d, %d packets left", resp.StatusCode, len(f.s.Packets()))
	}
	// A page on a name rebound to 127.0.0.1 reads without Origin, but with
	// its own Host.
	for host, want := range map[string]int{"attacker.example": http.StatusForbidden, "attacker.example:8444": http.StatusForbidden,
		"localhost:8444": http.StatusOK, "127.0.0.1": http.StatusOK, "[::1]:8444": http.StatusOK} {
		req, _ := http.NewRequest("GET", ad.url+"/packets", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: HTTP %d, want %d", host, resp.StatusCode, want)
		}
	}
	ad.fails("POST", "/clock/advance", `{"duration": "1h", "extra": 1}`, http.StatusBadRequest)
	ad.fails("POST", "/clock/advance", `{"duration": "1h"} {}`, http.StatusBadRequest)
	if st := ad.call("GET", "/nowhere", "", nil); st != http.StatusNotFound {
		t.Errorf("unknown path: HTTP %d", st)
	}
	if st := ad.call("DELETE", "/packets", "", nil); st != http.StatusMethodNotAllowed {
		t.Errorf("wrong method: HTTP %d", st)
	}
}

// TestAdminErrorsAreJSON: every error of the control API, the mux's own
// 404 and 405 included, is {"error": …} as application/json.
func TestAdminErrorsAreJSON(t *testing.T) {
	f := newFixture(t)
	ad := newAdmin(t, f.s.Handler)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nowhere", http.StatusNotFound, ""},
		{"GET", "/packets/1/claim/x", http.StatusNotFound, ""},
		{"GET", "/packets/", http.StatusNotFound, ""},
		{"DELETE", "/packets", http.StatusMethodNotAllowed, "GET"},
		{"GET", "/reset", http.StatusMethodNotAllowed, "POST"},
		{"POST", "/clock", http.StatusMethodNotAllowed, "GET, PUT"},
		{"DELETE", "/faults", http.StatusMethodNotAllowed, "GET, POST"},
		{"PUT", "/", http.StatusMethodNotAllowed, "GET"},
		{"GET", "/packets/" + billNo() + "/claim", http.StatusMethodNotAllowed, "POST"},
		{"POST", "/merchants/" + DefaultMchID, http.StatusMethodNotAllowed, "GET"},
		// Paths the mux would clean and redirect, with an empty body.
		{"GET", "//packets", http.StatusNotFound, ""},
		{"POST", "//faults", http.StatusNotFound, ""},
		{"GET", "/clock/../packets", http.StatusNotFound, ""},
		{"GET", "/./merchants", http.StatusNotFound, ""},
	} {
		req, _ := http.NewRequest(tc.method, ad.url+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error string `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if err != nil || e.Error == "" || resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: HTTP %d %s, error %q (%v)", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), e.Error, err)
		}
		if got := resp.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	// The routes still answer.
	var sum adminSummaryJSON
	ad.ok("GET", "/", "", &sum)
	if resp, err := http.Head(ad.url + "/packets"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD /packets: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// TestAdminClockForwardOnly: the control API never puts a packet in the
// future: no negative advance, and PUT /clock to the past only on an empty
// ledger.
func TestAdminClockForwardOnly(t *testing.T) {
	f := newFixture(t)
	ad := newAdmin(t, f.s.Handler)
	// An empty ledger: the clock may go anywhere, the past included.
	var c adminClockJSON
	ad.ok("PUT", "/clock", `{"now": "2024-12-01T12:00:00+08:00"}`, &c)
	if c.Now != "2024-12-01T12:00:00+08:00" {
		t.Fatalf("clock %s", c.Now)
	}
	bill := billNo()
	wantCode(t, f.send(normalFields(bill, 1000)), "SUCCESS", "")

	if got := ad.fails("POST", "/clock/advance", `{"duration": "-240h"}`, http.StatusBadRequest); !strings.Contains(got, "only advances") {
		t.Errorf("negative advance: %q", got)
	}
	if got := ad.fails("PUT", "/clock", `{"now": "2024-11-30T12:00:00+08:00"}`, http.StatusConflict); !strings.Contains(got, "POST /reset") {
		t.Errorf("clock to the past: %q", got)
	}
	if f.s.Now().Format(time.RFC3339) != "2024-12-01T12:00:00+08:00" {
		t.Errorf("a refused change moved the clock to %s", f.s.Now())
	}
	if p := mustPacket(t, f.s, DefaultMchID, bill); p.SendTime.After(f.s.Now()) {
		t.Errorf("packet sent at %s, after the clock's %s", p.SendTime, f.s.Now())
	}
	// Forward is fine, to the same instant too, and after a reset the past
	// is open again.
	ad.ok("PUT", "/clock", `{"now": "2024-12-01T12:00:00+08:00"}`, nil)
	ad.ok("POST", "/clock/advance", `{"duration": "0s"}`, nil)
	ad.ok("PUT", "/clock", `{"now": "2024-12-02T12:00:00+08:00"}`, nil)
	// Back, but not before the last packet was sent: no packet ends up in
	// the future.
	ad.ok("PUT", "/clock", `{"now": "2024-12-01T13:00:00+08:00"}`, nil)
	ad.fails("PUT", "/clock", `{"now": "2024-12-01T11:59:59+08:00"}`, http.StatusConflict)
	ad.ok("POST", "/reset", "", nil)
	ad.ok("PUT", "/clock", `{"now": "2024-01-01T00:00:00+08:00"}`, &c)
	if c.Now != "2024-01-01T00:00:00+08:00" {
		t.Errorf("clock after reset: %s", c.Now)
	}
}
