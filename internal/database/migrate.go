package database

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the embedded migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

var dialectTypes = map[string]*strings.Replacer{
	SQLite: strings.NewReplacer(
		"{{ID}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{{DATE}}", "TEXT",
		"{{TIME}}", "DATETIME",
		"{{LONGTEXT}}", "TEXT",
		"{{OPTS}}", "",
		// DROP INDEX names its table on MySQL only
		"{{ON outbox_messages}}", "",
		"{{ON notices}}", ""),
	MySQL: strings.NewReplacer(
		"{{ID}}", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
		"{{DATE}}", "DATE",
		"{{TIME}}", "DATETIME(6)",
		"{{LONGTEXT}}", "MEDIUMTEXT",
		"{{OPTS}}", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
		"{{ON outbox_messages}}", "ON outbox_messages",
		"{{ON notices}}", "ON notices"),
}

// statements splits a migration into statements: each ends with ";" at the
// end of a line; "--" comment lines are dropped.
func statements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		if i := strings.Index(line, " -- "); i >= 0 {
			line = line[:i]
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// MigrateLease is how long the migration lock is held without renewal; the
// holder renews it every third of that while it migrates, so a migrator
// that crashed blocks others for at most this long.
const MigrateLease = 60 * time.Second

// migrateWait bounds how long Migrate waits for another migrator.
const migrateWait = 10 * time.Minute

// Migrate applies every pending migration and returns the versions it
// applied. Several migrators may run at once, on one server or on the
// nodes of a Galera cluster (where GET_LOCK is per node, so it cannot
// serialise them): each first claims the one row of schema_lock with a
// conditional UPDATE, which any engine serialises (on Galera, a conflicting
// claim from another node fails certification and is retried), holds it
// under a renewed lease, migrates, and releases it. The others wait, then
// find nothing left to do.
func (d *DB) Migrate(ctx context.Context) ([]int, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	repl := dialectTypes[d.dialect]
	if err := d.ensureBookkeeping(ctx, repl); err != nil {
		return nil, err
	}
	holder := newHolder()
	release, err := d.lockSchema(ctx, holder)
	if err != nil {
		return nil, err
	}
	defer release()
	var applied []int
	err = d.gorm.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		for _, m := range all {
			var n int64
			if err := conn.Raw("SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.Version).Scan(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			// DDL is transactional in SQLite, not in MySQL: there each
			// statement commits, and a failure names the statement so an
			// operator can repair by hand.
			apply := func(tx *gorm.DB) error {
				for _, stmt := range statements(repl.Replace(m.SQL)) {
					if err := tx.Exec(stmt).Error; err != nil {
						return fmt.Errorf("migrate %04d_%s: %w\nstatement: %s", m.Version, m.Name, err, stmt)
					}
				}
				return tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
					m.Version, m.Name, time.Now().UTC()).Error
			}
			var err error
			if d.dialect == SQLite {
				err = conn.Transaction(apply)
			} else {
				err = apply(conn)
			}
			if err != nil {
				return err
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	return applied, err
}

// ensureBookkeeping creates schema_migrations and schema_lock (with its one
// row) if missing. Concurrent runs are harmless: IF NOT EXISTS, and an
// insert that ignores the row another migrator inserted first.
func (d *DB) ensureBookkeeping(ctx context.Context, repl *strings.Replacer) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS schema_migrations (version INT NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, applied_at ` +
			repl.Replace("{{TIME}}") + ` NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS schema_lock (id INT NOT NULL PRIMARY KEY, holder VARCHAR(64) NOT NULL DEFAULT '', expires_at BIGINT NOT NULL DEFAULT 0)`,
	}
	for _, stmt := range stmts {
		if err := d.gorm.WithContext(ctx).Exec(stmt).Error; err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	ignore := "INSERT IGNORE"
	if d.dialect == SQLite {
		ignore = "INSERT OR IGNORE"
	}
	return d.WithTx(ctx, func(ctx context.Context) error {
		if err := d.Conn(ctx).Exec(ignore + " INTO schema_lock (id, holder, expires_at) VALUES (1, '', 0)").Error; err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	})
}

func newHolder() string {
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	h := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	if len(h) > 64 {
		h = h[len(h)-64:]
	}
	return h
}

// lockSchema claims the schema_lock row: free, or held under a lease that
// expired (its holder crashed). It waits for a live holder, and renews its
// own lease until release is called.
func (d *DB) lockSchema(ctx context.Context, holder string) (release func(), err error) {
	deadline := time.Now().Add(migrateWait)
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		now := time.Now().UnixMilli()
		var got int64
		err := d.WithTx(ctx, func(ctx context.Context) error {
			res := d.Conn(ctx).Exec("UPDATE schema_lock SET holder = ?, expires_at = ? WHERE id = 1 AND (holder = '' OR expires_at < ?)",
				holder, now+MigrateLease.Milliseconds(), now)
			got = res.RowsAffected
			return res.Error
		})
		if err != nil && !Unavailable(err) && !Conflict(err) {
			return nil, fmt.Errorf("migrate: taking the migration lock: %w", err)
		}
		if err == nil && got == 1 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("migrate: another migrator has held the migration lock (schema_lock) for over %s", migrateWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(MigrateLease / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				d.gorm.Exec("UPDATE schema_lock SET expires_at = ? WHERE id = 1 AND holder = ?",
					time.Now().Add(MigrateLease).UnixMilli(), holder)
			}
		}
	}()
	return func() {
		close(stop)
		<-renewed
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = d.WithTx(rctx, func(ctx context.Context) error {
			return d.Conn(ctx).Exec("UPDATE schema_lock SET holder = '', expires_at = 0 WHERE id = 1 AND holder = ?", holder).Error
		})
	}, nil
}

// Pending lists the embedded migrations the database has not applied.
func (d *DB) Pending(ctx context.Context) ([]Migration, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	var versions []int
	if err := d.gorm.WithContext(ctx).Raw("SELECT version FROM schema_migrations").Scan(&versions).Error; err != nil {
		return nil, fmt.Errorf("reading schema_migrations (was the database migrated?): %w", err)
	}
	done := map[int]bool{}
	for _, v := range versions {
		done[v] = true
	}
	var out []Migration
	for _, m := range all {
		if !done[m.Version] {
			out = append(out, m)
		}
	}
	return out, nil
}
