package database_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// literalStrings are the strings an Insert must store exactly as given:
// the quotes, backslashes and control bytes that escaping is about, the
// placeholders and named parameters a statement must not mistake for its
// own, SQL that must stay data, and text of every width.
func literalStrings() []string {
	out := []string{"", "plain", "it's", "''", "'", "back\\slash", "\\", "\\'", "'\\", "\\\\'", "a\x00b", "ctrl\x1aZ",
		"line\nbreak\r\ttab", "中文 学校「一」", "emoji 😀 𝄞", "?", "??", "(?, ?)", "@name :name $1 %s %v",
		"\"dq\" `bt`", "X'41'", "_utf8mb4'x'", "-- comment", "/* c */ #", "'); DROP TABLE lit_t; --",
		"0x41", "N'x'", strings.Repeat("长", 200), "trail\\"}
	var all strings.Builder
	for b := 1; b < 0x80; b++ {
		all.WriteByte(byte(b))
	}
	out = append(out, all.String())
	rng := rand.New(rand.NewPCG(7, 12))
	alphabet := []rune{'a', 'Z', '0', ' ', '\'', '"', '\\', '\n', '\x00', '\x1a', '?', '@', '%', '_', ';', '中', '😀', 'é', '\t', '\r'}
	for range 200 {
		rs := make([]rune, rng.IntN(40))
		for i := range rs {
			rs[i] = alphabet[rng.IntN(len(alphabet))]
		}
		out = append(out, string(rs))
	}
	return out
}

// Every value an Insert sends is stored as it was given, on SQLite (bound)
// and on MariaDB (written into the statement), whatever the server's
// sql_mode says of backslashes: the same rows are inserted through a
// connection with NO_BACKSLASH_ESCAPES and read back through the usual one.
func TestInsertStoresValuesExactly(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		create := "CREATE TABLE lit_t (id INTEGER PRIMARY KEY AUTOINCREMENT, s TEXT NOT NULL, n BIGINT NULL, at DATETIME NULL, d DATE NULL, ok BOOLEAN NOT NULL)"
		handles := map[string]*database.DB{"default": db}
		if db.Dialect() == database.MySQL {
			create = "CREATE TABLE lit_t (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, s TEXT NOT NULL, n BIGINT NULL, at DATETIME(6) NULL, d DATE NULL, ok BOOLEAN NOT NULL)"
			handles["NO_BACKSLASH_ESCAPES"] = noBackslashEscapes(t, db)
		}
		if err := db.Gorm().Exec(create).Error; err != nil {
			t.Fatal(err)
		}
		strs := literalStrings()
		for _, s := range strs {
			if !utf8.ValidString(s) {
				t.Fatalf("%q: a Go caller's strings are UTF-8", s)
			}
		}
		n7 := int64(-7)
		nums := []*int64{nil, &n7}
		at := time.Date(2026, 11, 16, 8, 30, 5, 123456000, time.UTC)
		times := []*time.Time{nil, &at}
		day := date.New(2026, 2, 28)
		for mode, h := range handles {
			t.Run(mode, func(t *testing.T) {
				ins := database.Insert{Table: "lit_t", Columns: []string{"s", "n", "at", "d", "ok"},
					Row: func(i int, a []any) []any {
						var d date.Date
						if i%3 == 1 {
							d = day
						}
						return append(a, strs[i], nums[i%2], times[i%2], d, i%2 == 0)
					}}
				ids, err := h.IDs(context.Background(), ins, len(strs))
				if err != nil {
					t.Fatal(err)
				}
				var rows []struct {
					ID int64
					S  string
					N  *int64
					At *time.Time
					D  date.Date
					Ok bool
				}
				if err := db.Gorm().Raw("SELECT id, s, n, at, d, ok FROM lit_t WHERE id >= ? ORDER BY id", ids[0]).Scan(&rows).Error; err != nil {
					t.Fatal(err)
				}
				if len(rows) != len(strs) {
					t.Fatalf("%d rows read back, want %d", len(rows), len(strs))
				}
				for i, r := range rows {
					if r.ID != ids[i] {
						t.Fatalf("row %d: id %d, IDs said %d", i, r.ID, ids[i])
					}
					if r.S != strs[i] {
						t.Errorf("row %d: stored %q, want %q", i, r.S, strs[i])
					}
					if (r.N == nil) != (nums[i%2] == nil) || r.N != nil && *r.N != n7 {
						t.Errorf("row %d: n %v", i, r.N)
					}
					if (r.At == nil) != (times[i%2] == nil) || r.At != nil && !r.At.Equal(at) {
						t.Errorf("row %d: at %v, want %v", i, r.At, times[i%2])
					}
					if want := i%3 == 1; want != (r.D == day) || !want && !r.D.IsZero() {
						t.Errorf("row %d: d %v", i, r.D)
					}
					if r.Ok != (i%2 == 0) {
						t.Errorf("row %d: ok %v", i, r.Ok)
					}
				}
			})
		}
	})
}

// noBackslashEscapes is a second pool on db's database whose sessions run
// with sql_mode NO_BACKSLASH_ESCAPES (as a server configured so would).
func noBackslashEscapes(t *testing.T, db *database.DB) *database.DB {
	t.Helper()
	var name string
	if err := db.Gorm().Raw("SELECT DATABASE()").Scan(&name).Error; err != nil {
		t.Fatal(err)
	}
	cfg, err := mysqldriver.ParseDSN(os.Getenv(testutil.MySQLEnv))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["sql_mode"] = "'NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES'"
	h, err := database.Open(database.Options{Driver: database.MySQL, DSN: cfg.FormatDSN(), MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	var mode string
	if err := h.Gorm().Raw("SELECT @@SESSION.sql_mode").Scan(&mode).Error; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mode, "NO_BACKSLASH_ESCAPES") {
		t.Fatalf("sql_mode %q", mode)
	}
	return h
}

// A value no literal is written for (a float, say: quantities are
// integers of hundredths) fails the insert, naming the column, before
// anything is sent.
func TestInsertRefusesValuesItCannotWrite(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		if db.Dialect() != database.MySQL {
			t.Skip("SQLite binds its values: the driver decides")
		}
		ins := database.Insert{Table: "no_such_table", Columns: []string{"a", "b"},
			Row: func(i int, a []any) []any { return append(a, i, 1.5) }}
		if err := db.Exec(context.Background(), ins, 1); err == nil || !strings.Contains(err.Error(), "b: database: no literal for a value of type float64") {
			t.Fatalf("Exec: %v", err)
		}
	})
}
