package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestPageLifecycle: the region tree, term corrections and the pair
// page's management forms, in the browser's way (forms, CSRF, redirects),
// in Chinese; a coordinator sees none of the management forms.
func TestPageLifecycle(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		w := d.as("admin@demo.local", demoAdminPW)

		// pickers load matches as you type instead of listing every school
		pairs := w.must(200, w.get("/admin/pairs"))
		if !strings.Contains(pairs.Body, `hx-get="/admin/pick/schools"`) || strings.Contains(pairs.Body, `<option value="`+schoolID(t, d, "子洲中学")+`"`) {
			t.Error("the pair form still lists the schools instead of searching them")
		}
		pick := w.must(200, w.get("/admin/pick/schools?q=whsd"))
		if !strings.Contains(pick.Body, `<option value="`+schoolID(t, d, "武汉市第六中学")+`" selected>武汉市第六中学`) || strings.Count(pick.Body, "<option") != 1 {
			t.Errorf("picker for whsd: %s", pick.Body)
		}
		w.must(200, w.get("/admin/pick/schools?q=zizhou")).has(t, "子洲中学", "子洲县第一幼儿园")
		w.must(200, w.get("/admin/pick/schools?q=nothing-like-it")).has(t, "没有匹配的学校")
		// the list pages search the same way
		found := w.must(200, w.get("/admin/schools?q=zzxsy"))
		found.has(t, "子洲县实验小学", "子洲县实验中学")
		found.lacks(t, "武汉市第六中学")
		w.must(200, w.get("/admin/pairs?q=wuhan")).has(t, "麻城市第五中学")
		w.must(200, w.get("/admin/users?q=kg1")).has(t, "kg1.coord@demo.local")
		w.get("/admin/regions")

		// regions: the tree, a new county, a refused one, a rename
		w.must(200, w.get("/admin/regions")).has(t, "地区", "湖北省", "麻城市", "新建地区")
		r := w.post("/admin/regions", url.Values{"name": {"红安县"}, "level": {"county"}, "parent_id": {fmt.Sprint(d.regions["黄冈市"])}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("create region: %d %s", r.Status, r.text())
		}
		w.must(422, w.post("/admin/regions", url.Values{"name": {"无上级县"}, "level": {"county"}})).has(t, "请修改标出的内容")
		w.get("/admin/regions")
		if r := w.post(fmt.Sprintf("/admin/regions/%d", d.regions["麻城市"]), url.Values{"name": {"麻城市（县级）"}, "parent_id": {fmt.Sprint(d.regions["黄冈市"])}}); r.Status != http.StatusSeeOther {
			t.Fatalf("rename: %d %s", r.Status, r.text())
		}
		w.must(200, w.get("/admin/regions")).has(t, "麻城市（县级）")
		w.get("/admin/regions")
		w.must(409, w.post(fmt.Sprintf("/admin/regions/%d", d.regions["湖北省"]), url.Values{"name": {"湖北省"}, "parent_id": {fmt.Sprint(d.regions["黄冈市"])}}))

		// terms: a term with quotas on it cannot be deleted; the page says why
		var termID int64
		if err := db.Gorm().Raw("SELECT id FROM terms WHERE school_year = '2025-2026' AND season = 'autumn'").Scan(&termID).Error; err != nil || termID == 0 {
			t.Fatalf("term: %v", err)
		}
		w.must(200, w.get("/admin/terms")).has(t, "保存日期", "一键添加默认校历")
		w.must(409, w.post(fmt.Sprintf("/admin/terms/%d/delete", termID), nil)).has(t, "cannot be deleted")
		w.get("/admin/terms")
		if r := w.post(fmt.Sprintf("/admin/terms/%d", termID), url.Values{"starts_on": {"2025-09-01"}, "ends_on": {"2026-01-25"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("term dates: %d %s", r.Status, r.text())
		}
		if tp := w.must(200, w.get("/admin/terms")); !strings.Contains(tp.Body, `value="2026-01-25"`) {
			t.Error("the terms page does not show the new end date")
		}

		// evidence: the logger removes a file from the activity page
		pair := d.pairs["wh6-mc5"]
		tok := d.api.Login("wh6.coord@demo.local", demoSchoolPW)
		act := d.api.Must(201, d.api.Do("POST", fmt.Sprintf("/api/v1/pairs/%d/activities", pair), tok,
			map[string]any{"category": "visit", "title": "带照片的指导", "occurred_on": demoToday})).ID()
		ev := d.api.Must(201, d.api.Upload(fmt.Sprintf("/api/v1/activities/%d/evidence", act), tok, "file", "现场.png", pngBytes(t))).ID()
		c := d.as("wh6.coord@demo.local", demoSchoolPW)
		c.must(200, c.get(fmt.Sprintf("/activities/%d", act))).has(t, "现场.png", "删除")
		if r := c.post(fmt.Sprintf("/evidence/%d/delete", ev), url.Values{"activity": {fmt.Sprint(act)}}); r.Status != http.StatusSeeOther || r.location() != fmt.Sprintf("/activities/%d", act) {
			t.Fatalf("remove evidence: %d %s", r.Status, r.location())
		}
		c.must(200, c.get(fmt.Sprintf("/activities/%d", act))).lacks(t, "现场.png")

		// the pair page: suspend with a reason, correct the agreement,
		// retire a quota, attach the signed copy
		pp := fmt.Sprintf("/pairs/%d", pair)
		w.must(200, w.get(pp)).has(t, "暂停、恢复或终止结对", "修改协议", "停止考核")
		if r := w.post(pp+"/status", url.Values{"status": {"suspended"}, "reason": {"受援校合并，待重新结对"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("suspend: %d %s", r.Status, r.text())
		}
		page := w.must(200, w.get(pp))
		page.has(t, "受援校合并，待重新结对", "暂停")
		var agreement, commitment int64
		db.Gorm().Raw("SELECT id FROM agreements WHERE pair_id = ?", pair).Scan(&agreement)
		db.Gorm().Raw("SELECT id FROM commitments WHERE agreement_id = ? AND period = 'month' ORDER BY position LIMIT 1", agreement).Scan(&commitment)
		if agreement == 0 {
			t.Fatal("no agreement")
		}
		if r := w.post(fmt.Sprintf("/agreements/%d/edit", agreement), url.Values{"title": {"帮扶协议（修订）"}, "goals": {"新目标"}, "effective_to": {"2028-08-31"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("edit agreement: %d %s", r.Status, r.text())
		}
		w.get(pp)
		w.must(422, w.post(fmt.Sprintf("/agreements/%d/edit", agreement), url.Values{"title": {"x"}, "goals": {""}, "effective_to": {"2030-08-31"}})).has(t, "请修改标出的内容")
		w.get(pp)
		if r := w.post(fmt.Sprintf("/agreements/%d/commitments", agreement), url.Values{"categories": {"lecture", "visit"}, "measure": {"count"}, "minimum": {"2"}, "period": {"term"}, "description": {"讲座两次"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("add commitment: %d %s", r.Status, r.text())
		}
		if commitment != 0 {
			w.get(pp)
			if r := w.post(fmt.Sprintf("/commitments/%d/retire", commitment), url.Values{"ends_on": {"2026-01-31"}, "pair": {fmt.Sprint(pair)}}); r.Status != http.StatusSeeOther {
				t.Fatalf("retire: %d %s", r.Status, r.text())
			}
		}
		w.get(pp)
		if r := w.upload(fmt.Sprintf("/agreements/%d/documents", agreement), nil, "file", "协议签字页.pdf", pdfBytes()); r.Status != http.StatusSeeOther {
			t.Fatalf("upload: %d %s", r.Status, r.text())
		}
		page = w.must(200, w.get(pp))
		page.has(t, "帮扶协议（修订）", "新目标", "讲座两次", "协议签字页.pdf")
		if commitment != 0 {
			page.has(t, "自 2026-01-31 起停止考核")
		}
		w.get(pp)
		w.must(422, w.upload(fmt.Sprintf("/agreements/%d/documents", agreement), nil, "file", "notes.txt", []byte("plain text, not a scan"))).has(t, "PDF")

		// a coordinator of the pair reads it without the management forms
		cp := c.must(200, c.get(pp))
		cp.has(t, "受援校合并，待重新结对", "协议签字页.pdf")
		cp.lacks(t, "暂停、恢复或终止结对", "修改协议", "/commitments/")
		if strings.Contains(cp.Body, `action="/pairs/`) {
			t.Error("the coordinator's pair page has a status form")
		}
		c.must(403, c.post(pp+"/status", url.Values{"status": {"ended"}}))
		c.must(403, c.get("/admin/pick/schools?q=zizhou"))
	})
}
