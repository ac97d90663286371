package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/campaign"
	"github.com/redpack-go/redpack/redpacktest"
)

// list shows every campaign of the database with its rows by outcome, as
// a table and as JSON.
func TestCampaignList(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	r := runLong(t, env, createArgs("spring", writeLines(t, f.dir, "a.txt", campaignOpenIDs(4)...), "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	r = runLong(t, env, createArgs("autumn", writeLines(t, f.dir, "b.txt", campaignOpenIDs(7)[4:]...), "--amount", "200")...)
	require.Equal(t, exitOK, r.code, r)
	for _, row := range reportRows(t, env, "spring")[2:] {
		require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "sendredpack", MchBillNo: row["mch_billno"], Kind: redpacktest.ErrCodeAnswer, ErrCode: "OPENID_ERROR"}))
	}
	r = runLong(t, env, append([]string{"campaign", "run", "spring", "--workers", "1"}, fastRun...)...)
	require.Equal(t, exitOK, r.code, r)

	r = runLong(t, env, "campaign", "list")
	require.Equal(t, exitOK, r.code, r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3, r.stdout)
	assert.Equal(t, "NAME ROWS PAID NOT PAID UNKNOWN PENDING AMOUNT PAID CREATED LAST RUN", flat(lines[0]))
	assert.Regexp(t, `^autumn 3 0 0 0 3 ¥0\.00 \d{4}-\d\d-\d\d \d\d:\d\d -$`, flat(lines[1]))
	assert.Regexp(t, `^spring 4 2 2 0 0 ¥2\.00 \d{4}-\d\d-\d\d \d\d:\d\d `, flat(lines[2]))

	r = runLong(t, env, "campaign", "list", "--json")
	require.Equal(t, exitOK, r.code, r)
	var list []campaign.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list), r.stdout)
	require.Len(t, list, 2)
	assert.Equal(t, "spring", list[1].Name)
	assert.Equal(t, [4]int64{4, 2, 2, 0}, [4]int64{list[1].Rows, list[1].Paid, list[1].NotPaid, list[1].Pending})
	assert.Equal(t, int64(200), list[1].AmountPaid)
	assert.Equal(t, int64(600), list[0].AmountTotal)

	r = runLong(t, env, "campaign", "list", "spring")
	require.Equal(t, exitUsage, r.code, r)
}

// Commands that only read never create a database: a mistyped --db is an
// error naming the path, and a mistyped campaign name suggests the
// closest one.
func TestCampaignReadOnlyCommandsCreateNothing(t *testing.T) {
	f := newFixture(t)
	missing := filepath.Join(f.dir, "typo.db")
	env := campaignEnv(f, missing)
	for _, args := range [][]string{
		{"campaign", "status", "spring"},
		{"campaign", "report", "spring"},
		{"campaign", "list"},
		append([]string{"campaign", "run", "spring"}, fastRun...), // nor does run: a mistyped --db pays nothing
	} {
		r := runLong(t, env, args...)
		require.Equal(t, exitUsage, r.code, "%v: %s", args, r)
		assert.Contains(t, r.stderr, missing, "%v names the path", args)
		assert.Contains(t, r.stderr, "does not exist", "%v", args)
		_, err := os.Stat(missing)
		require.ErrorIs(t, err, fs.ErrNotExist, "%v created the database", args)
	}

	env = campaignEnv(f, filepath.Join(f.dir, "c.db"))
	r := runLong(t, env, createArgs("spring", writeLines(t, f.dir, "a.txt", campaignOpenIDs(2)...), "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	for _, cmd := range []string{"status", "report"} {
		r = runLong(t, env, "campaign", cmd, "sprng")
		require.Equal(t, exitUsage, r.code, r)
		assert.Equal(t, "redpack campaign "+cmd+": no campaign \"sprng\"; did you mean \"spring\"?\n", r.stderr)
	}
	r = runLong(t, env, "campaign", "status", "winter")
	require.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, `no campaign "winter"`)
	assert.Contains(t, r.stderr, "redpack campaign list")
}

// The same file under a second name is refused, naming the first
// campaign, unless --allow-same-file: it would pay every openid twice.
func TestCampaignCreateRefusesTheSameFile(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	file := writeLines(t, f.dir, "a.txt", campaignOpenIDs(3)...)
	r := runLong(t, env, createArgs("spring", file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)

	copied := writeLines(t, t.TempDir(), "renamed.txt", campaignOpenIDs(3)...)
	r = runLong(t, env, createArgs("spring-2", copied, "--amount", "100")...)
	require.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, flat(r.stderr), "is the file campaign spring was imported from")
	assert.Contains(t, r.stderr, "--allow-same-file")
	r = runLong(t, env, "campaign", "status", "spring-2")
	require.Equal(t, exitUsage, r.code, "nothing imported: %s", r)

	r = runLong(t, env, createArgs("spring-2", copied, "--amount", "100", "--allow-same-file")...)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "3 rows")
}

// reissue chooses rows by what the journal says (--not-paid, --err-code)
// or by number, takes a row named twice once, lists refusals sorted and
// compact, prints one line (the rows with --json), and --dry-run changes
// nothing.
func TestCampaignReissueSelectors(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	r := runLong(t, env, createArgs("lean", writeLines(t, f.dir, "a.txt", campaignOpenIDs(8)...), "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	before := reportRows(t, env, "lean")
	// Per-row refusals: rows 2 and 3 OPENID_ERROR, row 6 PARAM_ERROR.
	for row, code := range map[int]string{2: "OPENID_ERROR", 3: "OPENID_ERROR", 6: "PARAM_ERROR"} {
		require.NoError(t, f.srv.Inject(redpacktest.Fault{Op: "sendredpack", MchBillNo: before[row-1]["mch_billno"],
			Kind: redpacktest.ErrCodeAnswer, ErrCode: code, ErrCodeDes: "test"}))
	}
	r = runLong(t, env, append([]string{"campaign", "run", "lean"}, fastRun...)...)
	require.Equal(t, exitOK, r.code, r)

	r = runLong(t, env, "campaign", "reissue", "lean", "--rows", "3,1,2,4-5,7")
	require.Equal(t, exitUsage, r.code, r)
	assert.Equal(t, "redpack campaign reissue: nothing reissued: only rows definitely not paid can be reissued: rows 1, 4-5, 7 are paid\n", r.stderr)

	r = runLong(t, env, "campaign", "reissue", "lean", "--err-code", "openid_error", "--dry-run")
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, "would reissue rows 2-3 of lean (dry run: nothing changed)\n", r.stdout)
	r = runLong(t, env, "campaign", "reissue", "lean", "--not-paid", "--dry-run", "--json")
	require.Equal(t, exitOK, r.code, r)
	var js reissueJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &js), r.stdout)
	require.True(t, js.DryRun)
	require.Len(t, js.Reissued, 3)
	assert.Equal(t, before[5]["mch_billno"], js.Reissued[2].OldBill)
	assert.Empty(t, js.Reissued[2].NewBill)
	for i, row := range reportRows(t, env, "lean") {
		require.Equal(t, before[i]["mch_billno"], row["mch_billno"], "a dry run changes no bill number")
	}

	r = runLong(t, env, "campaign", "reissue", "lean", "--rows", "2,2")
	require.Equal(t, exitOK, r.code, "a row named twice is taken once: %s", r)
	assert.Equal(t, "reissued 1 row of lean under new bill numbers; send them with: redpack campaign run lean\n", r.stdout)

	r = runLong(t, env, "campaign", "reissue", "lean", "--not-paid", "--json")
	require.Equal(t, exitOK, r.code, r)
	js = reissueJSON{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &js), r.stdout)
	require.False(t, js.DryRun)
	require.Equal(t, int64(3), js.Reissued[0].Row)
	require.Equal(t, int64(6), js.Reissued[1].Row)
	require.Len(t, js.Reissued[1].NewBill, 28)

	r = runLong(t, env, "campaign", "reissue", "lean", "--not-paid")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "nothing to reissue")

	r = runLong(t, env, append([]string{"campaign", "run", "lean"}, fastRun...)...)
	require.Equal(t, exitOK, r.code, r)
	rows := reportRows(t, env, "lean")
	assertReportMatchesLedger(t, f.srv, rows)
	for _, row := range rows {
		require.Equal(t, "paid", row["outcome"], "row %s", row["row"])
	}

	r = runLong(t, env, "campaign", "reissue", "lean", "--dry-run", "--not-paid", "--db", filepath.Join(f.dir, "nope.db"))
	require.Equal(t, exitUsage, r.code, r)
	_, err := os.Stat(filepath.Join(f.dir, "nope.db"))
	require.ErrorIs(t, err, fs.ErrNotExist, "a dry run creates no database")
}

// create --dry-run prints what its help and the README say it prints: the
// number of rows, the total amount and the run time, not the rows.
func TestCampaignCreateDryRunDoesWhatItSays(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	ids := campaignOpenIDs(3)
	r := runLong(t, env, createArgs("spring", writeLines(t, f.dir, "a.txt", ids...), "--amount", "100", "--dry-run")...)
	require.Equal(t, exitOK, r.code, r)
	out := flat(r.stdout)
	assert.Contains(t, out, "Rows 3")
	assert.Contains(t, out, "Total amount ¥3.00")
	assert.Contains(t, out, "Run time about")
	assert.NotContains(t, r.stdout, ids[0], "the rows are not printed")

	r = runLong(t, env, "campaign", "create", "-h")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, flat(r.stdout), "print the number of rows, the total amount and the run time; import nothing")
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	assert.Contains(t, flat(string(readme)), "`--dry-run` checks the file the same way and prints the number of rows, the total amount and how long the run will take")
}

// create refuses what cannot be an openid, by line, and a file separated
// by semicolons, saying so; nothing is imported.
func TestCampaignCreateOpenIDShape(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	ids := campaignOpenIDs(2)
	r := runLong(t, env, createArgs("spring", writeLines(t, f.dir, "a.txt", ids[0], "o123", "not-an-openid", "oUpF8uMuAJO M2pxb1Q9zNjWeS6o", ids[1]), "--amount", "100")...)
	require.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "3 bad rows; nothing was imported")
	assert.Contains(t, r.stderr, `line 2: openid "o123" is too short to be one`)
	assert.Contains(t, r.stderr, `line 3: openid "not-an-openid" is too short to be one`)
	assert.Contains(t, r.stderr, `line 4: openid "oUpF8uMuAJO M2pxb1Q9zNjWeS6o" holds a space`)

	r = runLong(t, env, createArgs("spring", writeLines(t, f.dir, "b.csv", "openid;amount", ids[0]+";100"), "--amount", "100")...)
	require.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "line 1: the file is separated by semicolons, not commas: save it as CSV with commas")
	require.Empty(t, f.srv.Requests())
}

// A mistyped command suggests the closest one.
func TestDidYouMeanCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sned"}, `redpack: unknown command "sned"; did you mean "send"?`},
		{[]string{"help", "setle"}, `redpack help: unknown command "setle"; did you mean "settle"?`},
		{[]string{"campaign", "stauts", "spring"}, `redpack campaign: unknown command "stauts"; did you mean "status"?`},
		{[]string{"campaign", "reisue"}, `did you mean "reissue"?`},
	} {
		r := runCLI(t, nil, "", tc.args...)
		require.Equal(t, exitUsage, r.code, r)
		assert.Contains(t, r.stderr, tc.want)
	}
	r := runCLI(t, nil, "", "frobnicate")
	require.Equal(t, exitUsage, r.code, r)
	assert.NotContains(t, r.stderr, "did you mean", "no suggestion when nothing is close")
}
