package database

import (
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// appendLiteral appends v to b as a MySQL/MariaDB literal, for the
// multi-row INSERTs of Insert: a reminder day of a province sends some
// hundred thousand rows of a dozen values, and binding them as parameters
// cost more client CPU than the rest of the write — GORM re-reads the
// statement for its placeholders and copies every value, database/sql
// converts each, the driver interpolates them again, and a third of the
// sweep's 1.45 GB of allocations were those copies.
//
// A string is written '…' with quotes doubled, which reads the same
// whether or not the server's sql_mode has NO_BACKSLASH_ESCAPES — unless
// it holds the one byte the two modes read differently (a backslash) or a
// NUL or ^Z, which clients have always escaped: such a string is written
// as _utf8mb4 X'…', which no mode reads differently. The connection's
// character set is utf8mb4 (mysqlDSN), in which no byte of a multi-byte
// character is a quote or a backslash, so the bytes can be copied as they
// are. Times are written as the driver writes them (in UTC, mysqlDSN's
// Loc). A value of any other type is an error, never a guess.
func appendLiteral(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "NULL"...), nil
	case string:
		return appendString(b, v), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case *int64:
		if v == nil {
			return append(b, "NULL"...), nil
		}
		return strconv.AppendInt(b, *v, 10), nil
	case bool:
		if v {
			return append(b, '1'), nil
		}
		return append(b, '0'), nil
	case time.Time:
		return appendTime(b, v)
	case *time.Time:
		if v == nil {
			return append(b, "NULL"...), nil
		}
		return appendTime(b, *v)
	case driver.Valuer:
		// a nil pointer to a type whose Value has a value receiver would
		// panic: it is NULL, as database/sql binds it
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return append(b, "NULL"...), nil
		}
		dv, err := v.Value()
		if err != nil {
			return b, err
		}
		if _, again := dv.(driver.Valuer); again {
			return b, fmt.Errorf("database: %T's value is a Valuer", v)
		}
		return appendLiteral(b, dv)
	}
	// floats among them: quantities are integers of hundredths
	return b, fmt.Errorf("database: no literal for a value of type %T", v)
}

func appendString(b []byte, s string) []byte {
	if strings.ContainsAny(s, "\\\x00\x1a") {
		b = append(b, "_utf8mb4 X'"...)
		b = hex.AppendEncode(b, []byte(s))
		return append(b, '\'')
	}
	b = append(b, '\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '\'')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '\'')
}

// appendTime writes t in UTC as 'YYYY-MM-DD HH:MM:SS[.fraction]', the
// fraction without trailing zeros, as the driver does (the server keeps
// what the column's precision holds).
func appendTime(b []byte, t time.Time) ([]byte, error) {
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return b, fmt.Errorf("database: year %d is outside 1–9999", y)
	}
	b = append(b, '\'')
	if t.Nanosecond() == 0 {
		b = t.AppendFormat(b, "2006-01-02 15:04:05")
	} else {
		b = t.AppendFormat(b, "2006-01-02 15:04:05.999999999")
	}
	return append(b, '\''), nil
}
