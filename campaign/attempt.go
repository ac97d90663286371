package campaign

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/redpack-go/redpack"
)

// The journal writes of one attempt at a row, fenced by send generation.
//
// Each time a row's bill number may be sent, the attempt first takes a new
// send generation (claim for a pending row, beginSettle for an unknown
// one), in a transaction that also records when it began and by when it is
// surely over. Its result is then written under that generation (apply):
//
//   - What is about the bill number itself (paid, SEND_FAILED, a query's
//     FAILED) is true whatever came after, and is always written.
//   - A refusal of the request (NOTENOUGH, FREQ_LIMIT, SIGN_ERROR …) says
//     nothing was paid only while its generation is the newest: an attempt
//     that a newer one replaced writes it as unknown, and the row settles
//     by query.
//   - A request that never left (redpack.RequestError) sent nothing: while
//     no other send of the bill number may have left, the row goes back to
//     pending, to be sent normally however much later.
//
// No write depends on timing: a stale attempt, however late, finds its
// generation replaced.

// updateKind says how apply writes an attempt's result.
type updateKind int

const (
	// updFinal: the outcome of the bill number itself (paid or not paid).
	updFinal updateKind = iota
	// updRefused: WeChat refused this attempt's request, which was the
	// bill number's first send that may have left.
	updRefused
	// updNotSent: the request never left.
	updNotSent
	// updUnknown: nothing settled.
	updUnknown
)

// update is what one attempt learnt about a row.
type update struct {
	kind       updateKind
	outcome    string // updFinal: dbPaid or dbNotPaid
	status     string
	errCode    string
	errMsg     string
	sendListID string
	// gen is the attempt's send generation (0: it sent nothing); left
	// says its request may have reached WeChat.
	gen  int64
	left bool
	// onlyPending (updFinal): the row was never sent (a cap kept it back),
	// so the outcome may be written only while it is still pending.
	onlyPending bool
	// updRefused: retry keeps the row for another send under the same bill
	// number (NOTENOUGH, FREQ_LIMIT, a configuration refusal), not before
	// heldUntil; otherwise the row is not paid.
	retry     bool
	heldUntil int64
	// renew (with retry): WeChat recorded the refused bill number as a
	// failed packet (a daily cap), so a re-send would only be answered
	// SEND_FAILED. The journal keeps it as not paid and the row waits
	// under a new one, as Reissue would.
	renew bool
	// updUnknown only:
	settleTries  int64
	gaveUp       bool
	resendClosed bool
}

// firstSentSQL is when a row's bill number may first have reached WeChat:
// its first_sent_at, or an open attempt's start if earlier (that attempt
// may have sent before it died). jrow.firstSent is its twin in Go.
const firstSentSQL = `CASE WHEN send_gen > done_gen AND send_at > 0 AND (first_sent_at = 0 OR send_at < first_sent_at)
	THEN send_at ELSE first_sent_at END`

// genSet is the SET clause that closes an attempt's generation: done_gen
// moves to it while it is the newest, and a send that may have left
// counts towards first_sent_at. $1 is the generation, $2 is 1 when the
// request may have left.
const genSet = `done_gen = CASE WHEN send_gen = $1 THEN $1 ELSE done_gen END,
	first_sent_at = CASE WHEN $2 = 1 AND send_gen = $1 AND send_at > 0 AND (first_sent_at = 0 OR send_at < first_sent_at)
		THEN send_at ELSE first_sent_at END`

// apply writes u to the row, under its bill number and u's generation,
// only ever upgrading: a definite outcome is never overwritten. A row that
// leaves the sent state without being paid (not paid, or back to pending)
// releases what it had put towards the daily caps.
func (e *eng[TD, TTx]) apply(ctx context.Context, tx TTx, r *jrow, u *update, now time.Time) error {
	ms := now.UnixMilli()
	gen, left := u.gen, b2i(u.left)
	switch u.kind {
	case updFinal:
		from := `outcome IN ('pending', 'unknown')`
		if u.onlyPending {
			from = `outcome = 'pending'`
		}
		n, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET `+genSet+`, outcome = $3, status = $4, err_code = $5, err_msg = $6,
				send_listid = $7, settled_at = $8, updated_at = $8, gave_up = 0, held_until = 0
			WHERE campaign = $9 AND row_no = $10 AND bill_no = $11 AND `+from,
			gen, left, u.outcome, u.status, u.errCode, clip(u.errMsg), u.sendListID, ms, r.campaign, r.row, r.billNo)
		if err != nil {
			return err
		}
		if n == 1 && u.outcome == dbNotPaid {
			return e.release(ctx, tx, r)
		}
		return nil
	case updRefused:
		q := `UPDATE redpack_campaign_row SET ` + genSet + `, outcome = 'not_paid', status = $3, err_code = $4, err_msg = $5,
				settled_at = $6, updated_at = $6, held_until = $7
			WHERE campaign = $8 AND row_no = $9 AND bill_no = $10 AND outcome = 'unknown' AND send_gen = $1`
		if u.retry {
			q = `UPDATE redpack_campaign_row SET ` + genSet + `, outcome = 'pending', status = $3, err_code = $4, err_msg = $5,
				updated_at = $6, held_until = $7
			WHERE campaign = $8 AND row_no = $9 AND bill_no = $10 AND outcome = 'unknown' AND send_gen = $1`
		}
		n, err := e.db.exec(ctx, tx, q, gen, left, u.status, u.errCode, clip(u.errMsg), ms, u.heldUntil, r.campaign, r.row, r.billNo)
		if err != nil {
			return err
		}
		if n == 1 && u.renew {
			_, ok, err := e.renew(ctx, tx, r, gen, "FAILED", u.errCode, now)
			if err == nil && !ok {
				err = errors.New("renew: the row changed under us")
			}
			if err != nil {
				return err
			}
		}
		if n == 1 {
			return e.release(ctx, tx, r)
		}
		// A newer send replaced this attempt: its refusal proves nothing
		// about the bill number, which the row settles by query.
		return e.apply(ctx, tx, r, &update{kind: updUnknown, gen: gen, left: u.left, status: u.status, errCode: u.errCode,
			errMsg: "refused after a newer send of the bill number: " + u.errMsg, settleTries: r.settleTries, resendClosed: r.resendClosed}, now)
	case updNotSent:
		// Back to pending when this is the newest send: it came from a
		// claim of a pending row, whose earlier sends were all refused or
		// never left (a refused send's first_sent_at stays, for the resend
		// window), and no settle has re-sent the bill number since.
		n, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET done_gen = $1, outcome = 'pending', err_code = $2, err_msg = $3, updated_at = $4
			WHERE campaign = $5 AND row_no = $6 AND bill_no = $7 AND outcome = 'unknown' AND send_gen = $1`,
			gen, u.errCode, clip(u.errMsg), ms, r.campaign, r.row, r.billNo)
		if err != nil {
			return err
		}
		if n == 1 {
			return e.release(ctx, tx, r)
		}
		_, err = e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET `+genSet+`, err_code = $3, err_msg = $4, updated_at = $5
			WHERE campaign = $6 AND row_no = $7 AND bill_no = $8 AND outcome = 'unknown'`,
			gen, int64(0), u.errCode, clip(u.errMsg), ms, r.campaign, r.row, r.billNo)
		return err
	default:
		_, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET `+genSet+`, status = $3, err_code = $4, err_msg = $5, settle_tries = $6,
				gave_up = $7, resend_closed = CASE WHEN $8 = 1 THEN 1 ELSE resend_closed END, updated_at = $9
			WHERE campaign = $10 AND row_no = $11 AND bill_no = $12 AND outcome = 'unknown'`,
			gen, left, u.status, u.errCode, clip(u.errMsg), u.settleTries, b2i(u.gaveUp), b2i(u.resendClosed), ms, r.campaign, r.row, r.billNo)
		return err
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// clip shortens s to at most 500 bytes, on a character boundary:
// PostgreSQL refuses invalid UTF-8, and a message cut inside a Chinese
// character would make the journal write fail every time.
func clip(s string) string {
	if len(s) <= 500 {
		return s
	}
	cut := 500
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// claim takes a pending row for its first send (or its next send after
// refusals): a new send generation, with its start and deadline, the row
// marked sent (unknown) and put towards the daily caps, in one
// transaction, before the request is made; a cap that would be passed
// rolls it all back. It returns false when another attempt took the row
// first, or the cap's err_code when sending would exceed one. On success
// r holds the claimed row: its generation, and its bill number, which is a
// new one when every earlier send of the old was refused more than
// redpack.ResendWindow ago (WeChat would answer the old as expired).
func (e *eng[TD, TTx]) claim(ctx context.Context, r *jrow, mchID string, now time.Time, deadline time.Time, l Limits) (bool, string, error) {
	d := day(now)
	var claimed bool
	var code, bill string
	var first int64
	err := e.inTx(ctx, func(tx TTx) error {
		claimed, code, bill, first = false, "", r.billNo, r.firstSentAt
		if l.UserDailyAmount >= 0 && r.amount > l.UserDailyAmount {
			code = string(redpack.CodeRcvdAmountLimit)
			return nil
		}
		if first > 0 && now.Sub(time.UnixMilli(first)) >= redpack.ResendWindow {
			// Every send of the old bill number was refused (the row is
			// pending with a first send): the journal keeps it as not paid
			// and the row goes on under a new one, as Reissue would.
			nb, ok, err := e.renew(ctx, tx, r, r.sendGen, "", r.errCode, now)
			if err != nil {
				return err
			}
			if !ok {
				return errNotClaimed
			}
			bill, first = nb, 0
		}
		// The row first, then the counters: every transaction that touches
		// both locks them in this order (see release), so none deadlocks.
		n, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET outcome = 'unknown', send_gen = send_gen + 1, send_at = $1, send_deadline = $2,
				limit_day = $3, updated_at = $1, held_until = 0, err_code = '', err_msg = ''
			WHERE campaign = $4 AND row_no = $5 AND bill_no = $6 AND outcome = 'pending' AND send_gen = $7`,
			now.UnixMilli(), deadline.UnixMilli(), d, r.campaign, r.row, bill, r.sendGen)
		if err != nil {
			return err
		}
		if n == 0 {
			return errNotClaimed
		}
		ok, err := e.reserve(ctx, tx, mchID, d, r.openid, r.amount, int64(l.UserDailyCount), l.UserDailyAmount)
		if err != nil {
			return err
		}
		if !ok {
			code = string(redpack.CodeSendNumLimit)
			if l.UserDailyCount < 0 || e.countOf(ctx, tx, mchID, d, r.openid) < int64(l.UserDailyCount) {
				code = string(redpack.CodeRcvdAmountLimit)
			}
			return errCapped // the row goes back to pending
		}
		ok, err = e.reserve(ctx, tx, mchID, d, "", r.amount, -1, l.DailyAmount)
		if err != nil {
			return err
		}
		if !ok {
			code = string(redpack.CodeSendAmountLimit)
			return errCapped
		}
		claimed = true
		return nil
	})
	switch {
	case errors.Is(err, errCapped):
		return false, code, nil
	case errors.Is(err, errNotClaimed):
		return false, "", nil
	case err != nil:
		return false, "", err
	}
	if claimed {
		r.billNo, r.firstSentAt, r.outcome = bill, first, dbUnknown
		r.sendGen, r.sendAt, r.sendDeadline = r.sendGen+1, now.UnixMilli(), deadline.UnixMilli()
	}
	return claimed, code, nil
}

var (
	errCapped     = errors.New("daily cap reached")
	errNotClaimed = errors.New("row already claimed")
)

// beginSettle takes a new send generation for an unknown row before a
// settle that may re-send its bill number. An open attempt it replaces may
// have sent before it died, so its start counts towards first_sent_at. It
// returns false when another attempt took the row first.
func (e *eng[TD, TTx]) beginSettle(ctx context.Context, r *jrow, now, deadline time.Time) (bool, error) {
	var n int64
	err := e.inTx(ctx, func(tx TTx) error {
		var err error
		n, err = e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET
				first_sent_at = `+firstSentSQL+`,
				send_gen = send_gen + 1, send_at = $1, send_deadline = $2, updated_at = $1
			WHERE campaign = $3 AND row_no = $4 AND bill_no = $5 AND outcome = 'unknown' AND send_gen = $6`,
			now.UnixMilli(), deadline.UnixMilli(), r.campaign, r.row, r.billNo, r.sendGen)
		return err
	})
	if err != nil || n == 0 {
		return false, err
	}
	r.firstSentAt = r.firstSent()
	r.sendGen, r.sendAt, r.sendDeadline = r.sendGen+1, now.UnixMilli(), deadline.UnixMilli()
	return true, nil
}

// renew retires a pending row's bill number into the journal's old bills
// as not paid (with status and code) and gives the row a new one, in tx,
// unless the row is no longer pending under that bill number and send
// generation gen: then it reports false and tx must be rolled back.
func (e *eng[TD, TTx]) renew(ctx context.Context, tx TTx, r *jrow, gen int64, status, code string, now time.Time) (string, bool, error) {
	if _, err := e.db.exec(ctx, tx, `INSERT INTO redpack_campaign_old_bill (bill_no, campaign, row_no, outcome, status, err_code, first_sent_at, replaced_at)
		SELECT bill_no, campaign, row_no, 'not_paid', $1, $2, first_sent_at, $3 FROM redpack_campaign_row
		WHERE campaign = $4 AND row_no = $5 AND bill_no = $6`, status, code, now.UnixMilli(), r.campaign, r.row, r.billNo); err != nil {
		return "", false, err
	}
	nb := newBillNo()
	n, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET bill_no = $1, first_sent_at = 0, resend_closed = 0, reissues = reissues + 1
		WHERE campaign = $2 AND row_no = $3 AND bill_no = $4 AND outcome = 'pending' AND send_gen = $5`, nb, r.campaign, r.row, r.billNo, gen)
	return nb, n == 1, err
}

// reserve adds one packet of amount to the day's counter for openid (""
// for the merchant), unless that would pass maxCount or maxAmount
// (negative: no cap). One statement, so concurrent workers cannot both
// take the last place.
func (e *eng[TD, TTx]) reserve(ctx context.Context, tx TTx, mchID, d, openid string, amount, maxCount, maxAmount int64) (bool, error) {
	if maxCount < 0 {
		maxCount = 1 << 62
	}
	if maxAmount < 0 {
		maxAmount = 1 << 62
	}
	if amount > maxAmount {
		return false, nil
	}
	n, err := e.db.exec(ctx, tx, `INSERT INTO redpack_campaign_daily (mch_id, day, openid, packets, amount) VALUES ($1, $2, $3, 1, $4)
		ON CONFLICT (mch_id, day, openid) DO UPDATE SET packets = redpack_campaign_daily.packets + 1, amount = redpack_campaign_daily.amount + $4
		WHERE redpack_campaign_daily.packets + 1 <= $5 AND redpack_campaign_daily.amount + $4 <= $6`,
		mchID, d, openid, amount, maxCount, maxAmount)
	return n == 1, err
}

func (e *eng[TD, TTx]) countOf(ctx context.Context, tx TTx, mchID, d, openid string) int64 {
	r, err := e.db.query(ctx, tx, `SELECT packets FROM redpack_campaign_daily WHERE mch_id = $1 AND day = $2 AND openid = $3`, mchID, d, openid)
	if err != nil {
		return 0
	}
	defer r.Close()
	var n int64
	if r.Next() {
		_ = r.Scan(&n)
	}
	return n
}

// release takes a row that was not paid, or goes back to pending, off the
// day's counters.
func (e *eng[TD, TTx]) release(ctx context.Context, tx TTx, r *jrow) error {
	rr, err := e.db.query(ctx, tx, `SELECT c.mch_id, w.limit_day FROM redpack_campaign_row w JOIN redpack_campaign c ON c.name = w.campaign
		WHERE w.campaign = $1 AND w.row_no = $2`, r.campaign, r.row)
	if err != nil {
		return err
	}
	var mchID, d string
	if rr.Next() {
		err = rr.Scan(&mchID, &d)
	}
	rr.Close()
	if err != nil || d == "" {
		return err
	}
	for _, o := range []string{r.openid, ""} {
		if _, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_daily SET packets = packets - 1, amount = amount - $1
			WHERE mch_id = $2 AND day = $3 AND openid = $4 AND packets > 0`, r.amount, mchID, d, o); err != nil {
			return err
		}
	}
	_, err = e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET limit_day = '' WHERE campaign = $1 AND row_no = $2`, r.campaign, r.row)
	return err
}

// hold keeps a pending row back until until.
func (e *eng[TD, TTx]) hold(ctx context.Context, r *jrow, until time.Time, why string) error {
	return e.inTx(ctx, func(tx TTx) error {
		_, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET held_until = $1, err_code = 'HELD',
				err_msg = $2 WHERE campaign = $3 AND row_no = $4 AND outcome = 'pending'`,
			until.UnixMilli(), why, r.campaign, r.row)
		return err
	})
}
