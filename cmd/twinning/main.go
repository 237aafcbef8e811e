// Command twinning is the school-twinning coordination service: the HTTP
// server and scheduler (serve), the deploy step (migrate), account
// creation (user create) and the demo programme (seed --demo).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/config"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/scheduler"
	"github.com/twinning-platform/twinning/internal/search"
	"github.com/twinning-platform/twinning/internal/seed"
)

const usage = `twinning — coordination of school twinning programmes (结对帮扶)

usage:
  twinning serve [--demo]            run the HTTP server (SQLite under ./data by default);
                                     --demo loads the demo programme into an empty database
  twinning migrate                   apply database migrations (the deploy step on MySQL)
  twinning user create --role R --email E --password P --name N [--school ID | --region ID] [--locale zh-CN|en]
  twinning seed --demo               load the demo programme into an empty database
  twinning check [--at YYYY-MM-DD] [--dry-run]
                                     one compliance sweep as of the date (default today), then mail delivery;
                                     --dry-run prints what would be queued and changes nothing
  twinning digest [--at YYYY-MM-DD] [--dry-run]
                                     the weekly bureau digest as of the date
  twinning rebuild                   recompute the compliance read model from the activities
                                     (after changing compliance.grace_days)

every command takes --config FILE (default: config/twinning.yaml when present);
TWINNING_* environment variables override the file (see README.md).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "twinning:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cmd, rest := args[0], args[1:]
	if cmd == "user" {
		if len(rest) == 0 || rest[0] != "create" {
			return errors.New("usage: twinning user create --role R --email E --password P --name N [--school ID | --region ID]")
		}
		cmd, rest = "user create", rest[1:]
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "YAML configuration file")
	var demo *bool
	var role, email, password, name, locale *string
	var schoolID, regionID *int64
	var at *string
	var dry *bool
	switch cmd {
	case "serve", "seed":
		demo = fs.Bool("demo", false, "load the demo programme into an empty database")
	case "migrate", "rebuild":
	case "check", "digest":
		at = fs.String("at", "", "as-of date YYYY-MM-DD (default: today in the programme's time zone)")
		dry = fs.Bool("dry-run", false, "print what would be queued; change nothing")
	case "user create":
		role = fs.String("role", "", "admin | bureau | coordinator | principal")
		email = fs.String("email", "", "login email")
		password = fs.String("password", "", "password (at least 12 characters); empty: mail an invitation (sent by the running service)")
		name = fs.String("name", "", "display name")
		locale = fs.String("locale", "", "zh-CN | en (empty: follow the browser until the person chooses)")
		schoolID = fs.Int64("school", 0, "school id (coordinator, principal)")
		regionID = fs.Int64("region", 0, "region id (bureau)")
	default:
		return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgFile, env)
	if err != nil {
		return err
	}

	switch cmd {
	case "migrate":
		db, err := app.Open(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer db.Close()
		applied, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		filled, err := search.Backfill(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "migrations applied: %v (database is up to date); search text filled for %d rows\n", applied, filled)
		return nil
	case "seed":
		if !*demo {
			return errors.New("usage: twinning seed --demo")
		}
	}

	a, err := app.New(ctx, cfg, log, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()

	switch cmd {
	case "user create":
		in := auth.UserInput{Name: *name, Email: *email, Password: *password, Role: *role, Locale: *locale}
		if *schoolID != 0 {
			in.SchoolID = schoolID
		}
		if *regionID != 0 {
			in.RegionID = regionID
		}
		u, err := a.Auth.CreateUser(ctx, auth.SystemActor(), in)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s user %d <%s>\n", u.Role, u.ID, u.Email)
		return nil
	case "seed":
		return loadDemo(ctx, a, stdout)
	case "check", "digest":
		return sweep(ctx, a, cmd, *at, *dry, stdout)
	case "rebuild":
		start := time.Now()
		if err := a.Ledger.RebuildAll(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "compliance read model rebuilt in %v\n", time.Since(start).Round(time.Millisecond))
		return nil
	case "serve":
		// The default GOGC keeps the heap near twice what is live (issue 12:
		// GOGC=400 held 1 GB after province pages); memory_limit, when set,
		// makes the collector work harder before the heap passes it.
		if lim := cfg.MemoryLimit; lim != "" && os.Getenv("GOMEMLIMIT") == "" {
			if n, err := config.ParseBytes(lim); err == nil {
				debug.SetMemoryLimit(n)
			}
		}
		if *demo {
			if err := loadDemo(ctx, a, stdout); err != nil {
				log.Warn("demo not loaded", "reason", err)
			}
		}
		sched, err := a.Scheduler()
		if err != nil {
			return err
		}
		sched.Start(ctx)
		go a.DeliverOnWake(ctx) // invitation and reset mail leave at commit
		log.Info("serving", "addr", cfg.HTTPAddr, "db", cfg.DB.Driver, "data_dir", cfg.DataDir, "timezone", cfg.Timezone,
			"smtp", cfg.SMTP.Host != "")
		return a.HTTP.Start(ctx, cfg.HTTPAddr)
	}
	return nil
}

func loadDemo(ctx context.Context, a *app.App, out io.Writer) error {
	p, err := seed.Demo()
	if err != nil {
		return err
	}
	// the demo is laid out around today: the current school year and its
	// neighbours, a term and a half of history, recent activities awaiting
	// confirmation, and a sweep as of today (notices queued in the outbox)
	now := time.Now()
	logins, err := seed.LoadAt(ctx, seed.Services{DB: a.DB, Auth: a.Auth, Schools: a.Schools, Terms: a.Terms,
		Pairs: a.Pairs, Activities: a.Activities}, p, seed.Options{Today: a.Today(now), Now: now, Recent: true,
		Sweep: func(ctx context.Context, at date.Date, now time.Time) error {
			res, err := a.Sweeper.Sweep(ctx, at, now, false)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "Laid out around %s; the sweep as of today recorded %d breach(es) and queued %d message(s) (sent by serve).\n",
				at, res.Breaches, len(res.Messages))
			return scheduler.RecordManual(ctx, a.DB, "sweep", at, now)
		}})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "Demo programme loaded. Demo logins — FOR LOCAL TRIAL ONLY, never on a real deployment:")
	for _, l := range logins {
		fmt.Fprintf(out, "  %-12s %-26s %-18s %s\n", l.Role, l.Email, l.Password, l.Name)
	}
	return nil
}

// sweep runs `check` or `digest` and prints who gets what and why.
func sweep(ctx context.Context, a *app.App, cmd, at string, dry bool, out io.Writer) error {
	now := time.Now()
	day := a.Today(now)
	if at != "" {
		d, err := date.Parse(at)
		if err != nil {
			return fmt.Errorf("--at: %v", err)
		}
		day = d
	}
	var res notify.Result
	var err error
	if cmd == "check" {
		res, err = a.Check(ctx, day, now, dry)
	} else {
		res, err = a.Sweeper.Digest(ctx, day, now, dry)
		if err == nil && !dry {
			_, err = a.Deliverer.DeliverDue(ctx, now)
		}
	}
	if err != nil {
		return err
	}
	verb := "queued"
	if dry {
		verb = "would queue (dry run: nothing was written)"
	}
	since := "the beginning"
	if !res.Since.IsZero() {
		since = res.Since.String()
	}
	fmt.Fprintf(out, "%s as of %s (since the sweep of %s): %d new notice(s) %v, %d breach(es) recorded; %s %d message(s)\n",
		cmd, day, since, sum(res.Notices), res.Notices, res.Breaches, verb, len(res.Messages))
	for _, m := range res.Messages {
		fmt.Fprintf(out, "  %-8s pair %-5d to %-30s [%s] %s\n", m.Kind, m.PairID, m.To, m.Locale, m.Subject)
		for _, k := range m.Keys {
			fmt.Fprintf(out, "           because %s\n", k)
		}
	}
	return nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
