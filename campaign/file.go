package campaign

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/redpack-go/redpack"
)

// Template is what every packet of a campaign shares: the fields of a
// normal red packet (sendredpack) but the openid, the bill number and,
// when the file gives one per row, the amount.
type Template struct {
	SendName string          `json:"send_name"`
	Wishing  string          `json:"wishing"`
	ActName  string          `json:"act_name"`
	Remark   string          `json:"remark"`
	ClientIP string          `json:"client_ip"`
	SceneID  redpack.SceneID `json:"scene_id,omitempty"`
	// Amount is each packet's amount in fen, unless the file's amount column
	// says otherwise for a row. 0 requires the column.
	Amount int64 `json:"amount"`
}

// request is the packet the template makes for one row.
func (t *Template) request(billNo, openid string, amount int64) *redpack.SendRedPackRequest {
	return &redpack.SendRedPackRequest{
		MchBillNo: billNo, SendName: t.SendName, ReOpenID: openid, TotalAmount: amount,
		Wishing: t.Wishing, ClientIP: t.ClientIP, ActName: t.ActName, Remark: t.Remark, SceneID: t.SceneID,
	}
}

// Row is one packet of a campaign, as read from its file.
type Row struct {
	Row    int64  // 1-based, in file order, blank lines and the header not counted
	Line   int64  // the line of the file it came from
	OpenID string // re_openid
	Amount int64  // fen
}

// RowError is one bad row of a campaign file.
type RowError struct {
	Line   int64
	Reason string
}

// InputError is a campaign file or template that cannot be imported. Rows
// lists every bad row, by line; Msg says what is wrong with the file as a
// whole when no row is to blame.
type InputError struct {
	Msg  string
	Rows []RowError
}

// Error implements error.
func (e *InputError) Error() string {
	if len(e.Rows) == 0 {
		return e.Msg
	}
	msg := fmt.Sprintf("%d bad rows", len(e.Rows))
	if len(e.Rows) == 1 {
		msg = "1 bad row"
	}
	if e.Msg != "" {
		msg = e.Msg + ": " + msg
	}
	r := e.Rows[0]
	return fmt.Sprintf("%s (first: line %d: %s)", msg, r.Line, r.Reason)
}

// ParseOptions change how ParseFile judges a file.
type ParseOptions struct {
	// AllowDuplicates lets an openid appear on several rows: each is a
	// packet of its own.
	AllowDuplicates bool
}

// ParseFile reads a campaign file: UTF-8 (a byte-order mark is dropped,
// CRLF line ends are accepted), either one openid per line or CSV whose
// header names an openid column and optionally an amount column (fen,
// overriding t.Amount). Blank lines are skipped. Every row is checked as
// the packet it will be (an openid is 20 to 32 letters, digits, '-' and
// '_', WeChat's being 28; amount rules and the template's
// fields as redpack's Validate does, duplicate openids) and every bad row
// is reported, by line, in an *InputError; no row is returned then.
func ParseFile(r io.Reader, t Template, opts ParseOptions) ([]Row, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read campaign file: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, &InputError{Msg: "the file is not UTF-8 text"}
	}
	if err := checkTemplate(t); err != nil {
		return nil, err
	}

	lines := strings.Split(string(data), "\n")
	first := -1
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			first = i
			break
		}
	}
	if first < 0 {
		return nil, &InputError{Msg: "the file has no rows"}
	}
	var rows []Row
	var bad []RowError
	header := splitCSVLine(lines[first])
	openidCol, amountCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "openid", "re_openid":
			openidCol = i
		case "amount", "total_amount":
			amountCol = i
		}
	}
	if openidCol < 0 {
		for _, sep := range []string{";", "\t"} {
			for _, h := range strings.Split(lines[first], sep) {
				if n := strings.ToLower(strings.TrimSpace(h)); n == "openid" || n == "re_openid" {
					name := map[string]string{";": "semicolons", "\t": "tabs"}[sep]
					return nil, &InputError{Msg: fmt.Sprintf("line %d: the file is separated by %s, not commas: save it as CSV with commas (a spreadsheet's \"CSV UTF-8 (comma delimited)\")", first+1, name)}
				}
			}
		}
	}
	if openidCol >= 0 {
		rows, bad, err = parseCSV(lines, first, openidCol, amountCol, t)
		if err != nil {
			return nil, err
		}
	} else {
		if len(header) > 1 {
			return nil, &InputError{Msg: "line " + strconv.Itoa(first+1) + ": a CSV file needs a header naming the openid column"}
		}
		for i, l := range lines {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			rows = append(rows, Row{Row: int64(len(rows) + 1), Line: int64(i + 1), OpenID: l, Amount: t.Amount})
		}
	}
	bad = append(bad, checkRows(rows, t, opts)...)
	if len(bad) > 0 {
		sortRowErrors(bad)
		return nil, &InputError{Rows: bad}
	}
	if len(rows) == 0 {
		return nil, &InputError{Msg: "the file has a header but no rows"}
	}
	return rows, nil
}

// splitCSVLine splits one line as CSV, or returns it whole when it does
// not parse.
func splitCSVLine(l string) []string {
	rec, err := csv.NewReader(strings.NewReader(strings.TrimRight(l, "\r"))).Read()
	if err != nil {
		return []string{l}
	}
	return rec
}

func parseCSV(lines []string, first, openidCol, amountCol int, t Template) ([]Row, []RowError, error) {
	var rows []Row
	var bad []RowError
	for i := first + 1; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		line := int64(i + 1)
		rec, err := csv.NewReader(strings.NewReader(l)).Read()
		if err != nil {
			bad = append(bad, RowError{line, "not a CSV row"})
			continue
		}
		if openidCol >= len(rec) || (amountCol >= 0 && amountCol >= len(rec)) {
			bad = append(bad, RowError{line, fmt.Sprintf("%d fields, fewer than the header's", len(rec))})
			continue
		}
		r := Row{Row: int64(len(rows) + 1), Line: line, OpenID: strings.TrimSpace(rec[openidCol]), Amount: t.Amount}
		if amountCol >= 0 {
			if a := strings.TrimSpace(rec[amountCol]); a != "" {
				n, err := strconv.ParseInt(a, 10, 64)
				if err != nil {
					bad = append(bad, RowError{line, fmt.Sprintf("amount %q is not a whole number of fen", a)})
					continue
				}
				r.Amount = n
			}
		}
		rows = append(rows, r)
	}
	return rows, bad, nil
}

// checkTemplate checks the template's own fields with a sample row.
func checkTemplate(t Template) error {
	amount := t.Amount
	if amount == 0 {
		amount = 100 // the template has no amount; rows must give one
	}
	err := t.request(sampleBillNo, "oSampleOpenID0000000000000000", amount).Validate()
	var v *redpack.ValidationError
	if errors.As(err, &v) {
		if v.Field == "total_amount" && t.Amount == 0 {
			return nil
		}
		return &InputError{Msg: "template: " + err.Error()}
	}
	return err
}

const sampleBillNo = "2025010100000000000000000000"

func checkRows(rows []Row, t Template, opts ParseOptions) []RowError {
	var bad []RowError
	seen := make(map[string]int64, len(rows))
	for _, r := range rows {
		if reason := openidProblem(r.OpenID); reason != "" {
			bad = append(bad, RowError{r.Line, reason})
			continue
		}
		if r.Amount == 0 {
			bad = append(bad, RowError{r.Line, "no amount: give --amount or an amount column"})
			continue
		}
		if err := t.request(sampleBillNo, r.OpenID, r.Amount).Validate(); err != nil {
			bad = append(bad, RowError{r.Line, err.Error()})
			continue
		}
		if prev, ok := seen[r.OpenID]; ok && !opts.AllowDuplicates {
			bad = append(bad, RowError{r.Line, fmt.Sprintf("openid %s is also on line %d (allow with --allow-duplicates)", r.OpenID, prev)})
			continue
		}
		seen[r.OpenID] = r.Line
	}
	return bad
}

// Openid lengths ParseFile accepts. WeChat's openids are 28 characters of
// letters, digits, '-' and '_'; some appids' differ a little, and the API
// takes up to 32. Shorter is a placeholder or a typo, never a user.
const (
	minOpenIDLen = 20
	maxOpenIDLen = 32
)

// openidProblem says what is wrong with an openid's shape, or "".
func openidProblem(s string) string {
	if s == "" {
		return "empty openid"
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_':
			continue
		case c == ';':
			return fmt.Sprintf("openid %.40q holds ';': the file looks separated by semicolons; save it as CSV with commas", s)
		case c == '\t':
			return fmt.Sprintf("openid %.40q holds a tab: the file looks separated by tabs; save it as CSV with commas", s)
		case c == ' ' || c == '\u00a0' || c == '\u3000':
			return fmt.Sprintf("openid %.40q holds a space: an openid has none (two values on one line?)", s)
		}
		return fmt.Sprintf("openid %.40q holds %q: only letters, digits, '-' and '_' are allowed", s, c)
	}
	if len(s) > maxOpenIDLen {
		return fmt.Sprintf("openid %.40q is longer than %d characters", s, maxOpenIDLen)
	}
	if len(s) < minOpenIDLen {
		return fmt.Sprintf("openid %q is too short to be one: WeChat's are 28 characters, e.g. oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", s)
	}
	return ""
}

func sortRowErrors(b []RowError) {
	slices.SortStableFunc(b, func(x, y RowError) int { return cmp.Compare(x.Line, y.Line) })
}
