package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/redpack-go/redpack/campaign"
)

// The plain-line progress of "campaign run": rate and ETA count this run's
// rows only, rows in flight are shown apart from unknown ones, a wait for a
// killed run's rows says so and for how long, and the last line is printed
// once.
func TestProgressLines(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&env{stderr: &out}, &campaign.Info{Name: "spring", Rows: 1000}, false)
	// A resumed run: 900 rows were settled by earlier runs.
	p.first, p.started = 900, true
	p.start = time.Now().Add(-2 * time.Second)
	p.update(campaign.Totals{Rows: 1000, Paid: 900, Unknown: 3, InFlight: 3, InFlightUntil: time.Now().Add(41 * time.Second), Open: 100})
	line := out.String()
	assert.Contains(t, line, "0.0 rows/s", "the earlier runs' rows are not this run's rate")
	assert.Contains(t, line, "unknown 0, in flight 3")
	assert.Contains(t, line, "3 rows were taken by a run that may still be sending them (or was killed)")
	assert.Regexp(t, `settled after (40|41)s`, line)

	out.Reset()
	p.last = time.Time{}
	p.update(campaign.Totals{Rows: 1000, Paid: 1000})
	p.update(campaign.Totals{Rows: 1000, Paid: 1000}) // the run's final report repeats the watcher's last
	assert.Equal(t, 1, strings.Count(out.String(), "rows settled"), "the last line once:\n%s", out.String())
	assert.Contains(t, out.String(), "1000/1000 rows settled")
}
