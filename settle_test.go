package redpack_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

// fastRetries keeps retry tests quick against the fake server.
var fastRetries = redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, AllowFastRetries: true})

func settlePacket(billNo string) *redpack.SendRedPackRequest {
	return &redpack.SendRedPackRequest{
		MchBillNo: billNo, SendName: "天虹百货", ReOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", TotalAmount: 1000,
		Wishing: "新春快乐", ClientIP: "192.168.0.1", ActName: "新春红包", Remark: "感谢关注",
	}
}

// paidUnknown sends req once under SystemErrorAfterCommit: WeChat pays,
// the answer says SYSTEMERROR. It returns the ledger's packet.
func paidUnknown(t *testing.T, srv *redpacktest.Server, req *redpack.SendRedPackRequest) redpacktest.Packet {
	t.Helper()
	once, err := srv.Client(redpacktest.DefaultMchID, redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1}))
	require.NoError(t, err)
	require.NoError(t, srv.Inject(redpacktest.Fault{Kind: redpacktest.SystemErrorAfterCommit, Op: "sendredpack"}))
	_, err = once.SendRedPack(context.Background(), req)
	require.ErrorIs(t, err, redpack.ErrUnknownOutcome)
	p, ok := srv.Packet(redpacktest.DefaultMchID, req.MchBillNo)
	require.True(t, ok)
	require.True(t, p.Paid, "the fake paid it")
	return p
}

// TestSettleRefusedResend is issue 13's first case: a packet paid under an
// unknown outcome, then a re-send refused by one of WeChat's outer checks.
// The refusal says nothing about the first send; only Settle's query does.
func TestSettleRefusedResend(t *testing.T) {
	freqLimit := func(n int) []redpacktest.Fault {
		var fs []redpacktest.Fault
		for range n {
			fs = append(fs, redpacktest.Fault{Kind: redpacktest.ErrCodeAnswer, Op: "sendredpack", ErrCode: "FREQ_LIMIT", ErrCodeDes: "超过频率限制,请稍后再试"})
		}
		return fs
	}
	noAuth := []redpacktest.Fault{{Kind: redpacktest.ErrCodeAnswer, Op: "sendredpack", ErrCode: "NO_AUTH", ErrCodeDes: "IP地址非你在商户平台设置的可用IP地址"}}
	cases := []struct {
		name   string
		faults []redpacktest.Fault
		key    string        // an API key other than the merchant's: SIGN_ERROR
		later  time.Duration // the fake's clock moves on before the re-send
		code   string        // what the plain re-send is answered
	}{
		{name: "FREQ_LIMIT on every attempt", faults: freqLimit(3), code: "FREQ_LIMIT"},
		{name: "SIGN_ERROR after a key rotation", key: "00000000000000000000000000000000", code: "SIGN_ERROR"},
		{name: "NO_AUTH after an IP change", faults: noAuth, code: "NO_AUTH"},
		{name: "expired after 25 h", later: 25 * time.Hour, code: "PARAM_ERROR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := redpacktest.Start(t)
			req := settlePacket(redpack.NewBillNo())
			paid := paidUnknown(t, srv, req)
			srv.Advance(tc.later)

			client, err := srv.Client(redpacktest.DefaultMchID, fastRetries)
			require.NoError(t, err)
			if tc.key != "" {
				cfg, err := redpack.NewPKCS12Config(redpacktest.DefaultMchID, redpacktest.DefaultAppID, tc.key, srv.PKCS12(redpacktest.DefaultMchID), "")
				require.NoError(t, err)
				client, err = redpack.NewClient(cfg, redpack.WithBaseURL(srv.URL()), redpack.WithRootCAs(srv.CertPool()), fastRetries)
				require.NoError(t, err)
			}
			ctx := context.Background()

			// The plain re-send: its answer is about this request only.
			require.NoError(t, srv.Inject(tc.faults...))
			_, err = client.SendRedPack(ctx, req)
			require.Error(t, err)
			if tc.code == "PARAM_ERROR" {
				assert.ErrorIs(t, err, redpack.ErrBillExpired, "the expired answer is never a refusal")
				assert.Equal(t, redpack.OutcomeUnknown, redpack.OutcomeOf(err))
			} else {
				assert.ErrorIs(t, err, redpack.Code(tc.code))
				var apiErr *redpack.APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, tc.code, apiErr.ErrCode)
			}

			// Settle: the query decides, whatever a re-send would hear.
			require.NoError(t, srv.Inject(tc.faults...))
			s, err := client.Settle(ctx, req)
			require.NoError(t, err)
			got, _ := srv.Packet(redpacktest.DefaultMchID, req.MchBillNo)
			assert.True(t, got.Paid, "the ledger: paid")
			if tc.key != "" {
				// The query is refused too: nothing is known.
				assert.Equal(t, redpack.OutcomeUnknown, s.Outcome)
				assert.False(t, s.Resent)
				assert.ErrorIs(t, s.Err, redpack.CodeSignError)
				assert.NotEmpty(t, s.Advice)
				return
			}
			assert.Equal(t, redpack.OutcomePaid, s.Outcome, s.Advice)
			assert.Equal(t, paid.DetailID, s.SendListID)
			assert.False(t, s.Resent, "a definite status needs no re-send")
			assert.Equal(t, redpack.Status(got.Status), s.Status)
		})
	}
}

// TestSettleResendRefusalIsUnknown: WeChat has no record yet (NOT_FOUND)
// while the packet is in fact paid, and the re-send is refused by an outer
// check: Settle reports unknown, never not paid.
func TestSettleResendRefusalIsUnknown(t *testing.T) {
	notFound := redpacktest.Fault{Kind: redpacktest.ErrCodeAnswer, Op: "gethbinfo", ErrCode: "NOT_FOUND", ErrCodeDes: "指定单号数据不存在"}
	cases := []struct {
		name   string
		faults []redpacktest.Fault
		later  time.Duration
		is     error
	}{
		{"FREQ_LIMIT on every attempt", []redpacktest.Fault{
			{Kind: redpacktest.ErrCodeAnswer, Op: "sendredpack", ErrCode: "FREQ_LIMIT"},
			{Kind: redpacktest.ErrCodeAnswer, Op: "sendredpack", ErrCode: "FREQ_LIMIT"},
			{Kind: redpacktest.ErrCodeAnswer, Op: "sendredpack", ErrCode: "FREQ_LIMIT"},
		}, 0, redpack.CodeFreqLimit},
		{"NO_AUTH", []redpacktest.Fault{{Kind: redpacktest.ErrCodeAnswer, Op: "sendredpack", ErrCode: "NO_AUTH"}}, 0, redpack.CodeNoAuth},
		{"FATAL_ERROR", []redpacktest.Fault{{Kind: redpacktest.ErrCodeAnswer, Op: "sendredpack", ErrCode: "FATAL_ERROR"}}, 0, redpack.CodeFatalError},
		{"expired", nil, 25 * time.Hour, redpack.ErrBillExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := redpacktest.Start(t)
			req := settlePacket(redpack.NewBillNo())
			paidUnknown(t, srv, req)
			srv.Advance(tc.later)
			client, err := srv.Client(redpacktest.DefaultMchID, fastRetries)
			require.NoError(t, err)
			require.NoError(t, srv.Inject(append([]redpacktest.Fault{notFound}, tc.faults...)...))

			s, err := client.Settle(context.Background(), req)
			require.NoError(t, err)
			assert.Equal(t, redpack.OutcomeUnknown, s.Outcome, "a re-send's refusal settles nothing")
			assert.Equal(t, redpack.StatusNotFound, s.Status)
			assert.True(t, s.Resent)
			assert.ErrorIs(t, s.Err, tc.is)
			assert.NotEmpty(t, s.Advice)
			p, _ := srv.Packet(redpacktest.DefaultMchID, req.MchBillNo)
			assert.True(t, p.Paid, "the ledger: paid once")
			assert.Equal(t, int64(1000), srv.Paid(redpacktest.DefaultMchID))
		})
	}
}

func TestSettle(t *testing.T) {
	ctx := context.Background()
	t.Run("never sent: the re-send pays once", func(t *testing.T) {
		srv := redpacktest.Start(t)
		client, _ := srv.Client(redpacktest.DefaultMchID, fastRetries)
		req := settlePacket(redpack.NewBillNo())
		s, err := client.Settle(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, redpack.OutcomePaid, s.Outcome)
		assert.True(t, s.Resent)
		p, _ := srv.Packet(redpacktest.DefaultMchID, req.MchBillNo)
		assert.Equal(t, p.DetailID, s.SendListID)

		again, err := client.Settle(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, redpack.OutcomePaid, again.Outcome)
		assert.False(t, again.Resent, "now the query knows it")
		assert.Equal(t, int64(1000), srv.Paid(redpacktest.DefaultMchID))
	})
	t.Run("QueryOnly never re-sends", func(t *testing.T) {
		srv := redpacktest.Start(t)
		client, _ := srv.Client(redpacktest.DefaultMchID, fastRetries)
		req := settlePacket(redpack.NewBillNo())
		s, err := client.Settle(ctx, req, redpack.QueryOnly())
		require.NoError(t, err)
		assert.Equal(t, redpack.OutcomeUnknown, s.Outcome)
		assert.Equal(t, redpack.StatusNotFound, s.Status)
		assert.False(t, s.Resent)
		assert.Empty(t, srv.Packets())
	})
	t.Run("FAILED is not paid", func(t *testing.T) {
		srv := redpacktest.Start(t)
		client, _ := srv.Client(redpacktest.DefaultMchID, redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1}))
		req := settlePacket(redpack.NewBillNo())
		require.NoError(t, srv.Inject(redpacktest.Fault{Kind: redpacktest.ProcessingThenFail, Hold: time.Minute}))
		_, err := client.SendRedPack(ctx, req)
		require.ErrorIs(t, err, redpack.ErrUnknownOutcome)

		s, err := client.Settle(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, redpack.OutcomeUnknown, s.Outcome, "SENDING")
		assert.Equal(t, redpack.StatusSending, s.Status)
		assert.False(t, s.Resent)

		srv.Advance(2 * time.Minute)
		s, err = client.Settle(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, redpack.OutcomeNotPaid, s.Outcome)
		assert.Equal(t, redpack.StatusFailed, s.Status)
		assert.Zero(t, srv.Paid(redpacktest.DefaultMchID))
	})
	t.Run("SEND_FAILED on the re-send is not paid", func(t *testing.T) {
		srv := redpacktest.Start(t)
		client, _ := srv.Client(redpacktest.DefaultMchID, fastRetries)
		req := settlePacket(redpack.NewBillNo())
		require.NoError(t, srv.Inject(
			redpacktest.Fault{Kind: redpacktest.ErrCodeAnswer, Op: "gethbinfo", ErrCode: "NOT_FOUND"},
			redpacktest.Fault{Kind: redpacktest.ErrCodeAnswer, Op: "sendredpack", ErrCode: "SEND_FAILED"},
		))
		s, err := client.Settle(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, redpack.OutcomeNotPaid, s.Outcome)
		assert.ErrorIs(t, s.Err, redpack.CodeSendFailed)
	})
	t.Run("a group packet under the bill number", func(t *testing.T) {
		srv := redpacktest.Start(t)
		client, _ := srv.Client(redpacktest.DefaultMchID, fastRetries)
		group := &redpack.SendGroupRedPackRequest{MchBillNo: redpack.NewBillNo(), SendName: "示例科技", ReOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
			TotalAmount: 900, TotalNum: 3, Wishing: "恭喜发财", ActName: "裂变红包测试", Remark: "分享给好友"}
		_, err := client.SendGroupRedPack(ctx, group)
		require.NoError(t, err)
		normal := settlePacket(group.MchBillNo)
		normal.TotalAmount = 900
		s, err := client.Settle(ctx, normal)
		require.NoError(t, err)
		assert.Equal(t, redpack.OutcomeUnknown, s.Outcome, "a group packet is not this normal one")
		assert.Contains(t, s.Advice, "GROUP")
	})
	t.Run("another payment under the bill number", func(t *testing.T) {
		srv := redpacktest.Start(t)
		client, _ := srv.Client(redpacktest.DefaultMchID, fastRetries)
		first := settlePacket(redpack.NewBillNo())
		_, err := client.SendRedPack(ctx, first)
		require.NoError(t, err)
		other := *first
		other.TotalAmount = 2000
		s, err := client.Settle(ctx, &other)
		require.NoError(t, err)
		assert.Equal(t, redpack.OutcomeUnknown, s.Outcome, "a collision is never read as this payment's outcome")
		assert.Contains(t, s.Advice, "another payment")
		assert.False(t, s.Resent)
	})
	t.Run("the query fails", func(t *testing.T) {
		srv := redpacktest.Start(t)
		client, _ := srv.Client(redpacktest.DefaultMchID, redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1}))
		require.NoError(t, srv.Inject(redpacktest.Fault{Kind: redpacktest.HTMLGateway, Op: "gethbinfo"}))
		s, err := client.Settle(ctx, settlePacket(redpack.NewBillNo()))
		require.NoError(t, err)
		assert.Equal(t, redpack.OutcomeUnknown, s.Outcome)
		assert.Error(t, s.Err)
		assert.Empty(t, srv.Packets(), "no re-send without an answer from the query")
	})
	t.Run("invalid and nil requests", func(t *testing.T) {
		srv := redpacktest.Start(t)
		client, _ := srv.Client(redpacktest.DefaultMchID)
		bad := settlePacket("")
		s, err := client.Settle(ctx, bad)
		assert.Nil(t, s)
		var ve *redpack.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "mch_billno", ve.Field)
		_, err = client.Settle(ctx, (*redpack.SendRedPackRequest)(nil))
		assert.ErrorAs(t, err, &ve)
		_, err = client.Settle(ctx, nil)
		assert.ErrorAs(t, err, &ve)
	})
}

// TestSettleEveryKind: one settle path serves the three sends, each
// queried under its own appid.
func TestSettleEveryKind(t *testing.T) {
	ctx := context.Background()
	srv := redpacktest.Start(t)
	client, _ := srv.Client(redpacktest.DefaultMchID, redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 1}))
	reqs := []redpack.PacketRequest{
		settlePacket(redpack.NewBillNo()),
		&redpack.SendGroupRedPackRequest{MchBillNo: redpack.NewBillNo(), SendName: "示例科技", ReOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
			TotalAmount: 900, TotalNum: 3, Wishing: "恭喜发财", ActName: "裂变红包测试", Remark: "分享给好友"},
		&redpack.SendMiniProgramRedPackRequest{MiniProgramAppID: redpacktest.DefaultMiniProgramAppID, MchBillNo: redpack.NewBillNo(),
			SendName: "示例科技", ReOpenID: "oMiniAbCdEfGhIjKlMnOpQrStUvW", TotalAmount: 100, Wishing: "感谢参与", ActName: "小程序活动", Remark: "备注"},
	}
	for _, req := range reqs {
		require.NoError(t, srv.Inject(redpacktest.Fault{Kind: redpacktest.SystemErrorAfterCommit}))
		var err error
		switch r := req.(type) {
		case *redpack.SendRedPackRequest:
			_, err = client.SendRedPack(ctx, r)
		case *redpack.SendGroupRedPackRequest:
			_, err = client.SendGroupRedPack(ctx, r)
		case *redpack.SendMiniProgramRedPackRequest:
			_, err = client.SendMiniProgramRedPack(ctx, r)
		}
		require.True(t, errors.Is(err, redpack.ErrUnknownOutcome), "%T: %v", req, err)
		s, err := client.Settle(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, redpack.OutcomePaid, s.Outcome, "%T: %s", req, s.Advice)
		if _, mini := req.(*redpack.SendMiniProgramRedPackRequest); mini {
			// Paid and unopened: the re-send fetches the package the user
			// opens it with, and pays nothing more.
			assert.True(t, s.Resent)
			assert.Contains(t, s.Package, "sendid=")
		} else {
			assert.False(t, s.Resent)
			assert.Empty(t, s.Package)
		}
	}
	assert.Equal(t, int64(1000+900+100), srv.Paid(redpacktest.DefaultMchID))
}
