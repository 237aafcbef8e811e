// Package search makes names findable the way people type them at
// province scale: by any part of the name, the code, the full pinyin or
// the pinyin initials (武汉市第六中学 is found by "六中", "wuhan", "diliu"
// and "whsd"). The text to match is computed here, stored with the record
// (search_text, maintained on every write and backfilled for old rows) and
// matched with one LIKE over a narrow covering index.
package search

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mozillazg/go-pinyin"
	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/database"
)

// MaxLen is the column's length (an InnoDB index key holds 760 utf8mb4
// characters with the id).
const MaxLen = 760

// Text is what a record is matched on: each part lower-cased, then the
// full pinyin and the initials of the first part (the name), e.g.
// "武汉市第六中学 1142010001 wuhanshidiliuzhongxue whsdlzx".
func Text(name string, more ...string) string {
	parts := []string{strings.ToLower(strings.TrimSpace(name))}
	for _, m := range more {
		if m = strings.ToLower(strings.TrimSpace(m)); m != "" {
			parts = append(parts, m)
		}
	}
	full, initials := Pinyin(name)
	if full != "" {
		parts = append(parts, full, initials)
	}
	out := strings.Join(parts, " ")
	if utf8.RuneCountInString(out) > MaxLen {
		out = string([]rune(out)[:MaxLen])
	}
	return out
}

// Pinyin returns the toneless pinyin of the Han characters of s run
// together, and their initials ("" when s has none). Letters and digits
// between them are kept in place, so "第1中学" is "di1zhongxue", "d1zx".
func Pinyin(s string) (full, initials string) {
	args := pinyin.NewArgs() // toneless, the most common reading
	var f, i strings.Builder
	han := false
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.Is(unicode.Han, r):
			py := pinyin.SinglePinyin(r, args)
			if len(py) == 0 || py[0] == "" {
				continue
			}
			han = true
			f.WriteString(py[0])
			i.WriteByte(py[0][0])
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			f.WriteRune(r)
			i.WriteRune(r)
		}
	}
	if !han {
		return "", ""
	}
	return f.String(), i.String()
}

// Like is the LIKE pattern (with ESCAPE '!') finding q anywhere in a
// search text: lower-cased, spaces dropped for pinyin ("wu han" is
// "wuhan"), wildcards escaped.
func Like(q string) string {
	q = strings.ToLower(strings.TrimSpace(q))
	if ascii(q) {
		q = strings.Join(strings.Fields(q), "")
	}
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return "%" + r.Replace(q) + "%"
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Condition is the SQL condition on column col matching q (bind Like(q)).
// The text and the pattern are lower-cased already, so MySQL compares
// bytes (LIKE BINARY: about twice as fast as the collation-aware LIKE over
// 50,000 rows); SQLite's LIKE is byte-wise for non-ASCII anyway.
func Condition(dialect, col string) string {
	if dialect == database.MySQL {
		return col + " LIKE BINARY ? ESCAPE '!'"
	}
	return col + " LIKE ? ESCAPE '!'"
}

// Backfill fills search_text where it is empty (rows written before the
// column existed, or by bulk paths that leave it to this): schools from
// name and code, users from name and email. Idempotent; a batch of 500
// rows is one SELECT and one UPDATE, whatever the number of rows.
func Backfill(ctx context.Context, db *database.DB) (int, error) {
	n := 0
	for _, t := range []struct{ table, cols string }{
		{"schools", "id, name, COALESCE(code, '')"},
		{"users", "id, name, email"},
	} {
		for {
			conn := db.Conn(ctx).Session(&gorm.Session{NewDB: true})
			rows, err := conn.Table(t.table).Select(t.cols).Where("search_text = ''").Order("id").Limit(500).Rows()
			if err != nil {
				return n, err
			}
			var ids []any
			var texts []any
			for rows.Next() {
				var id int64
				var name, extra string
				if err := rows.Scan(&id, &name, &extra); err != nil {
					rows.Close()
					return n, err
				}
				text := Text(name, extra)
				if text == "" {
					text = " " // never empty again: the row is done
				}
				ids = append(ids, id)
				texts = append(texts, id, text)
			}
			if err := rows.Close(); err != nil {
				return n, err
			}
			if len(ids) == 0 {
				break
			}
			sql := "UPDATE " + t.table + " SET search_text = CASE id" + strings.Repeat(" WHEN ? THEN ?", len(ids)) +
				" END WHERE id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")"
			if err := db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Exec(sql, append(texts, ids...)...).Error; err != nil {
				return n, err
			}
			n += len(ids)
		}
	}
	return n, nil
}
