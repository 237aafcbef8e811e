package notify_test

import (
	"encoding/json"
	"fmt"
	netmail "net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// Issue 9, item 9: hours 0.3 + 1.9 against a minimum of 2.2 are met — in
// the API (achieved exactly 2.2, not 2.1999999999999997) and in the sweep,
// which records no breach and queues no breach notice, before and after a
// rebuild of the read model. A second commitment of the same pair is
// breached, so the sweep demonstrably decided the term.
func TestHoursSummingExactlyToTheMinimumAreMet(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		minimum, err := decimal.Parse("2.2")
		if err != nil {
			t.Fatal(err)
		}
		ids := w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"teaching_support"}, Measure: "hours", Minimum: minimum, Period: "term", Description: "每学期送教2.2课时"},
			pairing.CommitmentInput{Categories: []string{"lecture"}, Measure: "count", Minimum: decimal.FromInt(1), Period: "term", Description: "每学期一次讲座"})
		hoursC, lectureC := ids[0], ids[1]
		for i, h := range []float64{0.3, 1.9} {
			act := w.log(supCoord, fmt.Sprintf("2025-10-1%d", i), "teaching_support", "送教", fmt.Sprintf("2025-10-1%d", i), h)
			w.confirm(sudHead, act.ID)
		}

		// the API: met, achieved exactly 2.2
		api := testutil.NewAPI(t, w.a)
		w.at("2026-02-08")
		body := string(api.Must(200, api.Do("GET", fmt.Sprintf("/api/v1/pairs/%d/compliance?at=2026-02-08", w.pair.ID), api.Admin(), nil)).Body)
		if strings.Contains(body, "2.1999") {
			t.Fatalf("the API answers a float sum: %s", body)
		}
		var rep struct {
			Items []struct {
				CommitmentID int64     `json:"commitment_id"`
				PeriodKey    string    `json:"period_key"`
				Minimum      decimal.D `json:"minimum"`
				Required     decimal.D `json:"required"`
				Achieved     decimal.D `json:"achieved"`
				Status       string    `json:"status"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, it := range rep.Items {
			if it.CommitmentID == hoursC && it.PeriodKey == "2025-2026-autumn" {
				found = true
				if it.Status != "met" || it.Achieved != minimum || it.Required != minimum || it.Minimum != minimum {
					t.Fatalf("hours item %+v, want met with achieved = required = 2.2", it)
				}
			}
		}
		if !found {
			t.Fatalf("no autumn item of the hours commitment in %s", body)
		}
		if !strings.Contains(body, `"achieved":2.2,`) {
			t.Fatalf("achieved is not written as 2.2: %s", body)
		}

		wantBreach := []string{key("breach:%d:2025-2026-autumn", lectureC)}
		dry := func(when string) {
			t.Helper()
			res, err := w.a.Sweeper.Sweep(w.ctx, date.MustParse("2026-02-08"), w.at("2026-02-08"), true)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, m := range res.Messages {
				if m.Kind == notify.KindBreach {
					keys = append(keys, m.Keys...)
				}
			}
			for _, k := range keys {
				if k != wantBreach[0] {
					t.Fatalf("%s: the dry run would send breach %s", when, k)
				}
			}
			if res.Breaches != 1 || len(keys) == 0 {
				t.Fatalf("%s: dry run %d breaches, keys %v; want only the lecture's", when, res.Breaches, keys)
			}
		}
		dry("before rebuild")
		if err := w.a.Ledger.RebuildAll(w.ctx); err != nil {
			t.Fatal(err)
		}
		dry("after rebuild")

		res := w.check("2026-02-08")
		equal(t, "breach notices", w.keys(notify.KindBreach), wantBreach)
		bs := w.breaches()
		if res.Breaches != 1 || len(bs) != 1 || bs[0].CommitmentID != lectureC {
			t.Fatalf("breaches %+v (result %d), want only the lecture's", bs, res.Breaches)
		}
		for _, m := range w.messages(notify.KindBreach) {
			if strings.Contains(m.BodyText, "送教2.2课时") {
				t.Fatalf("a breach message names the met commitment:\n%s", m.BodyText)
			}
		}
	})
}

// Issue 9, item 10: which periods are still undecided follows from the
// data, not from the wall clock. `check --at` runs ahead of the clock; an
// agreement created (backdated) between two such sweeps has its closed
// period decided by the next one, once. The old rule — pairs whose
// updated_at (wall clock, 2026-03-02) is on or after the last sweep's as-of
// date (2026-06-01) — missed it.
func TestBackdatedAgreementBetweenSweepsAheadOfTheClock(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		check := func(wall, at string) notify.Result {
			t.Helper()
			now := w.at(wall)
			res, err := w.a.Check(w.ctx, date.MustParse(at), now, false)
			if err != nil {
				t.Fatalf("check --at %s: %v", at, err)
			}
			return res
		}
		check("2026-03-01", "2026-06-01") // nothing to decide yet
		w.at("2026-03-02")
		c := w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"lecture"}, Measure: "count", Minimum: decimal.FromInt(1), Period: "term", Description: "每学期一次讲座"})[0]
		res := check("2026-03-02", "2026-06-02")
		want := []string{key("breach:%d:2025-2026-autumn", c)}
		equal(t, "breach notices", w.keys(notify.KindBreach), want)
		if res.Breaches != 1 || w.count("breaches") != 1 {
			t.Fatalf("%d breaches recorded, %d rows; want 1", res.Breaches, w.count("breaches"))
		}
		// the agreement is now decided through the sweep's as-of date
		var through []date.Date
		if err := db.Gorm().Table("agreements").Where("pair_id = ?", w.pair.ID).Pluck("decided_through", &through).Error; err != nil {
			t.Fatal(err)
		}
		if len(through) != 1 || through[0].String() != "2026-06-02" {
			t.Fatalf("decided_through %v, want 2026-06-02", through)
		}
		for _, day := range []string{"2026-06-03", "2026-06-04"} {
			if res := check("2026-03-03", day); res.Breaches != 0 || res.Notices[notify.KindBreach] != 0 {
				t.Fatalf("%s: decided again: %+v", day, res)
			}
		}
		// a check of an earlier day neither re-decides nor moves the date back
		if res := check("2026-03-03", "2026-02-20"); res.Breaches != 0 {
			t.Fatalf("a check of an earlier day recorded %d breaches", res.Breaches)
		}
		if err := db.Gorm().Table("agreements").Where("pair_id = ?", w.pair.ID).Pluck("decided_through", &through).Error; err != nil {
			t.Fatal(err)
		}
		// 3 and 4 June closed no period's books (compliance.Decided): the
		// date stays where the sweep of 2 June put it
		if through[0].String() != "2026-06-02" {
			t.Fatalf("decided_through moved to %v", through[0])
		}
		if w.count("breaches") != 1 || len(w.keys(notify.KindBreach)) != 1 {
			t.Fatalf("%d breach rows, notices %v; want exactly one", w.count("breaches"), w.keys(notify.KindBreach))
		}
	})
}

// Issue 9, item 8: the notices a sweep reports, and twinning_notices_total,
// are the notices it committed. Two processes check at once; a process's
// first transaction that queues mail fails with a deadlock after inserting
// its notices and is retried by WithTx: the sum of what they report, and of
// their metrics, is the number of rows in notices.
func TestConcurrentSweepsCountOnlyCommittedNotices(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		srv := startSMTP(t)
		w := build(t, db, srv)
		busy(w)
		db2 := testutil.SecondHandle(t, db)
		// one deadlock per process, on its first outbox insert: after its
		// notices are in, inside the sweep's transaction (whichever process
		// wins the race inserts, so at least one retry happens)
		var injected atomic.Int32
		for _, h := range []*database.DB{db, db2} {
			var once atomic.Bool
			// (the outbox inserts with RETURNING: a statement that
			// returns rows)
			if err := h.Gorm().Callback().Row().After("gorm:row").Register("test:deadlock_once", func(tx *gorm.DB) {
				if strings.HasPrefix(tx.Statement.SQL.String(), "INSERT INTO outbox_messages") && tx.Error == nil && once.CompareAndSwap(false, true) {
					injected.Add(1)
					_ = tx.AddError(&mysqldriver.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock (injected by the test)"})
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
		a2 := newApp(t, db2, w.clock, srv)
		apps := []*app.App{w.a, a2}
		reported := 0
		for _, day := range []string{"2026-01-25", "2026-02-09", "2026-03-02"} {
			at, now := date.MustParse(day), w.at(day)
			results := make([]notify.Result, len(apps))
			errs := make([]error, len(apps))
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, a := range apps {
				wg.Go(func() {
					<-start
					results[i], errs[i] = a.Check(w.ctx, at, now, false)
				})
			}
			close(start)
			wg.Wait()
			for i := range apps {
				if errs[i] != nil {
					t.Fatalf("%s: check %d: %v", day, i, errs[i])
				}
				for _, n := range results[i].Notices {
					reported += n
				}
			}
			if rows := int(w.count("notices")); reported != rows {
				t.Fatalf("%s: the sweeps reported %d new notices in all, the table has %d (%+v, %+v)", day, reported, rows, results[0].Notices, results[1].Notices)
			}
		}
		if injected.Load() == 0 {
			t.Fatal("the deadlock was never injected: the retry path went untested")
		}
		if reported == 0 {
			t.Fatal("no notices: the test proves nothing")
		}
		total := 0.0
		for _, a := range apps {
			api := testutil.NewAPI(t, a)
			body := string(api.Must(200, api.Do("GET", "/metrics", "", nil)).Body)
			for _, m := range regexp.MustCompile(`(?m)^twinning_notices_total\{kind="[a-z_]+"\} (\S+)$`).FindAllStringSubmatch(body, -1) {
				v, err := strconv.ParseFloat(m[1], 64)
				if err != nil {
					t.Fatal(err)
				}
				total += v
			}
		}
		if metric := total; int(metric) != reported {
			t.Fatalf("twinning_notices_total sums to %v over the two processes, want %d", metric, reported)
		}
		delivered(t, w, srv)
	})
}

// Issue 9, item 11: one user's display name or address must not stop the
// mail. A bureau named a coordinator 王老师: 校长 (a colon: group syntax to
// a naive parser), another `Li, "Ming" <b>` with a line break, and a third
// user's address became unusable. The sweep commits its breaches; every
// message to the others reaches a real SMTP server, the names intact; the
// messages to the unusable address are failed with the reason.
func TestDisplayNamesAndABadAddressDoNotStopTheMail(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		srv := startSMTP(t)
		w := build(t, db, srv)
		busy(w)
		names := map[string]string{"sud.vice": "王老师: 校长", "sup.vice": "Li, \"Ming\" <b>\n主任"}
		w.user("sud.vice", names["sud.vice"], "coordinator", &w.sud.ID, nil, "")
		w.user("sup.vice", "placeholder", "coordinator", &w.sup.ID, nil, "")
		w.user("sup.bad", "坏地址", "coordinator", &w.sup.ID, nil, "")
		// as stored data can be, whatever the API accepts today
		if err := db.Gorm().Exec("UPDATE users SET name = ? WHERE id = ?", names["sup.vice"], w.users["sup.vice"].ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm().Exec("UPDATE users SET email = ? WHERE id = ?", "not an address", w.users["sup.bad"].ID).Error; err != nil {
			t.Fatal(err)
		}

		res := w.check("2026-02-08")
		if res.Breaches == 0 || int(w.count("breaches")) != res.Breaches || len(w.keys(notify.KindBreach)) != res.Breaches {
			t.Fatalf("the sweep recorded %d breaches (%d rows, notices %v)", res.Breaches, w.count("breaches"), w.keys(notify.KindBreach))
		}
		msgs := w.messages("")
		byUser := map[int64]string{}
		for k, u := range w.users {
			byUser[u.ID] = k
		}
		sent, failed := 0, 0
		got := map[string]int{} // messages per user key
		for _, m := range msgs {
			who := byUser[*m.RecipientUserID]
			got[who]++
			switch {
			case who == "sup.bad":
				if m.Status != "failed" || !strings.Contains(m.LastError, "not an address") || m.Attempts != 1 {
					t.Errorf("message %d to the bad address: status %s, attempts %d, last_error %q", m.ID, m.Status, m.Attempts, m.LastError)
				}
				failed++
			case m.Status != "sent":
				t.Errorf("message %d to %s (%q): %s, %q", m.ID, who, m.To, m.Status, m.LastError)
			default:
				sent++
			}
		}
		for _, k := range []string{"sud.vice", "sup.vice", "sup.bad", supCoord, sudHead} {
			if got[k] == 0 {
				t.Fatalf("no message to %s: %v", k, got)
			}
		}
		received := srv.received()
		if len(received) != sent || failed == 0 {
			t.Fatalf("the server received %d messages; %d sent, %d failed", len(received), sent, failed)
		}
		for _, r := range received {
			if len(r.To) != 1 {
				t.Fatalf("RCPT TO %v", r.To)
			}
			for k, name := range names {
				if r.To[0] != k+"@test.local" {
					continue
				}
				// unfold the header, then parse it as a reader does
				to, err := netmail.ParseAddress(strings.ReplaceAll(header(r.Data, "To"), "\r\n", ""))
				want := strings.Join(strings.Fields(name), " ")
				if err != nil || to.Name != want || to.Address != r.To[0] {
					t.Errorf("To header of a message to %s: %q → %v, %v; want name %q", k, header(r.Data, "To"), to, err, want)
				}
			}
		}
		// the next day's sweep is not held back either
		if _, err := w.a.Check(w.ctx, date.MustParse("2026-02-09"), w.at("2026-02-09"), false); err != nil {
			t.Fatal(err)
		}
	})
}

// The same rule for confirmation reminders: an activity that becomes
// pending again (an amended dispute) between two sweeps that run ahead of
// the wall clock is escalated by the next one, once. The old rule —
// activities.updated_at (wall clock) on or after the last sweep's as-of
// date — missed it.
func TestAmendedDisputeBetweenSweepsAheadOfTheClock(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"visit"}, Measure: "count", Minimum: decimal.FromInt(1), Period: "term", Description: "每学期一次实地指导"})
		a := w.log(supCoord, "2025-10-10", "visit", "实地指导", "2025-10-09", 0)
		if _, err := w.a.Activities.Dispute(w.ctx, w.actors[sudHead], a.ID, activity.DisputeInput{Reason: "日期不对"}); err != nil {
			t.Fatal(err)
		}
		check := func(wall, at string) {
			t.Helper()
			if _, err := w.a.Check(w.ctx, date.MustParse(at), w.at(wall), false); err != nil {
				t.Fatalf("check --at %s: %v", at, err)
			}
		}
		kinds := []string{notify.KindConfirm, notify.KindEscalate}
		check("2025-10-11", "2025-11-30")
		if ks := w.keys(kinds...); len(ks) != 0 {
			t.Fatalf("a disputed activity was reminded: %v", ks)
		}
		w.at("2025-10-12")
		if _, err := w.a.Activities.Amend(w.ctx, w.actors[supCoord], a.ID, activity.Input{Category: "visit", Title: "实地指导（更正）", OccurredOn: date.MustParse("2025-10-08")}); err != nil {
			t.Fatal(err)
		}
		check("2025-10-12", "2025-12-01")
		want := []string{key("confirm:%d:7", a.ID), key("confirm:%d:escalate", a.ID)}
		equal(t, "confirmation notices", w.keys(kinds...), want)
		check("2025-10-13", "2025-12-02")
		equal(t, "confirmation notices the day after", w.keys(kinds...), want)
		if n := len(w.messages(notify.KindEscalate)); n != 1 {
			t.Fatalf("%d escalation messages, want 1", n)
		}
	})
}
