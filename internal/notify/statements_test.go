package notify_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// A reminder day's sweep sends as many statements for one pair as for
// thirty (issue 12): notices, messages, links and breaches go in multi-row
// INSERTs whose number grows only by one per chunk (2,000 notices, 1,000
// messages or 8 MiB, 5,000 links), and every read is one statement for
// all pairs. And a message rendered once for a group of recipients carries
// each recipient's own name, escaped in HTML as the template escapes it.
func TestReminderDayStatementsDoNotGrowWithNotices(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		qc := database.CountQueries(db)
		termly := []pairing.CommitmentInput{
			{Categories: []string{"management_exchange"}, Measure: "count", Minimum: decimal.FromInt(2), Period: "term", Description: "每学期两次管理交流"},
			{Categories: []string{"teaching_support"}, Measure: "hours", Minimum: decimal.FromInt(10), Period: "term", Description: "每学期送教十课时"},
			{Categories: []string{"secondment"}, Measure: "persons", Minimum: decimal.FromInt(1), Period: "term", Description: "每学期挂职一人"},
		}
		w.agreement(w.pair, "2025-09-01", termly...)
		w.check("2025-12-01") // a completed sweep: the next ones look since then

		sweep := func(day string) (int64, notify.Result) {
			t.Helper()
			now := w.at(day)
			before := qc.Queries()
			res, err := w.a.Sweeper.Sweep(w.ctx, date.MustParse(day), now, false)
			if err != nil {
				t.Fatal(err)
			}
			return qc.Queries() - before, res
		}
		// the 30-day reminder of the autumn term, one pair
		small, res := sweep("2026-01-01")
		if res.Notices[notify.KindReminder] != 3 || len(res.Messages) != 3 {
			t.Fatalf("one pair: %v notices, %d messages, want 3 and 3", res.Notices, len(res.Messages))
		}

		const extra = 30
		names := map[int64][2]string{} // pair → its two supporting users' names
		for i := range extra {
			sup := w.school(fmt.Sprintf("支援%d中", i), "Y")
			sud := w.school(fmt.Sprintf("受援%d小", i), "X")
			p := w.newPair(sup, sud)
			coord := fmt.Sprintf("O'Brien & <Co> %d", i)
			head := fmt.Sprintf("校长\"%d\"", i)
			w.user(fmt.Sprintf("c%d.coord", i), coord, auth.RoleCoordinator, &sup.ID, nil, "")
			w.user(fmt.Sprintf("c%d.head", i), head, auth.RolePrincipal, &sup.ID, nil, "")
			w.user(fmt.Sprintf("d%d.head", i), fmt.Sprintf("受援校长%d", i), auth.RolePrincipal, &sud.ID, nil, "")
			w.agreement(p, "2025-09-01", termly...)
			names[p.ID] = [2]string{coord, head}
		}
		// the 7-day reminder of the same term, thirty-one pairs
		large, res := sweep("2026-01-25")
		if n := res.Notices[notify.KindReminder]; n != 3*(extra+1) {
			t.Fatalf("%d pairs: %d reminder notices, want %d", extra+1, n, 3*(extra+1))
		}
		if len(res.Messages) < 3*(extra+1) {
			t.Fatalf("%d pairs: %d messages", extra+1, len(res.Messages))
		}
		if large != small {
			t.Errorf("a reminder day sent %d statements for 1 pair and %d for %d pairs: want the same", small, large, extra+1)
		}

		// each message carries its own recipient's name
		var seen int
		for _, m := range w.messages(notify.KindReminder) {
			if m.PairID == nil {
				continue
			}
			pair, ok := names[*m.PairID]
			if !ok {
				continue
			}
			var u struct{ Name string }
			if err := db.Gorm().Table("users").Select("name").Where("id = ?", *m.RecipientUserID).Take(&u).Error; err != nil {
				t.Fatal(err)
			}
			for _, other := range pair {
				if other == u.Name {
					continue
				}
				if strings.Contains(m.BodyText, other) || strings.Contains(m.BodyHTML, htmlText(other)) {
					t.Errorf("the message to %q names %q too", u.Name, other)
				}
			}
			if !strings.Contains(m.BodyText, u.Name+"，您好") {
				t.Errorf("text to %q lacks the name:\n%s", u.Name, m.BodyText)
			}
			if !strings.Contains(m.BodyHTML, "<p>"+htmlText(u.Name)+"，您好：</p>") {
				t.Errorf("HTML to %q lacks the escaped name:\n%s", u.Name, m.BodyHTML)
			}
			if strings.ContainsRune(m.BodyText, '\uE000') || strings.ContainsRune(m.BodyHTML, '\uE000') {
				t.Errorf("message to %q keeps the name's mark", u.Name)
			}
			seen++
		}
		if seen != 3*extra {
			t.Errorf("%d messages to the new pairs' users, want %d", seen, 3*extra)
		}
	})
}

// htmlText is s as html/template escapes it in HTML text.
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", "\"", "&#34;", "<", "&lt;", ">", "&gt;", "+", "&#43;").Replace(s)
}
