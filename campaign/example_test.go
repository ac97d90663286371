package campaign_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/campaign"
	"github.com/redpack-go/redpack/redpacktest"
)

// A campaign paid against the fake server, one row refused OPENID_ERROR;
// List shows it, and Reissue chooses the refused row by its err_code,
// first as a dry run.
func ExampleStore_Reissue() {
	ctx := context.Background()
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "campaign-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := campaign.Open(ctx, filepath.Join(dir, "campaigns.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	tmpl := campaign.Template{SendName: "天虹百货", Wishing: "新春快乐", ActName: "新春红包", Remark: "感谢关注", ClientIP: "192.168.0.1", Amount: 100}
	file := "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\noUpF8uMuAJO_M2pxb1Q9zNjWeS6p\noUpF8uMuAJO_M2pxb1Q9zNjWeS6q\n"
	rows, err := campaign.ParseFile(strings.NewReader(file), tmpl, campaign.ParseOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Create(ctx, campaign.Spec{Name: "spring", Template: tmpl, Source: "example"}, rows); err != nil {
		log.Fatal(err)
	}

	// The first packet sent is refused: WeChat does not know the openid.
	_ = srv.Inject(redpacktest.Fault{Op: "sendredpack", Kind: redpacktest.ErrCodeAnswer, ErrCode: "OPENID_ERROR", ErrCodeDes: "openid字段不正确"})
	cfg, err := srv.Config(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Run(ctx, "spring", campaign.RunConfig{
		Merchant:      cfg,
		ClientOptions: []redpack.Option{redpack.WithBaseURL(srv.URL()), redpack.WithRootCAs(srv.CertPool())},
		Workers:       1,
	}); err != nil {
		log.Fatal(err)
	}

	list, err := s.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range list {
		fmt.Printf("%s: %d rows, %d paid, %d not paid\n", c.Name, c.Rows, c.Paid, c.NotPaid)
	}

	sel := campaign.Selection{ErrCodes: []string{"OPENID_ERROR"}}
	would, err := s.ReissueDryRun(ctx, "spring", sel)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("would reissue %d row\n", len(would))
	re, err := s.Reissue(ctx, "spring", sel)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("reissued row %d under a new bill number: %t\n", re[0].Row, re[0].NewBill != re[0].OldBill)
	// Output:
	// spring: 3 rows, 2 paid, 1 not paid
	// would reissue 1 row
	// reissued row 1 under a new bill number: true
}

// A run that the merchant's balance stops: Run returns a *StoppedError
// matching ErrBalanceLow, the rows wait with their bill numbers, nothing
// is reported not paid, and a run after a top-up pays them.
func ExampleStoppedError() {
	ctx := context.Background()
	srv, err := redpacktest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "campaign-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := campaign.Open(ctx, filepath.Join(dir, "campaigns.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	tmpl := campaign.Template{SendName: "天虹百货", Wishing: "新春快乐", ActName: "新春红包", Remark: "感谢关注", ClientIP: "192.168.0.1", Amount: 100}
	file := "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\noUpF8uMuAJO_M2pxb1Q9zNjWeS6p\noUpF8uMuAJO_M2pxb1Q9zNjWeS6q\n"
	rows, err := campaign.ParseFile(strings.NewReader(file), tmpl, campaign.ParseOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Create(ctx, campaign.Spec{Name: "spring", Template: tmpl, Source: "example"}, rows); err != nil {
		log.Fatal(err)
	}
	cfg, err := srv.Config(redpacktest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	run := campaign.RunConfig{
		Merchant:      cfg,
		ClientOptions: []redpack.Option{redpack.WithBaseURL(srv.URL()), redpack.WithRootCAs(srv.CertPool())},
		Workers:       1,
	}

	_ = srv.SetBalance(redpacktest.DefaultMchID, 100) // one packet's worth
	t, err := s.Run(ctx, "spring", run)
	var stopped *campaign.StoppedError
	if errors.As(err, &stopped) && errors.Is(err, campaign.ErrBalanceLow) {
		fmt.Printf("stopped: %s; %d rows wait; paid %d, not paid %d\n", stopped.Advice, stopped.Waiting, t.Paid, t.NotPaid)
	}

	_ = srv.SetBalance(redpacktest.DefaultMchID, 100_000) // the top-up
	t, err = s.Run(ctx, "spring", run)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("paid %d of %d\n", t.Paid, t.Rows)
	// Output:
	// stopped: top up the merchant's operating account (运营账户); 2 rows wait; paid 1, not paid 0
	// paid 3 of 3
}
