package database

import (
	"context"
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
	q, args, err := ins.build(n, "")
	if err != nil {
		return err
	}
	return d.Conn(ctx).Session(&gorm.Session{NewDB: true}).Exec(q, args...).Error
}

// IDs inserts n rows and returns their auto-increment ids, in order:
// from INSERT … RETURNING id where the server has it (MariaDB 10.5+,
// SQLite), else counted up from the first, which Open allows only where
// ids step by one.
func (d *DB) IDs(ctx context.Context, ins Insert, n int) ([]int64, error) {
	if n == 0 {
		return nil, nil
	}
	conn := d.Conn(ctx).Session(&gorm.Session{NewDB: true})
	if !d.returning {
		q, args, err := ins.build(n, "")
		if err != nil {
			return nil, err
		}
		res, err := conn.Statement.ConnPool.ExecContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		first, err := res.LastInsertId()
		if err != nil {
			return nil, err
		}
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = first + int64(i)
		}
		return ids, nil
	}
	q, args, err := ins.build(n, " RETURNING id")
	if err != nil {
		return nil, err
	}
	rows, err := conn.Raw(q, args...).Rows()
	if err != nil {
		if rows != nil {
			rows.Close() // gorm hands back both when a callback failed
		}
		return nil, err
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

func (ins Insert) build(n int, suffix string) (string, []any, error) {
	var b strings.Builder
	tuple := "(" + strings.Repeat("?,", len(ins.Columns)-1) + "?)"
	b.Grow(len(ins.Table) + 32 + 24*len(ins.Columns) + n*(len(tuple)+1) + len(suffix))
	b.WriteString("INSERT INTO ")
	b.WriteString(ins.Table)
	b.WriteString(" (")
	b.WriteString(strings.Join(ins.Columns, ", "))
	b.WriteString(") VALUES ")
	args := make([]any, 0, n*len(ins.Columns))
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tuple)
		before := len(args)
		args = ins.Row(i, args)
		if len(args)-before != len(ins.Columns) {
			return "", nil, fmt.Errorf("database: row %d of %s has %d values for %d columns", i, ins.Table, len(args)-before, len(ins.Columns))
		}
	}
	b.WriteString(suffix)
	return b.String(), args, nil
}
