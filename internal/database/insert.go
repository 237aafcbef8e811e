package database

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// Insert is one multi-row INSERT of n rows into Table's Columns, built
// without reflection: a reminder day of a province inserts some hundred
// thousand rows (messages, their links, notices), and gorm's Create spent
// more of the sweep's CPU turning structs into values, and collecting
// the garbage that left, than the driver spent sending them.
type Insert struct {
	Table   string
	Columns []string
	// Row appends the values of row i, one per column, to args.
	Row func(i int, args []any) []any
}

// Exec inserts n rows in the transaction of ctx (or autocommitted).
func (d *DB) Exec(ctx context.Context, ins Insert, n int) error {
	if n == 0 {
		return nil
	}
	tx, err := d.insert(ctx, ins, n, "")
	if err != nil {
		return err
	}
	return tx.Callback().Raw().Execute(tx).Error
}

// IDs inserts n rows and returns their auto-increment ids, in order:
// from INSERT … RETURNING id where the server has it (MariaDB 10.5+,
// SQLite), else counted up from the first, which Open allows only where
// ids step by one.
func (d *DB) IDs(ctx context.Context, ins Insert, n int) ([]int64, error) {
	if n == 0 {
		return nil, nil
	}
	if !d.returning {
		tx, err := d.insert(ctx, ins, n, "")
		if err != nil {
			return nil, err
		}
		tx.Statement.Result = gorm.WithResult()
		if err := tx.Callback().Raw().Execute(tx).Error; err != nil {
			return nil, err
		}
		first, err := tx.Statement.Result.Result.LastInsertId()
		if err != nil {
			return nil, err
		}
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = first + int64(i)
		}
		return ids, nil
	}
	tx, err := d.insert(ctx, ins, n, " RETURNING id")
	if err != nil {
		return nil, err
	}
	tx.Statement.Settings.Store("rows", true) // as Rows() asks GORM's row callback for *sql.Rows
	tx = tx.Callback().Row().Execute(tx)
	rows, _ := tx.Statement.Dest.(*sql.Rows)
	if tx.Error != nil {
		if rows != nil {
			rows.Close() // gorm hands back both when a callback failed
		}
		return nil, tx.Error
	}
	if rows == nil {
		return nil, fmt.Errorf("database: insert into %s returned no rows", ins.Table)
	}
	defer rows.Close()
	ids := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) != n {
		return nil, fmt.Errorf("database: insert into %s returned %d ids for %d rows", ins.Table, len(ids), n)
	}
	return ids, nil
}

// insert is the statement of ins for n rows, ready for one of GORM's
// processors (whose callbacks, the query counter's among them, see it as
// they see any other): built here rather than by Exec or Raw, which would
// read a statement of megabytes byte by byte for placeholders, re-bind
// every value and, wherever an address put an "@" in it, look for named
// parameters. On MySQL the values are written into the statement as
// literals (appendLiteral); on SQLite they are bound, one "?" each.
func (d *DB) insert(ctx context.Context, ins Insert, n int, suffix string) (*gorm.DB, error) {
	if len(ins.Columns) == 0 {
		return nil, fmt.Errorf("database: insert into %s names no columns", ins.Table)
	}
	literal := d.dialect == MySQL
	// a statement of its own (Table starts one) whose SQL is written here,
	// in place: the processors send a statement that has SQL as it is
	tx := d.Conn(ctx).Session(&gorm.Session{NewDB: true}).Table(ins.Table)
	q := &tx.Statement.SQL
	head := "INSERT INTO " + ins.Table + " (" + strings.Join(ins.Columns, ", ") + ") VALUES "
	tuple := "(" + strings.Repeat("?,", len(ins.Columns)-1) + "?)"
	if !literal {
		q.Grow(len(head) + n*(len(tuple)+1) + len(suffix))
	}
	q.WriteString(head)
	args := make([]any, 0, len(ins.Columns))
	var vars []any
	var row []byte // one row's literals
	for i := range n {
		args = ins.Row(i, args[:0])
		if len(args) != len(ins.Columns) {
			return nil, fmt.Errorf("database: row %d of %s has %d values for %d columns", i, ins.Table, len(args), len(ins.Columns))
		}
		if i > 0 {
			q.WriteByte(',')
		}
		if !literal {
			q.WriteString(tuple)
			vars = append(vars, args...)
			continue
		}
		row = append(row[:0], '(')
		for j, v := range args {
			if j > 0 {
				row = append(row, ',')
			}
			var err error
			if row, err = appendLiteral(row, v); err != nil {
				return nil, fmt.Errorf("database: row %d of %s, %s: %w", i, ins.Table, ins.Columns[j], err)
			}
		}
		row = append(row, ')')
		if i == 0 {
			// the rest like the first, and a quarter to spare: a
			// statement of megabytes grown by doubling would leave
			// garbage of its own size
			q.Grow((n-1)*(len(row)+1)*5/4 + len(row) + len(suffix))
		}
		q.Write(row)
	}
	q.WriteString(suffix)
	tx.Statement.Vars = vars
	return tx, nil
}
