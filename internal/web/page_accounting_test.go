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

// TestPagesLateRecord: a visit of January logged on Feb 15, after the
// autumn term's books closed on Feb 7 (end + 7 days). The form warns before
// submission, the confirmation messages do not promise a count, and the
// pair and activity pages say "逾期补录，不计入".
func TestPagesLateRecord(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		pair := d.pairs["wh6-mc5"]
		w := d.as("wh6.coord@demo.local", demoSchoolPW)

		// the form carries the live note, and the note warns
		if form := w.must(200, w.get(fmt.Sprintf("/activities/new?pair=%d", pair))); !strings.Contains(form.Body, `hx-get="/activities/accounting"`) {
			t.Error("the log form has no live note")
		}
		note := w.must(200, w.get(fmt.Sprintf("/activities/accounting?pair_id=%d&category=visit&occurred_on=2026-01-20", pair)))
		note.has(t, "该周期已于 2026-02-07 关账，本活动不计入完成情况", "本活动不计入任何帮扶任务的完成情况。")
		onTime := w.must(200, w.get(fmt.Sprintf("/activities/accounting?pair_id=%d&category=visit&occurred_on=2026-02-10", pair)))
		onTime.has(t, "本活动将计入：")
		onTime.lacks(t, "关账")
		// incomplete or foreign input: an empty note, never an error page
		for _, q := range []string{"category=visit", fmt.Sprintf("pair_id=%d&category=visit&occurred_on=2026-02-31", pair), "pair_id=999999&category=visit&occurred_on=2026-02-10"} {
			r := w.must(200, w.get("/activities/accounting?"+q))
			r.lacks(t, "关账", "计入")
		}

		// logged late: the flash says so
		res := w.upload("/activities/new", url.Values{"pair_id": {fmt.Sprint(pair)}, "category": {"visit"}, "title": {"一月到校指导（补录）"}, "occurred_on": {"2026-01-20"}}, "", "", nil)
		if res.Status != http.StatusSeeOther {
			t.Fatalf("log: %d %s", res.Status, res.Body)
		}
		home := w.must(200, w.get("/"))
		home.has(t, "逾期补录：已关账周期不计入完成情况")
		home.lacks(t, "活动已记录，等待对方学校校长确认。")
		id := d.activityID("一月到校指导（补录）")

		w.must(200, w.get(fmt.Sprintf("/pairs/%d", pair))).has(t, "一月到校指导（补录）", "逾期补录，不计入")
		w.must(200, w.get(fmt.Sprintf("/activities/%d", id))).has(t, "计入情况", "逾期补录，不计入（该周期已于 2026-02-07 关账）")

		// the principal's confirmation does not promise a count either
		head := d.as("mc5.head@demo.local", demoSchoolPW)
		r := head.post(fmt.Sprintf("/activities/%d/confirm", id), url.Values{"next": {fmt.Sprintf("/activities/%d", id)}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("confirm: %d", r.Status)
		}
		page := head.must(200, head.get(fmt.Sprintf("/activities/%d", id)))
		page.has(t, "已确认。该活动逾期补录，已关账周期不计入完成情况。")
		page.lacks(t, "已确认，该活动计入完成情况。")
		// and its history: who logged and who confirmed
		page.has(t, "处理记录", "记录 · 刘荣华", "确认 · 麻城五中校长")

		// a dispute rings the logger's bell; the list links to the activity and clears the bell
		res = w.upload("/activities/new", url.Values{"pair_id": {fmt.Sprint(pair)}, "category": {"lecture"}, "title": {"二月专题讲座"}, "occurred_on": {"2026-02-11"}}, "", "", nil)
		if res.Status != http.StatusSeeOther {
			t.Fatalf("log lecture: %d", res.Status)
		}
		lecture := d.activityID("二月专题讲座")
		if r := head.post(fmt.Sprintf("/activities/%d/dispute", lecture), url.Values{"reason": {"讲座未举行"}, "next": {"/inbox"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("dispute: %d", r.Status)
		}
		if bell := regexp1(w.must(200, w.get("/")).Body, `id="bell-count">(\d+)<`); bell != "1" {
			t.Errorf("bell after a dispute %q, want 1", bell)
		}
		list := w.must(200, w.get("/notifications"))
		list.has(t, "您记录的活动被提出异议：二月专题讲座")
		if !strings.Contains(list.Body, fmt.Sprintf(`href="/activities/%d"`, lecture)) {
			t.Error("the notification does not link to the activity")
		}
		if strings.Contains(w.must(200, w.get("/")).Body, `id="bell-count"`) {
			t.Error("the bell still rings after the list was seen")
		}

		// an on-time activity keeps the plain messages
		res = w.upload("/activities/new", url.Values{"pair_id": {fmt.Sprint(pair)}, "category": {"visit"}, "title": {"二月到校指导"}, "occurred_on": {"2026-02-10"}}, "", "", nil)
		if res.Status != http.StatusSeeOther {
			t.Fatalf("log on time: %d", res.Status)
		}
		w.must(200, w.get("/")).has(t, "活动已记录，等待对方学校校长确认。")
	})
}
