package campaign_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/campaign"
	"github.com/redpack-go/redpack/redpacktest"
)

// A rules file read and checked: a misspelt key or a cap above WeChat's
// own is refused with the rule and field named.
func ExampleParseRules() {
	good := `{"rules": [{"name": "spend100", "appid": "wx8888888888888888",
	  "from": "2026-12-01T00:00:00+08:00", "to": "2027-01-01T00:00:00+08:00",
	  "min_fee": 10000, "tiers": [{"min_fee": 10000, "amount": 500}, {"min_fee": 30000, "amount": 2000}],
	  "budget": 75000, "user_daily_count": 1,
	  "send_name": "天虹百货", "wishing": "满100送5元", "act_name": "满额送", "remark": "感谢惠顾"}]}`
	set, err := campaign.ParseRules(strings.NewReader(good))
	if err != nil {
		log.Fatal(err)
	}
	r := set.Rules[0]
	fmt.Printf("%s: %d tiers, budget %d fen\n", r.Name, len(r.Tiers), r.Budget)

	_, err = campaign.ParseRules(strings.NewReader(strings.Replace(good, `"user_daily_count": 1`, `"user_daily_count": 20`, 1)))
	fmt.Println(err)
	// Output:
	// spend100: 2 tiers, budget 75000 fen
	// rule spend100: user_daily_count 20: 0 (no cap) to WeChat's own 10
}

// The merchant's own notify handler awards packets: it verifies the
// notification (PaymentNotifyHandler), calls Award, and answers WeChat
// SUCCESS only when Award returned nil. The fake server plays WeChat Pay:
// a payment, its notification, the order query that confirms it, and the
// packet paid by Run.
func ExampleStore_Award() {
	ctx := context.Background()
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "rules-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := campaign.Open(ctx, filepath.Join(dir, "campaigns.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	rules := campaign.RuleSet{Rules: []campaign.Rule{{
		Name: "spend100", AppID: redpacktest.DefaultAppID, From: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		MinFee: 10000, Amount: 500, Budget: 75000, UserDailyCount: 1,
		SendName: "天虹百货", Wishing: "满100送5元", ActName: "满额送", Remark: "感谢惠顾",
	}}}
	if err := store.DefineRules(ctx, "rules", &rules, redpacktest.DefaultMchID); err != nil {
		log.Fatal(err)
	}
	client, err := srv.Client(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	notify := httptest.NewServer(client.PaymentNotifyHandler(func(ctx context.Context, n *redpack.PaymentNotification) error {
		// … the merchant's own order handling, then:
		_, err := store.Award(ctx, "rules", n, campaign.AwardOptions{})
		return err
	}))
	defer notify.Close()

	paid := time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC)
	for _, fee := range []int64{12000, 5000} { // ¥120 qualifies, ¥50 does not
		if _, err := srv.Pay(redpacktest.PaymentRequest{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", TotalFee: fee, TimeEnd: paid, NotifyURL: notify.URL}); err != nil {
			log.Fatal(err)
		}
	}
	if err := srv.WaitDeliveries(ctx); err != nil {
		log.Fatal(err)
	}

	cfg, err := srv.Config(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	t, err := store.Run(ctx, "rules", campaign.RunConfig{
		Merchant:      cfg,
		ClientOptions: []redpack.Option{redpack.WithBaseURL(srv.URL()), redpack.WithRootCAs(srv.CertPool())},
	})
	if err != nil {
		log.Fatal(err)
	}
	st, err := store.RuleStatus(ctx, "rules")
	if err != nil {
		log.Fatal(err)
	}
	r := st.Rules[0]
	fmt.Printf("payments %d, packets paid %d (%d fen), skipped %v, budget left %d\n", st.Payments, t.Paid, t.AmountPaid, r.Skipped, r.Left)
	// Output:
	// payments 2, packets paid 1 (500 fen), skipped map[min_fee:1], budget left 74500
}

// NotifyHandler in front of the merchant's notify_url, as "redpack rules
// serve" runs it: it journals each award before answering WeChat, and
// applies refund notifications; a refund within the hold cancels the
// award. Awards lists what became of each payment.
func ExampleStore_NotifyHandler() {
	ctx := context.Background()
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "rules-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := campaign.Open(ctx, filepath.Join(dir, "campaigns.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	set, err := campaign.ParseRules(strings.NewReader(`{"rules": [{"name": "spend100", "appid": "wx8888888888888888",
	  "from": "2026-12-01T00:00:00+08:00", "min_fee": 10000, "amount": 500, "budget": 75000,
	  "send_name": "天虹百货", "wishing": "满100送5元", "act_name": "满额送", "remark": "感谢惠顾"}]}`))
	if err != nil {
		log.Fatal(err)
	}
	if err := store.DefineRules(ctx, "rules", set, redpacktest.DefaultMchID); err != nil {
		log.Fatal(err)
	}
	client, err := srv.Client(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	h, err := store.NotifyHandler("rules", campaign.NotifyConfig{Client: client, Award: campaign.AwardOptions{Hold: time.Second}})
	if err != nil {
		log.Fatal(err)
	}
	notify := httptest.NewServer(h)
	defer notify.Close()

	paid := time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC)
	kept, _ := srv.Pay(redpacktest.PaymentRequest{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", TotalFee: 10000, TimeEnd: paid, NotifyURL: notify.URL + "/notify"})
	returned, _ := srv.Pay(redpacktest.PaymentRequest{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6p", TotalFee: 10000, TimeEnd: paid, NotifyURL: notify.URL + "/notify"})
	_ = srv.WaitDeliveries(ctx)
	_, _ = srv.Refund(returned.TransactionID, redpacktest.RefundRequest{NotifyURL: notify.URL + "/refund"})
	_ = srv.WaitDeliveries(ctx)

	cfg, _ := srv.Config(redpacktest.DefaultMchID)
	if _, err := store.Run(ctx, "rules", campaign.RunConfig{
		Merchant:      cfg,
		ClientOptions: []redpack.Option{redpack.WithBaseURL(srv.URL()), redpack.WithRootCAs(srv.CertPool())},
	}); err != nil {
		log.Fatal(err)
	}
	_ = store.Awards(ctx, "rules", func(a campaign.AwardRow) error {
		fmt.Println("kept", a.TransactionID == kept.TransactionID, "→", strings.TrimSpace(a.State+" "+a.Outcome))
		return nil
	})
	// Unordered output:
	// kept true → queued paid
	// kept false → cancelled
}

// Money as the command and the dashboard show it.
func ExampleCNY() {
	for _, fen := range []int64{0, 5, 1000, 123456789, -250} {
		fmt.Println(campaign.CNY(fen))
	}
	// Output:
	// ¥0.00
	// ¥0.05
	// ¥10.00
	// ¥1,234,567.89
	// -¥2.50
}

// CheckRuleSet tells a rule set from a campaign of a file, or a misspelt
// name, before anything is written: here, before an awards export's file
// is created.
func ExampleStore_CheckRuleSet() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "rules-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := campaign.Open(ctx, filepath.Join(dir, "campaigns.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	rules := campaign.RuleSet{Rules: []campaign.Rule{{
		Name: "spend100", AppID: redpacktest.DefaultAppID, From: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		MinFee: 10000, Amount: 500, Budget: 75000,
		SendName: "天虹百货", Wishing: "满100送5元", ActName: "满额送", Remark: "感谢惠顾",
	}}}
	if err := store.DefineRules(ctx, "rules", &rules, redpacktest.DefaultMchID); err != nil {
		log.Fatal(err)
	}
	fmt.Println(store.CheckRuleSet(ctx, "rules"))
	fmt.Println(store.CheckRuleSet(ctx, "rulez"))
	f, err := os.Create(filepath.Join(dir, "awards.csv"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fmt.Println(store.WriteAwards(ctx, "rules", "csv", f, campaign.ReportOptions{}))
	// Output:
	// <nil>
	// no campaign "rulez"; did you mean "rules"?
	// <nil>
}
