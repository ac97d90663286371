package redpack

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompactSpace(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"between fields", "<xml>\n  <a>1</a>\n  <b><![CDATA[ 2 ]]></b>\n</xml>\n", "<xml><a>1</a><b><![CDATA[ 2 ]]></b></xml>", true},
		{"a value of spaces is kept", "<xml><a>  </a>\r\n<b>\t</b></xml>", "<xml><a>  </a><b>\t</b></xml>", true},
		{"leading text of a nested element is kept", "<xml><hblist>\n <hbinfo>\n <a>1</a>\n </hbinfo>\n</hblist></xml>", "<xml><hblist>\n <hbinfo>\n <a>1</a></hbinfo></hblist></xml>", true},
		{"text after an element is kept when not blank", "<xml><a>1</a> x <b/> \n</xml>", "<xml><a>1</a> x <b/></xml>", true},
		{"space before CDATA after a tag", "<xml><a/>  <![CDATA[x]]></xml>", "<xml><a/><![CDATA[x]]></xml>", true},
		{"an entity is not space", "<xml><a>1</a> &#32; <b/></xml>", "<xml><a>1</a> &#32; <b/></xml>", true},
		{"quoted > and /> in attributes", "<xml a=\"x>\" b='/>'>\n<c d=\"/\">\n</c>\n</xml>", "<xml a=\"x>\" b='/>'><c d=\"/\">\n</c></xml>", true},
		{"comments and PIs are copied", "<?xml version=\"1.0\"?>\n<xml><!-- <a> --> \n<a>1</a><?pi x?> </xml>", "<?xml version=\"1.0\"?>\n<xml><!-- <a> --> \n<a>1</a><?pi x?> </xml>", true},
		{"CDATA holding markup", "<xml><a><![CDATA[</a>  <b>]]></a>  </xml>", "<xml><a><![CDATA[</a>  <b>]]></a></xml>", true},
		{"DOCTYPE is left alone", "<!DOCTYPE xml [<!ENTITY a \"x\">]>\n<xml><a>&a;</a>\n</xml>", "", false},
		{"unclosed comment", "<xml><!-- ", "", false},
		{"unclosed tag", "<xml a=\"1>", "", false},
		{"empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := compactSpace(nil, []byte(tt.in))
			require.Equal(t, tt.ok, ok)
			if ok {
				assert.Equal(t, tt.want, string(got))
			}
		})
	}
}

// FuzzCompactSpace checks compactSpace's promise: the compacted answer
// parses exactly when the original does, to elements with the same tags,
// attributes, text and child elements (the root's own text aside).
func FuzzCompactSpace(f *testing.F) {
	addResponseSeeds(f)
	f.Add([]byte(groupAnswer(3)))
	f.Add([]byte("<xml>\n<a> </a>\n<b x='>'/>\n<c><!-- c --> \n<d/>\n</c>\n</xml>\n"))
	f.Add([]byte("<?xml version=\"1.0\"?>\n<xml><a><![CDATA[ ]]></a>\r\n</xml>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		compact, ok := compactSpace(nil, body)
		if !ok {
			return
		}
		orig, errOrig := readDocument(body)
		comp, errComp := readDocument(compact)

		if (errOrig == nil) != (errComp == nil) {
			t.Fatalf("original parses: %v (%v); compacted parses: %v (%v)\ncompacted: %q", errOrig == nil, errOrig, errComp == nil, errComp, compact)
		}
		if errOrig != nil {
			return
		}
		oe, ce := docElements(orig), docElements(comp)
		if len(oe) != len(ce) {
			t.Fatalf("%d top-level elements, %d after compacting: %q", len(oe), len(ce), compact)
		}
		for i := range oe {
			sameElement(t, oe[i], ce[i], true)
		}
	})
}

func readDocument(b []byte) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = maxDepth
	return doc, doc.ReadFromBytes(b)
}

func docElements(d *etree.Document) []*etree.Element { return d.ChildElements() }

func sameElement(t *testing.T, a, b *etree.Element, top bool) {
	t.Helper()
	if a.Space != b.Space || a.Tag != b.Tag {
		t.Fatalf("element %s:%s became %s:%s", a.Space, a.Tag, b.Space, b.Tag)
	}
	if len(a.Attr) != len(b.Attr) {
		t.Fatalf("<%s>: %d attributes, then %d", a.Tag, len(a.Attr), len(b.Attr))
	}
	for i := range a.Attr {
		if a.Attr[i].Space != b.Attr[i].Space || a.Attr[i].Key != b.Attr[i].Key || a.Attr[i].Value != b.Attr[i].Value {
			t.Fatalf("<%s>: attribute %v became %v", a.Tag, a.Attr[i], b.Attr[i])
		}
	}
	if !top && a.Text() != b.Text() {
		t.Fatalf("<%s>: text %q became %q", a.Tag, a.Text(), b.Text())
	}
	if hasChildElement(a) != hasChildElement(b) {
		t.Fatalf("<%s>: leaf or not changed", a.Tag)
	}
	ac, bc := a.ChildElements(), b.ChildElements()
	if len(ac) != len(bc) {
		t.Fatalf("<%s>: %d child elements, then %d", a.Tag, len(ac), len(bc))
	}
	for i := range ac {
		sameElement(t, ac[i], bc[i], false)
	}
}

// Hostile answers are refused at a cost bounded by maxElements, not by
// the size limit: counted before etree parses them, checked in linear
// time.
func TestHostileAnswers(t *testing.T) {
	for name, body := range hostileAnswers() {
		t.Run(name, func(t *testing.T) {
			p := newAnswerParser()
			_, err := p.parse(context.Background(), body, 200)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			if strings.Contains(name, "at the bound") {
				assert.Equal(t, maxElements, elementBound(body, maxElements))
				assert.Equal(t, "<e0> appears more than once", de.Reason)
				return
			}
			assert.Equal(t, "more than 1024 elements", de.Reason)
			allocs := testing.AllocsPerRun(5, func() { p.parse(context.Background(), body, 200) })
			assert.Less(t, allocs, 20.0, "refused before etree parses it")
		})
	}
	t.Run("the largest answer WeChat sends passes", func(t *testing.T) {
		body := []byte(groupAnswer(20))
		assert.Less(t, elementBound(body, maxElements), maxElements/4)
		_, err := newAnswerParser().parse(context.Background(), body, 200)
		require.NoError(t, err)
	})
}

func TestElementBound(t *testing.T) {
	for in, want := range map[string]int{
		"":                        0,
		"x<":                      1,
		"<xml><a>1</a><b/></xml>": 3,
		"<xml><a><![CDATA[1]]></a><!-- c --></xml>": 4,
		"</a></b>": 0,
	} {
		assert.Equal(t, want, elementBound([]byte(in), 10), "%q", in)
	}
	assert.Equal(t, 4, elementBound([]byte(strings.Repeat("<a/>", 100)), 3), "counting stops past the limit")

	elems := func(n int) []byte { return []byte("<xml>" + strings.Repeat("<a>1</a>", n-1) + "</xml>") }
	assert.False(t, tooManyElements(elems(maxElements)))
	assert.True(t, tooManyElements(elems(maxElements+1)))
	assert.False(t, tooManyElements([]byte(strings.Repeat("</a>", 2*maxElements))), "end tags are not elements")
}

// checkShape finds a repeated field among many siblings too, where it
// switches from comparing to a map, and allocates nothing for an answer
// of WeChat's shape.
func TestCheckShapeManySiblings(t *testing.T) {
	tree := func(tags ...string) *etree.Document {
		doc := etree.NewDocument()
		root := doc.CreateElement("xml")
		for _, tag := range tags {
			root.CreateElement(tag).SetText("1")
		}
		return doc
	}
	distinct := func(n int) []string {
		tags := make([]string, n)
		for i := range tags {
			tags[i] = fmt.Sprintf("f%d", i)
		}
		return tags
	}
	for _, n := range []int{1, smallSiblings, smallSiblings + 1, 500} {
		assert.NoError(t, checkShape(&tree(distinct(n)...).Element), "%d distinct", n)
	}
	for _, tt := range []struct {
		n, dupOf int
	}{{smallSiblings, 0}, {smallSiblings + 1, 0}, {smallSiblings + 1, smallSiblings}, {40, 3}, {500, 250}} {
		tags := append(distinct(tt.n), fmt.Sprintf("f%d", tt.dupOf))
		err := checkShape(&tree(tags...).Element)
		assert.EqualError(t, err, fmt.Sprintf("<f%d> appears more than once", tt.dupOf), "%d siblings, then f%d again", tt.n, tt.dupOf)
	}

	hblist := etree.NewDocument()
	list := hblist.CreateElement("xml").CreateElement("hblist")
	for i := 0; i < 100; i++ {
		list.CreateElement("hbinfo").CreateElement("openid").SetText("o")
	}
	assert.NoError(t, checkShape(&hblist.Element), "hbinfo repeats inside hblist")
	list.CreateElement("other")
	list.CreateElement("other")
	assert.EqualError(t, checkShape(&hblist.Element), "<other> appears more than once")

	p := newAnswerParser()
	_, err := p.parse(context.Background(), []byte(readFixture("sendredpack_SUCCESS.xml")), 200)
	require.NoError(t, err)
	assert.Zero(t, testing.AllocsPerRun(10, func() { checkShape(&p.doc.Element) }))
}

// A context that ended while the answer was parsed ends the attempt with
// the context's error, however well-formed the answer.
func TestParseHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newAnswerParser().parse(ctx, []byte(readFixture("sendredpack_SUCCESS.xml")), 200)
	assert.ErrorIs(t, err, context.Canceled)
}
