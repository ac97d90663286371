package campaign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redpack-go/redpack"
)

// Errors a Store returns; match them with errors.Is.
var (
	// ErrExists: a campaign of that name is already in the database. A
	// campaign is imported once; run it, or choose another name.
	ErrExists = errors.New("campaign exists")
	// ErrNotFound: no campaign of that name. Store's methods return it as
	// a *NotFoundError, which suggests the closest name.
	ErrNotFound = errors.New("no such campaign")
)

// Spec names a new campaign and its packet template.
type Spec struct {
	// Name: 1–64 characters of lower-case letters, digits, '-' and '_'.
	Name     string
	Template Template
	// Source says where the rows came from (e.g. the file's name and
	// SHA-256), for status and report.
	Source string
	// MchID, if known at import, ties the campaign to that merchant: a run
	// with another merchant's credentials is refused. Empty: the first run
	// ties it.
	MchID string
	// FileSHA256 is the SHA-256 of the file the rows came from, in lower-case
	// hex, or "". Create refuses a file another campaign of the database
	// was imported from, with a *SameFileError, unless AllowSameFile: the
	// same file under a second name would pay every row twice.
	FileSHA256    string
	AllowSameFile bool
}

// SameFileError is Create's refusal of a file that another campaign of the
// database was imported from (Spec.FileSHA256).
type SameFileError struct {
	Campaign string // the campaign imported from the same file
	SHA256   string
}

// Error implements error.
func (e *SameFileError) Error() string {
	return fmt.Sprintf("campaign %s was imported from the same file (sha256 %s)", e.Campaign, e.SHA256)
}

// Info describes a campaign.
type Info struct {
	Name string
	// RuleSet: the campaign is a rule set, whose rows are made from
	// payments (Store.Award), not imported from a file.
	RuleSet     bool
	MchID       string
	Template    Template
	Source      string
	Rows        int64
	TotalAmount int64 // fen, every row
	CreatedAt   time.Time
	// LastRunAt is when a run of the campaign last started (as List's);
	// zero if none has.
	LastRunAt time.Time
}

// Create imports a campaign: every row gets its bill number (the
// packet's idempotency key, redpack.NewBillNo) and its job, written in
// one transaction before anything can be sent, so that an import is all
// or nothing and a crash leaves no half campaign. A name already used is
// ErrExists; a file another campaign came from is a *SameFileError (see
// Spec.FileSHA256). Rows come from ParseFile, which has checked them.
func (s *Store) Create(ctx context.Context, spec Spec, rows []Row) (*Info, error) {
	if err := checkName(spec.Name); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, &InputError{Msg: "a campaign needs at least one row"}
	}
	if err := checkTemplate(spec.Template); err != nil {
		return nil, err
	}
	if h := spec.FileSHA256; h != "" && (len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "") {
		return nil, &InputError{Msg: fmt.Sprintf("FileSHA256 %q: 64 lower-case hex digits", h)}
	}
	if err := checkRows(rows, spec.Template, ParseOptions{AllowDuplicates: true}); len(err) > 0 {
		return nil, &InputError{Rows: err}
	}
	return s.e.create(ctx, &spec, rows)
}

// Info returns a campaign's description, or ErrNotFound.
func (s *Store) Info(ctx context.Context, name string) (*Info, error) {
	in, err := s.e.info(ctx, name)
	return in, s.notFound(ctx, name, err)
}

// Totals counts a campaign's rows by outcome.
type Totals struct {
	Rows    int64
	Pending int64 // not sent yet (held rows included)
	Held    int64 // pending rows held back by the daily caps until HeldUntil
	Unknown int64 // sent, outcome not yet known (in-flight rows included)
	// InFlight counts the unknown rows an attempt is sending now: claimed
	// or re-sent, nothing journalled since, and within that attempt's time.
	InFlight int64
	// InFlightUntil is when the last in-flight attempt's time is surely
	// up: a row another run took and was killed with is settled then.
	InFlightUntil time.Time
	GaveUp        int64 // unknown rows this run stopped settling; the next run settles them again
	Paid          int64
	NotPaid       int64 // definitely not paid: refused, or FAILED

	AmountTotal int64 // fen
	AmountPaid  int64 // fen

	// Awaiting counts a rule set's awards not yet made rows: waiting for
	// their hold or WeChat's confirmation of the payment.
	Awaiting int64
	// Open counts what a run still works on: rows pending and not held,
	// or unknown and not given up, and awaiting awards. A run ends when
	// it is 0.
	Open int64
	// HeldUntil is when the first held row may be sent.
	HeldUntil time.Time
	// Refusals counts not-paid rows by err_code (FAILED for a packet a
	// query found failed).
	Refusals map[string]int64
}

// Status returns the campaign's totals.
func (s *Store) Status(ctx context.Context, name string) (*Totals, error) {
	t, err := s.e.totals(ctx, name, time.Now())
	return t, s.notFound(ctx, name, err)
}

// Outcome names in reports.
const (
	OutcomePending = "pending"  // not sent yet
	OutcomeUnknown = "unknown"  // sent; may or may not have been paid
	OutcomePaid    = "paid"     // paid: SendListID is WeChat's packet number
	OutcomeNotPaid = "not paid" // definitely not paid (refused, or FAILED)
)

// ReportRow is one row of a campaign report: what the journal knows.
type ReportRow struct {
	Row        int64  `json:"row"`
	Line       int64  `json:"line"`
	OpenID     string `json:"openid"`
	Amount     int64  `json:"amount"`
	BillNo     string `json:"mch_billno"`
	Outcome    string `json:"outcome"` // OutcomePending, OutcomeUnknown, OutcomePaid or OutcomeNotPaid
	Status     string `json:"status,omitempty"`
	ErrCode    string `json:"err_code,omitempty"`
	ErrMsg     string `json:"err_msg,omitempty"`
	SendListID string `json:"send_listid,omitempty"`
	// FirstSentAt is when the bill number was first sent; SettledAt when
	// the outcome became definite; HeldUntil when a held row may go.
	FirstSentAt time.Time `json:"first_sent_at,omitzero"`
	SettledAt   time.Time `json:"settled_at,omitzero"`
	HeldUntil   time.Time `json:"held_until,omitzero"`
	Reissues    int64     `json:"reissues,omitempty"`
}

// Report calls fn for every row of the campaign, in row order, until fn
// returns an error. It streams: memory does not grow with the campaign.
func (s *Store) Report(ctx context.Context, name string, fn func(ReportRow) error) error {
	return s.notFound(ctx, name, s.e.report(ctx, name, fn))
}

// Reissued is a row that Reissue gave a new bill number (or that
// ReissueDryRun would: NewBill is then "").
type Reissued struct {
	Row     int64  `json:"row"`
	OldBill string `json:"old_mch_billno"`
	NewBill string `json:"new_mch_billno,omitempty"`
}

// Selection chooses the rows Reissue gives new bill numbers, by number or
// by what the journal says of them; the rows chosen are the union of its
// fields'.
type Selection struct {
	// Rows are rows named by number (a row named twice is taken once).
	// Every one must be definitely not paid: if any is paid, unknown,
	// pending or missing, Reissue refuses them all with a
	// *NotReissuableError and changes nothing.
	Rows []int64
	// NotPaid chooses every row whose journal holds a definite not-paid
	// outcome.
	NotPaid bool
	// ErrCodes chooses the not-paid rows refused with one of these
	// err_codes (e.g. "NOTENOUGH"; "FAILED" for a packet a query found
	// failed), in any case.
	ErrCodes []string
}

func (sel Selection) empty() bool {
	return len(sel.Rows) == 0 && !sel.NotPaid && len(sel.ErrCodes) == 0
}

// Reissue gives the rows sel chooses new bill numbers so that the next
// run sends them again, in one transaction, and returns them in row order.
// Only a row whose journal holds a definite not-paid outcome for its bill
// number can be reissued (a refusal such as NOTENOUGH, or a query that
// found the packet FAILED): NotPaid and ErrCodes choose only such rows,
// and a row named in Rows that is paid, unknown or pending is refused, and
// then no row is changed. The old bill number is kept in the journal. A
// selection that chooses no row reissues nothing and is not an error.
func (s *Store) Reissue(ctx context.Context, name string, sel Selection) ([]Reissued, error) {
	if sel.empty() {
		return nil, &InputError{Msg: "no rows to reissue: name rows, or choose the not-paid ones"}
	}
	re, err := s.e.reissue(ctx, name, sel, false, newBillNo)
	return re, s.notFound(ctx, name, err)
}

// ReissueDryRun returns the rows Reissue would reissue, with the same
// refusals, and changes nothing; NewBill is empty.
func (s *Store) ReissueDryRun(ctx context.Context, name string, sel Selection) ([]Reissued, error) {
	if sel.empty() {
		return nil, &InputError{Msg: "no rows to reissue: name rows, or choose the not-paid ones"}
	}
	re, err := s.e.reissue(ctx, name, sel, true, nil)
	return re, s.notFound(ctx, name, err)
}

// newBillNo makes a row's bill number.
var newBillNo = redpack.NewBillNo

// Limits are WeChat's daily caps as set in the merchant console (产品中心 →
// 现金红包 → 产品设置). Run checks them from the journal before each send
// and does not send a row that would exceed them. Zero fields take
// WeChat's defaults; a negative field turns that check off.
type Limits struct {
	UserDailyCount  int   // packets per openid per day; default 10
	UserDailyAmount int64 // fen per openid per day; default 100,000 (1,000 CNY)
	DailyAmount     int64 // fen per merchant per day; default 100,000,000 (1,000,000 CNY)
}

func (l Limits) withDefaults() Limits {
	if l.UserDailyCount == 0 {
		l.UserDailyCount = 10
	}
	if l.UserDailyAmount == 0 {
		l.UserDailyAmount = 100_000
	}
	if l.DailyAmount == 0 {
		l.DailyAmount = 100_000_000
	}
	return l
}

// LimitAction is what Run does with a row that would exceed a daily cap.
type LimitAction int

const (
	// HoldUntilNextDay keeps the row pending until the next day (China time); the
	// run that day sends it.
	HoldUntilNextDay LimitAction = iota
	// ReportNotPaid marks the row not paid, with the cap's err_code
	// (SENDNUM_LIMIT, RCVDAMOUNT_LIMIT, SENDAMOUNT_LIMIT): nothing was sent.
	// Reissue it later.
	ReportNotPaid
)

// DefaultRate is a campaign's default pace in requests a second, for the
// merchant as a whole: just under WeChat's 30 (1,800 a minute), which every
// request counts towards, queries and retries included.
const DefaultRate = 28

// RunConfig says how Run pays.
type RunConfig struct {
	// Merchant is the identity the packets are paid from.
	Merchant redpack.Config
	// ClientOptions are given to redpack.NewClient (base URL, root CAs, a
	// logger). Run adds its own limiter, retry policy and per-attempt
	// timeout after them.
	ClientOptions []redpack.Option
	// Rate is this process's pace, in requests a second; 0 means
	// DefaultRate, and a negative rate is a *ConfigError. On PostgreSQL
	// every process also keeps to the merchant's rate stored in the
	// database (see Store.SetRate; the first run stores its own Rate), so
	// a run's Rate can only pace it lower than the merchant's, never
	// higher, and a slow run does not slow the others. On SQLite one run
	// at a time paces itself at Rate.
	Rate float64
	// Unlimited turns pacing off, Rate and the stored rate aside: for a
	// fake server only, as WeChat refuses more than 30 requests a second
	// with FREQ_LIMIT.
	Unlimited bool
	// Workers is how many rows this process sends at once; default 8.
	Workers int
	// AttemptTimeout bounds one HTTP attempt; default 5 s.
	AttemptTimeout time.Duration
	// MaxAttempts is the client's attempts per call, the first included;
	// default 2. A job's time limit follows from these two.
	MaxAttempts int
	// SettleTries is how many times a row whose outcome is unknown is
	// settled before this run leaves it unknown; default 8, with waits
	// doubling from SettleBackoff (default 2 s) to a minute.
	SettleTries   int
	SettleBackoff time.Duration
	// Limits are the merchant's daily caps; OnLimit what to do with a row
	// that would exceed one.
	Limits  Limits
	OnLimit LimitAction
	// OnBalance is what to do when WeChat answers NOTENOUGH: stop
	// (default) or wait for a top-up. Either way the rows keep their bill
	// numbers and nothing is journalled as not paid.
	OnBalance BalanceAction
	// OutageLimit is how long the run may go on while WeChat cannot be
	// reached, sending nothing new and probing, before it stops with
	// ErrOutage; default 5 minutes.
	OutageLimit time.Duration
	// Follow keeps the run going when no row is open, until ctx ends: for
	// a rule set, whose rows arrive with payments (Store.Award).
	Follow bool
	// Progress, if set, is called about every ProgressEvery (default
	// 500 ms) with the campaign's totals, and once at the end.
	Progress      func(Totals)
	ProgressEvery time.Duration
	// Logger receives River's warnings and the campaign's own; nil: silent.
	Logger *slog.Logger

	now         func() time.Time // the clock; tests move it
	balancePoll time.Duration    // WaitForBalance's pace; default a minute
	sweepEvery  time.Duration    // how often rows without a live job get one; default 30 s
	sole        bool             // this run holds the database's run lock: no other is alive
}

// Run pays the campaign's rows until every row is settled (paid or
// definitely not paid) or, for rows whose outcome stays unknown, until
// SettleTries are spent. Rows held by the daily caps wait for their day.
// Run can be stopped at any instant, SIGKILL included, and run again:
// each row is sent only under its journalled bill number, and a row that
// may have been sent is settled (query first; re-send the same request
// only when WeChat has no record, and only within redpack.ResendWindow of
// its first send) before anything else. Several processes may run one
// campaign on PostgreSQL.
//
// On SQLite one Run at a time may use a database file: a second, in this
// process or another, returns a *BusyError naming the holder, and sends
// nothing. The lock is the kernel's (a lock file, DB.lock, beside the
// file the path resolves to, so every path to one file takes the same
// lock), and a run killed however it dies leaves nothing to clear.
// Status, Report and the other reads work while a run holds it.
//
// When ctx is done Run takes no new row, waits for the rows in flight to
// be journalled and returns the totals with ctx's error.
func (s *Store) Run(ctx context.Context, name string, cfg RunConfig) (*Totals, error) {
	if cfg.Merchant == nil {
		return nil, errors.New("campaign: RunConfig.Merchant is required")
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if err := checkRate("RunConfig.Rate", cfg.Rate); err != nil {
		return nil, err
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 5 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 2
	}
	if cfg.SettleTries <= 0 {
		cfg.SettleTries = 8
	}
	if cfg.SettleBackoff <= 0 {
		cfg.SettleBackoff = 2 * time.Second
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 500 * time.Millisecond
	}
	if cfg.OutageLimit <= 0 {
		cfg.OutageLimit = 5 * time.Minute
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.balancePoll <= 0 {
		cfg.balancePoll = time.Minute
	}
	if cfg.sweepEvery <= 0 {
		cfg.sweepEvery = 30 * time.Second
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if s.lockPath != "" {
		release, err := lockRun(s.lockPath, s.dsn)
		if err != nil {
			return nil, err
		}
		defer release()
		cfg.sole = true
	}
	t, err := s.e.run(ctx, name, &cfg)
	return t, s.notFound(ctx, name, err)
}

// logger is cfg.Logger, or a silent one.
func (c *RunConfig) logger() *slog.Logger {
	if c.Logger == nil {
		return quietLogger()
	}
	return c.Logger
}

// jobTimeout is a job's time limit: a settle is at most two calls (a query
// and a re-send), each of MaxAttempts attempts with a limiter wait of up to
// an attempt's time, and the client's backoff between attempts.
func (c *RunConfig) jobTimeout() time.Duration {
	call := time.Duration(c.MaxAttempts)*2*c.AttemptTimeout + time.Duration(c.MaxAttempts-1)*clientMaxBackoff
	return 2*call + 2*time.Second
}

// attemptSpan is the longest a job's attempt may still act on a row after
// claiming it: its time limit, then its journal write, with a margin for
// the clocks of different machines.
func (c *RunConfig) attemptSpan() time.Duration {
	return c.jobTimeout() + journalTimeout + 5*time.Second
}

// clientMaxBackoff caps the client's wait between attempts in a run.
const clientMaxBackoff = 2 * time.Second

func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return &InputError{Msg: fmt.Sprintf("campaign name %q: 1 to 64 characters", name)}
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return &InputError{Msg: fmt.Sprintf("campaign name %q: only lower-case letters, digits, '-' and '_'", name)}
		}
	}
	return nil
}

// chinaTime is China Standard Time, in which WeChat's days begin.
var chinaTime = time.FixedZone("CST", 8*3600)

// day is the China day of t, as WeChat counts its daily caps.
func day(t time.Time) string { return t.In(chinaTime).Format("20060102") }

// nextDay is the start of the China day after t.
func nextDay(t time.Time) time.Time {
	c := t.In(chinaTime)
	return time.Date(c.Year(), c.Month(), c.Day()+1, 0, 0, 0, 0, chinaTime)
}
