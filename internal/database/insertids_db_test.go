package database_test

import (
	"context"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// The ids gorm gives the rows of one multi-row insert are the ids stored
// (TestGaleraMultiRowInsertIDs: on a cluster that steps them by 3).
func TestMultiRowInsertIDs(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		idType := "INTEGER PRIMARY KEY AUTOINCREMENT"
		if db.Dialect() == database.MySQL {
			idType = "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
		}
		multiRowInsertIDs(t, db, idType)
	})
}

// An Insert whose Row gives fewer or more values than it has columns is
// an error before anything is sent, not a misaligned row.
func TestInsertRowMustFillItsColumns(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ins := database.Insert{Table: "no_such_table", Columns: []string{"a", "b"},
			Row: func(i int, a []any) []any { return append(a, i) }}
		err := db.Exec(context.Background(), ins, 2)
		if err == nil || !strings.Contains(err.Error(), "has 1 values for 2 columns") {
			t.Fatalf("Exec: %v", err)
		}
		if _, err := db.IDs(context.Background(), ins, 2); err == nil || !strings.Contains(err.Error(), "has 1 values for 2 columns") {
			t.Fatalf("IDs: %v", err)
		}
	})
}
