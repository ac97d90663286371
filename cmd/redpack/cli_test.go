package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redpack-go/redpack/redpacktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := runCLI(t, nil, "", args...)
		require.Equal(t, exitOK, r.code, "%v: %s", args, r)
		for _, want := range []string{"send ", "send-group", "settle ", "settle-group", "settle-mini", "query", "demo", "help",
			"REDPACK_MCH_ID", "REDPACK_API_KEY", "REDPACK_CERT_P12", "REDPACK_CERT_PASSWORD", "REDPACK_CA_CERT", "REDPACK_BASE_URL",
			"Exit codes:", "  0  success", "  1  any other failure", "  2  bad input", "  3  not paid",
			"  4  outcome unknown", "SAME --bill", "  5  not sent"} {
			assert.Contains(t, r.stdout, want, "%v", args)
		}
	}

	r := runCLI(t, nil, "", "help", "send")
	require.Equal(t, exitOK, r.code, r)
	for _, want := range []string{"Usage:\n  redpack send [flags]", "--bill", "--openid", "--amount", "--client-ip", "--scene",
		"--risk-mobile", "--mch-id", "--ca-cert", "--max-attempts", "--json", "Exit codes:"} {
		assert.Contains(t, r.stdout, want)
	}
	assert.NotContains(t, r.stdout, "--num ")

	r = runCLI(t, nil, "", "send-group", "--help")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "--num")
	assert.Contains(t, r.stdout, "2024-06-05")
	assert.NotContains(t, r.stdout, "--client-ip")

	r = runCLI(t, nil, "", "help", "query")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "Usage:\n  redpack query <mch_billno> [flags]")

	r = runCLI(t, nil, "", "demo", "-h")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "Usage:\n  redpack demo [flags]")
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage:"},
		{"unknown command", []string{"sned"}, `unknown command "sned"`},
		{"help for unknown command", []string{"help", "sned"}, `unknown command "sned"`},
		{"unknown flag", []string{"send", "--amout", "100"}, "redpack send: unknown flag: --amout"},
		{"bad number", []string{"send", "--amount", "ten"}, `invalid argument "ten" for "--amount" flag`},
		{"stray argument", sendArgs("1000", "extra"), "send takes no arguments, got 1"},
		{"missing packet flags", []string{"send", "--amount", "1000"},
			"required flags not given: --openid, --client-ip, --send-name, --wishing, --act-name, --remark"},
		{"missing group size", []string{"send-group", "--openid", "o1", "--amount", "3000", "--send-name", "a", "--wishing", "b", "--act-name", "c", "--remark", "d"},
			"required flags not given: --num"},
		{"query without bill", []string{"query"}, "query takes one bill number, got 0 arguments"},
		{"query with two bills", []string{"query", "1", "2"}, "query takes one bill number, got 2 arguments"},
		{"bad risk time", sendArgs("1000", "--risk-posttime", "yesterday"), "--risk-posttime"},
		{"demo with argument", []string{"demo", "now"}, "takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, "", tc.args...)
			assert.Equal(t, exitUsage, r.code, r)
			assert.Contains(t, r.stderr, tc.want, r)
			assert.NotContains(t, r.stdout, "Bill number", "nothing is announced for a request that cannot be sent")
		})
	}
}

func TestSend(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	r := runCLI(t, nil, "", sendArgs("1000", "--mch-id", testMchID, "--appid", testAppID, "--api-key", f.apiKey,
		"--cert-p12", f.p12, "--ca-cert", f.caCert, "--base-url", f.srv.URL())...)
	require.Equal(t, exitOK, r.code, r)
	bill := billFrom(t, r.stdout)
	announced := strings.Index(r.stdout, "Bill number  "+bill)
	paid := strings.Index(r.stdout, "PAID")
	assert.True(t, announced >= 0 && paid > announced, "the bill number comes before the result:\n%s", r.stdout)
	for _, want := range []string{"¥10.00 (1000 fen)", openID, testAppID, "redpack query " + bill} {
		assert.Contains(t, r.stdout, want)
	}
	p, ok := f.srv.Packet(testMchID, bill)
	require.True(t, ok, "the announced bill number is the one sent")
	assert.Equal(t, int64(1000), p.TotalAmount)
	assert.Equal(t, openID, p.ReOpenID)
	assert.Equal(t, redpacktest.KindNormal, p.Kind)
	assert.Equal(t, "新年快乐，万事如意", p.Wishing)
	assert.Contains(t, r.stdout, p.DetailID)

	// A bill number of the user's choice, from the environment's credentials.
	r = runCLI(t, f.env(), "", sendArgs("20000", "--bill", "MyBill0001", "--scene", "PRODUCT_1")...)
	require.Equal(t, exitOK, r.code, r)
	p, ok = f.srv.Packet(testMchID, "MyBill0001")
	require.True(t, ok)
	assert.Equal(t, int64(20000), p.TotalAmount)
	assert.Equal(t, "PRODUCT_1", p.SceneID)
	assert.Contains(t, r.stdout, "¥200.00")
}

func TestSendJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := runCLI(t, f.env(), "", sendArgs("888", "--json", "--risk-posttime", "1700000000", "--risk-mobile", "86-13800000000")...)
	require.Equal(t, exitOK, r.code, r)
	rep := decodeOne(t, r.stdout)
	assert.True(t, rep.OK)
	assert.Equal(t, "send", rep.Command)
	assert.Nil(t, rep.Error)
	var res sendJSON
	require.NoError(t, json.Unmarshal(rep.Result, &res))
	p, ok := f.srv.Packet(testMchID, res.MchBillNo)
	require.True(t, ok)
	assert.Equal(t, sendJSON{
		MchBillNo: p.MchBillNo, SendListID: p.DetailID, MchID: testMchID, WxAppID: testAppID, ReOpenID: openID,
		HBType: "NORMAL", TotalNum: 1, TotalAmount: 888, TotalAmountYuan: "8.88",
	}, res)
	assert.Contains(t, r.stderr, "bill number "+res.MchBillNo, "the bill number is announced on stderr with --json")
}

func TestSendGroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	r := runCLI(t, f.env(), "", groupArgs("3000", "3")...)
	require.Equal(t, exitOK, r.code, r)
	bill := billFrom(t, r.stdout)
	assert.Contains(t, r.stdout, "2024-06-05", "the command says group packets are offline at WeChat")
	assert.Contains(t, r.stdout, "3 users")
	p, ok := f.srv.Packet(testMchID, bill)
	require.True(t, ok)
	assert.Equal(t, redpacktest.KindGroup, p.Kind)
	assert.Equal(t, 3, p.TotalNum)
	assert.Equal(t, int64(3000), p.TotalAmount)

	r = runCLI(t, f.env(), "", groupArgs("5000", "5", "--json")...)
	require.Equal(t, exitOK, r.code, r)
	var res sendJSON
	require.NoError(t, json.Unmarshal(decodeOne(t, r.stdout).Result, &res))
	assert.Equal(t, "GROUP", res.HBType)
	assert.Equal(t, 5, res.TotalNum)
	assert.Equal(t, int64(5000), res.TotalAmount)
	p, ok = f.srv.Packet(testMchID, res.MchBillNo)
	require.True(t, ok)
	assert.Equal(t, 5, p.TotalNum)
}

func TestQuery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bill := sendDirect(t, f.srv, 1234)

	r := runCLI(t, f.env(), "", "query", bill)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "SENT: paid, waiting for the user to open it")
	assert.Contains(t, r.stdout, "¥12.34")
	assert.Contains(t, r.stdout, "nobody has opened it yet")

	require.NoError(t, f.srv.Claim(testMchID, bill))
	// Flags after the bill number work too.
	r = runCLI(t, f.env(), "", "query", bill, "--json")
	require.Equal(t, exitOK, r.code, r)
	rep := decodeOne(t, r.stdout)
	require.True(t, rep.OK)
	var q queryJSON
	require.NoError(t, json.Unmarshal(rep.Result, &q))
	assert.Equal(t, bill, q.MchBillNo)
	assert.Equal(t, "RECEIVED", q.Status)
	assert.True(t, q.Definite)
	assert.Equal(t, "paid", q.Outcome)
	assert.Equal(t, "NORMAL", q.HBType)
	assert.Equal(t, int64(1234), q.TotalAmount)
	assert.Equal(t, "12.34", q.TotalAmountYuan)
	require.Len(t, q.Receivers, 1)
	assert.Equal(t, openID, q.Receivers[0].OpenID)
	assert.Equal(t, int64(1234), q.Receivers[0].Amount)
	assert.NotEmpty(t, q.Receivers[0].RcvTime)

	r = runCLI(t, f.env(), "", "query", bill)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "RECEIVED: paid and opened")
	assert.Regexp(t, openID+`\s+¥12\.34\s+\d{4}-\d\d-\d\d`, r.stdout, "a receivers table")
}

func TestQueryGroupAndRefund(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := runCLI(t, f.env(), "", groupArgs("3000", "3")...)
	require.Equal(t, exitOK, r.code, r)
	group := billFrom(t, r.stdout)
	require.NoError(t, f.srv.Claim(testMchID, group, openID, "oFriend1", "oFriend2"))
	unclaimed := sendDirect(t, f.srv, 500)
	f.srv.Advance(redpacktest.RefundAfter + redpacktest.RefundLag)

	r = runCLI(t, f.env(), "", "query", "--json", group)
	require.Equal(t, exitOK, r.code, r)
	var q queryJSON
	require.NoError(t, json.Unmarshal(decodeOne(t, r.stdout).Result, &q))
	assert.Equal(t, "GROUP", q.HBType)
	require.Len(t, q.Receivers, 3)
	var sum int64
	for _, rc := range q.Receivers {
		sum += rc.Amount
	}
	assert.Equal(t, int64(3000), sum)

	r = runCLI(t, f.env(), "", "query", unclaimed)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "REFUND: unclaimed, refunded to the merchant")
	assert.Regexp(t, `Refunded\s+¥5\.00 at `, r.stdout)
}

func TestQueryNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := runCLI(t, f.env(), "", "query", "1900000109000000000000000001")
	assert.Equal(t, exitUnknown, r.code, r)
	assert.Contains(t, r.stderr, "NOT_FOUND")
	assert.Contains(t, r.stderr, "Not a failure")

	r = runCLI(t, f.env(), "", "query", "--json", "1900000109000000000000000001")
	assert.Equal(t, exitUnknown, r.code, r)
	rep := decodeOne(t, r.stdout)
	require.NotNil(t, rep.Error)
	assert.Equal(t, "not_found", rep.Error.Kind)
	assert.Equal(t, "NOT_FOUND", rep.Error.ErrCode)
	assert.Equal(t, "unknown", rep.Error.Paid, "no record yet is not \"not paid\"")
	assert.Equal(t, exitUnknown, rep.ExitCode)
}

// TestQueryRefused: a refused query says nothing about the packet, so it
// must not exit 3, which means "not paid".
func TestQueryRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bill := sendDirect(t, f.srv, 1000)
	env := f.env()
	env["REDPACK_API_KEY"] = "00000000000000000000000000000000"
	r := runCLI(t, env, "", "query", "--json", bill)
	assert.Equal(t, exitFailure, r.code, r)
	rep := decodeOne(t, r.stdout)
	require.NotNil(t, rep.Error)
	assert.Equal(t, "SIGN_ERROR", rep.Error.ErrCode)
	assert.Empty(t, rep.Error.Paid)
	assert.Contains(t, rep.Error.Advice, "says nothing about the packet")
}

// TestExplicitBillPaidField: every way a send with an explicit --bill can
// fail, and what its "paid" says: only SEND_FAILED, which is about the bill
// number itself, says "no".
func TestExplicitBillPaidField(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		env   map[string]string
		args  []string
		fault *redpacktest.Fault
		code  int
		paid  string
	}{
		{name: "SEND_FAILED", args: sendArgs("1000", "--bill", "Explicit0001", "--json"),
			fault: &redpacktest.Fault{Kind: redpacktest.ErrCodeAnswer, ErrCode: "SEND_FAILED"}, code: exitRefused, paid: "no"},
		{name: "not sent", env: map[string]string{"REDPACK_BASE_URL": closedURL(t)},
			args: sendArgs("1000", "--bill", "Explicit0002", "--max-attempts", "1", "--json"), code: exitNotSent, paid: "unknown"},
		{name: "validation", args: sendArgs("99", "--bill", "Explicit0003", "--json"), code: exitUsage, paid: "unknown"},
		{name: "validation without --bill", args: sendArgs("99", "--json"), code: exitUsage, paid: "no"},
	} {
		env := f.env()
		for k, v := range tc.env {
			env[k] = v
		}
		if tc.fault != nil {
			require.NoError(t, f.srv.Inject(*tc.fault))
		}
		r := runCLI(t, env, "", tc.args...)
		assert.Equal(t, tc.code, r.code, "%s: %s", tc.name, r)
		rep := decodeOne(t, r.stdout)
		require.NotNil(t, rep.Error, tc.name)
		assert.Equal(t, tc.paid, rep.Error.Paid, tc.name)
	}
	assert.Empty(t, f.srv.Packets())
}

func TestValidationErrorSendsNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		args        []string
		field, flag string
	}{
		{"amount too large without a scene", sendArgs("30000"), "total_amount", "--amount"},
		{"amount too small", sendArgs("99"), "total_amount", "--amount"},
		{"bad client ip", sendArgs("1000", "--client-ip", "::1"), "client_ip", "--client-ip"},
		{"bad bill number", sendArgs("1000", "--bill", "bill-no-1"), "mch_billno", "--bill"},
		{"unknown scene", sendArgs("1000", "--scene", "PRODUCT_9"), "scene_id", "--scene"},
		{"send name too long", sendArgs("1000", "--send-name", strings.Repeat("红", 11)), "send_name", "--send-name"},
		{"group too small", groupArgs("3000", "2"), "total_num", "--num"},
		{"group average too large", groupArgs("70000", "3"), "total_amount", "--amount"},
		{"query bad bill", []string{"query", "bill-no-1"}, "mch_billno", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			r := runCLI(t, f.env(), "", tc.args...)
			assert.Equal(t, exitUsage, r.code, r)
			assert.Contains(t, r.stderr, "invalid "+tc.field, r)
			if tc.flag != "" {
				assert.Contains(t, r.stderr, "("+tc.flag+")", r)
			}
			assert.Contains(t, r.stderr, "Nothing was sent")
			assert.NotContains(t, r.stdout, "Bill number", "a request the library refuses is not announced as being sent")

			r = runCLI(t, f.env(), "", append(tc.args, "--json")...)
			assert.Equal(t, exitUsage, r.code, r)
			rep := decodeOne(t, r.stdout)
			require.NotNil(t, rep.Error)
			assert.Equal(t, "validation", rep.Error.Kind)
			assert.Equal(t, tc.field, rep.Error.Field)
			assert.Equal(t, strings.TrimPrefix(tc.flag, "--"), rep.Error.Flag)

			assert.Empty(t, f.srv.Requests(), "the fake server saw a request")
		})
	}
}

func TestRefusedByWeChat(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	require.NoError(t, f.srv.SetBalance(testMchID, 500))
	r := runCLI(t, f.env(), "", sendArgs("1000")...)
	assert.Equal(t, exitRefused, r.code, r)
	assert.Contains(t, r.stderr, "REFUSED by WeChat: NOTENOUGH")
	assert.Contains(t, r.stderr, "Nothing was paid")
	bill := billFrom(t, r.stdout)
	assert.Contains(t, flat(r.stderr), "same --bill "+bill)
	sends, _ := sendsFor(f.srv, bill)
	assert.Equal(t, 1, sends, "a definite refusal is not retried")

	// With an explicit --bill the bill number may have been sent before, and
	// a refusal of this request settles nothing about that send.
	r = runCLI(t, f.env(), "", sendArgs("1000", "--bill", bill, "--json")...)
	assert.Equal(t, exitUnknown, r.code, r)
	rep := decodeOne(t, r.stdout)
	assert.False(t, rep.OK)
	assert.Equal(t, exitUnknown, rep.ExitCode)
	require.NotNil(t, rep.Error)
	assert.Equal(t, "refused", rep.Error.Kind)
	assert.Equal(t, "NOTENOUGH", rep.Error.ErrCode)
	assert.Equal(t, bill, rep.Error.MchBillNo)
	assert.Equal(t, "unknown", rep.Error.Paid)
	assert.Contains(t, rep.Error.Advice, "redpack settle --bill "+bill)
	r = runCLI(t, f.env(), "", sendArgs("1000", "--bill", bill)...)
	assert.Equal(t, exitUnknown, r.code, r)
	assert.NotContains(t, r.stderr, "Nothing was paid")

	// After a top-up the same bill number goes through.
	require.NoError(t, f.srv.SetBalance(testMchID, redpacktest.DefaultBalance))
	r = runCLI(t, f.env(), "", sendArgs("1000", "--bill", bill)...)
	require.Equal(t, exitOK, r.code, r)

	// A code the rules never produce, forced by the server.
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Kind: redpacktest.ErrCodeAnswer, ErrCode: "OPENID_ERROR"}))
	r = runCLI(t, f.env(), "", sendArgs("1000", "--json")...)
	assert.Equal(t, exitRefused, r.code, r)
	rep = decodeOne(t, r.stdout)
	require.NotNil(t, rep.Error)
	assert.Equal(t, "OPENID_ERROR", rep.Error.ErrCode)
	assert.Equal(t, "no", rep.Error.Paid, "a new bill number refused: nothing paid")
	assert.Contains(t, rep.Error.Advice, "--appid")
	assert.Len(t, f.srv.Packets(), 1, "the refused send recorded nothing")
}

func TestUnknownOutcome(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "sendredpack", Kind: redpacktest.SystemErrorAfterCommit}))
	paidBefore := f.srv.Paid(testMchID)

	r := runCLI(t, f.env(), "", sendArgs("1000", "--max-attempts", "1", "--wishing", "It's new year", "--risk-mobile", "86-13800000000")...)
	assert.Equal(t, exitUnknown, r.code, r)
	bill := billFrom(t, r.stdout)
	for _, want := range []string{
		"OUTCOME UNKNOWN", "SYSTEMERROR", "Keep bill number " + bill, "Do NOT send this payment under a new bill number",
		"redpack settle --bill " + bill + " --openid " + openID + " --amount 1000",
		"redpack query " + bill,
	} {
		assert.Contains(t, flat(r.stderr), want)
	}
	assert.Contains(t, r.stderr, `--wishing 'It'\''s new year'`, "values are quoted for the shell")
	assert.Contains(t, r.stderr, "--risk-mobile 86-13800000000", "every packet flag given is repeated")
	// The fault paid: the outcome was really unknown.
	p, ok := f.srv.Packet(testMchID, bill)
	require.True(t, ok)
	assert.True(t, p.Paid)

	// Settling with the command the advice gives: the query decides.
	args := shellSplit(t, strings.TrimPrefix(resendFrom(t, r.stderr, "redpack settle --bill"), "redpack "))
	r = runCLI(t, f.env(), "", args...)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "PAID")
	assert.Contains(t, r.stdout, p.DetailID)
	assert.Equal(t, int64(1000), f.srv.Paid(testMchID)-paidBefore, "paid exactly once")
	assert.Len(t, f.srv.Packets(), 1)
	sends, _ := sendsFor(f.srv, bill)
	assert.Equal(t, 1, sends, "a definite status needs no re-send")

	r = runCLI(t, f.env(), "", "query", bill)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "SENT")
}

func TestUnknownOutcomeJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "sendredpack", Kind: redpacktest.DropAfterCommit}))
	r := runCLI(t, f.env(), "", sendArgs("1000", "--max-attempts", "1", "--bill", "Unknown0001", "--json")...)
	assert.Equal(t, exitUnknown, r.code, r)
	rep := decodeOne(t, r.stdout)
	assert.False(t, rep.OK)
	assert.Equal(t, exitUnknown, rep.ExitCode)
	require.NotNil(t, rep.Error)
	assert.Equal(t, "unknown_outcome", rep.Error.Kind)
	assert.Equal(t, "Unknown0001", rep.Error.MchBillNo)
	assert.Equal(t, "unknown", rep.Error.Paid)
	assert.Equal(t, 1, rep.Error.Attempts)
	assert.Contains(t, rep.Error.Advice, "redpack settle --bill Unknown0001")
	assert.Contains(t, rep.Error.Advice, "redpack query Unknown0001")
	assert.Contains(t, rep.Error.Advice, "Do NOT send this payment under a new bill number")
}

// TestSendGroupUnknownOutcome checks send-group's re-send line carries --num.
func TestSendGroupUnknownOutcome(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Kind: redpacktest.SystemErrorAfterCommit}))
	r := runCLI(t, f.env(), "", groupArgs("3000", "3", "--max-attempts", "1", "--bill", "Group0001")...)
	assert.Equal(t, exitUnknown, r.code, r)
	assert.Contains(t, r.stderr, "redpack settle-group --bill Group0001 --openid "+openID+" --amount 3000 --num 3")
}

func TestNotSent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	env := f.env()
	env["REDPACK_BASE_URL"] = closedURL(t)

	r := runCLI(t, env, "", sendArgs("1000", "--max-attempts", "1", "--bill", "NotSent0001")...)
	assert.Equal(t, exitNotSent, r.code, r)
	assert.Contains(t, r.stderr, "NOT SENT: the request never reached WeChat")
	assert.Contains(t, r.stderr, "connection refused")
	assert.Contains(t, flat(r.stderr), "safe to run the same command again")
	assert.Contains(t, r.stdout, "Bill number  NotSent0001")

	r = runCLI(t, env, "", sendArgs("1000", "--max-attempts", "1", "--json")...)
	assert.Equal(t, exitNotSent, r.code, r)
	rep := decodeOne(t, r.stdout)
	require.NotNil(t, rep.Error)
	assert.Equal(t, "not_sent", rep.Error.Kind)
	assert.Equal(t, "no", rep.Error.Paid)

	r = runCLI(t, env, "", "query", "--max-attempts", "1", "NotSent0001")
	assert.Equal(t, exitNotSent, r.code, r)

	// A flag overrides the environment.
	r = runCLI(t, env, "", sendArgs("1000", "--base-url", f.srv.URL())...)
	assert.Equal(t, exitOK, r.code, r)
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	without := func(keys ...string) map[string]string {
		env := f.env()
		for _, k := range keys {
			delete(env, k)
		}
		return env
	}
	for _, tc := range []struct {
		name  string
		env   map[string]string
		extra []string
		want  []string
	}{
		{"none at all", nil, nil, []string{"missing credentials", "--mch-id", "--appid", "--api-key", "--cert-p12"}},
		{"no key", without("REDPACK_API_KEY"), nil, []string{"missing credentials: --api-key ($REDPACK_API_KEY)"}},
		{"no certificate", without("REDPACK_CERT_P12"), nil, []string{"a certificate"}},
		{"short key", f.env(), []string{"--api-key", "tooshort"}, []string{"32 characters, got 8"}},
		{"wrong password", f.env(), []string{"--cert-password", "not-the-password"}, []string{"wrong password"}},
		{"missing p12 file", f.env(), []string{"--cert-p12", f.dir + "/nope.p12"}, []string{"no such file"}},
		{"p12 and pem", f.env(), []string{"--cert-pem", "a.pem", "--key-pem", "b.pem"}, []string{"not both"}},
		{"pem without key", without("REDPACK_CERT_P12"), []string{"--cert-pem", "a.pem"}, []string{"go together"}},
		{"plain http", f.env(), []string{"--base-url", "http://127.0.0.1:1/"}, []string{"not an absolute https URL"}},
		{"no ca file", f.env(), []string{"--ca-cert", f.dir + "/nope.pem"}, []string{"--ca-cert"}},
		{"ca file not pem", f.env(), []string{"--ca-cert", f.p12}, []string{"holds no PEM certificate"}},
		{"zero attempts", f.env(), []string{"--max-attempts", "0"}, []string{"--max-attempts must be at least 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, "", sendArgs("1000", tc.extra...)...)
			assert.Equal(t, exitUsage, r.code, r)
			for _, w := range tc.want {
				assert.Contains(t, r.stderr, w)
			}
			assert.NotContains(t, r.stdout, "Bill number", "nothing announced before the credentials load")

			r = runCLI(t, tc.env, "", append([]string{"query", "--json", "Bill0001"}, tc.extra...)...)
			assert.Equal(t, exitUsage, r.code, r)
			rep := decodeOne(t, r.stdout)
			require.NotNil(t, rep.Error)
			assert.Contains(t, []string{"config", "usage"}, rep.Error.Kind)
		})
	}
	assert.Empty(t, f.srv.Requests(), "bad credentials send nothing")
}

func TestPEMCredentialsAndKeyFromStdin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	env := f.env()
	delete(env, "REDPACK_CERT_P12")
	delete(env, "REDPACK_API_KEY")
	env["REDPACK_CERT_PEM"] = f.write(t, "apiclient_cert.pem", f.srv.CertPEM(testMchID))
	env["REDPACK_KEY_PEM"] = f.write(t, "apiclient_key.pem", f.srv.KeyPEM(testMchID))

	r := runCLI(t, env, f.apiKey+"\n", sendArgs("1000", "--api-key", "-")...)
	require.Equal(t, exitOK, r.code, r)
	_, ok := f.srv.Packet(testMchID, billFrom(t, r.stdout))
	assert.True(t, ok)

	r = runCLI(t, env, "", sendArgs("1000", "--api-key", "-")...)
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "read the API key from stdin")
}

func TestWrongKeyIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := runCLI(t, f.env(), "", sendArgs("1000", "--api-key", strings.Repeat("0", 32))...)
	assert.Equal(t, exitRefused, r.code, r)
	assert.Contains(t, r.stderr, "SIGN_ERROR")
	assert.Contains(t, r.stderr, "check the API key")
}

func TestRetriesSettleByThemselves(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// The client's own retry re-sends the byte-identical request after
	// about a second (WeChat's minimum between retries).
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "sendredpack", Kind: redpacktest.SystemErrorAfterCommit}))
	r := runCLI(t, f.env(), "", sendArgs("1000", "--max-attempts", "2", "--bill", "Retry0001", "--verbose")...)
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, int64(1000), f.srv.Paid(testMchID))
	reqs := f.srv.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, reqs[0].Body, reqs[1].Body)
	assert.Contains(t, r.stderr, "outcome unknown", "--verbose logs the attempts")
	assert.Contains(t, r.stderr, "attempt=2")
}

// shellSplit splits a command line the way a POSIX shell would, for the
// quoting shellQuote produces.
func shellSplit(t *testing.T, s string) []string {
	t.Helper()
	var args []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	require.False(t, quoted, "unbalanced quote in %q", s)
	if inWord {
		args = append(args, cur.String())
	}
	return args
}

func TestQueryBusyIsNotARefusal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bill := sendDirect(t, f.srv, 1000)
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "gethbinfo", Kind: redpacktest.SystemErrorBeforeCommit}))
	r := runCLI(t, f.env(), "", "query", "--max-attempts", "1", "--json", bill)
	assert.Equal(t, exitFailure, r.code, r)
	rep := decodeOne(t, r.stdout)
	require.NotNil(t, rep.Error)
	assert.Equal(t, "error", rep.Error.Kind)
	assert.Equal(t, "SYSTEMERROR", rep.Error.ErrCode)
	assert.Contains(t, rep.Error.Advice, "query again")

	// With retries on, the client asks again and gets the answer.
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "gethbinfo", Kind: redpacktest.SystemErrorBeforeCommit}))
	r = runCLI(t, f.env(), "", "query", "--max-attempts", "2", bill)
	assert.Equal(t, exitOK, r.code, r)
}

func TestTimeoutAfterSendingIsUnknown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Kind: redpacktest.SlowAfterCommit, Delay: 10 * time.Second}))
	start := time.Now()
	r := runCLI(t, f.env(), "", sendArgs("1000", "--max-attempts", "1", "--timeout", "300ms", "--bill", "Slow0001")...)
	assert.Equal(t, exitUnknown, r.code, r)
	assert.Less(t, time.Since(start), 5*time.Second, "--timeout bounds the attempt")
	assert.Contains(t, r.stderr, "redpack query Slow0001")
	p, ok := f.srv.Packet(testMchID, "Slow0001")
	require.True(t, ok)
	assert.True(t, p.Paid, "the server paid: the outcome really was unknown")
}
