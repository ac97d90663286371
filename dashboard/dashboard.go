// Package dashboard is the read-only web dashboard of "redpack campaign
// serve": a page listing the database's campaigns and rule sets, a page
// for each with its figures, a per-minute pay-rate chart drawn on the
// server as SVG, the refusals with what to do, the rows that need a
// person with the command to run, and the report's CSV and JSON export.
//
// It reads the journal only through package campaign's queries (the
// figures "redpack campaign status --json" prints), has no action that
// writes, and embeds every template and asset. Pages work without
// JavaScript; static/live.js only refreshes them by polling the JSON
// endpoints:
//
//	GET /api/campaigns         the campaign list ("campaign list --json")
//	GET /api/campaigns/{name}  one campaign: the keys of "campaign status --json"
//	                           (and, for a rule set, of "rules status --json"),
//	                           plus in_flight, awaiting, rate_per_minute,
//	                           eta_seconds, paid_per_minute, awards_per_hour
//	                           and needs_person
//
// and the exports, the bytes of the commands named:
//
//	GET /c/{name}/report.csv   campaign report NAME (--format json: report.json)
//	GET /c/{name}/awards.csv   a rule set's rules report --name NAME (awards.json)
//
// Every response carries a Content-Security-Policy without inline
// script, and forbids framing. With Config.Token set, every request needs
// it, as "Authorization: Bearer TOKEN" or as the cookie the one-time
// login URL (LoginURL) sets.
package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/redpack-go/redpack/campaign"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is the dashboard's behaviour.
type Config struct {
	// Token, when not empty, is required of every request: as a bearer
	// header, or the cookie LoginURL's one-time code sets. Required when
	// the dashboard listens beyond loopback.
	Token string
	// ShowOpenIDs shows openids whole; by default they are masked, on the
	// pages, in the JSON and in the export.
	ShowOpenIDs bool
	// UnknownAfter is how long a row may stay unknown after its first
	// send before it needs a person (default 10 minutes).
	UnknownAfter time.Duration
	// RiverUI mounts River's own UI (riverqueue.com/riverui) under
	// /river, for job-level detail: behind the same token and loopback
	// rules, and read-only like the rest, since every method but GET and
	// HEAD is refused. Close stops its background queries.
	RiverUI bool
	// Logger receives River's UI's errors; nil discards them.
	Logger *slog.Logger
	// RateWindow is the span the current pay rate, and so the ETA, is
	// measured over (default 5 minutes); a run that started within it is
	// measured from its start.
	RateWindow time.Duration

	now func() time.Time
}

// Server is the dashboard's http.Handler.
type Server struct {
	store *campaign.Store
	cfg   Config
	mux   *http.ServeMux
	tmpl  map[string]*template.Template

	mu        sync.Mutex
	loginCode string // "" once used

	stopRiver context.CancelFunc
}

// cookieName is the session cookie's name.
const cookieName = "redpack_dashboard"

// New returns the dashboard of the campaigns in s.
func New(s *campaign.Store, cfg Config) (*Server, error) {
	if cfg.UnknownAfter <= 0 {
		cfg.UnknownAfter = 10 * time.Minute
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = 5 * time.Minute
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	d := &Server{store: s, cfg: cfg, mux: http.NewServeMux(), tmpl: map[string]*template.Template{}}
	for _, page := range []string{"list", "campaign"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, err
		}
		d.tmpl[page] = t
	}
	if cfg.Token != "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		d.loginCode = hex.EncodeToString(b)
	}
	static, _ := fs.Sub(staticFS, "static")
	d.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	d.mux.HandleFunc("GET /login", d.login)
	d.mux.HandleFunc("GET /{$}", d.listPage)
	d.mux.HandleFunc("GET /c/{name}", d.campaignPage)
	d.mux.HandleFunc("GET /c/{name}/chart.svg", d.chart)
	d.mux.HandleFunc("GET /c/{name}/report.csv", d.export("csv"))
	d.mux.HandleFunc("GET /c/{name}/report.json", d.export("json"))
	d.mux.HandleFunc("GET /c/{name}/awards.csv", d.exportAwards("csv"))
	d.mux.HandleFunc("GET /c/{name}/awards.json", d.exportAwards("json"))
	d.mux.HandleFunc("GET /api/campaigns", d.apiList)
	d.mux.HandleFunc("GET /api/campaigns/{name}", d.apiCampaign)
	if cfg.RiverUI {
		ctx, cancel := context.WithCancel(context.Background())
		h, err := riverUI(ctx, s, cfg.Logger)
		if err != nil {
			cancel()
			return nil, err
		}
		d.stopRiver = cancel
		d.mux.Handle(riverPrefix+"/", h)
		d.mux.Handle(riverPrefix, h) // River's UI redirects it to /river/
	}
	return d, nil
}

// Close stops River's UI's background queries, if it is mounted. The
// store stays open.
func (d *Server) Close() error {
	if d.stopRiver != nil {
		d.stopRiver()
	}
	return nil
}

// LoginURL is the path of the one-time login: opened once, it sets the
// session cookie and is spent. "" without a token.
func (d *Server) LoginURL() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loginCode == "" {
		return ""
	}
	return "/login?code=" + d.loginCode
}

// securityHeaders are set on every response.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
	"X-Frame-Options":              "DENY",
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"Cache-Control":                "no-store",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
}

// ServeHTTP sets the security headers, allows only reads, and checks the
// token before any route.
func (d *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	if d.stopRiver != nil && (r.URL.Path == riverPrefix || strings.HasPrefix(r.URL.Path, riverPrefix+"/")) {
		w.Header().Set("Content-Security-Policy", riverCSP)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the dashboard is read-only", http.StatusMethodNotAllowed)
		return
	}
	if d.cfg.Token == "" && !loopbackHost(r.Host) {
		// Without a token only loopback names may be used: a page of
		// another site cannot reach it by DNS rebinding.
		http.Error(w, "this dashboard answers only to a loopback address", http.StatusMisdirectedRequest)
		return
	}
	if d.cfg.Token != "" && r.URL.Path != "/login" && !d.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="redpack dashboard"`)
		http.Error(w, "401 unauthorized: send the token as 'Authorization: Bearer TOKEN', or open the login URL serve printed", http.StatusUnauthorized)
		return
	}
	d.mux.ServeHTTP(w, r)
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// sessionValue is the session cookie's value: derived from the token, so
// that it needs no state and changes with the token.
func (d *Server) sessionValue() string {
	m := hmac.New(sha256.New, []byte(d.cfg.Token))
	m.Write([]byte("redpack dashboard session"))
	return hex.EncodeToString(m.Sum(nil))
}

func (d *Server) authorized(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return subtle.ConstantTimeCompare([]byte(strings.TrimPrefix(h, "Bearer ")), []byte(d.cfg.Token)) == 1
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return subtle.ConstantTimeCompare([]byte(c.Value), []byte(d.sessionValue())) == 1
	}
	return false
}

// login spends the one-time code: it sets the session cookie and
// redirects to the list.
func (d *Server) login(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	d.mu.Lock()
	ok := d.loginCode != "" && subtle.ConstantTimeCompare([]byte(code), []byte(d.loginCode)) == 1
	if ok {
		d.loginCode = ""
	}
	d.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="redpack dashboard"`)
		http.Error(w, "401 unauthorized: this login URL is wrong or was used already", http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: d.sessionValue(), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// fail answers err: 404 for a campaign that does not exist (or, where a
// rule set's is asked for, is not a rule set).
func fail(w http.ResponseWriter, err error) {
	if errors.Is(err, campaign.ErrNotFound) || errors.Is(err, campaign.ErrNotRuleSet) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	http.Error(w, "the journal could not be read: "+err.Error(), http.StatusInternalServerError)
}

// MaskOpenID keeps an openid's first and last 4 characters.
func MaskOpenID(id string) string {
	if len(id) <= 8 {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + strings.Repeat("*", len(id)-8) + id[len(id)-4:]
}

func (d *Server) openID(id string) string {
	if d.cfg.ShowOpenIDs {
		return id
	}
	return MaskOpenID(id)
}

func (d *Server) export(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if _, err := d.store.Info(r.Context(), name); err != nil {
			fail(w, err)
			return
		}
		d.download(w, r, name, format, "application/json", d.store.WriteReport)
	}
}

// exportAwards downloads a rule set's awards report: the bytes "redpack
// rules report" writes, through the same writer.
func (d *Server) exportAwards(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := d.store.CheckRuleSet(r.Context(), name); err != nil {
			fail(w, err) // 404: no such campaign, or not a rule set
			return
		}
		d.download(w, r, name+"-awards", format, "application/x-ndjson", d.store.WriteAwards)
	}
}

// download sends what write writes of the campaign as file.format, openids
// masked unless ShowOpenIDs.
func (d *Server) download(w http.ResponseWriter, r *http.Request, file, format, jsonType string,
	write func(ctx context.Context, name, format string, w io.Writer, opts campaign.ReportOptions) error) {
	ct := "text/csv; charset=utf-8"
	if format == "json" {
		ct = jsonType
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="`+file+`.`+format+`"`)
	var opts campaign.ReportOptions
	if !d.cfg.ShowOpenIDs {
		opts.MaskOpenID = MaskOpenID
	}
	// Once bytes are out a failure can only cut the download short.
	_ = write(r.Context(), r.PathValue("name"), format, w, opts)
}
