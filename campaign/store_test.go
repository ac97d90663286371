package campaign

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSQLiteSyncsEveryCommit: the journal is opened with
// synchronous=FULL (2), so that a power loss cannot roll back a commit, in
// WAL mode.
func TestSQLiteSyncsEveryCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "durable.db")
	for range 2 { // a new file, then an existing one
		s, err := Open(context.Background(), path)
		require.NoError(t, err)
		q := s.e.(interface {
			queryIntAny(ctx context.Context, dest *int64, q string, args ...any) error
		})
		var n int64
		require.NoError(t, q.queryIntAny(context.Background(), &n, `PRAGMA synchronous`))
		assert.Equal(t, int64(2), n, "PRAGMA synchronous: 2 is FULL")
		require.NoError(t, s.Close())
	}
}
