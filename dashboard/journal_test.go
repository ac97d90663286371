package dashboard

import (
	"database/sql"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" for database/sql
	"github.com/stretchr/testify/require"
)

// rawDB opens a campaign database (a SQLite path or a postgres:// URL)
// directly, for tests that put the journal in a state a real run would
// take far longer to reach. The SQLite driver is the one package campaign
// registers.
func rawDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	driver := "sqlite"
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		driver = "pgx"
	} else {
		dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}
