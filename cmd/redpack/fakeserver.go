package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/redpack-go/redpack/redpacktest"
)

// The fake server's defaults. The admin port follows the API's, so that
// both are easy to remember.
const (
	defaultFakeAddr      = "127.0.0.1:8443"
	defaultFakeAdminAddr = "127.0.0.1:8444"
	defaultFakeDir       = "redpack-fake"
	fakeShutdownTimeout  = 5 * time.Second
)

// fakeConfig is the --config file: the merchants and server settings. A
// merchant starts as redpacktest.DefaultMerchant; each key given replaces
// that setting, so {"mch_id": "1230000109"} alone is a whole merchant.
type fakeConfig struct {
	Merchants  []fakeMerchant `json:"merchants"`
	RateLimit  *int           `json:"rate_limit"`
	PathPrefix string         `json:"path_prefix"`
	Clock      string         `json:"clock"`
	Seed       *uint64        `json:"seed"`
	HMACSHA256 bool           `json:"hmac_sha256"`
	Hosts      []string       `json:"hosts"`
}

type fakeMerchant struct {
	MchID           string    `json:"mch_id"`
	AppID           string    `json:"appid"`
	AppIDs          *[]string `json:"appids"`
	MiniAppIDs      *[]string `json:"mini_program_appids"`
	AppAppIDs       []string  `json:"app_appids"`
	APIKey          string    `json:"api_key"`
	Balance         *int64    `json:"balance"`
	Scenes          *[]string `json:"scenes"`
	SceneMinAmount  int64     `json:"scene_min_amount"`
	SceneMaxAmount  int64     `json:"scene_max_amount"`
	UserDailyCount  int       `json:"user_daily_count"`
	UserDailyAmount int64     `json:"user_daily_amount"`
	DailyAmount     int64     `json:"daily_amount"`
	AllowedIPs      []string  `json:"allowed_ips"`
	GroupOffline    bool      `json:"group_offline"`
}

func (fm fakeMerchant) merchant() redpacktest.Merchant {
	m := redpacktest.DefaultMerchant()
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&m.MchID, fm.MchID)
	set(&m.AppID, fm.AppID)
	set(&m.APIKey, fm.APIKey)
	if fm.AppIDs != nil {
		m.AppIDs = *fm.AppIDs
	}
	if fm.MiniAppIDs != nil {
		m.MiniProgramAppIDs = *fm.MiniAppIDs
	}
	if fm.Scenes != nil {
		m.Scenes = *fm.Scenes
	}
	if fm.Balance != nil {
		m.Balance = *fm.Balance
	}
	m.AppAppIDs, m.AllowedIPs, m.GroupOffline = fm.AppAppIDs, fm.AllowedIPs, fm.GroupOffline
	for _, n := range []struct{ dst, v *int64 }{
		{&m.SceneMinAmount, &fm.SceneMinAmount}, {&m.SceneMaxAmount, &fm.SceneMaxAmount},
		{&m.UserDailyAmount, &fm.UserDailyAmount}, {&m.DailyAmount, &fm.DailyAmount},
	} {
		if *n.v != 0 {
			*n.dst = *n.v
		}
	}
	if fm.UserDailyCount != 0 {
		m.UserDailyCount = fm.UserDailyCount
	}
	return m
}

// fakeFlags are fake-server's flags.
type fakeFlags struct {
	addr, adminAddr, dir, config string
	merchant                     fakeMerchant
	balance                      int64
	hosts, pathPrefix, clock     string
	rateLimit                    int
	seed                         uint64
	hmac, quiet                  bool
}

// newFakeServerCmd is "redpack fake-server": redpacktest's fake WeChat
// Pay server as a program.
func newFakeServerCmd(e *env) *cobra.Command {
	cmd := newLeafCmd("fake-server [flags]", "serve the fake WeChat Pay server for tests in any language")
	cmd.Long = fakeServerLong
	cmd.Example = `  redpack fake-server --dir redpack-fake
  redpack send --merchant redpack-fake/merchant.json …     # in another terminal
  redpack fake-server --addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --group-offline --quiet`
	fs := cmd.Flags()
	var ff fakeFlags
	fs.StringVar(&ff.addr, "addr", defaultFakeAddr, "address of the WeChat Pay API (HTTPS, mutual TLS); port 0 picks a free one")
	fs.StringVar(&ff.adminAddr, "admin-addr", defaultFakeAdminAddr, "address of the control API (plain HTTP, loopback only); port 0 picks a free one")
	fs.StringVar(&ff.dir, "dir", defaultFakeDir, "directory of the credentials: written at the first start, reused after")
	fs.StringVar(&ff.config, "config", "", "JSON file of merchants and settings (see below)")
	fs.StringVar(&ff.merchant.MchID, "mch-id", redpacktest.DefaultMchID, "the merchant's id")
	fs.StringVar(&ff.merchant.AppID, "appid", redpacktest.DefaultAppID, "the merchant's Official Account appid")
	fs.StringVar(&ff.merchant.APIKey, "api-key", redpacktest.DefaultAPIKey, "the merchant's APIv2 key, 32 characters: a made-up test key, written to merchant.json")
	fs.Int64Var(&ff.balance, "balance", redpacktest.DefaultBalance, "the merchant's balance in fen")
	fs.IntVar(&ff.merchant.UserDailyCount, "user-daily-count", redpacktest.DefaultUserDailyCount, "packets per user per day (SENDNUM_LIMIT)")
	fs.Int64Var(&ff.merchant.UserDailyAmount, "user-daily-amount", redpacktest.DefaultUserDailyAmount, "fen per user per day (RCVDAMOUNT_LIMIT)")
	fs.Int64Var(&ff.merchant.DailyAmount, "daily-amount", redpacktest.DefaultDailyAmount, "fen per day for the merchant (SENDAMOUNT_LIMIT)")
	fs.BoolVar(&ff.merchant.GroupOffline, "group-offline", false, "refuse sendgroupredpack with NO_AUTH, as WeChat does since it took group packets offline on 2024-06-05 (default: a legacy account that accepts them)")
	fs.StringVar(&ff.hosts, "hosts", "", "extra names or addresses for the server certificate, comma-separated (127.0.0.1, ::1 and localhost always)")
	fs.StringVar(&ff.pathPrefix, "path-prefix", "/", "serve the endpoints under this path")
	fs.IntVar(&ff.rateLimit, "rate-limit", redpacktest.DefaultRateLimit, "requests per second per merchant before FREQ_LIMIT; 0 for none")
	fs.StringVar(&ff.clock, "clock", "", "freeze the server clock at this RFC 3339 time (default: it follows real time)")
	fs.Uint64Var(&ff.seed, "seed", 1, "seed of group-packet splits")
	fs.BoolVar(&ff.hmac, "hmac-sha256", false, "also accept sign_type=HMAC-SHA256 (WeChat refuses it for red packets)")
	fs.BoolVar(&ff.quiet, "quiet", false, "do not log requests")
	groupFlags(fs, "Listeners and files", "addr", "admin-addr", "dir", "hosts", "path-prefix")
	groupFlags(fs, "The merchant (or several, with --config)", append([]string{"config"}, fakeMerchantFlags...)...)
	groupFlags(fs, "Behaviour", "rate-limit", "clock", "seed", "hmac-sha256", "quiet")
	_ = cmd.MarkFlagDirname("dir")
	_ = cmd.MarkFlagFilename("config", "json")
	setEpilog(cmd, fakeServerEpilog)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return exitWith(runFakeServer(cmd.Context(), e, &ff, givenFlags(fs), args))
	}
	return cmd
}

// runFakeServer serves until ctx ends and returns the exit code.
func runFakeServer(ctx context.Context, e *env, ff *fakeFlags, given map[string]bool, pos []string) int {
	fail := func(code int, err error) int {
		fmt.Fprintf(e.stderr, "redpack fake-server: %v\n", err)
		return code
	}
	if len(pos) > 0 {
		return fail(exitUsage, fmt.Errorf("takes no arguments, got %d", len(pos)))
	}
	opts, merchants, err := ff.options(given)
	if err != nil {
		return fail(exitUsage, err)
	}
	if err := checkLoopback(ff.adminAddr); err != nil {
		return fail(exitUsage, err)
	}

	// One handler on stderr for the request log and net/http's own errors;
	// --quiet discards both.
	var logTo slog.Handler = slog.DiscardHandler
	if !ff.quiet {
		logTo = slog.NewTextHandler(e.stderr, nil)
		opts = append(opts, redpacktest.WithLogger(slog.New(logTo)))
	}
	// Listen first: a port in use must leave no directory behind.
	ln, err := listen("addr", ff.addr)
	if err != nil {
		return fail(exitFailure, err)
	}
	defer ln.Close() // after Serve, Shutdown has closed it already
	adminLn, err := listen("admin-addr", ff.adminAddr)
	if err != nil {
		return fail(exitFailure, err)
	}
	defer adminLn.Close()
	dir, err := newFakeDir(ff.dir)
	if err != nil {
		return fail(exitFailure, err)
	}
	release, err := dir.lock()
	if err != nil {
		return fail(exitFailure, err)
	}
	defer release()
	credOpts, err := dir.load(merchants)
	if err != nil {
		return fail(exitFailure, err)
	}
	h, err := redpacktest.NewHandler(append(opts, credOpts...)...)
	if err != nil {
		if len(credOpts) > 0 {
			// Perhaps a saved certificate has expired (they last a year):
			// say how to start afresh.
			err = fmt.Errorf("%w (if the credentials saved in %s are at fault, delete the directory to make new ones)", err, dir.path)
		}
		return fail(exitUsage, err)
	}
	defer h.Close()
	if err := dir.save(h, merchants); err != nil {
		return fail(exitFailure, err)
	}

	baseURL := "https://" + dialAddr(ln.Addr()) + h.PathPrefix()
	adminURL := "http://" + dialAddr(adminLn.Addr()) + "/"
	if err := dir.writeMerchantJSON(h, merchants, baseURL, adminURL); err != nil {
		return fail(exitFailure, err)
	}

	errLog := slog.NewLogLogger(tlsHintHandler{
		Handler: logTo.WithAttrs([]slog.Attr{slog.String("server", "net/http")}),
		caPath:  filepath.Join(dir.path, caCertName),
	}, slog.LevelWarn)
	api := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, ErrorLog: errLog}
	adm := &http.Server{Handler: h.AdminHandler(), ReadHeaderTimeout: 30 * time.Second, ErrorLog: errLog}
	served := make(chan error, 2)
	// tls.NewListener with the Handler's own configuration offers HTTP/1.1
	// and HTTP/1.0, never HTTP/2, which DropAfterCommit needs to close a
	// whole connection.
	go func() { served <- api.Serve(tls.NewListener(ln, h.TLSConfig())) }()
	go func() { served <- adm.Serve(adminLn) }()

	// One line, no punctuation next to the URLs, so that they can be
	// copied and scripts can pick them out.
	fmt.Fprintf(e.stdout, "redpack fake-server listening on %s with control API %s and credentials in %s\n",
		baseURL, adminURL, filepath.Join(dir.path, merchantJSONName))

	code := exitOK
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(e.stderr, "redpack fake-server: %v\n", err)
		code = exitFailure
	}
	h.Close() // end the waits of slow faults first, so that Shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), fakeShutdownTimeout)
	defer cancel()
	shutErr := errors.Join(api.Shutdown(sctx), adm.Shutdown(sctx))
	if shutErr != nil {
		fmt.Fprintf(e.stderr, "redpack fake-server: shutdown: %v\n", shutErr)
		code = exitFailure
	}
	fmt.Fprintln(e.stderr, "redpack fake-server: stopped")
	return code
}

// listen listens on the address of --flag; a port in use says how to
// have a free one picked.
func listen(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(addr)
		if host == "" {
			host = "127.0.0.1"
		}
		return nil, fmt.Errorf("--%s %s: the port is in use (another fake-server?); pass --%s %s to have a free port picked: the start line and merchant.json say which",
			flag, addr, flag, net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	return ln, nil
}

// tlsHintHandler adds a hint to net/http's log of a handshake that failed
// the way a client that does not trust ca.pem makes it fail: Go clients
// send bad_certificate, OpenSSL's unknown_ca, and some stacks end with
// bad_record_mac, none of which names the cause.
type tlsHintHandler struct {
	slog.Handler
	caPath string
}

// distrustAlerts are the TLS alerts, as Go's crypto/tls words them, that
// a client which does not trust the server's CA sends or provokes.
var distrustAlerts = []string{"bad certificate", "unknown certificate", "bad record MAC"}

func (t tlsHintHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "TLS handshake error") {
		for _, a := range distrustAlerts {
			if strings.Contains(r.Message, a) {
				r = r.Clone()
				r.AddAttrs(slog.String("hint", "the client may not trust this server's CA: give it "+t.caPath+
					" (curl --cacert, NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE, SSL_CERT_FILE or a Java trust store)"))
				break
			}
		}
	}
	return t.Handler.Handle(ctx, r)
}

// fakeMerchantFlags set the one merchant of a fake server without
// --config; with --config they are refused, and help lists them together.
var fakeMerchantFlags = []string{"mch-id", "appid", "api-key", "balance", "user-daily-count", "user-daily-amount", "daily-amount", "group-offline"}

// options turns the flags and the config file into Handler options and
// the merchants. set holds the flags given on the command line: they
// override the file.
func (ff *fakeFlags) options(set map[string]bool) ([]redpacktest.Option, []redpacktest.Merchant, error) {
	var cfg fakeConfig
	if ff.config != "" {
		data, err := os.ReadFile(ff.config)
		if err != nil {
			return nil, nil, fmt.Errorf("--config: %w", err)
		}
		if err := decodeStrict(data, &cfg); err != nil {
			return nil, nil, fmt.Errorf("--config %s: %w", ff.config, err)
		}
	}
	var merchants []redpacktest.Merchant
	if len(cfg.Merchants) > 0 {
		for _, name := range fakeMerchantFlags {
			if set[name] {
				return nil, nil, fmt.Errorf("--%s: the merchants come from --config; set them there", name)
			}
		}
		for _, fm := range cfg.Merchants {
			merchants = append(merchants, fm.merchant())
		}
	} else {
		fm := ff.merchant
		fm.Balance = &ff.balance
		merchants = []redpacktest.Merchant{fm.merchant()}
	}

	rate, prefix, clock, seed, hosts := cfg.RateLimit, cfg.PathPrefix, cfg.Clock, cfg.Seed, cfg.Hosts
	if set["rate-limit"] || rate == nil {
		rate = &ff.rateLimit
	}
	if set["path-prefix"] || prefix == "" {
		prefix = ff.pathPrefix
	}
	if set["clock"] || clock == "" {
		clock = ff.clock
	}
	if set["seed"] || seed == nil {
		seed = &ff.seed
	}
	for _, h := range strings.Split(ff.hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	hosts = append([]string{"127.0.0.1", "::1", "localhost"}, hosts...)
	if host, _, err := net.SplitHostPort(ff.addr); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, host)
		}
	}

	opts := []redpacktest.Option{
		redpacktest.WithMerchants(merchants...),
		redpacktest.WithRateLimit(*rate),
		redpacktest.WithPathPrefix(prefix),
		redpacktest.WithSeed(*seed),
		redpacktest.WithHosts(dedupe(hosts)...),
	}
	if clock != "" {
		t, err := time.Parse(time.RFC3339, clock)
		if err != nil {
			return nil, nil, fmt.Errorf("--clock: %w", err)
		}
		opts = append(opts, redpacktest.WithClock(t))
	}
	hmac := cfg.HMACSHA256
	if set["hmac-sha256"] {
		hmac = ff.hmac // a flag overrides the config file, as for the others
	}
	if hmac {
		opts = append(opts, redpacktest.WithHMACSHA256())
	}
	return opts, merchants, nil
}

func dedupe(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// checkLoopback refuses an admin address that others could reach: the
// control API has no authentication and can empty a ledger.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--admin-addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--admin-addr %q: the control API has no authentication; bind it to a loopback address such as 127.0.0.1", addr)
}

// dialAddr is the address a client on this machine dials to reach a
// listener: a wildcard address becomes 127.0.0.1.
func dialAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value")
	}
	return nil
}

// fakeServerLong is fake-server's help before its flags.
const fakeServerLong = `Fake-server serves redpacktest, the fake WeChat Pay red-packet server, as a
standalone program that code in any language can test against: sendredpack,
sendgroupredpack, sendminiprogramhb and gethbinfo over mutual TLS, judged as
WeChat judges them, with the same rules, err_codes and ledger as the Go
package. No WeChat account is needed.

At start it writes to --dir what a client needs, and reuses it at the next
start so that clients keep working. One server per --dir at a time: a second
one refuses to start on a directory a live server holds (fake-server.lock
holds its PID, and is taken over once that process is gone):
  ca.pem                   the CA that signed the server certificate: trust it
  apiclient_cert.p12       the merchant certificate (password: the mch_id)
  apiclient_cert.pem       the same certificate …
  apiclient_key.pem        … and its key
  merchant.json            mch_id, appid, api_key, base_url, admin_url and the file paths
  merchants/<mch_id>/      the certificate files of every merchant
  ca-key.TEST-ONLY.pem     the CA's key, to issue the server certificate again
All keys are throwaway test keys. The files with keys are readable by the
owner only. "redpack send --merchant DIR/merchant.json …", or any command
that takes credentials, uses them. It then prints one line with both
addresses and the directory, logs each request to stderr (never a key or a
signature) and runs until SIGINT or SIGTERM. A port in use says so and
writes nothing: pass --addr 127.0.0.1:0 to have a free one picked.

The merchant is redpacktest's default unless flags or --config say
otherwise: mch_id 1900000109, appid wx8888888888888888 (and the mini-program
appid wxd27ebc41b85ce36d), the public example key of WeChat's docs, 10,000
CNY, every scene enabled, WeChat's default caps. fake-server reads no
REDPACK_* environment variable: your real credentials stay out of it.`

// fakeServerEpilog is fake-server's help after its flags.
const fakeServerEpilog = `The --config file (JSON; every key optional, a merchant starts as the default
one, and flags given override the server settings):
  {"merchants": [{"mch_id": "1900000109", "appid": "wx8888888888888888",
                  "appids": [], "mini_program_appids": ["wxd27ebc41b85ce36d"],
                  "api_key": "<32 characters>",
                  "balance": 1000000, "scenes": ["PRODUCT_1"], "scene_min_amount": 30,
                  "scene_max_amount": 499900, "user_daily_count": 10,
                  "user_daily_amount": 100000, "daily_amount": 100000000,
                  "allowed_ips": [], "app_appids": [], "group_offline": false}],
   "rate_limit": 30, "path_prefix": "/", "clock": "2025-01-01T12:00:00+08:00",
   "seed": 1, "hmac_sha256": false, "hosts": ["wechat.test"]}

The control API (JSON over plain HTTP on --admin-addr):
  GET  /packets                       the ledger
  GET  /packets/{mch_billno}          one packet
  POST /packets/{mch_billno}/claim    {"openids": ["o…"]} (a group packet is split among them)
  POST /biz-red-packet                {"timeStamp","nonceStr","package","signType","paySign"}: a mini-program
                                      opens its packet as wx.sendBizRedPacket would (paySign checked)
  POST /clock/advance                 {"duration": "25h"}: SENT → RFUND_ING → REFUND
  PUT  /clock                         {"now": "2025-01-01T12:00:00+08:00"} (to the past only on an empty ledger)
  POST /faults                        {"kind": "SystemErrorAfterCommit", "op": "sendredpack"}
  GET  /faults, /merchants, /requests, /clock
  PUT  /merchants/{mch_id}/balance    {"balance": 0}
  POST /reset                         empty ledger, no faults, balances and clock as at start
For example:
  curl -s http://127.0.0.1:8444/packets
  curl -s -X POST http://127.0.0.1:8444/clock/advance -d '{"duration":"25h"}'

Exit codes: 0 stopped by a signal, 1 it could not serve, 2 bad flags or config.`
