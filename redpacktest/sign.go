package redpacktest

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"slices"
	"strings"
)

// The sign_type value that selects HMAC-SHA256. Red packets document no
// sign_type at all (spec §4.3), so the server refuses it unless told to
// accept it with WithHMACSHA256.
const signTypeHMAC = "HMAC-SHA256"

// signature is WeChat's APIv2 signature (spec §4.1), computed here on
// purpose rather than borrowed from package redpack: the fake server must
// judge the client independently, or a bug they shared would pass.
//
// Only the fields named in signed take part: the server signs over the
// endpoint's documented fields, so a client that signed an undocumented
// field (sign_type, sub_appid, an extra appid) gets SIGN_ERROR, as WeChat's
// own server answers (spec §4.3). Empty values are skipped; values are
// signed raw.
func signature(fields map[string]string, signed []string, apiKey string, useHMAC bool) string {
	names := make([]string, 0, len(signed))
	for _, k := range signed {
		if k != "sign" && fields[k] != "" {
			names = append(names, k)
		}
	}
	slices.Sort(names) // byte order, as WeChat sorts
	var sb strings.Builder
	for i, k := range names {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(k)
		sb.WriteByte('=')
		sb.WriteString(fields[k])
	}
	sb.WriteString("&key=")
	sb.WriteString(apiKey)

	var h hash.Hash
	if useHMAC {
		h = hmac.New(sha256.New, []byte(apiKey))
	} else {
		h = md5.New()
	}
	h.Write([]byte(sb.String()))
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// signMatches compares in constant time. WeChat writes signatures in upper
// case; a lower-case one is accepted too, since hex case carries no meaning.
func signMatches(want, got string) bool {
	return hmac.Equal([]byte(want), []byte(strings.ToUpper(got)))
}
