package database

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
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
		"{{OPTS}}", ""),
	MySQL: strings.NewReplacer(
		"{{ID}}", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
		"{{DATE}}", "DATE",
		"{{TIME}}", "DATETIME(6)",
		"{{LONGTEXT}}", "MEDIUMTEXT",
		"{{OPTS}}", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"),
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

// Migrate applies every pending migration and returns the versions it
// applied. On MySQL a named lock serialises replicas that start together;
// SQLite's immediate transaction does the same for processes sharing a file.
func (d *DB) Migrate(ctx context.Context) ([]int, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	repl := dialectTypes[d.dialect]
	var applied []int
	err = d.gorm.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		if d.dialect == MySQL {
			var got int
			if err := conn.Raw("SELECT GET_LOCK('twinning_migrate', 120)").Scan(&got).Error; err != nil || got != 1 {
				return fmt.Errorf("migrate: could not take the migration lock (another replica migrating?): %v", err)
			}
			defer conn.Exec("SELECT RELEASE_LOCK('twinning_migrate')")
		}
		if err := conn.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INT NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, applied_at ` +
			repl.Replace("{{TIME}}") + ` NOT NULL)`).Error; err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
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
