package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/campaign"
)

// shutdownGrace bounds how long a stopping serve waits for the
// notifications in flight: WeChat waits 5 s for an answer.
const shutdownGrace = 10 * time.Second

// serveFlags are rules serve's own flags.
type serveFlags struct {
	config, db, name, listen string
	forward, forwardRefund   string
	hold                     time.Duration
	noConfirm                bool
	tlsCert, tlsKey          string
	notifyAppIDs             []string
}

// newRulesServeCmd is "redpack rules serve".
func newRulesServeCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("serve --config FILE [flags]", "answer WeChat's payment notifications and pay the awards the rules make, in one process")
	cmd.Long = `Serve defines the rule set from the rules file (--config; a rule keeps what its awards
took from its budget), answers WeChat Pay's notifications on --listen (payments at
POST /notify, refunds at POST /refund) and pays the awards at the merchant's rate, as
'campaign run' pays a file, until it is stopped.

A payment notification is verified (signature, mch_id, an appid of the rules or
--notify-appid), judged by every rule and journalled, one award per rule and
transaction, before it is answered SUCCESS; anything else is answered FAIL, so that
WeChat notifies again, and logged in one line (never a body, a signature or a key).
A payment under another appid (a mini-program's) is journalled as skipped, with
the reason. With --forward each notification is also posted, unchanged, to the
merchant's own handler, and WeChat is answered SUCCESS only when that handler
answered SUCCESS too. A notification this process cannot verify (forged, or
signed with a key it does not have yet) is forwarded too, awards nothing, and is
answered FAIL, so that WeChat notifies again until it can be verified.

An award is paid only once WeChat's order query (pay/orderquery) confirms the
payment as notified, unless --no-confirm (for a merchant whose own handler
confirms it: with --forward, that handler answers first, and only what it
answered SUCCESS is awarded). --hold makes awards wait: a refund notification within it cancels
the award and gives its amount back to the budget.

WeChat wants an https notify_url: put a TLS-terminating proxy (nginx, Caddy) in
front of the plain-HTTP listener, or give --tls-cert and --tls-key. Several serve
processes may share one PostgreSQL --db; on SQLite one serve holds the file.
Ctrl-C or SIGTERM stops accepting, answers the notifications in flight, lets the
payer journal what it is sending, and exits 130.`
	cmd.Example = `  redpack rules serve --config rules.json --merchant redpack-fake/merchant.json --no-confirm --listen 127.0.0.1:8080
  redpack rules serve --config rules.json --db postgres://localhost/redpack --forward http://127.0.0.1:9000/wechat/notify
  redpack rules serve --config rules.json --listen :443 --tls-cert notify.pem --tls-key notify-key.pem --hold 10m`
	fs := cmd.Flags()
	var sf serveFlags
	fs.StringVar(&sf.config, "config", "", "the rules `file` (JSON; see 'redpack help rules check')")
	fs.StringVar(&sf.name, "name", defaultRuleSet, "the rule set: a campaign `name` in the database")
	fs.StringVar(&sf.listen, "listen", "127.0.0.1:8080", "`address` to serve the notifications on: POST /notify (payments), POST /refund")
	fs.StringVar(&sf.forward, "forward", "", "`URL` of the merchant's own payment notify handler: each notification is posted to it, and WeChat answered SUCCESS only when it answers SUCCESS")
	fs.StringVar(&sf.forwardRefund, "forward-refund", "", "`URL` of the merchant's own refund notify handler, as --forward")
	fs.DurationVar(&sf.hold, "hold", 0, "how long an award waits before it is paid; a refund within it cancels the award")
	fs.BoolVar(&sf.noConfirm, "no-confirm", false, "pay awards without confirming the payment with WeChat's order query (only if your own handler confirms it)")
	fs.StringVar(&sf.tlsCert, "tls-cert", "", "serve HTTPS with this certificate `file` (PEM, the chain); with --tls-key")
	fs.StringVar(&sf.tlsKey, "tls-key", "", "the certificate's key `file` (PEM)")
	fs.StringSliceVar(&sf.notifyAppIDs, "notify-appid", nil, "an `appid` besides the rules' and --appid under which payments arrive (a mini-program's), journalled as skipped rather than refused; repeatable")
	db := dbFlag(fs)
	var pf payerFlags
	pf.register(fs)
	groupFlags(fs, "Payer", payerFlagNames...)
	pf.registerConn(fs)
	pf.completions(cmd)
	_ = cmd.MarkFlagFilename("config", "json")
	_ = cmd.MarkFlagFilename("tls-cert", "pem", "crt")
	_ = cmd.MarkFlagFilename("tls-key", "pem", "key")
	completeRuleSetName(e, cmd, db)
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	setEpilog(cmd, `Exit codes:
  1    anything else (a listener that failed)
  2    bad input: the rules file, flags, credentials; or another serve holds the SQLite file
  5    WeChat unreachable for --outage-limit
  6    balance too low (NOTENOUGH): top up, serve again
  7    a setting to fix (SIGN_ERROR, CA_ERROR, NO_AUTH, …)
  130  stopped by Ctrl-C or SIGTERM`)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if code, ok := noArgs(e, "serve", args); !ok {
			return exitWith(code)
		}
		sf.db = *db
		return exitWith(runRulesServe(cmd.Context(), e, fs, &sf, &pf))
	}
	return cmd
}

// runRulesServe serves the rule set until ctx ends or the payer stops,
// and returns the exit code.
func runRulesServe(ctx context.Context, e *env, fs *pflag.FlagSet, sf *serveFlags, pf *payerFlags) int {
	const cmdName = "rules serve"
	bad := func(format string, a ...any) int {
		return commandFail(e, cmdName, &inputError{msg: fmt.Sprintf(format, a...)})
	}
	set, err := readRules(sf.config)
	if err != nil {
		return rulesFail(e, "serve", err)
	}
	if (sf.tlsCert == "") != (sf.tlsKey == "") {
		return bad("--tls-cert and --tls-key go together; give both, or neither for plain HTTP behind a TLS proxy")
	}
	var tlsCfg *tls.Config
	if sf.tlsCert != "" {
		if err := checkPrivate("tls-key", sf.tlsKey); err != nil {
			return commandFail(e, cmdName, err)
		}
		cert, err := tls.LoadX509KeyPair(sf.tlsCert, sf.tlsKey)
		if err != nil {
			return bad("--tls-cert, --tls-key: %v", err)
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	if sf.hold < 0 {
		return bad("--hold must not be negative")
	}
	for _, f := range []struct{ flag, v string }{{"forward", sf.forward}, {"forward-refund", sf.forwardRefund}} {
		if f.v == "" {
			continue
		}
		if u, err := url.Parse(f.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("--%s: %q is not an http:// or https:// URL", f.flag, f.v)
		}
	}
	cfg, code, ok := pf.runConfig(e, fs, cmdName)
	if !ok {
		return code
	}
	// The packets go out under the merchant's appid: a rule for another
	// appid's payments would pay openids that appid does not know.
	appID := cfg.Merchant.AppID()
	for _, r := range set.Rules {
		if r.AppID != appID {
			return rulesFail(e, "serve", &campaign.InputError{Msg: fmt.Sprintf("rule %s: appid %s is not the merchant's --appid %s, under which its packets are sent", r.Name, r.AppID, appID)})
		}
	}
	var extra []string
	for _, id := range sf.notifyAppIDs {
		if id != appID && !slices.Contains(extra, id) {
			extra = append(extra, id)
		}
	}
	notifyClient, err := redpack.NewClient(cfg.Merchant, append(append([]redpack.Option{}, cfg.ClientOptions...), redpack.WithNotifyAppIDs(extra...))...)
	if err != nil {
		return bad("--notify-appid: %v", err)
	}

	s, err := openCampaignDB(ctx, e, fs, sf.db)
	if err != nil {
		return failOrInterrupted(ctx, e, cmdName, err)
	}
	defer s.Close()
	if err := s.DefineRules(ctx, sf.name, set, cfg.Merchant.MchID()); err != nil {
		if ctx.Err() != nil {
			return failOrInterrupted(ctx, e, cmdName, err)
		}
		return rulesFail(e, "serve", err)
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	handler, err := s.NotifyHandler(sf.name, campaign.NotifyConfig{
		Client: notifyClient, Award: campaign.AwardOptions{Hold: sf.hold, NoConfirm: sf.noConfirm},
		Forward: sf.forward, ForwardRefund: sf.forwardRefund, Logger: logger,
	})
	if err != nil {
		return commandFail(e, cmdName, err)
	}
	ln, err := net.Listen("tcp", sf.listen)
	if err != nil {
		return bad("--listen: %v", err)
	}
	defer ln.Close()
	pf.warnStoredRate(ctx, e, s, cfg)

	// The payer first: on SQLite it takes the file's run lock, and a
	// serve that cannot pay must not answer WeChat SUCCESS for awards.
	// Its first progress report says it runs.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	running := make(chan struct{})
	var once sync.Once
	cfg.Follow = true
	cfg.Logger = logger
	cfg.Progress = func(campaign.Totals) { once.Do(func() { close(running) }) }
	type runResult struct {
		t   *campaign.Totals
		err error
	}
	runDone := make(chan runResult, 1)
	go func() {
		t, err := s.Run(runCtx, sf.name, cfg)
		runDone <- runResult{t, err}
	}()
	var res runResult
	interrupted := false
	select {
	case <-running:
	case res = <-runDone:
		return serveExit(e, s, sf, res.t, res.err, false)
	case <-ctx.Done():
		stopRun()
		res = <-runDone
		return serveExit(e, s, sf, res.t, res.err, true)
	}

	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(slogWriter{logger}, "", 0),
	}
	serveErr := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	fmt.Fprintf(e.stdout, "redpack rules serve: rule set %s (%d %s) listening on %s://%s/ (POST /notify, POST /refund)\n",
		sf.name, len(set.Rules), plural(len(set.Rules), "rule", "rules"), scheme, ln.Addr())

	var listenErr error
	runStopped := false
	select {
	case <-ctx.Done():
		interrupted = true
	case res = <-runDone:
		runStopped = true
	case listenErr = <-serveErr:
	}
	// Stop accepting, answer what is in flight, then let the payer
	// journal what it is sending.
	shCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil {
		_ = srv.Close()
	}
	if !runStopped {
		stopRun()
		res = <-runDone
	}
	if listenErr != nil && !errors.Is(listenErr, http.ErrServerClosed) {
		fmt.Fprintf(e.stderr, "redpack rules serve: the listener failed: %v\n", listenErr)
		serveExit(e, s, sf, res.t, nil, true)
		return exitFailure
	}
	return serveExit(e, s, sf, res.t, res.err, interrupted)
}

// serveExit reports how the serve ended and returns its exit code.
func serveExit(e *env, s *campaign.Store, sf *serveFlags, t *campaign.Totals, err error, interrupted bool) int {
	const cmdName = "rules serve"
	var busy *campaign.BusyError
	if errors.As(err, &busy) {
		fmt.Fprintf(e.stderr, "redpack rules serve: %v\nNothing was served or sent: one serve at a time pays a SQLite file (share a PostgreSQL --db to run several). 'redpack rules status --name %s' works meanwhile.\n", err, sf.name)
		return exitUsage
	}
	var cfgErr *campaign.ConfigError
	if errors.As(err, &cfgErr) {
		return commandFail(e, cmdName, &inputError{msg: cfgErr.Msg})
	}
	if t == nil {
		if interrupted && (err == nil || errors.Is(err, context.Canceled)) {
			return exitInterrupted
		}
		return commandFail(e, cmdName, err)
	}
	if info, ierr := s.Info(context.Background(), sf.name); ierr == nil {
		writeTotals(e.stdout, info, t)
	}
	var halted *campaign.StoppedError
	if errors.As(err, &halted) {
		return haltedExit(e, "redpack rules serve --config "+shellQuote(sf.config)+" --name "+sf.name, halted)
	}
	if interrupted {
		fmt.Fprintf(e.stderr, "Stopped: no longer answering notifications (WeChat notifies again); %d awards awaiting their hold or confirmation, %d rows pending and %d unknown, what was in flight is journalled. Serve again to go on.\n",
			t.Awaiting, t.Pending, t.Unknown)
		return exitInterrupted
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "redpack rules serve: the payer stopped: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// slogWriter hands the HTTP server's own error lines (a TLS handshake that
// failed, say) to the logger, as warnings.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("rules serve: http server", "error", string(bytesTrimNL(p)))
	return len(p), nil
}

func bytesTrimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
