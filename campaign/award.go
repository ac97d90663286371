package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/redpack-go/redpack"
)

// Awards: the journal writes that turn a payment notification into an
// award, before the notification is answered.
//
// Every write to a rule set's awards, budgets and caps (Award, Refund, and
// the award job's confirmation in awardwork.go) first locks the rule set's
// campaign row, so they take turns: a budget is checked and debited by one
// transaction at a time, and never overspent by a fen however many
// notifications arrive at once. On SQLite the database's one writer does
// the same. An award is keyed by (rule set, rule, transaction_id): a
// notification delivered again, or by another process, finds it and
// changes nothing.

// Award states, as stored and reported.
const (
	// AwardWaiting: awarded, its amount taken from the budget and the
	// user's caps; waiting for its hold and WeChat's confirmation of the
	// payment before it is queued to be paid.
	AwardWaiting = "waiting"
	// AwardQueued: confirmed and made a row of the rule set (Row), which
	// the run pays; the row's outcome says whether it was paid.
	AwardQueued = "queued"
	// AwardSkipped: the payment does not qualify (Reason says why); it
	// took nothing.
	AwardSkipped = "skipped"
	// AwardRefused: WeChat's order query did not confirm the payment as
	// notified (Reason); what the award took was given back.
	AwardRefused = "refused"
	// AwardCancelled: the payment was refunded within the hold; what the
	// award took was given back.
	AwardCancelled = "cancelled"
)

// Award is what a rule made of one payment.
type Award struct {
	RuleSet       string `json:"rule_set"`
	Rule          string `json:"rule"`
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
	OpenID        string `json:"openid"`
	// State is AwardWaiting, AwardQueued, AwardSkipped, AwardRefused or
	// AwardCancelled; Why is a short code of a skip's or refusal's reason
	// (e.g. "min_fee", "budget", "user_daily_count", "appid"), Reason the
	// sentence.
	State  string `json:"state"`
	Why    string `json:"why,omitempty"`
	Reason string `json:"reason,omitempty"`
	Amount int64  `json:"amount"` // fen; 0 when skipped
	// Row is the rule set's row the award is paid as, once queued.
	Row int64 `json:"row,omitempty"`
	// Duplicate: the award was made by an earlier delivery of the same
	// notification, and this one changed nothing.
	Duplicate bool `json:"duplicate,omitempty"`
}

// AwardOptions say how Award makes awards. They are journalled with each
// award, so that processes with different options each make their own
// awards as they said.
type AwardOptions struct {
	// Hold makes awards wait this long before they are paid; a refund
	// notification within it cancels the award (Store.Refund). It is
	// measured on the database's clock, so no process's clock shortens
	// it; River's leader, whose clock moves due jobs on, can delay the
	// payment by as much as its clock lags.
	Hold time.Duration
	// NoConfirm pays an award without confirming the payment with WeChat's
	// order query first: only for merchants whose own handler has done
	// that (by default an award is paid only when pay/orderquery says the
	// order is SUCCESS with the notification's openid and amounts).
	NoConfirm bool

	now  func() time.Time         // the clock; tests move it
	draw func(lo, hi int64) int64 // a random award's draw
}

// ErrNotRuleSet: the campaign named is a file's, not a rule set.
var ErrNotRuleSet = errors.New("not a rule set")

// DefineRules creates the rule set name, or updates its rules, from set:
// a rule keeps what its awards have taken from its budget, a new one
// starts with nothing taken, and a rule set's rule that set leaves out
// makes no new award (its awards are still paid). mchID, when given, ties
// the rule set to that merchant. Processes that share a database share the
// rules last defined.
func (s *Store) DefineRules(ctx context.Context, name string, set *RuleSet, mchID string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := set.Check(); err != nil {
		return err
	}
	return s.e.defineRules(ctx, name, set, mchID)
}

// Award judges a verified payment notification by every rule of the rule
// set and journals what each makes of it, with the award's job, in one
// transaction: call it before answering WeChat SUCCESS, and answer FAIL if
// it returns an error, so that WeChat notifies again. A notification
// delivered again (by WeChat or by another process) finds its awards and
// changes nothing (Award.Duplicate).
//
// n must be verified: from redpack.Client.ParsePaymentNotification, or
// from the merchant's own handler after its checks. Unless
// opts.NoConfirm, an award is paid only once WeChat's order query confirms
// it, so a copied notification pays nothing.
func (s *Store) Award(ctx context.Context, name string, n *redpack.PaymentNotification, opts AwardOptions) ([]Award, error) {
	if n == nil || n.TransactionID == "" || n.OpenID == "" {
		return nil, &InputError{Msg: "award: a notification with a transaction_id and an openid is required"}
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if opts.draw == nil {
		opts.draw = drawAmount
	}
	if opts.Hold < 0 {
		return nil, &InputError{Msg: "award: a negative hold"}
	}
	a, err := s.e.award(ctx, name, n, &opts)
	return a, s.notFound(ctx, name, err)
}

// Refund applies a refund notification to the rule set: an award of the
// refunded payment still waiting (within its hold, or for confirmation) is
// cancelled and its amount given back to the budget and the user's caps,
// in one transaction; an award already queued or paid is only marked
// refunded, for the report, never clawed back. A refund that did not
// succeed (refund_status other than SUCCESS) changes nothing. It returns
// the payment's awards as they now stand.
func (s *Store) Refund(ctx context.Context, name string, n *redpack.RefundNotification) ([]Award, error) {
	if n == nil || n.TransactionID == "" {
		return nil, &InputError{Msg: "refund: a notification with a transaction_id is required"}
	}
	a, err := s.e.refund(ctx, name, n, time.Now())
	return a, s.notFound(ctx, name, err)
}

// lockSet locks the rule set's campaign row for the rest of tx, so that
// award writes take turns, checks that name is a rule set, and returns the
// merchant it pays from ("" until tied).
func (e *eng[TD, TTx]) lockSet(ctx context.Context, tx TTx, name string) (string, error) {
	q := `SELECT kind || ' ' || mch_id FROM redpack_campaign WHERE name = $1`
	if e.kind == "postgres" {
		q += ` FOR UPDATE`
	}
	got, err := column[string](ctx, e.db, tx, q, name)
	if err != nil {
		return "", err
	}
	if len(got) == 0 {
		return "", fmt.Errorf("rule set %s: %w", name, ErrNotFound)
	}
	kind, mchID, _ := strings.Cut(got[0], " ")
	if kind != kindRules {
		return "", fmt.Errorf("campaign %s: %w (it was imported from a file)", name, ErrNotRuleSet)
	}
	return mchID, nil
}

// Campaign kinds, as stored.
const (
	kindFile  = "file"
	kindRules = "rules"
)

func (e *eng[TD, TTx]) defineRules(ctx context.Context, name string, set *RuleSet, mchID string) error {
	now := time.Now().UnixMilli()
	return e.inTx(ctx, func(tx TTx) error {
		if _, err := e.db.exec(ctx, tx, `INSERT INTO redpack_campaign (name, mch_id, template, source, row_count, total_amount, created_at, kind)
			VALUES ($1, $2, '{}', 'rules', 0, 0, $3, 'rules') ON CONFLICT (name) DO NOTHING`, name, mchID, now); err != nil {
			return err
		}
		have, err := e.lockSet(ctx, tx, name)
		if err != nil {
			return err
		}
		if mchID != "" {
			if have != "" && have != mchID {
				return fmt.Errorf("rule set %s pays from merchant %s, not %s", name, have, mchID)
			}
			if _, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign SET mch_id = $1 WHERE name = $2 AND mch_id = ''`, mchID, name); err != nil {
				return err
			}
		}
		if _, err := e.db.exec(ctx, tx, `UPDATE redpack_rule SET active = 0 WHERE campaign = $1`, name); err != nil {
			return err
		}
		stored, err := e.loadRules(ctx, tx, name, false)
		if err != nil {
			return err
		}
		spent := map[string]int64{}
		for _, rr := range stored {
			spent[rr.rule.Name] = rr.spent
		}
		for _, r := range set.Rules {
			if r.Budget < spent[r.Name] {
				// Lowering it below what waiting and queued awards took would
				// not stop them: they were made within the old budget.
				return &InputError{Msg: fmt.Sprintf("rule %s: budget %d fen is below the %d its awards have already taken; give at least %d (it then makes no new award)",
					r.Name, r.Budget, spent[r.Name], spent[r.Name])}
			}
			spec, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := e.db.exec(ctx, tx, `INSERT INTO redpack_rule (campaign, name, spec, budget, active, defined_at) VALUES ($1, $2, $3, $4, 1, $5)
				ON CONFLICT (campaign, name) DO UPDATE SET spec = excluded.spec, budget = excluded.budget, active = 1, defined_at = excluded.defined_at`,
				name, r.Name, string(spec), r.Budget, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// ruleRow is a rule as journalled, with its budget.
type ruleRow struct {
	rule   Rule
	budget int64
	spent  int64
	active bool
}

func (e *eng[TD, TTx]) loadRules(ctx context.Context, tx TTx, name string, activeOnly bool) ([]ruleRow, error) {
	q := `SELECT spec, budget, spent, active FROM redpack_rule WHERE campaign = $1`
	if activeOnly {
		q += ` AND active = 1`
	}
	r, err := e.db.query(ctx, tx, q+` ORDER BY name`, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []ruleRow
	for r.Next() {
		var (
			spec   string
			rr     ruleRow
			active int64
		)
		if err := r.Scan(&spec, &rr.budget, &rr.spent, &active); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(spec), &rr.rule); err != nil {
			return nil, fmt.Errorf("rule set %s: a stored rule: %w", name, err)
		}
		rr.active = active == 1
		out = append(out, rr)
	}
	return out, r.Err()
}

func (e *eng[TD, TTx]) award(ctx context.Context, name string, n *redpack.PaymentNotification, opts *AwardOptions) ([]Award, error) {
	rc, err := e.inserter()
	if err != nil {
		return nil, err
	}
	now := opts.now()
	var out []Award
	err = e.inTx(ctx, func(tx TTx) error {
		out = out[:0]
		mchID, err := e.lockSet(ctx, tx, name)
		if err != nil {
			return err
		}
		if mchID != "" && n.MchID != "" && n.MchID != mchID {
			return &InputError{Msg: fmt.Sprintf("award: the notification is merchant %s's; rule set %s pays from %s", n.MchID, name, mchID)}
		}
		rules, err := e.loadRules(ctx, tx, name, true)
		if err != nil {
			return err
		}
		// Holds are measured on the database's clock, which the process
		// that pays reads alike, whatever this process's clock says.
		clock, err := e.dbClock(ctx, tx)
		if err != nil {
			return err
		}
		for _, rr := range rules {
			a, err := e.awardOne(ctx, tx, rc, name, &rr, n, opts, now, clock)
			if err != nil {
				return err
			}
			out = append(out, *a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// awardOne journals what one rule makes of the payment, in the award's
// transaction.
func (e *eng[TD, TTx]) awardOne(ctx context.Context, tx TTx, rc *river.Client[TTx], name string, rr *ruleRow, n *redpack.PaymentNotification, opts *AwardOptions, now, clock time.Time) (*Award, error) {
	r := &rr.rule
	if !n.Paid() {
		// A failed payment is not judged, and nothing is journalled for
		// it: a skip would be final, and keep its transaction from an
		// award if WeChat later notified it paid.
		return &Award{RuleSet: name, Rule: r.Name, TransactionID: n.TransactionID, OutTradeNo: n.OutTradeNo, OpenID: n.OpenID,
			State: AwardSkipped, Why: "not_paid", Reason: fmt.Sprintf("result_code %s: not a paid order", n.ResultCode)}, nil
	}
	if prev, err := e.loadAward(ctx, tx, name, r.Name, n.TransactionID); err != nil || prev != nil {
		if prev != nil {
			prev.Duplicate = true
		}
		return prev, err
	}
	a := &Award{RuleSet: name, Rule: r.Name, TransactionID: n.TransactionID, OutTradeNo: n.OutTradeNo, OpenID: n.OpenID}
	d := day(n.TimeEnd)
	amount, why, reason := r.judge(n, opts.draw)
	if reason == "" {
		// A refund notification that overtook the payment's: the payment
		// no longer stands as notified.
		refunds, err := column[int64](ctx, e.db, tx, `SELECT COUNT(*) FROM redpack_rule_refund WHERE campaign = $1 AND transaction_id = $2`, name, n.TransactionID)
		if err != nil {
			return nil, err
		}
		if refunds[0] > 0 {
			why, reason = "refunded", "refunded: a refund notification for the payment came before its payment notification"
		}
	}
	if reason == "" {
		if left := rr.budget - rr.spent; amount > left {
			why, reason = "budget", fmt.Sprintf("budget: %d fen left, the award is %d", left, amount)
		}
	}
	if reason == "" {
		var err error
		why, reason, err = e.capped(ctx, tx, name, r, n.OpenID, d, amount)
		if err != nil {
			return nil, err
		}
	}
	a.State, a.Amount = AwardWaiting, amount
	if reason != "" {
		a.State, a.Amount, a.Why, a.Reason = AwardSkipped, 0, why, reason
	}
	hold := clock.Add(opts.Hold) // on the database's clock
	// The packet is the rule's as it is now, when the award takes its
	// amount: rules defined again while it waits do not change it.
	tmpl, err := json.Marshal(r.template())
	if err != nil {
		return nil, err
	}
	decided := int64(0) // a skip is decided at once; an award when it is queued, refused or cancelled
	if a.State == AwardSkipped {
		decided = now.UnixMilli()
	}
	if _, err := e.db.exec(ctx, tx, `INSERT INTO redpack_rule_award (campaign, rule, transaction_id, out_trade_no, appid, openid, total_fee, cash_fee,
			time_end, day, amount, state, why, reason, confirm, hold_until, template, created_at, decided_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		name, r.Name, n.TransactionID, n.OutTradeNo, n.AppID, n.OpenID, n.TotalFee, n.CashFee,
		n.TimeEnd.UnixMilli(), d, a.Amount, a.State, a.Why, clip(a.Reason), b2i(!opts.NoConfirm), hold.UnixMilli(), string(tmpl), now.UnixMilli(),
		decided); err != nil {
		return nil, err
	}
	if a.State == AwardSkipped {
		return a, nil
	}
	if _, err := e.db.exec(ctx, tx, `UPDATE redpack_rule SET spent = spent + $1 WHERE campaign = $2 AND name = $3`, amount, name, r.Name); err != nil {
		return nil, err
	}
	rr.spent += amount
	if err := e.debitUser(ctx, tx, name, r.Name, n.OpenID, d, amount, 1); err != nil {
		return nil, err
	}
	return a, e.insertAwardJob(ctx, tx, rc, name, r.Name, n.TransactionID, hold)
}

// capped checks the user's caps under the rule for an award of amount on
// China day d: it returns the cap's code and a sentence, or "".
func (e *eng[TD, TTx]) capped(ctx context.Context, tx TTx, name string, r *Rule, openid, d string, amount int64) (string, string, error) {
	if r.UserDailyCount == 0 && r.UserDailyAmount == 0 && r.UserCount == 0 && r.UserAmount == 0 {
		return "", "", nil
	}
	rows, err := e.db.query(ctx, tx, `SELECT day, packets, amount FROM redpack_rule_user
		WHERE campaign = $1 AND rule = $2 AND openid = $3 AND day IN ($4, '')`, name, r.Name, openid, d)
	if err != nil {
		return "", "", err
	}
	defer rows.Close()
	var dayN, dayAmt, allN, allAmt int64
	for rows.Next() {
		var (
			dd     string
			pk, am int64
		)
		if err := rows.Scan(&dd, &pk, &am); err != nil {
			return "", "", err
		}
		if dd == "" {
			allN, allAmt = pk, am
		} else {
			dayN, dayAmt = pk, am
		}
	}
	if err := rows.Err(); err != nil {
		return "", "", err
	}
	switch {
	case r.UserDailyCount > 0 && dayN+1 > r.UserDailyCount:
		return "user_daily_count", fmt.Sprintf("user_daily_count: the user has %d award(s) on %s, the cap is %d", dayN, d, r.UserDailyCount), nil
	case r.UserDailyAmount > 0 && dayAmt+amount > r.UserDailyAmount:
		return "user_daily_amount", fmt.Sprintf("user_daily_amount: the user has %d fen on %s, the award is %d, the cap %d", dayAmt, d, amount, r.UserDailyAmount), nil
	case r.UserCount > 0 && allN+1 > r.UserCount:
		return "user_count", fmt.Sprintf("user_count: the user has %d award(s), the cap is %d", allN, r.UserCount), nil
	case r.UserAmount > 0 && allAmt+amount > r.UserAmount:
		return "user_amount", fmt.Sprintf("user_amount: the user has %d fen, the award is %d, the cap %d", allAmt, amount, r.UserAmount), nil
	}
	return "", "", nil
}

// debitUser adds packets and amount (negative: gives them back) to the
// user's counts under the rule, for day d and in all.
func (e *eng[TD, TTx]) debitUser(ctx context.Context, tx TTx, name, rule, openid, d string, amount, packets int64) error {
	for _, dd := range []string{d, ""} {
		if _, err := e.db.exec(ctx, tx, `INSERT INTO redpack_rule_user (campaign, rule, openid, day, packets, amount) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (campaign, rule, openid, day) DO UPDATE SET packets = redpack_rule_user.packets + excluded.packets,
				amount = redpack_rule_user.amount + excluded.amount`, name, rule, openid, dd, packets, amount); err != nil {
			return err
		}
	}
	return nil
}

// giveBack returns a waiting award's amount to its rule's budget and the
// user's caps, as it moves to state (refused or cancelled); it reports
// false, changing nothing, when the award is no longer waiting.
func (e *eng[TD, TTx]) giveBack(ctx context.Context, tx TTx, name string, a *storedAward, state, why, reason string, now time.Time) (bool, error) {
	n, err := e.db.exec(ctx, tx, `UPDATE redpack_rule_award SET state = $1, why = $2, reason = $3, decided_at = $4
		WHERE campaign = $5 AND rule = $6 AND transaction_id = $7 AND state = 'waiting'`,
		state, why, clip(reason), now.UnixMilli(), name, a.Rule, a.TransactionID)
	if err != nil || n == 0 {
		return false, err
	}
	if _, err := e.db.exec(ctx, tx, `UPDATE redpack_rule SET spent = spent - $1 WHERE campaign = $2 AND name = $3`, a.Amount, name, a.Rule); err != nil {
		return false, err
	}
	return true, e.debitUser(ctx, tx, name, a.Rule, a.OpenID, a.day, -a.Amount, -1)
}

// storedAward is an award with what the journal keeps besides.
type storedAward struct {
	Award
	appid     string
	totalFee  int64
	cashFee   int64
	day       string
	timeEnd   int64 // Unix ms
	confirm   bool
	holdUntil int64
	// template is the packet template (JSON) of the rule as it was when
	// the award was made, with its amount.
	template string
	jobID    int64
}

const awardColumns = `rule, transaction_id, out_trade_no, appid, openid, total_fee, cash_fee, day, time_end, amount, state, why, reason, confirm, hold_until, template, job_id, row_no`

func scanAward(r rows, name string) (*storedAward, error) {
	a := &storedAward{}
	a.RuleSet = name
	var confirm int64
	err := r.Scan(&a.Rule, &a.TransactionID, &a.OutTradeNo, &a.appid, &a.OpenID, &a.totalFee, &a.cashFee, &a.day, &a.timeEnd, &a.Amount,
		&a.State, &a.Why, &a.Reason, &confirm, &a.holdUntil, &a.template, &a.jobID, &a.Row)
	a.confirm = confirm == 1
	return a, err
}

// loadAward returns the award of rule for the transaction, or nil.
func (e *eng[TD, TTx]) loadAward(ctx context.Context, tx TTx, name, rule, txID string) (*Award, error) {
	a, err := e.loadStored(ctx, tx, name, rule, txID)
	if a == nil || err != nil {
		return nil, err
	}
	return &a.Award, nil
}

func (e *eng[TD, TTx]) loadStored(ctx context.Context, tx TTx, name, rule, txID string) (*storedAward, error) {
	r, err := e.db.query(ctx, tx, `SELECT `+awardColumns+` FROM redpack_rule_award WHERE campaign = $1 AND rule = $2 AND transaction_id = $3`, name, rule, txID)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if !r.Next() {
		return nil, r.Err()
	}
	return scanAward(r, name)
}

func (e *eng[TD, TTx]) refund(ctx context.Context, name string, n *redpack.RefundNotification, now time.Time) ([]Award, error) {
	var out []Award
	err := e.inTx(ctx, func(tx TTx) error {
		out = out[:0]
		if _, err := e.lockSet(ctx, tx, name); err != nil {
			return err
		}
		r, err := e.db.query(ctx, tx, `SELECT `+awardColumns+` FROM redpack_rule_award WHERE campaign = $1 AND transaction_id = $2 ORDER BY rule`, name, n.TransactionID)
		if err != nil {
			return err
		}
		var awards []*storedAward
		for r.Next() {
			a, err := scanAward(r, name)
			if err != nil {
				r.Close()
				return err
			}
			awards = append(awards, a)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		fresh := false
		if n.Refunded() {
			k, err := e.db.exec(ctx, tx, `INSERT INTO redpack_rule_refund (campaign, refund_id, transaction_id, refund_fee, received_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (campaign, refund_id) DO NOTHING`,
				name, refundKey(n), n.TransactionID, n.RefundFee, now.UnixMilli())
			if err != nil {
				return err
			}
			fresh = k == 1
		}
		for _, a := range awards {
			if fresh {
				if a.State == AwardWaiting {
					ok, err := e.giveBack(ctx, tx, name, a, AwardCancelled, "refunded",
						fmt.Sprintf("refunded %d fen (refund_id %s) before the award was paid", n.RefundFee, n.RefundID), now)
					if err != nil {
						return err
					}
					if ok {
						a.State, a.Why = AwardCancelled, "refunded"
					}
				}
				if _, err := e.db.exec(ctx, tx, `UPDATE redpack_rule_award SET refund_fee = refund_fee + $1, refunded_at = $2
					WHERE campaign = $3 AND rule = $4 AND transaction_id = $5`, n.RefundFee, now.UnixMilli(), name, a.Rule, a.TransactionID); err != nil {
					return err
				}
			}
			out = append(out, a.Award)
		}
		return nil
	})
	return out, err
}

// refundKey identifies a refund: WeChat's refund_id, or the merchant's
// out_refund_no when a notification lacks it.
func refundKey(n *redpack.RefundNotification) string {
	if n.RefundID != "" {
		return n.RefundID
	}
	return "out:" + n.TransactionID + ":" + n.OutRefundNo
}
