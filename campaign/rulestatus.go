package campaign

import (
	"context"
	"fmt"
	"time"
)

// RuleStatus is one rule's figures: its budget, what its awards took and
// paid, and what became of the payments it judged.
type RuleStatus struct {
	Name string `json:"name"`
	// Active: the rules last defined include it; an inactive rule makes
	// no new award, and its awards are still paid.
	Active bool  `json:"active"`
	Budget int64 `json:"budget"` // fen
	// Spent is what the rule's awards have taken from the budget: those
	// waiting, and those queued whether paid yet or not (a packet not paid
	// keeps its share, for a reissue). Left = Budget − Spent.
	Spent int64 `json:"spent"`
	Left  int64 `json:"left"`
	// Paid and AmountPaid count the rule's packets WeChat paid.
	Paid       int64 `json:"paid"`
	AmountPaid int64 `json:"amount_paid"`
	// Awards counts the rule's awards by state (AwardWaiting …).
	Awards map[string]int64 `json:"awards"`
	// Skipped counts the payments the rule skipped, by reason code
	// ("min_fee", "appid", "period", "budget", "user_daily_count" …);
	// CapHits is the part of it the per-user caps made.
	Skipped map[string]int64 `json:"skipped"`
	CapHits int64            `json:"cap_hits"`
	// Refused counts refused and cancelled awards by reason code
	// ("mismatch", "no_order", "refunded" …).
	Refused map[string]int64 `json:"refused"`
	// Refunds counts awards whose payment was refunded after the award
	// was queued: reported, never clawed back.
	RefundedAfterQueue int64 `json:"refunded_after_queue"`
}

// RuleSetStatus is a rule set's figures, rule by rule, with its rows'
// Totals (what Store.Status returns), all read at one instant.
type RuleSetStatus struct {
	Name string `json:"name"`
	// Totals are the rule set's rows, read with the rules' figures.
	Totals   *Totals      `json:"-"`
	Rules    []RuleStatus `json:"rules"`
	Payments int64        `json:"payments"` // distinct transactions judged
	// AwardsLastHour counts awards made (queued or waiting) in the hour
	// before the status was taken.
	AwardsLastHour int64 `json:"awards_last_hour"`
}

// RuleStatus returns the rule set's figures, rule by rule; a campaign of a
// file is ErrNotRuleSet.
func (s *Store) RuleStatus(ctx context.Context, name string) (*RuleSetStatus, error) {
	st, err := s.e.ruleStatus(ctx, name, time.Now())
	return st, s.notFound(ctx, name, err)
}

// capWhys are the skip codes the per-user caps make.
var capWhys = map[string]bool{"user_daily_count": true, "user_daily_amount": true, "user_count": true, "user_amount": true}

func (e *eng[TD, TTx]) ruleStatus(ctx context.Context, name string, now time.Time) (*RuleSetStatus, error) {
	if _, err := e.ruleKind(ctx, name); err != nil {
		return nil, err
	}
	st := &RuleSetStatus{Name: name}
	err := e.inTx(ctx, func(tx TTx) error {
		// One snapshot for every figure, the rows' totals with them, so
		// that spent, the award counts and the rows paid agree while
		// awards are made and paid.
		if err := e.snapshot(ctx, tx); err != nil {
			return err
		}
		t, err := e.totalsTx(ctx, tx, name, now)
		if err != nil {
			return err
		}
		st.Totals = t
		rules, err := e.loadRules(ctx, tx, name, false)
		if err != nil {
			return err
		}
		idx := map[string]int{}
		for i, rr := range rules {
			idx[rr.rule.Name] = i
			st.Rules = append(st.Rules, RuleStatus{Name: rr.rule.Name, Active: rr.active, Budget: rr.budget, Spent: rr.spent,
				Left: rr.budget - rr.spent, Awards: map[string]int64{}, Skipped: map[string]int64{}, Refused: map[string]int64{}})
		}
		r, err := e.db.query(ctx, tx, `SELECT rule, state, why, COUNT(*), CAST(COALESCE(SUM(CASE WHEN state = 'queued' AND refunded_at > 0 THEN 1 ELSE 0 END), 0) AS BIGINT)
			FROM redpack_rule_award WHERE campaign = $1 GROUP BY rule, state, why`, name)
		if err != nil {
			return err
		}
		for r.Next() {
			var (
				rule, state, why string
				n, refunded      int64
			)
			if err := r.Scan(&rule, &state, &why, &n, &refunded); err != nil {
				r.Close()
				return err
			}
			i, ok := idx[rule]
			if !ok {
				continue
			}
			rs := &st.Rules[i]
			rs.Awards[state] += n
			rs.RefundedAfterQueue += refunded
			switch state {
			case AwardSkipped:
				rs.Skipped[why] += n
				if capWhys[why] {
					rs.CapHits += n
				}
			case AwardRefused, AwardCancelled:
				rs.Refused[why] += n
			}
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		r, err = e.db.query(ctx, tx, `SELECT rule, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM redpack_campaign_row
			WHERE campaign = $1 AND outcome = 'paid' GROUP BY rule`, name)
		if err != nil {
			return err
		}
		for r.Next() {
			var (
				rule      string
				n, amount int64
			)
			if err := r.Scan(&rule, &n, &amount); err != nil {
				r.Close()
				return err
			}
			if i, ok := idx[rule]; ok {
				st.Rules[i].Paid, st.Rules[i].AmountPaid = n, amount
			}
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		n, err := column[int64](ctx, e.db, tx, `SELECT COUNT(DISTINCT transaction_id) FROM redpack_rule_award WHERE campaign = $1`, name)
		if err != nil {
			return err
		}
		st.Payments = n[0]
		n, err = column[int64](ctx, e.db, tx, `SELECT COUNT(*) FROM redpack_rule_award WHERE campaign = $1 AND state IN ('waiting', 'queued') AND created_at > $2`,
			name, now.Add(-time.Hour).UnixMilli())
		if err != nil {
			return err
		}
		st.AwardsLastHour = n[0]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// AwardRow is one award of a rule set's report, with the payment it was
// judged on and, once queued, its row's outcome.
type AwardRow struct {
	Award
	AppID     string    `json:"appid"`
	TotalFee  int64     `json:"total_fee"`
	CashFee   int64     `json:"cash_fee"`
	TimeEnd   time.Time `json:"time_end"`
	CreatedAt time.Time `json:"created_at"`
	// The row's journal, once queued: Outcome as in ReportRow.
	BillNo     string `json:"mch_billno,omitempty"`
	Outcome    string `json:"outcome,omitempty"`
	ErrCode    string `json:"err_code,omitempty"`
	SendListID string `json:"send_listid,omitempty"`
	// RefundFee is what was refunded of the payment (reported; a paid
	// packet is never clawed back).
	RefundFee int64 `json:"refund_fee,omitempty"`
}

// Awards calls fn for every award of the rule set (skips included), in
// the order they were made, until fn returns an error. It streams.
func (s *Store) Awards(ctx context.Context, name string, fn func(AwardRow) error) error {
	return s.notFound(ctx, name, s.e.awards(ctx, name, fn))
}

func (e *eng[TD, TTx]) awards(ctx context.Context, name string, fn func(AwardRow) error) error {
	if _, err := e.ruleKind(ctx, name); err != nil {
		return err
	}
	type cursor struct {
		created int64
		rule    string
		tx      string
	}
	after := cursor{created: -1}
	for {
		var page []AwardRow
		var last cursor
		err := e.inTx(ctx, func(tx TTx) error {
			r, err := e.db.query(ctx, tx, `SELECT a.rule, a.transaction_id, a.out_trade_no, a.openid, a.state, a.why, a.reason, a.amount, a.row_no,
					a.appid, a.total_fee, a.cash_fee, a.time_end, a.created_at, a.refund_fee,
					COALESCE(w.bill_no, ''), COALESCE(w.outcome, ''), COALESCE(w.err_code, ''), COALESCE(w.send_listid, '')
				FROM redpack_rule_award a LEFT JOIN redpack_campaign_row w ON w.campaign = a.campaign AND w.row_no = a.row_no AND a.row_no > 0
				WHERE a.campaign = $1 AND (a.created_at > $2 OR (a.created_at = $2 AND (a.rule > $3 OR (a.rule = $3 AND a.transaction_id > $4))))
				ORDER BY a.created_at, a.rule, a.transaction_id LIMIT $5`, name, after.created, after.rule, after.tx, int64(reportPage))
			if err != nil {
				return err
			}
			defer r.Close()
			for r.Next() {
				var (
					a                AwardRow
					timeEnd, created int64
				)
				if err := r.Scan(&a.Rule, &a.TransactionID, &a.OutTradeNo, &a.OpenID, &a.State, &a.Why, &a.Reason, &a.Amount, &a.Row,
					&a.AppID, &a.TotalFee, &a.CashFee, &timeEnd, &created, &a.RefundFee,
					&a.BillNo, &a.Outcome, &a.ErrCode, &a.SendListID); err != nil {
					return err
				}
				a.RuleSet = name
				a.TimeEnd, a.CreatedAt = millis(timeEnd).In(chinaTime), millis(created)
				if a.Outcome != "" {
					a.Outcome = reportOutcome(a.Outcome)
				}
				last = cursor{created, a.Rule, a.TransactionID}
				page = append(page, a)
			}
			return r.Err()
		})
		if err != nil {
			return err
		}
		for _, a := range page {
			if err := fn(a); err != nil {
				return err
			}
		}
		if len(page) < reportPage {
			return nil
		}
		after = last
	}
}

// CheckRuleSet returns nil when name is a rule set, ErrNotRuleSet for a
// campaign of a file, and a *NotFoundError (ErrNotFound) when the
// database has no campaign of that name. It reads one row: for a caller
// that must know before it writes anything, such as an export's file.
func (s *Store) CheckRuleSet(ctx context.Context, name string) error {
	_, err := s.e.ruleKind(ctx, name)
	return s.notFound(ctx, name, err)
}

// ruleKind checks that name is a rule set.
func (e *eng[TD, TTx]) ruleKind(ctx context.Context, name string) (string, error) {
	var kind string
	err := e.inTx(ctx, func(tx TTx) error {
		kinds, err := column[string](ctx, e.db, tx, `SELECT kind FROM redpack_campaign WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if len(kinds) == 0 {
			return fmt.Errorf("rule set %s: %w", name, ErrNotFound)
		}
		kind = kinds[0]
		if kind != kindRules {
			return fmt.Errorf("campaign %s: %w (it was imported from a file)", name, ErrNotRuleSet)
		}
		return nil
	})
	return kind, err
}
