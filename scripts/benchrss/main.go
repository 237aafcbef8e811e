// Command benchrss measures the resident memory of `twinning serve` after a
// mix of province requests (issue 12: ≤ 150 MB after 1,000 at the default
// GOGC). It starts the given binary on a database filled by scripts/gendata
// with the scheduled jobs switched off (so it never sweeps the benchmark
// data), signs in as the province bureau, and sends the requests in a fixed
// rotation — the dashboard, its trend fragment, pages of GET
// /api/v1/compliance and the CSV and XLSX exports of the province — reading
// every body to the end. It prints VmRSS and VmHWM (the peak) of the server
// process from /proc, idle and after the requests.
//
//	go build -o /tmp/twinning ./cmd/twinning
//	go run ./scripts/benchrss --bin /tmp/twinning --dsn 'root:@tcp(127.0.0.1:3306)/twinning_bench_10k'
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twinning-platform/twinning/internal/benchdata"
	"github.com/twinning-platform/twinning/internal/database"
)

func main() {
	bin := flag.String("bin", "", "the twinning binary (go build -o … ./cmd/twinning)")
	dsn := flag.String("dsn", "root:@tcp(127.0.0.1:3306)/twinning_bench_10k", "MySQL DSN of a generated data set")
	requests := flag.Int("requests", 1000, "requests in all")
	workers := flag.Int("concurrency", 2, "requests in flight at once")
	password := flag.String("password", benchdata.DefaultPassword, "the bureau's password")
	memLimit := flag.String("memory-limit", "", "TWINNING_MEMORY_LIMIT for the server (empty: none)")
	label := flag.String("label", "", "a name for this run in the result line")
	serverLog := flag.String("server-log", "", "write the server's output to this file (with GODEBUG=gctrace=1 in the environment: its heap at every collection)")
	flag.Parse()
	if err := run(*bin, *dsn, *requests, *workers, *password, *memLimit, *label, *serverLog); err != nil {
		fmt.Fprintln(os.Stderr, "benchrss:", err)
		os.Exit(1)
	}
}

func run(bin, dsn string, requests, workers int, password, memLimit, label, logFile string) error {
	if bin == "" {
		return fmt.Errorf("--bin is required")
	}
	ctx := context.Background()
	db, err := database.Open(database.Options{Driver: "mysql", DSN: dsn, MaxOpenConns: 1})
	if err != nil {
		return err
	}
	var email string
	var pairs int64
	err = db.Gorm().Raw(`SELECT u.email FROM users u JOIN regions r ON r.id = u.region_id
		WHERE u.role = 'bureau' AND u.active AND r.level = 'province' ORDER BY u.id LIMIT 1`).Scan(&email).Error
	db.Gorm().Raw("SELECT COUNT(*) FROM pairs").Scan(&pairs)
	db.Close()
	if err != nil || email == "" {
		return fmt.Errorf("no province bureau user in the data set (%v)", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	dataDir, err := os.MkdirTemp("", "benchrss")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	never := "0 0 30 2 *" // February 30th: the jobs never fire nor catch up
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "TWINNING_DB_DRIVER=mysql", "TWINNING_DB_DSN="+dsn, "TWINNING_HTTP_ADDR="+addr,
		"TWINNING_DATA_DIR="+dataDir, "TWINNING_SECRET_KEY=benchmark-secret-key-of-32-characters!",
		"TWINNING_SCHEDULE_SWEEP="+never, "TWINNING_SCHEDULE_DELIVER="+never, "TWINNING_SCHEDULE_DIGEST="+never,
		"TWINNING_MEMORY_LIMIT="+memLimit, "TWINNING_REQUEST_TIMEOUT=120s")
	var serverLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &serverLog, &serverLog
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if logFile != "" {
			_ = os.WriteFile(logFile, serverLog.Bytes(), 0o644)
		}
	}()
	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Minute}
	up := false
	for i := 0; i < 300 && !up; i++ {
		if resp, err := client.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			up = resp.StatusCode == 200
		}
		if !up {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !up {
		return fmt.Errorf("the server did not come up:\n%s", serverLog.String())
	}
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := client.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	var login struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if err != nil || login.Token == "" {
		return fmt.Errorf("login as %s: %d %v", email, resp.StatusCode, err)
	}
	idle, idlePeak := rss(cmd.Process.Pid)

	// one rotation of 20: 8 dashboards, 4 trends, 6 API pages, 2 exports
	rotation := []string{"/dashboard", "/dashboard/trend", "api", "/dashboard", "api", "/dashboard", "/dashboard/trend", "api",
		"/dashboard", "/api/v1/compliance/export.csv", "/dashboard", "api", "/dashboard/trend", "/dashboard", "api",
		"/dashboard", "/dashboard/trend", "api", "/dashboard", "/api/v1/compliance/export.xlsx"}
	pagesOf := max(1, int(pairs)/50)
	var next, failed, bytesRead atomic.Int64
	var firstErr atomic.Value
	kinds := map[string]*atomic.Int64{}
	for _, r := range rotation {
		if kinds[kind(r)] == nil {
			kinds[kind(r)] = &atomic.Int64{}
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= requests {
					return
				}
				path := rotation[i%len(rotation)]
				if path == "api" {
					path = fmt.Sprintf("/api/v1/compliance?limit=50&offset=%d", (i*7919%pagesOf)*50)
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
				if strings.HasPrefix(path, "/api/") {
					req.Header.Set("Authorization", "Bearer "+login.Token)
				} else {
					req.AddCookie(&http.Cookie{Name: "twinning_session", Value: login.Token})
				}
				resp, err := client.Do(req)
				if err == nil {
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					bytesRead.Add(n)
					if resp.StatusCode != 200 {
						err = fmt.Errorf("GET %s: %d", path, resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				kinds[kind(rotation[i%len(rotation)])].Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	after, peak := rss(cmd.Process.Pid)
	var mix []string
	for k, n := range kinds {
		mix = append(mix, fmt.Sprintf("%s %d", k, n.Load()))
	}
	fmt.Printf("twinning serve on %d pairs, %d requests (%s) in %v, concurrency %d, %d failed, %.0f MiB read\n",
		pairs, requests, strings.Join(mix, ", "), took.Round(time.Millisecond), workers, failed.Load(), float64(bytesRead.Load())/(1<<20))
	if e := firstErr.Load(); e != nil {
		fmt.Printf("first failure: %v\n", e)
	}
	fmt.Printf("RSS idle after login %.0f MiB (peak %.0f); after the requests %.0f MiB (peak %.0f); target <= 150 MB\n", idle, idlePeak, after, peak)
	fmt.Printf("result\tkind=rss\tlabel=%s\tpairs=%d\trequests=%d\tfailed=%d\tidle_mib=%.0f\trss_mib=%.0f\tpeak_mib=%.0f\tseconds=%.1f\n",
		label, pairs, requests, failed.Load(), idle, after, peak, took.Seconds())
	if failed.Load() > 0 {
		return fmt.Errorf("%d requests failed", failed.Load())
	}
	return nil
}

func kind(path string) string {
	switch {
	case path == "api":
		return "api pages"
	case strings.HasSuffix(path, ".csv"):
		return "csv"
	case strings.HasSuffix(path, ".xlsx"):
		return "xlsx"
	case strings.HasSuffix(path, "/trend"):
		return "trend"
	}
	return "dashboard"
}

// rss reads VmRSS and VmHWM of pid, in MiB.
func rss(pid int) (cur, peak float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb float64
		if n, _ := fmt.Sscanf(line, "VmRSS: %f kB", &kb); n == 1 {
			cur = kb / 1024
		}
		if n, _ := fmt.Sscanf(line, "VmHWM: %f kB", &kb); n == 1 {
			peak = kb / 1024
		}
	}
	return cur, peak
}
