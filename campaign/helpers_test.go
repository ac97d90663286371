package campaign

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redpack-go/redpack"
	"github.com/redpack-go/redpack/internal/testpg"
	"github.com/redpack-go/redpack/redpacktest"
)

// postgresDSN returns the test server's DSN (see internal/testpg).
func postgresDSN(tb testing.TB) string { return testpg.DSN(tb) }

// freshPostgres returns a DSN whose search_path is a new, empty schema.
func freshPostgres(tb testing.TB) string { return testpg.Fresh(tb) }

// dbKinds are the databases every engine test runs on.
var dbKinds = []string{"sqlite", "postgres"}

// newDSN returns a DSN of an empty database of the kind.
func newDSN(tb testing.TB, kind string) string {
	tb.Helper()
	if kind == "postgres" {
		return freshPostgres(tb)
	}
	return filepath.Join(tb.TempDir(), "campaigns.db")
}

func openStore(tb testing.TB, dsn string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), dsn)
	require.NoError(tb, err)
	tb.Cleanup(func() { s.Close() })
	return s
}

// testTemplate is a valid template of 1 CNY packets.
var testTemplate = Template{SendName: "天虹百货", Wishing: "新春快乐", ActName: "新春红包", Remark: "感谢关注", ClientIP: "192.168.0.1", Amount: 100}

// openids returns n distinct openids of WeChat's shape.
func openids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("oUpF8uMuAJO_M2pxb1Q9z%07d", i)
	}
	return out
}

func rowsOf(ids []string, amount int64) []Row {
	rows := make([]Row, len(ids))
	for i, id := range ids {
		rows[i] = Row{Row: int64(i + 1), Line: int64(i + 1), OpenID: id, Amount: amount}
	}
	return rows
}

func create(tb testing.TB, s *Store, name string, rows []Row) {
	tb.Helper()
	_, err := s.Create(context.Background(), Spec{Name: name, Template: testTemplate, Source: "test"}, rows)
	require.NoError(tb, err)
}

// runConfig is a run against srv with short timeouts, so that tests of
// unknown outcomes and crashes take seconds.
func runConfig(tb testing.TB, srv *redpacktest.Server) RunConfig {
	tb.Helper()
	cfg, err := srv.Config(redpacktest.DefaultMchID)
	require.NoError(tb, err)
	return RunConfig{
		Merchant:       cfg,
		ClientOptions:  []redpack.Option{redpack.WithBaseURL(srv.URL()), redpack.WithRootCAs(srv.CertPool())},
		Rate:           25,
		Workers:        4,
		AttemptTimeout: time.Second,
		MaxAttempts:    2,
		SettleTries:    8,
		SettleBackoff:  100 * time.Millisecond,
	}
}

func report(tb testing.TB, s *Store, name string) []ReportRow {
	tb.Helper()
	var out []ReportRow
	require.NoError(tb, s.Report(context.Background(), name, func(r ReportRow) error {
		out = append(out, r)
		return nil
	}))
	return out
}

// assertMatchesLedger checks the report against the fake's ledger, row
// by row: a paid row is one paid packet under its bill number, for its
// openid and amount, with the same send_listid; a not-paid row has no paid
// packet; and no openid was paid more often than it has paid rows.
func assertMatchesLedger(tb testing.TB, srv *redpacktest.Server, rows []ReportRow) {
	tb.Helper()
	paidPerOpenID := map[string]int{}
	for _, p := range srv.Packets() {
		if p.Paid {
			paidPerOpenID[p.ReOpenID]++
		}
	}
	rowsPaidPerOpenID := map[string]int{}
	for _, r := range rows {
		p, ok := srv.Packet(redpacktest.DefaultMchID, r.BillNo)
		switch r.Outcome {
		case OutcomePaid:
			rowsPaidPerOpenID[r.OpenID]++
			require.Truef(tb, ok, "row %d paid in the report but not in the ledger", r.Row)
			require.Truef(tb, p.Paid, "row %d paid in the report, %s in the ledger", r.Row, p.Status)
			require.Equal(tb, r.OpenID, p.ReOpenID, "row %d", r.Row)
			require.Equal(tb, r.Amount, p.TotalAmount, "row %d", r.Row)
			require.Equal(tb, p.DetailID, r.SendListID, "row %d send_listid", r.Row)
		case OutcomeNotPaid:
			if ok {
				require.Falsef(tb, p.Paid, "row %d not paid in the report but paid in the ledger", r.Row)
			}
		default:
			tb.Errorf("row %d is %s after the run", r.Row, r.Outcome)
		}
	}
	for id, n := range paidPerOpenID {
		require.Equalf(tb, rowsPaidPerOpenID[id], n, "openid %s paid %d times for %d paid rows", id, n, rowsPaidPerOpenID[id])
	}
}

// sendsOf counts the send requests the fake received for a bill number.
func sendsOf(srv *redpacktest.Server, billNo string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Op == "sendredpack" && r.MchBillNo == billNo {
			n++
		}
	}
	return n
}
