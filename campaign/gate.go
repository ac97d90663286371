package campaign

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redpack-go/redpack"
)

// Why a run stops before its end: something about the merchant or the
// network, not about a row. Match them with errors.Is on Run's error; the
// error is a *StoppedError with the details.
var (
	// ErrBalanceLow: WeChat refused a send with NOTENOUGH. The rows that
	// wait keep their bill numbers; top up the merchant's operating
	// account (运营账户) and run again.
	ErrBalanceLow = errors.New("the merchant's balance is too low (NOTENOUGH)")
	// ErrMerchantConfig: WeChat refused a request for a reason that holds
	// for every row (SIGN_ERROR, CA_ERROR, NO_AUTH, ILLEGAL_APPID …): fix
	// the setting StoppedError.Advice names, then run again.
	ErrMerchantConfig = errors.New("WeChat refused the merchant's configuration")
	// ErrOutage: WeChat could not be reached for longer than
	// RunConfig.OutageLimit. Nothing was lost: rows whose requests never
	// left wait, unsent, for the next run.
	ErrOutage = errors.New("WeChat could not be reached")
)

// StoppedError is the error of a run that stopped taking rows before its
// end. It matches its Reason (ErrBalanceLow, ErrMerchantConfig or
// ErrOutage) with errors.Is. The rows in flight were journalled; every
// other row waits for the next run, under its own bill number.
type StoppedError struct {
	Reason  error
	ErrCode string // WeChat's err_code, when WeChat gave one
	Detail  string // WeChat's words, or the network error
	Advice  string // what to do, for a person
	Waiting int64  // rows left to send or settle (set by Run)
}

// Error implements error.
func (e *StoppedError) Error() string {
	s := "campaign stopped: " + e.Reason.Error()
	if e.ErrCode != "" {
		s += " (" + e.ErrCode + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the reason.
func (e *StoppedError) Unwrap() error { return e.Reason }

// BalanceAction is what Run does when WeChat answers NOTENOUGH.
type BalanceAction int

const (
	// StopOnLowBalance ends the run: it takes no new row, lets the rows in
	// flight finish and returns a *StoppedError matching ErrBalanceLow.
	StopOnLowBalance BalanceAction = iota
	// WaitForBalance pauses the run: no new row is sent, and one row is
	// tried every BalancePoll until the balance allows it again.
	WaitForBalance
)

// configAdvice says which setting a configuration refusal points at.
var configAdvice = map[redpack.Code]string{
	redpack.CodeSignError:            "check the API key (APIv2 密钥) and that it is this merchant's",
	redpack.CodeCAError:              "check the client certificate (apiclient_cert.p12 and its password): it must be this merchant's, and current",
	redpack.CodeNoAuth:               "check the merchant console: the red packet product's permission, and this machine's IP in the API IP whitelist (产品中心 → 现金红包 → 产品设置)",
	redpack.CodeIllegalAppID:         "check the appid: it must be an Official Account appid bound to this merchant",
	redpack.CodeMsgAppIDError:        "check the appid (msgappid): it must be bound to this merchant",
	redpack.CodeAPIMethodClosed:      "the red packet API is switched off for this merchant: turn it on in the merchant console (产品中心 → 现金红包)",
	redpack.CodeAcceptModeError:      "check the service provider and sub-merchant relationship (受理关系) in the console",
	redpack.CodeXMLError:             "WeChat could not read the request: check the base URL and any proxy in between",
	redpack.CodePayerAccountAbnormal: "the merchant's paying account is abnormal: see the merchant console, or WeChat Pay's support",
	redpack.CodeNoConsumeCompetence:  "the merchant named by consume_mch_id may not pay for this merchant: check the service provider's authorisation",
	redpack.Code("return_code=FAIL"): "WeChat refused the request before reading it: check mch_id, appid, the API key and the base URL",
}

// refusalClass is what a definite refusal says about the rest of the file.
type refusalClass int

const (
	// classRow: about this row only (OPENID_ERROR, SENDNUM_LIMIT,
	// MONEY_LIMIT …): it is reported not paid.
	classRow refusalClass = iota
	// classRate: FREQ_LIMIT, the row goes again under its bill number.
	classRate
	// classBalance: NOTENOUGH.
	classBalance
	// classDaily: SENDAMOUNT_LIMIT, the merchant's amount for the day.
	classDaily
	// classConfig: a setting every row shares is wrong.
	classConfig
)

// classify sorts a refusal.
func classify(a *redpack.APIError) (refusalClass, string) {
	if a.ErrCode == "" && a.ReturnCode != "SUCCESS" {
		return classConfig, configAdvice["return_code=FAIL"]
	}
	code := redpack.Code(a.ErrCode)
	switch code {
	case redpack.CodeFreqLimit:
		return classRate, ""
	case redpack.CodeNotEnough:
		return classBalance, "top up the merchant's operating account (运营账户)"
	case redpack.CodeSendAmountLimit:
		return classDaily, ""
	}
	if advice, ok := configAdvice[code]; ok {
		return classConfig, advice
	}
	return classRow, ""
}

// gate decides whether a worker may send now. A run of requests that
// cannot reach WeChat pauses the run (an outage): no new row is claimed,
// and one request at a time probes, with backoff, until one is answered.
// With WaitForBalance a NOTENOUGH pauses the run the same way, probing
// every balancePoll. A merchant-wide refusal stops the run for good.
type gate struct {
	mu        sync.Mutex
	threshold int           // failures in a row that mean an outage
	minProbe  time.Duration // first wait between outage probes
	maxProbe  time.Duration
	balance   time.Duration // wait between balance probes

	fails   int
	since   time.Time // when the current run of failures began
	paused  error     // ErrOutage or ErrBalanceLow while paused
	probeAt time.Time
	backoff time.Duration
	probing bool

	lastErr   string // the last request that could not reach WeChat
	stop      *StoppedError
	stopped   chan struct{} // closed at the first stop
	holdUntil time.Time     // SENDAMOUNT_LIMIT: no new row before this
}

func newGate(balancePoll time.Duration) *gate {
	return &gate{threshold: 3, minProbe: time.Second, maxProbe: 30 * time.Second, balance: balancePoll, stopped: make(chan struct{})}
}

// allow says whether a worker may send now, and whether its send is the
// probe of a paused run; a probe must be followed by one report.
// claim is false for a settle of an unknown row, which a balance pause
// lets through (it queries first).
func (g *gate) allow(now time.Time, claim bool) (ok, probe bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.stop != nil:
		return false, false
	case g.paused == nil:
		return true, false
	case g.paused == ErrBalanceLow && !claim:
		return true, false
	case g.probing || now.Before(g.probeAt):
		return false, false
	}
	g.probing = true
	return true, true
}

// outageFor is how long the run has been paused by an outage; 0 if it is
// not.
func (g *gate) outageFor(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused != ErrOutage {
		return 0
	}
	return now.Sub(g.since)
}

// answered reports a request WeChat answered; notEnough that the answer
// was NOTENOUGH.
func (g *gate) answered(now time.Time, probe, notEnough bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fails, g.since = 0, time.Time{}
	if probe {
		g.probing = false
	}
	switch {
	case g.paused == ErrOutage:
		g.paused = nil
	case g.paused == ErrBalanceLow && probe && !notEnough:
		// Only a probe (a send) says the balance allows again; a settle's
		// query says nothing about it.
		g.paused = nil
	case g.paused == ErrBalanceLow && probe:
		g.probeAt = now.Add(g.balance)
	}
}

// unreachable reports a request that could not reach WeChat.
func (g *gate) unreachable(now time.Time, probe bool, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fails, g.lastErr = g.fails+1, why
	if g.since.IsZero() {
		g.since = now
	}
	switch {
	case probe:
		g.probing = false
		g.backoff = min(max(2*g.backoff, g.minProbe), g.maxProbe)
		g.probeAt = now.Add(g.backoff)
	case g.paused == nil && g.fails >= g.threshold:
		g.paused, g.backoff = ErrOutage, g.minProbe
		g.probeAt = now.Add(g.backoff)
	}
}

// unclear reports a request whose fate is unknown: it proves neither.
func (g *gate) unclear(now time.Time, probe bool) {
	if !probe {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.probing = false
	g.probeAt = now.Add(max(g.backoff, g.minProbe))
}

// pauseBalance pauses the run for a low balance (WaitForBalance).
func (g *gate) pauseBalance(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused == nil {
		g.paused, g.probeAt = ErrBalanceLow, now.Add(g.balance)
	}
}

// holdDay keeps new rows back until until (SENDAMOUNT_LIMIT).
func (g *gate) holdDay(until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.holdUntil) {
		g.holdUntil = until
	}
}

func (g *gate) heldUntil() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.holdUntil
}

// halt stops the run: the first reason wins.
func (g *gate) halt(e *StoppedError) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stop == nil {
		g.stop = e
		close(g.stopped)
	}
}

func (g *gate) lastError() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastErr
}

// stoppedBy returns the reason the run stopped, or nil.
func (g *gate) stoppedBy() *StoppedError {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stop
}

func (e *StoppedError) withWaiting(t *Totals) *StoppedError {
	if t != nil {
		e.Waiting = t.Pending + t.Unknown
	}
	return e
}

func outageError(d time.Duration, last string) *StoppedError {
	return &StoppedError{Reason: ErrOutage, Detail: fmt.Sprintf("no answer for %s: %s", d.Round(time.Second), last),
		Advice: "check this machine's network, proxy and DNS for api.mch.weixin.qq.com, then run again"}
}
