package redpack

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// encodeRequest writes ps and the signature as WeChat's request document:
// one <xml> root with a child element per non-empty field, values as
// escaped text (WeChat accepts escaped text and CDATA alike).
func encodeRequest(ps []param, sign string) []byte {
	n := len("<xml></xml><sign></sign>") + len(sign)
	for _, p := range ps {
		n += 2*len(p.k) + len(p.v) + 5
	}
	var b bytes.Buffer
	b.Grow(n + n/8)
	b.WriteString("<xml>")
	for _, p := range ps {
		if p.v == "" {
			continue
		}
		writeElement(&b, p.k, p.v)
	}
	writeElement(&b, "sign", sign)
	b.WriteString("</xml>")
	return b.Bytes()
}

func writeElement(b *bytes.Buffer, k, v string) {
	b.WriteByte('<')
	b.WriteString(k)
	b.WriteByte('>')
	if strings.ContainsAny(v, "<>&'\"\r\n\t") {
		xml.EscapeText(b, []byte(v)) // never fails on a bytes.Buffer
	} else {
		b.WriteString(v)
	}
	b.WriteString("</")
	b.WriteString(k)
	b.WriteByte('>')
}

// maxDepth bounds the element tree of an answer: WeChat's deepest is
// xml/hblist/hbinfo/field.
const maxDepth = 8

// envelope holds the fields every answer shares.
type envelope struct {
	ReturnCode string
	ReturnMsg  string
	ResultCode string
	ErrCode    string
	ErrCodeDes string
	MchBillNo  string
	Sign       string
	SignType   string
}

// parseAnswer reads body as WeChat's <xml> document and returns its root.
func parseAnswer(body []byte, status int) (*etree.Element, error) {
	if looksLikeHTML(body) {
		return nil, &DecodeError{HTTPStatus: status, Reason: "an HTML page, not WeChat's XML", Excerpt: excerpt(body)}
	}
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = maxDepth
	if err := doc.ReadFromBytes(body); err != nil {
		return nil, &DecodeError{HTTPStatus: status, Reason: "malformed XML: " + err.Error(), Excerpt: excerpt(body)}
	}
	root := doc.Root()
	if root == nil || root.Tag != "xml" {
		return nil, &DecodeError{HTTPStatus: status, Reason: "no <xml> root element", Excerpt: excerpt(body)}
	}
	return root, nil
}

// readEnvelope pulls the shared fields out of root.
func readEnvelope(root *etree.Element) envelope {
	var e envelope
	for c := range root.ChildElementsSeq() {
		switch c.Tag {
		case "return_code":
			e.ReturnCode = c.Text()
		case "return_msg":
			e.ReturnMsg = c.Text()
		case "result_code":
			e.ResultCode = c.Text()
		case "err_code":
			e.ErrCode = c.Text()
		case "err_code_des":
			e.ErrCodeDes = c.Text()
		case "mch_billno":
			e.MchBillNo = c.Text()
		case "sign":
			e.Sign = c.Text()
		case "sign_type":
			e.SignType = c.Text()
		}
	}
	return e
}

// leafParams lists the root's leaf elements for signature verification.
func leafParams(root *etree.Element) []param {
	var ps []param
	for c := range root.ChildElementsSeq() {
		if !hasChildElement(c) {
			ps = append(ps, param{c.Tag, c.Text()})
		}
	}
	return ps
}

// hasChildElement reports whether e has an element among its children.
// Child elements are walked with ChildElementsSeq here and elsewhere:
// ChildElements collects them into a new slice on every call.
func hasChildElement(e *etree.Element) bool {
	for _, t := range e.Child {
		if _, ok := t.(*etree.Element); ok {
			return true
		}
	}
	return false
}

// looksLikeHTML reports "<html" or "<!doctype html", in any case, in the
// first 512 bytes. It looks only where a '<' is: comparing at every offset
// cost as much as a third of parsing a short answer.
func looksLikeHTML(body []byte) bool {
	head := body[:min(len(body), 512)]
	for {
		i := bytes.IndexByte(head, '<')
		if i < 0 {
			return false
		}
		head = head[i:]
		if hasPrefixFold(head, "<html") || hasPrefixFold(head, "<!doctype html") {
			return true
		}
		head = head[1:]
	}
}

// hasPrefixFold reports whether b starts with the lower-case ASCII prefix,
// ignoring ASCII case in b.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// excerpt quotes at most 64 bytes of b, cut on a rune boundary.
func excerpt(b []byte) string {
	const max = 64
	if len(b) <= max {
		return strconv.Quote(string(b))
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strconv.Quote(string(b[:cut])) + "…"
}

// fieldError reports a field of an answer that is present but wrong.
func fieldError(tag, value, why string) error {
	return &DecodeError{Reason: fmt.Sprintf("<%s> %s", tag, why), Excerpt: excerpt([]byte(value))}
}

// parseInt64 reads a non-negative integer strictly: digits only, no sign,
// spaces or fractions.
func parseInt64(tag, s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, fieldError(tag, s, "is not a whole number")
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fieldError(tag, s, "is not a whole number")
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// chinaTime is the zone WeChat writes times in: China Standard Time, UTC+8,
// with no daylight saving. A fixed zone needs no tzdata on the machine.
var chinaTime = time.FixedZone("CST", 8*60*60)

// parseTime reads WeChat's "2006-01-02 15:04:05" in China Standard Time.
func parseTime(tag, s string) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateTime, s, chinaTime)
	if err != nil {
		return time.Time{}, fieldError(tag, s, "is not a time like 2006-01-02 15:04:05")
	}
	return t, nil
}
