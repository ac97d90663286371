package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redpack-go/redpack/campaign"
)

// defaultRuleSet is the rule set's name when --name is not given.
const defaultRuleSet = "rules"

// newRulesCmd is "redpack rules" and its subcommands: red packets for
// payments (满额送), from WeChat Pay's payment notifications.
func newRulesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules <command> [flags]",
		Short: "a packet for a payment that meets a rule (满额送): check, serve, status, report",
		Long: `Rules pays a red packet for a WeChat Pay payment that meets a rule ("spend ¥100,
get ¥5"): 'rules serve' answers WeChat's payment notifications, journals an award
per rule and transaction before it answers SUCCESS, and pays the awards at the
merchant's rate, resumably, as 'campaign run' pays a file. A rule set is a
campaign, so 'campaign status', 'report', 'reissue' and 'list' work on it too.`,
		Example: `  redpack rules check --config rules.json
  redpack rules serve --config rules.json --merchant redpack-fake/merchant.json --no-confirm --listen 127.0.0.1:8080
  redpack rules status
  redpack rules report --format csv`,
	}
	groupOf(e, cmd)
	setEpilog(cmd, `The rules file is JSON: {"rules": [{"name": "spend100", "appid": "wx…", "from": …,
"min_fee": 10000, "amount": 500, "budget": 75000, …}]}; 'redpack help rules check'
and the README list every key. Every command but check takes --db DSN
($`+campaignDBEnv+`) as the campaign commands do, and --name SET (default
"`+defaultRuleSet+`"): several serve processes on one PostgreSQL share a rule set.`)
	cmd.AddCommand(newRulesCheckCmd(e), newRulesServeCmd(e), newRulesStatusCmd(e), newRulesReportCmd(e))
	return cmd
}

// nameFlag registers --name, the rule set.
func nameFlag(fs *pflag.FlagSet) *string {
	return fs.String("name", defaultRuleSet, "the rule set: a campaign `name` in the database")
}

// noArgs refuses positional arguments: the rule set is --name.
func noArgs(e *env, cmd string, args []string) (int, bool) {
	if len(args) > 0 {
		fmt.Fprintf(e.stderr, "redpack rules %s: takes no arguments (the rule set is --name)\nRun 'redpack rules %s -h' for usage.\n", cmd, cmd)
		return exitUsage, false
	}
	return exitOK, true
}

// readRules reads and checks a rules file.
func readRules(path string) (*campaign.RuleSet, error) {
	if path == "" {
		return nil, &inputError{msg: "--config is required: the rules file"}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &inputError{msg: fmt.Sprintf("--config: %v", err)}
	}
	defer f.Close()
	return campaign.ParseRules(f)
}

// rulesFail reports a rules file's problems one rule a line, else as
// commandFail does.
func rulesFail(e *env, cmd string, err error) int {
	var in *campaign.InputError
	if errors.As(err, &in) && in.Msg != "" {
		probs := strings.Split(in.Msg, "; rule ")
		fmt.Fprintf(e.stderr, "redpack rules %s: the rules file has %d %s; nothing was changed:\n", cmd, len(probs), plural(len(probs), "problem", "problems"))
		for i, p := range probs {
			if i > 0 {
				p = "rule " + p
			}
			fmt.Fprintf(e.stderr, "  %s\n", p)
		}
		return exitUsage
	}
	return commandFail(e, "rules "+cmd, err)
}

// newRulesCheckCmd is "redpack rules check".
func newRulesCheckCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("check --config FILE", "check a rules file and print each rule in a line")
	cmd.Long = `Check reads the rules file, checks every rule (each problem names the rule and the
key) and prints each rule in a line: its name, appid, active period in China time,
condition, award, budget and per-user caps. It touches no database and sends
nothing. Exit 2 when the file has a problem.

Keys of a rule (amounts in fen):
  name               1–64 of a-z 0-9 - _, unique; an award is keyed by rule and transaction_id
  appid              the Official Account whose payments count and whose openids are paid
  from, to           the active period, RFC 3339; [from, to), judged on the payment's time_end
  fee                cash_fee (default: what the user paid after coupons) or total_fee
  min_fee            the least fee that qualifies
  amount | tiers | random
                     the award: a fixed amount; tiers [{"min_fee", "amount"}, …] (the highest
                     met); or random {"min", "max"}, drawn once per award
  budget             the most the rule awards in all
  user_daily_count, user_daily_amount, user_count, user_amount
                     per-user caps by openid (0: none); daily ones below WeChat's 10 and 100000
  send_name, wishing, act_name, remark, client_ip, scene_id
                     the packet, as 'redpack send' takes them`
	cmd.Example = `  redpack rules check --config rules.json`
	fs := cmd.Flags()
	config := fs.String("config", "", "the rules `file` (JSON)")
	asJSON := fs.Bool("json", false, "print the rules as JSON, as the database keeps them")
	_ = cmd.MarkFlagFilename("config", "json")
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if code, ok := noArgs(e, "check", args); !ok {
			return exitWith(code)
		}
		set, err := readRules(*config)
		if err != nil {
			return exitWith(rulesFail(e, "check", err))
		}
		if *asJSON {
			writeJSON(e.stdout, set)
			return nil
		}
		writeRuleLines(e.stdout, set)
		fmt.Fprintf(e.stdout, "%d %s, no problem found.\n", len(set.Rules), plural(len(set.Rules), "rule", "rules"))
		return nil
	}
	return cmd
}

// writeRuleLines prints each rule in a line.
func writeRuleLines(w io.Writer, set *campaign.RuleSet) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tAPPID\tPERIOD (China time)\tCONDITION\tAWARD\tBUDGET\tCAPS PER USER")
	for _, r := range set.Rules {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.AppID, rulePeriod(r), ruleCondition(r), ruleAward(r), cny(r.Budget), ruleCaps(r))
	}
	tw.Flush()
}

func rulePeriod(r campaign.Rule) string {
	const layout = "2006-01-02 15:04"
	to := "no end"
	if !r.To.IsZero() {
		to = r.To.In(chinaTime).Format(layout)
	}
	return r.From.In(chinaTime).Format(layout) + " to " + to
}

func ruleCondition(r campaign.Rule) string {
	fee := r.Fee
	if fee == "" {
		fee = campaign.FeeCash
	}
	return fee + " ≥ " + cny(r.MinFee)
}

func ruleAward(r campaign.Rule) string {
	switch {
	case len(r.Tiers) > 0:
		parts := make([]string, len(r.Tiers))
		for i, t := range r.Tiers {
			parts[i] = "≥" + cny(t.MinFee) + ": " + cny(t.Amount)
		}
		return strings.Join(parts, ", ")
	case r.Random != nil:
		return "random " + cny(r.Random.Min) + "–" + cny(r.Random.Max)
	}
	return cny(r.Amount)
}

func ruleCaps(r campaign.Rule) string {
	var caps []string
	if r.UserDailyCount > 0 {
		caps = append(caps, fmt.Sprintf("%d a day", r.UserDailyCount))
	}
	if r.UserDailyAmount > 0 {
		caps = append(caps, cny(r.UserDailyAmount)+" a day")
	}
	if r.UserCount > 0 {
		caps = append(caps, fmt.Sprintf("%d in all", r.UserCount))
	}
	if r.UserAmount > 0 {
		caps = append(caps, cny(r.UserAmount)+" in all")
	}
	if len(caps) == 0 {
		return "none"
	}
	return strings.Join(caps, ", ")
}

// newRulesStatusCmd is "redpack rules status".
func newRulesStatusCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("status [--name SET]", "a rule set's totals and, per rule, budget, spent, paid, awards by state, skips by reason")
	cmd.Long = `Status shows the rule set's rows' totals, as 'campaign status' does, and per rule: the
budget, what its awards took from it (spent) and what is left, the packets paid and
their amount, awards by state (waiting, queued, skipped, refused, cancelled), the
payments skipped by reason (min_fee, appid, period, budget, user_daily_count …), the
part the per-user caps made (cap hits), refunds after an award was queued, and the
awards awaiting their hold or confirmation.`
	cmd.Example = `  redpack rules status
  redpack rules status --name rules --json`
	fs := cmd.Flags()
	name := nameFlag(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	db := dbFlag(fs)
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	completeRuleSetName(e, cmd, db)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if code, ok := noArgs(e, "status", args); !ok {
			return exitWith(code)
		}
		return exitWith(runRulesStatus(cmd.Context(), e, fs, *db, *name, *asJSON))
	}
	return cmd
}

// rulesStatusJSON is status --json: the rows' totals as campaign status
// prints them, then the rule set's own figures and each rule's, as the
// campaign package reports them (and the dashboard serves them).
type rulesStatusJSON struct {
	campaignStatus
	campaign.RuleSetReport
}

func runRulesStatus(ctx context.Context, e *env, fs *pflag.FlagSet, db, name string, asJSON bool) int {
	s, err := openExistingCampaignDB(ctx, e, fs, db)
	if err != nil {
		return commandFail(e, "rules status", err)
	}
	defer s.Close()
	rs, err := s.RuleStatus(ctx, name)
	if err != nil {
		return commandFail(e, "rules status", err)
	}
	info, err := s.Info(ctx, name)
	if err != nil {
		return commandFail(e, "rules status", err)
	}
	t := rs.Totals // read with the rules' figures, so the two agree
	if asJSON {
		writeJSON(e.stdout, rulesStatusJSON{campaignStatus: statusJSON(info, t), RuleSetReport: campaign.NewRuleSetReport(rs)})
		return exitOK
	}
	writeTotals(e.stdout, info, t)
	fmt.Fprintf(e.stdout, "%d payments judged, %d awards in the last hour\n", rs.Payments, rs.AwardsLastHour)
	for _, r := range rs.Rules {
		state := "active"
		if !r.Active {
			state = "inactive: the rules last defined leave it out; its awards are still paid"
		}
		fmt.Fprintf(e.stdout, "rule %s (%s)\n", r.Name, state)
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  budget\t%s\n", cny(r.Budget))
		fmt.Fprintf(tw, "  spent\t%s\n", cny(r.Spent))
		fmt.Fprintf(tw, "  left\t%s\n", cny(r.Left))
		fmt.Fprintf(tw, "  paid\t%d\t%s\n", r.Paid, cny(r.AmountPaid))
		fmt.Fprintf(tw, "  awards\t%s\n", countsPhrase(r.Awards, []string{campaign.AwardWaiting, campaign.AwardQueued, campaign.AwardSkipped, campaign.AwardRefused, campaign.AwardCancelled}))
		fmt.Fprintf(tw, "  awaiting\t%d\n", r.Awards[campaign.AwardWaiting])
		fmt.Fprintf(tw, "  skipped\t%s\n", countsPhrase(r.Skipped, nil))
		fmt.Fprintf(tw, "  cap hits\t%d\n", r.CapHits)
		fmt.Fprintf(tw, "  refused\t%s\n", countsPhrase(r.Refused, nil))
		fmt.Fprintf(tw, "  refunded after queue\t%d\n", r.RefundedAfterQueue)
		tw.Flush()
	}
	return exitOK
}

// countsPhrase writes counts as "waiting 1, queued 3": in order's order,
// else sorted by key; "none" when all are zero.
func countsPhrase(counts map[string]int64, order []string) string {
	if order == nil {
		for k := range counts {
			order = append(order, k)
		}
		sort.Strings(order)
	}
	var parts []string
	for _, k := range order {
		if counts[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// newRulesReportCmd is "redpack rules report".
func newRulesReportCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("report [--name SET]", "one line per award: the payment, the rule's verdict and the packet's outcome (CSV or JSON lines)")
	cmd.Long = `Report prints one line per award, skips included, in the order they were made: the
rule, the payment (transaction_id, out_trade_no, appid, openid, total_fee, cash_fee,
time_end), the award's state, reason and amount and, once queued, its row, bill
number, outcome, err_code and send_listid, and what was refunded of the payment.
Times are China time. CSV has a header; JSON is one object a line. The columns'
order is fixed: new ones are only ever added at the end.`
	cmd.Example = `  redpack rules report --format csv
  redpack rules report --name rules --format json --out awards.jsonl`
	fs := cmd.Flags()
	name := nameFlag(fs)
	format := fs.String("format", "csv", "`csv` or json (one object a line)")
	out := fs.String("out", "", "write to `file` instead of stdout")
	db := dbFlag(fs)
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	completeChoices(cmd, "format", "csv", "json")
	completeRuleSetName(e, cmd, db)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if code, ok := noArgs(e, "report", args); !ok {
			return exitWith(code)
		}
		if *format != "csv" && *format != "json" {
			fmt.Fprintf(e.stderr, "redpack rules report: --format is csv or json, not %q\n", *format)
			return exitWith(exitUsage)
		}
		ctx := cmd.Context()
		s, err := openExistingCampaignDB(ctx, e, fs, *db)
		if err != nil {
			return exitWith(commandFail(e, "rules report", err))
		}
		defer s.Close()
		// The name is checked before --out is created.
		if err := s.CheckRuleSet(ctx, *name); err != nil {
			return exitWith(commandFail(e, "rules report", err))
		}
		w := e.stdout
		var f *os.File
		if *out != "" {
			if f, err = os.Create(*out); err != nil {
				return exitWith(commandFail(e, "rules report", &inputError{msg: fmt.Sprintf("--out: %v", err)}))
			}
			w = f
		}
		err = s.WriteAwards(ctx, *name, *format, w, campaign.ReportOptions{})
		if f != nil {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return exitWith(commandFail(e, "rules report", err))
		}
		return nil
	}
	return cmd
}

// completeRuleSetName makes cmd's --name complete from the database's
// campaigns, for a completion request only: cobra keeps flag completions
// for the life of the process.
func completeRuleSetName(e *env, cmd *cobra.Command, db *string) {
	names := completeCampaignNames(e, cmd.Flags(), db)
	e.flagCompletions = append(e.flagCompletions, func() {
		_ = cmd.RegisterFlagCompletionFunc("name", func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return names(cmd, nil, toComplete)
		})
	})
}
