package redpack_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/redpacktest"
)

var soakSends = flag.Int("soak", 2000, "how many packets TestSoak sends (try 20000 for a long run)")

// TestSoak sends many packets through the retry policy against a fake
// server that injects every fault kind, before and after committing, then
// settles every unknown outcome the safe way and checks the ledger: no bill
// number paid twice, every reported success paid, every reported refusal
// unpaid.
func TestSoak(t *testing.T) {
	m := redpacktest.DefaultMerchant()
	m.Balance = 1 << 40
	m.DailyAmount = 1 << 40
	srv := redpacktest.Start(t, redpacktest.WithMerchants(m), redpacktest.WithRateLimit(0))
	client, err := srv.Client(m.MchID,
		// The default policy's shape (3 attempts, jittered backoff), with
		// short waits so that thousands of sends fit in CI.
		redpack.WithRetryPolicy(redpack.RetryPolicy{MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, AllowFastRetries: true}),
		redpack.WithRateLimit(0, 0),
		redpack.WithHTTPClient(&http.Client{Timeout: 250 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}

	kinds := []redpacktest.FaultKind{
		redpacktest.SystemErrorBeforeCommit, redpacktest.SystemErrorAfterCommit,
		redpacktest.ProcessingBeforeCommit, redpacktest.ProcessingAfterCommit, redpacktest.ProcessingThenFail,
		redpacktest.DropAfterCommit, redpacktest.HTMLGateway, redpacktest.TruncatedBody,
		redpacktest.SlowAfterCommit,
	}
	rng := rand.New(rand.NewPCG(42, uint64(*soakSends)))
	type job struct {
		req    *redpack.SendRedPackRequest
		faults []redpacktest.Fault
	}
	jobs := make([]job, *soakSends)
	for i := range jobs {
		req := &redpack.SendRedPackRequest{
			MchBillNo: fmt.Sprintf("SOAK%024d", i), SendName: "soak", ReOpenID: fmt.Sprintf("oSoak%023d", i),
			TotalAmount: 100 + rng.Int64N(19901), Wishing: "w", ClientIP: "10.0.0.1", ActName: "a", Remark: "r",
		}
		var faults []redpacktest.Fault
		for n := rng.IntN(4); n > 0; n-- { // 0–3 faults: sometimes more than the retries
			k := kinds[rng.IntN(len(kinds))]
			if k == redpacktest.SlowAfterCommit && rng.IntN(10) != 0 {
				k = redpacktest.DropAfterCommit // slow answers cost real time: keep them rare
			}
			faults = append(faults, redpacktest.Fault{Op: "sendredpack", MchBillNo: req.MchBillNo, Kind: k, Delay: delayFor(k)})
		}
		jobs[i] = job{req, faults}
	}
	for _, j := range jobs {
		if len(j.faults) > 0 {
			if err := srv.Inject(j.faults...); err != nil {
				t.Fatal(err)
			}
		}
	}

	const (
		paid = iota + 1
		refused
		unknown
	)
	outcome := make([]int, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				_, err := client.SendRedPack(context.Background(), jobs[i].req)
				outcome[i] = classify(t, err, paid, refused, unknown)
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()

	// Settle every unknown outcome: let PROCESSING packets finish, then
	// re-send the same request until WeChat answers definitely.
	srv.Advance(2 * redpacktest.DefaultHold)
	counts := map[int]int{}
	for i, o := range outcome {
		counts[o]++
		for attempt := 0; o == unknown && attempt < 5; attempt++ {
			_, err := client.SendRedPack(context.Background(), jobs[i].req)
			switch o = classify(t, err, paid, refused, unknown); {
			case o == refused && !errors.Is(err, redpack.CodeSendFailed):
				t.Errorf("%s: settling re-send refused with %v", jobs[i].req.MchBillNo, err)
			}
		}
		if o == unknown {
			t.Errorf("%s: still unknown after settling", jobs[i].req.MchBillNo)
		}
		outcome[i] = o
	}
	t.Logf("%d sends: %d paid, %d refused, %d unknown before settling", len(jobs), counts[paid], counts[refused], counts[unknown])
	if counts[unknown] == 0 || counts[paid] == 0 {
		t.Fatalf("the soak exercised too little: %v", counts)
	}

	final := map[int]int{}
	for _, o := range outcome {
		final[o]++
	}
	t.Logf("after settling: %d paid, %d refused (SEND_FAILED)", final[paid], final[refused])
	if final[refused] == 0 {
		t.Fatal("no packet failed: ProcessingThenFail was not exercised")
	}

	var total int64
	for i, j := range jobs {
		p, ok := srv.Packet(m.MchID, j.req.MchBillNo)
		switch outcome[i] {
		case paid:
			if !ok || !p.Paid || p.TotalAmount != j.req.TotalAmount {
				t.Errorf("%s reported paid, ledger says %+v (found %v)", j.req.MchBillNo, p, ok)
			}
		case refused:
			if ok && p.Paid {
				t.Errorf("%s reported refused, but the ledger shows it paid", j.req.MchBillNo)
			}
		}
		if ok && p.Paid {
			total += p.TotalAmount
		}
	}
	if got := srv.Paid(m.MchID); got != total {
		t.Errorf("the server paid out %d fen, the packets add up to %d: something was paid twice", got, total)
	}
	if n := len(srv.Packets()); n > len(jobs) {
		t.Errorf("%d packets for %d bill numbers", n, len(jobs))
	}
}

func delayFor(k redpacktest.FaultKind) time.Duration {
	if k == redpacktest.SlowAfterCommit {
		return 400 * time.Millisecond // longer than the client's 250 ms timeout
	}
	return 0
}

func classify(t *testing.T, err error, paid, refused, unknown int) int {
	var apiErr *redpack.APIError
	switch {
	case err == nil:
		return paid
	case errors.Is(err, redpack.ErrUnknownOutcome):
		return unknown
	case errors.As(err, &apiErr):
		return refused
	}
	t.Errorf("unexpected error: %v", err)
	return 0
}
