// Package database opens GORM on SQLite (embedded default) or MySQL, carries
// transactions in the context, and applies the versioned migrations.
package database

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	_ "github.com/ncruces/go-sqlite3/embed" // the SQLite engine, compiled to WASM: no cgo
	"github.com/ncruces/go-sqlite3/gormlite"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialects.
const (
	SQLite = "sqlite"
	MySQL  = "mysql"
)

// Options for Open.
type Options struct {
	Driver          string // sqlite | mysql
	DSN             string // for sqlite: a file path or a file: URI
	MaxOpenConns    int
	ConnMaxLifetime time.Duration
	LogQueries      bool
}

// DB is the database handle shared by every store.
type DB struct {
	gorm    *gorm.DB
	dialect string
}

// Open connects and configures the pool. It does not migrate.
func Open(opt Options) (*DB, error) {
	var dial gorm.Dialector
	switch opt.Driver {
	case SQLite:
		dial = gormlite.Open(sqliteDSN(opt.DSN))
	case MySQL:
		dsn, err := mysqlDSN(opt.DSN)
		if err != nil {
			return nil, err
		}
		dial = mysql.Open(dsn)
	default:
		return nil, fmt.Errorf("database: unknown driver %q", opt.Driver)
	}
	level := logger.Warn
	if opt.LogQueries {
		level = logger.Info
	}
	g, err := gorm.Open(dial, &gorm.Config{
		Logger: logger.New(log.New(os.Stderr, "", log.LstdFlags), logger.Config{
			SlowThreshold:             time.Second,
			LogLevel:                  level,
			IgnoreRecordNotFoundError: true, // "not found" is an answer, not a problem
			// log statements without their values: they may hold password
			// hashes or personal data (e.g. a duplicate-key insert of a user)
			ParameterizedQueries: true,
		}),
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		SkipDefaultTransaction: true, // we open transactions where writes must be atomic
		TranslateError:         true,
	})
	if err != nil {
		return nil, fmt.Errorf("database: open %s: %w", opt.Driver, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, err
	}
	if opt.MaxOpenConns > 0 {
		sqlDB.SetMaxOpenConns(opt.MaxOpenConns)
		sqlDB.SetMaxIdleConns(opt.MaxOpenConns)
	}
	if opt.ConnMaxLifetime > 0 {
		sqlDB.SetConnMaxLifetime(opt.ConnMaxLifetime)
	}
	return &DB{gorm: g, dialect: opt.Driver}, nil
}

// sqliteDSN turns a path into a URI with the pragmas every connection needs:
// WAL so readers never block the writer, a busy timeout instead of
// immediate SQLITE_BUSY, foreign keys, and BEGIN IMMEDIATE for every
// transaction so two writers queue up instead of deadlocking on upgrade.
func sqliteDSN(dsn string) string {
	if strings.HasPrefix(dsn, "file:") {
		return dsn
	}
	if dir := filepath.Dir(dsn); dir != "" {
		_ = os.MkdirAll(dir, 0o750)
	}
	return "file:" + dsn + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=foreign_keys(on)&_pragma=synchronous(normal)&_txlock=immediate"
}

// mysqlDSN enforces the settings the code relies on: DATE/DATETIME scanned
// as time.Time in UTC, full Unicode, and rows affected meaning rows
// *matched* (as in SQLite) rather than rows changed, so a conditional
// UPDATE that claims a row reads the same on every dialect.
func mysqlDSN(dsn string) (string, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("database: bad mysql dsn: %w", err)
	}
	cfg.ClientFoundRows = true
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["charset"] = "utf8mb4"
	cfg.Collation = "utf8mb4_unicode_ci"
	return cfg.FormatDSN(), nil
}

// Dialect is SQLite or MySQL.
func (d *DB) Dialect() string { return d.dialect }

// Gorm is the root handle, for the composition root and tests.
func (d *DB) Gorm() *gorm.DB { return d.gorm }

// Close closes the pool.
func (d *DB) Close() error {
	sqlDB, err := d.gorm.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks the database answers (used by /healthz).
func (d *DB) Ping(ctx context.Context) error {
	sqlDB, err := d.gorm.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

type txKey struct{}

// Conn returns the transaction carried by ctx, or the pool.
func (d *DB) Conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
	}
	return d.gorm.WithContext(ctx)
}

// InTx reports whether ctx carries a transaction.
func InTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*gorm.DB)
	return ok
}

// WithTx runs fn in one transaction carried by the context; nested calls
// join the outer transaction. A MySQL deadlock is retried, since InnoDB
// picks a victim and expects the client to try again.
func (d *DB) WithTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if InTx(ctx) {
		return fn(ctx)
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = d.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return fn(context.WithValue(ctx, txKey{}, tx))
		})
		if !isDeadlock(err) {
			return err
		}
	}
	return err
}

func isDeadlock(err error) bool {
	var me *mysqldriver.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// IsDuplicate reports a unique-key violation on either dialect.
func IsDuplicate(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) && me.Number == 1062 {
		return true
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// IsNotFound reports gorm's record-not-found.
func IsNotFound(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }
