package database

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// withSyncWait resolves Options.SyncWait against the server: on a Galera
// node (wsrep_on=ON) every session of the pool sets wsrep_sync_wait, so a
// read waits until this node has applied what any node committed before
// the read began. It reports whether the server is a Galera node.
func withSyncWait(dsn, setting string) (string, bool, error) {
	setting = strings.ToLower(strings.TrimSpace(setting))
	level := -1
	switch setting {
	case "", "auto", "on":
		level = 1 // reads (SELECT, SHOW, BEGIN) see every earlier commit
	case "off":
	default:
		n, err := strconv.Atoi(setting)
		if err != nil || n < 0 || n > 15 {
			return "", false, fmt.Errorf("database: sync_wait must be auto, off or a number 0-15, not %q", setting)
		}
		level = n
	}
	galera, err := detectGalera(dsn)
	if err != nil {
		return "", false, err
	}
	if !galera || level < 0 {
		return dsn, galera, nil
	}
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return "", false, err
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["wsrep_sync_wait"] = strconv.Itoa(level) // the driver SETs it on every new connection
	return cfg.FormatDSN(), true, nil
}

func detectGalera(dsn string) (bool, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return false, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var name, value string
	err = db.QueryRowContext(ctx, "SHOW VARIABLES LIKE 'wsrep_on'").Scan(&name, &value)
	if err == sql.ErrNoRows {
		return false, nil // MySQL, TiDB: no wsrep at all
	}
	if err != nil {
		return false, fmt.Errorf("database: asking the server whether it is a Galera node: %w", err)
	}
	return strings.EqualFold(value, "ON"), nil
}

// probePool is the readiness probe's own tiny pool, so that a request pool
// exhausted by slow queries never delays the answer, and a probe never
// takes a connection requests need.
type probePool struct {
	mu sync.Mutex
	db *sql.DB
}

func (p *probePool) get(driverName, dsn string) (*sql.DB, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.db != nil {
		return p.db, nil
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	// short-lived: a connection to a node that restarted is not kept
	db.SetConnMaxLifetime(30 * time.Second)
	p.db = db
	return db, nil
}

func (p *probePool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.db != nil {
		_ = p.db.Close()
		p.db = nil
	}
}

// NotReady says why the database cannot serve requests now.
type NotReady struct{ Reason string }

func (e *NotReady) Error() string { return "database not ready: " + e.Reason }

// Ready checks, on the probe's own connection and within the ready
// timeout, that a table of the schema can be read and, on a Galera node,
// that the node is synced with the primary component (wsrep_ready=ON,
// wsrep_local_state=4). A cut-off or rejoining node answers a ping but
// not this.
func (d *DB) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.readyTO)
	defer cancel()
	driverName := "mysql"
	if d.dialect == SQLite {
		driverName = "sqlite3"
	}
	db, err := d.probe.get(driverName, d.dsn)
	if err != nil {
		return &NotReady{Reason: err.Error()}
	}
	var one int
	err = db.QueryRowContext(ctx, "SELECT 1 FROM schema_migrations LIMIT 1").Scan(&one)
	if err != nil {
		if ctx.Err() != nil {
			return &NotReady{Reason: "no answer within " + d.readyTO.String()}
		}
		return &NotReady{Reason: "reading schema_migrations: " + err.Error()}
	}
	if !d.galera {
		return nil
	}
	status := map[string]string{}
	rows, err := db.QueryContext(ctx, "SHOW STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state', 'wsrep_cluster_status')")
	if err != nil {
		return &NotReady{Reason: "reading wsrep status: " + err.Error()}
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return &NotReady{Reason: err.Error()}
		}
		status[strings.ToLower(k)] = v
	}
	if err := rows.Err(); err != nil {
		return &NotReady{Reason: err.Error()}
	}
	if !strings.EqualFold(status["wsrep_ready"], "ON") {
		return &NotReady{Reason: "galera node not ready (wsrep_ready=" + status["wsrep_ready"] + ", cluster " + status["wsrep_cluster_status"] + ")"}
	}
	if status["wsrep_local_state"] != "4" {
		return &NotReady{Reason: "galera node not synced (wsrep_local_state=" + status["wsrep_local_state"] + ")"}
	}
	return nil
}
