package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// /healthz is liveness (no database); /readyz reads a table on its own
// connection, so neither waits for a request pool that is exhausted, and
// /readyz answers 503 with a reason when the schema cannot be read.
func TestProbes(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		api := testutil.NewAPI(t, testutil.NewApp(t, db, testutil.NewClock(testutil.At("2026-03-01"))))
		if r := api.Do(http.MethodGet, "/readyz", "", nil); r.Status != http.StatusOK {
			t.Fatalf("readyz on a migrated database: %d %s", r.Status, r.Body)
		}
		// every connection of the request pool busy (slow queries)
		sqlDB, err := db.Gorm().DB()
		if err != nil {
			t.Fatal(err)
		}
		var held []interface{ Close() error }
		for range sqlDB.Stats().MaxOpenConnections {
			c, err := sqlDB.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		if r := api.Do(http.MethodGet, "/healthz", "", nil); r.Status != http.StatusOK || r.JSON()["status"] != "ok" {
			t.Fatalf("healthz with the pool exhausted: %d %s", r.Status, r.Body)
		}
		if r := api.Do(http.MethodGet, "/readyz", "", nil); r.Status != http.StatusOK {
			t.Fatalf("readyz with the request pool exhausted: %d %s", r.Status, r.Body)
		}
		for _, c := range held {
			_ = c.Close()
		}
		if err := db.Gorm().Exec("ALTER TABLE schema_migrations RENAME TO schema_migrations_gone").Error; err != nil {
			t.Fatal(err)
		}
		r := api.Do(http.MethodGet, "/readyz", "", nil)
		if r.Status != http.StatusServiceUnavailable || r.JSON()["status"] != "unavailable" || !strings.Contains(r.JSON()["reason"].(string), "schema_migrations") {
			t.Fatalf("readyz without the schema: %d %s", r.Status, r.Body)
		}
		if r.Header.Get("Retry-After") == "" {
			t.Error("a 503 without Retry-After")
		}
		if r := api.Do(http.MethodGet, "/healthz", "", nil); r.Status != http.StatusOK {
			t.Fatalf("healthz depends on the database: %d", r.Status)
		}
		if err := db.Gorm().Exec("ALTER TABLE schema_migrations_gone RENAME TO schema_migrations").Error; err != nil {
			t.Fatal(err)
		}
	})
}
