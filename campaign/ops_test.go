package campaign

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// List counts every campaign's rows by outcome from the journal, and
// shows when a run last started.
func TestList(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, newDSN(t, kind))
			empty, err := s.List(ctx)
			require.NoError(t, err)
			require.Empty(t, empty)

			create(t, s, "spring", rowsOf(openids(5), 100))
			create(t, s, "autumn", rowsOf(openids(2), 250))
			e := s.e.(interface {
				execAny(ctx context.Context, q string, args ...any) error
			})
			require.NoError(t, e.execAny(ctx, `UPDATE redpack_campaign_row SET outcome = 'paid' WHERE campaign = 'spring' AND row_no IN (1, 2)`))
			require.NoError(t, e.execAny(ctx, `UPDATE redpack_campaign_row SET outcome = 'not_paid', err_code = 'NOTENOUGH' WHERE campaign = 'spring' AND row_no = 3`))
			require.NoError(t, e.execAny(ctx, `UPDATE redpack_campaign_row SET outcome = 'unknown' WHERE campaign = 'spring' AND row_no = 4`))
			started := time.Date(2026, 2, 1, 9, 30, 0, 0, chinaTime)
			require.NoError(t, s.e.touchRun(ctx, "spring", started))
			require.ErrorIs(t, s.e.touchRun(ctx, "winter", started), ErrNotFound)

			list, err := s.List(ctx)
			require.NoError(t, err)
			require.Len(t, list, 2)
			a, sp := list[0], list[1]
			require.Equal(t, "autumn", a.Name, "sorted by name")
			require.Equal(t, Summary{Name: "autumn", Source: "test", Rows: 2, Pending: 2, AmountTotal: 500, CreatedAt: a.CreatedAt}, a)
			require.WithinDuration(t, time.Now(), a.CreatedAt, time.Minute)
			require.Equal(t, Summary{Name: "spring", Source: "test", Rows: 5, Paid: 2, NotPaid: 1, Unknown: 1, Pending: 1,
				AmountTotal: 500, AmountPaid: 200, CreatedAt: sp.CreatedAt, LastRunAt: sp.LastRunAt}, sp)
			require.True(t, sp.LastRunAt.Equal(started))

			names, err := s.Names(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"autumn", "spring"}, names)
		})
	}
}

// OpenExisting never creates a database: a missing SQLite file, or a
// PostgreSQL schema without the journal, is ErrNoDatabase, and nothing is
// left behind.
func TestOpenExistingCreatesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "missing.db")
	_, err := OpenExisting(ctx, path)
	require.ErrorIs(t, err, ErrNoDatabase)
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	require.Contains(t, err.Error(), path)
	_, serr := os.Stat(path)
	require.ErrorIs(t, serr, fs.ErrNotExist, "no file was created")

	s := openStore(t, path) // Open creates it
	create(t, s, "spring", rowsOf(openids(1), 100))
	s2, err := OpenExisting(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s2.Close())

	dsn := freshPostgres(t)
	_, err = OpenExisting(ctx, dsn)
	require.ErrorIs(t, err, ErrNoDatabase)
	require.Contains(t, err.Error(), "no campaign journal")
	openStore(t, dsn)
	s3, err := OpenExisting(ctx, dsn)
	require.NoError(t, err)
	require.NoError(t, s3.Close())
}

// A campaign name that is not in the database is a *NotFoundError that
// suggests the closest one.
func TestNotFoundSuggests(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	create(t, s, "spring", rowsOf(openids(1), 100))
	create(t, s, "autumn-2026", rowsOf(openids(1)[:1], 100))
	for name, want := range map[string]string{"sprng": "spring", "spirng": "spring", "autumn": "autumn-2026", "winter": "", "x": ""} {
		_, err := s.Status(ctx, name)
		require.ErrorIs(t, err, ErrNotFound, name)
		var nf *NotFoundError
		require.ErrorAs(t, err, &nf, name)
		require.Equal(t, name, nf.Name)
		require.Equal(t, want, nf.DidYouMean, name)
	}
	_, err := s.Info(ctx, "sprng")
	require.EqualError(t, err, `no campaign "sprng"; did you mean "spring"?`)
	err = s.Report(ctx, "sprng", func(ReportRow) error { return nil })
	require.EqualError(t, err, `no campaign "sprng"; did you mean "spring"?`)
}

// A file another campaign was imported from is refused, naming that
// campaign, unless allowed; two imports of one file at once cannot both
// pass.
func TestCreateRefusesTheSameFile(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, newDSN(t, kind))
			sum := strings.Repeat("ab", 32)
			spec := func(name string) Spec {
				return Spec{Name: name, Template: testTemplate, Source: "f.txt", FileSHA256: sum}
			}
			rows := rowsOf(openids(3), 100)
			_, err := s.Create(ctx, spec("spring"), rows)
			require.NoError(t, err)

			_, err = s.Create(ctx, spec("spring"), rows)
			require.ErrorIs(t, err, ErrExists, "the same name is ErrExists first")
			_, err = s.Create(ctx, spec("spring-again"), rows)
			var sf *SameFileError
			require.ErrorAs(t, err, &sf)
			require.Equal(t, SameFileError{Campaign: "spring", SHA256: sum}, *sf)
			_, err = s.Info(ctx, "spring-again")
			require.ErrorIs(t, err, ErrNotFound, "nothing imported")

			other := Spec{Name: "other", Template: testTemplate, FileSHA256: strings.Repeat("cd", 32)}
			_, err = s.Create(ctx, other, rows)
			require.NoError(t, err, "another file is fine")
			_, err = s.Create(ctx, Spec{Name: "nohash", Template: testTemplate}, rows)
			require.NoError(t, err, "no hash, no check")
			allowed := spec("spring-again")
			allowed.AllowSameFile = true
			_, err = s.Create(ctx, allowed, rows)
			require.NoError(t, err)

			_, err = s.Create(ctx, Spec{Name: "bad", Template: testTemplate, FileSHA256: "ABC"}, rows)
			var in *InputError
			require.ErrorAs(t, err, &in)

			list, err := s.List(ctx)
			require.NoError(t, err)
			require.Equal(t, sum, list[slices.IndexFunc(list, func(s Summary) bool { return s.Name == "spring" })].FileSHA256)

			// Racing imports of one new file: exactly one wins.
			race := strings.Repeat("ef", 32)
			errs := make(chan error, 4)
			for i := range 4 {
				go func() {
					_, err := s.Create(ctx, Spec{Name: fmt.Sprintf("race-%d", i), Template: testTemplate, FileSHA256: race}, rowsOf(openids(50), 100))
					errs <- err
				}()
			}
			ok := 0
			for range 4 {
				if err := <-errs; err == nil {
					ok++
				} else {
					require.ErrorAs(t, err, &sf)
				}
			}
			require.Equal(t, 1, ok)
		})
	}
}

// Reissue chooses rows by number or by what the journal says; a row named
// twice is taken once; refusals are listed in order, as ranges; a dry run
// changes nothing.
func TestReissueSelection(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, newDSN(t, kind))
			create(t, s, "lean", rowsOf(openids(10), 100))
			e := s.e.(interface {
				execAny(ctx context.Context, q string, args ...any) error
			})
			for _, q := range []string{
				`UPDATE redpack_campaign_row SET outcome = 'paid' WHERE row_no IN (1, 2, 3)`,
				`UPDATE redpack_campaign_row SET outcome = 'not_paid', err_code = 'NOTENOUGH' WHERE row_no IN (4, 5)`,
				`UPDATE redpack_campaign_row SET outcome = 'not_paid', status = 'FAILED' WHERE row_no = 6`,
				`UPDATE redpack_campaign_row SET outcome = 'not_paid', err_code = 'SENDNUM_LIMIT' WHERE row_no = 7`,
				`UPDATE redpack_campaign_row SET outcome = 'unknown' WHERE row_no = 8`,
			} {
				require.NoError(t, e.execAny(ctx, q))
			}
			rowsOfRe := func(re []Reissued) []int64 {
				out := []int64{}
				for _, r := range re {
					out = append(out, r.Row)
				}
				return out
			}
			before := report(t, s, "lean")

			re, err := s.ReissueDryRun(ctx, "lean", Selection{NotPaid: true})
			require.NoError(t, err)
			require.Equal(t, []int64{4, 5, 6, 7}, rowsOfRe(re))
			require.Equal(t, before[3].BillNo, re[0].OldBill)
			require.Empty(t, re[0].NewBill)
			re, err = s.ReissueDryRun(ctx, "lean", Selection{ErrCodes: []string{"notenough", "FAILED"}})
			require.NoError(t, err)
			require.Equal(t, []int64{4, 5, 6}, rowsOfRe(re))
			require.Equal(t, before, report(t, s, "lean"), "a dry run changes nothing")

			re, err = s.Reissue(ctx, "lean", Selection{Rows: []int64{4, 4}})
			require.NoError(t, err, "a row named twice is taken once")
			require.Equal(t, []int64{4}, rowsOfRe(re))
			after := report(t, s, "lean")
			require.Equal(t, OutcomePending, after[3].Outcome)
			require.Equal(t, int64(1), after[3].Reissues)

			_, err = s.Reissue(ctx, "lean", Selection{Rows: []int64{11, 9, 5, 1, 2, 3, 8, 10, 12}})
			var nr *NotReissuableError
			require.ErrorAs(t, err, &nr)
			require.EqualError(t, err, "only rows definitely not paid can be reissued: rows 1-3 are paid; row 8 is unknown; rows 9-10 are pending; rows 11-12 do not exist")
			_, err = s.ReissueDryRun(ctx, "lean", Selection{Rows: []int64{8}, NotPaid: true})
			require.EqualError(t, err, "only rows definitely not paid can be reissued: row 8 is unknown", "a dry run refuses alike")
			require.Equal(t, after, report(t, s, "lean"), "a refused reissue changes nothing")

			re, err = s.Reissue(ctx, "lean", Selection{ErrCodes: []string{"NOTENOUGH"}})
			require.NoError(t, err)
			require.Equal(t, []int64{5}, rowsOfRe(re))
			re, err = s.Reissue(ctx, "lean", Selection{NotPaid: true})
			require.NoError(t, err)
			require.Equal(t, []int64{6, 7}, rowsOfRe(re))
			for _, r := range re {
				require.NotEqual(t, r.OldBill, r.NewBill)
				require.Len(t, r.NewBill, 28)
			}
			re, err = s.Reissue(ctx, "lean", Selection{NotPaid: true})
			require.NoError(t, err)
			require.Empty(t, re, "nothing left to choose is not an error")

			_, err = s.Reissue(ctx, "lean", Selection{})
			var in *InputError
			require.ErrorAs(t, err, &in)
			_, err = s.Reissue(ctx, "laen", Selection{NotPaid: true})
			require.EqualError(t, err, `no campaign "laen"; did you mean "lean"?`)
		})
	}
}

func TestCompactRows(t *testing.T) {
	require.Equal(t, "1", compactRows([]int64{1}, 20))
	require.Equal(t, "3-9, 12, 15-16", compactRows([]int64{3, 4, 5, 6, 7, 8, 9, 12, 15, 16}, 20))
	require.Equal(t, "1, 3, … (3 more)", compactRows([]int64{1, 3, 5, 7, 8}, 2))
}
