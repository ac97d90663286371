package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redpack-go/redpack/internal/suggest"
)

// newRootCmd builds the whole command tree for one run. Nothing in it
// outlives the run: every flag is bound to a variable of the command's
// own constructor, so that tests may call run many times, in parallel.
func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "redpack",
		Short: "send WeChat Pay cash red packets (现金红包, APIv2) and look them up",
		Long:  rootLong(),
		Example: `  redpack demo                                   # the whole flow, no account needed
  redpack fake-server --dir redpack-fake         # a fake WeChat Pay for tests
  redpack help send`,
		// The commands report their own outcomes; run maps the error
		// RunE returns to the exit code and prints what is left to say.
		SilenceErrors: true,
		SilenceUsage:  true,
		// Unknown commands are reported by Args, with our wording and
		// suggestion; cobra's own would end "for \"redpack\"".
		DisableSuggestions: true,
		Args:               unknownCommandArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Only reached without arguments: Args refuses any.
			writeHelp(e.stderr, cmd)
			return exitWith(exitUsage)
		},
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &flagError{cmd: cmd, err: err} })
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { writeHelp(cmd.OutOrStdout(), cmd) })
	root.SetUsageFunc(func(cmd *cobra.Command) error { writeUsage(cmd.OutOrStderr(), cmd); return nil })
	root.SetHelpCommand(newHelpCmd())

	root.AddGroup(
		&cobra.Group{ID: "pay", Title: "Pay, settle and look up:"},
		&cobra.Group{ID: "campaign", Title: "Pay a file of openids:"},
		&cobra.Group{ID: "rules", Title: "Pay for payments (满额送):"},
		&cobra.Group{ID: "try", Title: "Without an account:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("pay", newSendCmds(e)...)
	add("pay", newSettleCmds(e)...)
	add("pay", newQueryCmd(e))
	add("campaign", newCampaignCmd(e))
	add("rules", newRulesCmd(e))
	add("try", newDemoCmd(e), newFakeServerCmd(e))
	root.InitDefaultHelpCmd() // now, so that the tree is whole before it runs
	initCompletionCmd(root)
	return root
}

// initCompletionCmd adds cobra's "completion" command now rather than when
// the root runs, to give it examples and to report a shell it does not
// know as a usage error (exit 2).
func initCompletionCmd(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	cmd, _, err := root.Find([]string{"completion"})
	if err != nil || cmd == root {
		return
	}
	cmd.Args = unknownCommandArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		// Only reached without arguments: Args refuses any.
		writeHelp(cmd.ErrOrStderr(), cmd)
		return exitWith(exitUsage)
	}
	cmd.Example = `  source <(redpack completion bash)       # this shell; add it to ~/.bashrc to keep it
  redpack completion zsh > "${fpath[1]}/_redpack"
  redpack completion fish > ~/.config/fish/completions/redpack.fish`
	examples := map[string]string{
		"bash":       "  source <(redpack completion bash)\n  redpack completion bash > /etc/bash_completion.d/redpack",
		"zsh":        `  redpack completion zsh > "${fpath[1]}/_redpack"`,
		"fish":       "  redpack completion fish > ~/.config/fish/completions/redpack.fish",
		"powershell": "  redpack completion powershell | Out-String | Invoke-Expression",
	}
	for _, sub := range cmd.Commands() {
		sub.Example = examples[sub.Name()]
	}
}

// rootLong is the root command's help: what it does, the credentials
// every paying command takes and the exit codes, from the tables that
// define them.
func rootLong() string {
	var b strings.Builder
	b.WriteString(`redpack sends WeChat Pay cash red packets (现金红包, APIv2) and looks them up.

Try it without an account:
  redpack demo

Credentials (a flag overrides its environment variable; secrets are never printed):
`)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, v := range connVars {
		fmt.Fprintf(tw, "  --%s\t%s\t%s\n", v.flag, v.env, v.usage)
	}
	tw.Flush()
	b.WriteString(`
Prefer the environment for the API key: command-line flags are visible to
other users of the machine. "--api-key -" reads it from stdin. send-mini's
--mini-appid (the mini-program's appid) has REDPACK_MINI_APPID.

The bill number (--bill; a new one by default) is printed before anything is
sent. Keep it: it is the packet's identity and the only safe way to retry.
After an unknown outcome, 'redpack settle' with the same flags settles it.

Exit codes:
`)
	writeExitCodes(&b)
	return b.String()
}

// Annotations the help output reads.
const (
	// flagGroupKey, on a flag, is the title of the help section that
	// lists it; flags without one are listed under "Flags".
	flagGroupKey = "redpack_help_group"
	// epilogKey, on a command, is text its help prints after the flags.
	epilogKey = "redpack_help_epilog"
)

// groupFlags lists the named flags of fs under title in help, in the
// order they were defined.
func groupFlags(fs *pflag.FlagSet, title string, names ...string) {
	for _, n := range names {
		if fs.Lookup(n) != nil {
			_ = fs.SetAnnotation(n, flagGroupKey, []string{title})
		}
	}
}

// setEpilog makes cmd's help end with text.
func setEpilog(cmd *cobra.Command, text string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[epilogKey] = text
}

// exitCodesEpilog is the exit-code table as a help epilog.
func exitCodesEpilog() string {
	var b strings.Builder
	b.WriteString("Exit codes:\n")
	writeExitCodes(&b)
	return b.String()
}

// writeHelp prints cmd's help: its long description, then its usage.
func writeHelp(w io.Writer, cmd *cobra.Command) {
	cmd.InitDefaultHelpFlag() // so that -h is listed even for "redpack help send"
	about := cmd.Long
	if about == "" {
		about = cmd.Short
	}
	if about != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimRight(about, "\n"))
	}
	writeUsage(w, cmd)
}

// writeUsage prints cmd's usage line, examples, subcommands and flags,
// all generated from the command tree.
func writeUsage(w io.Writer, cmd *cobra.Command) {
	fmt.Fprintln(w, "Usage:")
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(w, "  %s <command> [flags] [arguments]\n", cmd.CommandPath())
	} else {
		fmt.Fprintf(w, "  %s\n", cmd.UseLine())
	}
	if cmd.HasExample() {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(cmd.Example, "\n"))
	}
	if cmd.HasAvailableSubCommands() {
		writeCommands(w, cmd)
	}
	writeFlagGroups(w, cmd.Flags())
	if ep := cmd.Annotations[epilogKey]; ep != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(ep, "\n"))
	}
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nRun '%s <command> --help' or 'redpack help %s<command>' for a command's flags and examples.\n",
			cmd.CommandPath(), strings.TrimPrefix(cmd.CommandPath()+" ", "redpack "))
	}
}

// writeCommands lists cmd's subcommands by group, as gh and kubectl do.
func writeCommands(w io.Writer, cmd *cobra.Command) {
	type section struct {
		title string
		cmds  []*cobra.Command
	}
	var sections []*section
	byID := map[string]*section{}
	for _, g := range cmd.Groups() {
		s := &section{title: g.Title}
		sections = append(sections, s)
		byID[g.ID] = s
	}
	title := "Commands:"
	if len(sections) > 0 {
		title = "Other commands:"
	}
	other := &section{title: title}
	for _, c := range cmd.Commands() {
		if !c.IsAvailableCommand() && c.Name() != "help" {
			continue
		}
		if s, ok := byID[c.GroupID]; ok {
			s.cmds = append(s.cmds, c)
		} else {
			other.cmds = append(other.cmds, c)
		}
	}
	for _, s := range append(sections, other) {
		if len(s.cmds) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", s.title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range s.cmds {
			fmt.Fprintf(tw, "  %s\t%s\n", c.Name(), c.Short)
		}
		tw.Flush()
	}
}

// writeFlagGroups lists fs's flags in pflag's format, in sections titled
// by their flagGroupKey annotation, in the order the flags were defined.
// Defaults are the definitions', never values from the environment.
func writeFlagGroups(w io.Writer, fs *pflag.FlagSet) {
	var titles []string
	sets := map[string]*pflag.FlagSet{}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		title := "Flags"
		if g := f.Annotations[flagGroupKey]; len(g) > 0 {
			title = g[0]
		}
		s, ok := sets[title]
		if !ok {
			s = pflag.NewFlagSet(title, pflag.ContinueOnError)
			s.SortFlags = false
			sets[title] = s
			titles = append(titles, title)
		}
		s.AddFlag(f)
	})
	for _, t := range titles {
		fmt.Fprintf(w, "\n%s:\n%s", t, sets[t].FlagUsagesWrapped(100))
	}
}

// newHelpCmd is "redpack help [command]": a command's help, or an error
// with a suggestion for a mistyped one.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "show help, or a command's: redpack help send",
		Long:  "Help shows the help of any command: its flags, an example and its exit codes.",
		Example: `  redpack help
  redpack help send
  redpack help campaign run`,
		Args: cobra.ArbitraryArgs,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			cmd, rest, err := root.Find(args)
			if err != nil || cmd == nil {
				cmd, rest = root, args
			}
			if len(rest) > 0 {
				return unknownCommand("redpack help", cmd, rest[0], "redpack help")
			}
			writeHelp(c.OutOrStdout(), cmd)
			return nil
		},
	}
}

// unknownCommandArgs is the Args of a command that only groups others
// (redpack, redpack campaign): an argument is a mistyped command.
func unknownCommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	helpLine := strings.TrimSuffix("redpack help "+strings.TrimPrefix(cmd.CommandPath(), "redpack"), " ")
	return unknownCommand(cmd.CommandPath(), cmd, args[0], helpLine)
}

// unknownCommand is the usage error of a command name that parent does
// not have, with the closest one it does have: "<who>: unknown command
// "sned"; did you mean "send"?".
func unknownCommand(who string, parent *cobra.Command, name, helpLine string) error {
	var names []string
	for _, c := range parent.Commands() {
		if c.IsAvailableCommand() || c.Name() == "help" {
			names = append(names, c.Name())
		}
	}
	msg := fmt.Sprintf("%s: unknown command %q", who, name)
	if s := suggest.Closest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return &usageError{msg: msg + "\nRun '" + helpLine + "' for usage."}
}

// exitError ends a run whose outcome the command has already reported:
// the process exits with code and nothing more is printed, as gh's
// SilentError does.
type exitError struct{ code int }

func (e *exitError) Error() string { return "exit status " + strconv.Itoa(e.code) }

// exitWith is the error RunE returns for exit code code: nil for success.
func exitWith(code int) error {
	if code == exitOK {
		return nil
	}
	return &exitError{code: code}
}

// usageError is bad usage found before the command ran (a mistyped
// command): msg is printed to stderr and the run exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// flagError is a flag pflag could not parse. It exits 2, and quotes only
// the flag, or the value of a flag that failed to parse; no secret flag
// can fail to parse.
type flagError struct {
	cmd *cobra.Command
	err error
}

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

// exitCode reports err, unless its command already has, and returns the
// exit code it maps to.
func exitCode(stderr io.Writer, err error) int {
	var (
		ee *exitError
		ue *usageError
		fe *flagError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, ue.msg)
		return exitUsage
	case errors.As(err, &fe):
		path := strings.TrimPrefix(fe.cmd.CommandPath(), "redpack ")
		fmt.Fprintf(stderr, "redpack %s: %v\nRun 'redpack help %s' for usage.\n", path, fe.err, path)
		return exitUsage
	}
	fmt.Fprintf(stderr, "redpack: %v\n", err)
	return exitFailure
}

// oneDashLongFlags rewrites "-json" as "--json" and "-db=x" as "--db=x":
// Go's flag package, which redpack's commands used before cobra, takes
// long flags with one dash, and scripts may still pass them. pflag would
// read "-json" as the shorthands j, s, o and n. An argument that is the
// value of the flag before it, a negative number, or one after "--" is
// left alone. Completion requests are passed through untouched.
func oneDashLongFlags(root *cobra.Command, args []string) []string {
	if isCompletionRequest(args) {
		return args
	}
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		cmd = root
	}
	fs := cmd.Flags()
	out := make([]string, 0, len(args))
	value := false // the argument is the value of the flag before it
	for i, a := range args {
		if value {
			out = append(out, a)
			value = false
			continue
		}
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			if _, err := strconv.ParseFloat(a, 64); err != nil {
				a = "-" + a
			}
		}
		if name, ok := strings.CutPrefix(a, "--"); ok && !strings.Contains(name, "=") {
			if f := fs.Lookup(name); f != nil && f.NoOptDefVal == "" {
				value = true
			}
		}
		out = append(out, a)
	}
	return out
}
