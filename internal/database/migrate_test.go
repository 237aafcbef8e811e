package database_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

func TestMigrateIsIdempotentAndVersioned(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		// testutil already migrated once: a second run applies nothing
		applied, err := db.Migrate(context.Background())
		if err != nil || len(applied) != 0 {
			t.Fatalf("second migrate applied %v, err %v", applied, err)
		}
		all, err := database.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		db.Gorm().Raw("SELECT COUNT(*) FROM schema_migrations").Scan(&n)
		if int(n) != len(all) {
			t.Fatalf("schema_migrations has %d rows, want %d", n, len(all))
		}
	})
}

func TestWithTxRollsBackEverything(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		err := db.WithTx(ctx, func(ctx context.Context) error {
			if err := db.Conn(ctx).Exec("INSERT INTO terms (school_year, season, starts_on, ends_on, created_at, updated_at) VALUES ('2026-2027','autumn','2026-09-01','2027-01-31','2026-01-01','2026-01-01')").Error; err != nil {
				return err
			}
			// nested: joins the outer transaction
			return db.WithTx(ctx, func(ctx context.Context) error {
				return db.Conn(ctx).Exec("INSERT INTO terms (school_year, season, starts_on, ends_on, created_at, updated_at) VALUES ('2026-2027','autumn','2027-02-01','2027-08-31','2026-01-01','2026-01-01')").Error
			})
		})
		if !database.IsDuplicate(err) {
			t.Fatalf("want a duplicate-key error, got %v", err)
		}
		var n int64
		db.Gorm().Raw("SELECT COUNT(*) FROM terms").Scan(&n)
		if n != 0 {
			t.Fatalf("%d rows survived the rollback", n)
		}
	})
}

// Three migrators started at once on an empty database (three replicas
// deploying together) all succeed, and every migration is applied once.
func TestConcurrentMigrateAllSucceed(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		fresh := testutil.EmptyLike(t, db)
		handles := []*database.DB{fresh, testutil.SecondHandle(t, fresh), testutil.SecondHandle(t, fresh)}
		var wg sync.WaitGroup
		errs := make([]error, len(handles))
		applied := make([][]int, len(handles))
		for i, h := range handles {
			wg.Go(func() { applied[i], errs[i] = h.Migrate(context.Background()) })
		}
		wg.Wait()
		all, _ := database.Migrations()
		total := 0
		for i := range handles {
			if errs[i] != nil {
				t.Fatalf("migrator %d: %v", i, errs[i])
			}
			total += len(applied[i])
		}
		if total != len(all) {
			t.Fatalf("applied %v in all, want each of the %d migrations once", applied, len(all))
		}
		if p, err := fresh.Pending(context.Background()); err != nil || len(p) != 0 {
			t.Fatalf("pending after migrate: %v %v", p, err)
		}
		var holder string
		fresh.Gorm().Raw("SELECT holder FROM schema_lock WHERE id = 1").Scan(&holder)
		if holder != "" {
			t.Fatalf("the lock is still held by %q", holder)
		}
	})
}

// A migrator that crashed while holding the lock blocks the others only
// until its lease expires.
func TestMigrateTakesOverAnExpiredLock(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		if err := db.Gorm().Exec("UPDATE schema_lock SET holder = 'crashed', expires_at = ? WHERE id = 1", time.Now().Add(-time.Second).UnixMilli()).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		var holder string
		db.Gorm().Raw("SELECT holder FROM schema_lock WHERE id = 1").Scan(&holder)
		if holder != "" {
			t.Fatalf("lock holder %q after migrate", holder)
		}
	})
}
