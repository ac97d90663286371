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
	require.NoError(t, f.srv.SetBalance(testMchID, 200))
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
