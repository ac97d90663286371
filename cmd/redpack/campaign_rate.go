package main

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redpack-go/redpack/campaign"
)

// newCampaignRateCmd is "redpack campaign rate": it shows or sets the
// merchant's rate on PostgreSQL, which every run keeps to together.
func newCampaignRateCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("rate --mch-id ID [--set N] [flags]", "show or set the merchant's rate, which every run on PostgreSQL keeps to together")
	cmd.Long = `Rate shows, or with --set stores, the merchant's rate on a PostgreSQL campaign
database: every run of every campaign of the merchant keeps to it together,
from the next request on; a run's own --rate can only pace it lower. The first
run stores its --rate. A SQLite file has no shared rate: one run at a time
paces itself.`
	cmd.Example = `  redpack campaign rate --db postgres://localhost/redpack --mch-id 1900000109
  redpack campaign rate --db postgres://localhost/redpack --mch-id 1900000109 --set 20`
	fs := cmd.Flags()
	mchID := fs.String("mch-id", "", "the merchant `id` [$REDPACK_MCH_ID]")
	set := fs.Float64("set", 0, "store this rate, in requests a `second` (WeChat allows 30), for every run from now on")
	asJSON := fs.Bool("json", false, "print the rate as JSON")
	db := dbFlag(fs)
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return exitWith(runCampaignRate(cmd.Context(), e, fs, args, *db, *mchID, *set, *asJSON))
	}
	return cmd
}

// runCampaignRate shows or sets the rate and returns the exit code.
func runCampaignRate(ctx context.Context, e *env, fs *pflag.FlagSet, pos []string, db, mchID string, set float64, asJSON bool) int {
	if len(pos) != 0 {
		fmt.Fprintln(e.stderr, "redpack campaign rate: takes no NAME: the rate is the merchant's\nRun 'redpack campaign rate -h' for usage.")
		return exitUsage
	}
	if mchID == "" && !fs.Changed("mch-id") {
		mchID = e.getenv("REDPACK_MCH_ID")
	}
	if mchID == "" {
		return campaignFail(e, "rate", &inputError{msg: "--mch-id is required"})
	}
	setting := fs.Changed("set")
	if setting && (!(set >= 1.0/3600) || math.IsInf(set, 0)) {
		return campaignFail(e, "rate", &inputError{msg: fmt.Sprintf("--set must be a positive number of requests a second (at least one an hour), not %g", set)})
	}
	s, err := openCampaignDB(ctx, e, fs, db)
	if err != nil {
		return campaignFail(e, "rate", err)
	}
	defer s.Close()
	if setting {
		err = s.SetRate(ctx, mchID, set)
	}
	var r float64
	if err == nil {
		r, err = s.Rate(ctx, mchID)
	}
	if errors.Is(err, campaign.ErrNoSharedRate) {
		return campaignFail(e, "rate", &inputError{msg: "a SQLite file has no shared rate: one run at a time paces itself with its --rate; a merchant rate is kept on PostgreSQL"})
	}
	var cfgErr *campaign.ConfigError
	if errors.As(err, &cfgErr) {
		return campaignFail(e, "rate", &inputError{msg: "--set: " + cfgErr.Msg})
	}
	if err != nil {
		return campaignFail(e, "rate", err)
	}
	switch {
	case asJSON:
		writeJSON(e.stdout, map[string]any{"mch_id": mchID, "rate": r})
	case r == 0:
		fmt.Fprintf(e.stdout, "Merchant %s has no rate stored yet: the first run stores its --rate (default %d).\n", mchID, campaign.DefaultRate)
	default:
		fmt.Fprintf(e.stdout, "Merchant %s: %g requests a second, for every run together.\n", mchID, r)
	}
	return exitOK
}
