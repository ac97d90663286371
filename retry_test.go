package redpack

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// scripted answers each request with the next reply in turn (the last one
// repeats): each reply is a fixture name, or "500" for an HTTP 500.
func scripted(t *testing.T, replies ...string) *wechatStub {
	var mu sync.Mutex
	i := 0
	return newStub(t, func(r stubRequest) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		name := replies[min(i, len(replies)-1)]
		i++
		if name == "500" {
			return http.StatusInternalServerError, "oops"
		}
		return http.StatusOK, readFixture(name)
	})
}

func TestRetrySettles(t *testing.T) {
	tests := []struct {
		name    string
		replies []string
		calls   int
	}{
		{"SYSTEMERROR then success", []string{"sendredpack_SYSTEMERROR.xml", "sendredpack_SUCCESS.xml"}, 2},
		{"PROCESSING then success", []string{"sendredpack_PROCESSING.xml", "sendredpack_SUCCESS.xml"}, 2},
		{"500 then success", []string{"500", "sendredpack_SUCCESS.xml"}, 2},
		{"FREQ_LIMIT then success", []string{"sendredpack_FREQ_LIMIT.xml", "sendredpack_SUCCESS.xml"}, 2},
		{"unknown code twice then success", []string{"sendredpack_NEW_FUTURE_CODE.xml", "sendredpack_NEW_FUTURE_CODE.xml", "sendredpack_SUCCESS.xml"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := scripted(t, tt.replies...)
			res, err := stub.client(t).SendRedPack(context.Background(), goodSend())
			require.NoError(t, err)
			assert.Equal(t, "1000041701202501013000000000001", res.SendListID)
			reqs := stub.requests()
			require.Len(t, reqs, tt.calls)
			for _, r := range reqs[1:] {
				assert.Equal(t, string(reqs[0].Body), string(r.Body), "every attempt re-sends the byte-identical body")
			}
			assert.Len(t, stub.waits, tt.calls-1)
			for _, w := range stub.waits {
				assert.GreaterOrEqual(t, w, time.Second, "WeChat asks for at least 1 s between retries")
			}
		})
	}
}

func TestRetryKeepsOutcomeUnknown(t *testing.T) {
	// Once an attempt may have paid, later refusals prove nothing about it.
	tests := []struct {
		name    string
		replies []string
		calls   int
		last    string
	}{
		{"SYSTEMERROR then FREQ_LIMIT", []string{"sendredpack_SYSTEMERROR.xml", "sendredpack_FREQ_LIMIT.xml"}, 3, "FREQ_LIMIT"},
		{"SYSTEMERROR then NOTENOUGH", []string{"sendredpack_SYSTEMERROR.xml", "sendredpack_NOTENOUGH.xml"}, 2, "NOTENOUGH"},
		{"500 then PARAM_ERROR", []string{"500", "sendredpack_PARAM_ERROR.xml"}, 2, "PARAM_ERROR"},
		{"PROCESSING then FATAL_ERROR", []string{"sendredpack_PROCESSING.xml", "sendredpack_FATAL_ERROR.xml"}, 2, "FATAL_ERROR"},
		{"SYSTEMERROR throughout", []string{"sendredpack_SYSTEMERROR.xml"}, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := scripted(t, tt.replies...)
			_, err := stub.client(t).SendRedPack(context.Background(), goodSend())
			require.ErrorIs(t, err, ErrUnknownOutcome)
			var u *UnknownOutcomeError
			require.ErrorAs(t, err, &u)
			assert.Equal(t, tt.calls, u.Attempts)
			assert.Equal(t, "1900000109202501011234567890", u.MchBillNo)
			assert.Len(t, stub.requests(), tt.calls)
			assert.Contains(t, err.Error(), "after "+itoa(tt.calls)+" attempt(s)")
			if tt.last != "" {
				assert.Contains(t, err.Error(), "the last attempt got")
				assert.Contains(t, err.Error(), tt.last)
				assert.NotErrorIs(t, err, Code(tt.last), "a later refusal must not look like the answer")
			}
		})
	}
}

func TestRetrySendFailedSettles(t *testing.T) {
	stub := scripted(t, "sendredpack_SYSTEMERROR.xml", "sendredpack_SEND_FAILED.xml")
	_, err := stub.client(t).SendRedPack(context.Background(), goodSend())
	assert.ErrorIs(t, err, CodeSendFailed)
	assert.NotErrorIs(t, err, ErrUnknownOutcome, "SEND_FAILED is about the bill number: definitely not paid")
	assert.Contains(t, err.Error(), "2 attempt(s)")
	apiErr, ok := err.(*APIError)
	require.True(t, ok, "%T", err)
	assert.Equal(t, 2, apiErr.Attempts)
}

func TestNoRetryOnRefusals(t *testing.T) {
	for _, code := range []Code{CodeNotEnough, CodeParamError, CodeSignError, CodeSendNumLimit, CodeCAError, CodeFatalError} {
		t.Run(string(code), func(t *testing.T) {
			stub := scripted(t, "sendredpack_"+string(code)+".xml")
			_, err := stub.client(t).SendRedPack(context.Background(), goodSend())
			assert.ErrorIs(t, err, code)
			assert.Len(t, stub.requests(), 1)
			assert.Empty(t, stub.waits)
			apiErr, ok := err.(*APIError)
			require.True(t, ok, "%T", err)
			assert.Equal(t, 1, apiErr.Attempts)
		})
	}
}

func TestFreqLimitExhausted(t *testing.T) {
	stub := scripted(t, "sendredpack_FREQ_LIMIT.xml")
	_, err := stub.client(t).SendRedPack(context.Background(), goodSend())
	assert.ErrorIs(t, err, CodeFreqLimit)
	assert.NotErrorIs(t, err, ErrUnknownOutcome, "FREQ_LIMIT every time: nothing was paid")
	assert.Contains(t, err.Error(), "3 attempt(s)")
	assert.Len(t, stub.requests(), 3)
	// The same type as after one attempt: the *APIError itself.
	apiErr, ok := err.(*APIError)
	require.True(t, ok, "%T", err)
	assert.Equal(t, 3, apiErr.Attempts)
	assert.Equal(t, "sendredpack", apiErr.Op)
}

func TestRetryPolicyOff(t *testing.T) {
	stub := scripted(t, "sendredpack_SYSTEMERROR.xml", "sendredpack_SUCCESS.xml")
	_, err := stub.client(t, WithRetryPolicy(RetryPolicy{MaxAttempts: 1})).SendRedPack(context.Background(), goodSend())
	assert.ErrorIs(t, err, ErrUnknownOutcome)
	assert.Len(t, stub.requests(), 1)
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	stub := scripted(t, "sendredpack_SYSTEMERROR.xml", "sendredpack_SUCCESS.xml")
	c := stub.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	c.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	_, err := c.SendRedPack(ctx, goodSend())
	assert.ErrorIs(t, err, ErrUnknownOutcome, "the first attempt may have paid")
	var u *UnknownOutcomeError
	require.ErrorAs(t, err, &u)
	assert.Equal(t, "SYSTEMERROR", u.Answer.ErrCode)
	assert.Contains(t, err.Error(), "context canceled")
	assert.Len(t, stub.requests(), 1)
}

func TestQueryRetries(t *testing.T) {
	t.Run("SYSTEMERROR then answer", func(t *testing.T) {
		stub := scripted(t, "sendredpack_SYSTEMERROR.xml", "gethbinfo_RECEIVED.xml")
		info, err := stub.client(t).QueryRedPack(context.Background(), queryBill)
		require.NoError(t, err)
		assert.Equal(t, StatusReceived, info.Status)
		assert.Len(t, stub.requests(), 2)
	})
	t.Run("NOT_FOUND is not retried", func(t *testing.T) {
		stub := scripted(t, "gethbinfo_NOT_FOUND.xml")
		info, err := stub.client(t).QueryRedPack(context.Background(), queryBill)
		require.NoError(t, err)
		assert.Equal(t, StatusNotFound, info.Status)
		assert.Len(t, stub.requests(), 1)
	})
	t.Run("a failing query is never an unknown outcome", func(t *testing.T) {
		stub := scripted(t, "500")
		_, err := stub.client(t).QueryRedPack(context.Background(), queryBill)
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrUnknownOutcome)
		assert.Contains(t, err.Error(), "3 attempt(s)")
		assert.Len(t, stub.requests(), 3)
	})
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 5, MinBackoff: time.Second, MaxBackoff: 3 * time.Second}
	none := func(int64) int64 { return 0 }
	most := func(n int64) int64 { return n - 1 }
	assert.Equal(t, time.Second, p.backoff(1, most), "first retry: exactly the floor")
	assert.Equal(t, time.Second, p.backoff(2, none))
	assert.Equal(t, 2*time.Second, p.backoff(2, most))
	assert.Equal(t, 3*time.Second, p.backoff(3, most), "capped")
	assert.Equal(t, 3*time.Second, p.backoff(30, most), "no overflow")
	for i := 0; i < 200; i++ {
		d := p.backoff(3, randJitter)
		assert.True(t, d >= time.Second && d <= 3*time.Second, "%v out of range", d)
	}
}

func TestRetryPolicyOption(t *testing.T) {
	for _, tt := range []struct {
		p    RetryPolicy
		want string
	}{
		{RetryPolicy{MaxAttempts: -1}, "negative"},
		{RetryPolicy{MinBackoff: -1}, "negative"},
		{RetryPolicy{MinBackoff: 5 * time.Second, MaxBackoff: 2 * time.Second}, "below MinBackoff"},
		{RetryPolicy{MinBackoff: 10 * time.Millisecond}, "under the second WeChat asks for"},
		{RetryPolicy{MinBackoff: time.Second - 1, MaxBackoff: time.Minute}, "AllowFastRetries"},
		{RetryPolicy{MinBackoff: 10 * time.Millisecond, MaxBackoff: 5 * time.Millisecond, AllowFastRetries: true}, "below MinBackoff"},
	} {
		_, err := NewClient(testConfig(), WithRetryPolicy(tt.p))
		assert.ErrorContains(t, err, "WithRetryPolicy", "%+v", tt.p)
		assert.ErrorContains(t, err, tt.want, "%+v", tt.p)
	}
	for _, tt := range []struct {
		p, want RetryPolicy
	}{
		{RetryPolicy{}, DefaultRetryPolicy()},
		{RetryPolicy{MaxAttempts: 5}, RetryPolicy{MaxAttempts: 5, MinBackoff: time.Second, MaxBackoff: 10 * time.Second}},
		{RetryPolicy{MinBackoff: 20 * time.Second}, RetryPolicy{MaxAttempts: 3, MinBackoff: 20 * time.Second, MaxBackoff: 20 * time.Second}},
		{RetryPolicy{AllowFastRetries: true}, RetryPolicy{MaxAttempts: 3, MinBackoff: time.Second, MaxBackoff: 10 * time.Second, AllowFastRetries: true}},
		{RetryPolicy{MinBackoff: 10 * time.Millisecond, AllowFastRetries: true}, RetryPolicy{MaxAttempts: 3, MinBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Second, AllowFastRetries: true}},
	} {
		c, err := NewClient(testConfig(), WithRetryPolicy(tt.p))
		require.NoError(t, err, "%+v", tt.p)
		assert.Equal(t, tt.want, c.retry, "%+v", tt.p)
	}
	c, err := NewClient(testConfig())
	require.NoError(t, err)
	assert.Equal(t, RetryPolicy{MaxAttempts: 3, MinBackoff: time.Second, MaxBackoff: 10 * time.Second}, c.retry)
}

// No policy a Client accepts waits less than a second before a retry
// unless AllowFastRetries asked for it, and none makes no attempt.
func TestRetryPolicyKeepsWeChatsSecond(t *testing.T) {
	none := func(int64) int64 { return 0 }
	for _, p := range []RetryPolicy{
		{}, {MaxAttempts: 1}, {MaxAttempts: 10}, {MaxBackoff: time.Second}, {MinBackoff: time.Second},
		{MinBackoff: 3 * time.Second}, {MaxBackoff: time.Hour}, DefaultRetryPolicy(),
	} {
		c, err := NewClient(testConfig(), WithRetryPolicy(p))
		require.NoError(t, err, "%+v", p)
		require.Positive(t, c.retry.MaxAttempts)
		for n := 1; n <= 12; n++ {
			assert.GreaterOrEqual(t, c.retry.backoff(n, none), time.Second, "%+v, retry %d", p, n)
		}
	}
}

func TestRateLimit(t *testing.T) {
	c, err := NewClient(testConfig())
	require.NoError(t, err)
	require.NotNil(t, c.limiter, "limited by default")
	require.IsType(t, &rate.Limiter{}, c.limiter)
	assert.EqualValues(t, DefaultRateLimit, c.limiter.(*rate.Limiter).Limit())
	other, err := c.ForAppID("wx9999999999999999")
	require.NoError(t, err)
	assert.Same(t, c.limiter, other.limiter, "WeChat counts per merchant")

	c, err = NewClient(testConfig(), WithRateLimit(0, 0))
	require.NoError(t, err)
	assert.Nil(t, c.limiter)
	_, err = NewClient(testConfig(), WithRateLimit(10, 0))
	assert.ErrorContains(t, err, "burst")

	// One token a minute: the second call cannot get one before its deadline
	// and is not sent.
	stub := scripted(t, "sendredpack_SUCCESS.xml")
	c = stub.client(t, WithRateLimit(1.0/60, 1))
	_, err = c.SendRedPack(context.Background(), goodSend())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.SendRedPack(ctx, goodSend())
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.NotErrorIs(t, err, ErrUnknownOutcome)
	assert.Len(t, stub.requests(), 1)
}

func itoa(n int) string { return strconv.Itoa(n) }

// countingLimiter admits every request and counts them, or refuses all
// with refuse.
type countingLimiter struct {
	mu     sync.Mutex
	waits  int
	refuse error
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits++
	return l.refuse
}

// TestWithLimiter: a shared limiter paces every attempt, retries included,
// and a refusal to wait sends nothing.
func TestWithLimiter(t *testing.T) {
	stub := scripted(t, "sendredpack_SYSTEMERROR.xml", "sendredpack_SYSTEMERROR.xml", "sendredpack_SUCCESS.xml")
	l := &countingLimiter{}
	c := stub.client(t, WithLimiter(l))
	_, err := c.SendRedPack(context.Background(), goodSend())
	require.NoError(t, err)
	assert.Equal(t, 3, l.waits, "every attempt waits on the shared limiter")
	other, err := c.ForAppID("wx9999999999999999")
	require.NoError(t, err)
	assert.Same(t, c.limiter, other.limiter)

	stub = scripted(t, "sendredpack_SUCCESS.xml")
	l = &countingLimiter{refuse: context.DeadlineExceeded}
	_, err = stub.client(t, WithLimiter(l)).SendRedPack(context.Background(), goodSend())
	var notSent *RequestError
	require.ErrorAs(t, err, &notSent)
	assert.Empty(t, stub.requests())

	c, err = NewClient(testConfig(), WithLimiter((*rate.Limiter)(nil)))
	require.NoError(t, err)
	assert.Nil(t, c.limiter, "a nil *rate.Limiter turns limiting off, as nil does")
	c, err = NewClient(testConfig(), WithLimiter(nil))
	require.NoError(t, err)
	assert.Nil(t, c.limiter)
}
