package main

import (
	"bufio"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/redpack-go/redpack"
)

// connVar is a credential or connection setting: a flag and the
// environment variable it overrides.
type connVar struct {
	flag, env, usage string
}

// connVars are the settings every command that talks to WeChat takes.
// Their flag defaults are empty (base-url aside), so help never shows a
// value taken from the environment.
var connVars = []connVar{
	{"merchant", "REDPACK_MERCHANT", "JSON file of these settings, as fake-server writes merchant.json; flags and variables override it"},
	{"mch-id", "REDPACK_MCH_ID", "merchant id (商户号)"},
	{"appid", "REDPACK_APPID", "Official Account appid the openids belong to"},
	{"api-key", "REDPACK_API_KEY", `APIv2 key, 32 characters; "-" reads it from stdin`},
	{"cert-p12", "REDPACK_CERT_P12", "merchant certificate apiclient_cert.p12"},
	{"cert-password", "REDPACK_CERT_PASSWORD", "password of the .p12 (default: the mch_id)"},
	{"cert-pem", "REDPACK_CERT_PEM", "or the certificate as apiclient_cert.pem …"},
	{"key-pem", "REDPACK_KEY_PEM", "… with its key apiclient_key.pem"},
	{"ca-cert", "REDPACK_CA_CERT", "PEM file of extra server roots, e.g. a fake server's CA"},
	{"base-url", "REDPACK_BASE_URL", "API base URL (default " + redpack.DefaultBaseURL + ")"},
}

// envOf is the environment variable of a connection flag.
func envOf(flag string) string {
	for _, v := range connVars {
		if v.flag == flag {
			return v.env
		}
	}
	panic("redpack: no connection flag " + flag)
}

// conn holds the connection flags of one command run.
type conn struct {
	vals        map[string]*string // by flag name
	maxAttempts int
	timeout     time.Duration
	verbose     bool
}

// register adds the connection flags to fs, listed in help under
// "Credentials and connection", with the library's retry defaults.
func (c *conn) register(fs *pflag.FlagSet) {
	c.registerWith(fs, redpack.DefaultRetryPolicy().MaxAttempts, redpack.DefaultTimeout)
}

// registerWith is register with a command's own defaults for
// --max-attempts and --timeout.
func (c *conn) registerWith(fs *pflag.FlagSet, maxAttempts int, timeout time.Duration) {
	c.vals = make(map[string]*string, len(connVars))
	for _, v := range connVars {
		c.vals[v.flag] = fs.String(v.flag, "", v.usage+" [$"+v.env+"]")
	}
	fs.IntVar(&c.maxAttempts, "max-attempts", maxAttempts,
		"attempts per request, the first included; 1 turns the client's own retries off")
	fs.DurationVar(&c.timeout, "timeout", timeout, "time limit of one attempt")
	fs.BoolVar(&c.verbose, "verbose", false, "log every attempt to stderr (never a secret)")
	groupFlags(fs, "Credentials and connection", connFlagNames()...)
}

// connFlagNames lists the connection flags, in order.
func connFlagNames() []string {
	names := make([]string, 0, len(connVars)+3)
	for _, v := range connVars {
		names = append(names, v.flag)
	}
	return append(names, "max-attempts", "timeout", "verbose")
}

func (c *conn) get(name string) string { return *c.vals[name] }

// resolve fills each connection flag that was not given from its
// environment variable.
func (c *conn) resolve(fs *pflag.FlagSet, getenv func(string) string) {
	for _, v := range connVars {
		if fs.Changed(v.flag) {
			continue
		}
		if ev := getenv(v.env); ev != "" {
			*c.vals[v.flag] = ev
		}
	}
}

// inputError is bad input the command found itself: a flag, an argument or
// the credentials. It exits 2, like a *redpack.ValidationError.
type inputError struct {
	kind string // "usage" or "config"
	flag string // the flag at fault, if one is
	msg  string
}

func (e *inputError) Error() string { return e.msg }

func usageErr(flag, format string, a ...any) error {
	return &inputError{kind: "usage", flag: flag, msg: fmt.Sprintf(format, a...)}
}

func configErr(format string, a ...any) error {
	return &inputError{kind: "config", msg: fmt.Sprintf(format, a...)}
}

// client builds the redpack client the flags describe. Every error is an
// *inputError of kind "config"; none holds a secret.
func (c *conn) client(e *env) (*redpack.Client, error) {
	cfg, opts, err := c.merchant(e)
	if err != nil {
		return nil, err
	}
	client, err := redpack.NewClient(cfg, opts...)
	if err != nil {
		var v *redpack.ValidationError
		if errors.As(err, &v) {
			return nil, &inputError{kind: "config", flag: fieldFlags[v.Field], msg: err.Error()}
		}
		return nil, configErr("%v", err)
	}
	return client, nil
}

// merchant loads the merchant's configuration and the client options the
// flags describe, for a caller that builds its own client (a campaign run
// adds its limiter). Errors are as client's.
func (c *conn) merchant(e *env) (*redpack.MerchantConfig, []redpack.Option, error) {
	if err := c.applyMerchantFile(); err != nil {
		return nil, nil, err
	}
	var missing []string
	for _, flag := range []string{"mch-id", "appid", "api-key"} {
		if c.get(flag) == "" {
			missing = append(missing, "--"+flag+" ($"+envOf(flag)+")")
		}
	}
	p12, certPEM, keyPEM := c.get("cert-p12"), c.get("cert-pem"), c.get("key-pem")
	switch {
	case p12 != "" && (certPEM != "" || keyPEM != ""):
		return nil, nil, configErr("give the certificate once: --cert-p12, or --cert-pem with --key-pem, not both")
	case p12 == "" && certPEM == "" && keyPEM == "":
		missing = append(missing, "a certificate: --cert-p12 ($"+envOf("cert-p12")+"), or --cert-pem with --key-pem")
	case p12 == "" && (certPEM == "" || keyPEM == ""):
		return nil, nil, configErr("--cert-pem and --key-pem go together; give both")
	}
	if len(missing) > 0 {
		return nil, nil, configErr("missing credentials: %s", strings.Join(missing, ", "))
	}
	if c.maxAttempts < 1 {
		return nil, nil, usageErr("max-attempts", "--max-attempts must be at least 1, got %d", c.maxAttempts)
	}
	if c.timeout <= 0 {
		return nil, nil, usageErr("timeout", "--timeout must be positive")
	}

	for _, flag := range []string{"cert-p12", "key-pem"} {
		if err := checkPrivate(flag, c.get(flag)); err != nil {
			return nil, nil, err
		}
	}
	apiKey := c.get("api-key")
	if apiKey == "-" {
		k, err := readSecretLine(e.stdin)
		if err != nil {
			return nil, nil, configErr("read the API key from stdin: %v", err)
		}
		apiKey = k
	}
	var cfg *redpack.MerchantConfig
	var err error
	if p12 != "" {
		cfg, err = redpack.LoadPKCS12Config(c.get("mch-id"), c.get("appid"), apiKey, p12, c.get("cert-password"))
	} else {
		cfg, err = redpack.LoadPEMConfig(c.get("mch-id"), c.get("appid"), apiKey, certPEM, keyPEM)
	}
	if err != nil {
		return nil, nil, configErr("%v", err)
	}

	baseURL := c.get("base-url")
	if baseURL == "" {
		baseURL = redpack.DefaultBaseURL
	}
	opts := []redpack.Option{
		redpack.WithBaseURL(baseURL),
		redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: c.maxAttempts}),
		redpack.WithHTTPClient(&http.Client{Timeout: c.timeout}),
	}
	if path := c.get("ca-cert"); path != "" {
		pool, err := loadRoots(path)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, redpack.WithRootCAs(pool))
	}
	if c.verbose {
		opts = append(opts, redpack.WithLogger(slog.New(slog.NewTextHandler(e.stderr, nil))))
	}
	return cfg, opts, nil
}

// applyMerchantFile fills every connection setting that no flag or
// environment variable gave from the --merchant file. The certificate is
// taken whole: from the file only if no certificate flag was given, its
// .p12 (with its password) if it names one, else its PEM pair. Paths in the
// file are relative to its directory. Calling it again changes nothing.
func (c *conn) applyMerchantFile() error {
	path := c.get("merchant")
	if path == "" {
		return nil
	}
	mf, err := readMerchantFile(path)
	if err != nil {
		return err
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	fill := func(flag, v string) {
		if c.get(flag) == "" {
			*c.vals[flag] = v
		}
	}
	fill("mch-id", mf.MchID)
	fill("appid", mf.AppID)
	fill("api-key", mf.APIKey)
	fill("base-url", mf.BaseURL)
	fill("ca-cert", rel(mf.CACert))
	if c.get("cert-p12") == "" && c.get("cert-pem") == "" && c.get("key-pem") == "" {
		if mf.CertP12 != "" {
			fill("cert-p12", rel(mf.CertP12))
			fill("cert-password", mf.CertPassword)
		} else {
			fill("cert-pem", rel(mf.CertPEM))
			fill("key-pem", rel(mf.KeyPEM))
		}
	}
	return nil
}

// readMerchantFile reads a --merchant file, refusing one others may read.
func readMerchantFile(path string) (*merchantFile, error) {
	if err := checkPrivate("merchant", path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, configErr("--merchant: %v", err)
	}
	var mf merchantFile
	if err := json.Unmarshal(data, &mf); err != nil {
		// json's errors name a position or a field, never a value.
		return nil, configErr("--merchant: %s is not a merchant JSON file: %v", path, err)
	}
	return &mf, nil
}

// checkPrivate refuses a file holding a secret (the --merchant file, a
// key, a .p12) that the group or others may read, as ssh refuses such a
// private key. A file that cannot be read is left to its reader to report.
func checkPrivate(flag, path string) error {
	if path == "" || runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		return &inputError{kind: "config", flag: flag, msg: fmt.Sprintf(
			"--%s: %s holds a secret but is readable by others than its owner (mode %04o); make it private with: chmod 600 %s",
			flag, path, mode, shellQuote(path))}
	}
	return nil
}

// loadRoots returns the system roots plus the certificates in the PEM file.
func loadRoots(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, configErr("--ca-cert: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, configErr("--ca-cert: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// readSecretLine reads one line, without its line ending.
func readSecretLine(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("no stdin")
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("nothing to read")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
