package redpack

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's table and CodeTable are the same rows, in the same order:
// what the CLI and the dashboard show is what the README says.
func TestCodeTableMatchesREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	readme := string(b)
	start := strings.Index(readme, "## err_codes and what to do")
	require.GreaterOrEqual(t, start, 0, "the README lost its err_code section")
	var rows []string
	for _, line := range strings.Split(readme[start:], "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| err_code ") {
			rows = append(rows, line)
		} else if len(rows) > 0 && !strings.HasPrefix(line, "|") {
			break
		}
	}
	var want []string
	for _, ci := range CodeTable() {
		want = append(want, "| "+ci.Label+" | "+ci.Meaning+" | "+ci.Paid+" | "+ci.Action+" |")
	}
	assert.Equal(t, want, rows)
}

// Every code a row lists is in its label, and the label lists no other.
func TestCodeTableLabelsNameTheirCodes(t *testing.T) {
	span := regexp.MustCompile("`([A-Z_]+)`")
	for _, ci := range CodeTable() {
		var got []Code
		for _, m := range span.FindAllStringSubmatch(ci.Label, -1) {
			got = append(got, Code(m[1]))
		}
		assert.Equal(t, ci.Codes, got, ci.Label)
	}
}

func TestLookupCode(t *testing.T) {
	ci, ok := LookupCode("OPENID_ERROR")
	require.True(t, ok)
	assert.Equal(t, "appid / openid mismatch", ci.Meaning)
	ci, ok = LookupCode("PARAM_ERROR")
	require.True(t, ok)
	assert.Equal(t, "fix the field", ci.Action, "the general row, not the expired bill number's")
	_, ok = LookupCode("FAILED")
	assert.False(t, ok)
	assert.Equal(t, "settle it: client.Settle queries", Plain("settle it: `client.Settle` queries"))
}
