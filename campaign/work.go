package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/redpack-go/redpack"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runState is what one Run's workers share.
type runState struct {
	cfg    *RunConfig
	client *redpack.Client
	mchID  string
	tmpl   Template
	gate   *gate
	// orders queries WeChat Pay orders to confirm awards: its own client,
	// since the red-packet rate does not apply to pay/orderquery.
	orders *redpack.Client
	logger *slog.Logger
}

// rowWorker works one row's job: it reads the journal first, sends or
// settles under the journalled bill number, and records what it learnt
// under its own send generation, only ever upgrading the outcome.
//
// A row's job is worked by one attempt only (MaxAttempts 1): when River
// rescues a job whose attempt seems stuck, it discards it, and the run's
// sweep gives the row a new job. So an attempt that was replaced but
// still runs can only ever complete its own, discarded job, never the
// job of the attempt that replaced it.
type rowWorker[TD riverdriver.Driver[TTx], TTx any] struct {
	river.WorkerDefaults[rowArgs]
	e  *eng[TD, TTx]
	rs *runState
}

// Work hands River only snoozes and cancels: a plain error would discard
// the job (one attempt each), so a database error has the row tried again
// shortly instead.
func (w *rowWorker[TD, TTx]) Work(ctx context.Context, job *river.Job[rowArgs]) error {
	err := w.work(ctx, job)
	if onlySnoozes(err) {
		return err
	}
	w.rs.logger.WarnContext(ctx, "campaign row: will try again", "campaign", job.Args.Campaign, "row", job.Args.Row, "error", err)
	return river.JobSnooze(time.Second + jitter(2*time.Second))
}

// onlySnoozes reports whether err is one a worker may hand River as it
// is: none, a snooze or a cancel. Any other error would discard a job of
// one attempt.
func onlySnoozes(err error) bool {
	var snooze *river.JobSnoozeError
	var cancel *river.JobCancelError
	return err == nil || errors.As(err, &snooze) || errors.As(err, &cancel)
}

func (w *rowWorker[TD, TTx]) work(ctx context.Context, job *river.Job[rowArgs]) error {
	e, rs := w.e, w.rs
	r, err := e.loadRow(ctx, job.Args.Campaign, job.Args.Row)
	if errors.Is(err, ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if r.final() || r.gaveUp {
		return w.finish(ctx, job, r, nil)
	}
	now := rs.cfg.now()

	if r.outcome == dbPending {
		if r.heldUntil > now.UnixMilli() {
			return river.JobSnooze(time.UnixMilli(r.heldUntil).Sub(now) + jitter(time.Second))
		}
		if until := rs.gate.heldUntil(); now.Before(until) {
			// WeChat refused the merchant's amount for the day: the day's
			// other rows wait for the next, as the journal's caps do.
			if err := e.hold(ctx, r, until, "held: WeChat answered SENDAMOUNT_LIMIT (the merchant's amount for the day)"); err != nil {
				return err
			}
			return river.JobSnooze(until.Sub(now) + jitter(time.Minute))
		}
		ok, probe := rs.gate.allow(now, true)
		if !ok {
			return river.JobSnooze(w.pauseWait())
		}
		claimed, cap, err := e.claim(ctx, r, rs.mchID, now, now.Add(rs.cfg.attemptSpan()), rs.cfg.Limits)
		if err != nil || !claimed {
			rs.gate.unclear(now, probe) // a probe that sent nothing
		}
		if err != nil {
			return err
		}
		if cap != "" {
			return w.capped(ctx, job, r, cap, now)
		}
		if claimed {
			// The row is journalled as being sent (unknown, a new send
			// generation with its deadline) before the request leaves.
			req, err := rs.request(r)
			if err != nil {
				return err
			}
			res, err := rs.client.SendRedPack(ctx, req)
			w.report(ctx, err, probe)
			return w.afterSend(ctx, job, r, res, err)
		}
		// Another attempt claimed it first and may be sending it now.
		if r, err = e.loadRow(ctx, job.Args.Campaign, job.Args.Row); err != nil {
			return err
		}
		if r.final() {
			return w.finish(ctx, job, r, nil)
		}
		if r.outcome == dbPending {
			return river.JobSnooze(time.Second + jitter(time.Second))
		}
	}
	if wait := inFlight(r, now); wait > 0 {
		return river.JobSnooze(wait + jitter(time.Second))
	}
	ok, probe := rs.gate.allow(now, false)
	if !ok {
		return river.JobSnooze(w.pauseWait())
	}
	var opts []redpack.SettleOption
	if r.resendClosed || now.Sub(time.UnixMilli(r.firstSent())) >= redpack.ResendWindow {
		// Past WeChat's window a re-send would only be refused as expired:
		// query alone, and no new send generation.
		opts = append(opts, redpack.QueryOnly())
	} else {
		began, err := e.beginSettle(ctx, r, now, now.Add(rs.cfg.attemptSpan()))
		if err != nil || !began {
			rs.gate.unclear(now, probe)
			if err != nil {
				return err
			}
			return river.JobSnooze(time.Second + jitter(time.Second)) // another attempt took it
		}
	}
	req, err := rs.request(r)
	if err != nil {
		return err
	}
	st, err := rs.client.Settle(ctx, req, opts...)
	if err != nil {
		rs.gate.unclear(now, probe)
		// Only an invalid request cannot be settled; the template was
		// checked at import, so this is a programming error.
		return w.record(ctx, job, r, &update{kind: updUnknown, gen: r.sendGen, left: false, errCode: "INVALID", errMsg: err.Error(),
			gaveUp: true, settleTries: r.settleTries}, 0)
	}
	w.report(ctx, st.Err, probe)
	return w.afterSettle(ctx, job, r, st)
}

// request is the packet of row r: a rule set's row carries its own
// template, a file's row uses the campaign's.
func (rs *runState) request(r *jrow) (*redpack.SendRedPackRequest, error) {
	if r.template == "" {
		return rs.tmpl.request(r.billNo, r.openid, r.amount), nil
	}
	var t Template
	if err := json.Unmarshal([]byte(r.template), &t); err != nil {
		return nil, fmt.Errorf("campaign %s row %d: template: %w", r.campaign, r.row, err)
	}
	return t.request(r.billNo, r.openid, r.amount), nil
}

// inFlight says how long to wait before settling r while the attempt that
// last took it may still be sending: its generation is open (nothing
// journalled since) and the deadline it stored, from its own flags, is not
// past. Settling earlier could re-send the bill number beside it. A row
// whose sender journalled its result settles at once.
func inFlight(r *jrow, now time.Time) time.Duration {
	if !r.open() {
		return 0
	}
	return time.UnixMilli(r.sendDeadline).Sub(now)
}

// pauseWait is how long a job waits while the run is paused or stopping.
func (w *rowWorker[TD, TTx]) pauseWait() time.Duration {
	if w.rs.gate.stoppedBy() != nil {
		return 2 * time.Second
	}
	return time.Second + jitter(2*time.Second)
}

// report tells the gate what a request taught about WeChat's reach.
func (w *rowWorker[TD, TTx]) report(ctx context.Context, err error, probe bool) {
	now := w.rs.cfg.now()
	var reqErr *redpack.RequestError
	var apiErr *redpack.APIError
	var unk *redpack.UnknownOutcomeError
	var tooFar *slotTooFarError
	switch {
	case err == nil:
		w.rs.gate.answered(now, probe, false)
	case errors.As(err, &tooFar):
		w.rs.gate.unclear(now, probe) // paced, not unreachable
	case errors.As(err, &reqErr) && ctx.Err() == nil:
		w.rs.gate.unreachable(now, probe, err.Error())
	case errors.As(err, &unk) && unk.Answer != nil, errors.As(err, &apiErr):
		w.rs.gate.answered(now, probe, errors.Is(err, redpack.CodeNotEnough))
	default:
		w.rs.gate.unclear(now, probe)
	}
}

// onRefusal acts on what a refusal says about the rest of the file: a
// merchant-wide one pauses or stops the run.
func (w *rowWorker[TD, TTx]) onRefusal(a *redpack.APIError, class refusalClass, advice string, now time.Time) {
	g := w.rs.gate
	switch class {
	case classBalance:
		if w.rs.cfg.OnBalance == WaitForBalance {
			g.pauseBalance(now)
			return
		}
		g.halt(&StoppedError{Reason: ErrBalanceLow, ErrCode: a.ErrCode, Detail: errText(a), Advice: advice})
	case classDaily:
		g.holdDay(nextDay(now))
	case classConfig:
		g.halt(&StoppedError{Reason: ErrMerchantConfig, ErrCode: a.ErrCode, Detail: errText(a), Advice: advice})
	}
}

func (w *rowWorker[TD, TTx]) afterSend(ctx context.Context, job *river.Job[rowArgs], r *jrow, res *redpack.SendResult, err error) error {
	gen := r.sendGen
	if err == nil {
		return w.finish(ctx, job, r, &update{kind: updFinal, gen: gen, left: true, outcome: dbPaid, status: string(redpack.StatusSent), sendListID: res.SendListID})
	}
	var apiErr *redpack.APIError
	var reqErr *redpack.RequestError
	var valErr *redpack.ValidationError
	if redpack.OutcomeOf(err) == redpack.OutcomeNotPaid {
		switch {
		case errors.As(err, &reqErr):
			// The request never left: the row goes back to pending, its
			// bill number never sent. At a slow rate the next slot may be
			// past this job's time: the row waits for it, unclaimed.
			wait := jitter(2*time.Second) + time.Second
			var tooFar *slotTooFarError
			if errors.As(err, &tooFar) {
				wait = min(tooFar.In, time.Minute) + jitter(time.Second)
			}
			return w.record(ctx, job, r, &update{kind: updNotSent, gen: gen, errCode: "NOT_SENT", errMsg: err.Error()}, wait)
		case errors.As(err, &apiErr) && errors.Is(err, redpack.CodeSendFailed):
			// About the bill number itself.
			return w.finish(ctx, job, r, &update{kind: updFinal, gen: gen, left: true, outcome: dbNotPaid, errCode: apiErr.ErrCode, errMsg: errText(apiErr)})
		case errors.As(err, &apiErr):
			// A definite refusal of the bill number's first send: nothing
			// was paid. What it means for the rest of the file decides
			// whether the row is reported or sent again later.
			now := w.rs.cfg.now()
			class, advice := classify(apiErr)
			w.onRefusal(apiErr, class, advice, now)
			u := &update{kind: updRefused, gen: gen, left: true, errCode: apiErr.ErrCode, errMsg: errText(apiErr), retry: class != classRow}
			if u.errCode == "" {
				u.errCode = "FAIL"
			}
			wait := w.pauseWait()
			switch class {
			case classRow:
				return w.finish(ctx, job, r, u)
			case classRate:
				wait = freqWait()
			case classDaily:
				// WeChat records a cap's refusal as a failed packet: the
				// row waits for the next day under a new bill number.
				u.heldUntil, u.renew = nextDay(now).UnixMilli(), true
				wait = nextDay(now).Sub(now) + jitter(time.Minute)
			}
			return w.record(ctx, job, r, u, wait)
		case errors.As(err, &valErr):
			return w.finish(ctx, job, r, &update{kind: updRefused, gen: gen, errCode: "INVALID", errMsg: err.Error()})
		}
	}
	// Unknown: settle it later, query first.
	return w.record(ctx, job, r, &update{kind: updUnknown, gen: gen, left: true, errCode: codeOf(err), errMsg: err.Error(),
		settleTries: r.settleTries, resendClosed: r.resendClosed}, w.backoff(0))
}

func (w *rowWorker[TD, TTx]) afterSettle(ctx context.Context, job *river.Job[rowArgs], r *jrow, st *redpack.Settlement) error {
	gen := r.sendGen // the settle's own generation, or the last one for a query alone
	switch st.Outcome {
	case redpack.OutcomePaid:
		status := string(st.Status)
		if status == "" {
			status = string(redpack.StatusSent)
		}
		return w.finish(ctx, job, r, &update{kind: updFinal, gen: gen, left: true, outcome: dbPaid, status: status, sendListID: st.SendListID})
	case redpack.OutcomeNotPaid:
		u := &update{kind: updFinal, gen: gen, left: true, outcome: dbNotPaid, status: string(st.Status)}
		if st.Info != nil && st.Info.Reason != "" {
			u.errMsg = st.Info.Reason
		}
		if st.Err != nil {
			u.errCode, u.errMsg = codeOf(st.Err), st.Err.Error()
		}
		return w.finish(ctx, job, r, u)
	}
	u := &update{kind: updUnknown, gen: gen, left: true, status: string(st.Status), settleTries: r.settleTries, resendClosed: r.resendClosed}
	if st.Err != nil {
		u.errCode, u.errMsg = codeOf(st.Err), st.Err.Error()
	} else if st.Advice != "" {
		u.errMsg = st.Advice
	}
	var apiErr *redpack.APIError
	if errors.As(st.Err, &apiErr) {
		// A refused query or re-send settles nothing, but a merchant-wide
		// refusal still pauses or stops the run.
		class, advice := classify(apiErr)
		w.onRefusal(apiErr, class, advice, w.rs.cfg.now())
	}
	var reqErr *redpack.RequestError
	if errors.As(st.Err, &reqErr) {
		// Nothing reached WeChat: not a try.
		return w.record(ctx, job, r, u, jitter(2*time.Second)+time.Second)
	}
	if errors.Is(st.Err, redpack.ErrBillExpired) {
		u.resendClosed = true
	}
	if errors.Is(st.Err, redpack.CodeFreqLimit) {
		return w.record(ctx, job, r, u, freqWait())
	}
	u.settleTries++
	if u.settleTries >= int64(w.rs.cfg.SettleTries) {
		u.gaveUp = true
		return w.finish(ctx, job, r, u)
	}
	return w.record(ctx, job, r, u, w.backoff(u.settleTries))
}

// capped handles a row that a daily cap keeps from being sent.
func (w *rowWorker[TD, TTx]) capped(ctx context.Context, job *river.Job[rowArgs], r *jrow, code string, now time.Time) error {
	if l := w.rs.cfg.Limits; l.UserDailyAmount >= 0 && r.amount > l.UserDailyAmount {
		// More than a user may receive in a day: no day would let it go.
		return w.finish(ctx, job, r, &update{kind: updFinal, outcome: dbNotPaid, errCode: code, onlyPending: true,
			errMsg: fmt.Sprintf("not sent: %d fen is more than the per-user daily amount (%d fen)", r.amount, l.UserDailyAmount)})
	}
	if w.rs.cfg.OnLimit == ReportNotPaid {
		return w.finish(ctx, job, r, &update{kind: updFinal, outcome: dbNotPaid, errCode: code, onlyPending: true,
			errMsg: "not sent: the journal shows the merchant's daily cap reached (" + code + ")"})
	}
	until := nextDay(now)
	if err := w.e.hold(ctx, r, until, "held by the daily caps until the next day"); err != nil {
		return err
	}
	return river.JobSnooze(until.Sub(now) + jitter(time.Minute))
}

func (w *rowWorker[TD, TTx]) backoff(tries int64) time.Duration {
	d := w.rs.cfg.SettleBackoff << min(tries, 10)
	d = min(d, time.Minute)
	return d/2 + jitter(d/2)
}

func freqWait() time.Duration { return time.Second + jitter(time.Second) }

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

func errText(a *redpack.APIError) string {
	if a.ErrCodeDes != "" {
		return a.ErrCodeDes
	}
	return a.ReturnMsg
}

// codeOf is the err_code behind err, if WeChat gave one.
func codeOf(err error) string {
	var u *redpack.UnknownOutcomeError
	if errors.As(err, &u) && u.Answer != nil {
		return u.Answer.ErrCode
	}
	var a *redpack.APIError
	if errors.As(err, &a) {
		return a.ErrCode
	}
	return ""
}

// record journals an attempt that settled nothing and has the job tried
// again after wait.
func (w *rowWorker[TD, TTx]) record(ctx context.Context, job *river.Job[rowArgs], r *jrow, u *update, wait time.Duration) error {
	if u.gaveUp {
		return w.finish(ctx, job, r, u)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	if err := w.e.inTx(ctx, func(tx TTx) error { return w.e.apply(ctx, tx, r, u, w.rs.cfg.now()) }); err != nil {
		return err
	}
	if u.kind == updRefused && u.retry {
		// A refusal from an attempt a newer send replaced is written as
		// unknown: then the row is settled soon, not held for the refusal's
		// wait (the next day, for SENDAMOUNT_LIMIT).
		if now, err := w.e.loadRow(ctx, r.campaign, r.row); err == nil && now.outcome == dbUnknown {
			wait = w.backoff(0)
		}
	}
	return river.JobSnooze(wait)
}

// finish journals u (if any) and completes the job, in one transaction.
// A job River has rescued (and so discarded) meanwhile cannot be
// completed: then only the journal is written; the row's new job is
// another attempt's and is left alone.
func (w *rowWorker[TD, TTx]) finish(ctx context.Context, job *river.Job[rowArgs], r *jrow, u *update) error {
	e := w.e
	now := w.rs.cfg.now()
	// The outcome is journalled even when the job's time is up or the run
	// is stopping: what a send taught is never dropped.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	err := e.inTx(ctx, func(tx TTx) error {
		if u != nil {
			if err := e.apply(ctx, tx, r, u, now); err != nil {
				return err
			}
		}
		done, err := river.JobCompleteTx[TD](ctx, tx, job)
		if errors.Is(err, rivertype.ErrNotFound) {
			return errNotOurs
		}
		if err != nil {
			return err
		}
		if done.Attempt != job.Attempt || done.State != rivertype.JobStateCompleted {
			return errNotOurs
		}
		return nil
	})
	if errors.Is(err, errNotOurs) {
		if u == nil {
			return nil
		}
		return e.inTx(ctx, func(tx TTx) error { return e.apply(ctx, tx, r, u, now) })
	}
	return err
}

// journalTimeout bounds the journal write after a send.
const journalTimeout = 15 * time.Second

var errNotOurs = errors.New("the job is no longer this attempt's")

// retryPolicy retries a job that failed (a database error, a crash) soon:
// outcomes are tracked in the journal, so River's long default backoff
// would only delay a restarted run.
type retryPolicy struct{}

func (retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := time.Second << min(job.Attempt, 5)
	return time.Now().Add(d/2 + jitter(d/2))
}

func (e *eng[TD, TTx]) run(ctx context.Context, name string, cfg *RunConfig) (*Totals, error) {
	info, err := e.info(ctx, name)
	if err != nil {
		return nil, err
	}
	mchID := cfg.Merchant.MchID()
	if err := e.tie(ctx, info, mchID); err != nil {
		return nil, err
	}
	if err := e.touchRun(ctx, name, cfg.now()); err != nil {
		return nil, err
	}

	lim, err := e.limiter(ctx, mchID, cfg)
	if err != nil {
		return nil, err
	}
	opts := append([]redpack.Option{}, cfg.ClientOptions...)
	opts = append(opts,
		redpack.WithLimiter(lim),
		redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: cfg.MaxAttempts, MinBackoff: time.Second, MaxBackoff: clientMaxBackoff}),
		redpack.WithHTTPClient(&http.Client{Timeout: cfg.AttemptTimeout}),
	)
	client, err := redpack.NewClient(cfg.Merchant, opts...)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: %w", name, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = quietLogger()
	}
	orders, err := redpack.NewClient(cfg.Merchant, append(append([]redpack.Option{}, cfg.ClientOptions...),
		redpack.WithHTTPClient(&http.Client{Timeout: cfg.AttemptTimeout}))...)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: %w", name, err)
	}
	rs := &runState{cfg: cfg, client: client, orders: orders, mchID: mchID, tmpl: info.Template, gate: newGate(cfg.balancePoll), logger: logger}

	workers := river.NewWorkers()
	if err := river.AddWorkerSafely[rowArgs](workers, &rowWorker[TD, TTx]{e: e, rs: rs}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely[awardArgs](workers, &awardWorker[TD, TTx]{e: e, rs: rs}); err != nil {
		return nil, err
	}
	timeout := cfg.jobTimeout()
	rc, err := river.NewClient[TTx](e.driver, &river.Config{
		Queues:     map[string]river.QueueConfig{queueOf(name): {MaxWorkers: cfg.Workers}},
		Workers:    workers,
		JobTimeout: timeout,
		// A rescued job is discarded (one attempt each) and its row gets a
		// new job from the sweep, which waits for the deadline the attempt
		// stored before settling; the fencing keeps even a later write of
		// that attempt harmless.
		RescueStuckJobsAfter: timeout + journalTimeout + 5*time.Second,
		RetryPolicy:          retryPolicy{},
		Logger:               logger,
		FetchPollInterval:    250 * time.Millisecond,
		FetchCooldown:        20 * time.Millisecond,
		SoftStopTimeout:      timeout + 5*time.Second,
		TestOnly:             false,
	})
	if err != nil {
		return nil, err
	}
	if cfg.sole {
		// This process holds the SQLite file's run lock, so no other run
		// is alive: attempts still open were a killed run's. Their time
		// is up now, and River's jobs still running were that run's.
		if err := e.reclaim(ctx, name); err != nil {
			return nil, err
		}
	}
	// Rows a previous run gave up on are settled again; rows without a
	// live job (its job discarded, or cleaned away) get one.
	if err := e.revive(ctx, name); err != nil {
		return nil, err
	}
	if err := e.sweep(ctx, rc, name); err != nil {
		return nil, err
	}
	// Jobs in flight finish and are journalled even when ctx ends: Stop
	// below waits for them.
	if err := rc.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	t, loopErr := e.watch(ctx, rc, name, cfg, rs.gate)
	stopCtx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	stopErr := rc.Stop(stopCtx)
	if final, err := e.totals(context.Background(), name, cfg.now()); err == nil {
		t = final
	}
	if cfg.Progress != nil && t != nil {
		cfg.Progress(*t)
	}
	var stopped *StoppedError
	if errors.As(loopErr, &stopped) {
		return t, stopped.withWaiting(t)
	}
	if loopErr != nil {
		return t, loopErr
	}
	return t, stopErr
}

// reclaim takes back what a dead run left, for a run that knows it is the
// only one (the SQLite file's lock): the open send generations' deadlines
// move to now, and the queue's running jobs are rescued as River's
// rescuer would, discarded, so that the sweep gives their rows new jobs at
// once instead of after River's rescue window. A dead process writes
// nothing more, and settling queries first, so nothing is sent twice.
func (e *eng[TD, TTx]) reclaim(ctx context.Context, name string) error {
	now := time.Now()
	var ids []int64
	err := e.inTx(ctx, func(tx TTx) error {
		if _, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET send_deadline = $1
			WHERE campaign = $2 AND send_gen > done_gen AND send_deadline > $1`, now.UnixMilli(), name); err != nil {
			return err
		}
		var err error
		ids, err = column[int64](ctx, e.db, tx, `SELECT id FROM river_job WHERE queue = $1 AND state = 'running'`, queueOf(name))
		return err
	})
	if err != nil || len(ids) == 0 {
		return err
	}
	msg, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: 1, Error: "rescued at once: the run working it is dead (this run holds the database's run lock)"})
	if err != nil {
		return err
	}
	p := &riverdriver.JobRescueManyParams{StuckHorizon: now.Add(time.Second)}
	for _, id := range ids {
		p.ID = append(p.ID, id)
		p.Error = append(p.Error, msg)
		p.FinalizedAt = append(p.FinalizedAt, &now)
		p.ScheduledAt = append(p.ScheduledAt, now)
		p.State = append(p.State, string(rivertype.JobStateDiscarded))
	}
	_, err = e.driver.GetExecutor().JobRescueMany(ctx, p)
	return err
}

// watch reports progress until no row is open, ctx ends, or the gate
// stops the run (a merchant-wide refusal, or an outage past
// cfg.OutageLimit).
func (e *eng[TD, TTx]) watch(ctx context.Context, rc *river.Client[TTx], name string, cfg *RunConfig, g *gate) (*Totals, error) {
	tick := time.NewTicker(cfg.ProgressEvery)
	defer tick.Stop()
	lastSweep := time.Now()
	var t *Totals
	for {
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-g.stopped:
			return t, g.stoppedBy()
		case <-tick.C:
		}
		if d := g.outageFor(cfg.now()); d > cfg.OutageLimit {
			g.halt(outageError(d, g.lastError()))
			return t, g.stoppedBy()
		}
		nt, err := e.totals(ctx, name, cfg.now())
		if err != nil {
			if ctx.Err() != nil {
				return t, ctx.Err()
			}
			if cfg.Follow {
				// A run that follows a rule set is a daemon: a database
				// blip is waited out, not the end of the payer.
				cfg.logger().WarnContext(ctx, "campaign: reading the totals failed; will try again", "campaign", name, "error", err)
				continue
			}
			return t, err
		}
		t = nt
		if cfg.Progress != nil {
			cfg.Progress(*t)
		}
		if t.Open == 0 && !cfg.Follow {
			return t, nil
		}
		if time.Since(lastSweep) > cfg.sweepEvery {
			if err := e.sweep(ctx, rc, name); err != nil && ctx.Err() == nil {
				if !cfg.Follow {
					return t, err
				}
				cfg.logger().WarnContext(ctx, "campaign: the sweep failed; will try again", "campaign", name, "error", err)
			}
			lastSweep = time.Now()
		}
	}
}

// tie records the merchant a campaign pays from, at its first run, and
// refuses a run as another merchant: bill numbers are per merchant.
func (e *eng[TD, TTx]) tie(ctx context.Context, info *Info, mchID string) error {
	if info.MchID != "" && info.MchID != mchID {
		return fmt.Errorf("campaign %s pays from merchant %s, not %s", info.Name, info.MchID, mchID)
	}
	if info.MchID != "" {
		return nil
	}
	return e.inTx(ctx, func(tx TTx) error {
		if _, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign SET mch_id = $1 WHERE name = $2 AND mch_id = ''`, mchID, info.Name); err != nil {
			return err
		}
		r, err := e.db.query(ctx, tx, `SELECT mch_id FROM redpack_campaign WHERE name = $1`, info.Name)
		if err != nil {
			return err
		}
		defer r.Close()
		var got string
		if r.Next() {
			if err := r.Scan(&got); err != nil {
				return err
			}
		}
		if got != mchID {
			return fmt.Errorf("campaign %s pays from merchant %s, not %s", info.Name, got, mchID)
		}
		return r.Err()
	})
}

func (e *eng[TD, TTx]) revive(ctx context.Context, name string) error {
	return e.inTx(ctx, func(tx TTx) error {
		_, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET gave_up = 0, settle_tries = 0 WHERE campaign = $1 AND gave_up = 1 AND outcome = 'unknown'`, name)
		return err
	})
}

// sweep gives every open row without a live job a new one.
func (e *eng[TD, TTx]) sweep(ctx context.Context, rc *river.Client[TTx], name string) error {
	for {
		var missing []int64
		err := e.inTx(ctx, func(tx TTx) error {
			var err error
			missing, err = column[int64](ctx, e.db, tx, `SELECT w.row_no FROM redpack_campaign_row w
				WHERE w.campaign = $1 AND (w.outcome = 'pending' OR (w.outcome = 'unknown' AND w.gave_up = 0))
				AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = w.job_id
					AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled'))
				ORDER BY w.row_no LIMIT $2`, name, int64(importBatch))
			return err
		})
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			return e.sweepAwards(ctx, rc, name)
		}
		err = e.inTx(ctx, func(tx TTx) error {
			params := make([]river.InsertManyParams, len(missing))
			for i, n := range missing {
				params[i] = insertParams(name, n)
			}
			res, err := rc.InsertManyTx(ctx, tx, params)
			if err != nil {
				return err
			}
			for i, n := range missing {
				if _, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET job_id = $1 WHERE campaign = $2 AND row_no = $3`, res[i].Job.ID, name, n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(missing) < importBatch {
			return e.sweepAwards(ctx, rc, name)
		}
	}
}

// sweepAwards gives every waiting award without a live job a new one (a
// job River rescued and discarded, or a killed run's). It takes the rule
// set's lock first, as every award write does, and looks again under it.
func (e *eng[TD, TTx]) sweepAwards(ctx context.Context, rc *river.Client[TTx], name string) error {
	const missingQ = `SELECT a.rule, a.transaction_id, a.hold_until FROM redpack_rule_award a
		WHERE a.campaign = $1 AND a.state = 'waiting'
		AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = a.job_id
			AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled'))`
	var n int64
	if err := e.db.queryRow(ctx, `SELECT COUNT(*) FROM (`+missingQ+`) m`, []any{name}, &n); err != nil || n == 0 {
		return err
	}
	return e.inTx(ctx, func(tx TTx) error {
		if _, err := e.lockSet(ctx, tx, name); err != nil {
			return err
		}
		type key struct {
			rule, tx string
			hold     int64
		}
		var missing []key
		r, err := e.db.query(ctx, tx, missingQ, name)
		if err != nil {
			return err
		}
		for r.Next() {
			var k key
			if err := r.Scan(&k.rule, &k.tx, &k.hold); err != nil {
				r.Close()
				return err
			}
			missing = append(missing, k)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		for _, k := range missing {
			if err := e.insertAwardJob(ctx, tx, rc, name, k.rule, k.tx, time.UnixMilli(k.hold)); err != nil {
				return err
			}
		}
		return nil
	})
}
