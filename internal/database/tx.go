package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// Retry bounds the retries of a transaction that lost a conflict.
type Retry struct {
	Attempts int           // tries in all, the first included (default 10)
	Base     time.Duration // wait before the second try (default 20ms), doubled each time
	Max      time.Duration // cap of one wait (default 1s)
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 10
	}
	if r.Base <= 0 {
		r.Base = 20 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = time.Second
	}
	return r
}

// wait is the jittered exponential backoff after attempt n (1-based):
// uniform in [d/2, d] with d = Base·2^(n-1) capped at Max, so replicas
// that collided do not collide again in step.
func (r Retry) wait(n int) time.Duration {
	d := r.Base << min(n-1, 20)
	if d <= 0 || d > r.Max {
		d = r.Max
	}
	return d/2 + rand.N(d/2+1)
}

// txStats counts what WithTx did; read by TxStats for metrics.
type txStats struct {
	commits   atomic.Int64
	retries   atomic.Int64
	lost      atomic.Int64 // transactions found no longer open before COMMIT
	discarded atomic.Int64 // connections thrown away after a failed ROLLBACK
	exhausted atomic.Int64 // transactions given up after Retry.Attempts
}

// TxStats is a snapshot of the transaction counters of this handle.
type TxStats struct {
	Commits   int64 `json:"commits"`
	Retries   int64 `json:"retries"`
	Lost      int64 `json:"lost"`
	Discarded int64 `json:"discarded"`
	Exhausted int64 `json:"exhausted"`
}

// Retry returns a handle on the same pools and counters with another retry
// policy (e.g. one attempt, for a caller that retries itself).
// Closing it closes the shared pools.
func (d *DB) Retry(r Retry) *DB {
	c := *d
	c.retry = r.withDefaults()
	return &c
}

// TxStats returns the counters of WithTx since Open.
func (d *DB) TxStats() TxStats {
	return TxStats{Commits: d.stats.commits.Load(), Retries: d.stats.retries.Load(), Lost: d.stats.lost.Load(),
		Discarded: d.stats.discarded.Load(), Exhausted: d.stats.exhausted.Load()}
}

// BusyError is a transaction that kept losing conflicts (deadlocks, lock
// wait timeouts, certification failures on a cluster) or found its node
// unavailable for every one of its attempts. Nothing of it was committed;
// the client may try again (HTTP 503 with Retry-After).
type BusyError struct {
	Attempts int
	Err      error
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("database busy: transaction gave up after %d attempts: %v", e.Attempts, e.Err)
}

func (e *BusyError) Unwrap() error { return e.Err }

// ErrTxLost is returned (and retried) when the transaction was rolled back
// behind the caller's back — a Galera brute-force abort or a deadlock
// whose error the client never saw — so that what ran after it ran in a
// new transaction, which is rolled back rather than committed.
var ErrTxLost = errors.New("database: the transaction was aborted by the server before COMMIT (conflict with another node?)")

// ErrCommitUnknown is a COMMIT whose answer never came (the connection
// broke) or whose node lost the cluster while committing: the transaction
// may or may not be committed. It is not retried, since running fn again
// could apply it twice; the client's idempotency key makes its own retry
// safe.
var ErrCommitUnknown = errors.New("database: COMMIT failed with its outcome unknown (connection lost, or the node lost the cluster)")

type txKey struct{}

type readCommittedKey struct{}

// ReadCommitted makes the transactions WithTx starts with ctx run at READ
// COMMITTED on MySQL (SQLite's transactions are serializable whatever
// asked): for a transaction that reads nothing it must see as of one
// instant, and writes rows other transactions write beside at the same
// time — an UPDATE scanning for its own rows then neither waits for nor
// locks the rows others update (semi-consistent reads), and no gap locks
// are taken.
func ReadCommitted(ctx context.Context) context.Context {
	return context.WithValue(ctx, readCommittedKey{}, true)
}

// Conn returns the transaction carried by ctx, or the pool.
func (d *DB) Conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
	}
	return d.gorm.WithContext(ctx)
}

// InTx reports whether ctx carries a transaction.
func InTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*gorm.DB)
	return ok
}

// WithTx runs fn in one transaction carried by the context; nested calls
// join the outer transaction. Every side effect of fn that must be atomic
// (the write, its audit row, the idempotency row, the read model) goes
// through Conn(ctx), so a retry repeats all of them together.
//
// A conflict (deadlock 1213, lock wait timeout 1205, a Galera certification
// failure or brute-force abort, a node not ready 1047) rolls everything
// back and runs fn again after a jittered exponential backoff, up to
// Retry.Attempts tries; then it is a *BusyError. Retries happen here, at
// the outermost boundary, never inside fn.
//
// On MySQL the transaction runs on one pinned connection with autocommit
// off, and before COMMIT it checks that a marker row written at its start
// (in a session-private temporary table) is still there. If the server
// aborted the transaction in between without the client noticing, the
// marker is gone and what ran since then sits in a new, implicit
// transaction that is rolled back, never committed: no half-done write is
// ever acknowledged. A connection whose ROLLBACK failed is discarded.
func (d *DB) WithTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if InTx(ctx) {
		return fn(ctx)
	}
	for attempt := 1; ; attempt++ {
		err := d.txOnce(ctx, fn)
		if err == nil {
			d.stats.commits.Add(1)
			return nil
		}
		if !retryable(err) || ctx.Err() != nil {
			return err
		}
		if attempt >= d.retry.Attempts {
			d.stats.exhausted.Add(1)
			return &BusyError{Attempts: attempt, Err: err}
		}
		d.stats.retries.Add(1)
		t := time.NewTimer(d.retry.wait(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

func (d *DB) txOnce(ctx context.Context, fn func(ctx context.Context) error) error {
	if d.dialect != MySQL {
		return d.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return fn(context.WithValue(ctx, txKey{}, tx))
		})
	}
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return beforeCommit(err)
	}
	defer conn.Close()
	t := &pinnedTx{db: d, conn: conn, ctx: ctx}
	if err := t.begin(); err != nil {
		t.abort()
		return beforeCommit(err)
	}
	tx := d.gorm.WithContext(ctx).Session(&gorm.Session{NewDB: true})
	tx.Statement.ConnPool = conn
	done := false
	defer func() {
		if !done { // fn failed or panicked
			t.abort()
		}
	}()
	if err := fn(context.WithValue(ctx, txKey{}, tx)); err != nil {
		return beforeCommit(err)
	}
	if err := t.commit(); err != nil {
		if errors.Is(err, ErrCommitUnknown) {
			done = true // the connection is gone already
		}
		return err
	}
	done = true
	return nil
}

// markerTable is a temporary table (one per session, invisible to others,
// never replicated) holding one row while a transaction is open.
const markerTable = "twinning_tx_marker"

// pinnedTx is one transaction on one connection.
type pinnedTx struct {
	db   *DB
	conn *sql.Conn
	ctx  context.Context
}

func (t *pinnedTx) exec(ctx context.Context, q string) (sql.Result, error) {
	return t.conn.ExecContext(ctx, q)
}

// begin turns autocommit off (so that anything run after an unnoticed
// abort is held in a new transaction instead of committed statement by
// statement) and writes the marker, which starts the transaction.
func (t *pinnedTx) begin() error {
	if _, err := t.exec(t.ctx, "SET autocommit = 0"); err != nil {
		return err
	}
	if rc, _ := t.ctx.Value(readCommittedKey{}).(bool); rc {
		// for the next transaction only: the one the marker starts
		if _, err := t.exec(t.ctx, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"); err != nil {
			return err
		}
	}
	_, err := t.exec(t.ctx, "INSERT INTO "+markerTable+" (n) VALUES (1)")
	if mysqlErrno(err) == 1146 { // first transaction of this session
		if _, err = t.exec(t.ctx, "CREATE TEMPORARY TABLE IF NOT EXISTS "+markerTable+" (n INT NOT NULL) ENGINE=InnoDB"); err != nil {
			return err
		}
		_, err = t.exec(t.ctx, "INSERT INTO "+markerTable+" (n) VALUES (1)")
	}
	return err
}

// commit checks the marker is still there (taking it out again) and
// commits. A missing marker rolls back and is ErrTxLost.
func (t *pinnedTx) commit() error {
	res, err := t.exec(t.ctx, "DELETE FROM "+markerTable)
	if err != nil {
		return beforeCommit(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.db.stats.lost.Add(1)
		return ErrTxLost
	}
	if _, err := t.exec(t.ctx, "COMMIT"); err != nil {
		err = commitError(err)
		if errors.Is(err, ErrCommitUnknown) {
			t.discard()
		}
		return err
	}
	t.restore()
	return nil
}

// commitError classifies an error answered to COMMIT. Only a conflict the
// server reports as such (a certification failure or brute-force abort,
// 1213; a lock wait timeout, 1205) means nothing was kept and fn may run
// again. A node that left the primary component during COMMIT (1047), or
// whose replication failed (1180 "Got error 6 during COMMIT": wsrep's
// WSREP_CONN_FAIL), may have sent its write set to the others, where it
// commits: running fn again could apply it twice (a confirmation that
// answers 409 "confirmed, not pending" to its own retry), so the outcome
// is unknown and the client's retry, with its idempotency key, decides. A
// broken connection is unknown too.
func commitError(err error) error {
	switch mysqlErrno(err) {
	case 1213, 1205:
		return err
	}
	return errors.Join(ErrCommitUnknown, err)
}

// cleanupCtx survives the cancellation of the request: a ROLLBACK must run
// even when the client went away.
func (t *pinnedTx) cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(t.ctx), 10*time.Second)
}

// abort rolls back; a connection whose ROLLBACK (or the reset of
// autocommit) fails is discarded, since it may still hold the open
// transaction and the next user of the connection would commit it.
func (t *pinnedTx) abort() {
	ctx, cancel := t.cleanupCtx()
	defer cancel()
	if _, err := t.exec(ctx, "ROLLBACK"); err != nil {
		t.discard()
		return
	}
	if _, err := t.exec(ctx, "SET autocommit = 1"); err != nil {
		t.discard()
	}
}

func (t *pinnedTx) restore() {
	ctx, cancel := t.cleanupCtx()
	defer cancel()
	if _, err := t.exec(ctx, "SET autocommit = 1"); err != nil {
		t.discard()
	}
}

// discard closes the driver connection instead of returning it to the
// pool: database/sql drops a connection whose Raw callback answers
// driver.ErrBadConn.
func (t *pinnedTx) discard() {
	t.db.stats.discarded.Add(1)
	_ = t.conn.Raw(func(any) error { return driver.ErrBadConn })
}

// retryBefore marks an error raised before COMMIT was sent: the
// transaction is rolled back, so running fn again is safe even when the
// connection broke.
type retryBefore struct{ err error }

func (e *retryBefore) Error() string { return e.err.Error() }
func (e *retryBefore) Unwrap() error { return e.err }

func beforeCommit(err error) error {
	if err == nil {
		return nil
	}
	if connectionLost(err) {
		return &retryBefore{err}
	}
	return err
}

// Conflict reports an error that means "another transaction won": a
// deadlock, a lock wait timeout, a Galera certification failure or
// brute-force abort (both reported as 1213), a transaction aborted
// unnoticed. A claim that fails this way was taken by someone else.
func Conflict(err error) bool {
	if errors.Is(err, ErrTxLost) {
		return true
	}
	switch mysqlErrno(err) {
	case 1213, // ER_LOCK_DEADLOCK; also Galera's certification failure and BF abort
		1205, // ER_LOCK_WAIT_TIMEOUT
		1180: // ER_ERROR_DURING_COMMIT (Galera: "Got error 6 during COMMIT")
		return true
	}
	return false
}

// Unavailable reports an error that means the database (or this node of
// it) cannot serve now: the node left the primary component (1047 "WSREP
// has not yet prepared node for application use"), the connection broke or
// was refused. The request may succeed later or on another node.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var be *BusyError
	if errors.As(err, &be) {
		return true
	}
	switch mysqlErrno(err) {
	case 1047, 1053, 2002, 2003, 2006, 2013:
		return true
	}
	return connectionLost(err) || errors.Is(err, ErrCommitUnknown)
}

func connectionLost(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysqldriver.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var ne *net.OpError
	return errors.As(err, &ne)
}

// retryable: worth running the whole transaction again. Never after a
// COMMIT of unknown outcome, whatever the server's error number says.
func retryable(err error) bool {
	if errors.Is(err, ErrCommitUnknown) {
		return false
	}
	if Conflict(err) {
		return true
	}
	if mysqlErrno(err) == 1047 {
		return true
	}
	var rb *retryBefore
	return errors.As(err, &rb)
}

func mysqlErrno(err error) uint16 {
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}
