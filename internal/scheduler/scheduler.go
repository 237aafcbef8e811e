// Package scheduler runs named jobs on cron schedules from config. Every
// firing first claims its (job, slot) row in job_runs — a unique key — so
// that of N replicas exactly one runs it, and the history tells a service
// that restarts which sweep it missed while down. Jobs get the time of
// their firing; nothing below reads the wall clock.
package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
)

// Job is a named task.
type Job struct {
	Name string
	Spec string // standard 5-field cron, in the scheduler's location
	// CatchUp runs the latest missed firing once at start-up.
	CatchUp bool
	Run     func(ctx context.Context, now time.Time) error
}

// Scheduler wraps robfig/cron.
type Scheduler struct {
	db    *database.DB
	loc   *time.Location
	log   *slog.Logger
	now   func() time.Time
	cron  *cron.Cron
	jobs  []Job
	sched map[string]cron.Schedule
	// OnRun observes every finished run (metrics).
	onRun func(job string, err error)
	lease time.Duration // claim lease (DefaultClaimLease)
}

// New builds a scheduler; now is the wall clock (time.Now) — the only
// place it is read.
func New(db *database.DB, loc *time.Location, log *slog.Logger, now func() time.Time, onRun func(job string, err error)) *Scheduler {
	logger := cronLogger{log}
	return &Scheduler{db: db, loc: loc, log: log, now: now, onRun: onRun, sched: map[string]cron.Schedule{}, lease: DefaultClaimLease,
		cron: cron.New(cron.WithLocation(loc), cron.WithLogger(logger),
			cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))}
}

// Add registers a job; a bad spec is an error naming the job.
func (s *Scheduler) Add(j Job) error {
	sch, err := cron.ParseStandard(j.Spec)
	if err != nil {
		return fmt.Errorf("schedule of job %s (%q): %w", j.Name, j.Spec, err)
	}
	s.sched[j.Name] = sch
	s.jobs = append(s.jobs, j)
	_, err = s.cron.AddFunc(j.Spec, func() {
		now := s.now()
		if _, err := s.Fire(context.Background(), j, prevFiring(sch, now.In(s.loc)), now); err != nil {
			s.log.Error("job failed", "job", j.Name, "err", err)
		}
	})
	return err
}

// Start catches up missed firings, then runs the cron loop until ctx ends.
func (s *Scheduler) Start(ctx context.Context) {
	s.CatchUp(ctx, s.now())
	s.cron.Start()
	go func() {
		<-ctx.Done()
		<-s.cron.Stop().Done() // wait for running jobs
	}()
}

// CatchUp fires, once, the latest scheduled firing of each catch-up job
// that no replica has claimed — e.g. the 08:00 sweep of a service that was
// down at 08:00. A sweep as of today covers everything undecided since the
// last completed one, so one run makes up for any number of missed days.
func (s *Scheduler) CatchUp(ctx context.Context, now time.Time) {
	for _, j := range s.jobs {
		if !j.CatchUp {
			continue
		}
		slot := prevFiring(s.sched[j.Name], now.In(s.loc))
		if slot.IsZero() {
			continue
		}
		if ran, err := s.Fire(ctx, j, slot, now); err != nil {
			s.log.Error("catch-up failed", "job", j.Name, "slot", slot, "err", err)
		} else if ran {
			s.log.Info("caught up a missed run", "job", j.Name, "slot", slot)
		}
	}
}

// DefaultClaimLease is how long a running claim is trusted before another
// replica may take it over; it must exceed the longest job.
const DefaultClaimLease = 30 * time.Minute

// SetClaimLease sets the claim lease (DefaultClaimLease when not positive).
func (s *Scheduler) SetClaimLease(d time.Duration) {
	if d <= 0 {
		d = DefaultClaimLease
	}
	s.lease = d
}

// runRow is a job_runs row.
type runRow struct {
	ID         int64 `gorm:"primaryKey"`
	Job        string
	Slot       string
	AsOf       date.Date
	Status     string
	StartedAt  time.Time
	ClaimToken string
}

// Fire claims (job, slot) and, if this caller won the claim, runs the job
// with now and records how it ended. ran is false when another replica (or
// an earlier run) already holds the slot.
//
// Losing the claim in any way — the unique key, a deadlock or lock wait
// timeout, a Galera certification failure — means "taken by another
// replica": logged as such, not a failed run. A claim still "running" past
// the claim lease belongs to a replica that died (kill -9 during the 08:00
// sweep): it is taken over with a conditional UPDATE and the job runs
// again; jobs are idempotent by their dedupe keys.
func (s *Scheduler) Fire(ctx context.Context, j Job, slot, now time.Time) (ran bool, err error) {
	key := slot.In(s.loc).Format("2006-01-02T15:04Z07:00")
	lease := s.lease
	if lease <= 0 {
		lease = DefaultClaimLease
	}
	s.expireStale(ctx, j.Name, key, now, lease)
	token := newToken()
	run := runRow{Job: j.Name, Slot: key, AsOf: date.Of(slot, s.loc), Status: "running", StartedAt: now.UTC(), ClaimToken: token}
	won, err := s.claim(ctx, &run, now, lease)
	if err != nil {
		if database.Conflict(err) || errors.As(err, new(*database.BusyError)) {
			s.log.Info("slot taken by another replica (claim conflict)", "job", j.Name, "slot", key, "err", err)
			return false, nil
		}
		return false, fmt.Errorf("claiming %s %s: %w", j.Name, key, err)
	}
	if !won {
		return false, nil
	}
	runErr := s.safeRun(ctx, j, now)
	status, msg := "done", ""
	if runErr != nil {
		status, msg = "failed", runErr.Error()
		if len(msg) > 2000 {
			msg = msg[:2000]
		}
	}
	// the outcome is recorded even when ctx ended: a run left "running"
	// would be run again after the lease
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	res := s.db.Conn(rctx).Table("job_runs").Where("id = ? AND claim_token = ?", run.ID, token).
		Updates(map[string]any{"status": status, "error": msg, "finished_at": s.now().UTC()})
	if res.Error != nil {
		return true, errors.Join(runErr, res.Error)
	}
	if res.RowsAffected == 0 {
		s.log.Warn("claim was taken over while the job ran (the run outlasted the claim lease?)", "job", j.Name, "slot", key, "lease", lease)
	}
	if s.onRun != nil {
		s.onRun(j.Name, runErr)
	}
	return true, runErr
}

// claim inserts the (job, slot) row or, when it exists but its holder's
// lease expired while it was running, takes it over. won is false when the
// slot is done or held.
func (s *Scheduler) claim(ctx context.Context, run *runRow, now time.Time, lease time.Duration) (won bool, err error) {
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		won = false
		run.ID = 0
		err := s.db.Conn(ctx).Table("job_runs").Create(run).Error
		if err == nil {
			won = true
			return nil
		}
		if !database.IsDuplicate(err) {
			return err
		}
		return errDuplicate
	})
	if err == nil || !errors.Is(err, errDuplicate) {
		return won, err
	}
	var held runRow
	if err := s.db.Conn(ctx).Table("job_runs").Where("job = ? AND slot = ?", run.Job, run.Slot).Take(&held).Error; err != nil {
		if database.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	if held.Status != "running" || !held.StartedAt.Before(now.Add(-lease)) {
		return false, nil
	}
	res := s.db.Conn(ctx).Table("job_runs").
		Where("id = ? AND status = 'running' AND claim_token = ?", held.ID, held.ClaimToken).
		Updates(map[string]any{"started_at": run.StartedAt, "claim_token": run.ClaimToken, "error": ""})
	if res.Error != nil {
		return false, res.Error
	}
	if res.RowsAffected != 1 {
		return false, nil // another replica took it over first
	}
	s.log.Warn("took over a claim left running past its lease (its replica died?); running the job again",
		"job", run.Job, "slot", run.Slot, "started_at", held.StartedAt, "lease", lease)
	run.ID = held.ID
	return true, nil
}

var errDuplicate = errors.New("scheduler: slot already claimed")

// expireStale marks as failed the claims of job, other than slot, left
// running past the lease: their replica died, and the run of slot (a later
// firing) covers what they would have done. Nothing is left "running"
// forever.
func (s *Scheduler) expireStale(ctx context.Context, job, slot string, now time.Time, lease time.Duration) {
	res := s.db.Conn(ctx).Exec(`UPDATE job_runs SET status = 'failed', error = 'claim lease expired while running (replica died?); superseded by a later firing', finished_at = ?
		WHERE job = ? AND status = 'running' AND started_at < ? AND slot <> ?`, now.UTC(), job, now.Add(-lease).UTC(), slot)
	if res.Error != nil {
		s.log.Warn("expiring stale claims", "job", job, "err", res.Error)
	} else if res.RowsAffected > 0 {
		s.log.Warn("expired claims left running past their lease", "job", job, "n", res.RowsAffected)
	}
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// safeRun turns a panic into an error, so the run is recorded as failed
// (cron.Recover alone would leave it "running").
func (s *Scheduler) safeRun(ctx context.Context, j Job, now time.Time) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return j.Run(ctx, now)
}

// RecordManual records a run made outside the schedule (twinning check),
// so the next sweep knows what was already decided. Two manual runs at the
// same now (a coarse or fake clock) are two records: the slot carries a
// random suffix, so the second is not refused as a duplicate.
func RecordManual(ctx context.Context, db *database.DB, job string, asOf date.Date, now time.Time) error {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return db.Conn(ctx).Table("job_runs").Create(map[string]any{
		"job": job, "slot": "manual-" + now.UTC().Format("20060102T150405.000000000") + "-" + hex.EncodeToString(rnd[:]), "as_of": asOf,
		"status": "done", "started_at": now.UTC(), "finished_at": now.UTC(),
	}).Error
}

// prevFiring is the latest firing time of sch at or before now (zero if
// none within a year).
func prevFiring(sch cron.Schedule, now time.Time) time.Time {
	for back := time.Minute; back <= 400*24*time.Hour; back *= 2 {
		t := sch.Next(now.Add(-back))
		if t.IsZero() {
			// a schedule that never fires ("0 0 30 2 *"): Next gives up
			return t
		}
		if t.After(now) {
			continue
		}
		for {
			next := sch.Next(t)
			if next.IsZero() || next.After(now) {
				return t
			}
			t = next
		}
	}
	return time.Time{}
}

// cronLogger sends cron's logs (including recovered panics) to slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

// Prune deletes finished runs of job started before cutoff: the
// every-minute deliverer would otherwise add 1,440 claims a day. Claims
// only matter while replicas could still fire the same slot.
func Prune(ctx context.Context, db *database.DB, job string, cutoff time.Time) error {
	return db.Conn(ctx).Exec("DELETE FROM job_runs WHERE job = ? AND status <> 'running' AND started_at < ?", job, cutoff.UTC()).Error
}
