// Command benchsweep measures, on a database filled by scripts/gendata, the
// costs issues 3 and 12 set targets for:
//
//   - streaming every counted activity row once to the client (the floor
//     any full recompute pays) and Ledger.Recompute, the full recompute of
//     the compliance read model, alternating in one run (the ratio is the
//     median of the pairs' ratios); Ledger.RebuildAll (`twinning rebuild`);
//   - the daily sweep as of a reminder day and an ordinary day, each after
//     a completed sweep the day before, with the SQL statements it sends.
//
// Sweeps commit, as the scheduler's do (a rollback costs more than a
// commit), and what each wrote is deleted again by id, so the data set is
// unchanged. Lines starting with "result" are for scripts/bench-scale.sh.
//
//	go run ./scripts/benchsweep --driver mysql --dsn 'root:@tcp(127.0.0.1:3306)/twinning_bench_10k'
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
	"strconv"
	"strings"
	"syscall"
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
	dates := flag.String("at", "2026-11-16,2026-11-18", "sweep dates (comma-separated; by default a reminder day and an ordinary day); sweeps write to the sweep tables (notices, outbox...) and clear them again")
	runs := flag.Int("runs", 5, "runs per measurement (the best and the median are printed; the floor and the recompute alternate this many times)")
	skipRebuild := flag.Bool("skip-rebuild", false, "do not time the full recompute")
	recomputeOnly := flag.Bool("recompute-only", false, "time the floor and the full recompute, not Ledger.RebuildAll")
	recomputeProfile := flag.String("recompute-cpuprofile", "", "write a CPU profile of the full recomputes (not the floor) to this file")
	floorProfile := flag.String("floor-cpuprofile", "", "write a CPU profile of the floor's streams to this file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the first daily sweep to this file")
	memprofile := flag.String("memprofile", "", "write what the first daily sweep allocated to this file (an allocs profile; FILE.base holds the profile before it, for go tool pprof -base)")
	trace := flag.Bool("trace", false, "print the daily sweeps' SQL statements by total time")
	flag.Parse()
	if err := run(*driver, *dsn, strings.Split(*dates, ","), *runs, *skipRebuild, *recomputeOnly, *trace, *cpuprofile, *memprofile, *recomputeProfile, *floorProfile); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "benchsweep:", err)
		os.Exit(1)
	}
}

func run(driver, dsn string, dates []string, runs int, skipRebuild, recomputeOnly, trace bool, cpuprofile, memprofile, recomputeProfile, floorProfile string) error {
	var profile *os.File
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		profile = f
	}
	ctx := context.Background()
	db, err := database.Open(database.Options{Driver: driver, DSN: dsn, MaxOpenConns: 4, ConnMaxLifetime: 3 * time.Minute})
	if err != nil {
		return err
	}
	defer db.Close()
	tracing := false
	spent := map[string]*[3]float64{} // statement → count, seconds, bytes
	counter := database.WatchQueries(db, func(e database.QueryEvent) {
		if !trace || !tracing {
			return
		}
		k := e.SQL
		// a multi-row INSERT's values are written into it: one line for
		// all of a table's
		if i := strings.Index(k, ") VALUES ("); i >= 0 {
			k = k[:i+len(") VALUES")]
		}
		if len(k) > 100 {
			k = k[:100]
		}
		if spent[k] == nil {
			spent[k] = &[3]float64{}
		}
		spent[k][0]++
		spent[k][1] += e.Elapsed.Seconds()
		spent[k][2] += float64(len(e.SQL))
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
		// A/B alternating in one run: the floor (stream the counted rows
		// once, scanned as the recompute scans them) and the recompute,
		// one after the other, runs times, in turn floor first and
		// recompute first; the ratio is the median of the pairs' ratios.
		var streamT, recomputeT []time.Duration
		// CPU spent by this process and by the database server (when it
		// runs on this machine): on a shared machine less noisy than the
		// wall clock
		var streamCPU, recomputeCPU [][2]time.Duration
		server := serverPID()
		var totals int
		// timeCPU times fn and takes the CPU it cost this process and the
		// server
		timeCPU := func(fn func() error) (time.Duration, [2]time.Duration) {
			c0 := cpuNow(server)
			d := timeOne(fn)
			c1 := cpuNow(server)
			return d, [2]time.Duration{c1[0] - c0[0], c1[1] - c0[1]}
		}
		floor := func() error { return stream(db) }
		recompute := func() error {
			t, err := a.Ledger.Recompute(ctx)
			totals = t.Len()
			return err
		}
		for i := 0; i < runs; i++ {
			quiesce(db) // the server's flushing would fall on one of the two
			// the order alternates (floor first, then the recompute first):
			// whichever runs second finds the first one's garbage to collect
			var sd, rd time.Duration
			var sc, rc [2]time.Duration
			if i%2 == 0 {
				sd, sc = timeCPU(floor)
				rd, rc = timeCPU(recompute)
			} else {
				rd, rc = timeCPU(recompute)
				sd, sc = timeCPU(floor)
			}
			streamT, recomputeT = append(streamT, sd), append(recomputeT, rd)
			streamCPU, recomputeCPU = append(streamCPU, sc), append(recomputeCPU, rc)
		}
		// after the timed pairs, the recompute alone and the floor alone
		// run times more under the profiler, each into its own profile
		for _, p := range []struct {
			file string
			run  func() error
		}{
			{recomputeProfile, func() error { _, err := a.Ledger.Recompute(ctx); return err }},
			{floorProfile, func() error { return stream(db) }},
		} {
			if p.file == "" {
				continue
			}
			f, err := os.Create(p.file)
			if err != nil {
				return err
			}
			_ = pprof.StartCPUProfile(f)
			for i := 0; i < runs; i++ {
				timeOne(p.run)
			}
			pprof.StopCPUProfile()
			f.Close()
		}
		ratios := make([]float64, runs)
		for i := range ratios {
			ratios[i] = float64(recomputeT[i]) / float64(streamT[i])
		}
		st, rc := summarize(streamT), summarize(recomputeT)
		pairRatio := medianF(ratios)
		fmt.Printf("stream the counted activity rows once (floor): best %v, median %v\n", st.best, st.median)
		fmt.Printf("full recompute (Ledger.Recompute)            : best %v, median %v -> %d period totals\n", rc.best, rc.median, totals)
		fmt.Printf("ratio, median of %d alternating pairs         : %.2fx  (target: within 1.3x)\n", runs, pairRatio)
		fmt.Printf("result\tkind=recompute\tpairs=%d\tfloor_ms=%d\trecompute_ms=%d\tratio=%.2f\n", pairs, st.median.Milliseconds(), rc.median.Milliseconds(), pairRatio)
		fmt.Printf("ratios of the pairs, in run order: %s\n", fmtRatios(ratios))
		cpuRatios := make([]float64, runs)
		var sc, rcpu, ss, rs []time.Duration
		for i := range cpuRatios {
			cpuRatios[i] = float64(recomputeCPU[i][0]+recomputeCPU[i][1]) / float64(streamCPU[i][0]+streamCPU[i][1])
			sc, rcpu = append(sc, streamCPU[i][0]), append(rcpu, recomputeCPU[i][0])
			ss, rs = append(ss, streamCPU[i][1]), append(rs, recomputeCPU[i][1])
		}
		fmt.Printf("CPU, median per run (this process + database server%s): floor %v + %v, recompute %v + %v; ratio of the sums, median of pairs %.2fx\n",
			map[bool]string{true: "", false: " not found: 0"}[server > 0], summarize(sc).median, summarize(ss).median, summarize(rcpu).median, summarize(rs).median, medianF(cpuRatios))
	}
	if !skipRebuild && !recomputeOnly {
		// the rebuild as `twinning rebuild` runs it (shadow tables, then a
		// swap) alternating with the same in one transaction (DELETE and
		// INSERT: the path a term change takes, and every rebuild before)
		var rb, inTx []time.Duration
		for i := 0; i < max(1, runs/2); i++ {
			rb = append(rb, timeOne(func() error { return a.Ledger.RebuildAll(ctx) }))
			inTx = append(inTx, timeOne(func() error {
				return db.WithTx(ctx, func(ctx context.Context) error { return a.Ledger.RebuildAll(ctx) })
			}))
		}
		r, t := summarize(rb), summarize(inTx)
		fmt.Printf("rebuild (shadow table, then swap)            : best %v, median %v\n", r.best, r.median)
		fmt.Printf("rebuild in one transaction (DELETE, INSERT)  : best %v, median %v\n\n", t.best, t.median)
		fmt.Printf("result\tkind=rebuild-tx\tpairs=%d\tbest_ms=%d\tmedian_ms=%d\n", pairs, t.best.Milliseconds(), t.median.Milliseconds())
		fmt.Printf("result\tkind=rebuild\tpairs=%d\tbest_ms=%d\tmedian_ms=%d\n", pairs, r.best.Milliseconds(), r.median.Milliseconds())
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
		// measure the sweep of the day, committed as the scheduler commits
		// it (a rollback costs more than a commit); what it wrote is
		// deleted again by id after each run.
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
		var ds []time.Duration
		var sweepCPU [][2]time.Duration // this process, the database server
		var waited []time.Duration
		for i := 0; i < runs; i++ {
			waited = append(waited, quiesce(db))
			marks, err := watermarks(db)
			if err != nil {
				return err
			}
			tracing = true
			if profile != nil {
				_ = pprof.StartCPUProfile(profile)
			}
			if memprofile != "" && i == 0 {
				if err := writeAllocs(memprofile + ".base"); err != nil {
					return err
				}
			}
			before, beforeSQL := counter.Queries(), counter.Elapsed()
			c0 := cpuNow(serverPID())
			start := time.Now()
			res, err := a.Sweeper.Sweep(ctx, at, time.Now(), false)
			d := time.Since(start)
			c1 := cpuNow(serverPID())
			sweepCPU = append(sweepCPU, [2]time.Duration{c1[0] - c0[0], c1[1] - c0[1]})
			tracing = false
			if profile != nil {
				pprof.StopCPUProfile()
				profile = nil // the first daily sweep only
			}
			if memprofile != "" && i == 0 {
				if err := writeAllocs(memprofile); err != nil {
					return err
				}
				memprofile = ""
			}
			if err != nil {
				return err
			}
			ds = append(ds, d)
			queries = counter.Queries() - before
			cpu = d - (counter.Elapsed() - beforeSQL)
			notices, messages = 0, len(res.Messages)
			for _, n := range res.Notices {
				notices += n
			}
			if err := undo(db, marks, at.AddDays(-1)); err != nil {
				return err
			}
		}
		daily := summarize(ds)
		fmt.Printf("sweep as of %s after a week down (committed): %v, %d statements, %d messages\n", at.AddDays(-1), catch.best, catchQ, catchN)
		fmt.Printf("daily sweep as of %s (since %s): best %v, median %v (%v outside SQL), %d SQL statements, %d new notices / %d messages\n\n",
			at, at.AddDays(-1), daily.best, daily.median, cpu.Round(time.Millisecond), queries, notices, messages)
		fmt.Printf("runs of the daily sweep, in order: %s (each after the server wrote out its dirty pages: %s)\n", fmtDurations(ds), fmtDurations(waited))
		var pc, sc []time.Duration
		for _, c := range sweepCPU {
			pc, sc = append(pc, c[0]), append(sc, c[1])
		}
		fmt.Printf("CPU per sweep, median: this process %v, database server %v (2 cores: the sweep cannot take less than half their sum)\n",
			summarize(pc).median.Round(time.Millisecond), summarize(sc).median.Round(time.Millisecond))
		fmt.Printf("result\tkind=sweep\tpairs=%d\tat=%s\tbest_ms=%d\tmedian_ms=%d\tstatements=%d\tnotices=%d\tmessages=%d\n",
			pairs, at, daily.best.Milliseconds(), daily.median.Milliseconds(), queries, notices, messages)
	}
	if err := reset(db); err != nil {
		return err
	}
	return nil
}

// stream reads the counted activity rows once, scanned into the types the
// recompute scans them into: the floor of any full recompute.
func stream(db *database.DB) error {
	rows, err := db.Gorm().Table("activities").
		Select("pair_id, category, occurred_on, logged_on, imported, status, hours, persons").
		Where("status IN ?", []string{"confirmed", "pending"}).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	var pair int64
	var cat, status string
	var occ, logged date.Date
	var imported bool
	var hours, persons decimal.D
	for rows.Next() {
		if err := rows.Scan(&pair, &cat, &occ, &logged, &imported, &status, &hours, &persons); err != nil {
			return err
		}
	}
	return rows.Err()
}

// quiesce waits, up to a minute, until the database server has written out
// the pages the setup and the runs before dirtied (the catch-up sweep,
// the undo of each run, the rebuilds before them): a scheduled sweep finds
// the server a day after the last one, not in the middle of flushing its
// writes. It returns how long it waited. On SQLite, or without the right
// to set innodb_max_dirty_pages_pct, it returns at once.
func quiesce(db *database.DB) time.Duration {
	if db.Dialect() != database.MySQL {
		return 0
	}
	start := time.Now()
	var pct float64
	if err := db.Gorm().Raw("SELECT @@innodb_max_dirty_pages_pct").Scan(&pct).Error; err != nil {
		return 0
	}
	if err := db.Gorm().Exec("SET GLOBAL innodb_max_dirty_pages_pct = 0").Error; err != nil {
		return 0
	}
	defer db.Gorm().Exec("SET GLOBAL innodb_max_dirty_pages_pct = ?", pct)
	for time.Since(start) < time.Minute {
		var name string
		var dirty int64
		if err := db.Gorm().Raw("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'").Row().Scan(&name, &dirty); err != nil || dirty < 100 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// and until it is idle: the undo of the previous run deletes some
	// hundred thousand rows, which InnoDB purges in the background after
	// the DELETEs return, as it would have long finished by the next day
	if pid := serverPID(); pid > 0 {
		for time.Since(start) < time.Minute {
			before := cpuNow(pid)[1]
			time.Sleep(500 * time.Millisecond)
			if cpuNow(pid)[1]-before <= 20*time.Millisecond {
				break
			}
		}
	}
	return time.Since(start)
}

// marks are the largest ids of the tables a sweep appends to.
type marks struct{ notices, messages, breaches int64 }

func watermarks(db *database.DB) (marks, error) {
	var m marks
	err := db.Gorm().Raw("SELECT (SELECT COALESCE(MAX(id), 0) FROM notices), (SELECT COALESCE(MAX(id), 0) FROM outbox_messages), (SELECT COALESCE(MAX(id), 0) FROM breaches)").
		Row().Scan(&m.notices, &m.messages, &m.breaches)
	return m, err
}

// undo deletes what a committed sweep appended after m and puts the
// agreements back as decided through decided.
func undo(db *database.DB, m marks, decided date.Date) error {
	for _, q := range []struct {
		sql string
		arg int64
	}{
		{"DELETE FROM message_notices WHERE message_id > ?", m.messages},
		{"DELETE FROM outbox_messages WHERE id > ?", m.messages},
		{"DELETE FROM notices WHERE id > ?", m.notices},
		{"DELETE FROM breaches WHERE id > ?", m.breaches},
	} {
		if err := db.Gorm().Exec(q.sql, q.arg).Error; err != nil {
			return err
		}
	}
	return db.Gorm().Exec("UPDATE agreements SET decided_through = ?", decided).Error
}

func timeOne(f func() error) time.Duration {
	start := time.Now()
	if err := f(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	return time.Since(start)
}

// serverPID is the process id of a MariaDB/MySQL server on this machine
// (the one started first, when test suites start more), 0 when none is
// found.
func serverPID() int {
	ds, _ := os.ReadDir("/proc")
	found, started := 0, uint64(0)
	for _, d := range ds {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + d.Name() + "/comm")
		if c := strings.TrimSpace(string(comm)); c != "mariadbd" && c != "mysqld" {
			continue
		}
		// field 22 of stat: the start time, in clock ticks since boot
		b, _ := os.ReadFile("/proc/" + d.Name() + "/stat")
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 19 {
				t, _ := strconv.ParseUint(f[19], 10, 64)
				if found == 0 || t < started {
					found, started = pid, t
				}
			}
		}
	}
	return found
}

// cpuNow is the CPU time (user + system) used so far by this process and
// by the server process pid (0: none).
func cpuNow(pid int) [2]time.Duration {
	var out [2]time.Duration
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		out[0] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if pid > 0 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err == nil {
			// fields after the command name: utime and stime are 14 and 15
			s := string(b)
			if i := strings.LastIndexByte(s, ')'); i > 0 {
				f := strings.Fields(s[i+1:])
				if len(f) > 13 {
					u, _ := strconv.ParseInt(f[11], 10, 64)
					st, _ := strconv.ParseInt(f[12], 10, 64)
					out[1] = time.Duration(u+st) * (time.Second / 100) // clock ticks (USER_HZ 100)
				}
			}
		}
	}
	return out
}

func fmtRatios(v []float64) string {
	s := make([]string, len(v))
	for i, r := range v {
		s[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(s, " ")
}

func fmtDurations(ds []time.Duration) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond).String()
	}
	return strings.Join(out, " ")
}

func medianF(v []float64) float64 {
	v = append([]float64(nil), v...)
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func printSpent(spent map[string]*[3]float64) {
	keys := make([]string, 0, len(spent))
	for k := range spent {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return spent[keys[i]][1] > spent[keys[j]][1] })
	for _, k := range keys {
		fmt.Printf("%7.0f ms %5.0fx %8.0f kB  %s\n", spent[k][1]*1000, spent[k][0], spent[k][2]/1000, k)
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

func summarize(ds []time.Duration) timing {
	ds = append([]time.Duration(nil), ds...)
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return timing{best: ds[0], median: ds[len(ds)/2]}
}

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

// writeAllocs writes the allocs profile so far (every allocation sampled
// since the start) to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
