package database

import (
	"strings"
	"testing"
)

// A server on which the ids of a multi-row insert cannot be known is
// refused at start: MariaDB 10.5+ answers them (RETURNING); elsewhere the
// ids are counted up from the first and must step by one. (Which servers
// gorm asks with RETURNING is gorm's decision; TestMultiRowInsertIDs and
// TestGaleraMultiRowInsertIDs check the ids it gets.)
func TestInsertIDsKnown(t *testing.T) {
	for _, tt := range []struct {
		version   string
		returning bool
		increment int64
		ok        bool
	}{
		{"10.11.19-MariaDB-0+deb12u1", true, 3, true}, // a 3-node Galera cluster
		{"11.4.2-MariaDB-log", true, 1, true},
		{"10.4.30-MariaDB", false, 1, true},
		{"10.4.30-MariaDB", false, 3, false}, // no RETURNING before 10.5
		{"8.0.36", false, 1, true},
		{"8.0.36", false, 7, false}, // a MySQL multi-primary group
		{"8.0.11-TiDB-v7.5.0", false, 2, false},
	} {
		err := insertIDsKnown(tt.version, tt.returning, tt.increment)
		if (err == nil) != tt.ok {
			t.Errorf("%s stepping by %d: %v, want ok %v", tt.version, tt.increment, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "auto_increment_increment") {
			t.Errorf("%s: %v does not say what to change", tt.version, err)
		}
	}
}
