package dashboard

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" for database/sql
	"github.com/stretchr/testify/require"
)

// postgresEnv names the PostgreSQL server tests use, as in package campaign.
const postgresEnv = "REDPACK_TEST_POSTGRES"

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
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but %s is not set: .ci/run starts a PostgreSQL server and exports it", postgresEnv)
		}
		tb.Skipf("no PostgreSQL server: set %s to a DSN", postgresEnv)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(tb, err)
	defer conn.Close(ctx)
	schema := "t_" + strings.ToLower(rand.Text()[:12])
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(dsn)
	require.NoError(tb, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
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
