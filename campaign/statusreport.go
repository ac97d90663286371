package campaign

import "time"

// StatusReport is a campaign's figures as "redpack campaign status --json"
// prints them and the dashboard serves them: made in one place, from
// Info and Status, so that the two always agree.
type StatusReport struct {
	Name        string           `json:"name"`
	MchID       string           `json:"mch_id,omitempty"`
	Source      string           `json:"source"`
	CreatedAt   time.Time        `json:"created_at"`
	Rows        int64            `json:"rows"`
	Paid        int64            `json:"paid"`
	NotPaid     int64            `json:"not_paid"`
	Unknown     int64            `json:"unknown"`
	Pending     int64            `json:"pending"`
	Held        int64            `json:"held,omitempty"`
	HeldUntil   time.Time        `json:"held_until,omitzero"`
	AmountTotal int64            `json:"amount_total"`
	AmountPaid  int64            `json:"amount_paid"`
	Refusals    map[string]int64 `json:"refusals"`
	Done        bool             `json:"done"` // every row paid or definitely not paid, and no award awaiting
}

// NewStatusReport makes a campaign's StatusReport; times are in China
// time.
func NewStatusReport(info *Info, t *Totals) StatusReport {
	return StatusReport{Name: info.Name, MchID: info.MchID, Source: info.Source, CreatedAt: info.CreatedAt.In(chinaTime),
		Rows: t.Rows, Paid: t.Paid, NotPaid: t.NotPaid, Unknown: t.Unknown, Pending: t.Pending, Held: t.Held,
		HeldUntil: t.HeldUntil, AmountTotal: t.AmountTotal, AmountPaid: t.AmountPaid, Refusals: t.Refusals,
		Done: t.Unknown == 0 && t.Pending == 0 && t.Awaiting == 0}
}

// RuleSetReport is what "redpack rules status --json" and the dashboard
// add to a rule set's StatusReport, made in one place from RuleStatus.
type RuleSetReport struct {
	Payments       int64        `json:"payments"`
	AwardsLastHour int64        `json:"awards_last_hour"`
	Rules          []RuleReport `json:"rules"`
}

// RuleReport is one rule of a RuleSetReport.
type RuleReport struct {
	RuleStatus
	// Awaiting counts the rule's awards waiting for their hold or
	// WeChat's confirmation, not yet queued to be paid.
	Awaiting int64 `json:"awaiting"`
}

// NewRuleSetReport makes a rule set's RuleSetReport.
func NewRuleSetReport(rs *RuleSetStatus) RuleSetReport {
	out := RuleSetReport{Payments: rs.Payments, AwardsLastHour: rs.AwardsLastHour, Rules: []RuleReport{}}
	for _, r := range rs.Rules {
		out.Rules = append(out.Rules, RuleReport{RuleStatus: r, Awaiting: r.Awards[AwardWaiting]})
	}
	return out
}
