// Package app is the composition root: it opens the database and builds
// every store, service and the HTTP server from one Config. Nothing else
// constructs services, and nothing holds package-level state.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/assessment"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/channel"
	"github.com/twinning-platform/twinning/internal/circular"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/config"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/i18n"
	"github.com/twinning-platform/twinning/internal/importer"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/search"
	"github.com/twinning-platform/twinning/internal/validation"
	"github.com/twinning-platform/twinning/internal/view"
	"github.com/twinning-platform/twinning/internal/web"
	"github.com/twinning-platform/twinning/templates"
)

// App is the wired service.
type App struct {
	Config     *config.Config
	DB         *database.DB
	Log        *slog.Logger
	Now        func() time.Time
	Auth       *auth.Service
	Schools    *school.Service
	Terms      *calendar.Service
	Pairs      *pairing.Service
	Activities *activity.Service
	Compliance *compliance.Reader
	Ledger     *compliance.Ledger
	Outbox     *mail.Outbox
	Deliverer  *mail.Deliverer
	// Wake is signalled after a transaction that queued transactional mail
	// commits; DeliverOnWake sends at once.
	Wake        *mail.Wake
	Sweeper     *notify.Sweeper
	Notices     *notify.Lister
	Importer    *importer.Importer
	Channels    *channel.Service    // group robots (issue 11)
	Robots      *channel.Deliverer  // posts to them
	Circulars   *circular.Service   // circulars and rectifications (issue 11)
	Assessments *assessment.Service // annual assessment (issue 11)
	Metrics     *Metrics
	HTTP        *web.Server
}

// Options tune construction for tests.
type Options struct {
	Now        func() time.Time // default time.Now
	BcryptCost int              // default bcrypt.DefaultCost
	// Argon2 overrides the password hashing cost of the configuration
	// (tests use auth.CheapArgon2).
	Argon2 *auth.Argon2
	DB     *database.DB // use this database instead of opening one
}

// New opens the database (migrating the embedded SQLite automatically) and
// wires everything.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opt Options) (*App, error) {
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	db := opt.DB
	if db == nil {
		var err error
		if db, err = Open(ctx, cfg, true); err != nil {
			return nil, err
		}
		if err := schemaCurrent(ctx, db); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	// search texts of rows written before the column existed (or by bulk
	// paths): one indexed query when there are none
	if _, err := search.Backfill(ctx, db); err != nil {
		return nil, fmt.Errorf("search backfill: %w", err)
	}
	secret, err := secretKey(cfg)
	if err != nil {
		return nil, err
	}
	val := validation.New()
	ledger := compliance.NewLedger(db, Rules(cfg))
	schools := school.NewService(db, val, now).WithStatus(ledger)
	terms := calendar.NewService(db, val, now, ledger.RebuildAll)
	pairs := pairing.NewService(db, val, schools, now, ledger.RebuildPair, ledger)
	files := activity.NewFiles(filepath.Join(cfg.DataDir, "evidence"))
	argon := auth.Argon2{Memory: cfg.Accounts.Argon2Memory, Time: cfg.Accounts.Argon2Time, Threads: cfg.Accounts.Argon2Threads}
	if opt.Argon2 != nil {
		argon = *opt.Argon2
	} else if opt.BcryptCost > 0 && opt.BcryptCost < bcrypt.DefaultCost {
		// callers that asked for cheap bcrypt (tests, benchmark set-up) get
		// cheap argon2 too, the hash of new passwords since issue 8
		argon = auth.CheapArgon2
	}
	wake := mail.NewWake()
	outbox := mail.NewOutbox(db, mailDomain(cfg), 8)
	authSvc, err := auth.NewService(db, val, schools, auth.NewTokens(secret, cfg.TokenTTL.Duration), auth.Hasher{Cost: opt.BcryptCost, Argon2: argon}, now, auth.Options{
		SessionIdle: cfg.Accounts.SessionIdle.Duration, InviteTTL: cfg.Accounts.InviteTTL.Duration, ResetTTL: cfg.Accounts.ResetTTL.Duration,
		LockoutFailures: cfg.Accounts.LockoutFailures, LockoutWindow: cfg.Accounts.LockoutWindow.Duration,
		IPFailuresPerMinute: cfg.Accounts.IPFailuresPerMinute, BaseURL: cfg.BaseURL, DefaultLocale: auth.LocaleZH,
		Outbox: outbox, Wake: wake.Signal,
	})
	if err != nil {
		return nil, err
	}
	a := &App{
		Wake:    wake,
		Config:  cfg,
		DB:      db,
		Log:     log,
		Now:     now,
		Auth:    authSvc,
		Schools: schools,
		Terms:   terms,
		Pairs:   pairs,
		Activities: activity.NewService(db, val, pairs, terms, ledger, files, cfg.Location, now, cfg.Evidence.MaxBytes).
			WithSchoolQuota(cfg.Evidence.SchoolQuotaBytes),
		Compliance: compliance.NewReader(db, Rules(cfg), schools, ledger),
		Ledger:     ledger,
	}
	reg := prometheus.NewRegistry()
	if a.Metrics, err = newMetrics(reg); err != nil {
		return nil, err
	}
	if err := registerTxMetrics(reg, db); err != nil {
		return nil, err
	}
	mailMetrics, err := mail.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	a.Outbox = outbox
	// phone (issue 10): disputes and amendments tell the other side
	if _, err := a.Activities.WithNotices(outbox, wake.Signal, templates.FS(), cfg.BaseURL); err != nil {
		return nil, err
	}
	a.Deliverer = mail.NewDeliverer(a.Outbox, Sender(cfg), mail.DelivererOptions{Log: log, Metrics: mailMetrics, Lease: cfg.SMTP.Lease.Duration})
	cat, err := i18n.New(templates.FS())
	if err != nil {
		return nil, err
	}
	render, err := notify.NewRenderer(templates.FS(), cat)
	if err != nil {
		return nil, err
	}
	a.Sweeper = notify.NewSweeper(db, a.Compliance, a.Outbox, render, cat, notify.Config{
		Rules: Rules(cfg), ConfirmReminderDays: cfg.Compliance.ConfirmReminderDays,
		ConfirmEscalateDays: cfg.Compliance.ConfirmEscalateDays, BaseURL: cfg.BaseURL})
	a.Channels = channel.NewService(db, schools, channel.Config{AllowHosts: cfg.Channels.AllowHosts,
		PerMinute: cfg.Channels.PerMinute, Timeout: cfg.Channels.Timeout.Duration, BaseURL: cfg.BaseURL}, now)
	a.Robots = channel.NewDeliverer(a.Channels, nil, log)
	a.Sweeper.SetRobots(a.Channels)
	a.Circulars, err = circular.NewService(db, templates.FS(), cat, a.Outbox, a.Channels,
		activity.NewFiles(filepath.Join(cfg.DataDir, "rectification")), circular.Config{BaseURL: cfg.BaseURL,
			Location: cfg.Location, MaxFileBytes: cfg.Evidence.MaxBytes}, now)
	if err != nil {
		return nil, err
	}
	a.Assessments = assessment.NewService(db, a.Compliance, cfg.Location, now)
	a.Notices = notify.NewLister(db, schools, a.Outbox)
	views, err := view.New(templates.FS(), cat, cfg.Location)
	if err != nil {
		return nil, err
	}
	// imported accounts get the invitation of a user created without a password
	// an import may move schools and change agreements wholesale: the
	// status read model is rebuilt after it, in its transaction
	a.Importer = importer.New(db, schools, pairs, a.Auth, now, func(ctx context.Context, ids []int64) error {
		if err := ledger.RebuildPairs(ctx, ids); err != nil {
			return err
		}
		return ledger.RebuildStatus(ctx, compliance.StatusTable)
	}, a.Auth)
	a.HTTP = web.New(web.Deps{Views: views, Importer: a.Importer, ImportLimit: cfg.Import.MaxBytes, ImportTimeout: cfg.Import.Timeout.Duration,
		DB: db, Auth: a.Auth, Schools: schools, Terms: terms, Pairs: pairs, Activities: a.Activities,
		Compliance: a.Compliance, Notices: a.Notices, Channels: a.Channels, Circulars: a.Circulars, Assessments: a.Assessments, Outbox: a.Outbox,
		Documents: pairing.NewDocuments(pairs, files, cfg.Evidence.MaxBytes, activity.CleanName), MailStatus: mailStatus(cfg), Metrics: reg, Validator: val, Log: log, Location: cfg.Location, Now: now,
		RequestTimeout: cfg.RequestTimeout.Duration, UploadIdle: cfg.HTTP.UploadIdle.Duration, BodyLimit: cfg.BodyLimit, EvidenceLimit: cfg.Evidence.MaxBytes,
		TrustedProxies: cfg.TrustedProxies, SecureTransport: strings.HasPrefix(cfg.BaseURL, "https://"),
	})
	return a, nil
}

// Sender is where mail goes: the configured SMTP server, or .eml files
// under the data directory when none is configured.
func Sender(cfg *config.Config) mail.Sender {
	if cfg.SMTP.Host == "" {
		return &mail.EMLSender{Dir: filepath.Join(cfg.DataDir, "outbox"), From: cfg.SMTP.From}
	}
	return &mail.SMTPSender{Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username, Password: cfg.SMTP.Password,
		From: cfg.SMTP.From, TLS: cfg.SMTP.TLS, Timeout: cfg.SMTP.Timeout.Duration}
}

// mailStatus is where mail goes, for the setup checklist.
func mailStatus(cfg *config.Config) web.MailStatus {
	if cfg.SMTP.Host == "" {
		return web.MailStatus{Dir: filepath.Join(cfg.DataDir, "outbox")}
	}
	return web.MailStatus{Host: fmt.Sprintf("%s:%d", cfg.SMTP.Host, cfg.SMTP.Port)}
}

// mailDomain is the right-hand side of Message-IDs: the public host name.
func mailDomain(cfg *config.Config) string {
	if u, err := url.Parse(cfg.BaseURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "twinning.local"
}

// Rules are the compliance thresholds of the configuration.
func Rules(cfg *config.Config) compliance.Rules {
	return compliance.Rules{GraceDays: cfg.Compliance.GraceDays, ReminderDays: cfg.Compliance.ReminderDays}
}

// Open connects to the configured database. With migrateSQLite, the
// embedded SQLite file is migrated on the spot (a single node owns it);
// MySQL is only ever migrated by `twinning migrate`, the deploy step, so
// replicas never race on DDL.
func Open(ctx context.Context, cfg *config.Config, migrateSQLite bool) (*database.DB, error) {
	dsn := cfg.DB.DSN
	if cfg.DB.Driver == database.SQLite && dsn == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("data_dir: %w", err)
		}
		dsn = filepath.Join(cfg.DataDir, "twinning.db")
	}
	db, err := database.Open(database.Options{Driver: cfg.DB.Driver, DSN: dsn,
		MaxOpenConns: cfg.DB.MaxOpenConns, ConnMaxLifetime: cfg.DB.ConnMaxLifetime.Duration,
		SyncWait: cfg.DB.SyncWait, ReadyTimeout: cfg.DB.ReadyTimeout.Duration,
		Retry: database.Retry{Attempts: cfg.DB.TxAttempts, Base: cfg.DB.TxBackoff.Duration, Max: cfg.DB.TxBackoffMax.Duration}})
	if err != nil {
		return nil, err
	}
	if err := db.Ping(ctx); err != nil {
		return nil, fmt.Errorf("database %s does not answer: %w", cfg.DB.Driver, err)
	}
	if migrateSQLite && cfg.DB.Driver == database.SQLite {
		if _, err := db.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// registerTxMetrics exposes the transaction counters of the database
// handle: conflicts retried, transactions found aborted before COMMIT,
// connections discarded, transactions given up (answered 503).
func registerTxMetrics(reg *prometheus.Registry, db *database.DB) error {
	for name, v := range map[string]func(database.TxStats) int64{
		"twinning_db_tx_commits_total":     func(s database.TxStats) int64 { return s.Commits },
		"twinning_db_tx_retries_total":     func(s database.TxStats) int64 { return s.Retries },
		"twinning_db_tx_lost_total":        func(s database.TxStats) int64 { return s.Lost },
		"twinning_db_conn_discarded_total": func(s database.TxStats) int64 { return s.Discarded },
		"twinning_db_tx_exhausted_total":   func(s database.TxStats) int64 { return s.Exhausted },
	} {
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "Database transactions: " + strings.TrimPrefix(name, "twinning_db_") + " (see docs/cluster.md)."},
			func() float64 { return float64(v(db.TxStats())) })
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// schemaCurrent refuses to run on a MySQL schema older than the binary:
// replicas never migrate there (`twinning migrate` is the deploy step), and
// code running on missing tables or columns would fail request by request.
func schemaCurrent(ctx context.Context, db *database.DB) error {
	if db.Dialect() != database.MySQL {
		return nil
	}
	pending, err := db.Pending(ctx)
	if err != nil {
		return fmt.Errorf("database schema: %w; run `twinning migrate` first", err)
	}
	if len(pending) > 0 {
		names := make([]string, len(pending))
		for i, m := range pending {
			names[i] = fmt.Sprintf("%04d_%s", m.Version, m.Name)
		}
		return fmt.Errorf("database schema is behind this binary: migrations %s are pending; run `twinning migrate` first",
			strings.Join(names, ", "))
	}
	return nil
}

// secretKey is the configured key or, on a single node, one generated once
// into the data directory so tokens survive restarts.
func secretKey(cfg *config.Config) ([]byte, error) {
	if cfg.SecretKey != "" {
		return []byte(cfg.SecretKey), nil
	}
	path := filepath.Join(cfg.DataDir, "secret.key")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return []byte(strings.TrimSpace(string(b))), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	key := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return []byte(key), nil
}

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }
