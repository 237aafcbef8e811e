package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestPageAdmin: the lists and create forms for schools, pairs,
// agreements with commitments, users and terms, and the outbox with
// retry — for the admin, and for a bureau within its region.
func TestPageAdmin(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		w := d.as("admin@demo.local", demoAdminPW)
		if res := w.get("/"); res.Status != http.StatusSeeOther || res.location() != "/admin" {
			t.Errorf("admin start page: %d %q", res.Status, res.location())
		}
		r := w.must(200, w.get("/admin"))
		r.has(t, "管理", "学校", "结对", "用户", "学期", "邮件发件箱", "发送失败的邮件")
		for path, want := range map[string][]string{
			"/admin/schools": {"武汉市第六中学", "湖北省 / 黄冈市 / 麻城市", "高中", "新建学校"},
			"/admin/pairs":   {"省级示范幼儿园一", "子洲县第一幼儿园", "进行中", "新建结对"},
			"/admin/users":   {"wh6.coord@demo.local", "联络员", "武汉市第六中学", "新建用户"},
			"/admin/terms":   {"2026-2027 春季学期", "2027-08-31", "新建学期"},
			"/admin/outbox":  {"邮件发件箱", "没有邮件。"},
			fmt.Sprintf("/admin/pairs/%d/agreements", d.pairs["wh6-mc5"]): {"武汉六中—麻城五中教育帮扶协议（第一轮）", "每学年至少 1 人：挂职交流", "量化任务 3"},
		} {
			w.must(200, w.get(path)).has(t, want...)
		}

		// a school: created; refused without a token; messages beside fields
		form := url.Values{"name": {"麻城市实验小学"}, "region_id": {fmt.Sprint(d.regions["麻城市"])}, "stage": {"primary"}, "code": {"4211810001"}, "email": {"office@mcsx.example.cn"}}
		if res := w.postRaw("/admin/schools", form); res.Status != http.StatusForbidden {
			t.Errorf("school without a token: %d", res.Status)
		}
		r = w.post("/admin/schools", url.Values{"name": {""}, "region_id": {fmt.Sprint(d.regions["麻城市"])}, "stage": {"primary"}, "code": {"42118"}, "email": {"nope"}})
		if r.Status != http.StatusUnprocessableEntity || fieldError(r.Body, "name") != "必填。" || fieldError(r.Body, "code") != "须为 5 个字符。" && fieldError(r.Body, "code") != "须为 10 个字符。" {
			t.Errorf("bad school: %d name %q code %q", r.Status, fieldError(r.Body, "name"), fieldError(r.Body, "code"))
		}
		if res := w.post("/admin/schools", form); res.Status != http.StatusSeeOther {
			t.Fatalf("school: %d %s", res.Status, res.Body)
		}
		w.must(200, w.get("/admin/schools")).has(t, "已保存。", "麻城市实验小学", "4211810001")

		// a pair, then its agreement with two commitments
		pf := url.Values{"supporting_school_id": {schoolID(t, d, "武汉市第六中学")}, "supported_school_id": {schoolID(t, d, "麻城市实验小学")},
			"starts_on": {"2026-02-01"}, "round": {"第一轮"}}
		r = w.post("/admin/pairs", url.Values{"supporting_school_id": pf["supporting_school_id"], "supported_school_id": pf["supporting_school_id"], "starts_on": {"2026-02-01"}})
		if r.Status != 422 || fieldError(r.Body, "supported_school_id") != "学校不能与自己结对。" {
			t.Errorf("self pair: %d %q", r.Status, fieldError(r.Body, "supported_school_id"))
		}
		r = w.post("/admin/pairs", pf)
		if r.Status != http.StatusSeeOther || !strings.HasSuffix(r.location(), "/agreements") {
			t.Fatalf("pair: %d %q %s", r.Status, r.location(), r.Body)
		}
		agreements := r.location()
		if res := w.post("/admin/pairs", pf); res.Status != 422 || !strings.Contains(res.text(), "这两所学校已有进行中的结对。") {
			t.Errorf("duplicate pair: %d", res.Status)
		}
		ag := url.Values{"rows": {"3"}, "title": {"实验小学帮扶协议"}, "signed_on": {"2026-01-20"}, "effective_from": {"2026-02-01"}, "effective_to": {"2027-01-31"},
			"c0_categories": {"visit", "management_exchange"}, "c0_measure": {"count"}, "c0_minimum": {"2"}, "c0_period": {"term"},
			"c2_categories": {"teaching_support"}, "c2_measure": {"hours"}, "c2_minimum": {"0"}, "c2_period": {"term"}}
		// one more row: the form again, one row longer, nothing saved
		more := url.Values{"add_row": {"1"}}
		for k, v := range ag {
			more[k] = v
		}
		r = w.must(200, w.post(agreements, more))
		if !strings.Contains(r.Body, `name="rows" value="4"`) || !strings.Contains(r.Body, `id="c3_minimum"`) || !strings.Contains(r.Body, `name="c0_categories" value="visit" checked`) {
			t.Error("adding a row lost the form")
		}
		// a zero minimum: the message on that row (the third, the second commitment)
		r = w.post(agreements, ag)
		if r.Status != 422 || fieldError(r.Body, "c2_minimum") != "须大于 0。" {
			t.Errorf("zero minimum: %d %q", r.Status, fieldError(r.Body, "c2_minimum"))
		}
		ag.Set("c2_minimum", "10")
		if res := w.post(agreements, ag); res.Status != http.StatusSeeOther {
			t.Fatalf("agreement: %d %s", res.Status, res.Body)
		}
		w.must(200, w.get(agreements)).has(t, "实验小学帮扶协议", "每学期至少 2 次：实地指导、管理交流", "每学期至少 10 课时：送教支教")
		if res := w.post(agreements, ag); res.Status != 422 || !strings.Contains(res.text(), "与已有的时间段重叠") {
			t.Errorf("overlapping agreement: %d", res.Status)
		}

		// a user
		uf := url.Values{"name": {"实验小学校长"}, "email": {"head@mcsx.example.cn"}, "password": {"harbor-lantern-2026"}, "role": {"principal"},
			"school_id": {schoolID(t, d, "麻城市实验小学")}, "locale": {"zh-CN"}}
		if res := w.post("/admin/users", uf); res.Status != http.StatusSeeOther {
			t.Fatalf("user: %d %s", res.Status, res.Body)
		}
		r = w.post("/admin/users", uf)
		if r.Status != 422 || fieldError(r.Body, "email") != "该邮箱已被使用。" || strings.Contains(r.Body, "harbor-lantern-2026") {
			t.Errorf("duplicate user: %d %q", r.Status, fieldError(r.Body, "email"))
		}
		uf.Set("email", "x@mcsx.example.cn")
		uf.Set("password", "short")
		if res := w.post("/admin/users", uf); res.Status != 422 || fieldError(res.Body, "password") != "至少需要 12 个字符。" {
			t.Errorf("short password: %d %q", res.Status, fieldError(res.Body, "password"))
		}
		d.as("head@mcsx.example.cn", "harbor-lantern-2026") // the new principal signs in

		// a term
		tf := url.Values{"school_year": {"2027-2028"}, "season": {"autumn"}, "starts_on": {"2027-09-01"}, "ends_on": {"2028-01-31"}}
		if res := w.post("/admin/terms", url.Values{"school_year": {"2027-2029"}, "season": {"autumn"}, "starts_on": {"2027-09-01"}, "ends_on": {"2028-01-31"}}); res.Status != 422 || fieldError(res.Body, "school_year") != "学年须形如 2026-2027（相邻两年）。" {
			t.Errorf("bad school year: %d %q", res.Status, fieldError(res.Body, "school_year"))
		}
		if res := w.post("/admin/terms", tf); res.Status != http.StatusSeeOther {
			t.Fatalf("term: %d %s", res.Status, res.Body)
		}
		if res := w.post("/admin/terms", tf); res.Status != 422 || !strings.Contains(res.text(), "与已有的时间段重叠") {
			t.Errorf("overlapping term: %d", res.Status)
		}

		// the outbox: the sweep's messages; a failed one is retried
		if _, err := d.app.Sweeper.Sweep(context.Background(), date.MustParse(demoToday), d.app.Now(), false); err != nil {
			t.Fatal(err)
		}
		var failed int64
		conn := d.db.Conn(context.Background())
		if err := conn.Table("outbox_messages").Select("MIN(id)").Scan(&failed).Error; err != nil || failed == 0 {
			t.Fatalf("no outbox message (%v)", err)
		}
		conn.Exec("UPDATE outbox_messages SET status = 'failed', last_error = '550 mailbox unavailable' WHERE id = ?", failed)
		r = w.must(200, w.get("/admin/outbox?status=failed"))
		r.has(t, "发送失败", "550 mailbox unavailable", "重新发送")
		// recipients read as names, not RFC 2047 words
		var to, name string
		conn.Raw("SELECT o.to_addr, u.name FROM outbox_messages o JOIN users u ON u.id = o.recipient_user_id WHERE o.id = ?", failed).Row().Scan(&to, &name)
		if !strings.Contains(to, "=?utf-8?") || !strings.Contains(r.text(), name+" <") || strings.Contains(r.text(), "=?utf-8?") {
			t.Errorf("outbox shows %q for %q (%s)", r.text(), name, to)
		}
		if res := w.postRaw(fmt.Sprintf("/admin/outbox/%d/retry", failed), nil); res.Status != http.StatusForbidden {
			t.Errorf("retry without a token: %d", res.Status)
		}
		if res := w.post(fmt.Sprintf("/admin/outbox/%d/retry", failed), nil); res.Status != http.StatusSeeOther {
			t.Fatalf("retry: %d %s", res.Status, res.Body)
		}
		var status string
		conn.Table("outbox_messages").Select("status").Where("id = ?", failed).Scan(&status)
		if status != "queued" {
			t.Errorf("retried message is %s", status)
		}
		if res := w.post(fmt.Sprintf("/admin/outbox/%d/retry", failed), nil); res.Status != http.StatusConflict || !strings.Contains(res.text(), "只有发送失败的邮件可以重新发送") {
			t.Errorf("retrying a queued message: %d %s", res.Status, res.text())
		}
		w.must(200, w.get("/admin/outbox")).has(t, "排队中")

		// a bureau: its region's schools and users; no terms, no outbox
		b := d.as("macheng@demo.local", demoBureauPW)
		r = b.must(200, b.get("/admin/schools"))
		r.has(t, "麻城市第五中学", "麻城市实验小学")
		r.lacks(t, "子洲中学", "武汉市第六中学")
		if strings.Contains(r.Body, fmt.Sprintf(`<option value="%d"`, d.regions["子洲县"])) {
			t.Error("a bureau is offered regions outside its own")
		}
		if res := b.post("/admin/schools", url.Values{"name": {"外地学校"}, "region_id": {fmt.Sprint(d.regions["子洲县"])}, "stage": {"primary"}}); res.Status != http.StatusForbidden {
			t.Errorf("a bureau creates a school elsewhere: %d", res.Status)
		}
		if res := b.post("/admin/schools", url.Values{"name": {"麻城市第二实验小学"}, "region_id": {fmt.Sprint(d.regions["麻城市"])}, "stage": {"primary"}}); res.Status != http.StatusSeeOther {
			t.Errorf("a bureau creates a school in its county: %d", res.Status)
		}
		if res := b.post("/admin/users", url.Values{"name": {"x"}, "email": {"b@x.cn"}, "password": {"harbor-lantern-2026"}, "role": {"bureau"}, "region_id": {fmt.Sprint(d.regions["麻城市"])}}); res.Status != http.StatusForbidden {
			t.Errorf("a bureau creates a bureau user: %d", res.Status)
		}
		for _, p := range []string{"/admin/terms", "/admin/outbox"} {
			if res := b.get(p); res.Status != http.StatusForbidden {
				t.Errorf("a bureau opens %s: %d", p, res.Status)
			}
		}
		if res := b.post("/admin/terms", tf); res.Status != http.StatusForbidden {
			t.Errorf("a bureau creates a term: %d", res.Status)
		}
		if res := b.post(fmt.Sprintf("/admin/outbox/%d/retry", failed), nil); res.Status != http.StatusForbidden {
			t.Errorf("a bureau retries mail: %d", res.Status)
		}
		if res := b.get(fmt.Sprintf("/admin/pairs/%d/agreements", d.pairs["sx_sr-zz_sr"])); res.Status != http.StatusNotFound {
			t.Errorf("a bureau opens another region's pair: %d", res.Status)
		}
		b.must(200, b.get("/admin")).lacks(t, "邮件发件箱")

		// schools manage nothing
		c := d.as("wh6.coord@demo.local", demoSchoolPW)
		for _, p := range []string{"/admin", "/admin/schools", "/admin/users", "/admin/pairs"} {
			if res := c.get(p); res.Status != http.StatusForbidden {
				t.Errorf("a coordinator opens %s: %d", p, res.Status)
			}
		}
		if res := c.post("/admin/schools", form); res.Status != http.StatusForbidden {
			t.Errorf("a coordinator creates a school: %d", res.Status)
		}
	})
}

// schoolID finds a school by name.
func schoolID(t *testing.T, d *demo, name string) string {
	t.Helper()
	var id int64
	if err := d.db.Conn(context.Background()).Table("schools").Select("id").Where("name = ?", name).Scan(&id).Error; err != nil || id == 0 {
		t.Fatalf("no school %s", name)
	}
	return fmt.Sprint(id)
}
