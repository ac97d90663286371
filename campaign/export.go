package campaign

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
)

// ReportHeader is the CSV report's header; its order is part of "redpack
// campaign report"'s interface.
var ReportHeader = []string{"row", "line", "openid", "amount", "mch_billno", "outcome", "status", "err_code", "err_msg", "send_listid", "first_sent_at", "settled_at"}

// ReportOptions change what WriteReport writes.
type ReportOptions struct {
	// MaskOpenID, when set, replaces every openid (a dashboard that does
	// not show them).
	MaskOpenID func(string) string
}

// WriteReport writes the campaign's report in format "csv" (ReportHeader,
// then one line per row) or "json" (an array, one row a line), times in
// China time: the bytes "redpack campaign report" writes, and what the
// dashboard's export downloads. It streams.
func (s *Store) WriteReport(ctx context.Context, name, format string, w io.Writer, opts ReportOptions) error {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(chinaTime).Format(time.RFC3339)
	}
	mask := func(r *ReportRow) {
		if opts.MaskOpenID != nil {
			r.OpenID = opts.MaskOpenID(r.OpenID)
		}
	}
	if format == "json" {
		if _, err := io.WriteString(w, "[\n"); err != nil {
			return err
		}
		first := true
		err := s.Report(ctx, name, func(r ReportRow) error {
			sep := ",\n"
			if first {
				sep, first = "", false
			}
			mask(&r)
			r.FirstSentAt, r.SettledAt, r.HeldUntil = r.FirstSentAt.In(chinaTime), r.SettledAt.In(chinaTime), r.HeldUntil.In(chinaTime)
			b, err := jsonLine(r)
			if err != nil {
				return err
			}
			_, err = io.WriteString(w, sep+"  "+b)
			return err
		})
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, "\n]\n")
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(ReportHeader); err != nil {
		return err
	}
	err := s.Report(ctx, name, func(r ReportRow) error {
		mask(&r)
		return cw.Write([]string{strconv.FormatInt(r.Row, 10), strconv.FormatInt(r.Line, 10), r.OpenID, strconv.FormatInt(r.Amount, 10),
			r.BillNo, r.Outcome, r.Status, r.ErrCode, r.ErrMsg, r.SendListID, ts(r.FirstSentAt), ts(r.SettledAt)})
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// jsonLine is v as one line of JSON, HTML characters unescaped.
func jsonLine(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// AwardsHeader is the CSV awards report's header; its order is part of
// "redpack rules report"'s interface: new columns are only ever added at
// the end.
var AwardsHeader = []string{"rule", "transaction_id", "out_trade_no", "appid", "openid", "total_fee", "cash_fee", "time_end",
	"created_at", "state", "why", "reason", "amount", "row", "mch_billno", "outcome", "err_code", "send_listid", "refund_fee"}

// WriteAwards writes the rule set's awards report (Awards, skips
// included) in format "csv" (AwardsHeader, then one line per award) or
// "json" (one object a line), times in China time: the bytes "redpack
// rules report" writes, and what the dashboard's awards export downloads.
// It streams; a campaign of a file is ErrNotRuleSet.
func (s *Store) WriteAwards(ctx context.Context, name, format string, w io.Writer, opts ReportOptions) error {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(chinaTime).Format(time.RFC3339)
	}
	mask := func(a *AwardRow) {
		if opts.MaskOpenID != nil {
			a.OpenID = opts.MaskOpenID(a.OpenID)
		}
	}
	if format == "json" {
		return s.Awards(ctx, name, func(a AwardRow) error {
			mask(&a)
			a.TimeEnd, a.CreatedAt = a.TimeEnd.In(chinaTime), a.CreatedAt.In(chinaTime)
			line, err := jsonLine(a)
			if err != nil {
				return err
			}
			_, err = io.WriteString(w, line+"\n")
			return err
		})
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(AwardsHeader); err != nil {
		return err
	}
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	err := s.Awards(ctx, name, func(a AwardRow) error {
		mask(&a)
		row := ""
		if a.Row > 0 {
			row = i64(a.Row)
		}
		return cw.Write([]string{a.Rule, a.TransactionID, a.OutTradeNo, a.AppID, a.OpenID, i64(a.TotalFee), i64(a.CashFee), ts(a.TimeEnd),
			ts(a.CreatedAt), a.State, a.Why, a.Reason, i64(a.Amount), row, a.BillNo, a.Outcome, a.ErrCode, a.SendListID, i64(a.RefundFee)})
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}
