package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/scheduler"
)

// Metrics are the service's own Prometheus metrics (the outbox registers
// its own on the same registry).
type Metrics struct {
	Runs    *prometheus.CounterVec // job runs by job and result
	Notices *prometheus.CounterVec // notices created by kind
}

func newMetrics(reg *prometheus.Registry) (*Metrics, error) {
	m := &Metrics{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "twinning_job_runs_total",
			Help: "Scheduled job runs (sweep, deliver, digest) by result."}, []string{"job", "result"}),
		Notices: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "twinning_notices_total",
			Help: "Notices created by sweeps and digests, by kind."}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.Runs, m.Notices} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(job string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.Runs.WithLabelValues(job, result).Inc()
}

func (m *Metrics) count(res notify.Result) {
	for k, n := range res.Notices {
		m.Notices.WithLabelValues(k).Add(float64(n))
	}
}

// Today is the programme's local date at now.
func (a *App) Today(now time.Time) date.Date { return date.Of(now, a.Config.Location) }

// Check runs one compliance sweep as of at and, unless dry, records it as a
// completed sweep and delivers what is queued. It is `twinning check`.
func (a *App) Check(ctx context.Context, at date.Date, now time.Time, dry bool) (notify.Result, error) {
	res, err := a.Sweeper.Sweep(ctx, at, now, dry)
	if err != nil || dry {
		if !dry {
			a.Metrics.count(res) // the parts that committed
		}
		return res, err
	}
	if _, err := a.Circulars.Sweep(ctx, at, now); err != nil {
		return res, err
	}
	a.Metrics.count(res)
	if err := scheduler.RecordManual(ctx, a.DB, "sweep", at, now); err != nil {
		return res, err
	}
	return res, a.deliver(ctx, now)
}

// deliver sends what is due: mail, then robot posts.
func (a *App) deliver(ctx context.Context, now time.Time) error {
	if _, err := a.Deliverer.DeliverDue(ctx, now); err != nil {
		return err
	}
	_, err := a.Robots.DeliverDue(ctx, now)
	return err
}

// Scheduler builds the scheduler with the jobs of the configuration.
func (a *App) Scheduler() (*scheduler.Scheduler, error) {
	s := scheduler.New(a.DB, a.Config.Location, a.Log, time.Now, a.Metrics.observe)
	s.SetClaimLease(a.Config.Schedule.ClaimLease.Duration)
	jobs := []scheduler.Job{
		{Name: "sweep", Spec: a.Config.Schedule.Sweep, CatchUp: true, Run: func(ctx context.Context, now time.Time) error {
			res, err := a.Sweeper.Sweep(ctx, a.Today(now), now, false)
			// committed notices only: all of them, or on an error those
			// of the parts that committed (Sweeper.writeParts)
			a.Metrics.count(res)
			if err == nil {
				// rectification reminders and escalations, the same day
				_, err = a.Circulars.Sweep(ctx, a.Today(now), now)
			}
			if err == nil {
				// deliver at once rather than at the next minute
				err = a.deliver(ctx, now)
			}
			if err == nil {
				err = scheduler.Prune(ctx, a.DB, "deliver", now.AddDate(0, 0, -7))
			}
			return err
		}},
		{Name: "deliver", Spec: a.Config.Schedule.Deliver, Run: a.deliver},
		// staged uploads no form claimed within a day: rows, then files
		{Name: "uploads", Spec: a.Config.Schedule.Uploads, CatchUp: true, Run: func(ctx context.Context, now time.Time) error {
			_, err := a.Activities.CleanStaged(ctx, now)
			return err
		}},
		{Name: "digest", Spec: a.Config.Schedule.Digest, CatchUp: true, Run: func(ctx context.Context, now time.Time) error {
			res, err := a.Sweeper.Digest(ctx, a.Today(now), now, false)
			if err == nil {
				a.Metrics.count(res) // committed notices only
			}
			return err
		}},
	}
	for _, j := range jobs {
		if err := s.Add(j); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// DeliverOnWake sends queued mail whenever Wake is signalled (an
// invitation or reset link was committed), until ctx ends. It runs beside
// the scheduler in `twinning serve`; like a scheduler tick it takes the
// time at the top and hands it down.
func (a *App) DeliverOnWake(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.Wake.C():
			if _, err := a.Deliverer.DeliverDue(ctx, a.Now()); err != nil && ctx.Err() == nil {
				a.Log.Warn("immediate delivery failed; the scheduled tick retries", "err", err)
			}
		}
	}
}
