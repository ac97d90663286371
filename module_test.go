package redpack

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Go version go.mod declares is the one the README promises.
func TestGoVersionAgrees(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)(\.\d+)?$`).FindSubmatch(mod)
	require.NotNil(t, goLine, "go.mod has a go line")
	requires := regexp.MustCompile(`Requires Go (\d+\.\d+) or later`).FindSubmatch(readme)
	require.NotNil(t, requires, "the README says which Go it requires")
	assert.Equal(t, string(goLine[1]), string(requires[1]))
	assert.NotContains(t, string(mod), "\ntoolchain ", "no toolchain line to force a newer Go on users")
}

// go.mod and go.sum are what go mod tidy makes of them.
func TestModuleIsTidy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	var out bytes.Buffer
	cmd := exec.Command(goCmd, "mod", "tidy", "-diff")
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	assert.NoError(t, err, "go mod tidy -diff:\n%s", strings.TrimSpace(out.String()))
}
