package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFakeServerPayments drives the payment side of the fake-server
// program through its control API, as a test in another language would:
// a payment's notification reaches a local notify_url, is re-delivered on
// the clock after a FAIL, and the refund follows.
func TestFakeServerPayments(t *testing.T) {
	t.Parallel()
	p := startFake(t, filepath.Join(t.TempDir(), "creds"), "--clock", "2025-01-01T12:00:00+08:00")
	var calls atomic.Int32
	var last atomic.Value
	notify := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		last.Store(string(b))
		if calls.Add(1) == 1 {
			io.WriteString(w, `<xml><return_code>FAIL</return_code></xml>`)
			return
		}
		io.WriteString(w, `<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>`)
	}))
	defer notify.Close()

	type delivery struct {
		Kind       string `json:"kind"`
		Attempt    int    `json:"attempt"`
		Time       string `json:"time"`
		ReturnCode string `json:"return_code"`
		Success    bool   `json:"success"`
	}
	type payment struct {
		TransactionID string     `json:"transaction_id"`
		TradeState    string     `json:"trade_state"`
		Delivered     bool       `json:"delivered"`
		Deliveries    []delivery `json:"deliveries"`
	}
	var pay payment
	adminPost(t, p, "POST", "payments", `{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "total_fee": 100, "notify_url": "`+notify.URL+`"}`, &pay)
	require.Len(t, pay.TransactionID, 28)
	adminPost(t, p, "POST", "deliveries/wait", "", nil)
	adminPost(t, p, "POST", "clock/advance", `{"duration": "15s"}`, nil)
	adminGet(t, p, "payments/"+pay.TransactionID, &pay)
	require.True(t, pay.Delivered)
	require.Equal(t, []delivery{
		{Kind: "payment", Attempt: 1, Time: "2025-01-01T12:00:00+08:00", ReturnCode: "FAIL"},
		{Kind: "payment", Attempt: 2, Time: "2025-01-01T12:00:15+08:00", ReturnCode: "SUCCESS", Success: true},
	}, pay.Deliveries)
	require.Contains(t, last.Load().(string), pay.TransactionID)

	adminPost(t, p, "POST", "payments/"+pay.TransactionID+"/refund", `{}`, nil)
	adminPost(t, p, "POST", "deliveries/wait", "", nil)
	adminGet(t, p, "payments/"+pay.TransactionID, &pay)
	require.Equal(t, "REFUND", pay.TradeState)
	require.Len(t, pay.Deliveries, 3)
	require.Equal(t, "refund", pay.Deliveries[2].Kind)
	require.True(t, strings.Contains(last.Load().(string), "<req_info>"))
}
