package database_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/twinning-platform/twinning/internal/database"
)

// GaleraEnv names DSNs of two (or more) nodes of one Galera cluster,
// comma-separated, e.g. root:@tcp(127.0.0.1:3311)/,root:@tcp(127.0.0.1:3312)/
// (scripts/cluster/run.sh sets it). The test creates its own database.
const GaleraEnv = "TWINNING_TEST_GALERA_DSNS"

func galeraNodes(t *testing.T) (a, b *database.DB) {
	t.Helper()
	dsns := strings.Split(os.Getenv(GaleraEnv), ",")
	if len(dsns) < 2 || dsns[0] == "" {
		// not testutil.Require: `go test ./...` in CI has no cluster; the
		// fault suite (scripts/cluster/run.sh, run by .ci/run) starts one
		// and runs this test with the variable set and CI=true
		t.Skip("skipping: " + GaleraEnv + " is not set (scripts/cluster/run.sh runs this test on its cluster)")
	}
	var rnd [5]byte
	_, _ = rand.Read(rnd[:])
	name := "twgalera_" + hex.EncodeToString(rnd[:])
	open := func(dsn string) *database.DB {
		cfg, err := mysqldriver.ParseDSN(dsn)
		if err != nil {
			t.Fatalf("%s: %v", GaleraEnv, err)
		}
		cfg.DBName = name
		db, err := database.Open(database.Options{Driver: database.MySQL, DSN: cfg.FormatDSN(), MaxOpenConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	admin, err := database.Open(database.Options{Driver: database.MySQL, DSN: dsns[0], MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if !admin.Galera() {
		t.Fatalf("%s: the server is not a Galera node (wsrep_on is not ON)", GaleraEnv)
	}
	if err := admin.Gorm().Exec("CREATE DATABASE " + name).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a, err := database.Open(database.Options{Driver: database.MySQL, DSN: dsns[0], MaxOpenConns: 1}); err == nil {
			a.Gorm().Exec("DROP DATABASE IF EXISTS " + name)
			_ = a.Close()
		}
	})
	return open(dsns[0]), open(dsns[1])
}

// Finding 1 on a real cluster: node A holds an open transaction that wrote
// a row; a conflicting write committed on node B reaches A, whose applier
// brute-force aborts A's transaction while A's client sits between two
// statements. Whatever A's next statements see (a deadlock error, or —
// the lost-write mechanism — nothing at all), WithTx on A must never
// commit half of the transaction: it retries, and the result is exactly
// one whole run of fn plus B's write.
//
// Seen on this cluster with the plain driver: the SELECT after the abort
// fails with 1213, yet the INSERT after it succeeds in autocommit and the
// final COMMIT answers OK — so any read whose error is lost (unchecked, or
// swallowed on the way) turns into a half-committed "transaction". The
// second subtest drops the error as such code would.
func TestGaleraBruteForceAbortNeverCommitsHalf(t *testing.T) {
	t.Run("error seen", func(t *testing.T) { galeraAbort(t, false) })
	t.Run("error swallowed", func(t *testing.T) { galeraAbort(t, true) })
}

func galeraAbort(t *testing.T, swallow bool) {
	a, b := galeraNodes(t)
	ctx := context.Background()
	if err := a.Gorm().Exec("CREATE TABLE tx_probe (id INT NOT NULL PRIMARY KEY, v INT NOT NULL, what VARCHAR(20) NOT NULL) ENGINE=InnoDB").Error; err != nil {
		t.Fatal(err)
	}
	if err := a.Gorm().Exec("INSERT INTO tx_probe (id, v, what) VALUES (1, 1, 'hot')").Error; err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	var sawError atomic.Value
	before := a.TxStats()
	err := a.WithTx(ctx, func(ctx context.Context) error {
		n := attempts.Add(1)
		conn := a.Conn(ctx)
		if err := conn.Exec("UPDATE tx_probe SET v = v + 1 WHERE id = 1").Error; err != nil {
			return err
		}
		if n == 1 {
			// B commits a conflicting write; wait until A has applied it
			// (a causal read on A), which aborts A's transaction
			if err := b.Gorm().Exec("UPDATE tx_probe SET v = v + 100 WHERE id = 1").Error; err != nil {
				return err
			}
			// generous: on a loaded 2-core machine the applier can lag
			deadline := time.Now().Add(45 * time.Second)
			for {
				var v int
				if err := a.Gorm().Raw("SELECT v FROM tx_probe WHERE id = 1").Scan(&v).Error; err != nil {
					return err
				}
				if v == 101 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node A never applied B's write (v = %d)", v)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		var v int
		if err := conn.Raw("SELECT v FROM tx_probe WHERE id = 1").Scan(&v).Error; err != nil {
			sawError.Store(err.Error())
			if !swallow {
				return err
			}
		}
		return conn.Exec("INSERT INTO tx_probe (id, v, what) VALUES (?, ?, 'after')", 100+n, n).Error
	})
	if err != nil {
		t.Fatalf("WithTx on A: %v", err)
	}
	if swallow && a.TxStats().Lost == before.Lost {
		t.Fatalf("the swallowed abort was not detected before COMMIT")
	}
	if attempts.Load() < 2 {
		t.Fatalf("fn ran %d times: the brute-force abort went unnoticed and was committed", attempts.Load())
	}
	var v, after, firstAfter int64
	a.Gorm().Raw("SELECT v FROM tx_probe WHERE id = 1").Scan(&v)
	a.Gorm().Raw("SELECT COUNT(*) FROM tx_probe WHERE what = 'after'").Scan(&after)
	a.Gorm().Raw("SELECT COUNT(*) FROM tx_probe WHERE what = 'after' AND v = 1").Scan(&firstAfter)
	if v != 102 || after != 1 || firstAfter != 0 {
		t.Fatalf("v = %d (want 1 + 100 from B + 1 from A's one committed run), %d 'after' rows (want 1), %d from the aborted run (want 0)", v, after, firstAfter)
	}
	st := a.TxStats()
	t.Logf("A: %d attempts; the aborted attempt saw %v; lost-before-commit %d, retries %d",
		attempts.Load(), sawError.Load(), st.Lost-before.Lost, st.Retries-before.Retries)
}

// Finding 2 on a real cluster: node A is cut off from the others
// (gmcast.isolate) while a transaction on it holds a write. Its ROLLBACK
// may fail there (1047); either way the connection must not carry the
// half-done transaction into the next one: after the node heals, nothing
// of it is committed by later transactions on A's pool.
func TestGaleraCutOffNodeNeverCommitsHalfLater(t *testing.T) {
	a, _ := galeraNodes(t)
	ctx := context.Background()
	if err := a.Gorm().Exec("CREATE TABLE tx_probe (id INT NOT NULL PRIMARY KEY, v INT NOT NULL, what VARCHAR(20) NOT NULL) ENGINE=InnoDB").Error; err != nil {
		t.Fatal(err)
	}
	ctl, err := database.Open(database.Options{Driver: database.MySQL, DSN: strings.Split(os.Getenv(GaleraEnv), ",")[0], MaxOpenConns: 1, SyncWait: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	state := func() string {
		var rows []struct{ VariableName, Value string }
		ctl.Gorm().Raw("SHOW STATUS LIKE 'wsrep_local_state'").Scan(&rows)
		if len(rows) == 0 {
			return ""
		}
		return rows[0].Value
	}
	heal := func() {
		ctl.Gorm().Exec("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'")
		for range 120 {
			if state() == "4" {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Fatal("node A did not resync")
	}
	defer heal()
	before := a.TxStats()
	a1 := a.Retry(database.Retry{Attempts: 1})
	err = a1.WithTx(ctx, func(ctx context.Context) error {
		if err := a1.Conn(ctx).Exec("INSERT INTO tx_probe (id, v, what) VALUES (1, 1, 'half')").Error; err != nil {
			return err
		}
		if err := ctl.Gorm().Exec("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'").Error; err != nil {
			return err
		}
		for range 80 {
			if state() != "4" {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		return a1.Conn(ctx).Exec("INSERT INTO tx_probe (id, v, what) VALUES (2, 1, 'half')").Error
	})
	if err == nil {
		t.Fatal("a transaction on a cut-off node committed")
	}
	discarded := a.TxStats().Discarded - before.Discarded
	heal()
	for i := range 5 {
		if err := a.WithTx(ctx, func(ctx context.Context) error {
			return a.Conn(ctx).Exec("INSERT INTO tx_probe (id, v, what) VALUES (?, 1, 'later')", 10+i).Error
		}); err != nil {
			t.Fatal(err)
		}
	}
	var half int64
	a.Gorm().Raw("SELECT COUNT(*) FROM tx_probe WHERE what = 'half'").Scan(&half)
	if half != 0 {
		t.Fatalf("%d rows of the transaction cut off by the partition were committed later", half)
	}
	t.Logf("cut-off transaction failed with %v; connections discarded: %d", err, discarded)
}

// On a Galera node auto-increment ids step by the cluster's size: the ids
// gorm gives the rows of one multi-row insert (the outbox's, the
// notices') must be the ids stored, not the first counted up by one.
func TestGaleraMultiRowInsertIDs(t *testing.T) {
	a, _ := galeraNodes(t)
	var step int64
	if err := a.Gorm().Raw("SELECT @@auto_increment_increment").Scan(&step).Error; err != nil {
		t.Fatal(err)
	}
	if step < 2 {
		t.Fatalf("auto_increment_increment is %d: the cluster does not step its ids (wsrep_auto_increment_control?)", step)
	}
	multiRowInsertIDs(t, a, "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY")
}

func multiRowInsertIDs(t *testing.T, db *database.DB, idType string) {
	t.Helper()
	if err := db.Gorm().Exec("CREATE TABLE ids_probe (id " + idType + ", name VARCHAR(10) NOT NULL)").Error; err != nil {
		t.Fatal(err)
	}
	defer db.Gorm().Exec("DROP TABLE ids_probe")
	type probe struct {
		ID   int64
		Name string
	}
	rows := []probe{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}, {Name: "e"}}
	if err := db.Conn(context.Background()).Table("ids_probe").Create(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var stored []probe
	if err := db.Gorm().Table("ids_probe").Order("id").Find(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(rows) {
		t.Fatalf("%d rows stored, %d inserted", len(stored), len(rows))
	}
	for i := range rows {
		if rows[i] != stored[i] {
			t.Fatalf("row %d: gorm says %+v, the table holds %+v (all: %+v)", i, rows[i], stored[i], stored)
		}
	}
	// and the ids of DB.IDs, the sweep's and the outbox's inserts, in a
	// transaction as they run
	more := []string{"f", "g", "h", "i"}
	ins := database.Insert{Table: "ids_probe", Columns: []string{"name"},
		Row: func(i int, a []any) []any { return append(a, more[i]) }}
	var ids []int64
	if err := db.WithTx(context.Background(), func(ctx context.Context) error {
		var err error
		ids, err = db.IDs(ctx, ins, len(more))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	stored = nil
	if err := db.Gorm().Table("ids_probe").Where("name IN ?", more).Order("id").Find(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(more) || len(stored) != len(more) {
		t.Fatalf("ids %v for %d rows; the table holds %+v", ids, len(more), stored)
	}
	for i := range more {
		if ids[i] != stored[i].ID || stored[i].Name != more[i] {
			t.Fatalf("row %d: IDs says %d for %q, the table holds %+v (all: %+v)", i, ids[i], more[i], stored[i], stored)
		}
	}
}
