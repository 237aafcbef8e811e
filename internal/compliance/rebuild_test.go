package compliance_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twinning-platform/twinning/internal/benchdata"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// A full rebuild (`twinning rebuild`) never shows a reader an empty or
// half-built read model: readers running all along see the whole model
// (its rows and sums) before, during and after, and no shadow table is
// left behind. Activities confirmed by other transactions while it runs
// are in the read model afterwards: it equals a full recompute.
func TestRebuildNeverShowsAnEmptyModel(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		a := testutil.NewApp(t, db, testutil.NewClock(testutil.At("2027-03-15")))
		if _, err := benchdata.Generate(ctx, db, benchdata.Options{Pairs: 40, Activities: 4000, Cities: 2, CountiesPerCity: 2,
			Derive: a.Ledger.RebuildAll, Derived: []string{"period_totals"}}); err != nil {
			t.Fatal(err)
		}
		type shape struct {
			N         int64
			A, P      string
			HasShadow bool
		}
		read := func() (shape, error) {
			var s shape
			err := db.Gorm().Raw("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(achieved), 0) AS CHAR) AS a, CAST(COALESCE(SUM(pending), 0) AS CHAR) AS p FROM period_totals").Scan(&s).Error
			return s, err
		}
		want, err := read()
		if err != nil || want.N == 0 {
			t.Fatalf("read model: %+v, %v", want, err)
		}

		// readers, while three rebuilds run one after the other
		stop := make(chan struct{})
		var reads atomic.Int64
		var wg sync.WaitGroup
		bad := make(chan string, 8)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					got, err := read()
					reads.Add(1)
					if err != nil || got != want {
						select {
						case bad <- fmt.Sprintf("a reader saw %+v (%v), want %+v", got, err, want):
						default:
						}
					}
				}
			}()
		}
		for range 3 {
			if err := a.Ledger.RebuildAll(ctx); err != nil {
				t.Fatal(err)
			}
		}
		close(stop)
		wg.Wait()
		close(bad)
		for msg := range bad {
			t.Error(msg)
		}
		if reads.Load() < 3 {
			t.Fatalf("only %d reads ran during the rebuilds", reads.Load())
		}
		var shadows int64
		if db.Dialect() == database.MySQL {
			db.Gorm().Raw("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('period_totals_new', 'period_totals_old')").Scan(&shadows)
		}
		if shadows != 0 {
			t.Errorf("%d shadow tables left", shadows)
		}

		// writers during a rebuild: confirm pending activities as their
		// counterpart principals while rebuilds run
		var pend []struct{ ID, UserID int64 }
		if err := db.Gorm().Raw(`SELECT a.id, u.id AS user_id FROM activities a
			JOIN pairs p ON p.id = a.pair_id
			JOIN users u ON u.role = 'principal' AND u.school_id = CASE WHEN a.logged_by_school_id = p.supporting_school_id THEN p.supported_school_id ELSE p.supporting_school_id END
			WHERE a.status = 'pending' ORDER BY a.id LIMIT 60`).Scan(&pend).Error; err != nil {
			t.Fatal(err)
		}
		var confirmed atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, p := range pend {
				actor, err := a.Auth.ActorOf(ctx, p.UserID)
				if err != nil {
					continue
				}
				if _, err := a.Activities.Confirm(ctx, actor, p.ID); err == nil {
					confirmed.Add(1)
				}
			}
		}()
		for range 3 {
			if err := a.Ledger.RebuildAll(ctx); err != nil {
				t.Fatal(err)
			}
		}
		<-done
		if confirmed.Load() == 0 {
			t.Fatal("no activity was confirmed during the rebuilds")
		}
		live := totals(t, db)
		liveStatus := statusDump(t, db, compliance.StatusTable)
		if err := a.Ledger.RebuildAll(ctx); err != nil {
			t.Fatal(err)
		}
		rebuilt := totals(t, db)
		// the status counts are swapped and repaired with the totals
		if got := statusDump(t, db, compliance.StatusTable); got != liveStatus {
			t.Errorf("status counts after the concurrent rebuilds differ from a rebuild from scratch:\n%s\nfrom scratch:\n%s", liveStatus, got)
		}
		if len(live) != len(rebuilt) {
			t.Fatalf("after %d confirmations during rebuilds: %d rows, a rebuild from scratch %d", confirmed.Load(), len(live), len(rebuilt))
		}
		for k, v := range rebuilt {
			if live[k] != v {
				t.Errorf("%s: %v after the concurrent rebuilds, %v from scratch", k, live[k], v)
			}
		}
	})
}
