package campaign

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/redpack-go/redpack"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// DefaultDB is the SQLite file Open uses for an empty DSN, in the current
// directory.
const DefaultDB = "redpack-campaigns.db"

// Store is a campaign database: the journal of every campaign and River's
// job tables, in one SQLite file or one PostgreSQL database. It is safe for
// concurrent use; several processes may share a PostgreSQL store.
type Store struct {
	e    engine
	kind string // "sqlite" or "postgres"
	dsn  string // for messages: never holds a password
	// lockPath is the lock file a SQLite run holds (see Run), beside the
	// file the path resolves to, so that every path to one file (through
	// a symbolic link, relative or absolute) takes the same lock; "" on
	// PostgreSQL.
	lockPath string
}

// Kind reports the database: "sqlite" or "postgres".
func (s *Store) Kind() string { return s.kind }

// String names the database without a password.
func (s *Store) String() string { return s.kind + " " + s.dsn }

// Close closes the database.
func (s *Store) Close() error { return s.e.close() }

// RiverDriver returns the River driver of the store's database: a
// *riverpgxv5.Driver on PostgreSQL, a *riversqlite.Driver on SQLite. It
// is for tools that read River's own job tables, such as River's UI (the
// dashboard's /river); a campaign's jobs are still inserted and worked
// only through the store, whose journal decides every payment.
func (s *Store) RiverDriver() any { return s.e.riverDriver() }

// Open opens the campaign database dsn and brings its schema up to date
// (River's tables and the campaign journal). A postgres:// or postgresql://
// URL opens PostgreSQL; anything else is a SQLite file path, created if
// missing; "" means DefaultDB.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, false)
}

// OpenExisting opens a campaign database as Open does, but never creates
// one: a SQLite file that does not exist, or a database without the
// campaign journal (a PostgreSQL schema no campaign was created in), is an
// *OpenError wrapping ErrNoDatabase. Commands that only read (status,
// report, list) use it, so that a mistyped path is an error rather than a
// new, empty database.
func OpenExisting(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, true)
}

// ErrNoDatabase: OpenExisting found no campaign database at the DSN.
var ErrNoDatabase = errors.New("no campaign database")

func open(ctx context.Context, dsn string, existing bool) (*Store, error) {
	if dsn == "" {
		dsn = DefaultDB
	}
	var (
		e    engine
		kind string
		err  error
	)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		kind = "postgres"
		e, err = openPostgres(ctx, dsn)
	} else {
		kind = "sqlite"
		if existing {
			if _, serr := os.Stat(dsn); errors.Is(serr, fs.ErrNotExist) {
				return nil, &OpenError{DSN: dsn, Err: fmt.Errorf("%w: the file does not exist", ErrNoDatabase)}
			}
		}
		e, err = openSQLite(ctx, dsn)
	}
	name := redactDSN(dsn)
	if err != nil {
		return nil, &OpenError{DSN: name, Err: err}
	}
	if existing {
		ok, err := e.hasJournal(ctx)
		if err == nil && !ok {
			err = fmt.Errorf("%w: it holds no campaign journal", ErrNoDatabase)
		}
		if err != nil {
			e.close()
			return nil, &OpenError{DSN: name, Err: err}
		}
	}
	if err := e.migrate(ctx); err != nil {
		e.close()
		return nil, &OpenError{DSN: name, Err: fmt.Errorf("migrate: %w", err)}
	}
	s := &Store{e: e, kind: kind, dsn: name}
	if kind == "sqlite" {
		real, err := filepath.Abs(dsn)
		if err == nil {
			real, err = filepath.EvalSymlinks(real)
		}
		if err != nil {
			e.close()
			return nil, &OpenError{DSN: name, Err: fmt.Errorf("resolve the file's path: %w", err)}
		}
		s.lockPath = real + ".lock"
	}
	return s, nil
}

// OpenError is a campaign database that could not be opened or migrated.
type OpenError struct {
	DSN string // without a password
	Err error
}

// Error implements error.
func (e *OpenError) Error() string {
	return "campaign database " + e.DSN + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *OpenError) Unwrap() error { return e.Err }

// redactDSN drops the password from a URL.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

func openSQLite(ctx context.Context, path string) (engine, error) {
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, errors.New("give SQLite a plain file path")
	}
	// WAL lets readers (status, report) work while a run writes; the busy
	// timeout makes a second process wait for the lock instead of failing.
	// synchronous=FULL syncs the WAL at every commit: with NORMAL a power
	// loss can roll back the last commits, and a lost create or reissue
	// whose bill numbers were already sent would lead an operator to
	// import or re-issue again under new ones, and pay twice.
	// One connection: SQLite has one writer anyway, and River's own queries
	// and ours then never wait on each other's locks.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, err
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("not a usable SQLite file (journal mode %q)", mode)
	}
	return &eng[*riversqlite.Driver, *sql.Tx]{
		db:     sqlDB{db},
		driver: riversqlite.New(db),
		kind:   "sqlite",
	}, nil
}

func openPostgres(ctx context.Context, dsn string) (engine, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", errors.New(strings.ReplaceAll(err.Error(), dsn, redactDSN(dsn))))
	}
	// Room for a run's workers (each holds a connection only for a short
	// transaction or one limiter statement) beside River's own; a
	// pool_max_conns in the DSN that asks for more wins.
	if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, err
	}
	return &eng[*riverpgxv5.Driver, pgx.Tx]{
		db:     pgxDB{pool},
		driver: riverpgxv5.New(pool),
		kind:   "postgres",
	}, nil
}

// rows is what both database/sql and pgx give back from a query.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// database is the little the journal needs of a database, over its
// driver's own transaction type, so that the journal's writes and River's
// job completion share one transaction.
type database[TTx any] interface {
	begin(ctx context.Context) (TTx, error)
	commit(ctx context.Context, tx TTx) error
	rollback(ctx context.Context, tx TTx) error
	exec(ctx context.Context, tx TTx, q string, args ...any) (int64, error)
	query(ctx context.Context, tx TTx, q string, args ...any) (rows, error)
	// lock takes the database's migration lock (PostgreSQL: an advisory
	// lock, so that processes starting together migrate one at a time).
	lock(ctx context.Context) (unlock func(), err error)
	// queryRow runs q outside any transaction and scans its one row.
	queryRow(ctx context.Context, q string, args []any, dest ...any) error
	close() error
}

type sqlDB struct{ db *sql.DB }

func (d sqlDB) begin(ctx context.Context) (*sql.Tx, error) { return d.db.BeginTx(ctx, nil) }
func (sqlDB) commit(_ context.Context, tx *sql.Tx) error   { return tx.Commit() }
func (sqlDB) rollback(_ context.Context, tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}

func (sqlDB) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (sqlDB) query(ctx context.Context, tx *sql.Tx, q string, args ...any) (rows, error) {
	r, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (d sqlDB) queryRow(ctx context.Context, q string, args []any, dest ...any) error {
	return d.db.QueryRowContext(ctx, q, args...).Scan(dest...)
}

func (d sqlDB) close() error { return d.db.Close() }

// lock is a no-op: SQLite's own write lock serialises migrations, and the
// busy timeout makes a second process wait for it.
func (sqlDB) lock(context.Context) (func(), error) { return func() {}, nil }

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

type pgxDB struct{ pool *pgxpool.Pool }

func (d pgxDB) begin(ctx context.Context) (pgx.Tx, error) { return d.pool.Begin(ctx) }
func (pgxDB) commit(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) }
func (pgxDB) rollback(ctx context.Context, tx pgx.Tx) error {
	// A rollback must happen even when ctx is done, or the connection
	// stays in a transaction.
	err := tx.Rollback(context.WithoutCancel(ctx))
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

func (pgxDB) exec(ctx context.Context, tx pgx.Tx, q string, args ...any) (int64, error) {
	tag, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (pgxDB) query(ctx context.Context, tx pgx.Tx, q string, args ...any) (rows, error) {
	return tx.Query(ctx, q, args...)
}

func (d pgxDB) queryRow(ctx context.Context, q string, args []any, dest ...any) error {
	return d.pool.QueryRow(ctx, q, args...).Scan(dest...)
}

func (d pgxDB) close() error { d.pool.Close(); return nil }

// migrationLockKey is the advisory lock the journal's migrations hold.
const migrationLockKey = 7426512093

func (d pgxDB) lock(ctx context.Context) (func(), error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLockKey)); err != nil {
		conn.Release()
		return nil, err
	}
	return func() {
		_, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrationLockKey))
		conn.Release()
	}, nil
}

// eng is the one implementation of the campaign engine, for either driver.
type eng[TD riverdriver.Driver[TTx], TTx any] struct {
	db     database[TTx]
	driver TD
	kind   string

	// ins is the insert-only River client, made once (see inserter).
	insOnce sync.Once
	ins     *river.Client[TTx]
	insErr  error
}

func (e *eng[TD, TTx]) close() error { return e.db.close() }

// dbClock is the database's time, read in tx: PostgreSQL's clock, which
// every process sharing the database reads alike whatever its own clock
// says (River fetches due jobs on it); SQLite's is the clock of the one
// machine that holds the file. Times several processes compare, such as
// an award's hold, are measured on it.
func (e *eng[TD, TTx]) dbClock(ctx context.Context, tx TTx) (time.Time, error) {
	if e.kind != "postgres" {
		return time.Now(), nil
	}
	ms, err := column[int64](ctx, e.db, tx, `SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)`)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms[0]), nil
}

func (e *eng[TD, TTx]) riverDriver() any { return e.driver }

// column runs q in tx and returns its one column, row by row.
func column[T, TTx any](ctx context.Context, db database[TTx], tx TTx, q string, args ...any) ([]T, error) {
	r, err := db.query(ctx, tx, q, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []T
	for r.Next() {
		var v T
		if err := r.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, r.Err()
}

// inTx runs fn in a transaction and commits it, or rolls it back when fn
// fails. fn must not make a network call.
func (e *eng[TD, TTx]) inTx(ctx context.Context, fn func(tx TTx) error) error {
	tx, err := e.db.begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		if rerr := e.db.rollback(ctx, tx); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return e.db.commit(ctx, tx)
}

// migrate brings River's tables and the journal up to date, in one
// transaction. On PostgreSQL an advisory lock serialises processes that
// start together.
func (e *eng[TD, TTx]) migrate(ctx context.Context) error {
	m, err := rivermigrate.New[TTx](e.driver, &rivermigrate.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	unlock, err := e.db.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	// River's migrations run one transaction each: PostgreSQL cannot use
	// an enum value added in the same transaction.
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river: %w", err)
	}
	return e.inTx(ctx, func(tx TTx) error {
		if _, err := e.db.exec(ctx, tx, `CREATE TABLE IF NOT EXISTS redpack_campaign_migration (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		versions, err := column[int64](ctx, e.db, tx, `SELECT version FROM redpack_campaign_migration`)
		if err != nil {
			return err
		}
		have := map[int64]bool{}
		for _, v := range versions {
			have[v] = true
		}
		for i, stmts := range migrations(e.kind) {
			v := int64(i + 1)
			if have[v] {
				continue
			}
			for _, s := range stmts {
				if _, err := e.db.exec(ctx, tx, s); err != nil {
					return fmt.Errorf("journal migration %d: %w", v, err)
				}
			}
			if _, err := e.db.exec(ctx, tx, `INSERT INTO redpack_campaign_migration (version, applied_at) VALUES ($1, $2)`, v, time.Now().UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
}

// migrations are the journal's schema changes, in order; a new one is
// appended, never edited. Times are Unix milliseconds (BIGINT), so that
// both databases store and compare them alike.
func migrations(kind string) [][]string {
	return [][]string{{
		`CREATE TABLE redpack_campaign (
			name TEXT PRIMARY KEY,
			mch_id TEXT NOT NULL DEFAULT '',
			template TEXT NOT NULL,
			source TEXT NOT NULL,
			row_count BIGINT NOT NULL,
			total_amount BIGINT NOT NULL,
			created_at BIGINT NOT NULL
		)`,
		// One row per file row: the journal. bill_no is written before the
		// first send and never changes except by reissue of a definite
		// not-paid row; outcome only moves up (pending → unknown → paid or
		// not_paid).
		`CREATE TABLE redpack_campaign_row (
			campaign TEXT NOT NULL REFERENCES redpack_campaign(name),
			row_no BIGINT NOT NULL,
			line BIGINT NOT NULL,
			openid TEXT NOT NULL,
			amount BIGINT NOT NULL,
			bill_no TEXT NOT NULL UNIQUE,
			job_id BIGINT NOT NULL DEFAULT 0,
			outcome TEXT NOT NULL DEFAULT 'pending',
			status TEXT NOT NULL DEFAULT '',
			err_code TEXT NOT NULL DEFAULT '',
			err_msg TEXT NOT NULL DEFAULT '',
			send_listid TEXT NOT NULL DEFAULT '',
			first_sent_at BIGINT NOT NULL DEFAULT 0,
			limit_day TEXT NOT NULL DEFAULT '',
			settled_at BIGINT NOT NULL DEFAULT 0,
			updated_at BIGINT NOT NULL DEFAULT 0,
			settle_tries BIGINT NOT NULL DEFAULT 0,
			gave_up BIGINT NOT NULL DEFAULT 0,
			held_until BIGINT NOT NULL DEFAULT 0,
			resend_closed BIGINT NOT NULL DEFAULT 0,
			reissues BIGINT NOT NULL DEFAULT 0,
			PRIMARY KEY (campaign, row_no)
		)`,
		`CREATE INDEX redpack_campaign_row_outcome ON redpack_campaign_row (campaign, outcome)`,
		`CREATE INDEX redpack_campaign_row_openid ON redpack_campaign_row (openid)`,
		// Bill numbers a reissue replaced, with what was known of them.
		`CREATE TABLE redpack_campaign_old_bill (
			bill_no TEXT PRIMARY KEY,
			campaign TEXT NOT NULL,
			row_no BIGINT NOT NULL,
			outcome TEXT NOT NULL,
			status TEXT NOT NULL,
			err_code TEXT NOT NULL,
			first_sent_at BIGINT NOT NULL,
			replaced_at BIGINT NOT NULL
		)`,
		// What the journal has put towards WeChat's daily caps: per openid,
		// and for the merchant as a whole (openid '').
		`CREATE TABLE redpack_campaign_daily (
			mch_id TEXT NOT NULL,
			day TEXT NOT NULL,
			openid TEXT NOT NULL,
			packets BIGINT NOT NULL,
			amount BIGINT NOT NULL,
			PRIMARY KEY (mch_id, day, openid)
		)`,
		// The merchant's shared rate limit (GCRA): the theoretical arrival
		// time of the next request, in microseconds on the database clock.
		`CREATE TABLE redpack_campaign_rate (
			mch_id TEXT PRIMARY KEY,
			tat BIGINT NOT NULL
		)`,
	}, {
		// Send generations, the fencing tokens of a row's sends. Each time
		// the row's bill number may be sent (a claim, or a settle that may
		// re-send) send_gen goes up by one, in the transaction that also
		// records when that attempt began (send_at) and by when it is surely
		// over (send_deadline, from the flags of the process that made it).
		// done_gen is the newest generation whose attempt journalled its
		// result. An attempt's refusal counts only while its generation is
		// the newest; first_sent_at counts only sends that may have left.
		`ALTER TABLE redpack_campaign_row ADD COLUMN send_gen BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE redpack_campaign_row ADD COLUMN send_at BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE redpack_campaign_row ADD COLUMN send_deadline BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE redpack_campaign_row ADD COLUMN done_gen BIGINT NOT NULL DEFAULT 0`,
		// Rows sent before generations existed: one send, at first_sent_at,
		// still open if nothing was journalled after the claim (the old
		// claim wrote updated_at = first_sent_at), with a deadline well past
		// the old engine's longest attempt.
		`UPDATE redpack_campaign_row SET send_gen = 1, send_at = first_sent_at, send_deadline = first_sent_at + 900000,
			done_gen = CASE WHEN updated_at <> first_sent_at OR outcome IN ('paid', 'not_paid') THEN 1 ELSE 0 END
			WHERE first_sent_at > 0`,
	}, {
		// The merchant's rate, in requests a second, which the limiter's
		// statement spaces its slots by: stored by the first run or by
		// Store.SetRate, not taken from each process's own rate. 0: none
		// stored yet.
		`ALTER TABLE redpack_campaign_rate ADD COLUMN per_second DOUBLE PRECISION NOT NULL DEFAULT 0`,
	}, {
		// When a run of the campaign last started (0: never), for list.
		`ALTER TABLE redpack_campaign ADD COLUMN last_run_at BIGINT NOT NULL DEFAULT 0`,
		// The SHA-256 of the file a campaign was imported from (hex; '' when
		// not known), so that the same file is not imported twice by
		// mistake under another name.
		`ALTER TABLE redpack_campaign ADD COLUMN file_sha256 TEXT NOT NULL DEFAULT ''`,
		`CREATE INDEX redpack_campaign_file_sha256 ON redpack_campaign (file_sha256)`,
	}, {
		// Rule sets (rules.go, award.go): a campaign whose rows are made
		// from payments. kind is 'file' or 'rules'.
		`ALTER TABLE redpack_campaign ADD COLUMN kind TEXT NOT NULL DEFAULT 'file'`,
		// A rule set's row names its rule, and carries the packet template
		// it was queued with, so that every send of its bill number is the
		// same request however the rules change later. '' for a file's.
		`ALTER TABLE redpack_campaign_row ADD COLUMN rule TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE redpack_campaign_row ADD COLUMN template TEXT NOT NULL DEFAULT ''`,
		// The rules, as last defined (spec: the rule's JSON), with their
		// budget and what awards have taken from it. active is 0 for a rule
		// the last definition left out: it makes no new award.
		`CREATE TABLE redpack_rule (
			campaign TEXT NOT NULL REFERENCES redpack_campaign(name),
			name TEXT NOT NULL,
			spec TEXT NOT NULL,
			budget BIGINT NOT NULL,
			spent BIGINT NOT NULL DEFAULT 0,
			active BIGINT NOT NULL DEFAULT 1,
			defined_at BIGINT NOT NULL,
			PRIMARY KEY (campaign, name)
		)`,
		// One award per rule and transaction, ever: what a payment was
		// judged to get (state waiting, queued to be paid as row_no,
		// skipped, refused at confirmation, cancelled by a refund), written
		// before the notification is answered.
		`CREATE TABLE redpack_rule_award (
			campaign TEXT NOT NULL,
			rule TEXT NOT NULL,
			transaction_id TEXT NOT NULL,
			out_trade_no TEXT NOT NULL,
			appid TEXT NOT NULL,
			openid TEXT NOT NULL,
			total_fee BIGINT NOT NULL,
			cash_fee BIGINT NOT NULL,
			time_end BIGINT NOT NULL,
			day TEXT NOT NULL,
			amount BIGINT NOT NULL,
			state TEXT NOT NULL,
			why TEXT NOT NULL DEFAULT '',
			reason TEXT NOT NULL DEFAULT '',
			confirm BIGINT NOT NULL,
			hold_until BIGINT NOT NULL,
			template TEXT NOT NULL DEFAULT '',
			job_id BIGINT NOT NULL DEFAULT 0,
			row_no BIGINT NOT NULL DEFAULT 0,
			created_at BIGINT NOT NULL,
			decided_at BIGINT NOT NULL DEFAULT 0,
			refund_fee BIGINT NOT NULL DEFAULT 0,
			refunded_at BIGINT NOT NULL DEFAULT 0,
			PRIMARY KEY (campaign, rule, transaction_id)
		)`,
		`CREATE INDEX redpack_rule_award_state ON redpack_rule_award (campaign, state)`,
		`CREATE INDEX redpack_rule_award_tx ON redpack_rule_award (campaign, transaction_id)`,
		// Refund notifications applied, once each (WeChat re-delivers them
		// as it does payments).
		`CREATE TABLE redpack_rule_refund (
			campaign TEXT NOT NULL,
			refund_id TEXT NOT NULL,
			transaction_id TEXT NOT NULL,
			refund_fee BIGINT NOT NULL,
			received_at BIGINT NOT NULL,
			PRIMARY KEY (campaign, refund_id)
		)`,
		`CREATE INDEX redpack_rule_refund_tx ON redpack_rule_refund (campaign, transaction_id)`,
		// What each user has been awarded under a rule: per China day of
		// the payments, and in all (day '').
		`CREATE TABLE redpack_rule_user (
			campaign TEXT NOT NULL,
			rule TEXT NOT NULL,
			openid TEXT NOT NULL,
			day TEXT NOT NULL,
			packets BIGINT NOT NULL,
			amount BIGINT NOT NULL,
			PRIMARY KEY (campaign, rule, openid, day)
		)`,
	}, {
		// The paid series of a watcher (PaidPerMinute) from the index
		// alone: at 200,000 rows reading the table for each paid row's
		// settled_at and amount was most of a dashboard poll.
		`CREATE INDEX redpack_campaign_row_settled ON redpack_campaign_row (campaign, outcome, settled_at, amount)`,
	}}
}

// engine is what Store needs of eng, hiding its type parameters.
type engine interface {
	watchQueries
	close() error
	riverDriver() any
	migrate(ctx context.Context) error
	create(ctx context.Context, c *Spec, rows []Row) (*Info, error)
	defineRules(ctx context.Context, name string, set *RuleSet, mchID string) error
	award(ctx context.Context, name string, n *redpack.PaymentNotification, opts *AwardOptions) ([]Award, error)
	refund(ctx context.Context, name string, n *redpack.RefundNotification, now time.Time) ([]Award, error)
	ruleStatus(ctx context.Context, name string, now time.Time) (*RuleSetStatus, error)
	ruleKind(ctx context.Context, name string) (string, error)
	awards(ctx context.Context, name string, fn func(AwardRow) error) error
	info(ctx context.Context, name string) (*Info, error)
	list(ctx context.Context) ([]Summary, error)
	touchRun(ctx context.Context, name string, now time.Time) error
	names(ctx context.Context) ([]string, error)
	hasJournal(ctx context.Context) (bool, error)
	totals(ctx context.Context, name string, now time.Time) (*Totals, error)
	report(ctx context.Context, name string, fn func(ReportRow) error) error
	reissue(ctx context.Context, name string, sel Selection, dryRun bool, newBill func() string) ([]Reissued, error)
	run(ctx context.Context, name string, cfg *RunConfig) (*Totals, error)
	queryRower() queryRower
}
