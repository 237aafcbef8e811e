// Package database opens GORM on SQLite (embedded default) or MySQL, carries
// transactions in the context, and applies the versioned migrations.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
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
	// SyncWait is wsrep_sync_wait for every session on a Galera node
	// ("auto": 1 when the server runs wsrep, "off", or a number 0-15);
	// it makes reads wait until the node applied every write committed
	// anywhere in the cluster before they began (read-your-writes across
	// nodes). Empty means auto.
	SyncWait string
	// Retry bounds the retries of a transaction that lost a conflict
	// (zero values take the defaults of Retry).
	Retry Retry
	// ReadyTimeout bounds each readiness probe (default 2s).
	ReadyTimeout time.Duration
}

// DB is the database handle shared by every store.
type DB struct {
	gorm    *gorm.DB
	sql     *sql.DB
	dialect string
	dsn     string // as given to the driver, for the readiness probe's own pool
	retry   Retry
	galera  bool
	readyTO time.Duration
	probe   *probePool
	stats   *txStats
	// returning: gorm's dialector inserts with RETURNING (MariaDB 10.5+,
	// SQLite), so does IDs
	returning bool
}

// Open connects and configures the pool. It does not migrate.
func Open(opt Options) (*DB, error) {
	var dial gorm.Dialector
	var driverDSN string
	var galera bool
	switch opt.Driver {
	case SQLite:
		driverDSN = sqliteDSN(opt.DSN)
		dial = gormlite.Open(driverDSN)
	case MySQL:
		dsn, err := mysqlDSN(opt.DSN)
		if err != nil {
			return nil, err
		}
		if dsn, galera, err = withSyncWait(dsn, opt.SyncWait); err != nil {
			return nil, err
		}
		driverDSN = dsn
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
	// what gorm's dialector chose for this server, not a copy of its
	// version test
	returning := slices.Contains(g.Callback().Create().Clauses, "RETURNING")
	if opt.Driver == MySQL {
		var version string
		var increment int64
		if err := sqlDB.QueryRow("SELECT VERSION(), @@auto_increment_increment").Scan(&version, &increment); err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("database: %w", err)
		}
		if err := insertIDsKnown(version, returning, increment); err != nil {
			sqlDB.Close()
			return nil, err
		}
	}
	readyTO := opt.ReadyTimeout
	if readyTO <= 0 {
		readyTO = 2 * time.Second
	}
	return &DB{gorm: g, sql: sqlDB, dialect: opt.Driver, dsn: driverDSN, retry: opt.Retry.withDefaults(),
		galera: galera, readyTO: readyTO, probe: &probePool{}, stats: &txStats{}, returning: returning}, nil
}

// insertIDsKnown refuses a server on which a multi-row INSERT would not
// tell the ids of its rows. The sweep, the outbox and the importer insert
// rows by the thousand and link others to their ids. On MariaDB 10.5 and
// later gorm asks for them (INSERT … RETURNING id, returning). Elsewhere (MySQL, TiDB)
// it takes the first id and counts up by one: on a server that steps by
// more (auto_increment_increment, e.g. 7 on a MySQL multi-primary group)
// every id after the first would be wrong, and messages would be linked to
// other users' notices. A Galera node steps by the cluster's size, which is
// why the supported cluster is MariaDB's.
func insertIDsKnown(version string, returning bool, increment int64) error {
	if returning || increment == 1 {
		return nil
	}
	return fmt.Errorf("database: %s steps auto-increment ids by %d and has no INSERT … RETURNING: the ids of a multi-row insert could not be known; use MariaDB 10.5 or later, or auto_increment_increment = 1", version, increment)
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
	// Statements go as text (COM_QUERY), never as server-side prepared
	// statements: every command then has an answer that can carry an
	// error, so an abort of the transaction by another node is reported
	// on the statement after it (a prepared statement's COM_STMT_CLOSE has
	// no answer), and a statement costs one round trip instead of three.
	cfg.InterpolateParams = true
	return cfg.FormatDSN(), nil
}

// Dialect is SQLite or MySQL.
func (d *DB) Dialect() string { return d.dialect }

// Gorm is the root handle, for the composition root and tests.
func (d *DB) Gorm() *gorm.DB { return d.gorm }

// Galera reports that the server runs wsrep (a Galera node).
func (d *DB) Galera() bool { return d.galera }

// Close closes the pools.
func (d *DB) Close() error {
	d.probe.close()
	return d.sql.Close()
}

// Ping checks the database answers (used by /healthz).
func (d *DB) Ping(ctx context.Context) error {
	sqlDB, err := d.gorm.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
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
