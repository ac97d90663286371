package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/redpack-go/redpack"
)

// awardArgs is an award's River job: wait out the award's hold, confirm the
// payment with WeChat's order query, then make the award a row of the rule
// set, which the run pays like any other.
type awardArgs struct {
	Campaign      string `json:"c"`
	Rule          string `json:"r"`
	TransactionID string `json:"t"`
}

// Kind implements river.JobArgs.
func (awardArgs) Kind() string { return "redpack_rule_award" }

func awardParams(name, rule, txID string, at time.Time) river.InsertManyParams {
	return river.InsertManyParams{
		Args: awardArgs{Campaign: name, Rule: rule, TransactionID: txID},
		InsertOpts: &river.InsertOpts{
			Queue:       queueOf(name),
			MaxAttempts: 1, // as a row's job: a rescued one is replaced by the sweep
			ScheduledAt: at,
			UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: liveStates},
		},
	}
}

// insertAwardJob writes an award's job, due at its hold's end, in tx.
func (e *eng[TD, TTx]) insertAwardJob(ctx context.Context, tx TTx, rc *river.Client[TTx], name, rule, txID string, at time.Time) error {
	res, err := rc.InsertManyTx(ctx, tx, []river.InsertManyParams{awardParams(name, rule, txID, at)})
	if err != nil {
		return fmt.Errorf("insert the award's job: %w", err)
	}
	_, err = e.db.exec(ctx, tx, `UPDATE redpack_rule_award SET job_id = $1 WHERE campaign = $2 AND rule = $3 AND transaction_id = $4`,
		res[0].Job.ID, name, rule, txID)
	return err
}

// awardWorker confirms waiting awards and queues them to be paid.
type awardWorker[TD riverdriver.Driver[TTx], TTx any] struct {
	river.WorkerDefaults[awardArgs]
	e  *eng[TD, TTx]
	rs *runState
}

// Work hands River only snoozes and cancels, as rowWorker.Work does.
func (w *awardWorker[TD, TTx]) Work(ctx context.Context, job *river.Job[awardArgs]) error {
	err := w.work(ctx, job)
	if onlySnoozes(err) {
		return err
	}
	w.rs.logger.WarnContext(ctx, "rule award: will try again", "rule_set", job.Args.Campaign, "rule", job.Args.Rule,
		"transaction_id", job.Args.TransactionID, "error", err)
	return river.JobSnooze(5*time.Second + jitter(5*time.Second))
}

func (w *awardWorker[TD, TTx]) work(ctx context.Context, job *river.Job[awardArgs]) error {
	e, rs := w.e, w.rs
	name := job.Args.Campaign
	var (
		a     *storedAward
		clock time.Time // the database's, on which the hold was set
	)
	err := e.inTx(ctx, func(tx TTx) error {
		var err error
		if a, err = e.loadStored(ctx, tx, name, job.Args.Rule, job.Args.TransactionID); err != nil {
			return err
		}
		clock, err = e.dbClock(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	if a == nil {
		return river.JobCancel(fmt.Errorf("rule set %s: no award of rule %s for %s", name, job.Args.Rule, job.Args.TransactionID))
	}
	if a.State != AwardWaiting {
		return w.settle(ctx, job, a, nil)
	}
	if time.UnixMilli(a.holdUntil).After(clock) {
		// Held, on the database's clock. River dates a snooze on this
		// process's clock and makes it due on the database's: snoozing
		// until hold_until on this process's clock makes the job due at
		// hold_until, whatever the two clocks say (at least a second, so
		// a clock ahead does not spin).
		return river.JobSnooze(max(time.Until(time.UnixMilli(a.holdUntil)), time.Second) + jitter(time.Second))
	}
	if a.confirm {
		o, err := rs.orders.QueryOrder(ctx, redpack.OrderQuery{AppID: a.appid, TransactionID: a.TransactionID})
		switch {
		case errors.Is(err, redpack.CodeOrderNotExist):
			return w.settle(ctx, job, a, &verdict{state: AwardRefused, why: "no_order",
				reason: "WeChat's order query has no such order (ORDERNOTEXIST): the notification was not WeChat's"})
		case isInvalid(err):
			// The notification's own fields make no valid query (a
			// transaction_id WeChat would never issue): not WeChat's.
			return w.settle(ctx, job, a, &verdict{state: AwardRefused, why: "no_order",
				reason: "the notification's transaction_id or appid cannot be queried: " + err.Error()})
		case err != nil:
			// WeChat did not say; the award waits for an answer.
			rs.logger.WarnContext(ctx, "rule award: order query failed; will ask again", "rule_set", name,
				"transaction_id", a.TransactionID, "error", err)
			return river.JobSnooze(10*time.Second + jitter(10*time.Second))
		}
		if v := confirmVerdict(a, o); v != nil {
			return w.settle(ctx, job, a, v)
		}
	}
	return w.settle(ctx, job, a, &verdict{state: AwardQueued})
}

// verdict is what becomes of a waiting award.
type verdict struct {
	state       string // AwardQueued, AwardRefused or AwardCancelled
	why, reason string
}

// confirmVerdict compares WeChat's order with what the notification said:
// nil when it confirms the award.
func confirmVerdict(a *storedAward, o *redpack.Order) *verdict {
	switch {
	case o.TradeState == redpack.TradeRefund:
		return &verdict{state: AwardCancelled, why: "refunded", reason: "WeChat's order query: trade_state REFUND, the payment was refunded before the award was paid"}
	case !o.Paid():
		return &verdict{state: AwardRefused, why: "trade_state", reason: fmt.Sprintf("WeChat's order query: trade_state %s, not a paid order", o.TradeState)}
	case o.TransactionID != a.TransactionID:
		return &verdict{state: AwardRefused, why: "mismatch", reason: fmt.Sprintf("WeChat's order query answered for transaction %s", o.TransactionID)}
	case o.OpenID != a.OpenID:
		return &verdict{state: AwardRefused, why: "mismatch", reason: "WeChat's order query: the order's openid is not the notification's"}
	case o.TotalFee != a.totalFee || o.CashFee != a.cashFee:
		return &verdict{state: AwardRefused, why: "mismatch", reason: fmt.Sprintf("WeChat's order query: total_fee %d, cash_fee %d; the notification said %d, %d",
			o.TotalFee, o.CashFee, a.totalFee, a.cashFee)}
	case o.OutTradeNo != a.OutTradeNo:
		return &verdict{state: AwardRefused, why: "mismatch", reason: "WeChat's order query: the order's out_trade_no is not the notification's"}
	case !o.TimeEnd.Equal(time.UnixMilli(a.timeEnd)):
		// The rule's period and the daily caps were judged on the
		// notification's time_end.
		return &verdict{state: AwardRefused, why: "mismatch", reason: fmt.Sprintf("WeChat's order query: time_end %s; the notification said %s",
			o.TimeEnd.In(chinaTime).Format(time.DateTime), time.UnixMilli(a.timeEnd).In(chinaTime).Format(time.DateTime))}
	case o.AppID != "" && o.AppID != a.appid:
		return &verdict{state: AwardRefused, why: "mismatch", reason: fmt.Sprintf("WeChat's order query: appid %s; the notification said %s", o.AppID, a.appid)}
	}
	return nil
}

// settle carries out v (nil: the award was already decided) and completes
// the job, in one transaction: a queued award becomes a row of the rule
// set with its own job; a refused or cancelled one gives back what it
// took. The award moves only from waiting, so a refund that cancelled it
// meanwhile wins, and a second attempt changes nothing.
func (w *awardWorker[TD, TTx]) settle(ctx context.Context, job *river.Job[awardArgs], a *storedAward, v *verdict) error {
	e := w.e
	now := w.rs.cfg.now()
	name := job.Args.Campaign
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	return e.inTx(ctx, func(tx TTx) error {
		if v != nil {
			if _, err := e.lockSet(ctx, tx, name); err != nil {
				return err
			}
			var err error
			if v.state == AwardQueued {
				err = e.queueAward(ctx, tx, name, a, now)
			} else {
				_, err = e.giveBack(ctx, tx, name, a, v.state, v.why, v.reason, now)
			}
			if err != nil {
				return err
			}
		}
		_, err := river.JobCompleteTx[TD](ctx, tx, job)
		if errors.Is(err, rivertype.ErrNotFound) {
			return nil // rescued meanwhile; the award's state says what was done
		}
		return err
	})
}

// queueAward makes a waiting award the rule set's next row, with its bill
// number, the packet template the award was made with and the row's
// job, in tx.
func (e *eng[TD, TTx]) queueAward(ctx context.Context, tx TTx, name string, a *storedAward, now time.Time) error {
	n, err := e.db.exec(ctx, tx, `UPDATE redpack_rule_award SET state = 'queued', decided_at = $1
		WHERE campaign = $2 AND rule = $3 AND transaction_id = $4 AND state = 'waiting'`, now.UnixMilli(), name, a.Rule, a.TransactionID)
	if err != nil || n == 0 {
		return err
	}
	nums, err := column[int64](ctx, e.db, tx, `UPDATE redpack_campaign SET row_count = row_count + 1, total_amount = total_amount + $1
		WHERE name = $2 RETURNING row_count`, a.Amount, name)
	if err != nil {
		return err
	}
	rowNo := nums[0]
	rc, err := e.inserter()
	if err != nil {
		return err
	}
	res, err := rc.InsertManyTx(ctx, tx, []river.InsertManyParams{insertParams(name, rowNo)})
	if err != nil {
		return fmt.Errorf("insert the row's job: %w", err)
	}
	if _, err := e.db.exec(ctx, tx, `INSERT INTO redpack_campaign_row (campaign, row_no, line, openid, amount, bill_no, job_id, rule, template)
		VALUES ($1, $2, 0, $3, $4, $5, $6, $7, $8)`, name, rowNo, a.OpenID, a.Amount, newBillNo(), res[0].Job.ID, a.Rule, a.template); err != nil {
		return err
	}
	_, err = e.db.exec(ctx, tx, `UPDATE redpack_rule_award SET row_no = $1 WHERE campaign = $2 AND rule = $3 AND transaction_id = $4`,
		rowNo, name, a.Rule, a.TransactionID)
	return err
}

// isInvalid reports whether err is a query the client refused to send.
func isInvalid(err error) bool {
	var v *redpack.ValidationError
	return errors.As(err, &v)
}
