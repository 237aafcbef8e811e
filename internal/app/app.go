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
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/validation"
	"github.com/twinning-platform/twinning/internal/view"
	"github.com/twinning-platform/twinning/internal/web"
	"github.com/twinning-platform/twinning/templates"
)

// App is the wired service.
type App struct {
	Config      *config.Config
	DB          *database.DB
	Log         *slog.Logger
	Now         func() time.Time
	Auth        *auth.Service
	Schools     *school.Service
	Terms       *calendar.Service
	Pairs       *pairing.Service
	Activities  *activity.Service
	Compliance  *compliance.Reader
	Ledger      *compliance.Ledger
	Outbox      *mail.Outbox
	Deliverer   *mail.Deliverer
	Sweeper     *notify.Sweeper
	Notices     *notify.Lister
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
	DB         *database.DB     // use this database instead of opening one
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
	}
	secret, err := secretKey(cfg)
	if err != nil {
		return nil, err
	}
	val := validation.New()
	ledger := compliance.NewLedger(db, Rules(cfg))
	schools := school.NewService(db, val, now)
	terms := calendar.NewService(db, val, now, ledger.RebuildAll)
	pairs := pairing.NewService(db, val, schools, now, ledger.RebuildPair)
	a := &App{
		Config:     cfg,
		DB:         db,
		Log:        log,
		Now:        now,
		Auth:       auth.NewService(db, val, schools, auth.NewTokens(secret, cfg.TokenTTL.Duration), auth.Hasher{Cost: opt.BcryptCost}, now),
		Schools:    schools,
		Terms:      terms,
		Pairs:      pairs,
		Activities: activity.NewService(db, val, pairs, terms, ledger, activity.NewFiles(filepath.Join(cfg.DataDir, "evidence")), cfg.Location, now, cfg.Evidence.MaxBytes),
		Compliance: compliance.NewReader(db, Rules(cfg), schools, ledger),
		Ledger:     ledger,
	}
	reg := prometheus.NewRegistry()
	if a.Metrics, err = newMetrics(reg); err != nil {
		return nil, err
	}
	mailMetrics, err := mail.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	a.Outbox = mail.NewOutbox(db, mailDomain(cfg), 8)
	a.Deliverer = mail.NewDeliverer(a.Outbox, Sender(cfg), mail.DelivererOptions{Log: log, Metrics: mailMetrics})
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
	a.Notices = notify.NewLister(db, schools)
	views, err := view.New(templates.FS(), cat, cfg.Location)
	if err != nil {
		return nil, err
	}
	a.HTTP = web.New(web.Deps{Views: views,
		DB: db, Auth: a.Auth, Schools: schools, Terms: terms, Pairs: pairs, Activities: a.Activities,
		Compliance: a.Compliance, Notices: a.Notices, Channels: a.Channels, Circulars: a.Circulars, Assessments: a.Assessments, Outbox: a.Outbox, Metrics: reg, Validator: val, Log: log, Location: cfg.Location, Now: now,
		RequestTimeout: cfg.RequestTimeout.Duration, BodyLimit: cfg.BodyLimit, EvidenceLimit: cfg.Evidence.MaxBytes,
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
		MaxOpenConns: cfg.DB.MaxOpenConns, ConnMaxLifetime: cfg.DB.ConnMaxLifetime.Duration})
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
