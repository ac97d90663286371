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
