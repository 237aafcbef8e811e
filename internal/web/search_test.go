package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/search"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestSearch: schools, pairs and users are found by name, code and
// pinyin (full or initials, anywhere in the name), within the caller's
// scope; old rows get their search text from the backfill.
func TestSearch(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		p := newProgramme(t, db)
		api := p.api
		names := func(path, tok string) []string {
			t.Helper()
			var out []string
			for _, it := range api.Must(200, api.Do("GET", path, tok, nil)).JSON()["items"].([]any) {
				m := it.(map[string]any)
				if n, ok := m["name"].(string); ok {
					out = append(out, n)
				} else {
					out = append(out, m["supporting_school_name"].(string)+"→"+m["supported_school_name"].(string))
				}
			}
			return out
		}
		q := func(s string) string { return url.QueryEscape(s) }
		for _, c := range []struct {
			query string
			want  string
		}{
			{"wuhan", "[武汉市第六中学]"},
			{"diliu", "[武汉市第六中学]"},
			{"whsd", "[武汉市第六中学]"},
			{"WHSD", "[武汉市第六中学]"},
			{"六中", "[武汉市第六中学]"},
			{"0100", "[武汉市第六中学]"}, // inside the code 1142010001
			{"mcs", "[麻城市第五中学 麻城市第三中学]"},
			{"dier", "[]"},
			{"%", "[]"},
			{"zhongxue", "[武汉市第六中学 麻城市第五中学 麻城市第三中学 红安县第一中学]"},
		} {
			if got := strings.Join(names("/api/v1/schools?q="+q(c.query), p.admin), " "); "["+got+"]" != c.want {
				t.Errorf("schools?q=%s: [%s], want %s", c.query, got, c.want)
			}
		}
		// scope: the 红安 bureau finds nothing of 麻城
		if got := names("/api/v1/schools?q=macheng", p.bureauHongan.Token); len(got) != 0 {
			t.Errorf("out of scope: %v", got)
		}
		// pairs by either school, users by name, email or pinyin
		for _, query := range []string{"mcsdw", "wuhanshi", "第五"} {
			if got := names("/api/v1/pairs?q="+q(query), p.admin); len(got) != 1 {
				t.Errorf("pairs?q=%s: %v", query, got)
			}
		}
		if got := names("/api/v1/pairs?q=hongan", p.admin); len(got) != 0 {
			t.Errorf("pairs?q=hongan: %v", got)
		}
		if got := names("/api/v1/users?q=jyj@hongan", p.admin); len(got) != 1 {
			t.Errorf("users by email: %v", got)
		}
		api.Must(201, api.Do("POST", "/api/v1/users", p.admin, map[string]any{"name": "张丽华", "email": "zlh@example.cn", "password": "harbor-lantern-2026", "role": "coordinator", "school_id": p.far}))
		for _, query := range []string{"zhanglihua", "zlh", "丽华"} {
			if got := names("/api/v1/users?q="+q(query), p.admin); len(got) != 1 || got[0] != "张丽华" {
				t.Errorf("users?q=%s: %v", query, got)
			}
		}
		// a renamed school is found by its new name's pinyin
		api.Must(200, api.Do("PATCH", p.path("/api/v1/schools/%d", p.far), p.admin, map[string]any{"name": "红安县实验中学"}))
		if got := names("/api/v1/schools?q=haxsy", p.admin); len(got) != 1 {
			t.Errorf("after rename: %v", got)
		}
		// backfill: rows without search text (written before the column) get it
		if err := db.Gorm().Exec("UPDATE schools SET search_text = ''").Error; err != nil {
			t.Fatal(err)
		}
		if got := names("/api/v1/schools?q=whsd", p.admin); len(got) != 0 {
			t.Fatalf("before the backfill: %v", got)
		}
		n, err := search.Backfill(context.Background(), db)
		if err != nil || n != 4 {
			t.Fatalf("backfill: %d rows, %v", n, err)
		}
		if n, _ := search.Backfill(context.Background(), db); n != 0 {
			t.Errorf("a second backfill filled %d rows", n)
		}
		if got := names("/api/v1/schools?q=whsd", p.admin); len(got) != 1 {
			t.Errorf("after the backfill: %v", got)
		}
	})
}
