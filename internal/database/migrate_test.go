package database_test

import (
	"context"
	"testing"

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
