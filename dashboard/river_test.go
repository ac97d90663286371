package dashboard

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// River's UI serves under /river on both drivers: its page (200, River's
// single-page application, assets from the binary), its JSON (the
// campaign's two row jobs), behind the token like every other path, with
// its write actions refused and a CSP relaxed for it alone.
func TestRiverUI(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			s := newStoreAt(t, newDSN(t, kind))
			d, err := New(s, Config{Token: token, RiverUI: true})
			require.NoError(t, err)
			t.Cleanup(func() { d.Close() })
			auth := map[string]string{"Authorization": "Bearer " + token, "Accept": "text/html"}

			for _, p := range []string{"/river/", "/river/jobs", "/river/api/jobs?state=available", "/river/api/states"} {
				r := do(t, d, "GET", p, nil)
				assert.Equal(t, http.StatusUnauthorized, r.StatusCode, "no token: %s", p)
				assert.NotContains(t, body(t, r), "redpack_campaign_row", p)
			}

			r := do(t, d, "GET", "/river/", auth)
			require.Equal(t, http.StatusOK, r.StatusCode)
			page := body(t, r)
			assert.Contains(t, page, "<title>River</title>")
			assert.Contains(t, page, `<div id="root"`)
			assert.Contains(t, page, `"apiUrl":"/river/api"`, "the UI calls its API under /river")
			assert.NotContains(t, page, "localhost:5173", "not River's development mode")
			csp := r.Header.Get("Content-Security-Policy")
			assert.Equal(t, riverCSP, csp)
			assert.Contains(t, csp, "script-src 'self';")
			assert.Contains(t, csp, "frame-ancestors 'none'")
			assert.Equal(t, "DENY", r.Header.Get("X-Frame-Options"))

			// Its script, from the binary.
			src := page[strings.Index(page, `src="/river/assets/`)+5:]
			src = src[:strings.Index(src, `"`)]
			r = do(t, d, "GET", src, auth)
			require.Equal(t, http.StatusOK, r.StatusCode, src)
			assert.Contains(t, r.Header.Get("Content-Type"), "javascript", src)

			r = do(t, d, "GET", "/river/api/jobs?state=available", auth)
			require.Equal(t, http.StatusOK, r.StatusCode)
			var jobs struct {
				Data []struct {
					ID    int64  `json:"id"`
					Kind  string `json:"kind"`
					State string `json:"state"`
				} `json:"data"`
			}
			require.NoError(t, json.Unmarshal([]byte(body(t, r)), &jobs))
			require.Len(t, jobs.Data, 2, "one job a row")
			assert.Equal(t, "redpack_campaign_row", jobs.Data[0].Kind)

			// No write action reaches River's UI: a job stays available.
			for _, w := range []struct{ method, path string }{
				{"POST", "/river/api/jobs/cancel"}, {"POST", "/river/api/jobs/delete"}, {"POST", "/river/api/jobs/retry"},
				{"PUT", "/river/api/queues/default/pause"}, {"PATCH", "/river/api/queues/default"},
			} {
				assert.Equal(t, http.StatusMethodNotAllowed, do(t, d, w.method, w.path, auth).StatusCode, "%s %s", w.method, w.path)
			}
			r = do(t, d, "GET", "/river/api/jobs?state=available", auth)
			require.NoError(t, json.Unmarshal([]byte(body(t, r)), &jobs))
			assert.Len(t, jobs.Data, 2)

			// The dashboard's own pages keep their strict policy.
			for _, p := range []string{"/", "/c/spring", "/api/campaigns/spring", "/riverx"} {
				csp := do(t, d, "GET", p, auth).Header.Get("Content-Security-Policy")
				assert.Equal(t, securityHeaders["Content-Security-Policy"], csp, p)
				assert.NotContains(t, csp, "unsafe-inline", p)
			}
		})
	}
}

// Without RiverUI nothing is mounted under /river.
func TestRiverUIOff(t *testing.T) {
	d, err := New(newStore(t), Config{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, do(t, d, "GET", "/river/", map[string]string{"Accept": "text/html"}).StatusCode)
	assert.NoError(t, d.Close())
}
