package main

import (
	"encoding/json"
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
