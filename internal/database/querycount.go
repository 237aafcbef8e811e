package database

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// QueryEvent describes one statement sent through GORM, for the observer of
// WatchQueries.
type QueryEvent struct {
	Kind    string        // create | query | update | delete | row | raw
	SQL     string        // with placeholders
	Vars    []any         // the bound values
	Elapsed time.Duration // from just before to just after the statement ran (a Find's scan included)
	Rows    int64         // rows affected or scanned
	Err     error
}

// QueryCounter counts the statements a DB sends through GORM (Find, Take,
// Scan, Count, Exec, Create, Update, Delete...) and the time spent in them.
// It is a pair of GORM callbacks around each core callback; it sees neither
// BEGIN/COMMIT nor statements sent on the raw *sql.DB. Counts are for the
// whole DB, so measure one request at a time and take differences. Its
// methods are safe for concurrent use.
type QueryCounter struct {
	n, nanos atomic.Int64
	observe  func(QueryEvent)
	startKey string
}

// CountQueries registers a counter on db. Register it before the DB serves
// requests: GORM does not guard its callback lists against registration
// while statements run. A counter stays registered for the life of the DB.
func CountQueries(db *DB) *QueryCounter { return WatchQueries(db, nil) }

// WatchQueries is CountQueries that also calls observe (when not nil) after
// every statement, on the goroutine that ran it.
func WatchQueries(db *DB, observe func(QueryEvent)) *QueryCounter {
	c := &QueryCounter{observe: observe}
	name := fmt.Sprintf("twinning:querycount:%p", c)
	c.startKey = name
	cb := db.gorm.Callback()
	// Around GORM's core callback of each processor. Registering only fails
	// on contradictory ordering, which these names cannot produce.
	err := errors.Join(
		cb.Create().Before("gorm:create").Register(name+":before", c.before),
		cb.Create().After("gorm:create").Register(name+":after", c.after("create")),
		cb.Query().Before("gorm:query").Register(name+":before", c.before),
		cb.Query().After("gorm:query").Register(name+":after", c.after("query")),
		cb.Update().Before("gorm:update").Register(name+":before", c.before),
		cb.Update().After("gorm:update").Register(name+":after", c.after("update")),
		cb.Delete().Before("gorm:delete").Register(name+":before", c.before),
		cb.Delete().After("gorm:delete").Register(name+":after", c.after("delete")),
		cb.Row().Before("gorm:row").Register(name+":before", c.before),
		cb.Row().After("gorm:row").Register(name+":after", c.after("row")),
		cb.Raw().Before("gorm:raw").Register(name+":before", c.before),
		cb.Raw().After("gorm:raw").Register(name+":after", c.after("raw")),
	)
	if err != nil {
		db.gorm.Logger.Error(context.Background(), "querycount: %v", err)
	}
	return c
}

func (c *QueryCounter) before(db *gorm.DB) {
	db.InstanceSet(c.startKey, time.Now())
}

func (c *QueryCounter) after(kind string) func(*gorm.DB) {
	return func(db *gorm.DB) {
		// No SQL means GORM stopped before building a statement (an error
		// in the chain); a dry run builds one but sends nothing.
		if db.Statement.SQL.Len() == 0 || db.DryRun {
			return
		}
		var elapsed time.Duration
		if v, ok := db.InstanceGet(c.startKey); ok {
			if t, ok := v.(time.Time); ok {
				elapsed = time.Since(t)
			}
		}
		c.n.Add(1)
		c.nanos.Add(int64(elapsed))
		if c.observe != nil {
			c.observe(QueryEvent{Kind: kind, SQL: db.Statement.SQL.String(), Vars: db.Statement.Vars,
				Elapsed: elapsed, Rows: db.RowsAffected, Err: db.Error})
		}
	}
}

// Queries is the number of statements sent since the counter was registered.
func (c *QueryCounter) Queries() int64 { return c.n.Load() }

// Elapsed is the total time spent in those statements.
func (c *QueryCounter) Elapsed() time.Duration { return time.Duration(c.nanos.Load()) }
