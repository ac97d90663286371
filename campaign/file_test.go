package campaign

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ParseFile refuses what cannot be an openid, by line, and says when a
// file is separated by semicolons or tabs rather than commas.
func TestParseFileOpenIDShape(t *testing.T) {
	real := "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	for _, tc := range []struct {
		name, file string
		msg        string   // the whole file's fault
		lines      []int64  // bad lines, in order
		reasons    []string // one part of each line's reason
	}{
		{"placeholders", "o123\n" + real + "\nnot-an-openid\n", "", []int64{1, 3},
			[]string{`openid "o123" is too short to be one`, `openid "not-an-openid" is too short`}},
		{"too long", real + "oUpF8\n", "", []int64{1}, []string{"longer than 32"}},
		{"a space", "oUpF8uMuAJO M2pxb1Q9zNjWeS6o\n" + real + "\n", "", []int64{1}, []string{"holds a space"}},
		{"a space in a CSV field", "openid,amount\n" + real + ",100\noUpF8uMuAJO_M2pxb1Q9z NjWeS6o,100\n", "", []int64{3}, []string{"holds a space"}},
		{"semicolon header", "openid;amount\n" + real + ";100\n", "line 1: the file is separated by semicolons, not commas", nil, nil},
		{"semicolon header after blank lines", "\n\nre_openid ; amount\n" + real + ";100\n", "line 3: the file is separated by semicolons", nil, nil},
		{"tab header", "amount\topenid\n100\t" + real + "\n", "line 1: the file is separated by tabs", nil, nil},
		{"semicolons without a header", real + ";100\n", "", []int64{1}, []string{"separated by semicolons; save it as CSV with commas"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile(strings.NewReader(tc.file), testTemplate, ParseOptions{})
			var in *InputError
			require.ErrorAs(t, err, &in)
			if tc.msg != "" {
				require.Contains(t, in.Msg, tc.msg)
				return
			}
			require.Len(t, in.Rows, len(tc.lines), "%v", in.Rows)
			for i, r := range in.Rows {
				require.Equal(t, tc.lines[i], r.Line)
				require.Contains(t, r.Reason, tc.reasons[i])
			}
		})
	}

	// What real openids look like passes: 28 characters, and a little
	// shorter or longer for other appids.
	ok := []string{real, "o7LFAwUGrRH-zTPNebBgOKzs-6mA", strings.Repeat("a", 20), "oABC_" + strings.Repeat("9", 27)}
	rows, err := ParseFile(strings.NewReader(strings.Join(ok, "\n")), testTemplate, ParseOptions{})
	require.NoError(t, err)
	require.Len(t, rows, len(ok))
}
