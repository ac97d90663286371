package redpack

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestReadLimited(t *testing.T) {
	const max = 2048
	body := strings.Repeat("a", 700)
	tests := []struct {
		name     string
		r        io.Reader
		hint     int64
		buf      []byte
		wantLen  int
		wantBody string
	}{
		{"announced length", strings.NewReader(body), 700, nil, 700, body},
		{"unknown length", strings.NewReader(body), -1, nil, 700, body},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader(body)), 700, nil, 700, body},
		{"more than announced", strings.NewReader(body), 10, nil, 700, body},
		{"empty", strings.NewReader(""), 0, nil, 0, ""},
		{"reused buffer with old bytes", strings.NewReader(body), 700, []byte("stale"), 700, body},
		{"reused big buffer", strings.NewReader(body), -1, make([]byte, 0, 8*max), 700, body},
		{"endless, unknown length", endless{}, -1, nil, max + 1, ""},
		{"endless, announced over max", endless{}, max * 4, nil, max + 1, ""},
		{"endless, announced under max", endless{}, 100, nil, max + 1, ""},
		{"endless into a big buffer", endless{}, -1, make([]byte, 0, 8*max), max + 1, ""},
		{"exactly max", strings.NewReader(strings.Repeat("b", max)), max, nil, max, strings.Repeat("b", max)},
		{"max+1", strings.NewReader(strings.Repeat("b", max+1)), max + 1, nil, max + 1, strings.Repeat("b", max+1)},
	}
	t.Run("less than announced", func(t *testing.T) {
		// A body cut short is not an answer: the standard transports say
		// so themselves, and readLimited does too for any other.
		_, err := readLimited(strings.NewReader(body), 1000, max, nil)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		_, err = readLimited(iotest.OneByteReader(strings.NewReader(body)), 701, max, nil)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readLimited(tt.r, tt.hint, max, tt.buf)
			require.NoError(t, err)
			assert.Len(t, got, tt.wantLen, "reading stops one byte past the limit")
			if tt.wantBody != "" || tt.wantLen == 0 {
				assert.Equal(t, tt.wantBody, string(got))
			}
		})
	}
}

// offerReader records the most room a Read was offered.
type offerReader struct {
	r        io.Reader
	maxOffer int
}

func (o *offerReader) Read(p []byte) (int, error) {
	o.maxOffer = max(o.maxOffer, len(p))
	return o.r.Read(p)
}

// A Content-Length is a claim: within a raised limit, a huge one does not
// make readLimited allocate its size before a byte arrives.
func TestReadLimitedHugeAnnouncedLength(t *testing.T) {
	r := &offerReader{r: strings.NewReader(strings.Repeat("a", 700))}
	_, err := readLimited(r, 64<<20, MaxResponseBytesLimit, nil)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "shorter than announced")
	assert.LessOrEqual(t, r.maxOffer, 2*maxUpfront, "allocated up front")

	// A body as long as announced, over maxUpfront, is read whole.
	body := strings.Repeat("b", 3*maxUpfront)
	got, err := readLimited(strings.NewReader(body), int64(len(body)), MaxResponseBytesLimit, nil)
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
}

func TestReadLimitedError(t *testing.T) {
	r := io.MultiReader(strings.NewReader("<xml>"), iotest.ErrReader(io.ErrUnexpectedEOF))
	_, err := readLimited(r, 100, 2048, nil)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}
