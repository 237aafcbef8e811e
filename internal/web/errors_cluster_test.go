package web

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/twinning-platform/twinning/internal/database"
)

// A transaction that kept losing conflicts, a conflict outside a
// transaction, or a database node that cannot serve is a 503 the client
// may retry — never a 500 (finding 5).
func TestClusterErrorsAre503(t *testing.T) {
	deadlock := &mysqldriver.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock"}
	for name, err := range map[string]error{
		"busy":        &database.BusyError{Attempts: 10, Err: deadlock},
		"lock wait":   fmt.Errorf("confirm: %w", &mysqldriver.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}),
		"deadlock":    deadlock,
		"not primary": &mysqldriver.MySQLError{Number: 1047, Message: "WSREP has not yet prepared node for application use"},
		"commit lost": errors.Join(database.ErrCommitUnknown, mysqldriver.ErrInvalidConn),
		"lost tx":     database.ErrTxLost,
		"bad conn":    mysqldriver.ErrInvalidConn,
	} {
		if status, body := (&Server{}).classify(err); status != http.StatusServiceUnavailable || body.Code != "unavailable" {
			t.Errorf("%s: %d %s, want 503 unavailable", name, status, body.Code)
		}
	}
	if status, _ := (&Server{}).classify(errors.New("a bug")); status != http.StatusInternalServerError {
		t.Errorf("an unknown error: %d, want 500", status)
	}
}
