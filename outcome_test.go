package redpack

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOutcomeOf(t *testing.T) {
	api := &APIError{ErrCode: "NOTENOUGH"}
	for _, tc := range []struct {
		name string
		err  error
		want Outcome
	}{
		{"success", nil, OutcomePaid},
		{"a refusal", api, OutcomeNotPaid},
		{"a wrapped refusal", fmt.Errorf("pay bill: %w", api), OutcomeNotPaid},
		{"invalid", &ValidationError{Field: "total_amount"}, OutcomeNotPaid},
		{"never left", &RequestError{Err: context.Canceled}, OutcomeNotPaid},
		{"unknown", &UnknownOutcomeError{Answer: &APIError{ErrCode: "SYSTEMERROR"}}, OutcomeUnknown},
		{"unknown after a timeout", &UnknownOutcomeError{Err: context.DeadlineExceeded}, OutcomeUnknown},
		{"expired", &UnknownOutcomeError{Answer: &APIError{ErrCode: "PARAM_ERROR", ErrCodeDes: "该订单已经过期，请更换商户单号"}}, OutcomeUnknown},
		{"not ours", errors.New("something else"), OutcomeUnknown},
		{"a bare context error", context.DeadlineExceeded, OutcomeUnknown},
		{"a bare code", CodeNotEnough, OutcomeUnknown},
	} {
		assert.Equal(t, tc.want, OutcomeOf(tc.err), tc.name)
	}
	var zero Outcome
	assert.Equal(t, OutcomeUnknown, zero, "unknown is the zero value")
	assert.Equal(t, "unknown", zero.String())
	assert.Equal(t, "paid", OutcomePaid.String())
	assert.Equal(t, "not paid", OutcomeNotPaid.String())
}

// TestUnknownNeverMatchesARefusal: the usual Go ways of asking "was it
// refused?" all say no for an unknown outcome, while its transport cause
// stays reachable.
func TestUnknownNeverMatchesARefusal(t *testing.T) {
	u := &UnknownOutcomeError{Op: "sendredpack", MchBillNo: "B1", Attempts: 2,
		Answer: &APIError{ErrCode: "SYSTEMERROR"}, Err: context.DeadlineExceeded}
	var err error = fmt.Errorf("campaign row 7: %w", u)
	var apiErr *APIError
	assert.False(t, errors.As(err, &apiErr))
	assert.NotErrorIs(t, err, CodeSystemError)
	assert.ErrorIs(t, err, ErrUnknownOutcome)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrBillExpired)
	u.Answer = &APIError{ErrCode: "PARAM_ERROR", ErrCodeDes: "该订单已经过期，请更换商户单号"}
	assert.ErrorIs(t, err, ErrBillExpired)
}
