package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestSetupChecklist: a first admin on an empty service lands on the
// checklist, adds the default calendar in one click, and the dashboard
// without terms shows an empty state (its trend fragment is a fragment,
// not the page again).
func TestSetupChecklist(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		clock := testutil.NewClock(testutil.At("2026-11-30"))
		a := testutil.NewApp(t, db, clock)
		d := &demo{t: t, app: a, api: testutil.NewAPI(t, a), db: db}
		d.api.Admin()
		w := d.as("admin@test.local", "admin-password")
		if r := w.get("/"); r.Status != http.StatusSeeOther || r.location() != "/setup" {
			t.Fatalf("first admin's start page: %d %q", r.Status, r.location())
		}
		page := w.must(200, w.get("/setup"))
		page.has(t, "初始设置清单", "地区", "校历（学期）", "学校", "结对与协议", "用户", "一键添加默认校历", "未配置 SMTP 服务器", "Excel")
		if strings.Contains(page.Body, `class="step done"`) {
			t.Error("an empty service has a step done")
		}
		// the dashboard without terms: an empty state, no self-loading trend
		dash := w.must(200, w.get("/dashboard"))
		dash.has(t, "还没有学期")
		if strings.Contains(dash.Body, "/dashboard/trend") {
			t.Error("the dashboard without terms still loads its trend")
		}
		trend := w.must(200, w.get("/dashboard/trend"))
		if strings.Contains(trend.Body, "<html") || strings.Contains(trend.Body, "hx-get") || !strings.Contains(trend.Body, `id="no-terms"`) {
			t.Errorf("trend fragment without terms: %s", trend.Body)
		}
		// the default calendar in one click, back to the checklist
		w.get("/setup")
		r := w.post("/admin/terms/defaults", url.Values{"next": {"/setup"}})
		if r.Status != http.StatusSeeOther || r.location() != "/setup" {
			t.Fatalf("default calendar: %d %q", r.Status, r.location())
		}
		var keys []string
		db.Gorm().Table("terms").Order("starts_on").Pluck("CONCAT(school_year, '-', season)", &keys)
		if db.Dialect() == database.SQLite {
			keys = nil
			db.Gorm().Table("terms").Order("starts_on").Pluck("school_year || '-' || season", &keys)
		}
		if strings.Join(keys, " ") != "2026-2027-autumn 2026-2027-spring 2027-2028-autumn 2027-2028-spring" {
			t.Errorf("default calendar: %v", keys)
		}
		page = w.must(200, w.get("/setup"))
		if !strings.Contains(page.Body, `<li class="step done" id="step-terms">`) || strings.Contains(page.Body, `id="default-calendar"`) {
			t.Error("the terms step is not done after the default calendar")
		}
		// twice is harmless: existing terms are kept
		w.post("/admin/terms/defaults", url.Values{"next": {"/setup"}})
		if n := countRows(t, db, "terms"); n != 4 {
			t.Errorf("%d terms after a second click", n)
		}
		w.must(200, w.get("/dashboard")).lacks(t, "还没有学期")
	})
}
