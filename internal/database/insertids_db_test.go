package database_test

import (
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
