package campaign

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Journal outcomes as stored; they only ever move up: pending → unknown →
// paid or not_paid.
const (
	dbPending = "pending"
	dbUnknown = "unknown"
	dbPaid    = "paid"
	dbNotPaid = "not_paid"
)

func reportOutcome(o string) string {
	if o == dbNotPaid {
		return OutcomeNotPaid
	}
	return o
}

// rowArgs is a row's River job: which row to settle. Everything else is in
// the journal, which the worker reads first.
type rowArgs struct {
	Campaign string `json:"c"`
	Row      int64  `json:"r"`
}

// Kind implements river.JobArgs.
func (rowArgs) Kind() string { return "redpack_campaign_row" }

// liveStates are the job states in which a job will still be worked; one
// row has at most one such job (River's unique guard, on top of the
// journal's own).
var liveStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

func queueOf(campaign string) string { return "redpack_campaign_" + campaign }

func insertParams(campaign string, rowNo int64) river.InsertManyParams {
	return river.InsertManyParams{
		Args: rowArgs{Campaign: campaign, Row: rowNo},
		InsertOpts: &river.InsertOpts{
			Queue: queueOf(campaign),
			// One attempt: a rescued job is discarded, never worked again,
			// so an attempt River replaced can only touch its own job; the
			// sweep gives the row a new one. Snoozes do not count.
			MaxAttempts: 1,
			UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: liveStates},
		},
	}
}

// inserter returns the store's insert-only River client, made at its
// first use: making one per award would cost more than the award's
// transaction.
func (e *eng[TD, TTx]) inserter() (*river.Client[TTx], error) {
	e.insOnce.Do(func() {
		e.ins, e.insErr = river.NewClient[TTx](e.driver, &river.Config{Logger: quietLogger()})
	})
	return e.ins, e.insErr
}

// importBatch is how many rows one statement writes.
const importBatch = 400

func (e *eng[TD, TTx]) create(ctx context.Context, spec *Spec, rows []Row) (*Info, error) {
	rc, err := e.inserter()
	if err != nil {
		return nil, err
	}
	tmpl, err := json.Marshal(spec.Template)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, r := range rows {
		total += r.Amount
	}
	now := time.Now()
	err = e.inTx(ctx, func(tx TTx) error {
		if spec.FileSHA256 != "" && !spec.AllowSameFile && e.kind == "postgres" {
			// Two imports of one file at once would each find no other:
			// imports take turns (SQLite's write lock does this there).
			if _, err := e.db.exec(ctx, tx, `SELECT pg_advisory_xact_lock($1)`, int64(createLockKey)); err != nil {
				return err
			}
		}
		n, err := e.db.exec(ctx, tx, `INSERT INTO redpack_campaign (name, mch_id, template, source, row_count, total_amount, created_at, file_sha256)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING`,
			spec.Name, spec.MchID, string(tmpl), spec.Source, int64(len(rows)), total, now.UnixMilli(), spec.FileSHA256)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("campaign %s: %w", spec.Name, ErrExists)
		}
		if spec.FileSHA256 != "" && !spec.AllowSameFile {
			if err := e.sameFile(ctx, tx, spec); err != nil {
				return err
			}
		}
		for start := 0; start < len(rows); start += importBatch {
			batch := rows[start:min(start+importBatch, len(rows))]
			if err := e.insertRows(ctx, tx, rc, spec.Name, batch); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Info{Name: spec.Name, MchID: spec.MchID, Template: spec.Template, Source: spec.Source,
		Rows: int64(len(rows)), TotalAmount: total, CreatedAt: time.UnixMilli(now.UnixMilli())}, nil
}

// insertRows writes rows' journal entries, with their bill numbers, and
// their jobs, in tx.
func (e *eng[TD, TTx]) insertRows(ctx context.Context, tx TTx, rc *river.Client[TTx], name string, batch []Row) error {
	params := make([]river.InsertManyParams, len(batch))
	for i, r := range batch {
		params[i] = insertParams(name, r.Row)
	}
	res, err := rc.InsertManyTx(ctx, tx, params)
	if err != nil {
		return fmt.Errorf("insert jobs: %w", err)
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO redpack_campaign_row (campaign, row_no, line, openid, amount, bill_no, job_id) VALUES `)
	args := make([]any, 0, 7*len(batch))
	for i, r := range batch {
		if i > 0 {
			q.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
		args = append(args, name, r.Row, r.Line, r.OpenID, r.Amount, newBillNo(), res[i].Job.ID)
	}
	_, err = e.db.exec(ctx, tx, q.String(), args...)
	return err
}

func (e *eng[TD, TTx]) info(ctx context.Context, name string) (*Info, error) {
	var (
		in               Info
		tmpl             string
		created, lastRun int64
	)
	err := e.inTx(ctx, func(tx TTx) error {
		r, err := e.db.query(ctx, tx, `SELECT name, mch_id, template, source, row_count, total_amount, created_at, last_run_at, kind FROM redpack_campaign WHERE name = $1`, name)
		if err != nil {
			return err
		}
		defer r.Close()
		if !r.Next() {
			if err := r.Err(); err != nil {
				return err
			}
			return fmt.Errorf("campaign %s: %w", name, ErrNotFound)
		}
		var kind string
		if err := r.Scan(&in.Name, &in.MchID, &tmpl, &in.Source, &in.Rows, &in.TotalAmount, &created, &lastRun, &kind); err != nil {
			return err
		}
		in.RuleSet = kind == kindRules
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tmpl), &in.Template); err != nil {
		return nil, fmt.Errorf("campaign %s: template: %w", name, err)
	}
	in.CreatedAt, in.LastRunAt = time.UnixMilli(created), millis(lastRun)
	return &in, nil
}

func (e *eng[TD, TTx]) totals(ctx context.Context, name string, now time.Time) (*Totals, error) {
	if _, err := e.info(ctx, name); err != nil {
		return nil, err
	}
	var t *Totals
	err := e.inTx(ctx, func(tx TTx) error {
		if err := e.snapshot(ctx, tx); err != nil {
			return err
		}
		var err error
		t, err = e.totalsTx(ctx, tx, name, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// snapshot makes a PostgreSQL transaction read one snapshot for all its
// queries, so that figures read together agree while rows are paid
// (SQLite's transactions are snapshots already). It must come first.
func (e *eng[TD, TTx]) snapshot(ctx context.Context, tx TTx) error {
	if e.kind != "postgres" {
		return nil
	}
	_, err := e.db.exec(ctx, tx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`)
	return err
}

// totalsTx reads the campaign's totals inside tx.
func (e *eng[TD, TTx]) totalsTx(ctx context.Context, tx TTx, name string, now time.Time) (*Totals, error) {
	t := &Totals{Refusals: map[string]int64{}}
	var heldUntil int64
	err := func() error {
		r, err := e.db.query(ctx, tx, `SELECT outcome, CASE WHEN held_until > $2 THEN 1 ELSE 0 END, gave_up,
				CASE WHEN send_gen > done_gen AND send_deadline > $2 THEN 1 ELSE 0 END,
				COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT), CAST(COALESCE(MIN(held_until), 0) AS BIGINT),
				CAST(COALESCE(MAX(send_deadline), 0) AS BIGINT)
			FROM redpack_campaign_row WHERE campaign = $1
			GROUP BY outcome, CASE WHEN held_until > $2 THEN 1 ELSE 0 END, gave_up, CASE WHEN send_gen > done_gen AND send_deadline > $2 THEN 1 ELSE 0 END`,
			name, now.UnixMilli())
		if err != nil {
			return err
		}
		for r.Next() {
			var (
				outcome                     string
				held, gaveUp, flying, n, am int64
				hu, dl                      int64
			)
			if err := r.Scan(&outcome, &held, &gaveUp, &flying, &n, &am, &hu, &dl); err != nil {
				r.Close()
				return err
			}
			t.Rows += n
			t.AmountTotal += am
			switch outcome {
			case dbPending:
				t.Pending += n
				if held == 1 {
					t.Held += n
					if heldUntil == 0 || hu < heldUntil {
						heldUntil = hu
					}
				} else {
					t.Open += n
				}
			case dbUnknown:
				t.Unknown += n
				if flying == 1 {
					t.InFlight += n
					if dl > t.InFlightUntil.UnixMilli() {
						t.InFlightUntil = time.UnixMilli(dl)
					}
				}
				if gaveUp == 1 {
					t.GaveUp += n
				} else {
					t.Open += n
				}
			case dbPaid:
				t.Paid += n
				t.AmountPaid += am
			case dbNotPaid:
				t.NotPaid += n
			}
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		aw, err := column[int64](ctx, e.db, tx, `SELECT COUNT(*) FROM redpack_rule_award WHERE campaign = $1 AND state = 'waiting'`, name)
		if err != nil {
			return err
		}
		t.Awaiting = aw[0]
		t.Open += t.Awaiting
		r, err = e.db.query(ctx, tx, `SELECT CASE WHEN err_code = '' THEN status ELSE err_code END, COUNT(*)
			FROM redpack_campaign_row WHERE campaign = $1 AND outcome = 'not_paid' GROUP BY 1`, name)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var code string
			var n int64
			if err := r.Scan(&code, &n); err != nil {
				return err
			}
			t.Refusals[code] = n
		}
		return r.Err()
	}()
	if err != nil {
		return nil, err
	}
	if heldUntil > 0 {
		t.HeldUntil = time.UnixMilli(heldUntil)
	}
	return t, nil
}

// reportPage is how many rows one report query reads.
const reportPage = 2000

func (e *eng[TD, TTx]) report(ctx context.Context, name string, fn func(ReportRow) error) error {
	if _, err := e.info(ctx, name); err != nil {
		return err
	}
	after := int64(0)
	for {
		var page []ReportRow
		err := e.inTx(ctx, func(tx TTx) error {
			r, err := e.db.query(ctx, tx, `SELECT row_no, line, openid, amount, bill_no, outcome, status, err_code, err_msg,
					send_listid, `+firstSentSQL+`,
					settled_at, held_until, reissues
				FROM redpack_campaign_row WHERE campaign = $1 AND row_no > $2 ORDER BY row_no LIMIT $3`, name, after, int64(reportPage))
			if err != nil {
				return err
			}
			defer r.Close()
			for r.Next() {
				var (
					rr           ReportRow
					fs, st, held int64
				)
				if err := r.Scan(&rr.Row, &rr.Line, &rr.OpenID, &rr.Amount, &rr.BillNo, &rr.Outcome, &rr.Status, &rr.ErrCode,
					&rr.ErrMsg, &rr.SendListID, &fs, &st, &held, &rr.Reissues); err != nil {
					return err
				}
				rr.Outcome = reportOutcome(rr.Outcome)
				rr.FirstSentAt, rr.SettledAt = millis(fs), millis(st)
				if rr.Outcome == OutcomePending {
					rr.HeldUntil = millis(held)
				}
				page = append(page, rr)
			}
			return r.Err()
		})
		if err != nil {
			return err
		}
		for _, rr := range page {
			if err := fn(rr); err != nil {
				return err
			}
		}
		if len(page) < reportPage {
			return nil
		}
		after = page[len(page)-1].Row
	}
}

func millis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// NotReissuableError lists rows Reissue refused, with why.
type NotReissuableError struct {
	Rows map[int64]string // row → its outcome, or "no such row"
}

// Error implements error: the refused rows in order, as ranges, grouped
// by why ("rows 3-9, 12 are paid; row 15 is unknown").
func (e *NotReissuableError) Error() string {
	byWhy := map[string][]int64{}
	var whys []string
	rows := make([]int64, 0, len(e.Rows))
	for row := range e.Rows {
		rows = append(rows, row)
	}
	slices.Sort(rows)
	for _, row := range rows {
		why := e.Rows[row]
		if byWhy[why] == nil {
			whys = append(whys, why)
		}
		byWhy[why] = append(byWhy[why], row)
	}
	parts := make([]string, len(whys))
	for i, why := range whys {
		rs := byWhy[why]
		noun, verb := "row", "is"
		if len(rs) > 1 {
			noun, verb = "rows", "are"
		}
		if why == "no such row" {
			why, verb = "exist", "does not"
			if len(rs) > 1 {
				verb = "do not"
			}
		}
		parts[i] = fmt.Sprintf("%s %s %s %s", noun, compactRows(rs, 20), verb, why)
	}
	return "only rows definitely not paid can be reissued: " + strings.Join(parts, "; ")
}

// compactRows writes sorted row numbers as ranges ("3-9, 12"), at most
// limit ranges and then how many rows more.
func compactRows(rows []int64, limit int) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(rows); {
		j := i
		for j+1 < len(rows) && rows[j+1] == rows[j]+1 {
			j++
		}
		if n == limit {
			fmt.Fprintf(&b, ", … (%d more)", len(rows)-i)
			break
		}
		if n > 0 {
			b.WriteString(", ")
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", rows[i], rows[j])
		} else {
			fmt.Fprintf(&b, "%d", rows[i])
		}
		n++
		i = j + 1
	}
	return b.String()
}

// reissuable is a row a reissue selected, as the journal holds it.
type reissuable struct {
	row           int64
	bill, outcome string
	status, code  string
	firstSentAt   int64
}

// selectReissue returns the rows sel selects that can be reissued, in row
// order, or a *NotReissuableError when a row sel names cannot be.
func (e *eng[TD, TTx]) selectReissue(ctx context.Context, tx TTx, name string, sel Selection) ([]reissuable, error) {
	picked := map[int64]reissuable{}
	scan := func(q string, args ...any) ([]reissuable, error) {
		r, err := e.db.query(ctx, tx, q, args...)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		var out []reissuable
		for r.Next() {
			var c reissuable
			if err := r.Scan(&c.row, &c.bill, &c.outcome, &c.status, &c.code, &c.firstSentAt); err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, r.Err()
	}
	const cols = `SELECT row_no, bill_no, outcome, status, err_code, first_sent_at FROM redpack_campaign_row WHERE campaign = $1`
	if len(sel.Rows) > 0 {
		// Each row is taken once: a row named twice is not seen again
		// after its reissue, as pending.
		want := slices.Clone(sel.Rows)
		slices.Sort(want)
		want = slices.Compact(want)
		found, err := scan(cols+` AND row_no BETWEEN $2 AND $3 ORDER BY row_no`, name, want[0], want[len(want)-1])
		if err != nil {
			return nil, err
		}
		have := make(map[int64]reissuable, len(found))
		for _, c := range found {
			have[c.row] = c
		}
		bad := map[int64]string{}
		for _, row := range want {
			c, ok := have[row]
			switch {
			case !ok:
				bad[row] = "no such row"
			case c.outcome != dbNotPaid:
				bad[row] = reportOutcome(c.outcome)
			default:
				picked[row] = c
			}
		}
		if len(bad) > 0 {
			return nil, &NotReissuableError{Rows: bad}
		}
	}
	if sel.NotPaid || len(sel.ErrCodes) > 0 {
		notPaid, err := scan(cols+` AND outcome = 'not_paid' ORDER BY row_no`, name)
		if err != nil {
			return nil, err
		}
		for _, c := range notPaid {
			code := c.code
			if code == "" {
				code = c.status // FAILED: a query found the packet failed
			}
			if sel.NotPaid || slices.ContainsFunc(sel.ErrCodes, func(s string) bool { return strings.EqualFold(s, code) }) {
				picked[c.row] = c
			}
		}
	}
	out := make([]reissuable, 0, len(picked))
	for _, c := range picked {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b reissuable) int { return cmp.Compare(a.row, b.row) })
	return out, nil
}

func (e *eng[TD, TTx]) reissue(ctx context.Context, name string, sel Selection, dryRun bool, newBill func() string) ([]Reissued, error) {
	if _, err := e.info(ctx, name); err != nil {
		return nil, err
	}
	rc, err := e.inserter()
	if err != nil {
		return nil, err
	}
	var out []Reissued
	err = e.inTx(ctx, func(tx TTx) error {
		out = out[:0]
		now := time.Now().UnixMilli()
		rows, err := e.selectReissue(ctx, tx, name, sel)
		if err != nil {
			return err
		}
		for _, c := range rows {
			rowNo, bill, outcome, status, code, fs := c.row, c.bill, c.outcome, c.status, c.code, c.firstSentAt
			if dryRun {
				out = append(out, Reissued{Row: rowNo, OldBill: bill})
				continue
			}
			if _, err := e.db.exec(ctx, tx, `INSERT INTO redpack_campaign_old_bill (bill_no, campaign, row_no, outcome, status, err_code, first_sent_at, replaced_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, bill, name, rowNo, outcome, status, code, fs, now); err != nil {
				return err
			}
			res, err := rc.InsertManyTx(ctx, tx, []river.InsertManyParams{insertParams(name, rowNo)})
			if err != nil {
				return err
			}
			nb := newBill()
			n, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET bill_no = $1, job_id = $2, outcome = 'pending', status = '', err_code = '',
					err_msg = '', send_listid = '', first_sent_at = 0, limit_day = '', settled_at = 0, settle_tries = 0, gave_up = 0,
					held_until = 0, resend_closed = 0, reissues = reissues + 1, updated_at = $3,
					send_at = 0, send_deadline = 0, done_gen = send_gen
				WHERE campaign = $4 AND row_no = $5 AND bill_no = $6 AND outcome = 'not_paid'`, nb, res[0].Job.ID, now, name, rowNo, bill)
			if err != nil {
				return err
			}
			if n != 1 {
				return errors.New("reissue: the row changed under us")
			}
			out = append(out, Reissued{Row: rowNo, OldBill: bill, NewBill: nb})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// jrow is a row as the worker reads it from the journal.
type jrow struct {
	campaign     string
	row          int64
	openid       string
	amount       int64
	billNo       string
	outcome      string
	firstSentAt  int64
	settleTries  int64
	gaveUp       bool
	heldUntil    int64
	resendClosed bool
	errCode      string
	// Fencing: the newest send generation, when it began and by when its
	// attempt is surely over, and the newest generation journalled.
	sendGen      int64
	sendAt       int64
	sendDeadline int64
	doneGen      int64
	// template is a rule set's row's packet template (JSON), fixed when
	// the award was queued; "" for a file's row, which uses the
	// campaign's.
	template string
}

func (e *eng[TD, TTx]) loadRow(ctx context.Context, campaign string, rowNo int64) (*jrow, error) {
	jr := &jrow{campaign: campaign, row: rowNo}
	var gaveUp, closed int64
	// One statement, outside a transaction: the worker's first read costs a
	// single round trip.
	err := e.db.queryRow(ctx, `SELECT openid, amount, bill_no, outcome, first_sent_at, settle_tries, gave_up, held_until, resend_closed,
			err_code, send_gen, send_at, send_deadline, done_gen, template
		FROM redpack_campaign_row WHERE campaign = $1 AND row_no = $2`, []any{campaign, rowNo},
		&jr.openid, &jr.amount, &jr.billNo, &jr.outcome, &jr.firstSentAt, &jr.settleTries, &gaveUp, &jr.heldUntil, &closed,
		&jr.errCode, &jr.sendGen, &jr.sendAt, &jr.sendDeadline, &jr.doneGen, &jr.template)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("campaign %s row %d: %w", campaign, rowNo, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	jr.gaveUp, jr.resendClosed = gaveUp == 1, closed == 1
	return jr, nil
}

// final reports whether the row's outcome is definite.
func (r *jrow) final() bool { return r.outcome == dbPaid || r.outcome == dbNotPaid }

// open reports whether the newest send generation's attempt has not
// journalled its result: it may still be sending, or it died.
func (r *jrow) open() bool { return r.sendGen > r.doneGen }

// firstSent is when the row's bill number may first have reached WeChat:
// the earliest send that may have left, an open attempt's included (it
// may have left before it died); 0 if none may have. firstSentSQL is its
// twin in SQL.
func (r *jrow) firstSent() int64 {
	if r.open() && r.sendAt > 0 && (r.firstSentAt == 0 || r.sendAt < r.firstSentAt) {
		return r.sendAt
	}
	return r.firstSentAt
}
