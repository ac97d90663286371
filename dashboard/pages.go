package dashboard

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/campaign"
)

var funcs = template.FuncMap{
	"cny":   cny,
	"eta":   eta,
	"plain": redpack.Plain,
	// code renders a README cell: `spans` as <code>, the rest escaped.
	"code": func(s string) template.HTML {
		parts := strings.Split(s, "`")
		var b strings.Builder
		for i, p := range parts {
			if i%2 == 1 {
				b.WriteString("<code>" + template.HTMLEscapeString(p) + "</code>")
			} else {
				b.WriteString(template.HTMLEscapeString(p))
			}
		}
		return template.HTML(b.String())
	},
	"counts": sortedCounts,
	"phrase": phrase,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.In(chinaTime).Format("2006-01-02 15:04")
	},
	"pct": func(part, whole int64) string {
		if whole <= 0 {
			return "0"
		}
		return fmt.Sprintf("%.1f", float64(part)*100/float64(whole))
	},
}

func (d *Server) render(w http.ResponseWriter, page string, data map[string]any) {
	data["River"] = d.stopRiver != nil
	var b bytes.Buffer
	if err := d.tmpl[page].Execute(&b, data); err != nil {
		http.Error(w, "the page could not be drawn: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

func (d *Server) listPage(w http.ResponseWriter, r *http.Request) {
	list, err := d.list(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	d.render(w, "list", map[string]any{"Title": "Campaigns and rule sets", "List": list, "Live": "/api/campaigns"})
}

func (d *Server) campaignPage(w http.ResponseWriter, r *http.Request) {
	st, err := d.status(r.Context(), r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	d.render(w, "campaign", map[string]any{
		"Title":    st.Name,
		"S":        st,
		"Refusals": refusals(st.Refusals),
		"Chart":    template.HTML(chartSVG(st.PaidPerMinute, d.cfg.now(), false)),
		"Hours":    lastHours(st.AwardsPerHour, d.cfg.now(), 24),
		"Live":     "/api/campaigns/" + st.Name,
	})
}

func (d *Server) chart(w http.ResponseWriter, r *http.Request) {
	series, err := d.store.PaidPerMinute(r.Context(), r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write([]byte(chartSVG(series, d.cfg.now(), true)))
}

// chartMinutes is how many minutes the chart shows at most.
const chartMinutes = 120

// chartSVG draws paid rows per minute as bars, from the first paid
// minute (at most chartMinutes ago) to now: one rect.bar per minute,
// with data-minute and data-count, empty minutes included. Only numbers
// and times go into it, so it needs no escaping.
func chartSVG(series []campaign.Bucket, now time.Time, standalone bool) string {
	end := now.Truncate(time.Minute)
	start := end
	if len(series) > 0 && series[0].At.Before(start) {
		start = series[0].At
	}
	if end.Sub(start) > (chartMinutes-1)*time.Minute {
		start = end.Add(-(chartMinutes - 1) * time.Minute)
	}
	counts := map[int64]int64{}
	var most int64 = 1
	for _, b := range series {
		counts[b.At.Unix()] = b.Count
	}
	n := int(end.Sub(start)/time.Minute) + 1
	for i := range n {
		if c := counts[start.Add(time.Duration(i)*time.Minute).Unix()]; c > most {
			most = c
		}
	}
	const width, height, left, bottom, top = 720.0, 220.0, 48.0, 24.0, 10.0
	plotH := height - bottom - top
	barW := (width - left) / float64(n)
	var b strings.Builder
	ns := ""
	if standalone {
		ns = ` xmlns="http://www.w3.org/2000/svg"`
	}
	fmt.Fprintf(&b, `<svg%s id="rate-chart" class="chart" viewBox="0 0 %g %g" role="img" aria-label="rows paid per minute" data-points="%d">`, ns, width, height, n)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#888"/>`, left, height-bottom, width, height-bottom)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end" fill="#444">%d/min</text>`, left-4, top+10, most)
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end" fill="#444">0</text>`, left-4, height-bottom)
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		c := counts[at.Unix()]
		h := plotH * float64(c) / float64(most)
		fmt.Fprintf(&b, `<rect class="bar" data-minute="%s" data-count="%d" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="#c0392b"><title>%s: %d paid</title></rect>`,
			at.In(chinaTime).Format(time.RFC3339), c, left+float64(i)*barW, height-bottom-h, max(barW-1, 0.5), h,
			at.In(chinaTime).Format("15:04"), c)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" fill="#444">%s</text>`, left, height-6, start.In(chinaTime).Format("15:04"))
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="11" text-anchor="end" fill="#444">%s CST</text>`, width, height-6, end.In(chinaTime).Format("15:04"))
	b.WriteString(`</svg>`)
	return b.String()
}

// lastHours is the series' last n hours before now, empty hours included,
// newest first.
func lastHours(series []campaign.Bucket, now time.Time, n int) []campaign.Bucket {
	by := map[int64]campaign.Bucket{}
	for _, b := range series {
		by[b.At.Unix()] = b
	}
	end := now.Truncate(time.Hour)
	var out []campaign.Bucket
	for i := range n {
		at := end.Add(-time.Duration(i) * time.Hour)
		b := by[at.Unix()]
		b.At = at.In(chinaTime)
		out = append(out, b)
	}
	return out
}

// phrase writes counts as "queued 1, skipped 3", sorted by key, zeros
// left out; "none" when all are zero. static/live.js writes the same.
func phrase(m map[string]int64) string {
	var parts []string
	for _, c := range sortedCounts(m) {
		parts = append(parts, fmt.Sprintf("%s %d", c.Key, c.N))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
