package main

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/internal/tcpswitch"
	"github.com/redpack-go/redpack/redpacktest"
)

// Environment variables of TestCampaignChaos.
const (
	chaosSeedEnv  = "REDPACK_CHAOS_SEED"  // replay this one seed
	chaosSeedsEnv = "REDPACK_CHAOS_SEEDS" // how many seeds to play (default 2, 1 under -race)
)

// TestCampaignChaos plays seeded, reproducible schedules against one
// campaign: in each step 1–3 "campaign run" processes with random flags
// (--timeout, --max-attempts, --workers, --rate), random faults on the
// rows' bill numbers (answers slower than a claimer's time limit, answers
// after commit, FREQ_LIMIT, NOTENOUGH, HTML), the balance running out,
// WeChat cut off and back, its clock moved past 24 h, and each process
// SIGKILLed, SIGTERMed or left to finish. Then it runs the campaign to the
// end, with a top-up and "reissue --not-paid", and the fake's ledger
// decides: no openid paid twice, every row's report equal to the ledger
// (outcome, amount, send_listid), no row left unknown.
//
// The seed is printed; REDPACK_CHAOS_SEED=N replays it, and
// REDPACK_CHAOS_SEEDS=K plays K seeds.
func TestCampaignChaos(t *testing.T) {
	var seeds []uint64
	if s := os.Getenv(chaosSeedEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, chaosSeedEnv)
		seeds = []uint64{seed}
	} else {
		k := 2
		if raceEnabled {
			k = 1
		}
		if s := os.Getenv(chaosSeedsEnv); s != "" {
			var err error
			k, err = strconv.Atoi(s)
			require.NoError(t, err, chaosSeedsEnv)
		}
		base := uint64(time.Now().UnixNano())
		for i := range k {
			seeds = append(seeds, base+uint64(i)*7919)
		}
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("%s/%d", kind, seed), func(t *testing.T) {
				t.Logf("replay with: %s=%d go test -run 'TestCampaignChaos/%s' ./cmd/redpack/", chaosSeedEnv, seed, kind)
				playChaos(t, kind, seed)
			})
		}
	}
}

func playChaos(t *testing.T, kind string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	f := newFixture(t)
	u, err := url.Parse(f.srv.URL())
	require.NoError(t, err)
	wechat, err := tcpswitch.New(u.Host)
	require.NoError(t, err)
	t.Cleanup(wechat.Off)
	db := filepath.Join(f.dir, "c.db")
	if kind == "postgres" {
		db = freshPostgresDSN(t)
	}
	env := campaignEnv(f, db)
	env["REDPACK_BASE_URL"] = "https://" + wechat.Addr + u.Path

	n := 40 + rng.IntN(40)
	file := writeLines(t, f.dir, "openids.txt", campaignOpenIDs(n)...)
	r := runLong(t, env, createArgs("chaos", file, "--amount", "100")...)
	require.Equal(t, exitOK, r.code, r)

	var log strings.Builder
	say := func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }
	defer func() { t.Logf("seed %d schedule:\n%s", seed, log.String()) }() // shown with -v or on failure
	advanced := false
	steps := 3 + rng.IntN(3)
	for step := range steps {
		rows := reportRows(t, env, "chaos")
		for range 1 + rng.IntN(4) {
			row := rows[rng.IntN(len(rows))]
			fault := redpacktest.Fault{Op: "sendredpack", MchBillNo: row["mch_billno"]}
			switch rng.IntN(9) {
			case 0, 6:
				fault.Kind, fault.Delay = redpacktest.SlowAfterCommit, time.Duration(3+rng.IntN(5))*time.Second
			case 1:
				fault.Kind = redpacktest.SystemErrorAfterCommit
			case 2:
				fault.Kind, fault.ErrCode = redpacktest.ErrCodeAnswer, "FREQ_LIMIT"
			case 3:
				fault.Kind, fault.ErrCode = redpacktest.ErrCodeAnswer, "NOTENOUGH"
			case 4, 7:
				fault.Kind = redpacktest.HTMLGateway
			default:
				fault.Kind, fault.Hold = redpacktest.ProcessingAfterCommit, time.Duration(1+rng.IntN(3))*time.Second
			}
			require.NoError(t, f.srv.Inject(fault))
			say("step %d: fault %v on row %s", step, fault.Kind, row["row"])
		}
		if rng.IntN(4) == 0 {
			more := 1 + rng.IntN(10)
			require.NoError(t, f.srv.SetBalance(testMchID, int64(100*more)))
			say("step %d: balance for %d more rows", step, more)
		}
		var procs []*runProc
		for i := range 1 + rng.IntN(3) {
			flags := []string{"--timeout", pick("1s", "2s"), "--max-attempts", pick("1", "2"), "--workers", pick("1", "2", "4", "8"),
				"--rate", pick("5", "10", "20", "28"), "--outage-limit", pick("3s", "10s")}
			say("step %d: run %d %s", step, i, strings.Join(flags, " "))
			procs = append(procs, startRun(t, env, "chaos", flags...))
		}
		time.Sleep(time.Duration(200+rng.IntN(1500)) * time.Millisecond)
		if rng.IntN(3) == 0 {
			off := time.Duration(500+rng.IntN(2500)) * time.Millisecond
			say("step %d: WeChat cut off for %s", step, off)
			wechat.Off()
			time.Sleep(off)
			require.NoError(t, wechat.On())
		}
		if !advanced && rng.IntN(3) == 0 {
			say("step %d: WeChat's clock 25 h on", step)
			f.srv.Advance(25 * time.Hour)
			advanced = true
		}
		time.Sleep(time.Duration(rng.IntN(2500)) * time.Millisecond)
		for i, p := range procs {
			switch rng.IntN(5) {
			case 0, 1:
				say("step %d: run %d SIGKILL", step, i)
				p.kill(t)
				continue
			case 2, 3:
				say("step %d: run %d SIGTERM", step, i)
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
			}
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				say("step %d: run %d SIGKILL after 30 s", step, i)
				p.kill(t)
				continue
			}
			code := p.status.ExitCode()
			say("step %d: run %d exit %d", step, i, code)
			// Each code that is not a bug: done, busy SQLite file, unknown
			// rows left, outage, balance, interrupted.
			require.Contains(t, []int{exitOK, exitUsage, exitUnknown, exitNotSent, exitBalanceLow, exitInterrupted}, code,
				"run %d of step %d:\n%s", i, step, p.out)
			if code == exitUsage {
				require.Contains(t, p.out.String(), "in use by another run", "exit 2 only for a SQLite file another run holds:\n%s", p.out)
			}
		}
	}

	// To the end: WeChat reachable, money enough, faults spent; refused
	// rows reissued.
	require.NoError(t, wechat.On())
	require.NoError(t, f.srv.SetBalance(testMchID, 100_000_000))
	f.srv.Advance(time.Hour) // packets held SENDING are decided
	var last *runProc
	for attempt := range 8 {
		r := runLong(t, env, "campaign", "reissue", "chaos", "--not-paid")
		say("end %d: reissue --not-paid exit %d: %s", attempt, r.code, strings.TrimSpace(r.stdout+r.stderr))
		last = startRun(t, env, "chaos")
		code := last.wait(t, 4*time.Minute)
		say("end %d: run exit %d", attempt, code)
		if code == exitOK {
			break
		}
		require.Contains(t, []int{exitUnknown, exitBalanceLow}, code, "%s", last.out)
		f.srv.Advance(time.Hour)
	}
	require.Equal(t, 0, last.status.ExitCode(), "%s", last.out)
	rows := reportRows(t, env, "chaos")
	require.Len(t, rows, n)
	assertReportMatchesLedger(t, f.srv, rows)
	for _, row := range rows {
		require.Equal(t, "paid", row["outcome"], "row %s", row["row"])
	}
	require.Equal(t, int64(100*n), f.srv.Paid(testMchID), "every row paid, none twice")
}
