package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/scheduler"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// A schedule that never fires ("0 0 30 2 *", used by scripts/benchrss to
// keep jobs off a benchmark database) neither runs nor hangs the start-up
// catch-up: cron's Next gives up on it with a zero time.
func TestNeverFiringScheduleIsSkipped(t *testing.T) {
	db := testutil.SQLite(t)
	clock := testutil.NewClock(local("2026-03-04", "09:00"))
	s := scheduler.New(db, testutil.Shanghai(), quiet(), clock.Now, nil)
	ran := false
	if err := s.Add(scheduler.Job{Name: "sweep", Spec: "0 0 30 2 *", CatchUp: true, Run: func(context.Context, time.Time) error {
		ran = true
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.CatchUp(context.Background(), clock.Now()); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the catch-up of a schedule that never fires did not return")
	}
	if ran {
		t.Error("a schedule that never fires ran")
	}
}
