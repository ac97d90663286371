package campaign

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The root package stays free of the campaign engine's dependencies: a
// service that only sends packets does not link a job queue or a
// database driver.
func TestRootPackageHasNoEngineDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/redpack-go/redpack").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/redpack-go/redpack")
	for _, d := range deps {
		for _, banned := range []string{"github.com/riverqueue/", "github.com/jackc/", "modernc.org/"} {
			require.Falsef(t, strings.HasPrefix(d, banned), "package redpack depends on %s", d)
		}
	}
}
