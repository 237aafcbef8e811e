package web_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestBrowserSetup drives Chromium through a fresh install on a phone-
// sized screen: the first admin lands on the setup checklist, adds the
// default calendar in one click, the dashboard without pairs shows its
// empty trend once (not the page inside itself), and the pair form's
// school picker finds a school by pinyin initials as you type.
func TestBrowserSetup(t *testing.T) {
	browser := startChromium(t, 3*time.Minute)
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		a := testutil.NewApp(t, db, testutil.NewClock(testutil.At("2026-11-30")))
		api := testutil.NewAPI(t, a)
		admin := api.Admin()
		// accounts have no language until chosen (issue 8); this admin chose Chinese
		api.Must(200, api.Do("PATCH", "/api/v1/me", admin, map[string]any{"locale": "zh-CN"}))
		srv := httptest.NewServer(a.HTTP.Handler())
		defer srv.Close()

		tb := openTab(t, browser, srv.URL, "first admin", 390, 844, true)
		tb.login("admin@test.local", "admin-password")
		if h := tb.text("main h1"); h != "初始设置清单" {
			t.Fatalf("first admin's start page: %q", h)
		}
		tb.noSideways("the setup checklist")
		tb.do(chromedp.Click(chromedp.ID("default-calendar")), chromedp.WaitVisible(chromedp.CSS("#step-terms.done")))
		if got := tb.text("#step-terms .count"); got != "4" {
			t.Errorf("terms after one click: %q", got)
		}

		// the dashboard: KPIs of nothing and the trend once
		tb.open("/dashboard", "#trend")
		time.Sleep(500 * time.Millisecond) // a self-loading fragment would have nested by now
		if n := run(tb, chromedp.Evaluate[int](`document.querySelectorAll("main").length + document.querySelectorAll("#trend").length`)); n != 2 {
			t.Errorf("the dashboard has %d main and trend elements, want one each", n)
		}

		// the picker: type initials, the school appears as the choice
		prov := api.Must(201, api.Do("POST", "/api/v1/regions", admin, map[string]any{"name": "湖北省", "level": "province"})).ID()
		api.Must(201, api.Do("POST", "/api/v1/schools", admin, map[string]any{"name": "武汉市第六中学", "region_id": prov, "stage": "senior"}))
		api.Must(201, api.Do("POST", "/api/v1/schools", admin, map[string]any{"name": "麻城市第五中学", "region_id": prov, "stage": "senior"}))
		tb.open("/admin/pairs", "#supporting_school_id-q")
		tb.do(chromedp.SendKeys(chromedp.ID("supporting_school_id-q"), "whsd"))
		got := ""
		for i := 0; i < 50 && !strings.HasPrefix(got, "武汉市第六中学"); i++ {
			time.Sleep(100 * time.Millisecond)
			got = run(tb, chromedp.Evaluate[string](`(() => { const s = document.getElementById("supporting_school_id"); return s.options.length + ":" + s.options[s.selectedIndex].text; })()`))
			got = got[strings.Index(got, ":")+1:]
		}
		if !strings.HasPrefix(got, "武汉市第六中学") {
			t.Errorf("the picker chose %q after typing whsd", got)
		}
		// the lifecycle pages fit a phone: the region tree and a pair page
		// with its management forms open
		tb.open("/admin/regions", ".region-tree")
		tb.noSideways("the region tree")
		s1 := api.Must(200, api.Do("GET", "/api/v1/schools?q=whsd", admin, nil)).JSON()["items"].([]any)[0].(map[string]any)["id"]
		s2 := api.Must(200, api.Do("GET", "/api/v1/schools?q=mcsdw", admin, nil)).JSON()["items"].([]any)[0].(map[string]any)["id"]
		pair := api.Must(201, api.Do("POST", "/api/v1/pairs", admin, map[string]any{"supporting_school_id": s1, "supported_school_id": s2, "starts_on": "2026-09-01"})).ID()
		api.Must(201, api.Do("POST", fmt.Sprintf("/api/v1/pairs/%d/agreements", pair), admin, map[string]any{"title": "协议", "effective_from": "2026-09-01", "effective_to": "2027-08-31",
			"commitments": []map[string]any{{"categories": []string{"visit"}, "measure": "count", "minimum": 1, "period": "month"}}}))
		tb.open(fmt.Sprintf("/pairs/%d", pair), "details.manage")
		tb.do(chromedp.Click(chromedp.CSS("details.manage summary")))
		tb.noSideways("the pair page with its management forms")
		tb.checkConsole()
	})
}
