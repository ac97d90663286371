package redpack

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const queryBill = "1900000109202501011234567890"

func query(t *testing.T, body string) (*RedPackInfo, error, *wechatStub) {
	t.Helper()
	stub := newStub(t, func(stubRequest) (int, string) { return http.StatusOK, body })
	info, err := stub.client(t).QueryRedPack(context.Background(), queryBill)
	return info, err, stub
}

func utc(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestQueryReceived(t *testing.T) {
	info, err, stub := query(t, readFixture("gethbinfo_RECEIVED.xml"))
	require.NoError(t, err)

	f := stub.requests()[0].Fields
	assert.Equal(t, testAppID, f["appid"], "gethbinfo names it appid")
	assert.NotContains(t, f, "wxappid")
	assert.Equal(t, "MCHT", f["bill_type"])
	assert.Equal(t, queryBill, f["mch_billno"])
	assert.Equal(t, testPrefix+"mmpaymkttransfers/gethbinfo", stub.requests()[0].Path)

	assert.Equal(t, queryBill, info.MchBillNo)
	assert.Equal(t, "1900000109", info.MchID)
	assert.Equal(t, "1000041701202501013000000000001", info.DetailID)
	assert.Equal(t, StatusReceived, info.Status)
	assert.Equal(t, SendTypeAPI, info.SendType)
	assert.Equal(t, HBTypeNormal, info.HBType)
	assert.Equal(t, 1, info.TotalNum)
	assert.Equal(t, int64(1000), info.TotalAmount)
	// 10:00:05 in Beijing is 02:00:05 UTC.
	assert.Equal(t, utc("2025-01-01 02:00:05"), info.SendTime.UTC())
	assert.True(t, info.RefundTime.IsZero())
	require.Len(t, info.Receivers, 1)
	assert.Equal(t, Receiver{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", Amount: 1000}, Receiver{OpenID: info.Receivers[0].OpenID, Amount: info.Receivers[0].Amount})
	assert.Equal(t, utc("2025-01-01 02:03:41"), info.Receivers[0].ReceiveTime.UTC())
	assert.True(t, info.Status.Definite())
	assert.Equal(t, OutcomePaid, info.Status.Outcome())
}

func TestQueryRefund(t *testing.T) {
	info, err, _ := query(t, readFixture("gethbinfo_REFUND.xml"))
	require.NoError(t, err)
	assert.Equal(t, StatusRefund, info.Status)
	assert.Equal(t, int64(50000), info.TotalAmount)
	assert.Equal(t, int64(50000), info.RefundAmount)
	assert.Equal(t, utc("2025-01-02 01:00:00"), info.SendTime.UTC())
	assert.Equal(t, utc("2025-01-03 01:00:12"), info.RefundTime.UTC())
	assert.Equal(t, "新年快乐", info.Wishing)
	assert.Equal(t, "员工福利", info.Remark)
	assert.Equal(t, "年终福利", info.ActName)
	assert.Empty(t, info.Receivers)
	assert.Equal(t, OutcomePaid, info.Status.Outcome(), "a refunded packet was paid and must not be re-sent")
}

func TestQueryGroupReceivers(t *testing.T) {
	info, err, _ := query(t, readFixture("gethbinfo_GROUP.xml"))
	require.NoError(t, err)
	assert.Equal(t, HBTypeGroup, info.HBType)
	assert.Equal(t, StatusSent, info.Status)
	assert.Equal(t, 3, info.TotalNum)
	require.Len(t, info.Receivers, 2, "every hbinfo entry is kept")
	assert.Equal(t, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", info.Receivers[0].OpenID)
	assert.Equal(t, int64(412), info.Receivers[0].Amount)
	assert.Equal(t, "oFriendAAAAAAAAAAAAAAAAAAAAA", info.Receivers[1].OpenID)
	assert.Equal(t, int64(205), info.Receivers[1].Amount)
	assert.Equal(t, utc("2025-01-03 04:07:02"), info.Receivers[1].ReceiveTime.UTC())
}

func TestQueryNotFound(t *testing.T) {
	info, err, _ := query(t, readFixture("gethbinfo_NOT_FOUND.xml"))
	require.NoError(t, err, "NOT_FOUND is no refusal: it settles nothing")
	var apiErr *APIError
	assert.False(t, errors.As(err, &apiErr))
	assert.Equal(t, StatusNotFound, info.Status)
	assert.Equal(t, OutcomeUnknown, info.Status.Outcome())
	assert.False(t, info.Status.Definite())
	assert.Equal(t, queryBill, info.MchBillNo)
}

func TestQueryBadAnswers(t *testing.T) {
	received := readFixture("gethbinfo_RECEIVED.xml")
	tests := []struct {
		name, body, want string
	}{
		{"no status", strings.Replace(received, "<status><![CDATA[RECEIVED]]></status>", "", 1), "without <status>"},
		{"bad time", strings.Replace(received, "2025-01-01 10:00:05", "2025/01/01 10:00", 1), "send_time"},
		{"bad receiver amount", strings.Replace(received, "<amount>1000</amount>", "<amount>ten</amount>", 1), "hbinfo/amount"},
		{"bad total_num", strings.Replace(received, "<total_num>1</total_num>", "<total_num>1.0</total_num>", 1), "total_num"},
		{"html", readFixture("html_gateway.html"), "HTML"},
		{"no bill number", strings.Replace(received, "<mch_billno><![CDATA["+queryBill+"]]></mch_billno>", "", 1), "without <mch_billno>"},
		{"status twice", strings.Replace(received, "<status><![CDATA[RECEIVED]]></status>", "<status>SENT</status><status>FAILED</status>", 1), "<status> appears more than once"},
		{"receiver field twice", strings.Replace(received, "<amount>1000</amount>", "<amount>1000</amount><amount>1</amount>", 1), "<amount> appears more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err, _ := query(t, tt.body)
			assert.Nil(t, info)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), queryBill)
			var de *DecodeError
			assert.ErrorAs(t, err, &de)
		})
	}
}

func TestQueryIgnoresUnknownFields(t *testing.T) {
	body := strings.Replace(readFixture("gethbinfo_RECEIVED.xml"), "</xml>", "<appid>wx8888888888888888</appid><new_field>x</new_field></xml>", 1)
	body = strings.Replace(body, "</rcv_time>", "</rcv_time><status>RECEIVED</status>", 1)
	info, err, _ := query(t, body)
	require.NoError(t, err)
	assert.Equal(t, StatusReceived, info.Status)
	assert.Len(t, info.Receivers, 1)
}

func TestQueryReceivedWithoutHBList(t *testing.T) {
	// Community reports show RECEIVED answers without hblist; that is fine.
	body := readFixture("gethbinfo_RECEIVED.xml")
	body = body[:strings.Index(body, "<hblist>")] + "</xml>"
	info, err, _ := query(t, body)
	require.NoError(t, err)
	assert.Equal(t, StatusReceived, info.Status)
	assert.Empty(t, info.Receivers)
}

func TestQueryValidatesBillNo(t *testing.T) {
	stub := newStub(t, fixtureReply("gethbinfo_RECEIVED.xml"))
	_, err := stub.client(t).QueryRedPack(context.Background(), "bad bill")
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "mch_billno", ve.Field)
	assert.Zero(t, stub.calls.Load())
}

func TestStatusSemantics(t *testing.T) {
	for s, want := range map[Status]Outcome{
		StatusSending:   OutcomeUnknown,
		StatusSent:      OutcomePaid,
		StatusFailed:    OutcomeNotPaid,
		StatusReceived:  OutcomePaid,
		StatusRefunding: OutcomePaid,
		StatusRefund:    OutcomePaid,
		StatusNotFound:  OutcomeUnknown,
		"SOMETHING":     OutcomeUnknown,
		"":              OutcomeUnknown,
	} {
		assert.Equal(t, want, s.Outcome(), "%q", s)
		assert.Equal(t, want != OutcomeUnknown, s.Definite(), "%q definite", s)
	}
	assert.Equal(t, Status("RFUND_ING"), StatusRefunding, "WeChat's spelling")
}
