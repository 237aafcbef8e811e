package scheduler_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/scheduler"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// A replica killed (kill -9) during the 08:00 sweep leaves its claim
// "running". Within the claim lease nobody touches it (the replica may be
// slow, not dead); past it, the start-up catch-up of another replica takes
// the claim over and runs the sweep — the slot is not treated as done —
// and the row ends "done", one per slot.
func TestCatchUpTakesOverAClaimLeftRunningPastItsLease(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		eight := local("2026-03-04", "08:00")
		// the dead replica's claim
		if err := db.Gorm().Exec(`INSERT INTO job_runs (job, slot, as_of, status, error, started_at, claim_token)
			VALUES ('sweep', '2026-03-04T08:00+08:00', '2026-03-04', 'running', '', ?, 'dead-replica')`, eight.UTC()).Error; err != nil {
			t.Fatal(err)
		}
		clock := testutil.NewClock(eight.Add(10 * time.Minute))
		var body atomic.Int32
		s := scheduler.New(db, testutil.Shanghai(), quiet(), clock.Now, nil)
		s.SetClaimLease(30 * time.Minute)
		if err := s.Add(scheduler.Job{Name: "sweep", Spec: "0 8 * * *", CatchUp: true, Run: func(context.Context, time.Time) error {
			body.Add(1)
			return nil
		}}); err != nil {
			t.Fatal(err)
		}
		s.CatchUp(ctx, clock.Now())
		if body.Load() != 0 {
			t.Fatal("a claim within its lease was taken over")
		}
		clock.Set(eight.Add(31 * time.Minute))
		s.CatchUp(ctx, clock.Now())
		if body.Load() != 1 {
			t.Fatalf("past the lease the sweep ran %d times, want 1", body.Load())
		}
		rs := runs(t, db, "sweep")
		if len(rs) != 1 || rs[0].Status != "done" || rs[0].FinishedAt == nil {
			t.Fatalf("job runs %+v: want the one slot, done", rs)
		}
		// once done, it stays done
		clock.Set(eight.Add(3 * time.Hour))
		s.CatchUp(ctx, clock.Now())
		if body.Load() != 1 {
			t.Fatalf("a done slot ran again")
		}
	})
}

// Two replicas find the same stale claim at once: exactly one takes it
// over (the conditional UPDATE on the dead holder's token).
func TestStaleClaimIsTakenOverByOneReplica(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		eight := local("2026-03-04", "08:00")
		if err := db.Gorm().Exec(`INSERT INTO job_runs (job, slot, as_of, status, error, started_at, claim_token)
			VALUES ('sweep', '2026-03-04T08:00+08:00', '2026-03-04', 'running', '', ?, 'dead-replica')`, eight.UTC()).Error; err != nil {
			t.Fatal(err)
		}
		clock := testutil.NewClock(eight.Add(time.Hour))
		var body atomic.Int32
		job := scheduler.Job{Name: "sweep", Spec: "0 8 * * *", Run: func(context.Context, time.Time) error {
			body.Add(1)
			time.Sleep(20 * time.Millisecond)
			return nil
		}}
		ss := []*scheduler.Scheduler{
			scheduler.New(db, testutil.Shanghai(), quiet(), clock.Now, nil),
			scheduler.New(testutil.SecondHandle(t, db), testutil.Shanghai(), quiet(), clock.Now, nil),
		}
		done := make(chan error, 2)
		for _, s := range ss {
			go func() {
				_, err := s.Fire(context.Background(), job, eight, clock.Now())
				done <- err
			}()
		}
		for range ss {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if body.Load() != 1 {
			t.Fatalf("the job ran %d times, want 1", body.Load())
		}
		if rs := runs(t, db, "sweep"); len(rs) != 1 || rs[0].Status != "done" {
			t.Fatalf("job runs %+v", rs)
		}
	})
}

// A claim of an earlier slot left running by a dead replica is not left
// running forever: the next firing of the job marks it failed (superseded).
func TestNextFiringExpiresOlderStaleClaims(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		minute := local("2026-03-04", "09:00")
		if err := db.Gorm().Exec(`INSERT INTO job_runs (job, slot, as_of, status, error, started_at, claim_token)
			VALUES ('deliver', '2026-03-04T09:00+08:00', '2026-03-04', 'running', '', ?, 'dead-replica')`, minute.UTC()).Error; err != nil {
			t.Fatal(err)
		}
		clock := testutil.NewClock(minute.Add(40 * time.Minute))
		s := scheduler.New(db, testutil.Shanghai(), quiet(), clock.Now, nil)
		job := scheduler.Job{Name: "deliver", Spec: "* * * * *", Run: func(context.Context, time.Time) error { return nil }}
		if ran, err := s.Fire(context.Background(), job, clock.Now(), clock.Now()); !ran || err != nil {
			t.Fatalf("ran %v err %v", ran, err)
		}
		rs := runs(t, db, "deliver")
		if len(rs) != 2 || rs[0].Status != "failed" || rs[1].Status != "done" {
			t.Fatalf("job runs %+v: want the stale one failed, the new one done", rs)
		}
	})
}
