package database

import (
	"errors"
	"fmt"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// What COMMIT answered decides whether the transaction runs again: only a
// conflict the server reports (nothing kept) is retried; a node that lost
// the cluster while committing (1047, 1180 "Got error 6 during COMMIT") or
// a broken connection may have committed, so running fn again could apply
// it twice. The client gets a 503 and retries with its idempotency key.
func TestCommitOfUnknownOutcomeIsNeverRunAgain(t *testing.T) {
	for _, c := range []struct {
		err     error
		unknown bool
	}{
		{&mysqldriver.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}, false},
		{&mysqldriver.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded; try restarting transaction"}, false},
		{&mysqldriver.MySQLError{Number: 1047, Message: "WSREP has not yet prepared node for application use"}, true},
		{&mysqldriver.MySQLError{Number: 1180, Message: "Got error 6 \"No such device or address\" during COMMIT"}, true},
		{mysqldriver.ErrInvalidConn, true},
		{fmt.Errorf("read: %w", errors.New("connection reset by peer")), true},
	} {
		err := commitError(c.err)
		if got := errors.Is(err, ErrCommitUnknown); got != c.unknown {
			t.Errorf("COMMIT answered %v: outcome unknown %v, want %v", c.err, got, c.unknown)
		}
		if retryable(err) == c.unknown {
			t.Errorf("COMMIT answered %v: retried %v, want %v", c.err, retryable(err), !c.unknown)
		}
		if !Unavailable(err) && !Conflict(err) {
			t.Errorf("COMMIT answered %v: neither unavailable nor a conflict, so the client gets a 500", c.err)
		}
	}
}
