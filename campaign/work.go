package campaign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
	"golang.org/x/time/rate"

	"github.com/redpack-go/redpack"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runState is what one Run's workers share.
type runState struct {
	cfg    *RunConfig
	client *redpack.Client
	mchID  string
	tmpl   Template
}

// rowWorker works one row's job: it reads the journal first, sends or
// settles under the journalled bill number, and records what it learnt,
// only ever upgrading the outcome.
type rowWorker[TD riverdriver.Driver[TTx], TTx any] struct {
	river.WorkerDefaults[rowArgs]
	e  *eng[TD, TTx]
	rs *runState
}

// update is what one attempt learnt about a row.
type update struct {
	outcome    string // dbPaid, dbNotPaid or dbUnknown
	status     string
	errCode    string
	errMsg     string
	sendListID string
	// onlyPending: the row was never sent (a cap kept it back), so the
	// outcome may be written only while it is still pending; another
	// attempt may have claimed and sent it since.
	onlyPending bool
	// unknown only:
	settleTries  int64
	gaveUp       bool
	resendClosed bool
}

func (w *rowWorker[TD, TTx]) Work(ctx context.Context, job *river.Job[rowArgs]) error {
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
	req := rs.tmpl.request(r.billNo, r.openid, r.amount)

	if r.outcome == dbPending {
		if r.heldUntil > now.UnixMilli() {
			return river.JobSnooze(time.Until(time.UnixMilli(r.heldUntil)) + jitter(time.Second))
		}
		claimed, cap, err := e.claim(ctx, r, rs.mchID, now, rs.cfg.Limits)
		if err != nil {
			return err
		}
		if cap != "" {
			return w.capped(ctx, job, r, cap, now)
		}
		if claimed {
			// The row is journalled as sent (unknown, first-send time set)
			// before the request leaves: a crash from here on leaves a row
			// the next attempt settles, never one it sends as new.
			res, err := rs.client.SendRedPack(ctx, req)
			return w.afterSend(ctx, job, r, res, err)
		}
		// Another attempt of this job claimed it first and may be sending
		// it now: settle it, once inFlight says that attempt is done.
		if r, err = e.loadRow(ctx, job.Args.Campaign, job.Args.Row); err != nil {
			return err
		}
		if r.final() {
			return w.finish(ctx, job, r, nil)
		}
		if r.outcome == dbPending {
			return river.JobSnooze(time.Second + jitter(time.Second)) // reissued meanwhile
		}
		req = rs.tmpl.request(r.billNo, r.openid, r.amount) // the row as it is now
	}
	if wait := w.inFlight(r, now); wait > 0 {
		return river.JobSnooze(wait + jitter(time.Second))
	}

	var opts []redpack.SettleOption
	if r.resendClosed || now.Sub(time.UnixMilli(r.firstSentAt)) >= redpack.ResendWindow {
		opts = append(opts, redpack.QueryOnly())
	}
	st, err := rs.client.Settle(ctx, req, opts...)
	if err != nil {
		// Only an invalid request cannot be settled; the template was
		// checked at import, so this is a programming error.
		return w.record(ctx, job, r, &update{outcome: dbUnknown, errCode: "INVALID", errMsg: err.Error(), gaveUp: true, settleTries: r.settleTries}, 0)
	}
	return w.afterSettle(ctx, job, r, st)
}

// inFlight says how long to wait before settling r, when another attempt
// may still be sending it: r was claimed (the claim wrote updated_at equal
// to first_sent_at) and nothing has been journalled since, and the
// claiming attempt's time limit and journal write are not over. Settling
// then could re-send the bill number while the first send is in flight,
// and that attempt would journal its refusal as "not paid" for a bill
// number sent twice. A row whose sender wrote its result settles at once.
func (w *rowWorker[TD, TTx]) inFlight(r *jrow, now time.Time) time.Duration {
	if r.updatedAt != r.firstSentAt {
		return 0
	}
	return time.UnixMilli(r.firstSentAt).Add(w.rs.cfg.attemptSpan()).Sub(now)
}

func (w *rowWorker[TD, TTx]) afterSend(ctx context.Context, job *river.Job[rowArgs], r *jrow, res *redpack.SendResult, err error) error {
	if err == nil {
		return w.finish(ctx, job, r, &update{outcome: dbPaid, status: string(redpack.StatusSent), sendListID: res.SendListID})
	}
	var apiErr *redpack.APIError
	var reqErr *redpack.RequestError
	var valErr *redpack.ValidationError
	switch redpack.OutcomeOf(err) {
	case redpack.OutcomeNotPaid:
		switch {
		case errors.Is(err, redpack.CodeFreqLimit):
			// Never a failure: the row goes again under the same bill number.
			return w.record(ctx, job, r, &update{outcome: dbUnknown, errCode: string(redpack.CodeFreqLimit), errMsg: err.Error()}, freqWait())
		case errors.As(err, &reqErr):
			// The request never left; try again shortly.
			return w.record(ctx, job, r, &update{outcome: dbUnknown, errCode: "NOT_SENT", errMsg: err.Error()}, jitter(2*time.Second)+time.Second)
		case errors.As(err, &apiErr):
			// A definite refusal of a bill number sent for the first time:
			// nothing was paid. Reported, not re-issued.
			return w.finish(ctx, job, r, &update{outcome: dbNotPaid, errCode: apiErr.ErrCode, errMsg: errText(apiErr)})
		case errors.As(err, &valErr):
			return w.finish(ctx, job, r, &update{outcome: dbNotPaid, errCode: "INVALID", errMsg: err.Error()})
		}
	}
	// Unknown: settle it later, query first.
	return w.record(ctx, job, r, &update{outcome: dbUnknown, errCode: codeOf(err), errMsg: err.Error()}, w.backoff(0))
}

func (w *rowWorker[TD, TTx]) afterSettle(ctx context.Context, job *river.Job[rowArgs], r *jrow, st *redpack.Settlement) error {
	switch st.Outcome {
	case redpack.OutcomePaid:
		status := string(st.Status)
		if status == "" {
			status = string(redpack.StatusSent)
		}
		return w.finish(ctx, job, r, &update{outcome: dbPaid, status: status, sendListID: st.SendListID})
	case redpack.OutcomeNotPaid:
		u := &update{outcome: dbNotPaid, status: string(st.Status)}
		if st.Info != nil && st.Info.Reason != "" {
			u.errMsg = st.Info.Reason
		}
		if st.Err != nil {
			u.errCode, u.errMsg = codeOf(st.Err), st.Err.Error()
		}
		return w.finish(ctx, job, r, u)
	}
	u := &update{outcome: dbUnknown, status: string(st.Status), settleTries: r.settleTries, resendClosed: r.resendClosed}
	if st.Err != nil {
		u.errCode, u.errMsg = codeOf(st.Err), st.Err.Error()
	} else if st.Advice != "" {
		u.errMsg = st.Advice
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
		return w.finish(ctx, job, r, &update{outcome: dbNotPaid, errCode: code, onlyPending: true,
			errMsg: fmt.Sprintf("not sent: %d fen is more than the per-user daily amount (%d fen)", r.amount, l.UserDailyAmount)})
	}
	if w.rs.cfg.OnLimit == ReportNotPaid {
		return w.finish(ctx, job, r, &update{outcome: dbNotPaid, errCode: code, onlyPending: true,
			errMsg: "not sent: the journal shows the merchant's daily cap reached (" + code + ")"})
	}
	until := nextDay(now)
	if err := w.e.hold(ctx, r, until); err != nil {
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
	return river.JobSnooze(wait)
}

// finish journals u (if any) and completes the job, in one transaction.
// River completes a job even when it is no longer this attempt's (a rescue
// may have started another): then only the journal is written and the job
// is left to the attempt that owns it.
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

var errNotOurs = errors.New("the job is another attempt's")

// apply writes u to the row, under its bill number, only upgrading: a
// definite outcome is never overwritten, and unknown never replaces one.
// A definite not-paid releases what the row had put towards the daily
// caps.
func (e *eng[TD, TTx]) apply(ctx context.Context, tx TTx, r *jrow, u *update, now time.Time) error {
	ms := now.UnixMilli()
	switch u.outcome {
	case dbPaid, dbNotPaid:
		from := `outcome IN ('pending', 'unknown')`
		if u.onlyPending {
			from = `outcome = 'pending'`
		}
		n, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET outcome = $1, status = $2, err_code = $3, err_msg = $4, send_listid = $5,
				settled_at = $6, updated_at = $6, gave_up = 0
			WHERE campaign = $7 AND row_no = $8 AND bill_no = $9 AND `+from,
			u.outcome, u.status, u.errCode, clip(u.errMsg), u.sendListID, ms, r.campaign, r.row, r.billNo)
		if err != nil {
			return err
		}
		if n == 1 && u.outcome == dbNotPaid {
			return e.release(ctx, tx, r)
		}
		return nil
	default:
		_, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET status = $1, err_code = $2, err_msg = $3, settle_tries = $4,
				gave_up = $5, resend_closed = CASE WHEN $6 = 1 THEN 1 ELSE resend_closed END, updated_at = $7
			WHERE campaign = $8 AND row_no = $9 AND bill_no = $10 AND outcome = 'unknown'`,
			u.status, u.errCode, clip(u.errMsg), u.settleTries, b2i(u.gaveUp), b2i(u.resendClosed), ms, r.campaign, r.row, r.billNo)
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

// claim marks a pending row as being sent (unknown, with its first-send
// time, recorded once) and puts it towards the daily caps, in one
// transaction, before the request is made; a cap that would be passed
// rolls it all back. It returns false when the row
// was no longer pending (another attempt claimed it), or the cap's
// err_code when sending would exceed one.
func (e *eng[TD, TTx]) claim(ctx context.Context, r *jrow, mchID string, now time.Time, l Limits) (bool, string, error) {
	d := day(now)
	var claimed bool
	var code string
	err := e.inTx(ctx, func(tx TTx) error {
		claimed, code = false, ""
		if l.UserDailyAmount >= 0 && r.amount > l.UserDailyAmount {
			code = string(redpack.CodeRcvdAmountLimit)
			return nil
		}
		// The row first, then the counters: every transaction that touches
		// both locks them in this order (see release), so none deadlocks.
		n, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET outcome = 'unknown', first_sent_at = $1, limit_day = $2, updated_at = $1,
				held_until = 0, err_code = '', err_msg = ''
			WHERE campaign = $3 AND row_no = $4 AND bill_no = $5 AND outcome = 'pending'`,
			now.UnixMilli(), d, r.campaign, r.row, r.billNo)
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
	}
	return claimed, code, err
}

var (
	errCapped     = errors.New("daily cap reached")
	errNotClaimed = errors.New("row already claimed")
)

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

// release takes a row that was definitely not paid off the day's counters.
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
func (e *eng[TD, TTx]) hold(ctx context.Context, r *jrow, until time.Time) error {
	return e.inTx(ctx, func(tx TTx) error {
		_, err := e.db.exec(ctx, tx, `UPDATE redpack_campaign_row SET held_until = $1, err_code = 'HELD',
				err_msg = 'held by the daily caps until the next day' WHERE campaign = $2 AND row_no = $3 AND outcome = 'pending'`,
			until.UnixMilli(), r.campaign, r.row)
		return err
	})
}

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

	var lim redpack.Limiter = unlimited{}
	if cfg.Rate > 0 {
		if e.kind == "postgres" {
			lim = &dbLimiter{db: e.db, mchID: mchID, interval: time.Duration(float64(time.Second) / cfg.Rate)}
		} else {
			lim = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
		}
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
	rs := &runState{cfg: cfg, client: client, mchID: mchID, tmpl: info.Template}

	workers := river.NewWorkers()
	if err := river.AddWorkerSafely[rowArgs](workers, &rowWorker[TD, TTx]{e: e, rs: rs}); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = quietLogger()
	}
	timeout := cfg.jobTimeout()
	rc, err := river.NewClient[TTx](e.driver, &river.Config{
		Queues:     map[string]river.QueueConfig{queueOf(name): {MaxWorkers: cfg.Workers}},
		Workers:    workers,
		JobTimeout: timeout,
		// Not before the first attempt's journal write (up to
		// journalTimeout after its time limit) is over: a rescued attempt
		// settles the row, and must not re-send it while that attempt may
		// still journal a refusal of its send.
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
	t, loopErr := e.watch(ctx, rc, name, cfg)
	stopCtx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	stopErr := rc.Stop(stopCtx)
	if final, err := e.totals(context.Background(), name, cfg.now()); err == nil {
		t = final
	}
	if cfg.Progress != nil && t != nil {
		cfg.Progress(*t)
	}
	if loopErr != nil {
		return t, loopErr
	}
	return t, stopErr
}

// watch reports progress until no row is open, or ctx ends.
func (e *eng[TD, TTx]) watch(ctx context.Context, rc *river.Client[TTx], name string, cfg *RunConfig) (*Totals, error) {
	tick := time.NewTicker(cfg.ProgressEvery)
	defer tick.Stop()
	lastSweep := time.Now()
	var t *Totals
	for {
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-tick.C:
		}
		nt, err := e.totals(ctx, name, cfg.now())
		if err != nil {
			if ctx.Err() != nil {
				return t, ctx.Err()
			}
			return t, err
		}
		t = nt
		if cfg.Progress != nil {
			cfg.Progress(*t)
		}
		if t.Open == 0 {
			return t, nil
		}
		if time.Since(lastSweep) > 30*time.Second {
			if err := e.sweep(ctx, rc, name); err != nil && ctx.Err() == nil {
				return t, err
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
			r, err := e.db.query(ctx, tx, `SELECT w.row_no FROM redpack_campaign_row w
				WHERE w.campaign = $1 AND (w.outcome = 'pending' OR (w.outcome = 'unknown' AND w.gave_up = 0))
				AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = w.job_id
					AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled'))
				ORDER BY w.row_no LIMIT $2`, name, int64(importBatch))
			if err != nil {
				return err
			}
			defer r.Close()
			for r.Next() {
				var n int64
				if err := r.Scan(&n); err != nil {
					return err
				}
				missing = append(missing, n)
			}
			return r.Err()
		})
		if err != nil || len(missing) == 0 {
			return err
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
			return nil
		}
	}
}

type unlimited struct{}

func (unlimited) Wait(ctx context.Context) error { return ctx.Err() }

// dbLimiter is the merchant's rate limit shared by every process on one
// PostgreSQL database: a generic cell rate algorithm whose one row holds
// the theoretical arrival time, updated in one statement per request on
// the database's clock, so that machines with skewed clocks still share
// one pace.
type dbLimiter struct {
	db interface {
		queryRow(ctx context.Context, q string, args []any, dest ...any) error
	}
	mchID    string
	interval time.Duration
}

// Wait reserves the next slot and sleeps until it comes.
func (l *dbLimiter) Wait(ctx context.Context) error {
	var waitUS int64
	iv := l.interval.Microseconds()
	err := l.db.queryRow(ctx, `WITH c AS (SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS now)
		INSERT INTO redpack_campaign_rate AS r (mch_id, tat) SELECT $1, c.now + $2 FROM c
		ON CONFLICT (mch_id) DO UPDATE SET tat = GREATEST(r.tat, (SELECT now FROM c)) + $2
		RETURNING r.tat - $2 - (SELECT now FROM c)`,
		[]any{l.mchID, iv}, &waitUS)
	if err != nil {
		return fmt.Errorf("campaign rate limit: %w", err)
	}
	if waitUS <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(waitUS) * time.Microsecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
