package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// complete asks for completions the way the shell scripts do, through
// cobra's hidden __complete command, and returns the candidates (without
// descriptions) and the directive line.
func complete(t *testing.T, env map[string]string, words ...string) ([]string, string) {
	t.Helper()
	r := runCLI(t, env, "", append([]string{"__complete"}, words...)...)
	require.Equal(t, exitOK, r.code, r)
	var got []string
	directive := ""
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if strings.HasPrefix(line, ":") {
			directive = line
			break
		}
		name, _, _ := strings.Cut(line, "\t")
		got = append(got, name)
	}
	return got, directive
}

// Campaign NAME arguments complete from the database --db or
// $REDPACK_CAMPAIGN_DB names; a database that does not exist completes
// nothing and is not created.
func TestCompleteCampaignNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "c.db")
	env := map[string]string{campaignDBEnv: db}
	file := writeLines(t, dir, "a.txt", campaignOpenIDs(2)...)
	for _, name := range []string{"spring", "autumn", "spring-2"} {
		r := runLong(t, env, createArgs(name, file, "--amount", "100", "--allow-same-file")...)
		require.Equal(t, exitOK, r.code, r)
	}

	for _, cmd := range []string{"run", "status", "report", "reissue"} {
		got, directive := complete(t, env, "campaign", cmd, "")
		assert.Equal(t, []string{"autumn", "spring", "spring-2"}, got, cmd)
		assert.Equal(t, ":4", directive, "%s: no file names offered", cmd)
	}
	got, _ := complete(t, env, "campaign", "status", "spr")
	assert.Equal(t, []string{"spring", "spring-2"}, got, "only names that start with what was typed")
	got, _ = complete(t, env, "campaign", "status", "spring", "")
	assert.Empty(t, got, "one NAME only")
	got, _ = complete(t, nil, "campaign", "run", "--db", db, "")
	assert.Equal(t, []string{"autumn", "spring", "spring-2"}, got, "--db names the database, as it does for the command")
	got, _ = complete(t, env, "campaign", "create", "")
	assert.Empty(t, got, "create takes a new name")

	missing := filepath.Join(dir, "typo.db")
	got, _ = complete(t, map[string]string{campaignDBEnv: missing}, "campaign", "status", "")
	assert.Empty(t, got)
	_, err := os.Stat(missing)
	require.ErrorIs(t, err, fs.ErrNotExist, "completion created a database")
}

// Commands, subcommands, help topics and flags with fixed values
// complete.
func TestCompleteCommandsAndFlagValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{"se"}, []string{"send", "send-group", "send-mini", "settle", "settle-group", "settle-mini"}},
		{[]string{"campaign", "re"}, []string{"reissue", "report"}},
		{[]string{"help", "campaign", "r"}, []string{"rate", "reissue", "report", "run"}},
		{[]string{"completion", ""}, []string{"bash", "fish", "powershell", "zsh"}},
		{[]string{"campaign", "report", "spring", "--format", ""}, []string{"csv", "json"}},
		{[]string{"campaign", "run", "spring", "--on-limit", ""}, []string{"hold", "report"}},
		{[]string{"campaign", "run", "spring", "--on-balance", ""}, []string{"stop", "wait"}},
		{[]string{"send", "--scene", ""}, sceneIDs},
		{[]string{"campaign", "create", "spring", "--scene-id", ""}, sceneIDs},
		{[]string{"query", "--max-att"}, []string{"--max-attempts"}},
	} {
		got, _ := complete(t, map[string]string{campaignDBEnv: filepath.Join(t.TempDir(), "none.db")}, tc.words...)
		assert.Equal(t, tc.want, got, "%q", tc.words)
	}
}

// redpack completion bash|zsh|fish prints cobra's script for the shell,
// which calls back into redpack __complete.
func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	for shell, marker := range map[string]string{
		"bash": "__start_redpack",
		"zsh":  "#compdef redpack",
		"fish": "complete -c redpack",
	} {
		r := runCLI(t, nil, "", "completion", shell)
		require.Equal(t, exitOK, r.code, "%s: %s", shell, r)
		assert.Contains(t, r.stdout, marker, shell)
		assert.Contains(t, r.stdout, "__complete", "%s: the script asks redpack for completions", shell)
		assert.Empty(t, r.stderr, shell)
	}
	r := runCLI(t, nil, "", "completion", "tcsh")
	assert.Equal(t, exitUsage, r.code, r)
}
