package search_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/search"
	"github.com/twinning-platform/twinning/internal/testutil"
	"github.com/twinning-platform/twinning/internal/validation"
)

// BenchmarkSchoolSearch: a search among 50,000 schools (a province) by
// pinyin initials, full pinyin and Chinese, as an admin (no scope) and as
// a county bureau. Run with TWINNING_TEST_MYSQL_DSN for MariaDB:
//
//	go test ./internal/search -run x -bench SchoolSearch -benchtime 200x
func BenchmarkSchoolSearch(b *testing.B) {
	for _, dialect := range []string{"sqlite", "mysql"} {
		b.Run(dialect, func(b *testing.B) {
			var db *database.DB
			if dialect == "sqlite" {
				db = testutil.SQLite(b)
			} else {
				db = testutil.MySQL(b)
			}
			svc, bureau := province(b, db, 50000)
			ctx := context.Background()
			for _, q := range []string{"whsd", "diliuzhong", "第六中学", "1142011234"} {
				for _, who := range []struct {
					name string
					a    auth.Actor
				}{{"admin", auth.SystemActor()}, {"bureau", bureau}} {
					b.Run(who.name+"/"+q, func(b *testing.B) {
						var n int
						for i := 0; i < b.N; i++ {
							l, err := svc.ListSchools(ctx, who.a, school.SchoolFilter{Query: q}, page.Page{Limit: 20})
							if err != nil {
								b.Fatal(err)
							}
							n = len(l.Items)
						}
						b.ReportMetric(float64(n), "matches")
					})
				}
			}
		})
	}
}

// province writes a province of n schools over 100 counties (multi-row
// INSERTs) and returns the service and a bureau of one county.
func province(b *testing.B, db *database.DB, n int) (*school.Service, auth.Actor) {
	b.Helper()
	ctx := context.Background()
	conn := db.Gorm()
	if err := conn.Exec("INSERT INTO regions (id, name, level, path, created_at, updated_at) VALUES (1, '湖北省', 'province', '/1/', '2026-01-01', '2026-01-01')").Error; err != nil {
		b.Fatal(err)
	}
	cities := []string{"武汉", "黄冈", "宜昌", "襄阳", "荆州", "十堰", "孝感", "咸宁", "随州", "恩施"}
	var rv []string
	for i := 0; i < 100; i++ {
		rv = append(rv, fmt.Sprintf("(%d, '%s第%d县', 'county', 1, '/1/%d/', '2026-01-01', '2026-01-01')", i+2, cities[i%10], i, i+2))
	}
	if err := conn.Exec("INSERT INTO regions (id, name, level, parent_id, path, created_at, updated_at) VALUES " + strings.Join(rv, ",")).Error; err != nil {
		b.Fatal(err)
	}
	stages := []string{"小学", "中学", "幼儿园", "实验学校", "职业中学"}
	nums := []string{"第一", "第二", "第三", "第四", "第五", "第六", "第七", "第八", "第九", "第十"}
	for start := 0; start < n; start += 1000 {
		var vals []string
		var args []any
		for i := start; i < min(start+1000, n); i++ {
			name := fmt.Sprintf("%s市%s%s%d", cities[i%10], nums[(i/10)%10], stages[(i/100)%5], i)
			code := fmt.Sprintf("114201%04d", i%10000)
			if i >= 10000 {
				code = fmt.Sprintf("%010d", 2000000000+i)
			}
			vals = append(vals, "(?, ?, ?, 'primary', '', '2026-01-01', '2026-01-01', ?)")
			args = append(args, name, code, 2+i%100, search.Text(name, code))
		}
		if err := conn.Exec("INSERT INTO schools (name, code, region_id, stage, email, created_at, updated_at, search_text) VALUES "+strings.Join(vals, ","), args...).Error; err != nil {
			b.Fatal(err)
		}
	}
	if db.Dialect() == database.MySQL {
		conn.Exec("ANALYZE TABLE schools, regions")
	} else {
		conn.Exec("ANALYZE")
	}
	_ = ctx
	return school.NewService(db, validation.New(), nil), auth.Actor{UserID: 1, Role: auth.RoleBureau, RegionID: 7, RegionPath: "/1/7/"}
}
