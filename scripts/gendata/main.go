// Command gendata fills an empty database with a large generated twinning
// programme (internal/benchdata) for benchmarks, sweeps and dashboards.
//
//	go run ./scripts/gendata --driver mysql --dsn 'root:@tcp(127.0.0.1:3306)/twinning_bench' --migrate
//	go run ./scripts/gendata --driver sqlite --dsn /tmp/bench.db --migrate --pairs 1000 --activities 50000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/benchdata"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/config"
	"github.com/twinning-platform/twinning/internal/database"
)

func main() {
	var (
		driver     = flag.String("driver", "sqlite", "sqlite | mysql")
		dsn        = flag.String("dsn", "", "SQLite file path, or MySQL DSN such as root:@tcp(127.0.0.1:3306)/twinning_bench")
		migrate    = flag.Bool("migrate", false, "apply the migrations first")
		pairs      = flag.Int("pairs", 10000, "number of pairs (spread evenly over the counties)")
		activities = flag.Int("activities", 500000, "number of activities")
		seed       = flag.Uint64("seed", 1, "random seed: the same seed gives the same rows")
		cities     = flag.Int("cities", 10, "cities in the province")
		counties   = flag.Int("counties", 10, "counties per city")
		password   = flag.String("password", benchdata.DefaultPassword, "every generated user's password")
		batch      = flag.Int("batch", 1000, "rows per INSERT statement")
		txRows     = flag.Int("tx-rows", 20000, "rows per transaction")
	)
	flag.Parse()
	if *dsn == "" {
		fmt.Fprintln(os.Stderr, "gendata: --dsn is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *driver, *dsn, *migrate, benchdata.Options{
		Pairs: *pairs, Activities: *activities, Seed: *seed, Cities: *cities, CountiesPerCity: *counties,
		Password: *password, Batch: *batch, TxRows: *txRows, Log: os.Stdout,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, driver, dsn string, migrate bool, opt benchdata.Options) error {
	// The configuration is read as the service reads it (config/twinning.yaml,
	// TWINNING_* variables) so that the read model is built with the same
	// compliance rules (grace days) the service will read it with.
	env := append(os.Environ(), "TWINNING_DB_DRIVER="+driver, "TWINNING_DB_DSN="+dsn)
	if os.Getenv("TWINNING_SECRET_KEY") == "" {
		env = append(env, "TWINNING_SECRET_KEY=gendata-does-not-issue-tokens-0123456789")
	}
	cfg, err := config.Load("", env)
	if err != nil {
		return err
	}
	db, err := database.Open(database.Options{Driver: driver, DSN: dsn, MaxOpenConns: 4, ConnMaxLifetime: 4 * time.Minute})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Ping(ctx); err != nil {
		return fmt.Errorf("database does not answer: %w", err)
	}
	if migrate {
		t := time.Now()
		applied, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("migrated %v in %s\n", applied, time.Since(t).Round(time.Millisecond))
	}
	// Activities bypass the services that keep the compliance read model
	// in step, so it is rebuilt from them once at the end.
	rules := app.Rules(cfg)
	opt.GraceDays = rules.GraceDays
	opt.Derive = compliance.NewLedger(db, rules).RebuildAll
	opt.Derived = []string{"period_totals"}
	fmt.Printf("generating %d pairs and %d activities on %s (seed %d)\n", opt.Pairs, opt.Activities, driver, opt.Seed)
	res, err := benchdata.Generate(ctx, db, opt)
	if err != nil {
		return err
	}
	fmt.Printf("done in %s\n\nrows:\n", res.Total.Round(time.Millisecond))
	for _, c := range res.Counts {
		fmt.Printf("  %-22s %9d\n", c.Table, c.Rows)
	}
	fmt.Printf("activities by status: confirmed %d, pending %d, disputed %d, withdrawn %d; logged more than %d days after occurring: %d\n",
		res.ByStatus["confirmed"], res.ByStatus["pending"], res.ByStatus["disputed"], res.ByStatus["withdrawn"], res.GraceDays, res.LateLogs)
	fmt.Printf("\nlogins (password %q for every user):\n", res.Password)
	for _, k := range []string{"admin", "province bureau", "city bureau", "county bureau", "coordinator", "principal", "supported principal"} {
		fmt.Printf("  %-20s %s\n", k, res.Logins[k])
	}
	fmt.Println("  bureau of county k of city c: bureau.cCC.kKK@" + benchdata.Domain + "; of city c: bureau.cCC@" + benchdata.Domain)
	return nil
}
