package redpack

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	b := make([]byte, 0, n+n/8)
	b = append(b, "<xml>"...)
	for _, p := range ps {
		if p.v == "" {
			continue
		}
		b = appendElement(b, p.k, p.v)
	}
	b = appendElement(b, "sign", sign)
	return append(b, "</xml>"...)
}

func appendElement(b []byte, k, v string) []byte {
	b = append(b, '<')
	b = append(b, k...)
	b = append(b, '>')
	if strings.ContainsAny(v, "<>&'\"\r\n\t") {
		var esc bytes.Buffer
		xml.EscapeText(&esc, []byte(v)) // never fails on a bytes.Buffer
		b = append(b, esc.Bytes()...)
	} else {
		b = append(b, v...)
	}
	b = append(b, "</"...)
	b = append(b, k...)
	return append(b, '>')
}

// maxDepth bounds the element tree of an answer: WeChat's deepest is
// xml/hblist/hbinfo/field.
const maxDepth = 8

// maxElements bounds the elements of an answer, counted before etree
// parses it (see elementBound), so that what a hostile answer costs is
// bounded by it rather than by the size limit. WeChat's largest answer,
// a group packet's query with 20 receivers, has about 100 elements and
// 150 by elementBound's count.
const maxElements = 1024

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

// answerParser parses answers with etree. Those on the request path come
// from parsers and go back with release, keeping their etree.Document
// (with its ReadSettings), reader and scratch buffer for the next answer.
type answerParser struct {
	doc     etree.Document
	r       bytes.Reader
	scratch []byte // the compacted answer
}

var parsers = sync.Pool{New: func() any { return newAnswerParser() }}

func newAnswerParser() *answerParser {
	p := &answerParser{}
	p.doc.ReadSettings.MaxDepth = maxDepth
	return p
}

// release returns p to parsers. The tree that parse returned must not be
// used after this: decoders copy what they keep.
func (p *answerParser) release() {
	clear(p.doc.Child) // let the old tree go
	p.doc.Child = p.doc.Child[:0]
	p.r.Reset(nil)
	if cap(p.scratch) > maxPooledAnswer {
		p.scratch = nil
	}
	parsers.Put(p)
}

// parse reads body as WeChat's <xml> document and returns its root. A
// ctx that ended while parsing is an error too: the caller's deadline
// holds over the whole attempt.
func (p *answerParser) parse(ctx context.Context, body []byte, status int) (*etree.Element, error) {
	return p.parseRoot(ctx, body, status, "xml")
}

// parseRoot is parse for a document whose root is rootTag (a refund
// notification's decrypted req_info is a <root>).
func (p *answerParser) parseRoot(ctx context.Context, body []byte, status int, rootTag string) (*etree.Element, error) {
	if looksLikeHTML(body) {
		return nil, &DecodeError{HTTPStatus: status, Reason: "an HTML page, not WeChat's XML", Excerpt: excerpt(body)}
	}
	if tooManyElements(body) {
		return nil, &DecodeError{HTTPStatus: status, Reason: fmt.Sprintf("more than %d elements", maxElements), Excerpt: excerpt(body)}
	}
	in := body
	if compact, ok := compactSpace(p.scratch[:0], body); ok {
		in, p.scratch = compact, compact
	}
	err := p.read(in)
	if err != nil && len(in) != len(body) {
		// Report the error as the answer has it (line numbers count the
		// line breaks compactSpace removed).
		err = p.read(body)
	}
	if err != nil {
		return nil, &DecodeError{HTTPStatus: status, Reason: "malformed XML: " + err.Error(), Excerpt: excerpt(body)}
	}
	root := p.doc.Root()
	if root == nil || root.Tag != rootTag {
		return nil, &DecodeError{HTTPStatus: status, Reason: "no <" + rootTag + "> root element", Excerpt: excerpt(body)}
	}
	if err := checkShape(&p.doc.Element); err != nil {
		return nil, &DecodeError{HTTPStatus: status, Reason: err.Error(), Excerpt: excerpt(body)}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("parsing the answer: %w", err)
	}
	return root, nil
}

// tooManyElements reports whether body may hold more than maxElements
// elements. Counting every '<' is fast and settles it for all of WeChat's
// answers; only past maxElements of them are end tags told apart.
func tooManyElements(body []byte) bool {
	return bytes.Count(body, []byte{'<'}) > maxElements && elementBound(body, maxElements) > maxElements
}

// elementBound counts the '<' in body that do not open an end tag, up to
// one past limit: at least as many as body has elements (CDATA sections,
// comments and the like count too), and cheap to count before parsing.
func elementBound(body []byte, limit int) int {
	n := 0
	for n <= limit {
		i := bytes.IndexByte(body, '<')
		if i < 0 {
			break
		}
		if i+1 == len(body) || body[i+1] != '/' {
			n++
		}
		body = body[i+1:]
	}
	return n
}

// smallSiblings is how many sibling tags checkShape compares pairwise;
// past it, a map keeps the check linear. WeChat's widest element, the
// root, has about 20 children.
const smallSiblings = 32

// checkShape refuses an answer whose meaning would depend on which copy of
// a field is read: a field given twice (an err_code of SYSTEMERROR and
// another of PARAM_ERROR would turn an unknown outcome into a refusal), a
// second root element, a namespaced field, a value holding markup that
// hides its text, or text mixed with elements. WeChat's answers have none
// of these. One element may appear more than once among its siblings:
// hbinfo, a group packet's receiver, inside hblist.
//
// The check is linear in the number of elements, and allocates nothing for
// elements of up to smallSiblings children.
func checkShape(e *etree.Element) error {
	var tags [smallSiblings]string
	return checkShapeWith(e, &tags)
}

// checkShapeWith is checkShape with room for the tags of one element's
// children, reused at every level: e's children are checked among
// themselves first, then each child's own subtree.
func checkShapeWith(e *etree.Element, tags *[smallSiblings]string) error {
	var elems, text bool
	n := 0                       // tags in use: e's child elements so far
	var seen map[string]struct{} // all of them, once there are too many for tags
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Element:
			if elems && e.Parent() == nil {
				return errors.New("more than one root element")
			}
			if t.Space != "" {
				return fmt.Errorf("<%s:%s> is namespaced", t.Space, t.Tag)
			}
			elems = true
			if e.Tag == "hblist" && t.Tag == "hbinfo" {
				continue
			}
			var dup bool
			if seen == nil && n < len(tags) {
				dup = slices.Contains(tags[:n], t.Tag)
				tags[n] = t.Tag
				n++
			} else {
				if seen == nil {
					seen = make(map[string]struct{}, 2*len(tags))
					for _, tag := range tags {
						seen[tag] = struct{}{}
					}
				}
				_, dup = seen[t.Tag]
				seen[t.Tag] = struct{}{}
			}
			if dup {
				return fmt.Errorf("<%s> appears more than once", t.Tag)
			}
		case *etree.CharData:
			text = text || !t.IsWhitespace()
		case *etree.Comment:
		case *etree.ProcInst:
			if e.Parent() != nil { // <?xml ...?> before the root is fine
				return fmt.Errorf("<%s> holds a processing instruction", e.Tag)
			}
		default:
			return fmt.Errorf("a %T in <%s>", t, e.Tag)
		}
	}
	if elems && text {
		if e.Parent() == nil {
			return errors.New("text outside the <xml> root element")
		}
		return fmt.Errorf("<%s> mixes text and elements", e.Tag)
	}
	if !elems {
		return nil
	}
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok {
			if err := checkShapeWith(c, tags); err != nil {
				return err
			}
		}
	}
	return nil
}

// read parses b into p.doc, replacing what it held.
func (p *answerParser) read(b []byte) error {
	clear(p.doc.Child)
	p.doc.Child = p.doc.Child[:0]
	p.r.Reset(b)
	_, err := p.doc.ReadFrom(&p.r)
	return err
}

// compactSpace appends body to dst without the whitespace that follows an
// end tag, an empty-element tag or the root's start tag and reaches the
// next '<' (or the end): the line breaks and indentation between WeChat's
// fields. etree keeps each such run as a token of its own, at several
// allocations apiece, yet none is ever read: Element.Text stops at an
// element's first child element, and the runs removed come after one (or
// open the root, whose text is not read). What remains parses to the same
// tree less those tokens, or fails as body does; FuzzCompactSpace checks
// both. Text, CDATA, comments, processing instructions and tags are
// copied as they are.
//
// ok is false, and body must be parsed as it is, for what compactSpace
// does not follow: a DOCTYPE or other <! declaration, or markup left open.
func compactSpace(dst, body []byte) (out []byte, ok bool) {
	depth := 0
	for i := 0; i < len(body); {
		if body[i] != '<' {
			j := bytes.IndexByte(body[i:], '<')
			if j < 0 {
				j = len(body) - i
			}
			dst = append(dst, body[i:i+j]...)
			i += j
			continue
		}
		m := body[i:]
		var end int // just past the markup m starts with
		dropAfter := false
		switch {
		case bytes.HasPrefix(m, []byte("<!--")):
			end = closeAfter(m, 4, "-->")
		case bytes.HasPrefix(m, []byte("<![CDATA[")):
			end = closeAfter(m, 9, "]]>")
		case bytes.HasPrefix(m, []byte("<?")):
			end = closeAfter(m, 2, "?>")
		case bytes.HasPrefix(m, []byte("<!")):
			return nil, false
		case bytes.HasPrefix(m, []byte("</")):
			end = closeAfter(m, 2, ">")
			depth--
			dropAfter = true
		default:
			end = startTagEnd(m)
			if end > 0 && m[end-2] == '/' {
				dropAfter = true // <name/>: an empty element
			} else {
				depth++
				dropAfter = depth == 1
			}
		}
		if end <= 0 {
			return nil, false
		}
		dst = append(dst, m[:end]...)
		i += end
		if dropAfter {
			j := i
			for j < len(body) && isXMLSpace(body[j]) {
				j++
			}
			if j == len(body) || body[j] == '<' {
				i = j
			}
		}
	}
	return dst, true
}

// closeAfter returns the index just past the first closer in m at or after
// from, or -1.
func closeAfter(m []byte, from int, closer string) int {
	k := bytes.Index(m[from:], []byte(closer))
	if k < 0 {
		return -1
	}
	return from + k + len(closer)
}

// startTagEnd returns the index just past the '>' that closes the start
// tag m begins with, skipping quoted attribute values, or -1.
func startTagEnd(m []byte) int {
	var quote byte
	for k := 1; k < len(m); k++ {
		switch c := m[k]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return k + 1
		}
	}
	return -1
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

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

// parseCompactTime reads WeChat Pay's "20060102150405" (time_end) in China
// Standard Time.
func parseCompactTime(tag, s string) (time.Time, error) {
	t, err := time.ParseInLocation("20060102150405", s, chinaTime)
	if err != nil {
		return time.Time{}, fieldError(tag, s, "is not yyyyMMddHHmmss")
	}
	return t, nil
}

// parseTime reads WeChat's "2006-01-02 15:04:05" in China Standard Time.
func parseTime(tag, s string) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateTime, s, chinaTime)
	if err != nil {
		return time.Time{}, fieldError(tag, s, "is not a time like 2006-01-02 15:04:05")
	}
	return t, nil
}
