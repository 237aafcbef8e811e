// Command benchcompliance measures GET /api/v1/compliance as a bureau sees
// it, on a database filled by scripts/gendata: it wires the real app
// (internal/app) over the database, logs bureau users in through the HTTP
// handler, and times requests one at a time, counting the SQL statements
// each one sends. It then repeats a few requests for scopes of growing
// size (county, city, province) to show that the number of statements does
// not grow with the number of pairs.
//
//	go run ./scripts/benchcompliance --driver mysql --dsn 'root:@tcp(127.0.0.1:3306)/twinning_bench'
//	go run ./scripts/benchcompliance --driver sqlite --dsn /tmp/bench.db --requests 50 --explain
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/benchdata"
	"github.com/twinning-platform/twinning/internal/config"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/pairing"
)

type flags struct {
	driver, dsn   string
	requests      int
	level         string
	scopes        int
	at, term      string
	password      string
	scaleLevels   string
	scaleRequests int
	explain       bool
	explainRuns   int
	cpuProfile    string
	transport     string
	label         string
	maxOpen       int
	page          string
}

func main() {
	var f flags
	flag.StringVar(&f.driver, "driver", "mysql", "sqlite | mysql")
	flag.StringVar(&f.dsn, "dsn", "root:@tcp(127.0.0.1:3306)/twinning_bench", "database DSN (SQLite: a file path)")
	flag.IntVar(&f.requests, "requests", 200, "timed requests per variant (default view, and with --term)")
	flag.StringVar(&f.level, "region-level", "county", "the bureaus measured: county | city | province")
	flag.IntVar(&f.scopes, "scopes", 5, "how many different regions of that level to rotate through")
	flag.StringVar(&f.at, "at", "2027-03-15", "the as-of date of every request")
	flag.StringVar(&f.term, "term", "2026-2027-spring", "the term of the second variant (empty: skip it)")
	flag.StringVar(&f.password, "password", benchdata.DefaultPassword, "the bureau users' password")
	flag.StringVar(&f.scaleLevels, "scale-levels", "county,city,province", "scope sizes for the statements-per-request check (empty: skip it)")
	flag.IntVar(&f.scaleRequests, "scale-requests", 5, "requests per scope size in that check")
	flag.BoolVar(&f.explain, "explain", false, "print the plan of every statement of one request (ANALYZE on MariaDB/MySQL, EXPLAIN QUERY PLAN on SQLite) and time each alone")
	flag.IntVar(&f.explainRuns, "explain-runs", 10, "runs per statement when timing them alone")
	flag.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed requests to this file")
	flag.StringVar(&f.transport, "transport", "inproc", "inproc (handler called directly) | tcp (a real loopback listener)")
	flag.StringVar(&f.label, "label", "", "a name for this run in the output")
	flag.IntVar(&f.maxOpen, "max-open-conns", 0, "database pool size (0: the configured default)")
	flag.StringVar(&f.page, "page", "", "measure this web page instead of the API, e.g. dashboard or dashboard/trend (GET /dashboard?term=…, signed in by session cookie; the page is as of today)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, f); err != nil {
		fmt.Fprintln(os.Stderr, "benchcompliance:", err)
		os.Exit(1)
	}
}

// recorder keeps the statements of one request while armed.
type recorder struct {
	mu     sync.Mutex
	armed  bool
	events []database.QueryEvent
}

func (r *recorder) observe(e database.QueryEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.armed {
		e.Vars = slices.Clone(e.Vars)
		r.events = append(r.events, e)
	}
}

func (r *recorder) arm() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.armed, r.events = true, nil
}

func (r *recorder) disarm() []database.QueryEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.armed = false
	return r.events
}

type bench struct {
	f       flags
	db      *database.DB
	app     *app.App
	counter *database.QueryCounter
	rec     *recorder
	client  func(req *http.Request) (int, []byte, error)
}

// scope is one bureau and its region.
type scope struct {
	regionID int64
	name     string
	path     string
	email    string
	token    string
	pairs    int64
}

// sample is one timed request.
type sample struct {
	latency, sql time.Duration
	queries      int64
	bytes        int
	items        int
}

func run(ctx context.Context, f flags) error {
	tmp, err := os.MkdirTemp("", "benchcompliance")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	env := []string{
		"TWINNING_DB_DRIVER=" + f.driver, "TWINNING_DB_DSN=" + f.dsn, "TWINNING_DATA_DIR=" + tmp,
		"TWINNING_SECRET_KEY=benchmark-secret-key-of-at-least-32-characters",
	}
	if f.maxOpen > 0 {
		env = append(env, fmt.Sprintf("TWINNING_DB_MAX_OPEN_CONNS=%d", f.maxOpen))
	}
	cfg, err := config.Load("", env)
	if err != nil {
		return err
	}
	db, err := app.Open(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	b := &bench{f: f, db: db, rec: &recorder{}}
	// Register before the app serves anything: GORM's callback lists are
	// not guarded against registration while statements run.
	b.counter = database.WatchQueries(db, b.rec.observe)
	b.app, err = app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{DB: db, BcryptCost: 4})
	if err != nil {
		return err
	}
	if err := b.checkReadModels(ctx); err != nil {
		return err
	}
	h := b.app.HTTP.Handler()
	switch f.transport {
	case "inproc":
		b.client = func(req *http.Request) (int, []byte, error) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code, rec.Body.Bytes(), nil
		}
	case "tcp":
		srv := httptest.NewServer(h)
		defer srv.Close()
		base, _ := url.Parse(srv.URL)
		cl := srv.Client()
		b.client = func(req *http.Request) (int, []byte, error) {
			req.URL.Scheme, req.URL.Host, req.RequestURI = base.Scheme, base.Host, ""
			resp, err := cl.Do(req)
			if err != nil {
				return 0, nil, err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			return resp.StatusCode, body, err
		}
	default:
		return fmt.Errorf("--transport must be inproc or tcp")
	}

	var counts struct{ Pairs, Activities int64 }
	if err := db.Gorm().WithContext(ctx).Raw("SELECT (SELECT COUNT(*) FROM pairs) AS pairs, (SELECT COUNT(*) FROM activities) AS activities").Scan(&counts).Error; err != nil {
		return err
	}
	fmt.Printf("== %s%s: %d pairs, %d activities; %s; GET /api/v1/compliance?at=%s as %s bureaus\n",
		f.driver, label(f.label), counts.Pairs, counts.Activities, f.transport, f.at, f.level)

	scopes, err := b.scopes(ctx, f.level, f.scopes)
	if err != nil {
		return err
	}
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = fmt.Sprintf("%s (%d pairs)", s.name, s.pairs)
	}
	fmt.Printf("scopes: %s\n", strings.Join(names, ", "))

	variants := []struct{ name, query string }{{"default view", ""}}
	if f.term != "" {
		variants = append(variants, struct{ name, query string }{"term=" + f.term, "&term=" + url.QueryEscape(f.term)})
	}
	// Warm up: one untimed request per scope and variant (pool
	// connections, the server's buffer pool, GORM's schema cache).
	for _, v := range variants {
		for _, s := range scopes {
			if _, err := b.request(ctx, s, v.query); err != nil {
				return err
			}
		}
	}
	stopProfile := func() {}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		stopProfile = func() {
			pprof.StopCPUProfile()
			pf.Close()
			fmt.Printf("CPU profile of the timed requests: %s (go tool pprof -top <binary> %s)\n", f.cpuProfile, f.cpuProfile)
			stopProfile = func() {}
		}
		defer func() { stopProfile() }()
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\trequests\tp50 ms\tp95 ms\tp99 ms\tmax ms\tmean ms\tSQL ms/req\tqueries/req\tbytes/resp\titems/resp\tpairs in scope\t")
	var results []string
	for _, v := range variants {
		var samples []sample
		for i := 0; i < f.requests; i++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s, err := b.request(ctx, scopes[i%len(scopes)], v.query)
			if err != nil {
				return err
			}
			samples = append(samples, s)
		}
		st := summarise(samples)
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.0f\t%.0f\t%s\t\n", v.name, len(samples),
			ms(st.p50), ms(st.p95), ms(st.p99), ms(st.max), ms(st.mean), ms(st.sql), st.queries, st.bytes, st.items, pairRange(scopes))
		// One line per variant for scripts to collect.
		results = append(results, fmt.Sprintf("result\tlabel=%q\tpairs_total=%d\tlevel=%s\tscope_pairs=%s\tvariant=%q\tp50_ms=%.1f\tp95_ms=%.1f\tp99_ms=%.1f\tmax_ms=%.1f\tqueries_per_req=%.2f\tbytes=%.0f",
			f.label, counts.Pairs, f.level, pairRange(scopes), v.name, ms(st.p50), ms(st.p95), ms(st.p99), ms(st.max), st.queries, st.bytes))
	}
	tw.Flush()
	stopProfile()
	defer func() {
		fmt.Println()
		for _, r := range results {
			fmt.Println(r)
		}
	}()

	if f.scaleLevels != "" {
		if err := b.scale(ctx); err != nil {
			return err
		}
	}
	if f.explain {
		if err := b.explainRequest(ctx, scopes[0], variants[0].query); err != nil {
			return err
		}
	}
	return nil
}

func label(l string) string {
	if l == "" {
		return ""
	}
	return " [" + l + "]"
}

// checkReadModels rebuilds the compliance read model when it is empty while
// activities are not: a database generated before gendata derived it, or
// filled by other bulk means, would otherwise report nothing achieved.
func (b *bench) checkReadModels(ctx context.Context) error {
	var n struct{ Totals, Activities int64 }
	if err := b.db.Gorm().WithContext(ctx).Raw("SELECT (SELECT COUNT(*) FROM period_totals) AS totals, (SELECT COUNT(*) FROM activities) AS activities").Scan(&n).Error; err != nil {
		return err
	}
	if n.Totals > 0 || n.Activities == 0 {
		return nil
	}
	fmt.Printf("period_totals is empty while activities has %d rows: rebuilding the read model (Ledger.RebuildAll)...\n", n.Activities)
	t := time.Now()
	if err := b.app.Ledger.RebuildAll(ctx); err != nil {
		return fmt.Errorf("rebuilding the read model: %w", err)
	}
	b.db.Gorm().WithContext(ctx).Raw("SELECT COUNT(*) FROM period_totals").Scan(&n.Totals)
	fmt.Printf("rebuilt %d period_totals rows in %s\n", n.Totals, time.Since(t).Round(time.Millisecond))
	return nil
}

// scopes picks n regions of level spread over the province, with a bureau
// user each, and logs them in.
func (b *bench) scopes(ctx context.Context, level string, n int) ([]scope, error) {
	var rows []struct {
		ID   int64
		Name string
		Path string
	}
	if err := b.db.Gorm().WithContext(ctx).Raw(`SELECT r.id, r.name, r.path FROM regions r
		WHERE r.level = ? AND EXISTS (SELECT 1 FROM users u WHERE u.region_id = r.id AND u.role = 'bureau' AND u.active)
		ORDER BY r.id`, level).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no %s region with a bureau user", level)
	}
	n = max(1, min(n, len(rows)))
	var out []scope
	for i := 0; i < n; i++ {
		r := rows[i*len(rows)/n]
		s := scope{regionID: r.ID, name: r.Name, path: r.Path}
		if err := b.db.Gorm().WithContext(ctx).Raw("SELECT email FROM users WHERE region_id = ? AND role = 'bureau' AND active ORDER BY id LIMIT 1", r.ID).
			Scan(&s.email).Error; err != nil {
			return nil, err
		}
		cond, args := pairing.ScopeSQL(auth.Actor{Role: auth.RoleBureau, RegionPath: r.Path})
		if err := b.db.Gorm().WithContext(ctx).Raw("SELECT COUNT(*) FROM pairs WHERE "+cond, args...).Scan(&s.pairs).Error; err != nil {
			return nil, err
		}
		tok, err := b.login(ctx, s.email)
		if err != nil {
			return nil, err
		}
		s.token = tok
		out = append(out, s)
	}
	return out, nil
}

func (b *bench) login(ctx context.Context, email string) (string, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": b.f.password})
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	code, resp, err := b.client(req)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("login %s: %d %s (is --password right?)", email, code, resp)
	}
	var s struct{ Token string }
	if err := json.Unmarshal(resp, &s); err != nil || s.Token == "" {
		return "", fmt.Errorf("login %s: no token in %s", email, resp)
	}
	return s.Token, nil
}

// request sends one GET /api/v1/compliance and measures it. Requests run
// one at a time, so the counter's difference is this request's.
func (b *bench) request(ctx context.Context, s scope, extra string) (sample, error) {
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/compliance?at="+url.QueryEscape(b.f.at)+extra, nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	if b.f.page != "" {
		// the page takes the same signed token from its session cookie
		req = httptest.NewRequestWithContext(ctx, http.MethodGet, "/"+b.f.page+"?"+strings.TrimPrefix(extra, "&"), nil)
		req.AddCookie(&http.Cookie{Name: "twinning_session", Value: s.token})
	}
	q0, e0 := b.counter.Queries(), b.counter.Elapsed()
	t := time.Now()
	code, body, err := b.client(req)
	lat := time.Since(t)
	if err != nil {
		return sample{}, err
	}
	if code != http.StatusOK {
		return sample{}, fmt.Errorf("GET compliance as %s: %d %s", s.email, code, truncate(body, 500))
	}
	var rep struct{ Items []json.RawMessage }
	if b.f.page != "" {
		// a page, or a fragment of one such as dashboard/trend; not JSON
		if !bytes.Contains(body, []byte("<html")) && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")) {
			return sample{}, fmt.Errorf("GET /%s: not a page: %s", b.f.page, truncate(body, 300))
		}
	} else if err := json.Unmarshal(body, &rep); err != nil {
		return sample{}, fmt.Errorf("GET compliance: %w", err)
	}
	return sample{latency: lat, sql: b.counter.Elapsed() - e0, queries: b.counter.Queries() - q0, bytes: len(body), items: len(rep.Items)}, nil
}

// scale runs a few requests for one bureau of each level.
func (b *bench) scale(ctx context.Context) error {
	fmt.Printf("\nstatements per request by scope size (%d requests each, default view):\n", b.f.scaleRequests)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "level\tregion\tpairs in scope\tqueries/req\tp50 ms\tp95 ms\tmax ms\tSQL ms/req\tbytes/resp\t")
	for _, level := range strings.Split(b.f.scaleLevels, ",") {
		level = strings.TrimSpace(level)
		if level == "" {
			continue
		}
		ss, err := b.scopes(ctx, level, 1)
		if err != nil {
			fmt.Fprintf(tw, "%s\t(none)\t\t\t\t\t\t\t\n", level)
			continue
		}
		s := ss[0]
		var samples []sample
		for i := 0; i < b.f.scaleRequests+1; i++ {
			sm, err := b.request(ctx, s, "")
			if err != nil {
				return err
			}
			if i > 0 { // the first one warms up
				samples = append(samples, sm)
			}
		}
		st := summarise(samples)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t\n", level, s.name, s.pairs, st.queries, ms(st.p50), ms(st.p95), ms(st.max), ms(st.sql), st.bytes)
	}
	return tw.Flush()
}

// explainRequest records the statements of one request, then shows the
// plan of each and times each alone.
func (b *bench) explainRequest(ctx context.Context, s scope, extra string) error {
	b.rec.arm()
	if _, err := b.request(ctx, s, extra); err != nil {
		b.rec.disarm()
		return err
	}
	events := b.rec.disarm()
	fmt.Printf("\nstatements of one request as %s (%d pairs):\n", s.email, s.pairs)
	g := b.db.Gorm().WithContext(ctx)
	sqlDB, err := g.DB()
	if err != nil {
		return err
	}
	for i, e := range events {
		lit := g.Dialector.Explain(e.SQL, e.Vars...)
		fmt.Printf("\n-- [%d] %s, %d rows, %s in the request\n%s\n", i+1, e.Kind, e.Rows, e.Elapsed.Round(10*time.Microsecond), lit)
		if !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(e.SQL)), "SELECT") {
			continue
		}
		// Time the statement alone, its rows read to the end. GORM has
		// already flattened IN-lists into placeholders, so the recorded
		// SQL and values go to database/sql as they are.
		var runs []time.Duration
		for r := 0; r < b.f.explainRuns; r++ {
			t := time.Now()
			rows, err := sqlDB.QueryContext(ctx, e.SQL, e.Vars...)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			runs = append(runs, time.Since(t))
		}
		slices.Sort(runs)
		fmt.Printf("alone: median %.2f ms, min %.2f ms over %d runs\n", ms(runs[len(runs)/2]), ms(runs[0]), len(runs))
		plan := "EXPLAIN QUERY PLAN "
		if b.db.Dialect() == database.MySQL {
			plan = "ANALYZE " // MariaDB: the plan with the rows actually read (r_rows) and time spent (r_total_time_ms)
		}
		if err := printRows(ctx, sqlDB, plan+e.SQL, e.Vars...); err != nil {
			fmt.Printf("(plan unavailable: %v)\n", err)
		}
	}
	return nil
}

func printRows(ctx context.Context, db *sql.DB, q string, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		cells := make([]string, len(cols))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				cells[i] = "NULL"
			case []byte:
				cells[i] = string(x)
			default:
				cells[i] = fmt.Sprint(x)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	return rows.Err()
}

type stats struct {
	p50, p95, p99, max, mean, sql time.Duration
	queries, bytes, items         float64
}

func summarise(ss []sample) stats {
	if len(ss) == 0 {
		return stats{}
	}
	lat := make([]time.Duration, len(ss))
	var st stats
	var sum, sql time.Duration
	for i, s := range ss {
		lat[i] = s.latency
		sum += s.latency
		sql += s.sql
		st.queries += float64(s.queries)
		st.bytes += float64(s.bytes)
		st.items += float64(s.items)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		i := int(p*float64(len(lat))+0.999999) - 1 // nearest rank
		return lat[max(0, min(i, len(lat)-1))]
	}
	n := float64(len(ss))
	st.p50, st.p95, st.p99, st.max = pct(0.50), pct(0.95), pct(0.99), lat[len(lat)-1]
	st.mean, st.sql = sum/time.Duration(len(ss)), sql/time.Duration(len(ss))
	st.queries, st.bytes, st.items = st.queries/n, st.bytes/n, st.items/n
	return st
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pairRange(ss []scope) string {
	lo, hi := ss[0].pairs, ss[0].pairs
	for _, s := range ss {
		lo, hi = min(lo, s.pairs), max(hi, s.pairs)
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
