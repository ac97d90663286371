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
// it. Make it with NewBillNo (the date and 20 random characters: unique
// across processes and machines without coordination), or with FormatBillNo
// from a sequence your database draws, store it with the request under a
// UNIQUE constraint before sending, and settle any unclear outcome under the
// same number: WeChat answers a repeated bill number with the first
// attempt's result and pays nothing more. A new bill number for the same
// payment can pay twice. The package never invents one.
//
// # Outcomes and errors
//
// OutcomeOf(err) says what a send proved: OutcomePaid (err is nil),
// OutcomeNotPaid, or OutcomeUnknown, the zero value and the answer for any
// error this package did not make. For a query, info.Status.Outcome() does
// the same: SENT, RECEIVED, RFUND_ING and REFUND are paid, FAILED not paid,
// SENDING and StatusNotFound (WeChat's NOT_FOUND, which QueryRedPack returns
// as a status rather than an error) unknown.
//
// Errors mirror WeChat's two levels. An *APIError is WeChat's refusal of a
// request, with return_code, result_code, err_code and its description;
// errors.Is(err, CodeNotEnough) and the other Code constants match on
// err_code. A *ValidationError means nothing was sent; a *RequestError means
// the request provably never left (dial or TLS failure, context done before
// writing). Each of the three proves that this request paid nothing, which
// proves nothing was paid under the bill number only if the bill number was
// never sent before: WeChat judges every request anew, and its outer checks
// (FREQ_LIMIT, SIGN_ERROR after a key rotation, NO_AUTH after an IP change)
// refuse a re-send without looking at the first send. SEND_FAILED alone is
// about the bill number itself.
//
// After a send, errors.Is(err, ErrUnknownOutcome) means the packet may or
// may not have been paid: WeChat answered SYSTEMERROR, PROCESSING, an
// unknown code or that the bill number has expired (ErrBillExpired), or the
// answer was unreadable, or the connection failed or timed out after the
// request was written. Such an error is an *UnknownOutcomeError holding the
// bill number and WeChat's unclear answer as a field; it never matches an
// *APIError or a Code, so code written to branch on refusals cannot read it
// as one.
//
// # Settling an unknown outcome
//
// Client.Settle settles a bill number that may have been sent before. It
// queries first, and a definite status decides; only when WeChat has no
// record does it re-send the stored request unchanged, and a refusal of that
// re-send (other than SEND_FAILED) leaves the outcome unknown. The request
// types share the PacketRequest interface, so one call serves normal, group
// and mini-program packets. WeChat's support says a bill number expires at
// most 24 hours after its first use: past ResendWindow, settle with
// QueryOnly.
//
// # Payment notifications
//
// For packets that follow payments (满额送), Client.PaymentNotifyHandler
// serves the merchant's notify_url and Client.ParsePaymentNotification
// reads one notification: the signature is checked in constant time (MD5
// or HMAC-SHA256, by sign_type or the signature's length), and mch_id and
// appid must be the merchant's (WithNotifyAppIDs lists a mini-program's or
// an app's), before any field is trusted. A verified notification is
// WeChat's word, not proof that it is new: key what it causes by
// TransactionID, and confirm the order before paying on it with
// Client.QueryOrder (pay/orderquery), whose answers are signed and verified.
// Client.ParseRefundNotification decrypts a refund notification's req_info
// (the outer message is not signed; only the key holder can encrypt it).
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
