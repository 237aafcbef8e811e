// Command benchsweep measures, on a database filled by scripts/gendata, the
// costs issue 3 sets targets for:
//
//   - streaming every counted activity row once to the client (the floor
//     any full recompute pays), against Ledger.RebuildAll, the full
//     recompute of the compliance read model;
//   - the daily sweep as of several dates (so with more or less history
//     behind it), each after a completed sweep the day before, and a first
//     sweep with no previous one; with the SQL statements each sends.
//
// Sweeps run with dry-run (rolled back), so the data set is unchanged.
//
//	go run ./scripts/benchsweep --driver mysql --dsn 'root:@tcp(127.0.0.1:3306)/twinning_bench'
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/config"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
)

func main() {
	driver := flag.String("driver", "mysql", "sqlite | mysql")
	dsn := flag.String("dsn", "root:@tcp(127.0.0.1:3306)/twinning_bench", "database")
	dates := flag.String("at", "2026-03-16,2026-11-16,2027-06-14", "sweep dates (comma-separated); sweeps write to the sweep tables (notices, outbox...) and clear them again")
	runs := flag.Int("runs", 3, "runs per measurement (the best and the median are printed)")
	skipRebuild := flag.Bool("skip-rebuild", false, "do not time the full recompute")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the daily sweeps to this file")
	trace := flag.Bool("trace", false, "print the daily sweeps' SQL statements by total time")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(*driver, *dsn, strings.Split(*dates, ","), *runs, *skipRebuild, *trace); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "benchsweep:", err)
		os.Exit(1)
	}
}

func run(driver, dsn string, dates []string, runs int, skipRebuild, trace bool) error {
	ctx := context.Background()
	db, err := database.Open(database.Options{Driver: driver, DSN: dsn, MaxOpenConns: 4, ConnMaxLifetime: 3 * time.Minute})
	if err != nil {
		return err
	}
	defer db.Close()
	tracing := false
	spent := map[string]*[2]float64{} // statement → count, seconds
	counter := database.WatchQueries(db, func(e database.QueryEvent) {
		if !trace || !tracing {
			return
		}
		k := e.SQL
		if len(k) > 100 {
			k = k[:100]
		}
		if spent[k] == nil {
			spent[k] = &[2]float64{}
		}
		spent[k][0]++
		spent[k][1] += e.Elapsed.Seconds()
	})
	defer printSpent(spent)
	cfg, err := config.Load("", []string{"TWINNING_DATA_DIR=" + os.TempDir() + "/benchsweep", "TWINNING_SECRET_KEY=benchmark-secret-key-of-32-characters!"})
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{DB: db})
	if err != nil {
		return err
	}
	var acts, pairs int64
	db.Gorm().Raw("SELECT COUNT(*) FROM activities").Scan(&acts)
	db.Gorm().Raw("SELECT COUNT(*) FROM pairs").Scan(&pairs)
	fmt.Printf("data set: %d pairs, %d activities (%s)\n\n", pairs, acts, driver)

	if !skipRebuild {
		stream := measure(runs, func() error {
			rows, err := db.Gorm().Table("activities").
				Select("pair_id, category, occurred_on, logged_on, imported, status, hours, persons").
				Where("status IN ?", []string{"confirmed", "pending"}).Rows()
			if err != nil {
				return err
			}
			defer rows.Close()
			n := 0
			var pair int64
			var cat, status string
			var occ, logged date.Date
			var imported bool
			var hours, persons decimal.D // as the recompute scans them
			for rows.Next() {
				if err := rows.Scan(&pair, &cat, &occ, &logged, &imported, &status, &hours, &persons); err != nil {
					return err
				}
				n++
			}
			return rows.Err()
		})
		var totals int
		recompute := measure(runs, func() error {
			t, err := a.Ledger.Recompute(ctx)
			totals = t.Len()
			return err
		})
		rebuild := measure(runs, func() error { return a.Ledger.RebuildAll(ctx) })
		fmt.Printf("stream the counted activity rows once        : best %v, median %v\n", stream.best, stream.median)
		fmt.Printf("full recompute (Ledger.Recompute)            : best %v, median %v -> %d period totals\n", recompute.best, recompute.median, totals)
		fmt.Printf("ratio (best/best)                            : %.2fx  (target: within 1.5x)\n", float64(recompute.best)/float64(stream.best))
		fmt.Printf("rebuild = recompute + replace the read model : best %v, median %v\n\n", rebuild.best, rebuild.median)
	}

	for _, s := range dates {
		if strings.TrimSpace(s) == "" {
			continue
		}
		at, err := date.Parse(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		// Daily operation: the notices of earlier sweeps exist. Start clean,
		// pretend a sweep completed a week before, catch up the day before
		// (committed: this is the cost after a week of downtime), then
		// measure the sweep of the day (dry run, rolled back).
		if err := reset(db); err != nil {
			return err
		}
		if err := markDone(db, at.AddDays(-8)); err != nil {
			return err
		}
		var catchQ int64
		var catchN int
		catch := measure(1, func() error {
			before := counter.Queries()
			res, err := a.Sweeper.Sweep(ctx, at.AddDays(-1), time.Now(), false)
			catchQ, catchN = counter.Queries()-before, len(res.Messages)
			return err
		})
		if err := markDone(db, at.AddDays(-1)); err != nil {
			return err
		}
		var queries int64
		var notices, messages int
		var cpu time.Duration
		tracing = true
		daily := measure(runs, func() error {
			before, beforeSQL := counter.Queries(), counter.Elapsed()
			start := time.Now()
			res, err := a.Sweeper.Sweep(ctx, at, time.Now(), true)
			queries = counter.Queries() - before
			cpu = time.Since(start) - (counter.Elapsed() - beforeSQL)
			notices, messages = 0, len(res.Messages)
			for _, n := range res.Notices {
				notices += n
			}
			return err
		})
		tracing = false
		fmt.Printf("sweep as of %s after a week down (committed): %v, %d statements, %d messages\n", at.AddDays(-1), catch.best, catchQ, catchN)
		fmt.Printf("daily sweep as of %s (since %s): best %v, median %v (%v outside SQL), %d SQL statements, %d new notices / %d messages\n\n",
			at, at.AddDays(-1), daily.best, daily.median, cpu.Round(time.Millisecond), queries, notices, messages)
	}
	if err := reset(db); err != nil {
		return err
	}
	return nil
}

func printSpent(spent map[string]*[2]float64) {
	keys := make([]string, 0, len(spent))
	for k := range spent {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return spent[keys[i]][1] > spent[keys[j]][1] })
	for _, k := range keys {
		fmt.Printf("%7.0f ms %5.0fx  %s\n", spent[k][1]*1000, spent[k][0], k)
	}
}

// reset removes what sweeps wrote (decided_through included), leaving the
// programme itself.
func reset(db *database.DB) error {
	for _, t := range []string{"message_notices", "outbox_messages", "notices", "breaches", "job_runs"} {
		if err := db.Gorm().Exec("DELETE FROM " + t).Error; err != nil {
			return err
		}
	}
	return db.Gorm().Exec("UPDATE agreements SET decided_through = NULL").Error
}

// markDone records a completed sweep as of asOf, as a sweep leaves it: a
// job run, and every agreement decided through asOf.
func markDone(db *database.DB, asOf date.Date) error {
	now := time.Now().UTC()
	if err := db.Gorm().Exec("INSERT INTO job_runs (job, slot, as_of, status, error, started_at, finished_at) VALUES ('sweep', ?, ?, 'done', '', ?, ?)",
		"bench-"+asOf.String(), asOf, now, now).Error; err != nil {
		return err
	}
	return db.Gorm().Exec("UPDATE agreements SET decided_through = ?", asOf).Error
}

type timing struct{ best, median time.Duration }

func measure(runs int, f func() error) timing {
	var ds []time.Duration
	for i := 0; i < runs; i++ {
		start := time.Now()
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		ds = append(ds, time.Since(start))
	}
	for i := range ds {
		for j := i + 1; j < len(ds); j++ {
			if ds[j] < ds[i] {
				ds[i], ds[j] = ds[j], ds[i]
			}
		}
	}
	return timing{best: ds[0], median: ds[len(ds)/2]}
}
