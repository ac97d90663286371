package redpack

import "errors"

// Outcome is what is known about whether a packet was paid. The zero
// value is OutcomeUnknown, so an Outcome that was never set, or that comes
// from an error this package did not make, never reads as "not paid".
type Outcome int

// The outcomes.
const (
	// OutcomeUnknown: the packet may or may not have been paid. Keep the
	// bill number and settle it (Client.Settle); never pay it again under a
	// new bill number.
	OutcomeUnknown Outcome = iota
	// OutcomePaid: money left the merchant's account for the packet. It must
	// not be sent again, even if it is later refunded as unclaimed.
	OutcomePaid
	// OutcomeNotPaid: nothing was paid. For a send's error, see OutcomeOf
	// for when that covers the bill number and not only the request.
	OutcomeNotPaid
)

// String returns "unknown", "paid" or "not paid".
func (o Outcome) String() string {
	switch o {
	case OutcomePaid:
		return "paid"
	case OutcomeNotPaid:
		return "not paid"
	}
	return "unknown"
}

// OutcomeOf says what a send's error proves about the payment, for
// SendRedPack, SendGroupRedPack and SendMiniProgramRedPack:
//
//   - nil: OutcomePaid.
//   - an *UnknownOutcomeError (errors.Is(err, ErrUnknownOutcome)), or any
//     error this package did not make: OutcomeUnknown.
//   - a *ValidationError (nothing sent), a *RequestError (the request never
//     left) or an *APIError (WeChat refused the request): OutcomeNotPaid.
//
// OutcomeNotPaid is about the request that returned err: it proves that
// nothing was paid under the bill number only when the bill number was
// never sent before. A re-send after an unknown outcome is judged anew by
// WeChat, whose outer checks (FREQ_LIMIT, SIGN_ERROR after a key rotation,
// NO_AUTH after an IP change) refuse it without looking at the first send:
// settle such a bill number with Client.Settle, never by reading a re-send's
// refusal. A SEND_FAILED refusal is the exception: it is about the bill
// number itself.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return OutcomePaid
	}
	if errors.Is(err, ErrUnknownOutcome) {
		return OutcomeUnknown
	}
	var (
		apiErr *APIError
		valErr *ValidationError
		reqErr *RequestError
	)
	if errors.As(err, &apiErr) || errors.As(err, &valErr) || errors.As(err, &reqErr) {
		return OutcomeNotPaid
	}
	return OutcomeUnknown
}
