package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/redpack-go/redpack/redpacktest"
)

// The files of fake-server's --dir. The top-level certificate files are the
// first merchant's, where a single-merchant client looks for them; every
// merchant's are under merchants/<mch_id>/, which is what is read back.
const (
	caCertName       = "ca.pem"
	caKeyName        = "ca-key.TEST-ONLY.pem"
	p12Name          = "apiclient_cert.p12"
	certName         = "apiclient_cert.pem"
	keyName          = "apiclient_key.pem"
	merchantJSONName = "merchant.json"
	merchantsDirName = "merchants"
)

// caKeyPreamble goes before the CA key's PEM block, where PEM readers
// ignore text, for whoever opens the file.
const caKeyPreamble = `This is the private key of the certificate authority of a redpack fake-server.
It is a TEST key: it protects nothing but that fake server, which keeps it to
issue its server certificate again at each start. Never trust ca.pem outside
tests.
`

// fakeDir is the credentials directory of one fake-server run.
type fakeDir struct {
	path   string          // absolute
	newCA  bool            // no CA was saved: the Handler makes one
	reused map[string]bool // merchants whose certificate was read back
}

func newFakeDir(p string) (*fakeDir, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("--dir %s: %w", p, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("--dir: %w", err)
	}
	return &fakeDir{path: abs, reused: make(map[string]bool)}, nil
}

func (d *fakeDir) merchantDir(mchID string) string {
	return filepath.Join(d.path, merchantsDirName, mchID)
}

// load returns the options that make the Handler reuse what the directory
// holds: its CA and the certificates of the merchants it knows. A merchant
// new to the directory gets a new certificate from the same CA.
func (d *fakeDir) load(ms []redpacktest.Merchant) ([]redpacktest.Option, error) {
	caCert, caKey, ok, err := readPair(filepath.Join(d.path, caCertName), filepath.Join(d.path, caKeyName))
	if err != nil {
		return nil, err
	}
	var opts []redpacktest.Option
	d.newCA = !ok
	if ok {
		opts = append(opts, redpacktest.WithCA(caCert, caKey))
	}
	for _, m := range ms {
		dir := d.merchantDir(m.MchID)
		cert, key, ok, err := readPair(filepath.Join(dir, certName), filepath.Join(dir, keyName))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if d.newCA {
			return nil, fmt.Errorf("--dir %s holds the certificate of merchant %s but no CA (%s, %s): restore them, or delete the directory to start afresh",
				d.path, m.MchID, caCertName, caKeyName)
		}
		opts = append(opts, redpacktest.WithMerchantCertificate(m.MchID, cert, key))
		d.reused[m.MchID] = true
	}
	return opts, nil
}

// readPair reads two files that go together: both (ok), or neither (not
// ok); one without the other is an error.
func readPair(a, b string) (da, db []byte, ok bool, err error) {
	da, errA := os.ReadFile(a)
	db, errB := os.ReadFile(b)
	missA, missB := errors.Is(errA, fs.ErrNotExist), errors.Is(errB, fs.ErrNotExist)
	switch {
	case missA && missB:
		return nil, nil, false, nil
	case errA == nil && errB == nil:
		return da, db, true, nil
	case missA && errB == nil:
		return nil, nil, false, fmt.Errorf("%s is there but not %s: restore it, or delete the directory to start afresh", b, a)
	case missB && errA == nil:
		return nil, nil, false, fmt.Errorf("%s is there but not %s: restore it, or delete the directory to start afresh", a, b)
	}
	return nil, nil, false, errors.Join(errA, errB)
}

// save writes what the Handler made that the directory did not hold yet,
// and the first merchant's files at the top.
func (d *fakeDir) save(h *redpacktest.Handler, ms []redpacktest.Merchant) error {
	if d.newCA {
		if err := writeFile(filepath.Join(d.path, caCertName), h.CACertPEM(), 0o644); err != nil {
			return err
		}
		key := append([]byte(caKeyPreamble), h.CAKeyPEM()...)
		if err := writeFile(filepath.Join(d.path, caKeyName), key, secretPerm); err != nil {
			return err
		}
	}
	for _, m := range ms {
		dir := d.merchantDir(m.MchID)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		p12Path := filepath.Join(dir, p12Name)
		if !d.reused[m.MchID] {
			data := map[string][]byte{certName: h.CertPEM(m.MchID), keyName: h.KeyPEM(m.MchID), p12Name: h.PKCS12(m.MchID)}
			for _, f := range merchantFiles {
				if err := writeFile(filepath.Join(dir, f.name), data[f.name], f.perm); err != nil {
					return err
				}
			}
		} else if _, err := os.Stat(p12Path); errors.Is(err, fs.ErrNotExist) {
			// Encoded anew from the saved certificate and key.
			if err := writeFile(p12Path, h.PKCS12(m.MchID), secretPerm); err != nil {
				return err
			}
		}
	}
	// The top-level copies: byte for byte the first merchant's files, so
	// that a .p12 fingerprint does not change between runs.
	first := d.merchantDir(ms[0].MchID)
	for _, f := range merchantFiles {
		data, err := os.ReadFile(filepath.Join(first, f.name))
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(d.path, f.name), data, f.perm); err != nil {
			return err
		}
	}
	return nil
}

// merchantFile is merchant.json: everything a client in another language
// needs to reach the fake server as the merchant.
type merchantFile struct {
	MchID        string `json:"mch_id"`
	AppID        string `json:"appid"`
	APIKey       string `json:"api_key"`
	BaseURL      string `json:"base_url"`
	AdminURL     string `json:"admin_url"`
	CACert       string `json:"ca_cert"`
	CertP12      string `json:"cert_p12"`
	CertPassword string `json:"cert_password"`
	CertPEM      string `json:"cert_pem"`
	KeyPEM       string `json:"key_pem"`
	// AppIDs are the merchant's other Official Account appids;
	// MiniProgramAppIDs its mini-programs' (sendminiprogramhb's wxappid is
	// one of them, sendredpack refuses them).
	AppIDs            []string        `json:"appids"`
	MiniProgramAppIDs []string        `json:"mini_program_appids"`
	Merchants         []merchantEntry `json:"merchants"`
	Note              string          `json:"note"`
}

// merchantEntry is one merchant in merchant.json's list.
type merchantEntry struct {
	MchID             string   `json:"mch_id"`
	AppID             string   `json:"appid"`
	AppIDs            []string `json:"appids"`
	MiniProgramAppIDs []string `json:"mini_program_appids"`
	APIKey            string   `json:"api_key"`
	CertP12           string   `json:"cert_p12"`
	CertPassword      string   `json:"cert_password"`
	CertPEM           string   `json:"cert_pem"`
	KeyPEM            string   `json:"key_pem"`
}

// writeMerchantJSON writes merchant.json for this run: the credentials do
// not change between runs, the URLs may.
func (d *fakeDir) writeMerchantJSON(h *redpacktest.Handler, ms []redpacktest.Merchant, baseURL, adminURL string) error {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	first := ms[0]
	mf := merchantFile{
		MchID: first.MchID, AppID: first.AppID, APIKey: first.APIKey,
		BaseURL: baseURL, AdminURL: adminURL,
		CACert:  filepath.Join(d.path, caCertName),
		CertP12: filepath.Join(d.path, p12Name), CertPassword: first.MchID,
		CertPEM: filepath.Join(d.path, certName), KeyPEM: filepath.Join(d.path, keyName),
		AppIDs: nonNil(first.AppIDs), MiniProgramAppIDs: nonNil(first.MiniProgramAppIDs),
		Note: "Test credentials of a redpack fake-server: they work with it only, never with WeChat.",
	}
	for _, m := range ms {
		dir := d.merchantDir(m.MchID)
		mf.Merchants = append(mf.Merchants, merchantEntry{
			MchID: m.MchID, AppID: m.AppID, AppIDs: nonNil(m.AppIDs), MiniProgramAppIDs: nonNil(m.MiniProgramAppIDs), APIKey: m.APIKey,
			CertP12: filepath.Join(dir, p12Name), CertPassword: m.MchID,
			CertPEM: filepath.Join(dir, certName), KeyPEM: filepath.Join(dir, keyName),
		})
	}
	data, err := json.MarshalIndent(mf, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(d.path, merchantJSONName), append(data, '\n'), secretPerm)
}

// writeFile replaces path with data atomically, with perm whatever the
// old file's was, so that a client reading it never sees half a file.
func writeFile(path string, data []byte, perm os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// secretPerm is the mode of every file holding a secret: the CA key, a
// merchant's key and .p12, and merchant.json with the API keys.
const secretPerm os.FileMode = 0o600

// merchantFiles are a merchant's credential files and their permissions.
var merchantFiles = []struct {
	name string
	perm os.FileMode
}{{certName, 0o644}, {keyName, secretPerm}, {p12Name, secretPerm}}
