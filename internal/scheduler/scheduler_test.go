package scheduler_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/scheduler"
	"github.com/twinning-platform/twinning/internal/testutil"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// local is hh:mm on day in Shanghai.
func local(day, hhmm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hhmm, testutil.Shanghai())
	if err != nil {
		panic(err)
	}
	return t
}

type runRow struct {
	Job, Slot, Status, Error string
	AsOf                     date.Date
	FinishedAt               *time.Time
}

func runs(t *testing.T, db *database.DB, job string) []runRow {
	t.Helper()
	var out []runRow
	if err := db.Gorm().Table("job_runs").Where("job = ?", job).Order("id").Find(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// 10a. Two schedulers (two processes) fire the same (job, slot) at once:
// the body runs exactly once.
func TestFireSameSlotInTwoProcessesRunsOnce(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		clock := testutil.NewClock(local("2026-03-01", "08:00"))
		var body, observed atomic.Int64
		onRun := func(string, error) { observed.Add(1) }
		s := []*scheduler.Scheduler{
			scheduler.New(db, testutil.Shanghai(), quiet(), clock.Now, onRun),
			scheduler.New(testutil.SecondHandle(t, db), testutil.Shanghai(), quiet(), clock.Now, onRun),
		}
		job := scheduler.Job{Name: "sweep", Spec: "0 8 * * *", Run: func(context.Context, time.Time) error {
			body.Add(1)
			return nil
		}}
		const slots = 8
		for i := range slots {
			slot := local("2026-03-01", "08:00").AddDate(0, 0, i)
			var ran [2]bool
			var errs [2]error
			var wg sync.WaitGroup
			start := make(chan struct{})
			for k := range s {
				wg.Go(func() {
					<-start
					ran[k], errs[k] = s[k].Fire(context.Background(), job, slot, slot.Add(time.Second))
				})
			}
			close(start)
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("slot %s: %v / %v", slot, errs[0], errs[1])
			}
			if ran[0] == ran[1] {
				t.Fatalf("slot %s: ran %v, want exactly one", slot, ran)
			}
		}
		if body.Load() != slots || observed.Load() != slots {
			t.Fatalf("the job body ran %d times (observed %d) for %d slots", body.Load(), observed.Load(), slots)
		}
		rs := runs(t, db, "sweep")
		if len(rs) != slots {
			t.Fatalf("%d job_runs rows, want %d", len(rs), slots)
		}
		for _, r := range rs {
			if r.Status != "done" || r.FinishedAt == nil || !strings.HasSuffix(r.Slot, "T08:00+08:00") {
				t.Fatalf("job run %+v", r)
			}
		}
		// firing a slot already run is refused without running
		ran, err := s[0].Fire(context.Background(), job, local("2026-03-01", "08:00"), clock.Now())
		if ran || err != nil || body.Load() != slots {
			t.Fatalf("re-firing a done slot: ran %v, err %v, body %d", ran, err, body.Load())
		}
	})
}

// 10b. A panicking job is recovered and recorded as failed.
func TestPanickingJobIsRecordedAsFailed(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		clock := testutil.NewClock(local("2026-03-01", "08:00"))
		var seen []error
		var mu sync.Mutex
		s := scheduler.New(db, testutil.Shanghai(), quiet(), clock.Now, func(job string, err error) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, err)
		})
		boom := scheduler.Job{Name: "digest", Spec: "0 7 * * 1", Run: func(context.Context, time.Time) error {
			panic("the template fell over")
		}}
		slot := local("2026-03-02", "07:00")
		ran, err := s.Fire(context.Background(), boom, slot, slot)
		if !ran || err == nil || !strings.Contains(err.Error(), "panic: the template fell over") {
			t.Fatalf("Fire of a panicking job: ran %v, err %v", ran, err)
		}
		rs := runs(t, db, "digest")
		if len(rs) != 1 || rs[0].Status != "failed" || !strings.Contains(rs[0].Error, "the template fell over") || rs[0].FinishedAt == nil ||
			rs[0].AsOf.String() != "2026-03-02" {
			t.Fatalf("job run of the panic: %+v", rs)
		}
		if len(seen) != 1 || seen[0] == nil {
			t.Fatalf("onRun saw %v", seen)
		}
		// an error is recorded the same way, and the scheduler goes on
		fail := scheduler.Job{Name: "digest", Spec: "0 7 * * 1", Run: func(context.Context, time.Time) error { return errors.New("smtp down") }}
		if ran, err := s.Fire(context.Background(), fail, slot.AddDate(0, 0, 7), slot.AddDate(0, 0, 7)); !ran || err == nil {
			t.Fatalf("failing job: ran %v, err %v", ran, err)
		}
		ok := scheduler.Job{Name: "digest", Spec: "0 7 * * 1", Run: func(context.Context, time.Time) error { return nil }}
		if ran, err := s.Fire(context.Background(), ok, slot.AddDate(0, 0, 14), slot.AddDate(0, 0, 14)); !ran || err != nil {
			t.Fatalf("healthy job after a panic: ran %v, err %v", ran, err)
		}
		rs = runs(t, db, "digest")
		if len(rs) != 3 || rs[1].Status != "failed" || rs[1].Error != "smtp down" || rs[2].Status != "done" || rs[2].Error != "" {
			t.Fatalf("job runs %+v", rs)
		}
	})
}

// 10c. A service that starts at 10:00 catches up the 08:00 sweep it
// missed, once.
func TestCatchUpRunsTheMissedSweepOnce(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		clock := testutil.NewClock(local("2026-03-04", "10:00"))
		s := scheduler.New(db, testutil.Shanghai(), quiet(), clock.Now, nil)
		var mu sync.Mutex
		got := map[string][]time.Time{}
		record := func(name string) func(context.Context, time.Time) error {
			return func(_ context.Context, now time.Time) error {
				mu.Lock()
				defer mu.Unlock()
				got[name] = append(got[name], now)
				return nil
			}
		}
		for _, j := range []scheduler.Job{
			{Name: "sweep", Spec: "0 8 * * *", CatchUp: true, Run: record("sweep")},
			{Name: "deliver", Spec: "* * * * *", Run: record("deliver")},
			{Name: "digest", Spec: "0 7 * * 1", CatchUp: true, Run: record("digest")}, // Monday 2026-03-02
		} {
			if err := s.Add(j); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Add(scheduler.Job{Name: "bad", Spec: "every day", Run: record("bad")}); err == nil || !strings.Contains(err.Error(), "bad") {
			t.Fatalf("a bad spec: %v", err)
		}

		ten := local("2026-03-04", "10:00")
		s.CatchUp(context.Background(), ten)
		if len(got["sweep"]) != 1 || !got["sweep"][0].Equal(ten) || len(got["digest"]) != 1 || len(got["deliver"]) != 0 {
			t.Fatalf("first catch-up ran %v", got)
		}
		rs := runs(t, db, "sweep")
		if len(rs) != 1 || rs[0].Slot != "2026-03-04T08:00+08:00" || rs[0].AsOf.String() != "2026-03-04" || rs[0].Status != "done" {
			t.Fatalf("sweep runs %+v", rs)
		}
		if rs := runs(t, db, "digest"); len(rs) != 1 || rs[0].Slot != "2026-03-02T07:00+08:00" {
			t.Fatalf("digest runs %+v", rs)
		}

		// a second start, the same day or the next morning before 08:00:
		// nothing was missed since
		s.CatchUp(context.Background(), local("2026-03-04", "10:05"))
		s.CatchUp(context.Background(), local("2026-03-05", "07:59"))
		if len(got["sweep"]) != 1 || len(got["digest"]) != 1 {
			t.Fatalf("later catch-ups ran %v", got)
		}
		// a second process starting at the same time does nothing either
		s2 := scheduler.New(testutil.SecondHandle(t, db), testutil.Shanghai(), quiet(), clock.Now, nil)
		if err := s2.Add(scheduler.Job{Name: "sweep", Spec: "0 8 * * *", CatchUp: true, Run: record("sweep")}); err != nil {
			t.Fatal(err)
		}
		s2.CatchUp(context.Background(), ten)
		if len(got["sweep"]) != 1 {
			t.Fatalf("a second process caught up again: %v", got)
		}
		// after 08:00 the next day, that day's sweep is the missed one
		s.CatchUp(context.Background(), local("2026-03-05", "08:01"))
		if len(got["sweep"]) != 2 || len(runs(t, db, "sweep")) != 2 {
			t.Fatalf("catch-up on 2026-03-05: %v", got)
		}
	})
}

// 10d. A sweep looks back to the last completed sweep: the scheduled one,
// or a `twinning check`, never a failed run nor one as of a later date.
func TestSweepSinceTheLastCompletedSweep(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		clock := testutil.NewClock(local("2026-03-04", "10:00"))
		a := testutil.NewApp(t, db, clock)
		since := func(day string) string {
			t.Helper()
			res, err := a.Sweeper.Sweep(ctx, date.MustParse(day), clock.Now(), true)
			if err != nil {
				t.Fatal(err)
			}
			if res.Since.IsZero() {
				return ""
			}
			return res.Since.String()
		}
		if s := since("2026-03-10"); s != "" {
			t.Fatalf("before any sweep, since = %s", s)
		}
		s, err := a.Scheduler()
		if err != nil {
			t.Fatal(err)
		}
		s.CatchUp(ctx, clock.Now()) // the 08:00 sweep of 2026-03-04, missed
		if rs := runs(t, db, "sweep"); len(rs) != 1 || rs[0].Status != "done" || rs[0].AsOf.String() != "2026-03-04" {
			t.Fatalf("sweep runs %+v", rs)
		}
		if s := since("2026-03-10"); s != "2026-03-04" {
			t.Fatalf("after the sweep of 2026-03-04, since = %q", s)
		}
		failing := scheduler.Job{Name: "sweep", Spec: "0 8 * * *", Run: func(context.Context, time.Time) error { return errors.New("database went away") }}
		if ran, err := s.Fire(ctx, failing, local("2026-03-06", "08:00"), local("2026-03-06", "08:00")); !ran || err == nil {
			t.Fatalf("failing sweep: ran %v, err %v", ran, err)
		}
		if s := since("2026-03-10"); s != "2026-03-04" {
			t.Fatalf("a failed run counted as completed: since = %q", s)
		}
		clock.Set(local("2026-03-08", "09:00"))
		if _, err := a.Check(ctx, date.MustParse("2026-03-08"), clock.Now(), false); err != nil {
			t.Fatal(err)
		}
		if s := since("2026-03-10"); s != "2026-03-08" {
			t.Fatalf("after twinning check as of 2026-03-08, since = %q", s)
		}
		if s := since("2026-03-07"); s != "2026-03-04" {
			t.Fatalf("a sweep as of 2026-03-07 looks back to %q, want 2026-03-04", s)
		}
		// a dry check is no completed sweep
		if _, err := a.Check(ctx, date.MustParse("2026-03-09"), clock.Now(), true); err != nil {
			t.Fatal(err)
		}
		if s := since("2026-03-10"); s != "2026-03-08" {
			t.Fatalf("after a dry check, since = %q", s)
		}
	})
}
