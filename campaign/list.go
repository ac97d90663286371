package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redpack-go/redpack/internal/suggest"
)

// Summary is one campaign of List: its rows counted by outcome.
type Summary struct {
	Name string `json:"name"`
	// RuleSet: a rule set, whose rows are made from payments.
	RuleSet bool   `json:"rule_set,omitempty"`
	MchID   string `json:"mch_id,omitempty"`
	Source  string `json:"source"`
	// FileSHA256 is the SHA-256 of the file the campaign was imported
	// from, if Create was told it.
	FileSHA256 string `json:"file_sha256,omitempty"`

	Rows    int64 `json:"rows"`
	Paid    int64 `json:"paid"`
	NotPaid int64 `json:"not_paid"`
	Unknown int64 `json:"unknown"`
	Pending int64 `json:"pending"`

	AmountTotal int64 `json:"amount_total"` // fen, every row
	AmountPaid  int64 `json:"amount_paid"`  // fen

	CreatedAt time.Time `json:"created_at"`
	// LastRunAt is when a run of the campaign last started; zero if none
	// has.
	LastRunAt time.Time `json:"last_run_at,omitzero"`
}

// List returns every campaign in the database, by name, with its rows
// counted by outcome. It reads the journal only.
func (s *Store) List(ctx context.Context) ([]Summary, error) {
	return s.e.list(ctx)
}

func (e *eng[TD, TTx]) list(ctx context.Context) ([]Summary, error) {
	var out []Summary
	err := e.inTx(ctx, func(tx TTx) error {
		out = out[:0]
		// One snapshot, so that a campaign's amount and its rows' counts
		// agree while a rule set queues awards.
		if err := e.snapshot(ctx, tx); err != nil {
			return err
		}
		r, err := e.db.query(ctx, tx, `SELECT name, mch_id, source, file_sha256, total_amount, created_at, last_run_at, kind FROM redpack_campaign ORDER BY name`)
		if err != nil {
			return err
		}
		at := map[string]int{}
		for r.Next() {
			var (
				sm               Summary
				created, lastRun int64
				kind             string
			)
			if err := r.Scan(&sm.Name, &sm.MchID, &sm.Source, &sm.FileSHA256, &sm.AmountTotal, &created, &lastRun, &kind); err != nil {
				r.Close()
				return err
			}
			sm.RuleSet = kind == kindRules
			sm.CreatedAt, sm.LastRunAt = time.UnixMilli(created), millis(lastRun)
			at[sm.Name] = len(out)
			out = append(out, sm)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		r, err = e.db.query(ctx, tx, `SELECT campaign, outcome, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT)
			FROM redpack_campaign_row GROUP BY campaign, outcome`)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var (
				name, outcome string
				n, amount     int64
			)
			if err := r.Scan(&name, &outcome, &n, &amount); err != nil {
				return err
			}
			i, ok := at[name]
			if !ok {
				continue
			}
			sm := &out[i]
			sm.Rows += n
			switch outcome {
			case dbPending:
				sm.Pending += n
			case dbUnknown:
				sm.Unknown += n
			case dbPaid:
				sm.Paid += n
				sm.AmountPaid += amount
			case dbNotPaid:
				sm.NotPaid += n
			}
		}
		return r.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Names returns the names of the database's campaigns, sorted: for a
// "did you mean" or a shell's completion. It reads no row.
func (s *Store) Names(ctx context.Context) ([]string, error) {
	return s.e.names(ctx)
}

func (e *eng[TD, TTx]) names(ctx context.Context) (names []string, err error) {
	err = e.inTx(ctx, func(tx TTx) error {
		names, err = column[string](ctx, e.db, tx, `SELECT name FROM redpack_campaign ORDER BY name`)
		return err
	})
	return names, err
}

// touchRun records that a run of the campaign starts now, for List's
// LastRunAt. Run calls it once, before it takes a row; a campaign that
// does not exist is ErrNotFound.
func (e *eng[TD, TTx]) touchRun(ctx context.Context, name string, now time.Time) error {
	return e.inTx(ctx, func(tx TTx) error {
		n, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign SET last_run_at = $1 WHERE name = $2`, now.UnixMilli(), name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("campaign %s: %w", name, ErrNotFound)
		}
		return nil
	})
}

// hasJournal reports whether the database holds the campaign journal.
func (e *eng[TD, TTx]) hasJournal(ctx context.Context) (bool, error) {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'redpack_campaign'`
	if e.kind == "postgres" {
		// to_regclass looks the name up along the search_path, as the
		// journal's own queries do.
		q = `SELECT CASE WHEN to_regclass('redpack_campaign') IS NULL THEN 0 ELSE 1 END`
	}
	var n int64
	if err := e.db.queryRow(ctx, q, nil, &n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// NotFoundError is ErrNotFound for a campaign name, with the database's
// closest name when one is close enough to be a typo. errors.Is(err,
// ErrNotFound) holds for it.
type NotFoundError struct {
	Name       string
	DidYouMean string // "" when no name is close
}

// Error implements error.
func (e *NotFoundError) Error() string {
	if e.DidYouMean == "" {
		return fmt.Sprintf("no campaign %q", e.Name)
	}
	return fmt.Sprintf("no campaign %q; did you mean %q?", e.Name, e.DidYouMean)
}

// Is makes errors.Is(err, ErrNotFound) hold.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// notFound turns err, when it is ErrNotFound for the campaign name, into a
// *NotFoundError naming the closest campaign; any other error is returned
// as it is.
func (s *Store) notFound(ctx context.Context, name string, err error) error {
	var nf *NotFoundError
	if err == nil || !errors.Is(err, ErrNotFound) || errors.As(err, &nf) {
		return err
	}
	names, nerr := s.Names(ctx)
	if nerr != nil || slices.Contains(names, name) {
		return err // a row, not the campaign, is missing
	}
	return &NotFoundError{Name: name, DidYouMean: suggest.Closest(name, names)}
}

// createLockKey is the PostgreSQL advisory lock imports of a file with a
// SHA-256 take in turn.
const createLockKey = 7426512094

// sameFile returns a *SameFileError if another campaign came from the
// file spec names.
func (e *eng[TD, TTx]) sameFile(ctx context.Context, tx TTx, spec *Spec) error {
	r, err := e.db.query(ctx, tx, `SELECT name FROM redpack_campaign WHERE file_sha256 = $1 AND name <> $2 ORDER BY created_at, name LIMIT 1`,
		spec.FileSHA256, spec.Name)
	if err != nil {
		return err
	}
	defer r.Close()
	if r.Next() {
		var other string
		if err := r.Scan(&other); err != nil {
			return err
		}
		return &SameFileError{Campaign: other, SHA256: spec.FileSHA256}
	}
	return r.Err()
}
