package redpacktest

import (
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"strings"
)

// The sandbox sign-key endpoints (spec §7, §9.5). WeChat has no sandbox for
// red packets; these exist because SDKs with a sandbox mode call them first,
// and a fake server they cannot start against is no use to them. No client
// certificate is needed; the request is signed with the production key.
var signKeyPaths = map[string]bool{
	"sandboxnew/pay/getsignkey":           true, // legacy
	"xdc/apiv2getsignkey/sign/getsignkey": true, // current
}

// SandboxSignKey is the sandbox key the getsignkey endpoints hand out for a
// merchant: derived from its id and API key, so it is the same every time.
func SandboxSignKey(mchID, apiKey string) string {
	sum := md5.Sum([]byte("redpacktest sandbox " + mchID + " " + apiKey))
	return hex.EncodeToString(sum[:])
}

// isSignKeyPath reports whether a path cleaned by cleanPath is one of the
// getsignkey endpoints.
func (h *Handler) isSignKeyPath(path string) bool {
	rest, ok := strings.CutPrefix(path, h.prefix)
	return ok && signKeyPaths[rest]
}

// serveSignKey answers getsignkey and returns the return_code it
// answered; it reports false if path is not one.
func (h *Handler) serveSignKey(w http.ResponseWriter, path string, body []byte) (string, bool) {
	if !h.isSignKeyPath(path) {
		return "", false
	}
	fail := func(msg string) *reply {
		return &reply{errCode: "FAIL", fields: []field{str("return_code", "FAIL"), str("return_msg", msg)}}
	}
	rep := func() *reply {
		f, _, err := parseRequest(body)
		if err != nil {
			return fail(desXMLError)
		}
		h.mu.Lock() // held while a's fields are read: Reset rewrites them
		defer h.mu.Unlock()
		a := h.accounts[f["mch_id"]]
		if a == nil {
			return fail(desUnknownMchID)
		}
		if f["nonce_str"] == "" || !signMatches(signature(f, []string{"mch_id", "nonce_str"}, a.APIKey, false), f["sign"]) {
			return fail(desSignError)
		}
		return &reply{errCode: "SUCCESS", fields: []field{
			str("return_code", "SUCCESS"),
			str("return_msg", "ok"),
			str("mch_id", a.MchID),
			str("sandbox_signkey", SandboxSignKey(a.MchID, a.APIKey)),
		}}
	}()
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(rep.encode())
	return rep.errCode, true
}
