package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/campaign"
)

// campaignDBEnv is the environment variable of --db.
const campaignDBEnv = "REDPACK_CAMPAIGN_DB"

// newCampaignCmd is "redpack campaign" and its subcommands.
func newCampaignCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "campaign <command> NAME [flags]",
		Short: "pay a file of openids at WeChat's rate, resumable after a crash: create, run, status, report",
		Long: `Campaign pays a file of openids, one packet each, at WeChat's rate, and can be
stopped at any instant (Ctrl-C, kill -9, a crash) and run again without paying
any row twice.`,
		Example: `  redpack campaign create spring --file openids.csv --amount 888 \
      --send-name 天虹百货 --wishing 新春快乐 --act-name 新春红包 --remark 感谢关注
  redpack campaign run spring --merchant redpack-fake/merchant.json   # Ctrl-C or kill it, then run it again
  redpack campaign status spring
  redpack campaign list
  redpack campaign report spring --format csv --out spring.csv`,
	}
	groupOf(e, cmd)
	setEpilog(cmd, `Every command takes --db DSN ($`+campaignDBEnv+`): a file path is SQLite (default
`+campaign.DefaultDB+` in the current directory), a postgres:// URL is PostgreSQL,
where several "run" processes, on one machine or many, share one campaign
and one rate limit. run takes the credentials as "redpack send" does:
--merchant FILE (e.g. fake-server's merchant.json), flags or REDPACK_*.
status, report, list and reissue never create a database.

After refusals are fixed (a top-up, say):
  redpack campaign reissue spring --err-code NOTENOUGH --dry-run
  redpack campaign reissue spring --err-code NOTENOUGH   # or --not-paid, --rows 3,5-7
  redpack campaign run spring`)
	cmd.AddCommand(newCampaignCreateCmd(e), newCampaignRunCmd(e), newCampaignStatusCmd(e), newCampaignListCmd(e),
		newCampaignReportCmd(e), newCampaignReissueCmd(e), newCampaignRateCmd(e), newCampaignServeCmd(e))
	return cmd
}

// dbFlag registers --db.
func dbFlag(fs *pflag.FlagSet) *string {
	return fs.String("db", "", "campaign database: a SQLite file path (default "+campaign.DefaultDB+") or a postgres:// URL [$"+campaignDBEnv+"]")
}

// campaignDSN is the database --db or $REDPACK_CAMPAIGN_DB names.
func campaignDSN(e *env, fs *pflag.FlagSet, dsn string) string {
	if !fs.Changed("db") && dsn == "" {
		dsn = e.getenv(campaignDBEnv)
	}
	return dsn
}

func openCampaignDB(ctx context.Context, e *env, fs *pflag.FlagSet, dsn string) (*campaign.Store, error) {
	return campaign.Open(ctx, campaignDSN(e, fs, dsn))
}

// openExistingCampaignDB opens the database for a command that only reads
// it: a database that does not exist is an error, never created.
func openExistingCampaignDB(ctx context.Context, e *env, fs *pflag.FlagSet, dsn string) (*campaign.Store, error) {
	return campaign.OpenExisting(ctx, campaignDSN(e, fs, dsn))
}

// campaignArg checks a campaign command's arguments: its one NAME.
func campaignArg(e *env, name string, args []string) (string, int, bool) {
	if len(args) != 1 {
		fmt.Fprintf(e.stderr, "redpack campaign %s: give one campaign NAME\nRun 'redpack campaign %s -h' for usage.\n", name, name)
		return "", exitUsage, false
	}
	return args[0], 0, true
}

// groupOf makes cmd a group of subcommands: alone it prints its help (to
// stderr, exit 2), "help SUB" shows SUB's, and a mistyped subcommand is
// reported as the root's are.
func groupOf(e *env, cmd *cobra.Command) {
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 && args[0] == "help" {
			return nil
		}
		return unknownCommandArgs(cmd, args)
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			writeHelp(e.stderr, cmd)
			return exitWith(exitUsage)
		case len(args) == 1:
			writeHelp(e.stdout, cmd)
			return nil
		}
		help := "redpack " + cmd.Name() + " help"
		sub, rest, err := cmd.Find(args[1:])
		if err != nil || len(rest) > 0 || sub == cmd {
			return unknownCommand(help, cmd, args[1], help)
		}
		writeHelp(e.stdout, sub)
		return nil
	}
	cmd.ValidArgsFunction = cobra.NoFileCompletions
}

// campaignFail prints err for a person and returns its exit code.
func campaignFail(e *env, cmd string, err error) int { return commandFail(e, "campaign "+cmd, err) }

// failOrInterrupted is commandFail for a command that was starting: when
// ctx is done (Ctrl-C, SIGTERM) the failure came of the interruption, and
// the command exits 130 as an interrupted one does, not with a usage code.
func failOrInterrupted(ctx context.Context, e *env, cmd string, err error) int {
	if ctx.Err() != nil {
		fmt.Fprintf(e.stderr, "redpack %s: stopped before it began; nothing was sent.\n", cmd)
		return exitInterrupted
	}
	return commandFail(e, cmd, err)
}

// commandFail prints err for a person, as command (e.g. "rules serve")
// said it, and returns its exit code.
func commandFail(e *env, cmd string, err error) int {
	var in *campaign.InputError
	var open *campaign.OpenError
	var inErr *inputError
	var nf *campaign.NotFoundError
	switch {
	case errors.As(err, &in):
		msg := in.Msg
		if msg == "" {
			msg = "the file has bad rows"
		}
		fmt.Fprintf(e.stderr, "redpack %s: %s\n", cmd, msg)
		if len(in.Rows) > 0 {
			fmt.Fprintf(e.stderr, "%d bad rows; nothing was imported:\n", len(in.Rows))
			for i, r := range in.Rows {
				if i == 50 {
					fmt.Fprintf(e.stderr, "  … and %d more\n", len(in.Rows)-50)
					break
				}
				fmt.Fprintf(e.stderr, "  line %d: %s\n", r.Line, r.Reason)
			}
		}
		return exitUsage
	case errors.As(err, &open):
		fmt.Fprintf(e.stderr, "redpack %s: %v\nNothing was sent. Check --db ($%s).\n", cmd, err, campaignDBEnv)
		return exitUsage
	case errors.Is(err, campaign.ErrExists):
		fmt.Fprintf(e.stderr, "redpack %s: %v: it was imported before and is not imported again.\nRun it with 'redpack campaign run', or choose another name.\n", cmd, err)
		return exitUsage
	case errors.As(err, &nf):
		fmt.Fprintf(e.stderr, "redpack %s: %v\n", cmd, nf)
		if nf.DidYouMean == "" {
			fmt.Fprintln(e.stderr, "'redpack campaign list' lists the database's campaigns.")
		}
		return exitUsage
	case errors.Is(err, campaign.ErrNotRuleSet):
		fmt.Fprintf(e.stderr, "redpack %s: %v; 'redpack campaign status' shows a file's campaign\n", cmd, err)
		return exitUsage
	case errors.Is(err, campaign.ErrNotFound):
		fmt.Fprintf(e.stderr, "redpack %s: %v in this database\n", cmd, err)
		return exitUsage
	case errors.As(err, &inErr):
		fmt.Fprintf(e.stderr, "redpack %s: %s\n", cmd, inErr.msg)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "redpack %s: %v\n", cmd, err)
	return exitFailure
}

// newCampaignCreateCmd is "redpack campaign create".
func newCampaignCreateCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("create NAME --file FILE --amount FEN [flags]", "import a file of openids as a campaign: every row gets its bill number before anything is sent")
	cmd.Long = `Create checks every row (openid, amount, the template's fields, duplicates) and lists
bad rows by line; imports all rows or none. Each row gets its bill number now, before
anything is sent. The same NAME twice is refused, and so is a file another campaign of
the database was imported from (by SHA-256) unless --allow-same-file.`
	cmd.Example = `  redpack campaign create spring --file openids.csv --amount 888 --dry-run \
      --send-name 天虹百货 --wishing 新春快乐 --act-name 新春红包 --remark 感谢关注
  redpack campaign create spring --file openids.csv --amount 888 \
      --send-name 天虹百货 --wishing 新春快乐 --act-name 新春红包 --remark 感谢关注`
	fs := cmd.Flags()
	file := fs.String("file", "", "the `file` of openids: one a line, or CSV with an openid column and optionally amount (fen)")
	var t campaign.Template
	var scene string
	fs.Int64Var(&t.Amount, "amount", 0, "`fen` per packet, unless the file's amount column says otherwise: 100 = ¥1.00")
	fs.StringVar(&t.SendName, "send-name", "", "sender `name` shown to the user, ≤32 bytes (send_name)")
	fs.StringVar(&t.Wishing, "wishing", "", "blessing `text`, ≤128 bytes")
	fs.StringVar(&t.ActName, "act-name", "", "activity `name`, ≤32 bytes (act_name)")
	fs.StringVar(&t.Remark, "remark", "", "remark `text`, ≤256 bytes")
	fs.StringVar(&t.ClientIP, "client-ip", "", "IPv4 `address` of the calling machine (default: this machine's)")
	fs.StringVar(&scene, "scene-id", "", "scene `id` PRODUCT_1…PRODUCT_8, required outside ¥1–¥200")
	dups := fs.Bool("allow-duplicates", false, "let an openid appear on several rows, a packet each")
	sameFile := fs.Bool("allow-same-file", false, "import a file another campaign of the database was imported from (every row is paid again)")
	dry := fs.Bool("dry-run", false, "check the file and print the number of rows, the total amount and the run time; import nothing")
	rate := fs.Float64("rate", campaign.DefaultRate, "requests a second the run will make, for --dry-run's estimate")
	mchID := fs.String("mch-id", "", "merchant id to tie the campaign to (default: the first run's) [$REDPACK_MCH_ID]")
	merchant := fs.String("merchant", "", "JSON `file` of the credentials (fake-server's merchant.json): its mch_id ties the campaign [$REDPACK_MERCHANT]")
	db := dbFlag(fs)
	completeChoices(cmd, "scene-id", sceneIDs...)
	_ = cmd.MarkFlagFilename("file", "csv", "txt")
	cmd.ValidArgsFunction = cobra.NoFileCompletions // a new name
	run := func(ctx context.Context, args []string) int {
		name, code, ok := campaignArg(e, "create", args)
		if !ok {
			return code
		}
		if *file == "" {
			fmt.Fprintln(e.stderr, "redpack campaign create: --file is required\nRun 'redpack campaign create -h' for usage.")
			return exitUsage
		}
		t.SceneID = redpack.SceneID(scene)
		if t.ClientIP == "" {
			t.ClientIP = localIPv4()
		}
		if *mchID == "" && !givenFlags(fs)["mch-id"] {
			*mchID = e.getenv("REDPACK_MCH_ID")
		}
		if *merchant == "" && !givenFlags(fs)["merchant"] {
			*merchant = e.getenv("REDPACK_MERCHANT")
		}
		if *mchID == "" && *merchant != "" {
			mf, err := readMerchantFile(*merchant)
			if err != nil {
				return campaignFail(e, "create", err)
			}
			*mchID = mf.MchID
		}
		data, err := os.ReadFile(*file)
		if err != nil {
			return campaignFail(e, "create", &inputError{msg: fmt.Sprintf("--file: %v", err)})
		}
		rows, err := campaign.ParseFile(strings.NewReader(string(data)), t, campaign.ParseOptions{AllowDuplicates: *dups})
		if err != nil {
			return campaignFail(e, "create", err)
		}
		var total int64
		for _, r := range rows {
			total += r.Amount
		}
		sum := sha256.Sum256(data)
		source := filepath.Base(*file) + " sha256:" + hex.EncodeToString(sum[:])
		if *dry {
			fmt.Fprintf(e.stdout, "campaign %s (dry run: nothing imported, nothing sent)\n", name)
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "  Rows\t%d\n", len(rows))
			fmt.Fprintf(tw, "  Total amount\t%s\n", cny(total))
			if *rate > 0 {
				fmt.Fprintf(tw, "  Run time\tabout %s at %g requests a second (one request a row when nothing goes wrong)\n",
					(time.Duration(float64(len(rows)) / *rate * float64(time.Second))).Round(time.Second), *rate)
			}
			fmt.Fprintf(tw, "  Source\t%s\n", source)
			tw.Flush()
			return exitOK
		}
		s, err := openCampaignDB(ctx, e, fs, *db)
		if err != nil {
			return campaignFail(e, "create", err)
		}
		defer s.Close()
		info, err := s.Create(ctx, campaign.Spec{Name: name, Template: t, Source: source, MchID: *mchID,
			FileSHA256: hex.EncodeToString(sum[:]), AllowSameFile: *sameFile}, rows)
		var same *campaign.SameFileError
		if errors.As(err, &same) {
			fmt.Fprintf(e.stderr, "redpack campaign create: %s is the file campaign %s was imported from (sha256 %s):\n"+
				"importing it again pays every openid in it a second time. Nothing was imported.\n"+
				"Run %s instead, or, if a second payment is what you want, add --allow-same-file.\n",
				*file, same.Campaign, same.SHA256[:12]+"…", "'redpack campaign run "+same.Campaign+"'")
			return exitUsage
		}
		if err != nil {
			return campaignFail(e, "create", err)
		}
		fmt.Fprintf(e.stdout, "campaign %s: %d rows, %s in all, imported into %s\nEvery row has its bill number. Pay them with:\n  redpack campaign run %s\n",
			info.Name, info.Rows, cny(info.TotalAmount), s, name)
		return exitOK
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return exitWith(run(cmd.Context(), args)) }
	return cmd
}

// localIPv4 is this machine's first non-loopback IPv4 address, the
// client_ip WeChat asks for, or 127.0.0.1.
func localIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// newCampaignStatusCmd is "redpack campaign status".
func newCampaignStatusCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("status NAME", "a campaign's totals, with refusals by err_code")
	cmd.Long = `Status shows the campaign's totals by outcome, with refusals by err_code.`
	cmd.Example = `  redpack campaign status spring
  redpack campaign status spring --json`
	fs := cmd.Flags()
	asJSON := fs.Bool("json", false, "print JSON")
	db := dbFlag(fs)
	cmd.ValidArgsFunction = completeCampaignNames(e, fs, db)
	run := func(ctx context.Context, args []string) int {
		name, code, ok := campaignArg(e, "status", args)
		if !ok {
			return code
		}
		s, err := openExistingCampaignDB(ctx, e, fs, *db)
		if err != nil {
			return campaignFail(e, "status", err)
		}
		defer s.Close()
		info, err := s.Info(ctx, name)
		if err != nil {
			return campaignFail(e, "status", err)
		}
		t, err := s.Status(ctx, name)
		if err != nil {
			return campaignFail(e, "status", err)
		}
		if *asJSON {
			writeJSON(e.stdout, statusJSON(info, t))
			return exitOK
		}
		writeTotals(e.stdout, info, t)
		return exitOK
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return exitWith(run(cmd.Context(), args)) }
	return cmd
}

// campaignStatus is status --json: the campaign package's report, which
// the dashboard serves too.
type campaignStatus = campaign.StatusReport

func statusJSON(info *campaign.Info, t *campaign.Totals) campaignStatus {
	return campaign.NewStatusReport(info, t)
}

var chinaTime = time.FixedZone("CST", 8*3600)

func writeTotals(w io.Writer, info *campaign.Info, t *campaign.Totals) {
	fmt.Fprintf(w, "campaign %s (%s)\n", info.Name, info.Source)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  rows\t%d\t%s\n", t.Rows, cny(t.AmountTotal))
	fmt.Fprintf(tw, "  paid\t%d\t%s\n", t.Paid, cny(t.AmountPaid))
	fmt.Fprintf(tw, "  not paid\t%d\t\n", t.NotPaid)
	fmt.Fprintf(tw, "  unknown\t%d\t\n", t.Unknown)
	fmt.Fprintf(tw, "  pending\t%d\t\n", t.Pending)
	tw.Flush()
	if len(t.Refusals) > 0 {
		fmt.Fprintln(w, "Not paid, by err_code:")
		codes := make([]string, 0, len(t.Refusals))
		for c := range t.Refusals {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range codes {
			// The README's table says what the code means and what to do.
			what := ""
			if ci, ok := redpack.LookupCode(c); ok {
				what = redpack.Plain(ci.Meaning + ": " + ci.Action)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\n", c, t.Refusals[c], what)
		}
		tw.Flush()
	}
	if t.Held > 0 {
		fmt.Fprintf(w, "%d pending rows are held by the daily caps until %s.\n", t.Held, t.HeldUntil.In(chinaTime).Format("2006-01-02 15:04 MST"))
	}
}

// newCampaignListCmd is "redpack campaign list".
func newCampaignListCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("list", "the database's campaigns: rows paid, not paid, unknown and pending, amount paid, last run")
	cmd.Long = `List shows every campaign in the database: its rows by outcome, the amount paid, when
it was created and when a run of it last started (China time).`
	cmd.Example = `  redpack campaign list
  redpack campaign list --json`
	fs := cmd.Flags()
	asJSON := fs.Bool("json", false, "print a JSON array")
	db := dbFlag(fs)
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	run := func(ctx context.Context, pos []string) int {
		if len(pos) > 0 {
			fmt.Fprintln(e.stderr, "redpack campaign list: takes no arguments\nRun 'redpack campaign list -h' for usage.")
			return exitUsage
		}
		s, err := openExistingCampaignDB(ctx, e, fs, *db)
		if err != nil {
			return campaignFail(e, "list", err)
		}
		defer s.Close()
		list, err := s.List(ctx)
		if err != nil {
			return campaignFail(e, "list", err)
		}
		if *asJSON {
			for i := range list {
				list[i].CreatedAt = list[i].CreatedAt.In(chinaTime)
				list[i].LastRunAt = list[i].LastRunAt.In(chinaTime)
			}
			if list == nil {
				list = []campaign.Summary{}
			}
			writeJSON(e.stdout, list)
			return exitOK
		}
		if len(list) == 0 {
			fmt.Fprintf(e.stdout, "no campaigns in %s\n", s)
			return exitOK
		}
		when := func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.In(chinaTime).Format("2006-01-02 15:04")
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROWS\tPAID\tNOT PAID\tUNKNOWN\tPENDING\tAMOUNT PAID\tCREATED\tLAST RUN")
		for _, c := range list {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", c.Name, c.Rows, c.Paid, c.NotPaid, c.Unknown, c.Pending,
				cny(c.AmountPaid), when(c.CreatedAt), when(c.LastRunAt))
		}
		tw.Flush()
		return exitOK
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return exitWith(run(cmd.Context(), args)) }
	return cmd
}

// newCampaignReportCmd is "redpack campaign report".
func newCampaignReportCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("report NAME", "one line per row: outcome, amount, bill number, send_listid (CSV or JSON)")
	cmd.Long = `Report prints one line per row: row, openid, amount (fen), bill number, outcome (paid,
not paid, unknown, pending), status, err_code, send_listid and times (China time).`
	cmd.Example = `  redpack campaign report spring --format csv --out spring.csv
  redpack campaign report spring --format json`
	fs := cmd.Flags()
	format := fs.String("format", "csv", "`csv` or json")
	out := fs.String("out", "", "write to `file` instead of stdout")
	db := dbFlag(fs)
	cmd.ValidArgsFunction = completeCampaignNames(e, fs, db)
	completeChoices(cmd, "format", "csv", "json")
	run := func(ctx context.Context, args []string) int {
		name, code, ok := campaignArg(e, "report", args)
		if !ok {
			return code
		}
		if *format != "csv" && *format != "json" {
			fmt.Fprintf(e.stderr, "redpack campaign report: --format is csv or json, not %q\n", *format)
			return exitUsage
		}
		s, err := openExistingCampaignDB(ctx, e, fs, *db)
		if err != nil {
			return campaignFail(e, "report", err)
		}
		defer s.Close()
		if _, err := s.Info(ctx, name); err != nil {
			return campaignFail(e, "report", err)
		}
		w := e.stdout
		var f *os.File
		if *out != "" {
			if f, err = os.Create(*out); err != nil {
				return campaignFail(e, "report", &inputError{msg: fmt.Sprintf("--out: %v", err)})
			}
			w = f
		}
		err = writeReport(ctx, s, name, *format, w)
		if f != nil {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return campaignFail(e, "report", err)
		}
		return exitOK
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return exitWith(run(cmd.Context(), args)) }
	return cmd
}

// reportHeader is the CSV report's header.
var reportHeader = campaign.ReportHeader

// writeReport writes campaign report's bytes; the dashboard's export is
// the same function.
func writeReport(ctx context.Context, s *campaign.Store, name, format string, w io.Writer) error {
	return s.WriteReport(ctx, name, format, w, campaign.ReportOptions{})
}

// stringsFlag is a flag that may be given several times, each a value or
// a comma-separated list.
type stringsFlag []string

func (f *stringsFlag) String() string { return strings.Join(*f, ",") }

// Type names the flag's value in help.
func (f *stringsFlag) Type() string { return "err_code" }

func (f *stringsFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*f = append(*f, strings.ToUpper(p))
		}
	}
	return nil
}

// reissueJSON is reissue's --json output.
type reissueJSON struct {
	Campaign string              `json:"campaign"`
	DryRun   bool                `json:"dry_run"`
	Reissued []campaign.Reissued `json:"reissued"`
}

// newCampaignReissueCmd is "redpack campaign reissue".
func newCampaignReissueCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("reissue NAME (--rows 3,5-7 | --not-paid | --err-code CODE)", "give rows that were definitely not paid new bill numbers, for the next run")
	cmd.Long = `Reissue gives rows a new bill number so that the next run sends them again. Only rows
whose journal holds a definite not-paid outcome (a refusal such as NOTENOUGH, or a
query that found the packet FAILED) can be: --not-paid and --err-code choose only such
rows, and if any row --rows names is paid, unknown or pending, nothing changes.`
	cmd.Example = `  # After a top-up:
  redpack campaign reissue spring --err-code NOTENOUGH --dry-run
  redpack campaign reissue spring --err-code NOTENOUGH
  redpack campaign run spring --merchant redpack-fake/merchant.json`
	fs := cmd.Flags()
	rowsFlag := fs.String("rows", "", "the `rows` to reissue: 3,5-7 (row numbers as in the report); all must be not paid")
	notPaid := fs.Bool("not-paid", false, "reissue every row that is definitely not paid")
	var codes stringsFlag
	fs.Var(&codes, "err-code", "reissue the not-paid rows refused with this `err_code` (e.g. NOTENOUGH; FAILED for a packet found failed); repeatable")
	dry := fs.Bool("dry-run", false, "print the rows that would be reissued; change nothing")
	asJSON := fs.Bool("json", false, "print JSON, with every row's old and new bill number")
	db := dbFlag(fs)
	cmd.ValidArgsFunction = completeCampaignNames(e, fs, db)
	run := func(ctx context.Context, args []string) int {
		name, code, ok := campaignArg(e, "reissue", args)
		if !ok {
			return code
		}
		sel := campaign.Selection{NotPaid: *notPaid, ErrCodes: codes}
		if *rowsFlag != "" || (!*notPaid && len(codes) == 0) {
			rows, err := parseRows(*rowsFlag)
			if err != nil {
				return campaignFail(e, "reissue", err)
			}
			sel.Rows = rows
		}
		s, err := openExistingCampaignDB(ctx, e, fs, *db)
		if err != nil {
			return campaignFail(e, "reissue", err)
		}
		defer s.Close()
		var re []campaign.Reissued
		if *dry {
			re, err = s.ReissueDryRun(ctx, name, sel)
		} else {
			re, err = s.Reissue(ctx, name, sel)
		}
		var nr *campaign.NotReissuableError
		if errors.As(err, &nr) {
			fmt.Fprintf(e.stderr, "redpack campaign reissue: nothing reissued: %v\n", err)
			return exitUsage
		}
		if err != nil {
			return campaignFail(e, "reissue", err)
		}
		if *asJSON {
			if re == nil {
				re = []campaign.Reissued{}
			}
			writeJSON(e.stdout, reissueJSON{Campaign: name, DryRun: *dry, Reissued: re})
			return exitOK
		}
		rows := make([]int64, len(re))
		for i, r := range re {
			rows[i] = r.Row
		}
		switch {
		case len(re) == 0:
			fmt.Fprintf(e.stdout, "nothing to reissue: no row of %s is chosen and not paid\n", name)
		case *dry:
			fmt.Fprintf(e.stdout, "would reissue %s of %s (dry run: nothing changed)\n", rowsPhrase(rows), name)
		default:
			fmt.Fprintf(e.stdout, "reissued %d %s of %s under new bill numbers; send them with: redpack campaign run %s\n",
				len(re), plural(len(re), "row", "rows"), name, name)
		}
		return exitOK
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return exitWith(run(cmd.Context(), args)) }
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// rowsPhrase names sorted rows compactly: "row 4", "rows 3-9, 12".
func rowsPhrase(rows []int64) string {
	var b strings.Builder
	for i := 0; i < len(rows); {
		j := i
		for j+1 < len(rows) && rows[j+1] == rows[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", rows[i], rows[j])
		} else {
			fmt.Fprintf(&b, "%d", rows[i])
		}
		i = j + 1
	}
	return plural(len(rows), "row ", "rows ") + b.String()
}

// parseRows parses "3,5-7".
func parseRows(s string) ([]int64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &inputError{msg: "choose rows: --rows 3,5-7, --not-paid or --err-code NOTENOUGH"}
	}
	var out []int64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.ParseInt(lo, 10, 64)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseInt(hi, 10, 64)
		}
		if err1 != nil || err2 != nil || a < 1 || b < a || b-a > 1_000_000 {
			return nil, &inputError{msg: fmt.Sprintf("--rows: %q is not a row or a range of rows", part)}
		}
		for n := a; n <= b; n++ {
			out = append(out, n)
		}
	}
	return out, nil
}
