package dashboard

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" for database/sql
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack/internal/testpg"
)

// dbKinds are the databases the dashboard's database tests run on.
var dbKinds = []string{"sqlite", "postgres"}

// newDSN returns a DSN of an empty database of the kind: a SQLite file,
// or a new PostgreSQL schema dropped at the end. Without a PostgreSQL
// server the test skips, except in CI (CI=true), where it fails.
func newDSN(tb testing.TB, kind string) string {
	tb.Helper()
	if kind == "sqlite" {
		return filepath.Join(tb.TempDir(), "c.db")
	}
	return testpg.Fresh(tb)
}

// rawDB opens a campaign database (a SQLite path or a postgres:// URL)
// directly, for tests that put the journal in a state a real run would
// take far longer to reach. The SQLite driver is the one package campaign
// registers.
func rawDB(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	driver := "sqlite"
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		driver = "pgx"
	} else {
		dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	require.NoError(tb, err)
	tb.Cleanup(func() { db.Close() })
	return db
}
