package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
)

// newFlagSet returns a flag set that prints nothing itself: the command
// decides where help and errors go.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses args with fs and returns the positional arguments,
// letting them come before, between or after the flags
// ("redpack query BILL --json"). Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// handleParseError reports a flag error (exit 2) or prints help (exit 0)
// when asked with -h. Flag errors quote only the flag, or the value of a
// flag that failed to parse; no secret flag can fail to parse.
func handleParseError(e *env, name string, err error, usage func(io.Writer)) int {
	if errors.Is(err, flag.ErrHelp) {
		usage(e.stdout)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "redpack %s: %v\nRun 'redpack help %s' for usage.\n", name, err, name)
	return exitUsage
}

// flagGroup is a titled list of flags for help.
type flagGroup struct {
	title string
	names []string
}

// writeFlags prints the groups' flags, aligned, with their defaults.
// Defaults are the flag definitions' own, never values from the
// environment.
func writeFlags(w io.Writer, fs *flag.FlagSet, groups []flagGroup) {
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, name := range g.names {
			f := fs.Lookup(name)
			if f == nil {
				continue
			}
			kind, usage := flag.UnquoteUsage(f)
			left := "--" + f.Name
			if kind != "" {
				left += " " + kind
			}
			if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "0s" {
				usage += " (default " + d + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\n", left, usage)
		}
		tw.Flush()
	}
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	safe := func(r rune) bool {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("-_./:=@,+%", r):
			return true
		case r > unicode.MaxASCII:
			// Shells split words and expand only on ASCII characters.
			return unicode.IsGraphic(r) && !unicode.IsSpace(r)
		}
		return false
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !safe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// givenFlags reports which flags were set on the command line.
func givenFlags(fs *flag.FlagSet) map[string]bool {
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
