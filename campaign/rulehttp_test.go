package campaign

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

// notification is a paid notification's fields, as WeChat sends them.
func notification(txID, openid string, fee int64, t time.Time) map[string]string {
	return map[string]string{
		"return_code": "SUCCESS", "appid": redpacktest.DefaultAppID, "mch_id": redpacktest.DefaultMchID,
		"nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "result_code": "SUCCESS", "openid": openid,
		"is_subscribe": "Y", "trade_type": "JSAPI", "bank_type": "CMC", "total_fee": fmt.Sprint(fee),
		"fee_type": "CNY", "cash_fee": fmt.Sprint(fee), "transaction_id": txID, "out_trade_no": "o" + txID,
		"time_end": t.In(chinaTime).Format("20060102150405"),
	}
}

// signedBody is the notification's XML, signed MD5 with key ("" leaves it
// unsigned). The test signs with its own few lines, never the SDK's.
func signedBody(f map[string]string, key string) []byte {
	keys := make([]string, 0, len(f))
	for k, v := range f {
		if v != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var plain, xml strings.Builder
	xml.WriteString("<xml>")
	for _, k := range keys {
		fmt.Fprintf(&plain, "%s=%s&", k, f[k])
		fmt.Fprintf(&xml, "<%s><![CDATA[%s]]></%s>", k, f[k], k)
	}
	if key != "" {
		sum := md5.Sum([]byte(plain.String() + "key=" + key))
		fmt.Fprintf(&xml, "<sign><![CDATA[%s]]></sign>", strings.ToUpper(hex.EncodeToString(sum[:])))
	}
	xml.WriteString("</xml>")
	return []byte(xml.String())
}

// post delivers body to url and returns WeChat's view: the return_code.
func post(tb testing.TB, url string, body []byte) string {
	tb.Helper()
	resp, err := http.Post(url, "text/xml", strings.NewReader(string(body)))
	require.NoError(tb, err)
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	require.Equal(tb, http.StatusOK, resp.StatusCode)
	return returnCode(answer)
}

// notifyServer serves the rule set's NotifyHandler over plain HTTP.
func notifyServer(tb testing.TB, s *Store, srv *redpacktest.Server, name string, cfg NotifyConfig) string {
	tb.Helper()
	client, err := srv.Client(redpacktest.DefaultMchID, redpack.WithNotifyAppIDs(redpacktest.DefaultMiniProgramAppID))
	require.NoError(tb, err)
	cfg.Client = client
	h, err := s.NotifyHandler(name, cfg)
	require.NoError(tb, err)
	ts := httptest.NewServer(h)
	tb.Cleanup(ts.Close)
	return ts.URL
}

func awardCount(tb testing.TB, s *Store, name string) int {
	tb.Helper()
	n := 0
	require.NoError(tb, s.Awards(context.Background(), name, func(AwardRow) error { n++; return nil }))
	return n
}

// TestNotifyRefusesWhatIsNotWeChats: a forged notification (wrong key), an
// unsigned one, one for another mch_id and one replayed with a changed
// amount are answered FAIL and award nothing; the genuine one is awarded
// once however often it comes.
func TestNotifyRefusesWhatIsNotWeChats(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, newDSN(t, kind))
			srv := redpacktest.Start(t)
			defineRules(t, s, "n", testRule("spend100", 500, 75000))
			url := notifyServer(t, s, srv, "n", NotifyConfig{Award: AwardOptions{NoConfirm: true}}) + "/notify"
			id := openids(1)[0]
			genuine := notification("4200000001", id, 10000, dec15)

			forged := signedBody(genuine, "00000000000000000000000000000000")
			assert.Equal(t, "FAIL", post(t, url, forged), "wrong key")
			assert.Equal(t, "FAIL", post(t, url, signedBody(genuine, "")), "unsigned")
			other := maps(genuine, "mch_id", "1900000110")
			assert.Equal(t, "FAIL", post(t, url, signedBody(other, redpacktest.DefaultAPIKey)), "another merchant")
			small := maps(genuine, "transaction_id", "4200000002", "total_fee", "100", "cash_fee", "100")
			replayed := strings.NewReplacer("[100]", "[50000]").Replace(string(signedBody(small, redpacktest.DefaultAPIKey)))
			require.Contains(t, replayed, "<total_fee><![CDATA[50000]]></total_fee>")
			assert.Equal(t, "FAIL", post(t, url, []byte(replayed)), "amount changed after signing")
			assert.Zero(t, awardCount(t, s, "n"), "nothing awarded")

			for range 3 {
				assert.Equal(t, "SUCCESS", post(t, url, signedBody(genuine, redpacktest.DefaultAPIKey)))
			}
			mini := maps(genuine, "transaction_id", "4200000003", "appid", redpacktest.DefaultMiniProgramAppID)
			assert.Equal(t, "SUCCESS", post(t, url, signedBody(mini, redpacktest.DefaultAPIKey)), "a mini-program's payment is journalled, as skipped")
			var rows []AwardRow
			require.NoError(t, s.Awards(context.Background(), "n", func(a AwardRow) error { rows = append(rows, a); return nil }))
			require.Len(t, rows, 2)
			assert.Equal(t, AwardWaiting, rows[0].State)
			assert.Equal(t, AwardSkipped, rows[1].State)
			assert.Equal(t, "appid", rows[1].Why)
		})
	}
}

// maps copies f with the key/value pairs kv changed.
func maps(f map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(f))
	for k, v := range f {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestNotifyForwardsToTheMerchant: with Forward the notification goes on,
// unchanged, to the merchant's handler, and WeChat hears SUCCESS only
// when that handler said it; while it fails WeChat is answered FAIL and
// notifies again, and in the end there is one award.
func TestNotifyForwardsToTheMerchant(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			testNotifyForwards(t, openStore(t, newDSN(t, kind)))
		})
	}
}

func testNotifyForwards(t *testing.T, s *Store) {
	srv := redpacktest.Start(t, redpacktest.WithClock(dec15))
	defineRules(t, s, "fwd", testRule("spend100", 500, 75000))
	var (
		healthy  atomic.Bool
		received atomic.Int64
		lastBody atomic.Value
	)
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		lastBody.Store(string(b))
		received.Add(1)
		if !healthy.Load() {
			http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
			return
		}
		io.WriteString(w, `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>`)
	}))
	t.Cleanup(merchant.Close)
	base := notifyServer(t, s, srv, "fwd", NotifyConfig{Forward: merchant.URL})
	ctx := context.Background()

	// WeChat delivers; the merchant's handler fails; WeChat hears FAIL and
	// notifies again 15 s later, and again.
	p, err := srv.Pay(redpacktest.PaymentRequest{OpenID: openids(1)[0], TotalFee: 10000, NotifyURL: base + "/notify"})
	require.NoError(t, err)
	require.NoError(t, srv.WaitDeliveries(ctx))
	srv.Advance(15 * time.Second)
	require.NoError(t, srv.WaitDeliveries(ctx))
	got, _ := srv.Payment(p.TransactionID)
	require.Len(t, got.Deliveries, 2)
	for _, d := range got.Deliveries {
		assert.Equal(t, "FAIL", d.ReturnCode, "the merchant's handler failed: WeChat must notify again")
	}
	assert.Equal(t, 1, awardCount(t, s, "fwd"), "the award was journalled at the first delivery")

	healthy.Store(true)
	srv.Advance(15 * time.Second)
	require.NoError(t, srv.WaitDeliveries(ctx))
	got, _ = srv.Payment(p.TransactionID)
	require.Len(t, got.Deliveries, 3)
	assert.True(t, got.Delivered, "answered SUCCESS once the merchant's handler did")
	assert.Equal(t, int64(3), received.Load())
	assert.Contains(t, lastBody.Load(), p.TransactionID, "forwarded unchanged")
	assert.Equal(t, 1, awardCount(t, s, "fwd"), "one award in the end")

	// A notification this process cannot verify (a forgery, or the
	// merchant's key rotated before this process's): the merchant's handler
	// gets it, as it did before this handler stood in front of it, but
	// WeChat hears FAIL, so that it notifies again until this process can
	// verify it; answering SUCCESS would lose a genuine award for good.
	forged := signedBody(notification("4200000010", openids(2)[1], 10000, dec15), "00000000000000000000000000000000")
	assert.Equal(t, "FAIL", post(t, base+"/notify", forged))
	assert.Equal(t, int64(4), received.Load())
	assert.Equal(t, forged, []byte(lastBody.Load().(string)), "forwarded unchanged")
	assert.Equal(t, 1, awardCount(t, s, "fwd"), "and nothing was awarded for it")

	// Signed with the key, for an appid this process does not judge (an
	// app's payments): WeChat's own, so the merchant's handler answers it.
	app := maps(notification("4200000011", openids(3)[2], 10000, dec15), "appid", "wx0000000000000001")
	assert.Equal(t, "SUCCESS", post(t, base+"/notify", signedBody(app, redpacktest.DefaultAPIKey)))
	assert.Equal(t, int64(5), received.Load())
	assert.Equal(t, 1, awardCount(t, s, "fwd"))
}

// TestNotifyForwardFirstWithoutConfirmation: with NoConfirm the merchant's
// handler is the confirmation, so it answers before anything is
// journalled: while it fails nothing is awarded, and once it answers
// SUCCESS the award is made.
func TestNotifyForwardFirstWithoutConfirmation(t *testing.T) {
	s := openStore(t, newDSN(t, "sqlite"))
	srv := redpacktest.Start(t)
	defineRules(t, s, "first", testRule("spend100", 500, 75000))
	var healthy atomic.Bool
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			io.WriteString(w, `<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[order unknown]]></return_msg></xml>`)
			return
		}
		io.WriteString(w, `<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>`)
	}))
	t.Cleanup(merchant.Close)
	base := notifyServer(t, s, srv, "first", NotifyConfig{Award: AwardOptions{NoConfirm: true}, Forward: merchant.URL})
	body := signedBody(notification("4200000020", openids(1)[0], 10000, dec15), redpacktest.DefaultAPIKey)
	assert.Equal(t, "FAIL", post(t, base+"/notify", body))
	assert.Zero(t, awardCount(t, s, "first"), "the merchant's handler did not confirm it")
	healthy.Store(true)
	assert.Equal(t, "SUCCESS", post(t, base+"/notify", body))
	assert.Equal(t, 1, awardCount(t, s, "first"))
}
