// Package redpacktest is a fake WeChat Pay red-packet server for tests and
// demos: the four APIv2 endpoints sendredpack, sendgroupredpack,
// sendminiprogramhb and gethbinfo over mutual TLS, judged the way WeChat
// documents it, with a ledger that shows what was really paid; and the
// payment side a merchant's notify_url meets: payments, their signed
// notifications on WeChat's re-delivery schedule, refunds, and
// pay/orderquery.
//
// WeChat has no sandbox for red packets, so code that pays can otherwise
// only be tried with real money. The server is strict where WeChat is, so
// a client that passes here is likely to pass there.
//
// # Starting a server
//
// In a test, Start returns a running Server and closes it when the test
// ends; NewServer does the same outside tests (the caller closes it):
//
//	srv := redpacktest.Start(t)
//	client, err := srv.Client(redpacktest.DefaultMchID) // a ready *redpack.Client
//
// Each Server makes a throwaway certificate authority, a server
// certificate for 127.0.0.1, ::1 and localhost, and per merchant an API
// certificate with its apiclient_cert.p12 (password = mch_id), as WeChat's
// merchant console issues it. URL, CertPool, PKCS12, CertPEM and KeyPEM give
// what a client needs; Config and Client build a redpack configuration and
// client from them.
//
// The default merchant (DefaultMerchant) uses the ids and the public
// example key of WeChat's documentation, so the signed sample bodies in
// WeChat's docs verify as they stand. It has 10,000 CNY, every scene
// enabled, WeChat's default caps, and a second appid bound for
// mini-program packets. WithMerchants replaces it.
//
// The WeChat logic is the Handler, an http.Handler independent of the
// listener: a standalone program serves it with its TLSConfig, as the
// redpack command's fake-server does (see "Testing from any language" in
// the README). To restart such a server without handing its clients new
// credentials, save CACertPEM, CAKeyPEM and each merchant's CertPEM and
// KeyPEM, and give them back with WithCA and WithMerchantCertificate: the
// server certificate is issued anew from the same CA. WithLogger logs one
// line per request, without bodies, signatures or keys.
//
// # What the server checks
//
// In order, like WeChat's layers: the client certificate (missing, from
// another CA or another merchant's: CA_ERROR, answered in XML with HTTP
// 200, not as a handshake failure), the XML (XML_ERROR), the merchant
// (PARAM_ERROR), the per-merchant rate (FREQ_LIMIT, 30 a second by
// default), the signature (SIGN_ERROR), the caller IP whitelist (NO_AUTH),
// then the endpoint's fields and business rules: required fields and
// lengths in UTF-8 bytes (PARAM_ERROR with WeChat's texts), appid binding
// (PARAM_ERROR 商户号和wxappid不匹配, ILLEGAL_APPID), amounts (MONEY_LIMIT;
// 1–200 CNY without scene_id, the merchant's scene range with an enabled
// one, PARAM_ERROR 该场景未开通 otherwise), bill-number re-entry
// (FATAL_ERROR, SEND_FAILED, expiry after 24 h), daily caps (SENDNUM_LIMIT,
// RCVDAMOUNT_LIMIT, SENDAMOUNT_LIMIT) and the balance (NOTENOUGH). A
// merchant with GroupOffline refuses group packets with NO_AUTH, as WeChat
// does since it took them offline.
//
// Signatures are computed over each endpoint's documented fields only,
// as WeChat evidently does: an undocumented field the client also signed
// (sign_type, sub_appid, an extra appid) makes SIGN_ERROR, one it did not
// sign is ignored. Red packets are MD5 only: sign_type=HMAC-SHA256 is
// refused unless WithHMACSHA256 is given. The server never uses package
// redpack's signing, validation or XML code, so it cannot share a bug with
// the client it tests.
//
// Where WeChat is lenient, so is the server: the body's root element may
// have any name (silenceper/wechat sends <request>; Request.Root records
// it), and a UTF-8 byte-order mark before it is skipped. Paths are cleaned
// as a front end that merges slashes would, so a base URL ending in "/"
// joined to "/mmpaymkttransfers/…" (gopay) and a trailing slash both reach
// the endpoint. A method other than POST is refused as WeChat's gateway
// would refuse it: HTTP 405 with an HTML page, nothing paid, the request
// logged.
//
// Answers are unsigned, integers bare and strings in CDATA, and failures
// echo mch_billno, mch_id, wxappid, re_openid and total_amount, as WeChat's
// do.
//
// # Idempotency
//
// A bill number seen before is answered from the original packet and pays
// nothing more, whatever nonce and signature the new request carries:
// success (the same send_listid), PROCESSING while it is SENDING, or
// SEND_FAILED when it failed. A different re_openid or total_amount is
// FATAL_ERROR; a bill number first used 24 h ago or more is refused with
// PARAM_ERROR 该订单已经过期，请更换商户单号. A request refused with NOTENOUGH
// or FREQ_LIMIT leaves no trace, so the same bill number can be sent again.
// A request refused by a daily cap is recorded as a FAILED packet with the
// reason, as WeChat's records show, so its bill number answers SEND_FAILED
// afterwards.
//
// # The ledger and the clock
//
// Packets, Packet, Balance, Paid and Requests show what the server did;
// Claim makes users open packets (a group packet's shares are a random
// split, reproducible with WithSeed). Packets move from SENT to RECEIVED
// when claimed, or to RFUND_ING 24 h after sending and REFUND an hour later
// (RefundAfter, RefundLag), when the unclaimed money is credited back.
// gethbinfo answers from the ledger for 30 days (QueryWindow), under the
// appid the packet was sent with: another appid of the merchant gets
// NOT_FOUND. A gethbinfo without appid (often an SDK that sends wxappid,
// the send APIs' name, instead) is PARAM_ERROR naming appid, checked
// before the signature.
//
// The server's clock follows real time unless WithClock freezes it; Advance
// and SetTime move it. Reset empties the ledger, drops pending faults and
// puts balances and the clock back as configured, for the next test.
// Statuses, daily caps, bill-number expiry and the query window follow
// this clock; the rate limit and certificate validity follow real time.
//
// # Faults
//
// Inject queues scripted faults (Fault, FaultKind), each taken by the next
// matching request: SYSTEMERROR or PROCESSING before or after the packet is
// paid, a packet that stays SENDING and then fails, a slow answer after
// payment, a dropped connection or half an answer after payment, an HTML
// gateway page, or any err_code. They reproduce the unknown outcomes a
// client must survive without paying twice; the ledger tells what really
// happened.
//
// # Payments and notifications
//
// The server also plays WeChat Pay's payment side, for code that turns a
// payment into a red packet (spec payment-notify.md). Pay makes a paid
// order (trade_state SUCCESS, a 28-digit transaction_id 4200…) as if a
// user had paid the merchant, under one of the merchant's appids, and,
// given a NotifyURL, posts its payment-result notification there: WeChat's
// fields (coupon fields when CashFee is less than TotalFee), signed with
// the order's algorithm, MD5 or HMAC-SHA256, with sign_type left out when
// OmitSignType says so, as WeChat often does. Refund refunds it (REFUND)
// and posts the refund notification: unsigned, its req_info encrypted
// with AES-256-ECB under the MD5 of the API key. The server encrypts and
// signs with its own code, never package redpack's.
//
// Deliveries are real HTTP POSTs (WithNotifyClient sets the client; the
// default has WeChat's 5 s timeout). Only HTTP 200 with an XML return_code
// of SUCCESS counts; anything else (FAIL, an error page, JSON, a timeout,
// a refused connection) is delivered again after 15 s, 15 s, 30 s, 3 m,
// 10 m, 20 m, 30 m, 30 m, 30 m, 60 m, 3 h, 3 h, 3 h, 6 h and 6 h
// (RedeliverySchedule) on the server clock, then never. Deliveries run in
// the background: Pay, Refund, Advance and SetTime start those due and
// return at once, and WaitDeliveries waits until every delivery due has
// been made and answered:
//
//	p, _ := srv.Pay(redpacktest.PaymentRequest{OpenID: openid, TotalFee: 100, NotifyURL: url})
//	srv.WaitDeliveries(ctx)    // the first delivery was answered
//	srv.Advance(15 * time.Second)
//	srv.WaitDeliveries(ctx)    // and the re-delivery, if it was due
//	got, _ := srv.Payment(p.TransactionID) // got.Deliveries: what was sent and answered
//
// Notify sends a payment's notification once more, now, as WeChat's
// several servers do; DeliveryFaults sends every delivery several times at
// once (Copies), after a real-time Delay, or holds the first back until
// the next notification has gone (HoldUntilNext), so that two arrive out
// of order.
//
// pay/orderquery is served next to the red-packet endpoints, from the
// payments: by transaction_id or out_trade_no, under the appid the order
// was paid with, signed with the request's algorithm, ORDERNOTEXIST for an
// unknown order. It needs no client certificate, and the red-packet rate
// limit does not apply to it (WeChat documents none for it). Payments, like
// the ledger, live in memory only: the redpack command's fake-server keeps
// its credentials in --dir, never payments or packets.
//
// # Control API
//
// AdminHandler serves the ledger, Claim, the clock, Inject, SetBalance,
// Reset, and Pay, Refund, Notify and WaitDeliveries as a small JSON API over plain HTTP, for tests that are not written
// in Go and drive a standalone server (redpack fake-server). Its doc lists
// the routes and shapes; for example:
//
//	curl -s http://127.0.0.1:8444/packets/1900000109202501011234567890
//	curl -s -X POST http://127.0.0.1:8444/clock/advance -d '{"duration": "25h"}'
//	curl -s -X POST http://127.0.0.1:8444/faults -d '{"kind": "SystemErrorAfterCommit"}'
//	curl -s -X POST http://127.0.0.1:8444/payments -d '{"openid": "o…", "total_fee": 100, "notify_url": "http://127.0.0.1:8080/notify"}'
//
// # Not modelled
//
// Service-provider mode (sub_mch_id is answered ACCEPTMODE_ERROR,
// consume_mch_id other than mch_id NO_CONSUME_COMPETENCE), openid-to-appid
// ownership (OPENID_ERROR; inject it with ErrCodeAnswer), and risk
// control. The sandbox getsignkey endpoints are served (see SandboxSignKey)
// for SDKs that call them at start-up; red packets themselves have no
// sandbox paths.
package redpacktest
