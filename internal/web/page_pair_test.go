package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestPagePair: the agreement with a progress bar per commitment (status
// in colour and in words), earlier periods, the timeline with evidence and
// the notices sent — and who may see it.
func TestPagePair(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		if _, err := d.app.Sweeper.Sweep(context.Background(), date.MustParse(demoToday), d.app.Now(), false); err != nil {
			t.Fatal(err)
		}
		kgPair := d.pairs["sx_kg1-zz_kg1"]
		w := d.as("kg1.coord@demo.local", demoSchoolPW)
		// a photo on one of the pair's activities (through the API)
		tok := d.api.Login("kg1.coord@demo.local", demoSchoolPW)
		act := d.api.Must(201, d.api.Do("POST", fmt.Sprintf("/api/v1/pairs/%d/activities", kgPair), tok,
			map[string]any{"category": "visit", "title": "二月查看一日活动组织", "occurred_on": "2026-02-10"})).ID()
		ev := d.api.Must(201, d.api.Upload(fmt.Sprintf("/api/v1/activities/%d/evidence", act), tok, "file", "一日活动.png", pngImage(t, 1200, 900))).ID()

		r := w.must(200, w.get(fmt.Sprintf("/pairs/%d", kgPair)))
		r.has(t, "省级示范幼儿园一 → 子洲县第一幼儿园", "城乡幼儿园结对帮扶协议", "有效期 2025-09-01 至 2028-08-31",
			"每月至少 1 次：实地指导", "每学期至少 10 课时：送教支教", "每学期至少 2 次：专题讲座",
			"2026-02（2026-02-01 至 2026-02-28）", "已完成 0 / 要求 1 次", "另有 1 待确认", "剩余 13 天", "有风险",
			"往期（5 个周期）", "未达标", "已达标",
			"活动记录", "二月查看一日活动组织", "《纲要》解读专题讲座", "已发送的通知", "未达标通报", "任务提醒")
		// the bars: an accessible name and the status as a word, not colour alone
		if !strings.Contains(r.Body, `role="progressbar" aria-valuemin="0" aria-valuemax="1" aria-valuenow="0"`) ||
			!strings.Contains(r.Body, `aria-label="已完成 0，要求 1 次"`) {
			t.Error("the progress bar has no accessible values")
		}
		if !strings.Contains(r.Body, fmt.Sprintf(`<img src="/evidence/%d/thumb" alt="佐证材料：一日活动.png"`, ev)) {
			t.Error("no evidence thumbnail with a text alternative")
		}
		if res := w.get(fmt.Sprintf("/evidence/%d/thumb", ev)); res.Status != 200 || res.Header.Get("Content-Type") != "image/jpeg" ||
			len(res.raw) > 30<<10 || !strings.Contains(res.Header.Get("Cache-Control"), "private") {
			t.Errorf("thumbnail: %d %s %d bytes, %q", res.Status, res.Header.Get("Content-Type"), len(res.raw), res.Header.Get("Cache-Control"))
		}
		// a PDF gets an icon as its thumbnail
		pdf := d.api.Must(201, d.api.Upload(fmt.Sprintf("/api/v1/activities/%d/evidence", act), tok, "file", "签到表.pdf", pdfBytes())).ID()
		if res := w.get(fmt.Sprintf("/evidence/%d/thumb", pdf)); res.Status != 200 || res.Header.Get("Content-Type") != "image/svg+xml" {
			t.Errorf("PDF thumbnail: %d %s", res.Status, res.Header.Get("Content-Type"))
		}
		// the activity page: details and every file
		r = w.must(200, w.get(fmt.Sprintf("/activities/%d", act)))
		r.has(t, "二月查看一日活动组织", "实地指导", "2026-02-10", "2025-2026 春季学期", "一日活动.png", "签到表.pdf", "修改", "撤回")
		// paging of the timeline
		r = w.must(200, w.get(fmt.Sprintf("/pairs/%d?offset=0", kgPair)))
		r.has(t, "活动记录 5")
		// in English
		w.post("/lang", map[string][]string{"locale": {"en"}})
		r = w.must(200, w.get(fmt.Sprintf("/pairs/%d", kgPair)))
		r.has(t, "at least 1 time per month: on-site guidance", "0 of 1 time done", "at risk", "13 days left", "Notices sent", "breach notice")

		// who may see it: the pair's schools and the bureaus above them
		for _, who := range []struct{ email, pw string }{
			{"kg1.head@demo.local", demoSchoolPW}, {"zizhou@demo.local", demoBureauPW}, {"admin@demo.local", demoAdminPW},
		} {
			v := d.as(who.email, who.pw)
			v.must(200, v.get(fmt.Sprintf("/pairs/%d", kgPair)))
			if res := v.get(fmt.Sprintf("/evidence/%d/thumb", ev)); res.Status != 200 {
				t.Errorf("%s: thumbnail %d", who.email, res.Status)
			}
		}
		for _, who := range []struct{ email, pw string }{
			{"wh6.coord@demo.local", demoSchoolPW}, {"zz.head@demo.local", demoSchoolPW}, {"macheng@demo.local", demoBureauPW},
		} {
			v := d.as(who.email, who.pw)
			for _, p := range []string{"/pairs/%d", "/evidence/%d", "/evidence/%d/thumb", "/activities/%d"} {
				id := kgPair
				switch p {
				case "/evidence/%d", "/evidence/%d/thumb":
					id = ev
				case "/activities/%d":
					id = act
				}
				if res := v.get(fmt.Sprintf(p, id)); res.Status != http.StatusNotFound {
					t.Errorf("%s opens %s: %d", who.email, fmt.Sprintf(p, id), res.Status)
				}
			}
		}
		// signed out: the sign-in page, even for the files
		if res := d.web().get(fmt.Sprintf("/evidence/%d", ev)); res.Status != http.StatusSeeOther {
			t.Errorf("evidence signed out: %d", res.Status)
		}
		if res := d.web().get("/pairs/abc"); res.Status != http.StatusSeeOther {
			t.Errorf("bad id signed out: %d", res.Status)
		}
		if res := w.get("/pairs/abc"); res.Status != http.StatusNotFound {
			t.Errorf("bad id: %d", res.Status)
		}
	})
}

// TestPageDashboard: the bureau dashboard for its scope and a term: KPI
// cards, breakdowns, trend, heat map, breaches, drill-down — and scope.
func TestPageDashboard(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)

		// the province: its one pair, in 黄冈市 (the supported school's city)
		w := d.as("hubei@demo.local", demoBureauPW)
		if res := w.get("/"); res.Status != http.StatusSeeOther || res.location() != "/dashboard" {
			t.Errorf("bureau start page: %d %q", res.Status, res.location())
		}
		r := w.must(200, w.get("/dashboard?term=2025-2026-autumn"))
		r.has(t, "监测看板", "湖北省", "截至 2026-02-15 · 2025-2026 秋季学期", "结对数", "任务达标率（3 / 6）", "有风险的任务", "未达标的任务",
			"按活动类别", "按下级地区", "黄冈市", "各学期趋势", "结对 × 类别热力图", "武汉市第六中学 → 麻城市第五中学",
			"未达标清单 2", "每学期至少 2 次：教师培训、师徒结对、送教支教、跟班学习", "1 / 2 另有 1 待确认", "每学期至少 2 次：校园文化")
		if got := regexp1(r.Body, `id="kpi-breached">(\d+)<`); got != "2" {
			t.Errorf("breached KPI %q, want 2", got)
		}
		if got := regexp1(r.Body, `id="kpi-pairs">(\d+)<`); got != "1" {
			t.Errorf("pairs KPI %q, want 1", got)
		}
		// the charts' data: translated labels, the trend over the terms begun
		var charts map[string]struct {
			Kind   string   `json:"kind"`
			Labels []string `json:"labels"`
			Links  []string `json:"links"`
			Series []struct {
				Name string    `json:"name"`
				Data []float64 `json:"data"`
			} `json:"series"`
		}
		raw := regexp1(r.Body, `(?s)<script type="application/json" class="chart-data">(.*?)</script>`)
		if err := json.Unmarshal([]byte(raw), &charts); err != nil {
			t.Fatalf("chart data %q: %v", raw, err)
		}
		// the trend comes in a second request, loaded by htmx
		trendURL := regexp1(r.Body, `hx-get="(/dashboard/trend\?[^"]*)"`)
		if !strings.Contains(trendURL, "term=2025-2026-autumn") {
			t.Fatalf("no trend fragment link: %q", trendURL)
		}
		tr := w.get(strings.ReplaceAll(trendURL, "&amp;", "&"))
		if tr.Status != 200 || strings.Contains(tr.Body, "<html") {
			t.Fatalf("trend fragment: %d %.200s", tr.Status, tr.Body)
		}
		var trend map[string]struct {
			Kind   string   `json:"kind"`
			Labels []string `json:"labels"`
			Series []struct {
				Name string `json:"name"`
			} `json:"series"`
		}
		if err := json.Unmarshal([]byte(regexp1(tr.Body, `(?s)<script type="application/json" class="chart-data">(.*?)</script>`)), &trend); err != nil {
			t.Fatal(err)
		}
		if c := trend["trend"]; c.Kind != "line" || strings.Join(c.Labels, ",") != "2025-2026 秋季学期,2025-2026 春季学期" || c.Series[0].Name != "达标率" {
			t.Errorf("trend chart %+v", c)
		}
		if c := charts["area"]; len(c.Labels) != 1 || c.Labels[0] != "黄冈市" || c.Links[0] != fmt.Sprintf("/dashboard?region=%d&term=2025-2026-autumn", d.regions["黄冈市"]) {
			t.Errorf("area chart %+v", c)
		}
		if c := charts["category"]; len(c.Labels) != 11 || c.Labels[0] != "实地指导" || c.Series[3].Name != "未达标" {
			t.Errorf("category chart %+v", c)
		}
		// the heat map: a status in words for screen readers
		if !strings.Contains(r.Body, `<td class="st-breached"><span class="icon" aria-hidden="true"></span><span class="sr-only">未达标</span></td>`) {
			t.Error("the heat map cells have no words")
		}
		// the export links: the same handlers as the API's, with the session
		if !strings.Contains(r.Body, fmt.Sprintf(`href="/dashboard/export.xlsx?region_id=%d&amp;term=2025-2026-autumn"`, d.regions["湖北省"])) {
			t.Error("no export link for the term and region")
		}
		csv := w.get(fmt.Sprintf("/dashboard/export.csv?term=2025-2026-autumn&region_id=%d", d.regions["湖北省"]))
		if csv.Status != 200 || !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") || !strings.Contains(csv.Body, "武汉市第六中学") {
			t.Errorf("CSV export: %d %s", csv.Status, csv.Header.Get("Content-Type"))
		}
		if x := w.get("/dashboard/export.xlsx?term=2025-2026-autumn"); x.Status != 200 || !strings.HasPrefix(string(x.raw), "PK") {
			t.Errorf("Excel export: %d %s", x.Status, x.Header.Get("Content-Type"))
		}
		if res := d.web().get("/dashboard/export.csv"); res.Status != http.StatusSeeOther {
			t.Errorf("export signed out: %d", res.Status)
		}
		// the running term by default
		w.must(200, w.get("/dashboard")).has(t, "2025-2026 春季学期", "本学期没有未达标的任务。")

		// drill down: region → pair → activity
		r = w.must(200, w.get(fmt.Sprintf("/dashboard?region=%d&term=2025-2026-autumn", d.regions["黄冈市"])))
		r.has(t, "湖北省", "黄冈市", "麻城市", "武汉市第六中学 → 麻城市第五中学")
		r = w.must(200, w.get(fmt.Sprintf("/dashboard?region=%d&term=2025-2026-autumn", d.regions["麻城市"])))
		// a county has no areas below it: no card for them (no empty cards, issue 10)
		r.has(t, "武汉市第六中学 → 麻城市第五中学")
		r.lacks(t, `id="byarea-h"`, "没有下级地区的数据。")
		w.must(200, w.get(fmt.Sprintf("/pairs/%d", d.pairs["wh6-mc5"]))).has(t, "高三数学示范课")
		w.must(200, w.get(fmt.Sprintf("/activities/%d", d.activityID("高三数学示范课")))).has(t, "示范课", "2025-10-16")

		// outside its region: not found; a bad term: refused
		for _, region := range []string{"陕西省", "子洲县", "西安市"} {
			if res := w.get(fmt.Sprintf("/dashboard?region=%d", d.regions[region])); res.Status != http.StatusNotFound {
				t.Errorf("hubei opens %s: %d", region, res.Status)
			}
		}
		if res := w.get("/dashboard?term=2030-2031-autumn"); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("unknown term: %d", res.Status)
		}
		if res := w.get("/dashboard?region=abc"); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("bad region: %d", res.Status)
		}

		// a county bureau sees its county; the other province is empty to it
		zz := d.as("zizhou@demo.local", demoBureauPW)
		r = zz.must(200, zz.get("/dashboard?term=2025-2026-autumn"))
		r.has(t, "子洲县", "支援初中一 → 子洲县第二中学", "省级示范幼儿园一 → 子洲县第一幼儿园")
		r.lacks(t, "武汉市第六中学")
		if got := regexp1(r.Body, `id="kpi-pairs">(\d+)<`); got != "7" {
			t.Errorf("zizhou pairs %q, want 7", got)
		}

		// the admin: every region, the provinces as sub-regions
		admin := d.as("admin@demo.local", demoAdminPW)
		r = admin.must(200, admin.get("/dashboard?term=2025-2026-autumn"))
		r.has(t, "全部地区", "湖北省", "陕西省")
		if got := regexp1(r.Body, `id="kpi-pairs">(\d+)<`); got != "8" {
			t.Errorf("admin pairs %q, want 8", got)
		}
		// in English
		admin.post("/lang", map[string][]string{"locale": {"en"}})
		admin.must(200, admin.get("/dashboard?term=2025-2026-autumn")).has(t, "Dashboard", "By category", "Trend across terms", "All regions", "breached")

		// schools see no dashboard and export nothing
		for _, who := range []string{"wh6.coord@demo.local", "mc5.head@demo.local"} {
			v := d.as(who, demoSchoolPW)
			for _, p := range []string{"/dashboard", "/dashboard/export.csv", "/dashboard/export.xlsx"} {
				if res := v.get(p); res.Status != http.StatusForbidden {
					t.Errorf("%s opens %s: %d", who, p, res.Status)
				}
			}
		}
	})
}
