package database

import (
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/date"
)

// The values no string test reaches: a nil pointer to a Valuer is NULL
// (not a panic), a Valuer's value is written as its own type, and a type
// without a literal (a float, a byte slice) is an error naming it.
func TestAppendLiteral(t *testing.T) {
	var nilDay *date.Date
	day := date.New(2026, 11, 16)
	for _, tt := range []struct {
		v    any
		want string
	}{
		{nilDay, "NULL"},
		{&day, "'2026-11-16'"},
		{date.Date{}, "NULL"},
		{int64(-3), "-3"},
		{true, "1"},
		{"a'b", "'a''b'"},
		{`a\b`, "_utf8mb4 X'615c62'"},
	} {
		got, err := appendLiteral(nil, tt.v)
		if err != nil || string(got) != tt.want {
			t.Errorf("%#v: %q, %v; want %q", tt.v, got, err, tt.want)
		}
	}
	for _, v := range []any{1.5, []byte("x"), struct{}{}} {
		if _, err := appendLiteral(nil, v); err == nil || !strings.Contains(err.Error(), "no literal for a value of type") {
			t.Errorf("%#v: %v", v, err)
		}
	}
}
