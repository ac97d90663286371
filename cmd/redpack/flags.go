package main

import (
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newLeafCmd returns a command that runs body, with the settings every
// command that is not a group shares: flags listed in the order they are
// defined, and positional arguments checked by the command itself, so
// that a stray argument (perhaps a secret after a mistyped flag) is never
// echoed back the way cobra's own argument checks would.
func newLeafCmd(use, short string) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs}
	cmd.Flags().SortFlags = false
	return cmd
}

// completeChoices makes flag name of cmd complete to choices, as a shell
// offers them: for a flag with a fixed set of values. The choices are kept
// on the flag and handed to cobra only for a completion request (see
// registerChoiceCompletions).
func completeChoices(cmd *cobra.Command, name string, choices ...string) {
	_ = cmd.Flags().SetAnnotation(name, choicesKey, choices)
}

// choicesKey, on a flag, lists the values it completes to.
const choicesKey = "redpack_choices"

// sceneIDs are the values of --scene and --scene-id.
var sceneIDs = []string{"PRODUCT_1", "PRODUCT_2", "PRODUCT_3", "PRODUCT_4", "PRODUCT_5", "PRODUCT_6", "PRODUCT_7", "PRODUCT_8"}

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
func givenFlags(fs *pflag.FlagSet) map[string]bool {
	set := make(map[string]bool)
	fs.Visit(func(f *pflag.Flag) { set[f.Name] = true })
	return set
}
