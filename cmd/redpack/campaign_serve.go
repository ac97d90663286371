package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redpack-go/redpack/dashboard"
)

// minTokenLen is the shortest --token-file token accepted: 128 bits of
// hex or base64 are longer.
const minTokenLen = 16

// newCampaignServeCmd is "redpack campaign serve".
func newCampaignServeCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("serve [--listen ADDR] [flags]", "a live, read-only web dashboard of the database's campaigns and rule sets")
	cmd.Long = `Serve shows the database's campaigns and rule sets in a browser, read-only and live:
a page listing them (the 'campaign list' figures) and one page each with rows and
money by outcome, the pay rate per minute as a chart and the ETA at that rate,
refusals by err_code with what they mean and what to do, the rows that need a
person with the command to run, for a rule set its budget, awards per hour,
payments skipped by reason and cap hits, and the CSV and JSON exports: the report
(the bytes 'campaign report' writes) and, for a rule set, its awards (the bytes
'rules report' writes). The pages poll GET /api/campaigns and
GET /api/campaigns/NAME, whose figures are 'campaign status --json''s (and
'rules status --json''s for a rule set); without JavaScript they work, only not live.
River's own UI is under /river for job-level detail (--river-ui=false leaves it out);
its cancel, retry and delete buttons are refused like every other write.

It listens on loopback. Any other --listen needs --token-file: every request must
then carry the token as "Authorization: Bearer TOKEN", or the cookie the one-time
login URL printed at start sets. Openids are masked unless --show-openids. Nothing
on the pages writes: reissue, run and query stay commands. Ctrl-C stops it (exit 130).`
	cmd.Example = `  redpack campaign serve --listen 127.0.0.1:8080
  redpack campaign serve --listen 0.0.0.0:8080 --token-file dashboard.token --show-openids`
	fs := cmd.Flags()
	listen := fs.String("listen", "127.0.0.1:8080", "`address` to serve on; beyond loopback it needs --token-file")
	tokenFile := fs.String("token-file", "", "`file` holding the token every request must carry (at least 16 characters)")
	showOpenIDs := fs.Bool("show-openids", false, "show openids whole (masked by default), on the pages and in the export")
	riverUI := fs.Bool("river-ui", true, "mount River's own UI under /river for job-level detail (read-only: its cancel, retry and delete are refused)")
	unknownAfter := fs.Duration("unknown-after", 10*time.Minute, "how long a row may stay unknown after its first send before it needs a person")
	db := dbFlag(fs)
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	run := func(ctx context.Context, args []string) int {
		if len(args) > 0 {
			fmt.Fprintln(e.stderr, "redpack campaign serve: takes no arguments\nRun 'redpack campaign serve -h' for usage.")
			return exitUsage
		}
		bad := func(format string, a ...any) int {
			return campaignFail(e, "serve", &inputError{msg: fmt.Sprintf(format, a...)})
		}
		token := ""
		if *tokenFile != "" {
			b, err := os.ReadFile(*tokenFile)
			if err != nil {
				return bad("--token-file: %v", err)
			}
			token = strings.TrimSpace(string(b))
			if len(token) < minTokenLen || strings.ContainsAny(token, " \t\r\n") {
				return bad("--token-file: the token must be one word of at least %d characters (e.g. openssl rand -hex 16 > %s)", minTokenLen, *tokenFile)
			}
		}
		host, _, err := net.SplitHostPort(*listen)
		if err != nil {
			return bad("--listen: %v", err)
		}
		if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && token == "" {
			return bad("--listen %s is not a loopback address: give --token-file, so that only those with the token see the dashboard", *listen)
		}
		s, err := openExistingCampaignDB(ctx, e, fs, *db)
		if err != nil {
			return campaignFail(e, "serve", err)
		}
		defer s.Close()
		logger := slog.New(slog.NewTextHandler(e.stderr, nil))
		d, err := dashboard.New(s, dashboard.Config{Token: token, ShowOpenIDs: *showOpenIDs, UnknownAfter: *unknownAfter,
			RiverUI: *riverUI, Logger: logger})
		if err != nil {
			return campaignFail(e, "serve", err)
		}
		defer d.Close()
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return bad("--listen: %v", err)
		}
		srv := &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: log.New(slogWriter{logger}, "", 0)}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		base := "http://" + ln.Addr().String() + "/"
		fmt.Fprintf(e.stdout, "redpack campaign serve: dashboard of %s on %s (read-only; JSON at /api/campaigns)\n", s, base)
		if login := d.LoginURL(); login != "" {
			fmt.Fprintf(e.stdout, "Open %s once to log in (it sets a cookie and is then spent), or send \"Authorization: Bearer TOKEN\".\n",
				strings.TrimSuffix(base, "/")+login)
		}
		select {
		case <-ctx.Done():
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				return campaignFail(e, "serve", err)
			}
		}
		shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shCtx); err != nil {
			_ = srv.Close()
		}
		return exitInterrupted
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return exitWith(run(cmd.Context(), args)) }
	return cmd
}
