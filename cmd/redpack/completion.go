package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redpack-go/redpack/campaign"
)

// completionTimeout bounds the database lookup of a completion: a shell
// waits for it at every Tab.
const completionTimeout = 3 * time.Second

// completeCampaignNames completes a campaign command's NAME from the
// database --db (or $REDPACK_CAMPAIGN_DB) names. It only opens a database
// that exists, never creates one, and completes nothing on any error: a
// completion cannot report one.
func completeCampaignNames(e *env, fs *pflag.FlagSet, db *string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp // one NAME only
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		s, err := campaign.OpenExisting(ctx, campaignDSN(e, fs, *db))
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer s.Close()
		names, err := s.Names(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// registerChoiceCompletions hands cobra the completion of every flag with
// fixed choices (completeChoices) in root's tree. Cobra keeps flag
// completions in a map of its own for the life of the process, keyed by
// flag, so this is done only for a completion request, never for the many
// runs of a test binary.
func registerChoiceCompletions(root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if choices := f.Annotations[choicesKey]; len(choices) > 0 {
				_ = c.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp))
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// isCompletionRequest says whether args ask for completions (cobra's
// hidden __complete command, which the shell scripts call).
func isCompletionRequest(args []string) bool {
	return len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd)
}
