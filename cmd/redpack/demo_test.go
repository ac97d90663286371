package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDemo(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "", "demo")
	require.Equal(t, exitOK, r.code, r)
	assert.Empty(t, r.stderr)
	out := r.stdout

	// Each part of the story, in order.
	sections := []string{
		"1. Send a red packet",
		"2. Send a group packet",
		"3. The users open them (claimed)",
		"4. Query them back",
		"5. A mini-program packet",
		"6. Refused: nothing paid, and why",
		"7. Unknown outcome, settled safely",
		"8. Unclaimed packets are refunded after 24 hours",
		"Summary: the fake server's ledger",
	}
	last := -1
	for _, s := range sections {
		i := strings.Index(out, s)
		require.GreaterOrEqual(t, i, 0, "section %q missing:\n%s", s, out)
		assert.Greater(t, i, last, "section %q out of order", s)
		last = i
	}
	for _, want := range []string{
		"sent and paid",
		"offline on 2024-06-05",
		"RECEIVED",
		"invalid total_amount",     // client-side validation names the field
		"nothing: the fake server", // and sent nothing
		"NOTENOUGH",                // WeChat's refusal with its err_code
		"SYSTEMERROR",
		"OUTCOME UNKNOWN",
		"Settled: it was paid",
		"paid exactly once",
		"byte-identical: yes",
		"RFUND_ING",
		"REFUND ",
		"each paid exactly once",
		"wx.sendBizRedPacket",
		`"signType": "MD5"`,
		"it is RECEIVED",
	} {
		assert.Contains(t, out, want)
	}
	assert.Regexp(t, `¥\d+\.\d\d`, out, "amounts in CNY")
	assert.Regexp(t, `CLI exit code\s+2`, out)
	assert.Regexp(t, `CLI exit code\s+3`, out)
	assert.Regexp(t, `CLI exit code\s+4`, out)
	assert.NotContains(t, out, "\x1b[", "no terminal escapes")
	for i, line := range strings.Split(out, "\n") {
		assert.Equal(t, strings.TrimRight(line, " "), line, "line %d has trailing spaces", i+1)
	}

	// The group split shows three receivers adding up to ¥30.00.
	m := regexp.MustCompile(`GROUP\s+RECEIVED\s+¥30\.00\s+Alice ¥[\d.]+, Bob ¥[\d.]+, Chen ¥[\d.]+`).FindString(out)
	assert.NotEmpty(t, m, "the group packet's receivers")
}
