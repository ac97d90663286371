package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/campaign"
)

var chinaTime = time.FixedZone("CST", 8*3600)

// Status is the JSON of GET /api/campaigns/{name}. Its first keys are
// those of "redpack campaign status --json", with the same figures; a
// rule set adds those of "redpack rules status --json"; the rest are the
// dashboard's own.
type Status struct {
	campaign.StatusReport
	// A rule set's, as rules status --json; nil for a campaign of a file.
	*campaign.RuleSetReport

	RuleSet  bool  `json:"rule_set"`
	InFlight int64 `json:"in_flight"`
	Awaiting int64 `json:"awaiting"`
	// RatePerMinute is the rows paid per minute over the rate window,
	// or since the current run started when that is later; ETASeconds
	// the time the open rows take at that rate (-1: no rate).
	RatePerMinute float64           `json:"rate_per_minute"`
	ETASeconds    int64             `json:"eta_seconds"`
	PaidPerMinute []campaign.Bucket `json:"paid_per_minute"`
	AwardsPerHour []campaign.Bucket `json:"awards_per_hour,omitempty"`
	// NeedsPerson are the first rows a person must act on, with the
	// command to run.
	NeedsPerson []Attention `json:"needs_person"`

	open int64
}

// Attention is a row that needs a person.
type Attention struct {
	Row         int64     `json:"row"`
	OpenID      string    `json:"openid"`
	Amount      int64     `json:"amount"`
	BillNo      string    `json:"mch_billno"`
	Outcome     string    `json:"outcome"`
	ErrCode     string    `json:"err_code,omitempty"`
	ErrMsg      string    `json:"err_msg,omitempty"`
	FirstSentAt time.Time `json:"first_sent_at,omitzero"`
	Why         string    `json:"why"`
	Command     string    `json:"command"`
}

// needsPersonLimit is how many rows needing a person a page lists.
const needsPersonLimit = 50

// status reads the campaign's figures.
func (d *Server) status(ctx context.Context, name string) (*Status, error) {
	info, err := d.store.Info(ctx, name)
	if err != nil {
		return nil, err
	}
	// A rule set's totals come with its rules' figures, read at one
	// instant, so that the page's figures agree.
	var (
		t  *campaign.Totals
		rs *campaign.RuleSetStatus
	)
	if info.RuleSet {
		if rs, err = d.store.RuleStatus(ctx, name); err != nil {
			return nil, err
		}
		t = rs.Totals
	} else if t, err = d.store.Status(ctx, name); err != nil {
		return nil, err
	}
	st := &Status{StatusReport: campaign.NewStatusReport(info, t), InFlight: t.InFlight, Awaiting: t.Awaiting, open: t.Open}
	if rs != nil {
		rr := campaign.NewRuleSetReport(rs)
		st.RuleSet, st.RuleSetReport = true, &rr
		if st.AwardsPerHour, err = d.store.AwardsPerHour(ctx, name); err != nil {
			return nil, err
		}
	}
	if st.PaidPerMinute, err = d.store.PaidPerMinute(ctx, name); err != nil {
		return nil, err
	}
	if st.PaidPerMinute == nil {
		st.PaidPerMinute = []campaign.Bucket{}
	}
	now := d.cfg.now()
	st.RatePerMinute = ratePerMinute(st.PaidPerMinute, now, info.LastRunAt, d.cfg.RateWindow)
	st.ETASeconds = -1
	if st.open == 0 {
		st.ETASeconds = 0
	} else if st.RatePerMinute > 0 {
		st.ETASeconds = int64(float64(st.open) / st.RatePerMinute * 60)
	}
	rows, err := d.store.NeedsPerson(ctx, name, now.Add(-d.cfg.UnknownAfter), needsPersonLimit)
	if err != nil {
		return nil, err
	}
	st.NeedsPerson = []Attention{}
	for _, r := range rows {
		a := Attention{Row: r.Row, OpenID: d.openID(r.OpenID), Amount: r.Amount, BillNo: r.BillNo, Outcome: r.Outcome,
			ErrCode: r.ErrCode, ErrMsg: r.ErrMsg, FirstSentAt: r.FirstSentAt.In(chinaTime)}
		if r.FirstSentAt.IsZero() {
			a.FirstSentAt = time.Time{}
		}
		switch {
		case r.Outcome == campaign.OutcomeNotPaid:
			a.Why = "not paid: fix the cause, then reissue it under a new bill number and run the campaign"
			a.Command = fmt.Sprintf("redpack campaign reissue %s --rows %d --dry-run", name, r.Row)
		case now.Sub(r.FirstSentAt) >= 24*time.Hour:
			a.Why = "unknown for 24 hours or more: only a query can settle it; never reissue it"
			a.Command = "redpack query " + r.BillNo
		default:
			a.Why = fmt.Sprintf("unknown for more than %s: a run settles it (it queries, then re-sends the same bill number)", d.cfg.UnknownAfter)
			a.Command = "redpack campaign run " + name
		}
		st.NeedsPerson = append(st.NeedsPerson, a)
	}
	return st, nil
}

// ratePerMinute is the paid rows per minute since from: the later of
// now less the rate window and the start of the current run (runStart;
// zero if none is known). A run that started within the window is
// measured over its own time only: counting the minutes before it as idle
// would read its pace, and so the ETA, low for the whole first window.
// The minute buckets at or after from's minute are counted whole; with
// one run at a time every payment in them is the run's own. The span is
// at least minRateSpan, so that the first payment alone is no burst.
func ratePerMinute(series []campaign.Bucket, now, runStart time.Time, window time.Duration) float64 {
	from := now.Add(-window)
	if runStart.After(from) && !runStart.After(now) {
		from = runStart
	}
	var n int64
	for _, b := range series {
		if b.At.Add(time.Minute).After(from) && !b.At.After(now) {
			n += b.Count
		}
	}
	return float64(n) / max(now.Sub(from), minRateSpan).Minutes()
}

// minRateSpan is the shortest span a rate is measured over.
const minRateSpan = 2 * time.Second

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (d *Server) list(ctx context.Context) ([]campaign.Summary, error) {
	list, err := d.store.List(ctx)
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i].CreatedAt = list[i].CreatedAt.In(chinaTime)
		list[i].LastRunAt = list[i].LastRunAt.In(chinaTime)
	}
	if list == nil {
		list = []campaign.Summary{}
	}
	return list, nil
}

func (d *Server) apiList(w http.ResponseWriter, r *http.Request) {
	list, err := d.list(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, list)
}

func (d *Server) apiCampaign(w http.ResponseWriter, r *http.Request) {
	st, err := d.status(r.Context(), r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, st)
}

// refusal is a row of the page's refusals table.
type refusal struct {
	Code  string
	Count int64
	Info  redpack.CodeInfo
	Known bool
}

func refusals(m map[string]int64) []refusal {
	var out []refusal
	for c, n := range m {
		ci, ok := redpack.LookupCode(c)
		out = append(out, refusal{Code: c, Count: n, Info: ci, Known: ok})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Count > out[j].Count || out[i].Count == out[j].Count && out[i].Code < out[j].Code
	})
	return out
}

// counts is a map of counts as sorted pairs, for a template.
type count struct {
	Key string
	N   int64
}

func sortedCounts(m map[string]int64) []count {
	var out []count
	for k, n := range m {
		if n != 0 {
			out = append(out, count{k, n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// cny formats fen as yuan, as everything of redpack shows money.
func cny(fen int64) string { return campaign.CNY(fen) }

func eta(seconds int64) string {
	switch {
	case seconds == 0:
		return "done"
	case seconds < 0:
		return "no payment in the rate window"
	}
	return (time.Duration(seconds) * time.Second).String()
}
