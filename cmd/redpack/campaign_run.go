package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/redpack-go/redpack/campaign"
)

func jsonLine(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// newCampaignRunCmd is "redpack campaign run NAME".
func newCampaignRunCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("run NAME [flags]", "pay a campaign's rows at the merchant's rate; stop it at any time and run it again")
	cmd.Long = `Run pays every row until each is paid or definitely not paid. Stop it at any
instant (Ctrl-C finishes the rows in flight; kill -9 loses nothing) and run it
again: a row that may have been sent is settled first, by query, under its own
bill number. Several runs of one campaign on PostgreSQL share the work and the
merchant's rate; on SQLite one run at a time may use the file.

A refusal that holds for the whole file stops the run before it touches more
rows: NOTENOUGH (top up, run again: the rows keep their bill numbers),
SIGN_ERROR, CA_ERROR, NO_AUTH and other configuration refusals (fix the
setting named). SENDAMOUNT_LIMIT holds the day's rows for the next day. If
WeChat cannot be reached the run pauses, probes, and stops after
--outage-limit; rows whose requests never left are sent normally later.`
	cmd.Example = `  # Against 'redpack fake-server --dir redpack-fake':
  redpack campaign run spring --merchant redpack-fake/merchant.json
  redpack campaign run spring --db postgres://localhost/redpack --workers 16   # on several machines at once`
	fs := cmd.Flags()
	db := dbFlag(fs)
	var pf payerFlags
	pf.register(fs)
	asJSON := fs.Bool("json", false, "print the final totals as JSON on stdout")
	noProgress := fs.Bool("no-progress", false, "no progress bar or lines")
	groupFlags(fs, "Campaign", append([]string{"db"}, append(payerFlagNames, "json", "no-progress")...)...)
	pf.registerConn(fs)
	pf.completions(cmd)
	cmd.ValidArgsFunction = completeCampaignNames(e, fs, db)
	setEpilog(cmd, `Exit codes:
  0    every row settled
  1    anything else
  2    bad input, or another run holds the SQLite file
  4    some rows still unknown: run it again later
  5    WeChat unreachable for --outage-limit
  6    balance too low (NOTENOUGH): top up, run again
  7    a setting to fix (SIGN_ERROR, CA_ERROR, NO_AUTH, …)
  130  stopped by Ctrl-C or SIGTERM`)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name, code, ok := campaignArg(e, "run", args)
		if !ok {
			return exitWith(code)
		}
		return exitWith(runCampaignRun(cmd.Context(), e, name, fs, &pf, *db, *asJSON, *noProgress))
	}
	return cmd
}

// runCampaignRun runs campaign name and returns the exit code.
func runCampaignRun(ctx context.Context, e *env, name string, fs *pflag.FlagSet, pf *payerFlags, db string, asJSON, noProgress bool) int {
	cfg, code, ok := pf.runConfig(e, fs, "campaign run")
	if !ok {
		return code
	}
	s, err := openExistingCampaignDB(ctx, e, fs, db)
	if err != nil {
		return failOrInterrupted(ctx, e, "campaign run", err)
	}
	defer s.Close()
	info, err := s.Info(ctx, name)
	if err != nil {
		return failOrInterrupted(ctx, e, "campaign run", err)
	}
	pf.warnStoredRate(ctx, e, s, cfg)
	prog := newProgress(e, info, noProgress)
	if before, err := s.Status(ctx, name); err == nil {
		prog.first, prog.started = before.Paid+before.NotPaid, true // rate and ETA count this run's rows
	}
	cfg.Progress = prog.update
	t, err := s.Run(ctx, name, cfg)
	prog.finish()
	var cfgErr *campaign.ConfigError
	if errors.As(err, &cfgErr) {
		return campaignFail(e, "run", &inputError{msg: cfgErr.Msg})
	}
	var busy *campaign.BusyError
	if errors.As(err, &busy) {
		fmt.Fprintf(e.stderr, "redpack campaign run: %v\nNothing was sent. 'redpack campaign status %s' works meanwhile.\n", err, name)
		return exitUsage
	}
	if t == nil {
		return failOrInterrupted(ctx, e, "campaign run", err)
	}
	var halted *campaign.StoppedError
	errors.As(err, &halted)
	stopped := err != nil && ctx.Err() != nil && halted == nil
	if err != nil && !stopped && halted == nil {
		fmt.Fprintf(e.stderr, "redpack campaign run: %v\n", err)
	}
	if asJSON {
		writeJSON(e.stdout, statusJSON(info, t))
	} else {
		writeTotals(e.stdout, info, t)
	}
	if stopped {
		fmt.Fprintf(e.stderr, "Stopped with %d rows pending and %d unknown; what was in flight is journalled. Run 'redpack campaign run %s' to go on.\n",
			t.Pending, t.Unknown, name)
	}
	if halted != nil {
		return haltedExit(e, "redpack campaign run "+name, halted)
	}
	if t.Unknown > 0 {
		fmt.Fprintf(e.stderr, "%d rows are still unknown: they may or may not have been paid. Nothing is lost: run\n  redpack campaign run %s\nagain later (WeChat can take about 20 minutes); it settles them by query, under\ntheir own bill numbers, and never pays a row twice. 'redpack campaign report %s'\nlists them.\n", t.Unknown, name, name)
	}
	switch {
	case stopped:
		return exitInterrupted // Ctrl-C or SIGTERM: 130, as shells expect, whatever is left
	case t.Unknown > 0:
		return exitUnknown
	case err != nil:
		return exitFailure
	}
	if t.Held > 0 {
		fmt.Fprintf(e.stderr, "%d rows are held by the daily caps until %s: run the campaign again then.\n",
			t.Held, t.HeldUntil.In(chinaTime).Format("2006-01-02 15:04 MST"))
	}
	return exitOK
}

// progress shows a run's progress: a bar on a terminal, a line every few
// seconds elsewhere.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	bar      *progressbar.ProgressBar
	off      bool
	start    time.Time
	last     time.Time
	first    int64 // rows settled when the run began
	started  bool
	name     string
	lastLine string
}

func newProgress(e *env, info *campaign.Info, off bool) *progress {
	p := &progress{w: e.stderr, off: off, start: time.Now(), name: info.Name}
	if f, ok := e.stderr.(*os.File); ok && !off && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(info.Rows,
			progressbar.OptionSetWriter(f),
			progressbar.OptionSetDescription(info.Name),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionFullWidth(),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) update(t campaign.Totals) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off {
		return
	}
	done := t.Paid + t.NotPaid
	if !p.started {
		p.first, p.started = done, true
	}
	desc := fmt.Sprintf("%s paid %d · not paid %d · unknown %d · in flight %d · %s", p.name, t.Paid, t.NotPaid, t.Unknown-t.InFlight, t.InFlight, cny(t.AmountPaid))
	if p.bar != nil {
		p.bar.Describe(desc)
		_ = p.bar.Set64(done)
		return
	}
	if time.Since(p.last) < 2*time.Second && t.Open > 0 {
		return
	}
	p.last = time.Now()
	el := time.Since(p.start)
	rate := float64(done-p.first) / el.Seconds()
	eta := "-"
	if rate > 0 && t.Open > 0 {
		eta = (time.Duration(float64(t.Open)/rate) * time.Second).Round(time.Second).String()
	}
	line := fmt.Sprintf("%s: %d/%d rows settled, paid %d, not paid %d, unknown %d, in flight %d, %s paid, %.1f rows/s, ETA %s\n",
		p.name, done, t.Rows, t.Paid, t.NotPaid, t.Unknown-t.InFlight, t.InFlight, cny(t.AmountPaid), rate, eta)
	if t.InFlight > 0 && !t.InFlightUntil.IsZero() && done == p.first {
		line += fmt.Sprintf("%s: %d rows were taken by a run that may still be sending them (or was killed); they are settled after %s, when its time is surely up\n",
			p.name, t.InFlight, time.Until(t.InFlightUntil).Round(time.Second))
	}
	if line == p.lastLine {
		return // the plain-line mode prints its last line once
	}
	p.lastLine = line
	fmt.Fprint(p.w, line)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}

// Exit codes of "campaign run" beyond the common ones: why a run stopped
// before its end. 5 keeps its meaning (nothing reached WeChat).
const (
	exitBalanceLow     = 6   // NOTENOUGH: top up and run again
	exitMerchantConfig = 7   // a refusal every row would meet: fix the setting
	exitInterrupted    = 130 // Ctrl-C or SIGTERM, as shells expect
)

// haltedExit says in one line why a run stopped and what to do, and
// returns its exit code.
func haltedExit(e *env, again string, h *campaign.StoppedError) int {
	switch {
	case errors.Is(h, campaign.ErrBalanceLow):
		fmt.Fprintf(e.stderr, "balance too low: top up the operating account (运营账户), then run again (%s); %d rows wait with their bill numbers\n", again, h.Waiting)
		return exitBalanceLow
	case errors.Is(h, campaign.ErrMerchantConfig):
		fmt.Fprintf(e.stderr, "stopped: WeChat answered %s (%s): %s; then run again (%s); %d rows wait with their bill numbers\n",
			h.ErrCode, h.Detail, h.Advice, again, h.Waiting)
		return exitMerchantConfig
	case errors.Is(h, campaign.ErrOutage):
		fmt.Fprintf(e.stderr, "stopped: WeChat could not be reached (%s): %s; %d rows wait, none lost\n", h.Detail, h.Advice, h.Waiting)
		return exitNotSent
	}
	fmt.Fprintf(e.stderr, "redpack campaign run: %v\n", h)
	return exitFailure
}
