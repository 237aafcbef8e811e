package circular_test

import (
	"bytes"
	"image"
	"image/png"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/circular"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// publish drafts and publishes the county's circular due on 2026-03-01
// and returns its rectifications by school name.
func (w *world) publish() (*circular.Circular, map[string]circular.Rectification) {
	w.t.Helper()
	c, err := w.a.Circulars.Draft(w.ctx, w.actors["bureau.x"], circular.DraftInput{PeriodKey: "2025-2026-autumn", Title: "通报",
		Number: "麻教通〔2026〕3号", RectifyBy: dp("2026-03-01")})
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.a.Circulars.Publish(w.ctx, w.actors["bureau.x"], c.ID); err != nil {
		w.t.Fatal(err)
	}
	w.deliver()
	w.smtp.take()
	l, err := w.a.Circulars.ListRectifications(w.ctx, w.actors["bureau.x"], circular.RectFilter{CircularID: c.ID}, page.Page{})
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]circular.Rectification{}
	for _, r := range l.Items {
		out[r.SchoolName] = r
	}
	return c, out
}

func pngFile(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The states: acknowledge, submit (with a file), return with a reason,
// resubmit, accept; each step only by whom and from where it may.
func TestRectificationStates(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db)
		_, rs := w.publish()
		r := rs["受援一小"]
		if r.Status != circular.AwaitingAck || r.DueOn.String() != "2026-03-01" || r.CircularNumber != "麻教通〔2026〕3号" {
			t.Fatalf("rectification %+v", r)
		}
		coord, head, other, bx := w.actors["sud1.coord"], w.actors["sud1.head"], w.actors["sud2.coord"], w.actors["bureau.x"]
		if _, err := w.a.Circulars.Submit(w.ctx, coord, r.ID, "报告"); !errs.Is(err, errs.KindConflict) {
			t.Fatalf("submit before acknowledging: %v", err)
		}
		if _, err := w.a.Circulars.Acknowledge(w.ctx, other, r.ID); !errs.Is(err, errs.KindNotFound) {
			t.Fatalf("another school acknowledges: %v", err)
		}
		if _, err := w.a.Circulars.Acknowledge(w.ctx, bx, r.ID); !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("the bureau acknowledges: %v", err)
		}
		got, err := w.a.Circulars.Acknowledge(w.ctx, head, r.ID)
		if err != nil || got.Status != circular.Acknowledged || got.AcknowledgedBy == nil {
			t.Fatalf("acknowledge: %+v %v", got, err)
		}
		if _, err := w.a.Circulars.Acknowledge(w.ctx, coord, r.ID); !errs.Is(err, errs.KindConflict) {
			t.Fatalf("acknowledge twice: %v", err)
		}
		if _, err := w.a.Circulars.AddFile(w.ctx, coord, r.ID, "整改照片.png", bytes.NewReader(pngFile(t))); err != nil {
			t.Fatal(err)
		}
		if _, err := w.a.Circulars.AddFile(w.ctx, coord, r.ID, "x.exe", strings.NewReader("MZ\x90\x00 not an image")); !hasFields(err, "file") {
			t.Fatalf("an executable: %v", err)
		}
		if _, err := w.a.Circulars.Submit(w.ctx, coord, r.ID, "  "); !hasFields(err, "report") {
			t.Fatalf("empty report: %v", err)
		}
		if got, err = w.a.Circulars.Submit(w.ctx, coord, r.ID, "已开展两次管理交流。"); err != nil || got.Status != circular.Submitted || len(got.Files) != 1 || got.SubmittedOn.String() != "2026-02-08" {
			t.Fatalf("submit: %+v %v", got, err)
		}
		if _, err := w.a.Circulars.AddFile(w.ctx, coord, r.ID, "late.png", bytes.NewReader(pngFile(t))); !errs.Is(err, errs.KindConflict) {
			t.Fatalf("a file after submitting: %v", err)
		}
		if _, err := w.a.Circulars.Accept(w.ctx, head, r.ID); !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("the school accepts itself: %v", err)
		}
		if _, err := w.a.Circulars.Return(w.ctx, bx, r.ID, ""); !hasFields(err, "reason") {
			t.Fatalf("return without a reason: %v", err)
		}
		w.smtp.take()
		if got, err = w.a.Circulars.Return(w.ctx, bx, r.ID, "缺少佐证材料"); err != nil || got.Status != circular.Returned || got.ReturnReason != "缺少佐证材料" {
			t.Fatalf("return: %+v %v", got, err)
		}
		// the school hears why, by mail
		w.deliver()
		back := rectMails(w.smtp.take())
		if got := rcpts(back); !slices.Equal(got, w.addr("sud1.coord", "sud1.head")) {
			t.Fatalf("return told %v", got)
		}
		for _, m := range back {
			if !strings.Contains(m.Subject, "退回") && !strings.Contains(m.Subject, "Returned") {
				t.Errorf("return mail %q", m.Subject)
			}
		}
		if n := w.count("notices", "dedupe_key = ?", key1(rs["受援一小"], "returned:1")); n != 1 {
			t.Fatalf("returned notice: %d", n)
		}
		if _, err := w.a.Circulars.Accept(w.ctx, bx, r.ID); !errs.Is(err, errs.KindConflict) {
			t.Fatalf("accept a returned report: %v", err)
		}
		if got, err = w.a.Circulars.Submit(w.ctx, coord, r.ID, "补充了照片。"); err != nil || got.Status != circular.Submitted {
			t.Fatalf("resubmit: %+v %v", got, err)
		}
		if got, err = w.a.Circulars.Accept(w.ctx, w.actors["bureau.p"], r.ID); !errs.Is(err, errs.KindForbidden) {
			t.Fatalf("the province accepts the county's: %+v %v", got, err)
		}
		if got, err = w.a.Circulars.Accept(w.ctx, bx, r.ID); err != nil || got.Status != circular.Accepted {
			t.Fatalf("accept: %+v %v", got, err)
		}
		f, rc, err := w.a.Circulars.OpenFile(w.ctx, bx, got.Files[0].ID)
		if err != nil || f.ContentType != "image/png" {
			t.Fatalf("open file: %+v %v", f, err)
		}
		rc.Close()
		if _, _, err := w.a.Circulars.OpenFile(w.ctx, other, got.Files[0].ID); !errs.Is(err, errs.KindNotFound) {
			t.Fatalf("another school opens the file: %v", err)
		}
		var actions []string
		db.Gorm().Table("audit_log").Where("entity = ? AND entity_id = ?", "rectification", r.ID).Order("id").Pluck("action", &actions)
		want := []string{"rectification.acknowledge", "rectification.file", "rectification.submit", "rectification.return", "rectification.submit", "rectification.accept"}
		if !slices.Equal(actions, want) {
			t.Fatalf("audit %v", actions)
		}
	})
}

// The daily step: a reminder from three days before the deadline, an
// escalation to the issuing bureau from the day after, each once, only
// while the school owes its report.
func TestRectificationRemindersAtDayBoundaries(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db)
		c, rs := w.publish()
		keys := func() []string {
			var out []string
			db.Gorm().Table("notices").Where("kind IN ?", []string{"rectify", "rectify_overdue"}).Order("dedupe_key").Pluck("dedupe_key", &out)
			return out
		}
		key := func(school, suffix string) string {
			return "rectify:" + itoa(c.ID) + ":" + itoa(rs[school].SchoolID) + ":" + suffix
		}
		w.check("2026-02-25") // due − 4
		if k := keys(); len(k) != 0 || len(rectMails(w.smtp.take())) != 0 {
			t.Fatalf("2026-02-25: %v", k)
		}
		w.check("2026-02-26") // due − 3
		want := []string{key("受援一小", "reminder"), key("受援二小", "reminder")}
		slices.Sort(want)
		if k := keys(); !slices.Equal(k, want) {
			t.Fatalf("2026-02-26: %v, want %v", k, want)
		}
		msgs := rectMails(w.smtp.take())
		if got, want := rcpts(msgs), w.addr("sud1.coord", "sud1.head", "sud2.coord", "sud2.head"); !slices.Equal(got, want) {
			t.Fatalf("reminders to %v, want %v", got, want)
		}
		for _, m := range msgs {
			if m.To[0] == "sud1.head@test.local" && !strings.Contains(m.Raw, "3 days left") {
				t.Errorf("English reminder:\n%s", m.Raw)
			}
		}
		// school 1 reports in time; school 2 does not
		if _, err := w.a.Circulars.Acknowledge(w.ctx, w.actors["sud1.coord"], rs["受援一小"].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.a.Circulars.Submit(w.ctx, w.actors["sud1.coord"], rs["受援一小"].ID, "报告"); err != nil {
			t.Fatal(err)
		}
		w.check("2026-02-27")
		w.check("2026-03-01") // the deadline itself: not yet overdue
		if k := keys(); len(k) != 2 || len(rectMails(w.smtp.take())) != 0 {
			t.Fatalf("up to the deadline: %v", k)
		}
		w.check("2026-03-02") // due + 1
		w.check("2026-03-02")
		w.check("2026-03-09")
		if k := keys(); !slices.Contains(k, key("受援二小", "overdue")) || slices.Contains(k, key("受援一小", "overdue")) || len(k) != 3 {
			t.Fatalf("after the deadline: %v", k)
		}
		if got := rcpts(rectMails(w.smtp.take())); !slices.Equal(got, w.addr("bureau.x")) {
			t.Fatalf("escalation to %v", got)
		}
		// the dashboard list: the overdue one first
		l, err := w.a.Circulars.ListRectifications(w.ctx, w.actors["bureau.x"], circular.RectFilter{}, page.Page{})
		if err != nil || len(l.Items) != 2 || l.Items[0].SchoolName != "受援二小" || !l.Items[0].Overdue || l.Items[1].Overdue {
			t.Fatalf("list %+v %v", l.Items, err)
		}
		// a school sees only its own
		own, _ := w.a.Circulars.ListRectifications(w.ctx, w.actors["sud2.head"], circular.RectFilter{}, page.Page{})
		if len(own.Items) != 1 || own.Items[0].SchoolName != "受援二小" {
			t.Fatalf("school list %+v", own.Items)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// key1 is the dedupe key rectify:<circular>:<school>:<suffix> of r.
func key1(r circular.Rectification, suffix string) string {
	return "rectify:" + itoa(r.CircularID) + ":" + itoa(r.SchoolID) + ":" + suffix
}

// rectMails keeps the rectification mail (the compliance sweep mails too).
func rectMails(ms []received) []received {
	var out []received
	for _, m := range ms {
		if strings.Contains(m.Subject, "整改") || strings.Contains(m.Subject, "rectif") {
			out = append(out, m)
		}
	}
	return out
}
