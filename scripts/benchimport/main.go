// Command benchimport measures the onboarding workbook at province scale:
// it writes a workbook with excelize's stream writer (by default 10,000
// pairs, their 12,000 schools, 20,000 users and 10,000 agreements with
// 60,000 commitments), then, on a fresh database, times the check (dry
// run), the import, a second import of the same workbook (which must
// create nothing) and the export, counting SQL statements and sampling the
// heap.
//
//	go run ./scripts/benchimport --driver mysql --dsn 'root:@tcp(127.0.0.1:3306)/twinning_import' --recreate
//	go run ./scripts/benchimport --driver sqlite --dsn /tmp/import.db
package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/xuri/excelize/v2"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/config"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/importer"
)

type sizes struct {
	pairs, perSupporting, commitments int
}

func main() {
	driver := flag.String("driver", "mysql", "sqlite | mysql")
	dsn := flag.String("dsn", "root:@tcp(127.0.0.1:3306)/twinning_import", "database DSN (SQLite: a file path); the database should be empty")
	recreate := flag.Bool("recreate", false, "MySQL: drop and create the database of the DSN first")
	out := flag.String("out", "", "also write the workbook to this file")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the steps to this file")
	var sz sizes
	flag.IntVar(&sz.pairs, "pairs", 10000, "pairs (one agreement each, two users each)")
	flag.IntVar(&sz.perSupporting, "per-supporting", 5, "pairs per supporting school (一对多)")
	flag.IntVar(&sz.commitments, "commitments", 6, "commitments per agreement")
	flag.Parse()
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchimport:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), *driver, *dsn, *recreate, *out, sz); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "benchimport:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, driver, dsn string, recreate bool, out string, sz sizes) error {
	t0 := time.Now()
	var buf bytes.Buffer
	if err := generate(&buf, sz); err != nil {
		return err
	}
	fmt.Printf("workbook: %d pairs, %d schools, %d users, %d agreements, %d commitments: %.1f MiB, written in %s\n",
		sz.pairs, sz.pairs+(sz.pairs+sz.perSupporting-1)/sz.perSupporting, 2*sz.pairs, sz.pairs, sz.pairs*sz.commitments,
		float64(buf.Len())/(1<<20), time.Since(t0).Round(time.Millisecond))
	if out != "" {
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if driver == "mysql" && recreate {
		if err := recreateDB(dsn); err != nil {
			return err
		}
	}
	db, err := database.Open(database.Options{Driver: driver, DSN: dsn, MaxOpenConns: 8, ConnMaxLifetime: 5 * time.Minute})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	// the slowest statements by their SQL shape (the first 90 characters)
	var slowMu sync.Mutex
	slow := map[string]time.Duration{}
	counter := database.WatchQueries(db, func(ev database.QueryEvent) {
		k := ev.SQL
		if len(k) > 90 {
			k = k[:90]
		}
		slowMu.Lock()
		slow[k] += ev.Elapsed
		slowMu.Unlock()
	})
	env := append(os.Environ(), "TWINNING_DB_DRIVER="+driver, "TWINNING_DB_DSN="+dsn, "TWINNING_DATA_DIR="+os.TempDir())
	if os.Getenv("TWINNING_SECRET_KEY") == "" {
		env = append(env, "TWINNING_SECRET_KEY=benchimport-does-not-issue-tokens-0123456789")
	}
	cfg, err := config.Load("", env)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{DB: db, BcryptCost: 4})
	if err != nil {
		return err
	}
	admin := auth.SystemActor()
	fmt.Printf("%-22s %10s %10s %10s %12s %12s  %s\n", "step", "time", "cpu", "statements", "heap peak", "allocated", "result")
	step := func(name string, fn func() (string, error)) error {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		peak := sampler()
		q0 := counter.Queries()
		t, c0 := time.Now(), cpuTime()
		res, err := fn()
		el, cpu := time.Since(t), cpuTime()-c0
		hp := peak()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Printf("%-22s %10s %10s %10d %8.0f MiB %8.0f MiB  %s\n", name, el.Round(time.Millisecond), cpu.Round(time.Millisecond), counter.Queries()-q0,
			float64(hp)/(1<<20), float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), res)
		return nil
	}
	imp := func(dry bool) func() (string, error) {
		return func() (string, error) {
			res, err := a.Importer.Import(ctx, admin, bytes.NewReader(buf.Bytes()), importer.LangZH, dry)
			if f, ok := err.(*importer.Failed); ok {
				return "", fmt.Errorf("%d row errors, first %+v", len(f.Rows), f.Rows[0])
			}
			return fmt.Sprintf("created %+v updated %+v unchanged %+v", res.Created, res.Updated, res.Unchanged), err
		}
	}
	if err := step("check (dry run)", imp(true)); err != nil {
		return err
	}
	if err := step("import", imp(false)); err != nil {
		return err
	}
	if err := step("import again", imp(false)); err != nil {
		return err
	}
	var exported bytes.Buffer
	if err := step("export", func() (string, error) {
		err := a.Importer.Export(ctx, admin, importer.LangZH, &exported)
		return fmt.Sprintf("%.1f MiB", float64(exported.Len())/(1<<20)), err
	}); err != nil {
		return err
	}
	if err := step("import the export", func() (string, error) {
		res, err := a.Importer.Import(ctx, admin, bytes.NewReader(exported.Bytes()), importer.LangZH, false)
		return fmt.Sprintf("created %+v updated %+v", res.Created, res.Updated), err
	}); err != nil {
		return err
	}
	fmt.Printf("peak RSS of the process: %s\n", vmHWM())
	type kv struct {
		k string
		d time.Duration
	}
	var top []kv
	for k, d := range slow {
		top = append(top, kv{k, d})
	}
	sort.Slice(top, func(i, j int) bool { return top[i].d > top[j].d })
	fmt.Println("statements by total time, all steps:")
	for _, e := range top[:min(10, len(top))] {
		fmt.Printf("  %8s  %s\n", e.d.Round(time.Millisecond), strings.Join(strings.Fields(e.k), " "))
	}
	return nil
}

// sampler records the largest heap in use until the returned function is
// called.
func sampler() func() uint64 {
	var mu sync.Mutex
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			mu.Lock()
			peak = max(peak, m.HeapInuse)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak
	}
}

// cpuTime is the process's user and system CPU time: on a shared machine
// it says what a step costs when the wall-clock time does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func vmHWM() string {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "unknown"
}

func recreateDB(dsn string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	name := cfg.DBName
	cfg.DBName = ""
	conn, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Exec("DROP DATABASE IF EXISTS `" + name + "`"); err != nil {
		return err
	}
	_, err = conn.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	return err
}

// generate writes the province workbook: 1 province, 10 cities of 10
// counties, supporting schools with perSupporting pairs each, a supported
// school per pair, a coordinator (supporting side) and a principal
// (supported side) per pair, an agreement per pair.
func generate(w io.Writer, sz sizes) error {
	f := excelize.NewFile()
	defer f.Close()
	sheet := func(name string, first bool, header []any, rows func(emit func([]any) error) error) error {
		if first {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				return err
			}
		} else if _, err := f.NewSheet(name); err != nil {
			return err
		}
		sw, err := f.NewStreamWriter(name)
		if err != nil {
			return err
		}
		n := 1
		if err := sw.SetRow("A1", header); err != nil {
			return err
		}
		if err := rows(func(r []any) error {
			n++
			cell, _ := excelize.CoordinatesToCellName(1, n)
			return sw.SetRow(cell, r)
		}); err != nil {
			return err
		}
		return sw.Flush()
	}
	const cities, counties = 10, 10
	county := func(i int) string { return fmt.Sprintf("第%02d市第%02d县", i/counties%cities+1, i%counties+1) }
	if err := sheet("地区", true, []any{"名称", "级别", "上级地区"}, func(emit func([]any) error) error {
		if err := emit([]any{"湖北省", "省", ""}); err != nil {
			return err
		}
		for c := 0; c < cities; c++ {
			if err := emit([]any{fmt.Sprintf("第%02d市", c+1), "市", "湖北省"}); err != nil {
				return err
			}
			for k := 0; k < counties; k++ {
				if err := emit([]any{county(c*counties + k), "县", fmt.Sprintf("第%02d市", c+1)}); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}
	nSup := (sz.pairs + sz.perSupporting - 1) / sz.perSupporting
	supCode := func(i int) string { return fmt.Sprintf("42%08d", i) }
	sudCode := func(i int) string { return fmt.Sprintf("43%08d", i) }
	stages := []string{"小学", "初中", "高中", "九年一贯制", "幼儿园"}
	if err := sheet("学校", false, []any{"学校名称", "学校代码", "所属地区", "学段", "联系邮箱"}, func(emit func([]any) error) error {
		for i := 0; i < nSup; i++ {
			if err := emit([]any{fmt.Sprintf("支援学校%05d", i), supCode(i), county(i), stages[i%len(stages)], fmt.Sprintf("s%05d@sup.example.cn", i)}); err != nil {
				return err
			}
		}
		for i := 0; i < sz.pairs; i++ {
			if err := emit([]any{fmt.Sprintf("受援学校%05d", i), sudCode(i), county(i * 7), stages[i%len(stages)], ""}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := sheet("用户", false, []any{"姓名", "邮箱", "手机号", "角色", "所属学校", "所属地区"}, func(emit func([]any) error) error {
		for i := 0; i < sz.pairs; i++ {
			if err := emit([]any{fmt.Sprintf("联络员%05d", i), fmt.Sprintf("coord%05d@example.cn", i), fmt.Sprintf("138%08d", i), "联络员", supCode(i / sz.perSupporting), ""}); err != nil {
				return err
			}
			if err := emit([]any{fmt.Sprintf("校长%05d", i), fmt.Sprintf("principal%05d@example.cn", i), "", "校长", sudCode(i), ""}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	if err := sheet("结对", false, []any{"支援学校", "受援学校", "开始日期", "结束日期", "轮次"}, func(emit func([]any) error) error {
		for i := 0; i < sz.pairs; i++ {
			if err := emit([]any{supCode(i / sz.perSupporting), sudCode(i), start, "", "第一轮"}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	cats := []string{"管理交流、实地指导", "示范课", "送教支教", "教师培训、师徒结对", "挂职交流", "学生交流"}
	measures := []string{"次数", "次数", "课时", "次数", "人次", "次数"}
	mins := []any{2, 1, 10.5, 2, 1, 1}
	periods := []string{"每学期", "每月", "每学期", "每学期", "每学年", "协议期内"}
	return func() error {
		if err := sheet("协议指标", false, []any{"支援学校", "受援学校", "协议名称", "签订日期", "生效日期", "截止日期", "活动类别", "计量", "最低要求", "周期", "说明"},
			func(emit func([]any) error) error {
				for i := 0; i < sz.pairs; i++ {
					for c := 0; c < sz.commitments; c++ {
						k := c % len(cats)
						if err := emit([]any{supCode(i / sz.perSupporting), sudCode(i), "2025—2027 帮扶协议", "2025-08-20", start, "2027-08-31",
							cats[k], measures[k], mins[k], periods[k], fmt.Sprintf("指标 %d", c+1)}); err != nil {
							return err
						}
					}
				}
				return nil
			}); err != nil {
			return err
		}
		_, err := f.WriteTo(w)
		return err
	}()
}
