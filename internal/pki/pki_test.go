package pki

import (
	"crypto/x509"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(LeafOptions{CommonName: "1900000109", Client: true})
	if err != nil {
		t.Fatal(err)
	}

	ca2, err := ParseCA(ca.PEM(), ca.KeyPEM())
	if err != nil {
		t.Fatalf("ParseCA: %v", err)
	}
	if !ca2.Cert.Equal(ca.Cert) {
		t.Fatal("ParseCA: another certificate")
	}
	// The parsed CA still issues certificates that chain to the original.
	leaf2, err := ca2.Issue(LeafOptions{CommonName: "again", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf2.Cert.Verify(opts); err != nil {
		t.Fatalf("certificate from the parsed CA: %v", err)
	}

	got, err := ParseLeaf(leaf.CertPEM(), leaf.KeyPEM())
	if err != nil {
		t.Fatalf("ParseLeaf: %v", err)
	}
	if !got.Cert.Equal(leaf.Cert) || !got.Key.Equal(leaf.Key) {
		t.Fatal("ParseLeaf: another certificate or key")
	}
	// Text before the PEM block, as some tools write it, is skipped.
	if _, err := ParseCA(append([]byte("# a test CA\n"), ca.PEM()...), append([]byte("# test key\n"), ca.KeyPEM()...)); err != nil {
		t.Fatalf("ParseCA with a preamble: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(LeafOptions{CommonName: "leaf", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf2, err := ca.Issue(LeafOptions{CommonName: "leaf2", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"CA with another CA's key", second(ParseCA(ca.PEM(), other.KeyPEM())), "does not match"},
		{"leaf as CA", second(ParseCA(leaf.CertPEM(), leaf.KeyPEM())), "not a certificate authority"},
		{"CA without key", second(ParseCA(ca.PEM(), nil)), "no private key"},
		{"leaf with another key", second(ParseLeaf(leaf.CertPEM(), leaf2.KeyPEM())), "does not match"},
		{"leaf with an EC key", second(ParseLeaf(ca.PEM(), ca.KeyPEM())), "want an RSA key"},
		{"garbage", second(ParseLeaf([]byte("hello"), leaf.KeyPEM())), "no CERTIFICATE"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to say %q", tc.name, tc.err, tc.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }
