// Package testpg gives a test a PostgreSQL schema of its own on the server
// named by REDPACK_TEST_POSTGRES, which .ci/run starts and exports. In CI
// (CI=true) a test that needs the server fails without it; elsewhere it
// skips with a message saying what is missing.
package testpg

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env names the variable holding the server's DSN (a database the tests
// may create schemas in).
const Env = "REDPACK_TEST_POSTGRES"

// DSN returns the server's DSN, or fails tb in CI and skips it elsewhere.
func DSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but %s is not set: .ci/run starts a PostgreSQL server and exports it", Env)
		}
		tb.Skipf("no PostgreSQL server: set %s to a DSN (e.g. start one with .ci/postgres start DIR)", Env)
	}
	return dsn
}

// Fresh returns a DSN whose search_path is a new, empty schema, dropped
// when tb ends, so that tests do not see each other's campaigns or jobs.
func Fresh(tb testing.TB) string {
	tb.Helper()
	dsn := DSN(tb)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("testpg: %v", err)
	}
	defer conn.Close(ctx)
	schema := "t_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("testpg: %v", err)
	}
	tb.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), dsn); err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("testpg: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
