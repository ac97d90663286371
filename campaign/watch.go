package campaign

import (
	"context"
	"time"
)

// The queries of this file serve a watcher (the dashboard of "redpack
// campaign serve"): figures over time, and the rows a person must act on.
// Like Status they only read the journal.

// Bucket is one interval of a series: how many rows (or awards) and how
// much money fell in the interval starting At.
type Bucket struct {
	At     time.Time `json:"at"`
	Count  int64     `json:"count"`
	Amount int64     `json:"amount"` // fen
}

// watchQueries are the engine's queries for watchers.
type watchQueries interface {
	paidSeries(ctx context.Context, name string, step time.Duration) ([]Bucket, error)
	awardSeries(ctx context.Context, name string, step time.Duration) ([]Bucket, error)
	needsPerson(ctx context.Context, name string, before time.Time, limit int) ([]ReportRow, error)
}

// PaidPerMinute returns the campaign's paid rows by the minute their
// payment was journalled (settled_at), oldest first; minutes without a
// payment are left out. Its counts add up to Status's Paid.
func (s *Store) PaidPerMinute(ctx context.Context, name string) ([]Bucket, error) {
	b, err := s.e.paidSeries(ctx, name, time.Minute)
	return b, s.notFound(ctx, name, err)
}

// AwardsPerHour returns a rule set's awards (waiting or queued: the ones
// that take budget) by the hour they were made, oldest first; hours
// without one are left out.
func (s *Store) AwardsPerHour(ctx context.Context, name string) ([]Bucket, error) {
	b, err := s.e.awardSeries(ctx, name, time.Hour)
	return b, s.notFound(ctx, name, err)
}

// NeedsPerson returns, in row order and at most limit of them, the rows a
// person must act on: rows whose outcome is still unknown although their
// bill number was first sent before unknownSince (a run settles them;
// past 24 hours only a query can), and rows definitely not paid, which a
// reissue may send again once the cause is fixed.
func (s *Store) NeedsPerson(ctx context.Context, name string, unknownSince time.Time, limit int) ([]ReportRow, error) {
	rows, err := s.e.needsPerson(ctx, name, unknownSince, limit)
	return rows, s.notFound(ctx, name, err)
}

func (e *eng[TD, TTx]) paidSeries(ctx context.Context, name string, step time.Duration) ([]Bucket, error) {
	if _, err := e.info(ctx, name); err != nil {
		return nil, err
	}
	return e.series(ctx, `SELECT CAST(settled_at / $2 AS BIGINT), COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT)
		FROM redpack_campaign_row WHERE campaign = $1 AND outcome = 'paid' GROUP BY 1 ORDER BY 1`, name, step)
}

func (e *eng[TD, TTx]) awardSeries(ctx context.Context, name string, step time.Duration) ([]Bucket, error) {
	if _, err := e.ruleKind(ctx, name); err != nil {
		return nil, err
	}
	return e.series(ctx, `SELECT CAST(created_at / $2 AS BIGINT), COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT)
		FROM redpack_rule_award WHERE campaign = $1 AND state IN ('waiting', 'queued') GROUP BY 1 ORDER BY 1`, name, step)
}

// series runs q, whose columns are an interval number (milliseconds / $2),
// a count and an amount.
func (e *eng[TD, TTx]) series(ctx context.Context, q, name string, step time.Duration) ([]Bucket, error) {
	var out []Bucket
	err := e.inTx(ctx, func(tx TTx) error {
		out = out[:0]
		r, err := e.db.query(ctx, tx, q, name, step.Milliseconds())
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var b Bucket
			var n int64
			if err := r.Scan(&n, &b.Count, &b.Amount); err != nil {
				return err
			}
			b.At = time.UnixMilli(n * step.Milliseconds())
			out = append(out, b)
		}
		return r.Err()
	})
	return out, err
}

func (e *eng[TD, TTx]) needsPerson(ctx context.Context, name string, before time.Time, limit int) ([]ReportRow, error) {
	if _, err := e.info(ctx, name); err != nil {
		return nil, err
	}
	var out []ReportRow
	err := e.inTx(ctx, func(tx TTx) error {
		out = out[:0]
		r, err := e.db.query(ctx, tx, `SELECT row_no, line, openid, amount, bill_no, outcome, status, err_code, err_msg,
				send_listid, fs, settled_at, reissues
			FROM (SELECT *, `+firstSentSQL+` AS fs FROM redpack_campaign_row WHERE campaign = $1 AND outcome IN ('unknown', 'not_paid')) AS w
			WHERE outcome = 'not_paid' OR (fs > 0 AND fs < $2) ORDER BY row_no LIMIT $3`, name, before.UnixMilli(), int64(limit))
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var (
				rr     ReportRow
				fs, st int64
			)
			if err := r.Scan(&rr.Row, &rr.Line, &rr.OpenID, &rr.Amount, &rr.BillNo, &rr.Outcome, &rr.Status, &rr.ErrCode,
				&rr.ErrMsg, &rr.SendListID, &fs, &st, &rr.Reissues); err != nil {
				return err
			}
			rr.Outcome = reportOutcome(rr.Outcome)
			rr.FirstSentAt, rr.SettledAt = millis(fs), millis(st)
			out = append(out, rr)
		}
		return r.Err()
	})
	return out, err
}
