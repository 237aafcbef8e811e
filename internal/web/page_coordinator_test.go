package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestPageCoordinator: the start page with the current period of each
// commitment, the log form with its inline messages and evidence upload,
// amend and withdraw — and the refusals without a token or outside the
// coordinator's pairs.
func TestPageCoordinator(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		pair := d.pairs["wh6-mc5"]
		w := d.as("wh6.coord@demo.local", demoSchoolPW)

		// the start page: pairs, this period's progress, pending activities
		r := w.must(200, w.get("/"))
		r.has(t, "我的结对", "武汉市第六中学 → 麻城市第五中学", "每学期至少 2 次：示范课、专题讲座", "2025-2026 春季学期",
			"每学年至少 1 次：学生交流", "2025-2026 学年", "已完成 0 / 要求 2 次", "待对方确认", "校际师资培训（语文组）", "修改", "撤回")
		if n := strings.Count(r.Body, `role="progressbar"`); n != 6 {
			t.Errorf("%d progress bars, want one per commitment (6)", n)
		}
		if !strings.Contains(r.Body, `class="chip st-on_track"`) || !strings.Contains(r.text(), "进展正常") {
			t.Error("no status chip with its words")
		}

		// the form: labels on every input, no forced camera, today's date
		r = w.must(200, w.get(fmt.Sprintf("/activities/new?pair=%d", pair)))
		for _, id := range []string{"pair_id", "category", "occurred_on", "title", "hours", "persons", "location", "description", "evidence"} {
			if !strings.Contains(r.Body, `<label for="`+id+`">`) || !strings.Contains(r.Body, `id="`+id+`"`) {
				t.Errorf("field %s has no label", id)
			}
		}
		// camera, gallery and files: no capture attribute forcing the camera (issue 10)
		if !strings.Contains(r.Body, `type="file" multiple accept="image/*,application/pdf"`) || strings.Contains(r.Body, `capture=`) {
			t.Error("the evidence input does not offer camera, gallery and files")
		}
		if !strings.Contains(r.Body, `value="2026-02-15"`) || !strings.Contains(r.Body, fmt.Sprintf(`<option value="%d" selected>`, pair)) {
			t.Error("the form does not default to today and the chosen pair")
		}
		r.has(t, "校园文化", "挂职交流") // categories translated

		before := d.activityCount("1 = 1")
		valid := url.Values{"pair_id": {strconv.FormatInt(pair, 10)}, "category": {"campus_culture"}, "occurred_on": {"2026-02-10"},
			"title": {"校园文化建设指导"}, "hours": {"2"}, "persons": {"3"}, "description": {"指导班级文化布置"}, "location": {"麻城五中"}}

		// without a CSRF token: refused, nothing logged
		if res := w.upload("/activities/new", url.Values{"_csrf": {"x"}, "title": {"t"}}, "", "", nil); res.Status != http.StatusForbidden {
			t.Errorf("log without a valid token: %d", res.Status)
		}
		if res := w.postRaw("/activities/new", valid); res.Status != http.StatusForbidden {
			t.Errorf("log without a token: %d", res.Status)
		}

		// inline messages, translated, beside their fields
		for name, c := range map[string]struct {
			change url.Values
			field  string
			want   string
		}{
			"no title":         {url.Values{"title": {" "}}, "title", "必填。"},
			"no date":          {url.Values{"occurred_on": {""}}, "occurred_on", "必填。"},
			"a bad date":       {url.Values{"occurred_on": {"2026-02-30"}}, "occurred_on", "请填写有效日期。"},
			"a future date":    {url.Values{"occurred_on": {"2026-02-16"}}, "occurred_on", "不能晚于今天（今天是 2026-02-15）。"},
			"before the pair":  {url.Values{"occurred_on": {"2025-08-31"}}, "occurred_on", "须在结对期限内（2025-09-01 至 2028-08-31）。"},
			"unknown category": {url.Values{"category": {"picnic"}}, "category", "请从列表中选择活动类别。"},
			"no category":      {url.Values{"category": {""}}, "category", "必填。"},
			"negative hours":   {url.Values{"hours": {"-1"}}, "hours", "不能为负数。"},
			"hours not number": {url.Values{"hours": {"two"}}, "hours", "请填写数字。"},
			"zero persons":     {url.Values{"persons": {"0"}}, "persons", "须在 1 到 10000 之间。"},
			"a long title":     {url.Values{"title": {strings.Repeat("长", 201)}}, "title", "不能超过 200 个字符。"},
		} {
			form := url.Values{}
			for k, v := range valid {
				form[k] = v
			}
			for k, v := range c.change {
				form[k] = v
			}
			res := w.upload("/activities/new", form, "", "", nil)
			if res.Status != http.StatusUnprocessableEntity {
				t.Errorf("%s: %d", name, res.Status)
				continue
			}
			msg := fieldError(res.Body, c.field)
			if msg != c.want {
				t.Errorf("%s: %s says %q, want %q", name, c.field, msg, c.want)
			}
			if !strings.Contains(res.Body, `id="`+c.field+`"`) || !strings.Contains(res.Body, `aria-describedby="`+c.field) {
				t.Errorf("%s: the message is not tied to its field", name)
			}
			res.has(t, "请修改标出的内容后再提交。")
			if v := c.change.Get(c.field); v != "" && c.field != "category" && !strings.Contains(res.Body, `value="`+v+`"`) {
				t.Errorf("%s: the form lost the value %q", name, v)
			}
		}
		// the same in English
		w.post("/lang", url.Values{"locale": {"en"}})
		res := w.upload("/activities/new", url.Values{"pair_id": valid["pair_id"], "category": {"visit"}, "title": {"t"}, "occurred_on": {"2026-02-16"}}, "", "", nil)
		if fieldError(res.Body, "occurred_on") != "Must not be in the future (today is 2026-02-15)." {
			t.Errorf("English message: %q", fieldError(res.Body, "occurred_on"))
		}
		res = w.upload("/activities/new", url.Values{"pair_id": valid["pair_id"], "category": {"visit"}}, "", "", nil)
		if fieldError(res.Body, "title") != "Required." || fieldError(res.Body, "occurred_on") != "Required." {
			t.Errorf("English messages: %q, %q", fieldError(res.Body, "title"), fieldError(res.Body, "occurred_on"))
		}
		res.has(t, "Please correct the marked fields and submit again.")
		w.post("/lang", url.Values{"locale": {"zh-CN"}})
		if n := d.activityCount("1 = 1"); n != before {
			t.Fatalf("%d activities logged by refused forms", n-before)
		}

		// outside the coordinator's pairs: not found, nothing logged
		other := url.Values{}
		for k, v := range valid {
			other[k] = v
		}
		other.Set("pair_id", strconv.FormatInt(d.pairs["sx_sr-zz_sr"], 10))
		if res := w.upload("/activities/new", other, "", "", nil); res.Status != http.StatusNotFound {
			t.Errorf("logging on another school's pair: %d", res.Status)
		}

		// logged, with a photo: back to the start page
		res = w.upload("/activities/new", valid, "evidence", "现场.png", pngImage(t, 800, 600))
		if res.Status != http.StatusSeeOther || res.location() != "/" {
			t.Fatalf("log: %d %s", res.Status, res.Body)
		}
		id := d.activityID("校园文化建设指导")
		if d.activityStatus(id) != "pending" {
			t.Fatal("not pending")
		}
		r = w.must(200, w.get("/"))
		r.has(t, "活动已记录，等待对方学校校长确认。", "校园文化建设指导", "2 课时", "3 人", "麻城五中")
		thumb := regexp1(r.Body, `src="/evidence/(\d+)/thumb"`)
		if thumb == "" {
			t.Fatal("no evidence thumbnail on the start page")
		}
		if res := w.get("/evidence/" + thumb + "/thumb"); res.Status != 200 || res.Header.Get("Content-Type") != "image/jpeg" || len(res.raw) > 30<<10 {
			t.Errorf("thumbnail: %d %s %d bytes", res.Status, res.Header.Get("Content-Type"), len(res.raw))
		}
		if res := w.get("/evidence/" + thumb); res.Status != 200 || res.Header.Get("Content-Type") != "image/png" {
			t.Errorf("evidence file: %d %s", res.Status, res.Header.Get("Content-Type"))
		}
		// a resubmitted form (a double tap) logs once
		form := w.must(200, w.get("/activities/new")).Body
		idem := regexp1(form, `name="idem" value="([0-9a-f]+)"`)
		again := url.Values{"idem": {idem}}
		for k, v := range valid {
			again[k] = v
		}
		again.Set("title", "双击提交")
		for range 2 {
			if res := w.upload("/activities/new", again, "", "", nil); res.Status != http.StatusSeeOther {
				t.Fatalf("resubmit: %d", res.Status)
			}
		}
		if n := d.activityCount("title = ?", "双击提交"); n != 1 {
			t.Errorf("a double submission logged %d activities", n)
		}

		// a refused file refuses the form (nothing is logged), the message
		// beside the upload
		res = w.upload("/activities/new", url.Values{"pair_id": valid["pair_id"], "category": {"visit"}, "occurred_on": {"2026-02-11"},
			"title": {"带错误附件的活动"}}, "evidence", "notes.txt", []byte("just text, not a photo"))
		if res.Status != http.StatusUnprocessableEntity {
			t.Fatalf("a text file: %d", res.Status)
		}
		if fieldError(res.Body, "evidence") != "只能上传 JPEG、PNG、GIF、WebP 图片或 PDF 文件。" {
			t.Errorf("file message %q", fieldError(res.Body, "evidence"))
		}
		if n := d.activityCount("title = ?", "带错误附件的活动"); n != 0 {
			t.Errorf("the refused file's activity was logged %d times", n)
		}
		// without JavaScript, a form refused for another field keeps its
		// file: staged, listed (ticked) by the re-rendered form, claimed
		// when the form is sent again
		res = w.upload("/activities/new", url.Values{"pair_id": valid["pair_id"], "category": {"visit"}, "occurred_on": {"2026-02-11"}},
			"evidence", "签到表.png", pngImage(t, 40, 30))
		if res.Status != http.StatusUnprocessableEntity {
			t.Fatalf("no title: %d", res.Status)
		}
		kept := regexp1(res.Body, `<input type="checkbox" name="upload_id" value="([0-9a-f]{32})" checked>`)
		if kept == "" || !strings.Contains(res.Body, "签到表.png") {
			t.Fatalf("the refused form dropped its file: %s", res.Body)
		}
		res = w.upload("/activities/new", url.Values{"pair_id": valid["pair_id"], "category": {"visit"}, "occurred_on": {"2026-02-11"},
			"title": {"补交标题的活动"}, "upload_id": {kept}}, "", "", nil)
		if res.Status != http.StatusSeeOther {
			t.Fatalf("sent again: %d %s", res.Status, res.Body)
		}
		bad := d.activityID("补交标题的活动") // withdrawn below
		var names []string
		d.app.DB.Conn(context.Background()).Table("evidence").Where("activity_id = ?", bad).Pluck("file_name", &names)
		if len(names) != 1 || names[0] != "签到表.png" {
			t.Errorf("evidence after sending again: %v", names)
		}

		// amend: the form holds the stored values; a change is saved
		pending := d.activityID("校际师资培训（语文组）")
		r = w.must(200, w.get(fmt.Sprintf("/activities/%d/edit", pending)))
		if !strings.Contains(r.Body, `value="校际师资培训（语文组）"`) || !strings.Contains(r.Body, `value="2026-01-08"`) ||
			!strings.Contains(r.Body, `<option value="teacher_training" selected>`) {
			t.Error("the amend form lost the stored values")
		}
		if res := w.postRaw(fmt.Sprintf("/activities/%d/edit", pending), url.Values{"title": {"x"}}); res.Status != http.StatusForbidden {
			t.Errorf("amend without a token: %d", res.Status)
		}
		res = w.upload(fmt.Sprintf("/activities/%d/edit", pending), url.Values{"category": {"teacher_training"}, "occurred_on": {"2026-01-08"},
			"title": {"校际师资培训（语文组，修改）"}}, "evidence", "签到表.pdf", pdfBytes())
		if res.Status != http.StatusSeeOther {
			t.Fatalf("amend: %d %s", res.Status, res.Body)
		}
		w.must(200, w.get("/")).has(t, "活动已修改", "校际师资培训（语文组，修改）")
		res = w.upload(fmt.Sprintf("/activities/%d/edit", pending), url.Values{"category": {"teacher_training"}, "occurred_on": {"2026-03-01"},
			"title": {""}}, "", "", nil)
		if res.Status != 422 || fieldError(res.Body, "title") != "必填。" {
			t.Errorf("amend with errors: %d %q", res.Status, fieldError(res.Body, "title"))
		}
		res = w.upload(fmt.Sprintf("/activities/%d/edit", pending), url.Values{"category": {"teacher_training"}, "occurred_on": {"2026-03-01"},
			"title": {"x"}}, "", "", nil)
		if res.Status != 422 || !strings.HasPrefix(fieldError(res.Body, "occurred_on"), "不能晚于今天") {
			t.Errorf("amend with a future date: %d %q", res.Status, fieldError(res.Body, "occurred_on"))
		}

		// someone else's activity: the other school's coordinator may not
		// amend it, a coordinator elsewhere does not even see it
		mc := d.as("mc5.coord@demo.local", demoSchoolPW)
		if res := mc.get(fmt.Sprintf("/activities/%d/edit", pending)); res.Status != http.StatusForbidden {
			t.Errorf("the partner's coordinator amends: %d", res.Status)
		}
		if res := mc.upload(fmt.Sprintf("/activities/%d/edit", pending), url.Values{"category": {"visit"}, "occurred_on": {"2026-01-08"}, "title": {"x"}}, "", "", nil); res.Status != http.StatusForbidden {
			t.Errorf("the partner's coordinator posts an amendment: %d", res.Status)
		}
		kg := d.as("kg1.coord@demo.local", demoSchoolPW)
		for _, p := range []string{"/activities/%d/edit", "/activities/%d"} {
			if res := kg.get(fmt.Sprintf(p, pending)); res.Status != http.StatusNotFound {
				t.Errorf("a coordinator elsewhere opens %s: %d", p, res.Status)
			}
		}
		if res := kg.post(fmt.Sprintf("/activities/%d/withdraw", pending), nil); res.Status != http.StatusNotFound {
			t.Errorf("a coordinator elsewhere withdraws: %d", res.Status)
		}

		// withdraw
		if res := w.postRaw(fmt.Sprintf("/activities/%d/withdraw", bad), nil); res.Status != http.StatusForbidden {
			t.Errorf("withdraw without a token: %d", res.Status)
		}
		if res := w.post(fmt.Sprintf("/activities/%d/withdraw", bad), nil); res.Status != http.StatusSeeOther {
			t.Fatalf("withdraw: %d", res.Status)
		}
		if d.activityStatus(bad) != "withdrawn" {
			t.Error("not withdrawn")
		}
		w.must(200, w.get("/")).has(t, "活动已撤回")

		// a disputed activity: listed for amendment with the reason
		sx := d.as("sx.coord@demo.local", demoSchoolPW)
		r = sx.must(200, sx.get("/"))
		r.has(t, "对方有异议，请修改", "英语精品示范课", "当日因天气取消，未实际开展")
		disputed := d.activityID("英语精品示范课")
		sx.must(200, sx.get(fmt.Sprintf("/activities/%d/edit", disputed))).has(t, "对方校长对此活动有异议")

		// other roles have no log form
		head := d.as("mc5.head@demo.local", demoSchoolPW)
		if res := head.get("/activities/new"); res.Status != http.StatusForbidden {
			t.Errorf("a principal opens the log form: %d", res.Status)
		}
		bureau := d.as("macheng@demo.local", demoBureauPW)
		if res := bureau.upload("/activities/new", valid, "", "", nil); res.Status != http.StatusForbidden {
			t.Errorf("a bureau logs: %d", res.Status)
		}
	})
}

// fieldError is the message shown under a form field.
func fieldError(body, field string) string {
	return regexp1(body, `<p class="field-error" id="`+field+`-error">([^<]*)</p>`)
}
