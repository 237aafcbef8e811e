package benchdata

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/database"
)

// maxVars keeps a statement under SQLite's bound-variable limit (32766
// since 3.32) and MySQL's (65535).
const maxVars = 30000

// bulk inserts rows into one table with multi-row INSERTs: rowsPerStmt rows
// per statement, txRows rows per transaction. Statements go straight to
// the transaction's connection, past GORM's callbacks and logger: a
// 1000-row statement would otherwise be re-rendered with its values for
// the slow-query log.
type bulk struct {
	db          *database.DB
	table       string
	cols        []string
	rowsPerStmt int
	txRows      int
	stmts       map[int]string
}

func newBulk(db *database.DB, table string, cols []string, batch, txRows int) *bulk {
	rows := min(batch, maxVars/len(cols))
	return &bulk{db: db, table: table, cols: cols, rowsPerStmt: max(rows, 1), txRows: max(txRows, rows), stmts: map[int]string{}}
}

// stmt is "INSERT INTO t (a,b) VALUES (?,?),(?,?)..." for n rows.
func (b *bulk) stmt(n int) string {
	if s, ok := b.stmts[n]; ok {
		return s
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(b.cols)), ",") + ")"
	var sb strings.Builder
	sb.Grow(32 + len(b.table) + 16*len(b.cols) + n*(len(one)+1))
	sb.WriteString("INSERT INTO ")
	sb.WriteString(b.table)
	sb.WriteString(" (")
	sb.WriteString(strings.Join(b.cols, ", "))
	sb.WriteString(") VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(one)
	}
	s := sb.String()
	b.stmts[n] = s
	return s
}

// insert writes total rows; row appends the values of row i (in column
// order) to dst and returns it.
func (b *bulk) insert(ctx context.Context, total int, row func(i int, dst []any) []any) (time.Duration, error) {
	start := time.Now()
	args := make([]any, 0, b.rowsPerStmt*len(b.cols))
	for lo := 0; lo < total; lo += b.txRows {
		hi := min(lo+b.txRows, total)
		err := b.db.WithTx(ctx, func(ctx context.Context) error {
			pool := b.db.Conn(ctx).Statement.ConnPool
			for s := lo; s < hi; s += b.rowsPerStmt {
				e := min(s+b.rowsPerStmt, hi)
				args = args[:0]
				for i := s; i < e; i++ {
					args = row(i, args)
				}
				if len(args) != (e-s)*len(b.cols) {
					return fmt.Errorf("benchdata: %s row %d: %d values for %d columns", b.table, s, len(args)/(e-s), len(b.cols))
				}
				if _, err := pool.ExecContext(ctx, b.stmt(e-s), args...); err != nil {
					return fmt.Errorf("benchdata: insert into %s (rows %d-%d): %w", b.table, s, e-1, err)
				}
			}
			return nil
		})
		if err != nil {
			return time.Since(start), err
		}
	}
	return time.Since(start), nil
}

// count is SELECT COUNT(*) FROM table.
func count(ctx context.Context, db *database.DB, table string) (int64, error) {
	var n int64
	err := db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Raw("SELECT COUNT(*) FROM " + table).Scan(&n).Error
	return n, err
}
