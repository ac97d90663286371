package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/redpacktest"
)

// TestSettleAfterRefusedResend is issue 13's first case through the CLI: a
// packet paid under an unknown outcome, then a re-send refused by one of
// WeChat's outer checks. "redpack send --bill" must not call that "not
// paid"; "redpack settle" asks the query, and the fake's ledger agrees.
func TestSettleAfterRefusedResend(t *testing.T) {
	t.Parallel()
	errCode := func(code string, n int) []redpacktest.Fault {
		var fs []redpacktest.Fault
		for range n {
			fs = append(fs, redpacktest.Fault{Kind: redpacktest.ErrCodeAnswer, Op: "sendredpack", ErrCode: code})
		}
		return fs
	}
	for _, tc := range []struct {
		name     string
		faults   []redpacktest.Fault // answer the re-send
		key      string              // a rotated API key
		later    time.Duration
		code     string
		settled  int // settle's exit code
		settleIs string
	}{
		{name: "FREQ_LIMIT", faults: errCode("FREQ_LIMIT", 3), code: "FREQ_LIMIT", settled: exitOK},
		{name: "SIGN_ERROR", key: "00000000000000000000000000000000", code: "SIGN_ERROR", settled: exitUnknown, settleIs: "SIGN_ERROR"},
		{name: "NO_AUTH", faults: errCode("NO_AUTH", 1), code: "NO_AUTH", settled: exitOK},
		{name: "expired", later: 25 * time.Hour, code: "PARAM_ERROR", settled: exitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "sendredpack", Kind: redpacktest.SystemErrorAfterCommit}))
			r := runCLI(t, f.env(), "", sendArgs("1000", "--max-attempts", "1")...)
			require.Equal(t, exitUnknown, r.code, r)
			bill := billFrom(t, r.stdout)
			p, ok := f.srv.Packet(testMchID, bill)
			require.True(t, ok)
			require.True(t, p.Paid, "the fake paid it")

			f.srv.Advance(tc.later)
			env := f.env()
			if tc.key != "" {
				env["REDPACK_API_KEY"] = tc.key
			}
			require.NoError(t, f.srv.Inject(tc.faults...))
			r = runCLI(t, env, "", sendArgs("1000", "--bill", bill, "--max-attempts", "3", "--json")...)
			assert.Equal(t, exitUnknown, r.code, r)
			rep := decodeOne(t, r.stdout)
			require.NotNil(t, rep.Error)
			assert.Equal(t, "unknown", rep.Error.Paid, "never \"no\" for a re-send's refusal")
			assert.Equal(t, tc.code, rep.Error.ErrCode)
			assert.Contains(t, rep.Error.Advice, "redpack settle --bill "+bill)

			require.NoError(t, f.srv.Inject(tc.faults...))
			r = runCLI(t, env, "", append([]string{"settle"}, sendArgs("1000", "--bill", bill, "--json")[1:]...)...)
			assert.Equal(t, tc.settled, r.code, r)
			var s settleJSON
			require.NoError(t, json.Unmarshal(decodeOne(t, r.stdout).Result, &s))
			got, _ := f.srv.Packet(testMchID, bill)
			assert.True(t, got.Paid, "the ledger: paid")
			assert.False(t, s.Resent)
			if tc.settled == exitOK {
				assert.Equal(t, "paid", s.Outcome)
				assert.Equal(t, got.DetailID, s.SendListID)
				assert.Equal(t, string(got.Status), s.Status)
			} else {
				assert.Equal(t, "unknown", s.Outcome)
				assert.Equal(t, tc.settleIs, s.ErrCode)
				assert.Contains(t, s.Advice, "redpack settle --bill "+bill)
			}
			assert.Equal(t, int64(1000), f.srv.Paid(testMchID), "paid exactly once")
		})
	}
}

func TestSettleCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	settle := func(extra ...string) []string { return append([]string{"settle"}, sendArgs("1000", extra...)[1:]...) }

	r := runCLI(t, f.env(), "", settle()...)
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "--bill")
	assert.Empty(t, f.srv.Requests(), "settle needs the bill number")

	// Never sent: the query finds nothing, the re-send pays once.
	r = runCLI(t, f.env(), "", settle("--bill", "Settle0001", "--query-only")...)
	assert.Equal(t, exitUnknown, r.code, r)
	assert.Contains(t, r.stderr, "OUTCOME UNKNOWN")
	assert.Contains(t, r.stderr, "NOT_FOUND")
	assert.Empty(t, f.srv.Packets(), "--query-only never re-sends")

	r = runCLI(t, f.env(), "", settle("--bill", "Settle0001")...)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "PAID")
	assert.Contains(t, r.stdout, "yes, unchanged")
	assert.Len(t, f.srv.Packets(), 1)

	// A FAILED packet settles as not paid.
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Kind: redpacktest.ProcessingThenFail, Hold: time.Minute}))
	r = runCLI(t, f.env(), "", sendArgs("1000", "--bill", "Settle0002", "--max-attempts", "1")...)
	require.Equal(t, exitUnknown, r.code, r)
	f.srv.Advance(2 * time.Minute)
	r = runCLI(t, f.env(), "", settle("--bill", "Settle0002")...)
	assert.Equal(t, exitRefused, r.code, r)
	assert.Contains(t, r.stderr, "NOT PAID")
	assert.Contains(t, r.stderr, "FAILED")
	r = runCLI(t, f.env(), "", settle("--bill", "Settle0002", "--json")...)
	assert.Equal(t, exitRefused, r.code, r)
	var s settleJSON
	rep := decodeOne(t, r.stdout)
	require.NoError(t, json.Unmarshal(rep.Result, &s))
	assert.False(t, rep.OK)
	assert.Equal(t, "not paid", s.Outcome)
	assert.Equal(t, "no", s.Paid)
	assert.Equal(t, "FAILED", s.Status)
	assert.Equal(t, int64(1000), f.srv.Paid(testMchID))

	// Expired and not known to WeChat: the advice is a query-only settle,
	// on a line of its own, and following it never re-sends.
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "sendredpack", Kind: redpacktest.SystemErrorAfterCommit}))
	r = runCLI(t, f.env(), "", sendArgs("1000", "--bill", "Settle0003", "--max-attempts", "1")...)
	require.Equal(t, exitUnknown, r.code, r)
	f.srv.Advance(25 * time.Hour)
	require.NoError(t, f.srv.Inject(redpacktest.Fault{Kind: redpacktest.ErrCodeAnswer, Op: "gethbinfo", ErrCode: "NOT_FOUND"}))
	r = runCLI(t, f.env(), "", settle("--bill", "Settle0003")...)
	assert.Equal(t, exitUnknown, r.code, r)
	next := resendFrom(t, r.stderr, "redpack settle --bill Settle0003")
	assert.True(t, strings.HasSuffix(next, " --query-only"), next)
	before := len(f.srv.Requests())
	r = runCLI(t, f.env(), "", shellSplit(t, strings.TrimPrefix(next, "redpack "))...)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "PAID")
	for _, req := range f.srv.Requests()[before:] {
		assert.Equal(t, "gethbinfo", req.Op, "--query-only sends nothing")
	}
}
