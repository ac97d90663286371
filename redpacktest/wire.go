package redpacktest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// maxRequestBytes bounds a request body. WeChat's requests are about 1 KiB;
// anything far larger is refused as XML_ERROR rather than read.
const maxRequestBytes = 64 << 10

// utf8BOM is the byte-order mark .NET's XML writers put before a document
// by default.
const utf8BOM = "\xef\xbb\xbf"

// parseRequest reads WeChat's request document: a single root element
// whose children are leaf elements holding text or CDATA (spec §1.2), and
// returns the fields and the root's name. The spec's root is <xml>, but
// WeChat's parser evidently looks at the fields only: silenceper/wechat
// sends <request>…</request> and is paid, so any name is taken (unverified;
// Request.Root records it). A UTF-8 byte-order mark before the document
// is skipped. Anything else (no root, nested elements, a repeated element,
// a DTD, non-UTF-8 input) is an error, answered XML_ERROR.
func parseRequest(body []byte) (fields map[string]string, root string, err error) {
	body = bytes.TrimPrefix(body, []byte(utf8BOM))
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, "", errors.New("empty body")
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	fields = make(map[string]string)
	var (
		depth      int
		rootClosed bool
		cur        string
		text       strings.Builder
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch depth {
			case 0:
				if root != "" {
					return nil, "", errors.New("more than one root element")
				}
				root = t.Name.Local
			case 1:
				cur = t.Name.Local
				if _, dup := fields[cur]; dup {
					return nil, "", fmt.Errorf("element <%s> repeated", cur)
				}
				text.Reset()
			default:
				return nil, "", fmt.Errorf("nested element <%s>", t.Name.Local)
			}
			depth++
		case xml.EndElement:
			depth--
			switch depth {
			case 1:
				fields[cur] = text.String()
			case 0:
				rootClosed = true
			}
		case xml.CharData:
			if depth == 2 {
				text.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, "", errors.New("text outside a field element")
			}
		case xml.Directive:
			return nil, "", errors.New("directives (DTDs) are not allowed")
		}
	}
	if !rootClosed {
		return nil, "", errors.New("no complete root element")
	}
	return fields, root, nil
}

// field is one element of an answer. WeChat writes integers bare and
// strings as CDATA (spec §1.2, §9).
type field struct {
	name  string
	value string
	bare  bool
}

func str(name, value string) field { return field{name: name, value: value} }

func num(name string, n int64) field {
	return field{name: name, value: strconv.FormatInt(n, 10), bare: true}
}

// echoNum writes a number the client sent back as WeChat does: bare if it
// is one, as a string otherwise (a malformed total_amount is echoed too).
func echoNum(name, value string) field {
	return field{name: name, value: value, bare: isDigits(value)}
}

// reply is an answer in the making: the WeChat fields in order, an optional
// hblist (gethbinfo), or an HTML gateway page instead of XML.
type reply struct {
	errCode string // err_code as answered, "SUCCESS" for success; for the request log
	echo    bool   // a business failure: it repeats the request's echo fields
	fields  []field
	hblist  [][]field
	html    bool
}

// failure is a business-level refusal: the request reached the red-packet
// system (return_code=SUCCESS), which refused it (result_code=FAIL). Red
// packets answer almost every error this way (spec §5.1, §9.1 Response 4).
func failure(code, des string) *reply {
	r := header("SUCCESS", "FAIL", code, des)
	r.echo = true
	return r
}

// protocolFailure is a refusal before the request could be read at all
// (certificate, XML): return_code=FAIL (spec §5.1, §9.6).
func protocolFailure(code, des string) *reply { return header("FAIL", "FAIL", code, des) }

// success starts a successful answer; msg is 发放成功 for sends, OK for
// queries (spec §9.1, §9.3).
func success(msg string) *reply { return header("SUCCESS", "SUCCESS", "SUCCESS", msg) }

// header is the five fields every answer opens with; return_msg repeats
// err_code_des, as WeChat's answers do.
func header(returnCode, resultCode, code, des string) *reply {
	return &reply{errCode: code, fields: []field{
		str("return_code", returnCode),
		str("return_msg", des),
		str("result_code", resultCode),
		str("err_code", code),
		str("err_code_des", des),
	}}
}

func (r *reply) with(fs ...field) *reply {
	r.fields = append(r.fields, fs...)
	return r
}

// encode renders the answer. Answers are unsigned, as WeChat's red-packet
// answers are (spec §4.5).
func (r *reply) encode() []byte {
	var b bytes.Buffer
	b.WriteString("<xml>\n")
	for _, f := range r.fields {
		writeField(&b, "  ", f)
	}
	if len(r.hblist) > 0 {
		b.WriteString("  <hblist>\n")
		for _, hb := range r.hblist {
			b.WriteString("    <hbinfo>\n")
			for _, f := range hb {
				writeField(&b, "      ", f)
			}
			b.WriteString("    </hbinfo>\n")
		}
		b.WriteString("  </hblist>\n")
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

func writeField(b *bytes.Buffer, indent string, f field) {
	b.WriteString(indent)
	b.WriteString("<" + f.name + ">")
	if f.bare {
		b.WriteString(f.value)
	} else {
		// "]]>" cannot appear inside CDATA: split it across two sections.
		b.WriteString("<![CDATA[")
		b.WriteString(strings.ReplaceAll(f.value, "]]>", "]]]]><![CDATA[>"))
		b.WriteString("]]>")
	}
	b.WriteString("</" + f.name + ">\n")
}

// gatewayPage is what a failing proxy in front of WeChat answers: not XML.
const gatewayPage = `<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>stgw</center>
</body>
</html>
`

// methodNotAllowedPage is what WeChat's gateway answers to a method other
// than POST, in the manner of gatewayPage: not XML.
const methodNotAllowedPage = `<html>
<head><title>405 Not Allowed</title></head>
<body>
<center><h1>405 Not Allowed</h1></center>
<hr><center>stgw</center>
</body>
</html>
`

// chinaTime is the zone WeChat writes times in (UTC+8, no daylight saving);
// a fixed zone needs no tzdata.
var chinaTime = time.FixedZone("CST", 8*60*60)

// wechatTime formats t as gethbinfo does: "2006-01-02 15:04:05", China time.
func wechatTime(t time.Time) string { return t.In(chinaTime).Format(time.DateTime) }

// chinaDay is the calendar day, China time, that daily caps count in.
func chinaDay(t time.Time) string { return t.In(chinaTime).Format("20060102") }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
