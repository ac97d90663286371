// Package redpack is a client for WeChat Pay's v2 cash red packets
// (现金红包): send a normal packet to one user (sendredpack), send a fission
// packet shared by a group (sendgroupredpack), and look a packet up by the
// merchant's bill number (gethbinfo).
//
// Money leaves the merchant's account on every successful send, so the
// package is built to never pay twice and never lose or misreport an
// outcome.
//
// # Credentials
//
// A Client acts for one merchant, described by a Config: the mch_id, the
// Official Account appid, the 32-character APIv2 key and the merchant API
// certificate (apiclient_cert.p12, whose password is the mch_id, or the PEM
// pair). MerchantConfig is the ready implementation:
//
//	cfg, err := redpack.LoadPKCS12Config("1900000109", "wx8888888888888888", apiKey, "apiclient_cert.p12", "")
//	client, err := redpack.NewClient(cfg)
//
// NewClient checks everything a payment needs (ids, key length, certificate
// validity and key match) and fails at once rather than at the first
// payment. The Client is immutable and safe for concurrent use; share one per
// merchant so that connections, and their TLS handshakes, are reused. Config
// and Client print with the API key masked, and nothing the package logs or
// returns contains the key or a full signature.
//
// # Sending
//
// Each operation takes a context, one request struct and returns one typed
// result. Requests are checked before anything is sent: a field WeChat would
// refuse comes back as a *ValidationError naming the wire field, and no
// request is made. Amounts are integer fen (1 CNY = 100 fen); without a
// SceneID a normal packet must hold 100 to 20000 fen.
//
// A user whose openid is under a mini-program rather than the Official
// Account gets a mini-program packet: SendMiniProgramRedPack, whose request
// names the mini-program's appid, then BizRedPacketParams for the arguments
// the mini-program passes to wx.sendBizRedPacket to open it.
//
// # Idempotency
//
// The bill number (mch_billno) is the idempotency key, and the caller owns
// it. Make it with NewBillNo (or your own scheme: at most 28 letters and
// digits, unique per merchant), store it with the request before sending,
// and after any unclear outcome send the same request again: WeChat answers a
// repeated bill number with the first attempt's result and pays nothing
// more. A new bill number for the same payment can pay twice. The package
// never invents one.
//
// # Errors
//
// Errors mirror WeChat's two levels. An *APIError carries return_code,
// result_code, err_code and its description; errors.Is(err, CodeNotEnough)
// and the other Code constants match on err_code. A *ValidationError means
// nothing was sent; a *RequestError means the request provably never left
// (dial or TLS failure, context done before writing).
//
// After a send, errors.Is(err, ErrUnknownOutcome) means the packet may or
// may not have been paid: WeChat answered SYSTEMERROR, PROCESSING or an
// unknown code, or the answer was unreadable, or the connection failed or
// timed out after the request was written. Such an error is an
// *UnknownOutcomeError holding the bill number. Check for it before
// errors.As(err, &apiErr): an unknown outcome's cause may be an *APIError
// (SYSTEMERROR, PROCESSING) that refused nothing. Settle it by re-sending the
// same request, or by querying with QueryRedPack until Status.Definite
// reports true. A NOT_FOUND from a query (errors.Is(err, CodeNotFound)) is
// not a failure either: the send may still be in progress.
//
// # Testing
//
// WeChat has no sandbox for red packets. The redpacktest package is a fake
// WeChat Pay server, with mutual TLS, signatures, every documented rule and
// err_code, a ledger of what was paid and fault injection; point a Client at
// it with the Client method it offers. The same server runs as a program
// for services in any language: go run ./cmd/redpack fake-server --dir DIR
// writes the credentials a client needs to DIR and serves a JSON control
// API on loopback.
package redpack
