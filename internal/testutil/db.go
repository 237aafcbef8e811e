// Package testutil gives tests real databases (a fresh SQLite file always;
// a fresh MariaDB/MySQL database when TWINNING_TEST_MYSQL_DSN is set), a
// settable clock, a wired App and an HTTP client for the API.
package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/twinning-platform/twinning/internal/database"
)

// MySQLEnv names the DSN of a MySQL/MariaDB server for tests, e.g.
// root:@tcp(127.0.0.1:3306)/test. Each test gets its own database on it.
const MySQLEnv = "TWINNING_TEST_MYSQL_DSN"

// InCI reports CI=true, where missing services fail tests instead of
// skipping them.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips (or, in CI, fails) a test whose dependency is missing.
func Require(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("%s is required under CI=true but is not available", what)
	}
	t.Skipf("skipping: %s is not available (it is required under CI=true)", what)
}

// EachDB runs fn on SQLite and, when configured, on MySQL, as subtests.
func EachDB(t *testing.T, fn func(t *testing.T, db *database.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("mysql", func(t *testing.T) { fn(t, MySQL(t)) })
}

// SQLite returns a migrated database in a temporary file.
func SQLite(t testing.TB) *database.DB {
	t.Helper()
	db, err := database.Open(database.Options{Driver: database.SQLite, DSN: filepath.Join(t.TempDir(), "test.db"), MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// MySQL returns a migrated, freshly created database on the server of
// TWINNING_TEST_MYSQL_DSN, dropped when the test ends.
func MySQL(t testing.TB) *database.DB {
	t.Helper()
	dsn := os.Getenv(MySQLEnv)
	Require(t, dsn != "", MySQLEnv+" (a MariaDB/MySQL server)")
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", MySQLEnv, err)
	}
	admin, err := database.Open(database.Options{Driver: database.MySQL, DSN: dsn, MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.Ping(ctx); err != nil {
		Require(t, false, "the MariaDB server of "+MySQLEnv+" ("+err.Error()+")")
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "twtest_" + strings.ToLower(hex.EncodeToString(rnd[:]))
	if err := admin.Gorm().Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := database.Open(database.Options{Driver: database.MySQL, DSN: dsn, MaxOpenConns: 1})
		if err == nil {
			a.Gorm().Exec("DROP DATABASE IF EXISTS " + name)
			_ = a.Close()
		}
	})
	cfg.DBName = name
	db, err := database.Open(database.Options{Driver: database.MySQL, DSN: cfg.FormatDSN(), MaxOpenConns: 10, ConnMaxLifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// SecondHandle opens another pool on the database behind db, as a second
// process (another replica) would: the same SQLite file, or the same
// MariaDB database. Tests of claims and concurrent sweeps use it.
func SecondHandle(t testing.TB, db *database.DB) *database.DB {
	t.Helper()
	var opt database.Options
	switch db.Dialect() {
	case database.SQLite:
		var rows []struct {
			Seq  int
			Name string
			File string
		}
		if err := db.Gorm().Raw("PRAGMA database_list").Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Name == "main" {
				opt = database.Options{Driver: database.SQLite, DSN: r.File, MaxOpenConns: 8}
			}
		}
		if opt.DSN == "" {
			t.Fatalf("no file behind the SQLite database: %+v", rows)
		}
	case database.MySQL:
		var name string
		if err := db.Gorm().Raw("SELECT DATABASE()").Scan(&name).Error; err != nil {
			t.Fatal(err)
		}
		cfg, err := mysqldriver.ParseDSN(os.Getenv(MySQLEnv))
		if err != nil {
			t.Fatal(err)
		}
		cfg.DBName = name
		opt = database.Options{Driver: database.MySQL, DSN: cfg.FormatDSN(), MaxOpenConns: 10, ConnMaxLifetime: time.Minute}
	default:
		t.Fatalf("unknown dialect %q", db.Dialect())
	}
	db2, err := database.Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db2.Close() })
	if err := db2.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db2
}

// EmptyLike returns a new, empty and unmigrated database of db's dialect:
// a new SQLite file, or a new database on the MariaDB server of
// TWINNING_TEST_MYSQL_DSN (dropped at the end). Migration tests use it.
func EmptyLike(t testing.TB, db *database.DB) *database.DB {
	t.Helper()
	if db.Dialect() == database.SQLite {
		fresh, err := database.Open(database.Options{Driver: database.SQLite, DSN: filepath.Join(t.TempDir(), "empty.db"), MaxOpenConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = fresh.Close() })
		return fresh
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "twtest_" + strings.ToLower(hex.EncodeToString(rnd[:]))
	if err := db.Gorm().Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Gorm().Exec("DROP DATABASE IF EXISTS " + name) })
	cfg, err := mysqldriver.ParseDSN(os.Getenv(MySQLEnv))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	fresh, err := database.Open(database.Options{Driver: database.MySQL, DSN: cfg.FormatDSN(), MaxOpenConns: 10, ConnMaxLifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fresh.Close() })
	return fresh
}
