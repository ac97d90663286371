package redpack

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Config is the identity a Client acts as: the merchant, the Official
// Account it pays through, the APIv2 key and the merchant API certificate.
//
// MerchantConfig is the ready implementation; implement Config yourself to
// read credentials from a secret store. NewClient reads every method once
// and checks the answers, so a wrong key or an expired certificate fails at
// start-up rather than at the first payment.
type Config interface {
	// MchID is the merchant id (商户号), e.g. "1900000109".
	MchID() string
	// AppID is the Official Account (公众号) appid: sent as wxappid by the
	// send operations and as appid by the query.
	AppID() string
	// APIKey is the 32-character APIv2 key set in the merchant console
	// (账户中心 → API安全). It is never logged or put into an error.
	APIKey() string
	// Certificate is the merchant API certificate (apiclient_cert) with its
	// private key, presented to WeChat as the TLS client certificate.
	Certificate() (tls.Certificate, error)
}

// MerchantConfig is a Config held in memory. Build it with one of the
// New…Config or Load…Config functions. The API key and the certificate's
// private key are held where no fmt verb, slog or reflection-based dumper
// reaches them, and String, GoString and LogValue mask the key, so
// printing, logging or diffing a MerchantConfig, or a value holding one, is
// safe.
type MerchantConfig struct {
	mchID  string
	appID  string
	apiKey hidden[string]
	cert   hidden[tls.Certificate] // its private key is as secret as the API key
}

// hidden holds a secret where neither fmt nor a reflection-based dumper
// (go-spew, testify's diffs) can reach it: among a closure's captured
// variables, which reflection does not expose. Whatever the verb, fmt
// prints a func as its address. A pointer or an unexported field would
// not do: fmt's bad-verb path (%s, %d, … of a value holding one)
// dereferences pointers, and dumpers read unexported fields. The zero
// hidden holds T's zero value.
type hidden[T any] func() T

func hide[T any](v T) hidden[T] { return func() T { return v } }

func (h hidden[T]) get() T {
	if h == nil {
		var zero T
		return zero
	}
	return h()
}

var _ Config = (*MerchantConfig)(nil)

// NewConfig returns a MerchantConfig for a certificate already loaded.
func NewConfig(mchID, appID, apiKey string, cert tls.Certificate) *MerchantConfig {
	return &MerchantConfig{mchID: mchID, appID: appID, apiKey: hide(apiKey), cert: hide(cert)}
}

// NewPKCS12Config returns a MerchantConfig whose certificate is decoded from
// the bytes of apiclient_cert.p12. An empty password means the mch_id, the
// password WeChat issues these files with.
func NewPKCS12Config(mchID, appID, apiKey string, p12 []byte, password string) (*MerchantConfig, error) {
	if password == "" {
		password = mchID
	}
	cert, err := decodePKCS12(p12, password)
	if err != nil {
		return nil, err
	}
	return NewConfig(mchID, appID, apiKey, cert), nil
}

// LoadPKCS12Config is NewPKCS12Config reading the .p12 file at path.
func LoadPKCS12Config(mchID, appID, apiKey, path, password string) (*MerchantConfig, error) {
	p12, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("redpack: read certificate: %w", err)
	}
	return NewPKCS12Config(mchID, appID, apiKey, p12, password)
}

// NewPEMConfig returns a MerchantConfig whose certificate is the PEM pair
// apiclient_cert.pem and apiclient_key.pem.
func NewPEMConfig(mchID, appID, apiKey string, certPEM, keyPEM []byte) (*MerchantConfig, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("redpack: load PEM certificate: %w", err)
	}
	return NewConfig(mchID, appID, apiKey, cert), nil
}

// LoadPEMConfig is NewPEMConfig reading the two PEM files.
func LoadPEMConfig(mchID, appID, apiKey, certFile, keyFile string) (*MerchantConfig, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("redpack: load PEM certificate: %w", err)
	}
	return NewConfig(mchID, appID, apiKey, cert), nil
}

// MchID implements Config.
func (c *MerchantConfig) MchID() string { return c.mchID }

// AppID implements Config.
func (c *MerchantConfig) AppID() string { return c.appID }

// APIKey implements Config.
func (c *MerchantConfig) APIKey() string { return c.apiKey.get() }

// Certificate implements Config.
func (c *MerchantConfig) Certificate() (tls.Certificate, error) { return c.cert.get(), nil }

// String describes the config with the API key masked.
func (c *MerchantConfig) String() string {
	return fmt.Sprintf("redpack.MerchantConfig{MchID:%q AppID:%q APIKey:%s Certificate:%s}",
		c.mchID, c.appID, maskSecret(c.apiKey.get()), describeCert(c.cert.get()))
}

// GoString keeps %#v from printing the API key.
func (c *MerchantConfig) GoString() string { return c.String() }

// LogValue keeps slog from printing the API key.
func (c *MerchantConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mch_id", c.mchID),
		slog.String("appid", c.appID),
		slog.String("api_key", maskSecret(c.apiKey.get())),
		slog.String("certificate", describeCert(c.cert.get())),
	)
}

// maskSecret shows only that a secret is set and how long it is.
func maskSecret(s string) string {
	if s == "" {
		return "(empty)"
	}
	return fmt.Sprintf("***(%d chars)", len(s))
}

func describeCert(cert tls.Certificate) string {
	leaf, err := leafOf(cert)
	if err != nil {
		return "(none)"
	}
	return fmt.Sprintf("serial %s, expires %s", leaf.SerialNumber.Text(16), leaf.NotAfter.UTC().Format(time.RFC3339))
}

func decodePKCS12(p12 []byte, password string) (tls.Certificate, error) {
	key, leaf, chain, err := pkcs12.DecodeChain(p12, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return tls.Certificate{}, errors.New("redpack: load PKCS#12 certificate: wrong password (WeChat's apiclient_cert.p12 uses the mch_id)")
		}
		return tls.Certificate{}, fmt.Errorf("redpack: load PKCS#12 certificate: %w", err)
	}
	cert := tls.Certificate{PrivateKey: key, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	if err := checkKeyMatches(leaf, key); err != nil {
		return tls.Certificate{}, err
	}
	return cert, nil
}

// checkConfig reads every Config method once and checks what a request
// needs, so that misconfiguration fails in NewClient.
func checkConfig(cfg Config, now time.Time) (mchID, appID, apiKey string, cert tls.Certificate, err error) {
	if cfg == nil {
		return "", "", "", cert, errors.New("redpack: nil Config")
	}
	mchID, appID, apiKey = cfg.MchID(), cfg.AppID(), cfg.APIKey()
	switch {
	case mchID == "":
		return "", "", "", cert, &ValidationError{Field: "mch_id", Reason: "is empty"}
	case len(mchID) > 32 || !isAlnum(mchID):
		return "", "", "", cert, &ValidationError{Field: "mch_id", Reason: "must be at most 32 letters or digits"}
	case appID == "":
		return "", "", "", cert, &ValidationError{Field: "wxappid", Reason: "is empty (Config.AppID)"}
	case len(appID) > 32 || !isAlnum(appID):
		return "", "", "", cert, &ValidationError{Field: "wxappid", Reason: "must be at most 32 letters or digits"}
	case len(apiKey) != 32:
		// The length is safe to say; the key itself never is.
		return "", "", "", cert, &ValidationError{Field: "key", Reason: fmt.Sprintf("the APIv2 key must be 32 characters, got %d", len(apiKey))}
	case strings.TrimSpace(apiKey) != apiKey:
		return "", "", "", cert, &ValidationError{Field: "key", Reason: "the APIv2 key has leading or trailing white space"}
	}
	cert, err = cfg.Certificate()
	if err != nil {
		return "", "", "", cert, fmt.Errorf("redpack: certificate: %w", err)
	}
	if err := checkCertificate(cert, now); err != nil {
		return "", "", "", cert, err
	}
	return mchID, appID, apiKey, cert, nil
}

// checkCertificate refuses a certificate that WeChat would refuse with
// CA_ERROR: missing, not yet valid, expired, or not matching its key.
func checkCertificate(cert tls.Certificate, now time.Time) error {
	leaf, err := leafOf(cert)
	if err != nil {
		return err
	}
	if cert.PrivateKey == nil {
		return errors.New("redpack: certificate has no private key")
	}
	if now.Before(leaf.NotBefore) {
		return fmt.Errorf("redpack: certificate serial %s is not valid until %s", leaf.SerialNumber.Text(16), leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("redpack: certificate serial %s expired at %s; download a new one from the merchant console", leaf.SerialNumber.Text(16), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return checkKeyMatches(leaf, cert.PrivateKey)
}

func leafOf(cert tls.Certificate) (*x509.Certificate, error) {
	if cert.Leaf != nil {
		return cert.Leaf, nil
	}
	if len(cert.Certificate) == 0 {
		return nil, errors.New("redpack: no client certificate")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("redpack: parse client certificate: %w", err)
	}
	return leaf, nil
}

func checkKeyMatches(leaf *x509.Certificate, key any) error {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return fmt.Errorf("redpack: certificate private key of type %T cannot sign", key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return fmt.Errorf("redpack: private key does not match certificate serial %s", leaf.SerialNumber.Text(16))
	}
	return nil
}
