package redpack

import (
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
