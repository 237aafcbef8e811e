package database_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

func createProbe(t *testing.T, db *database.DB) {
	t.Helper()
	if err := db.Gorm().Exec("CREATE TABLE tx_probe (id INT NOT NULL PRIMARY KEY, attempt INT NOT NULL, what VARCHAR(20) NOT NULL)").Error; err != nil {
		t.Fatal(err)
	}
}

func probeRows(t *testing.T, db *database.DB) map[string]int {
	t.Helper()
	var rows []struct {
		What string
		N    int
	}
	if err := db.Gorm().Raw("SELECT what, COUNT(*) AS n FROM tx_probe GROUP BY what").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.What] = r.N
	}
	return out
}

// The mechanism of a lost acknowledged write: the server rolls the
// transaction back (a Galera brute-force abort, a deadlock victim) and the
// client never sees an error, so the statements after it ran outside the
// transaction. Here the abort is a ROLLBACK sent on the transaction's own
// connection between two writes, unseen by WithTx. WithTx must find the
// transaction gone before COMMIT, keep nothing of the first attempt (not
// even the write made after the abort), and run fn again.
func TestWithTxNeverCommitsAfterAnUnnoticedAbort(t *testing.T) {
	db := testutil.MySQL(t)
	createProbe(t, db)
	ctx := context.Background()
	var attempts atomic.Int32
	before := db.TxStats()
	err := db.WithTx(ctx, func(ctx context.Context) error {
		n := attempts.Add(1)
		conn := db.Conn(ctx)
		if err := conn.Exec("INSERT INTO tx_probe (id, attempt, what) VALUES (?, ?, 'first')", 10+n, n).Error; err != nil {
			return err
		}
		if n == 1 {
			// the server aborts the transaction; no error reaches fn
			if err := conn.Exec("ROLLBACK").Error; err != nil {
				return err
			}
		}
		return conn.Exec("INSERT INTO tx_probe (id, attempt, what) VALUES (?, ?, 'second')", 20+n, n).Error
	})
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	if attempts.Load() != 2 {
		t.Fatalf("fn ran %d times, want 2 (the lost attempt and its retry)", attempts.Load())
	}
	got := probeRows(t, db)
	if got["first"] != 1 || got["second"] != 1 {
		t.Fatalf("rows %v: want exactly the retry's two writes (the write made after the abort must not be committed)", got)
	}
	var stray int64
	db.Gorm().Raw("SELECT COUNT(*) FROM tx_probe WHERE attempt = 1").Scan(&stray)
	if stray != 0 {
		t.Fatalf("%d rows of the aborted attempt were committed", stray)
	}
	after := db.TxStats()
	if after.Lost-before.Lost != 1 || after.Retries-before.Retries != 1 {
		t.Fatalf("stats before %+v after %+v: want one lost transaction and one retry", before, after)
	}
}

// A real deadlock whose error fn swallows (as a client library that lost
// the error would): InnoDB rolled the victim back; the victim goes on
// writing. Its WithTx must not commit those writes, and must retry.
func TestWithTxDeadlockVictimThatIgnoresTheErrorIsRetriedWhole(t *testing.T) {
	db := testutil.MySQL(t)
	createProbe(t, db)
	if err := db.Gorm().Exec("INSERT INTO tx_probe (id, attempt, what) VALUES (1, 0, 'row'), (2, 0, 'row')").Error; err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var (
		locked   sync.WaitGroup // both hold their first row
		tries    [2]atomic.Int32
		errsSeen [2]atomic.Int32
	)
	locked.Add(2)
	run := func(i int, first, second int) error {
		return db.WithTx(ctx, func(ctx context.Context) error {
			n := tries[i].Add(1)
			conn := db.Conn(ctx)
			if err := conn.Exec("UPDATE tx_probe SET attempt = attempt + 1 WHERE id = ?", first).Error; err != nil {
				return err
			}
			if n == 1 {
				locked.Done()
				locked.Wait()
			}
			if err := conn.Exec("UPDATE tx_probe SET attempt = attempt + 1 WHERE id = ?", second).Error; err != nil {
				var me *mysqldriver.MySQLError
				if !errors.As(err, &me) || me.Number != 1213 {
					return err
				}
				errsSeen[i].Add(1) // swallowed: the victim carries on
			}
			return conn.Exec("INSERT INTO tx_probe (id, attempt, what) VALUES (?, ?, 'after')", 100*(i+1)+int(n), n).Error
		})
	}
	var wg sync.WaitGroup
	var results [2]error
	for i, ids := range [][2]int{{1, 2}, {2, 1}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = run(i, ids[0], ids[1])
		}()
	}
	wg.Wait()
	for i, err := range results {
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	if errsSeen[0].Load()+errsSeen[1].Load() != 1 {
		t.Fatalf("want exactly one deadlock victim, got %d and %d", errsSeen[0].Load(), errsSeen[1].Load())
	}
	if got := probeRows(t, db); got["after"] != 2 {
		t.Fatalf("rows %v: want one 'after' row per transaction (the victim's first must be rolled back)", got)
	}
	var sum int64
	db.Gorm().Raw("SELECT SUM(attempt) FROM tx_probe WHERE what = 'row'").Scan(&sum)
	if sum != 4 {
		t.Fatalf("the two rows were incremented %d times in all, want 4 (2 per committed transaction)", sum)
	}
}

// A conflict retried up to the bound becomes a BusyError (503 to a client),
// with backoff between the tries and nothing committed.
func TestWithTxGivesUpAfterTheBoundWithBusy(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		var n atomic.Int32
		start := time.Now()
		err := db.WithTx(context.Background(), func(ctx context.Context) error {
			n.Add(1)
			if err := db.Conn(ctx).Exec("INSERT INTO terms (school_year, season, starts_on, ends_on, created_at, updated_at) VALUES ('2026-2027','autumn','2026-09-01','2027-01-31','2026-01-01','2026-01-01')").Error; err != nil {
				return err
			}
			return &mysqldriver.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}
		})
		var busy *database.BusyError
		if !errors.As(err, &busy) || !database.Unavailable(err) {
			t.Fatalf("want a BusyError, got %v", err)
		}
		if int(n.Load()) != busy.Attempts || busy.Attempts != 10 {
			t.Fatalf("fn ran %d times, BusyError says %d, want the default 10", n.Load(), busy.Attempts)
		}
		if time.Since(start) < 1500*time.Millisecond {
			t.Fatalf("10 attempts took %v: the backoff (20ms doubling to 1s, at least half of each) is missing", time.Since(start))
		}
		var rows int64
		db.Gorm().Raw("SELECT COUNT(*) FROM terms").Scan(&rows)
		if rows != 0 {
			t.Fatalf("%d rows committed by failed attempts", rows)
		}
	})
}

// Errors that are not conflicts are returned at once, not retried.
func TestWithTxDoesNotRetryOrdinaryErrors(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		var n atomic.Int32
		want := errors.New("validation says no")
		err := db.WithTx(context.Background(), func(ctx context.Context) error {
			n.Add(1)
			return want
		})
		if !errors.Is(err, want) || n.Load() != 1 {
			t.Fatalf("err %v after %d runs; want the error itself after one run", err, n.Load())
		}
	})
}

// A connection whose transaction could not be rolled back is not returned
// to the pool: here the server killed the connection in the middle of the
// transaction, so ROLLBACK fails; the next transactions get a good one and
// never see the half-done work.
func TestWithTxDiscardsAConnectionWhoseRollbackFailed(t *testing.T) {
	db := testutil.MySQL(t)
	createProbe(t, db)
	other := testutil.SecondHandle(t, db)
	ctx := context.Background()
	before := db.TxStats()
	err := db.WithTx(ctx, func(ctx context.Context) error {
		conn := db.Conn(ctx)
		if err := conn.Exec("INSERT INTO tx_probe (id, attempt, what) VALUES (1, 1, 'half')").Error; err != nil {
			return err
		}
		var id int64
		if err := conn.Raw("SELECT CONNECTION_ID()").Scan(&id).Error; err != nil {
			return err
		}
		if err := other.Gorm().Exec("KILL CONNECTION ?", id).Error; err != nil {
			return err
		}
		return errors.New("fn fails after its connection died")
	})
	if err == nil {
		t.Fatal("want the error of fn")
	}
	if d := db.TxStats().Discarded - before.Discarded; d != 1 {
		t.Fatalf("%d connections discarded, want 1", d)
	}
	for range 5 {
		if err := db.WithTx(ctx, func(ctx context.Context) error {
			return db.Conn(ctx).Exec("INSERT INTO tx_probe (id, attempt, what) VALUES (2, 1, 'next') ON DUPLICATE KEY UPDATE attempt = attempt + 1").Error
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := probeRows(t, db); got["half"] != 0 || got["next"] != 1 {
		t.Fatalf("rows %v: want only the later transactions' row", got)
	}
}

// BenchmarkWithTx is the cost of one small write transaction (one INSERT):
// on MySQL it includes the pinned connection, autocommit off/on, the
// marker row and its check.
//
//	TWINNING_TEST_MYSQL_DSN='root:@tcp(127.0.0.1:3306)/test' go test ./internal/database -run '^$' -bench WithTx
func BenchmarkWithTx(b *testing.B) {
	for _, dialect := range []string{"sqlite", "mysql"} {
		b.Run(dialect, func(b *testing.B) {
			var db *database.DB
			if dialect == "sqlite" {
				db = testutil.SQLite(b)
			} else {
				db = testutil.MySQL(b)
			}
			if err := db.Gorm().Exec("CREATE TABLE tx_bench (id INT NOT NULL PRIMARY KEY)").Error; err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				if err := db.WithTx(ctx, func(ctx context.Context) error {
					return db.Conn(ctx).Exec("INSERT INTO tx_bench (id) VALUES (?)", i).Error
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// ReadCommitted applies to the transaction it starts only: inside it, a row
// another connection commits meanwhile is seen; the next transaction on the
// same connection is back at the server's default (a snapshot).
func TestReadCommittedIsForOneTransaction(t *testing.T) {
	db := testutil.MySQL(t)
	g := db.Gorm()
	if err := g.Exec("CREATE TABLE rc_probe (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB").Error; err != nil {
		t.Fatal(err)
	}
	if err := g.Exec("INSERT INTO rc_probe VALUES (1, 0)").Error; err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	seesOthers := func(ctx context.Context) bool {
		var before, after int
		if err := db.WithTx(ctx, func(ctx context.Context) error {
			if err := db.Conn(ctx).Raw("SELECT v FROM rc_probe WHERE id = 1").Scan(&before).Error; err != nil {
				return err
			}
			// another connection of the pool commits meanwhile
			if err := g.Exec("UPDATE rc_probe SET v = v + 1 WHERE id = 1").Error; err != nil {
				return err
			}
			return db.Conn(ctx).Raw("SELECT v FROM rc_probe WHERE id = 1").Scan(&after).Error
		}); err != nil {
			t.Fatal(err)
		}
		return before != after
	}
	for i := 0; i < 2; i++ {
		if seesOthers(ctx) {
			t.Fatal("a default transaction saw another's commit: not a snapshot")
		}
		if !seesOthers(database.ReadCommitted(ctx)) {
			t.Fatal("a ReadCommitted transaction did not see another's commit")
		}
	}
}
