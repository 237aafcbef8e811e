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

// TestPagePrincipal: the inbox with its badge, confirming and disputing in
// one step (with htmx and without), the history — and the refusals.
func TestPagePrincipal(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		pending := d.activityID("校际师资培训（语文组）")
		coord := d.as("wh6.coord@demo.local", demoSchoolPW)
		log := func(title string) int64 {
			t.Helper()
			res := coord.upload("/activities/new", url.Values{"pair_id": {fmt.Sprint(d.pairs["wh6-mc5"])}, "category": {"lecture"},
				"occurred_on": {"2026-02-12"}, "title": {title}}, "", "", nil)
			if res.Status != http.StatusSeeOther {
				t.Fatalf("log %s: %d", title, res.Status)
			}
			return d.activityID(title)
		}
		second := log("新学期教学研讨讲座")
		third := log("班主任工作专题讲座")

		w := d.as("mc5.head@demo.local", demoSchoolPW)
		r := w.must(200, w.get("/inbox"))
		r.has(t, "待确认活动", "校际师资培训（语文组）", "新学期教学研讨讲座", "班主任工作专题讲座", "武汉市第六中学 → 麻城市第五中学",
			"确认属实", "异议理由（提出异议时必填）", "我校的结对")
		if badge := regexp1(r.Body, `id="inbox-count"[^>]*>(\d+)<`); badge != "3" {
			t.Errorf("badge %q, want 3", badge)
		}
		if !strings.Contains(r.Body, fmt.Sprintf(`<label for="reason-%d">`, pending)) {
			t.Error("the reason input has no label")
		}
		if !strings.Contains(r.Body, fmt.Sprintf(`hx-post="/activities/%d/confirm"`, pending)) {
			t.Error("no htmx on the inbox")
		}
		// the start page of a principal is the inbox
		if res := w.get("/"); res.Status != http.StatusSeeOther || res.location() != "/inbox" {
			t.Errorf("principal start page: %d %q", res.Status, res.location())
		}

		// no token: refused
		for _, verb := range []string{"confirm", "dispute"} {
			if res := w.postRaw(fmt.Sprintf("/activities/%d/%s", pending, verb), url.Values{"reason": {"x"}}); res.Status != http.StatusForbidden {
				t.Errorf("%s without a token: %d", verb, res.Status)
			}
		}
		if d.activityStatus(pending) != "pending" {
			t.Fatal("decided without a token")
		}

		// outside the principal's say: the logging school's own principal,
		// a principal elsewhere, the coordinators
		own := d.as("wh6.head@demo.local", demoSchoolPW)
		if res := own.post(fmt.Sprintf("/activities/%d/confirm", pending), nil); res.Status != http.StatusForbidden {
			t.Errorf("the logging school's principal confirms: %d", res.Status)
		}
		own.must(200, own.get("/inbox")).has(t, "没有需要您确认的活动。")
		far := d.as("zz.head@demo.local", demoSchoolPW)
		for _, verb := range []string{"confirm", "dispute"} {
			if res := far.post(fmt.Sprintf("/activities/%d/%s", pending, verb), url.Values{"reason": {"不属实"}}); res.Status != http.StatusNotFound {
				t.Errorf("a principal elsewhere: %s %d", verb, res.Status)
			}
		}
		if res := coord.post(fmt.Sprintf("/activities/%d/confirm", pending), nil); res.Status != http.StatusForbidden {
			t.Errorf("the coordinator confirms: %d", res.Status)
		}
		if res := coord.get("/inbox"); res.Status != http.StatusForbidden {
			t.Errorf("a coordinator opens the inbox: %d", res.Status)
		}
		if d.activityStatus(pending) != "pending" {
			t.Fatal("decided by someone who may not")
		}

		// confirm with htmx: the row becomes the outcome, the badge follows
		w.headers["HX-Request"] = "true"
		r = w.post(fmt.Sprintf("/activities/%d/confirm", pending), url.Values{"next": {"/inbox"}})
		if r.Status != 200 || strings.Contains(r.Body, "<html") {
			t.Fatalf("htmx confirm: %d %s", r.Status, r.Body)
		}
		if !strings.Contains(r.Body, fmt.Sprintf(`id="row-%d"`, pending)) || !strings.Contains(r.Body, `id="inbox-count" hx-swap-oob="true"`) {
			t.Errorf("htmx answer: %s", r.Body)
		}
		r.has(t, "已确认", "已确认，该活动计入完成情况。")
		if badge := regexp1(r.Body, `id="inbox-count"[^>]*>(\d+)<`); badge != "2" {
			t.Errorf("badge after confirming %q, want 2", badge)
		}
		// the heading's count follows too (issue 10: the counts agree)
		if heading := regexp1(r.Body, `id="inbox-heading-count"[^>]*hx-swap-oob="true">(\d+)<`); heading != "2" {
			t.Errorf("heading count after confirming %q, want 2", heading)
		}
		if d.activityStatus(pending) != "confirmed" {
			t.Fatal("not confirmed")
		}
		// a second click: the activity is no longer pending
		if res := w.post(fmt.Sprintf("/activities/%d/confirm", pending), nil); res.Status != http.StatusConflict {
			t.Errorf("confirming twice: %d", res.Status)
		}

		// dispute without a reason: the row again with the message (htmx 422)
		r = w.post(fmt.Sprintf("/activities/%d/dispute", second), url.Values{"reason": {"  "}})
		if r.Status != http.StatusUnprocessableEntity || fieldError(r.Body, fmt.Sprintf("reason-%d", second)) != "必填。" {
			t.Errorf("htmx dispute without a reason: %d %s", r.Status, r.Body)
		}
		delete(w.headers, "HX-Request")
		// and without htmx: the inbox with the message on that row
		r = w.post(fmt.Sprintf("/activities/%d/dispute", second), url.Values{"reason": {""}, "next": {"/inbox"}})
		if r.Status != http.StatusUnprocessableEntity || fieldError(r.Body, fmt.Sprintf("reason-%d", second)) != "必填。" {
			t.Errorf("dispute without a reason: %d", r.Status)
		}
		r.has(t, "请修改标出的内容后再提交。")
		if d.activityStatus(second) != "pending" {
			t.Fatal("disputed without a reason")
		}
		// with a reason: done, back to the inbox
		r = w.post(fmt.Sprintf("/activities/%d/dispute", second), url.Values{"reason": {"讲座当天改期，未实际开展"}, "next": {"/inbox"}})
		if r.Status != http.StatusSeeOther || r.location() != "/inbox" {
			t.Fatalf("dispute: %d %q", r.Status, r.location())
		}
		if d.activityStatus(second) != "disputed" {
			t.Fatal("not disputed")
		}
		r = w.must(200, w.get("/inbox"))
		r.has(t, "已提出异议", "班主任工作专题讲座")
		r.lacks(t, "新学期教学研讨讲座")

		// the activity page decides too, and returns there
		r = w.must(200, w.get(fmt.Sprintf("/activities/%d", third)))
		r.has(t, "确认或提出异议", "专题讲座", "2026-02-12")
		r = w.post(fmt.Sprintf("/activities/%d/confirm", third), url.Values{"next": {fmt.Sprintf("/activities/%d", third)}})
		if r.Status != http.StatusSeeOther || r.location() != fmt.Sprintf("/activities/%d", third) {
			t.Errorf("confirm from the activity page: %d %q", r.Status, r.location())
		}
		w.must(200, w.get("/inbox")).has(t, "没有需要您确认的活动。")

		// history: what this principal decided
		r = w.must(200, w.get("/history"))
		r.has(t, "确认记录", "校际师资培训（语文组）", "新学期教学研讨讲座", "讲座当天改期，未实际开展", "班主任工作专题讲座")
		if res := coord.get("/history"); res.Status != http.StatusForbidden {
			t.Errorf("a coordinator opens the history: %d", res.Status)
		}
		// the coordinator sees the dispute and the reason
		coord.must(200, coord.get("/")).has(t, "对方有异议，请修改", "讲座当天改期，未实际开展")
	})
}
