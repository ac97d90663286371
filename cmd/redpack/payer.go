package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redpack-go/redpack/campaign"
)

// payerFlags are the flags of a command that pays a campaign's rows
// (campaign run, rules serve): the pacing, the caps, what to do on a low
// balance or an outage, and the credentials. Both commands take them from
// here, so that they mean the same everywhere.
type payerFlags struct {
	c           conn
	rate        float64
	noRateLimit bool
	workers     int
	settleTries int
	userCount   int
	userAmount  int64
	dailyAmount int64
	onLimit     string
	onBalance   string
	outageLimit time.Duration
}

// payerFlagNames are the flags register adds, in order, for groupFlags.
var payerFlagNames = []string{"rate", "no-rate-limit", "workers", "settle-tries", "user-daily-count", "user-daily-amount",
	"daily-amount", "on-limit", "on-balance", "outage-limit"}

// register adds the pacing and policy flags to fs.
func (p *payerFlags) register(fs *pflag.FlagSet) {
	fs.Float64Var(&p.rate, "rate", campaign.DefaultRate, "requests a `second` this run makes at most (WeChat allows 30); on PostgreSQL every run also keeps to the merchant's stored rate (see 'redpack campaign rate')")
	fs.BoolVar(&p.noRateLimit, "no-rate-limit", false, "no pacing at all: for a fake server only (WeChat refuses bursts with FREQ_LIMIT)")
	fs.IntVar(&p.workers, "workers", 8, "rows this process sends at once")
	fs.IntVar(&p.settleTries, "settle-tries", 8, "times a row whose outcome is unknown is settled before this run leaves it unknown")
	fs.IntVar(&p.userCount, "user-daily-count", 0, "packets per user per day, as set in the merchant console (default 10; -1: no check)")
	fs.Int64Var(&p.userAmount, "user-daily-amount", 0, "`fen` per user per day, as set in the merchant console (default 100000; -1: no check)")
	fs.Int64Var(&p.dailyAmount, "daily-amount", 0, "`fen` the merchant may pay a day, as set in the console (default 100000000; -1: no check)")
	fs.StringVar(&p.onLimit, "on-limit", "hold", "a row a daily cap would refuse: `hold` it for the next day, or report it not paid")
	fs.StringVar(&p.onBalance, "on-balance", "stop", "when WeChat answers NOTENOUGH: `stop` (exit 6; the rows keep their bill numbers), or wait for a top-up")
	fs.DurationVar(&p.outageLimit, "outage-limit", 5*time.Minute, "how long to wait for WeChat to be reachable again before stopping (exit 5)")
}

// registerConn adds the credentials with a campaign's own defaults: short
// attempts keep each job inside River's time limit, so that a killed
// run's rows are picked up again within about a minute (River rescues a
// stuck job after its time limit and checks every 30 s).
func (p *payerFlags) registerConn(fs *pflag.FlagSet) { p.c.registerWith(fs, 2, 5*time.Second) }

// completions makes the flags with fixed values complete.
func (p *payerFlags) completions(cmd *cobra.Command) {
	completeChoices(cmd, "on-limit", "hold", "report")
	completeChoices(cmd, "on-balance", "stop", "wait")
}

// runConfig checks the flags and the credentials and returns the run's
// configuration, or the exit code of what is wrong, reported as command
// (e.g. "campaign run").
func (p *payerFlags) runConfig(e *env, fs *pflag.FlagSet, command string) (campaign.RunConfig, int, bool) {
	fail := func(msg string) (campaign.RunConfig, int, bool) {
		return campaign.RunConfig{}, commandFail(e, command, &inputError{msg: msg}), false
	}
	p.c.resolve(fs, e.getenv)
	if !(p.rate >= 1.0/3600) || math.IsInf(p.rate, 0) {
		return fail(fmt.Sprintf("--rate must be a positive number of requests a second (at least one an hour), not %g (--no-rate-limit turns pacing off, for a fake server only)", p.rate))
	}
	if p.noRateLimit && fs.Changed("rate") {
		return fail("give --rate or --no-rate-limit, not both")
	}
	var action campaign.LimitAction
	switch p.onLimit {
	case "hold":
		action = campaign.HoldUntilNextDay
	case "report":
		action = campaign.ReportNotPaid
	default:
		return fail(fmt.Sprintf("--on-limit is hold or report, not %q", p.onLimit))
	}
	var balance campaign.BalanceAction
	switch p.onBalance {
	case "stop":
		balance = campaign.StopOnLowBalance
	case "wait":
		balance = campaign.WaitForBalance
	default:
		return fail(fmt.Sprintf("--on-balance is stop or wait, not %q", p.onBalance))
	}
	if p.outageLimit <= 0 {
		return fail("--outage-limit must be positive")
	}
	// Check the credentials as every command does before touching the
	// database.
	if _, err := p.c.client(e); err != nil {
		failed := explain(err, opContext{command: command})
		writeFailure(e.stderr, command, failed)
		return campaign.RunConfig{}, failed.ExitCode, false
	}
	cfg, opts, err := p.c.merchant(e)
	if err != nil {
		return campaign.RunConfig{}, commandFail(e, command, err), false
	}
	return campaign.RunConfig{
		Merchant: cfg, ClientOptions: opts, Rate: p.rate, Unlimited: p.noRateLimit, Workers: p.workers,
		AttemptTimeout: p.c.timeout, MaxAttempts: p.c.maxAttempts, SettleTries: p.settleTries,
		Limits:  campaign.Limits{UserDailyCount: p.userCount, UserDailyAmount: p.userAmount, DailyAmount: p.dailyAmount},
		OnLimit: action, OnBalance: balance, OutageLimit: p.outageLimit,
	}, exitOK, true
}

// warnStoredRate says when the merchant's rate stored on PostgreSQL is
// below --rate: every run keeps to the stored one.
func (p *payerFlags) warnStoredRate(ctx context.Context, e *env, s *campaign.Store, cfg campaign.RunConfig) {
	if s.Kind() != "postgres" || p.noRateLimit {
		return
	}
	mchID := cfg.Merchant.MchID()
	if stored, err := s.Rate(ctx, mchID); err == nil && stored > 0 && stored < p.rate {
		fmt.Fprintf(e.stderr, "Merchant %s's rate is %g requests a second, shared by every run (--rate %g only paces this run lower); 'redpack campaign rate --set N' changes it.\n",
			mchID, stored, p.rate)
	}
}
