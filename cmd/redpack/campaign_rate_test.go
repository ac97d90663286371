package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCampaignRunRateFlag: --rate must be positive (--rate -5 used to turn
// pacing off); pacing off is --no-rate-limit, and not with --rate.
func TestCampaignRunRateFlag(t *testing.T) {
	f := newFixture(t)
	env := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	file := writeLines(t, f.dir, "openids.txt", campaignOpenIDs(3)...)
	r := runLong(t, env, createArgs("pace", file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)

	for _, bad := range [][]string{{"--rate", "-5"}, {"--rate", "0"}, {"--rate", "NaN"}, {"--rate", "1e-9"}, {"--rate", "5", "--no-rate-limit"}} {
		r := runLong(t, env, append([]string{"campaign", "run", "pace", "--no-progress"}, bad...)...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", bad, r)
		assert.Contains(t, r.stderr, "--rate", "%v: the error names the flag", bad)
	}
	assert.Empty(t, f.srv.Requests(), "a refused run sends nothing")

	r = runLong(t, env, "campaign", "run", "pace", "-h")
	assert.Contains(t, r.stdout, "--no-rate-limit")
	r = runLong(t, env, "campaign", "run", "pace", "--no-progress", "--no-rate-limit")
	require.Equal(t, exitOK, r.code, r)
	assertReportMatchesLedger(t, f.srv, reportRows(t, env, "pace"))
}

// TestCampaignRunOnePerSQLiteFile: a second run on a SQLite file that a
// run (another process) holds exits 2 naming its PID and sends nothing,
// while status still works; once the holder is killed with SIGKILL the
// kernel has dropped its lock and the next run takes the file.
func TestCampaignRunOnePerSQLiteFile(t *testing.T) {
	f := newFixture(t)
	db := filepath.Join(f.dir, "c.db")
	env := campaignEnv(f, db)
	file := writeLines(t, f.dir, "openids.txt", campaignOpenIDs(40)...)
	r := runLong(t, env, createArgs("solo", file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)

	holds := func(p *runProc) {
		t.Helper()
		want := strconv.Itoa(p.cmd.Process.Pid) + "\n"
		deadline := time.Now().Add(time.Minute)
		for {
			if data, err := os.ReadFile(db + ".lock"); err == nil && string(data) == want {
				return
			}
			select {
			case <-p.done:
				t.Fatalf("the run exited before taking the file:\n%s", p.out)
			default:
			}
			require.True(t, time.Now().Before(deadline), "run %d did not take the lock", p.cmd.Process.Pid)
			time.Sleep(20 * time.Millisecond)
		}
	}
	p := startRun(t, env, "solo", "--rate", "1") // 40 s of work: it holds the file throughout
	holds(p)

	sent := len(f.srv.Requests())
	r = runLong(t, env, "campaign", "run", "solo", "--no-progress")
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "in use by another run (PID "+strconv.Itoa(p.cmd.Process.Pid)+")", r)
	assert.LessOrEqual(t, len(f.srv.Requests())-sent, 2, "only the holder sends, at 1 a second")
	r = runLong(t, env, "campaign", "status", "solo")
	assert.Equal(t, exitOK, r.code, "status works while a run holds the file: %s", r)
	assert.True(t, strings.Contains(r.stdout, "solo"), r)

	p.kill(t)
	p2 := startRun(t, env, "solo", "--rate", "1")
	holds(p2)
	p2.kill(t)
}

// TestCampaignRateCommand: "campaign rate" shows and sets the merchant's
// rate on PostgreSQL, which the first run stores and a run started with a
// higher --rate is told about; a SQLite file has none.
func TestCampaignRateCommand(t *testing.T) {
	dsn := freshPostgresDSN(t)
	f := newFixture(t)
	env := campaignEnv(f, dsn)
	r := runLong(t, env, "campaign", "rate")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "no rate stored yet", r)

	file := writeLines(t, f.dir, "openids.txt", campaignOpenIDs(2)...)
	r = runLong(t, env, createArgs("shared", file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	r = runLong(t, env, "campaign", "run", "shared", "--no-progress", "--rate", "25")
	require.Equal(t, exitOK, r.code, r)
	r = runLong(t, env, "campaign", "rate", "--json")
	require.Equal(t, exitOK, r.code, r)
	assert.JSONEq(t, `{"mch_id": "`+testMchID+`", "rate": 25}`, r.stdout, "the first run stored its rate")

	r = runLong(t, env, "campaign", "rate", "--set", "20")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "20 requests a second", r)
	for _, bad := range []string{"0", "-1"} {
		r = runLong(t, env, "campaign", "rate", "--set", bad)
		assert.Equal(t, exitUsage, r.code, r)
		assert.Contains(t, r.stderr, "--set", r)
	}
	r = runLong(t, env, "campaign", "rate")
	assert.Contains(t, r.stdout, "20 requests a second", r)

	file2 := writeLines(t, f.dir, "more.txt", campaignOpenIDs(4)[2:]...)
	r = runLong(t, env, createArgs("more", file2, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)
	r = runLong(t, env, "campaign", "run", "more", "--no-progress")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stderr, "rate is 20 requests a second", "a run at the default --rate is told the merchant's is lower: %s", r)

	sq := campaignEnv(f, filepath.Join(f.dir, "c.db"))
	r = runLong(t, sq, "campaign", "rate", "--set", "20")
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "SQLite", r)
}
