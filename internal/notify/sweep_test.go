package notify_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// busy gives the world's pair a monthly visit and a termly exchange quota,
// and an exchange logged on 2025-10-10 that stays pending: as of
// 2026-01-25 that is four months breached, two reminders (January and the
// autumn term, 6 days left), a confirmation reminder and an escalation.
func busy(w *world) (visit, exchange, act int64) {
	w.t.Helper()
	ids := w.agreement(w.pair, "2025-09-01",
		pairing.CommitmentInput{Categories: []string{"visit"}, Measure: "count", Minimum: decimal.FromInt(1), Period: "month", Description: "每月实地指导"},
		pairing.CommitmentInput{Categories: []string{"management_exchange"}, Measure: "count", Minimum: decimal.FromInt(2), Period: "term", Description: "每学期两次管理交流"})
	a := w.log(supCoord, "2025-10-10", "management_exchange", "管理交流", "2025-10-09", 0)
	return ids[0], ids[1], a.ID
}

// planned is a comparable form of a sweep's messages.
func planned(ms []notify.Planned) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%s %s %v", m.Kind, m.To, sorted(m.Keys...))
	}
	sort.Strings(out)
	return out
}

// delivered checks that the SMTP server received every outbox message
// exactly once and nothing else, and that all of them are sent.
func delivered(t *testing.T, w *world, srv *smtpServer) {
	t.Helper()
	msgs := w.messages("")
	ids := srv.messageIDs(t)
	for id, n := range ids {
		if n != 1 {
			t.Errorf("message %s received %d times", id, n)
		}
	}
	if got := len(srv.received()); got != len(msgs) {
		t.Fatalf("the SMTP server received %d messages, the outbox holds %d", got, len(msgs))
	}
	for _, m := range msgs {
		if m.Status != mail.StatusSent {
			t.Errorf("message %d (%s to %s) is %s: %s", m.ID, m.Kind, m.To, m.Status, m.LastError)
		}
		if ids[m.MessageID] != 1 {
			t.Errorf("message %d (%s) was received %d times", m.ID, m.MessageID, ids[m.MessageID])
		}
	}
}

// 1. The same sweep twice as of the same date sends each message once.
func TestSweepTwiceSendsEachMessageOnce(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		srv := startSMTP(t)
		w := build(t, db, srv)
		busy(w)

		first := w.check("2026-01-25")
		want := map[string]int{notify.KindBreach: 4, notify.KindReminder: 2, notify.KindConfirm: 1, notify.KindEscalate: 1}
		if fmt.Sprint(first.Notices) != fmt.Sprint(want) {
			t.Fatalf("first sweep made notices %v, want %v", first.Notices, want)
		}
		// breach: 2 schools × (coordinator + principal) + the city bureau;
		// reminder: supporting coordinator and principal + supported
		// principal; confirmation: supported principal; escalation: bureau
		if n := len(w.messages("")); n != 10 || len(first.Messages) != 10 {
			t.Fatalf("first sweep queued %d messages (result says %d), want 10", n, len(first.Messages))
		}
		delivered(t, w, srv)

		second := w.check("2026-01-25")
		if len(second.Notices) != 0 || len(second.Messages) != 0 || second.Breaches != 0 {
			t.Fatalf("second sweep as of the same date queued %+v", second)
		}
		if n := len(srv.received()); n != 10 {
			t.Fatalf("after the second sweep the server has %d messages, want 10", n)
		}
		delivered(t, w, srv)

		// Sweeper.Sweep + Deliverer.DeliverDue, twice, as of a later date
		// with new things due: January's and the term's breaches, and the
		// 30-day reminder of February.
		now := w.at("2026-02-09")
		for i := range 2 {
			res, err := w.a.Sweeper.Sweep(w.ctx, date.MustParse("2026-02-09"), now, false)
			if err != nil {
				t.Fatal(err)
			}
			d, err := w.a.Deliverer.DeliverDue(w.ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			wantMsgs, wantSent := 8, 8 // 2 breaches to 5, one reminder to 3
			if i == 1 {
				wantMsgs, wantSent = 0, 0
			}
			if len(res.Messages) != wantMsgs || d.Sent != wantSent || d.Failed+d.Retried != 0 {
				t.Fatalf("run %d as of 2026-02-09: %d messages queued, delivery %+v; want %d queued and sent", i+1, len(res.Messages), d, wantMsgs)
			}
		}
		if n := len(srv.received()); n != 18 {
			t.Fatalf("the server has %d messages, want 18", n)
		}
		delivered(t, w, srv)
	})
}

// 2. Two processes sweep at once: every dedupe key once, every message
// once.
func TestConcurrentSweepsInTwoProcesses(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		srv := startSMTP(t)
		w := build(t, db, srv)
		busy(w)
		a2 := newApp(t, testutil.SecondHandle(t, db), w.clock, srv)
		// the second process writes its sweeps in parts, on connections of
		// their own, as a province's reminder day does: racing the first,
		// still each notice and message once
		notify.SetSplit(a2.Sweeper, 1)
		type process struct {
			sweep   func(context.Context, date.Date, time.Time, bool) (notify.Result, error)
			deliver func(context.Context, time.Time) (mail.Result, error)
		}
		apps := []process{{w.a.Sweeper.Sweep, w.a.Deliverer.DeliverDue}, {a2.Sweeper.Sweep, a2.Deliverer.DeliverDue}}
		total := 0
		for _, day := range []string{"2026-01-25", "2026-02-09", "2026-03-02"} {
			at, now := date.MustParse(day), w.at(day)
			dry, err := w.a.Sweeper.Sweep(w.ctx, at, now, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(dry.Messages) == 0 {
				t.Fatalf("%s: nothing due; the test would prove nothing", day)
			}
			results := make([]notify.Result, len(apps))
			errs := make([]error, len(apps))
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, p := range apps {
				wg.Go(func() {
					<-start
					results[i], errs[i] = p.sweep(w.ctx, at, now, false)
				})
			}
			close(start)
			wg.Wait()
			var got []notify.Planned
			for i := range apps {
				if errs[i] != nil {
					t.Fatalf("%s: sweep %d: %v", day, i, errs[i])
				}
				got = append(got, results[i].Messages...)
			}
			equal(t, day+": the two sweeps queued", planned(got), planned(dry.Messages))
			total += len(dry.Messages)
			if n := len(w.messages("")); n != total {
				t.Fatalf("%s: %d messages in the outbox, want %d", day, n, total)
			}
			// a notice goes at most once to each recipient
			var dups []struct {
				NoticeID, RecipientUserID, N int64
			}
			if err := db.Gorm().Raw(`SELECT mn.notice_id, m.recipient_user_id, COUNT(*) AS n FROM message_notices mn
				JOIN outbox_messages m ON m.id = mn.message_id GROUP BY mn.notice_id, m.recipient_user_id HAVING COUNT(*) > 1`).Scan(&dups).Error; err != nil {
				t.Fatal(err)
			}
			if len(dups) > 0 {
				t.Fatalf("%s: notices sent twice to the same user: %+v", day, dups)
			}

			sent := make([]mail.Result, len(apps))
			start = make(chan struct{})
			for i, p := range apps {
				wg.Go(func() {
					<-start
					sent[i], errs[i] = p.deliver(w.ctx, now)
				})
			}
			close(start)
			wg.Wait()
			for i := range apps {
				if errs[i] != nil {
					t.Fatalf("%s: delivery %d: %v", day, i, errs[i])
				}
			}
			if n := sent[0].Sent + sent[1].Sent; n != len(dry.Messages) {
				t.Fatalf("%s: the two deliverers sent %d messages (%+v), want %d", day, n, sent, len(dry.Messages))
			}
			delivered(t, w, srv)
		}
		var dupKeys []string
		if err := db.Gorm().Raw("SELECT dedupe_key FROM notices GROUP BY dedupe_key HAVING COUNT(*) > 1").Scan(&dupKeys).Error; err != nil {
			t.Fatal(err)
		}
		if len(dupKeys) > 0 {
			t.Fatalf("dedupe keys stored twice: %v", dupKeys)
		}
		var breachDups int64
		if err := db.Gorm().Raw("SELECT COUNT(*) FROM (SELECT commitment_id, period_key FROM breaches GROUP BY commitment_id, period_key HAVING COUNT(*) > 1) d").Scan(&breachDups).Error; err != nil {
			t.Fatal(err)
		}
		// September to January, and the autumn term
		if breachDups != 0 || len(w.breaches()) != 6 {
			t.Fatalf("breaches: %d duplicated, %d rows, want 6", breachDups, len(w.breaches()))
		}
	})
}

// 3. A week of downtime: only the reminder due now, never a retroactive one.
func TestDowntimeSendsOnlyTheSmallestMilestone(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		c := w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"management_exchange"}, Measure: "count", Minimum: decimal.FromInt(2), Period: "term", Description: "每学期两次管理交流"})[0]

		// 35 days before the term ends: at risk (behind schedule) but no
		// milestone reached
		rep, err := w.a.Compliance.Pair(w.ctx, w.sys, w.pair.ID, date.MustParse("2025-12-27"))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Items) != 1 || rep.Items[0].Status != compliance.AtRisk || rep.Items[0].DaysLeft != 35 {
			t.Fatalf("as of 2025-12-27 the term commitment is %+v, want at_risk with 35 days left", rep.Items)
		}
		if res := w.check("2025-12-27"); len(res.Messages) != 0 || w.count("notices") != 0 || w.count("outbox_messages") != 0 {
			t.Fatalf("a sweep 35 days before the end queued %+v", res)
		}

		// down from 2025-12-28 to 2026-01-24: the 30- and 14-day
		// milestones pass unswept; with 6 days left only the 7-day one is due
		w.check("2026-01-25")
		want := []string{key("reminder:%d:2025-2026-autumn:7", c)}
		equal(t, "notices after the downtime", w.keys(), want)
		equal(t, "reminder recipients", w.recipients(w.messages(notify.KindReminder)), sorted(supCoord, supHead, sudHead))

		// 2 days left: the smallest milestone is still 7, already sent
		if res := w.check("2026-01-29"); len(res.Messages) != 0 {
			t.Fatalf("a sweep with 2 days left queued %+v", res.Messages)
		}
		equal(t, "notices with 2 days left", w.keys(), want)
		if n := len(w.messages("")); n != 3 {
			t.Fatalf("%d messages, want the 3 of the 7-day reminder", n)
		}

		// and what fell due during a second downtime is not skipped
		w.check("2026-02-20")
		equal(t, "notices after the books closed", w.keys(),
			sorted(key("breach:%d:2025-2026-autumn", c), key("reminder:%d:2025-2026-autumn:7", c)))
	})
}

// 4. A breach exactly on p.end + grace + 1, to both schools and the
// responsible bureau.
func TestBreachAfterGraceToSchoolsAndResponsibleBureau(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		ag := w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"management_exchange"}, Measure: "count", Minimum: decimal.FromInt(2), Period: "term", Description: "每学期两次管理交流"})
		c := ag[0]
		act := w.log(supCoord, "2025-10-10", "management_exchange", "管理交流", "2025-10-09", 0)
		w.confirm(sudHead, act.ID)

		for _, day := range []string{"2026-02-01", "2026-02-07"} { // p.end + 1, p.end + grace
			w.check(day)
			if keys := w.keys(notify.KindBreach); len(keys) != 0 || w.count("breaches") != 0 {
				t.Fatalf("%s: breach before the books closed: %v", day, keys)
			}
		}
		res := w.check("2026-02-08")
		if res.Breaches != 1 {
			t.Fatalf("sweep on p.end+grace+1 recorded %d breaches, want 1", res.Breaches)
		}
		equal(t, "breach notices", w.keys(notify.KindBreach), []string{key("breach:%d:2025-2026-autumn", c)})
		bs := w.breaches()
		if len(bs) != 1 {
			t.Fatalf("%d breach rows, want 1", len(bs))
		}
		b := bs[0]
		if b.PairID != w.pair.ID || b.CommitmentID != c || b.PeriodKey != "2025-2026-autumn" || b.PeriodStart.String() != "2025-09-01" ||
			b.PeriodEnd.String() != "2026-01-31" || b.Required != decimal.FromInt(2) || b.Achieved != decimal.FromInt(1) || b.Pending != 0 || b.RecordedOn.String() != "2026-02-08" || b.AgreementID == 0 {
			t.Fatalf("breach row %+v", b)
		}
		// the supported school is in county X (no bureau) under city C
		// (a bureau): the city bureau, not the province above it, nor the
		// bureau of the supporting school's county, nor an unrelated one
		equal(t, "breach recipients", w.recipients(w.messages(notify.KindBreach)), sorted(supCoord, supHead, sudCoord, sudHead, bureauC))
		for _, m := range w.messages(notify.KindBreach) {
			equal(t, "keys of the breach message", w.linked(m.ID), []string{key("breach:%d:2025-2026-autumn", c)})
		}
		if res := w.check("2026-02-09"); len(res.Messages) != 0 || w.count("breaches") != 1 {
			t.Fatalf("the day after: %+v", res)
		}
	})
}

// 5a. No back-filling: month periods, one breach per missed month; an
// activity logged on the last day of the books counts, one logged the day
// after does not, even confirmed.
func TestBreachIgnoresActivityLoggedAfterTheBooksClosed(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		c := w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"visit"}, Measure: "count", Minimum: decimal.FromInt(1), Period: "month", Description: "每月实地指导"})[0]
		sep := w.log(supCoord, "2025-09-15", "visit", "九月指导", "2025-09-15", 0)
		w.confirm(sudHead, sep.ID)
		oct := w.log(supCoord, "2025-11-07", "visit", "十月指导", "2025-10-20", 0) // Oct 31 + 7: still in the books
		w.confirm(sudHead, oct.ID)
		nov := w.log(supCoord, "2025-12-08", "visit", "十一月指导", "2025-11-20", 0) // Nov 30 + 8: too late
		w.confirm(sudHead, nov.ID)
		got, err := w.a.Activities.Get(w.ctx, w.sys, nov.ID)
		if err != nil || got.Status != "confirmed" || got.LoggedOn.String() != "2025-12-08" {
			t.Fatalf("the late activity is %+v (%v), want confirmed, logged 2025-12-08", got, err)
		}

		type want struct {
			day    string
			months []string
		}
		for _, step := range []want{
			{"2025-12-08", []string{"2025-11"}},
			{"2026-01-07", []string{"2025-11"}},
			{"2026-01-08", []string{"2025-11", "2025-12"}},
			{"2026-02-08", []string{"2025-11", "2025-12", "2026-01"}},
			{"2026-02-20", []string{"2025-11", "2025-12", "2026-01"}},
		} {
			w.check(step.day)
			var keys, rows []string
			for _, m := range step.months {
				keys = append(keys, key("breach:%d:%s", c, m))
			}
			equal(t, step.day+": breach notices", w.keys(notify.KindBreach), keys)
			for _, b := range w.breaches() {
				if b.Achieved != 0 || b.Required != decimal.FromInt(1) {
					t.Errorf("%s: breach %s: achieved %v of %v, want 0 of 1", step.day, b.PeriodKey, b.Achieved, b.Required)
				}
				rows = append(rows, b.PeriodKey)
			}
			equal(t, step.day+": breach rows", rows, step.months)
		}
	})
}

// 5b. A school year spans the terms labelled with it, whatever their
// dates: here 2025-09-01 to 2026-07-10.
func TestBreachOfSchoolYearSpansItsTerms(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := date.MustParse
		w := buildWith(t, db, nil, []calendar.Term{
			{SchoolYear: "2025-2026", Season: calendar.Autumn, StartsOn: d("2025-09-01"), EndsOn: d("2026-01-20")},
			{SchoolYear: "2025-2026", Season: calendar.Spring, StartsOn: d("2026-02-23"), EndsOn: d("2026-07-10")},
			{SchoolYear: "2026-2027", Season: calendar.Autumn, StartsOn: d("2026-09-01"), EndsOn: d("2027-01-20")},
			{SchoolYear: "2026-2027", Season: calendar.Spring, StartsOn: d("2027-02-22"), EndsOn: d("2027-07-09")},
		})
		c := w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"secondment"}, Measure: "persons", Minimum: decimal.FromInt(1), Period: "school_year", Description: "每学年挂职一人"})[0]
		w.check("2026-07-17") // 2026-07-10 + 7
		if keys := w.keys(notify.KindBreach); len(keys) != 0 {
			t.Fatalf("breach within the grace days: %v", keys)
		}
		w.check("2026-07-18")
		equal(t, "breach notices", w.keys(notify.KindBreach), []string{key("breach:%d:2025-2026", c)})
		bs := w.breaches()
		if len(bs) != 1 || bs[0].PeriodStart.String() != "2025-09-01" || bs[0].PeriodEnd.String() != "2026-07-10" || bs[0].Required != decimal.FromInt(1) {
			t.Fatalf("breach rows %+v, want 2025-2026 from 2025-09-01 to 2026-07-10", bs)
		}
		// the 2026-2027 school year has not started on 2026-08-31
		w.check("2026-08-31")
		if n := len(w.breaches()); n != 1 {
			t.Fatalf("%d breaches, want 1", n)
		}
	})
}

// 5c. An agreement starting mid-term owes a prorated quota that term.
func TestBreachRecordsProratedRequirement(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		c := w.agreement(w.pair, "2025-10-15",
			pairing.CommitmentInput{Categories: []string{"teaching_support", "lecture"}, Measure: "hours", Minimum: decimal.FromInt(10), Period: "term", Description: "每学期送教十课时"})[0]
		act := w.log(supCoord, "2025-11-20", "teaching_support", "送教", "2025-11-19", 7.5)
		w.confirm(sudHead, act.ID)
		w.check("2026-02-08")
		// 2025-10-15..2026-01-31 is 109 of the term's 153 days:
		// ceil(10 × 109 / 153) = ceil(7.12) = 8 > 7.5 achieved
		bs := w.breaches()
		if len(bs) != 1 || bs[0].CommitmentID != c || bs[0].PeriodKey != "2025-2026-autumn" || bs[0].Required != decimal.FromInt(8) || bs[0].Achieved.String() != "7.5" {
			t.Fatalf("breach rows %+v, want 2025-2026-autumn required 8, achieved 7.5", bs)
		}
		msgs := w.messages(notify.KindBreach)
		if len(msgs) != 5 {
			t.Fatalf("%d breach messages, want 5", len(msgs))
		}
		for _, m := range msgs {
			want := "要求 8，已确认 7.5"
			if m.Locale == "en" {
				want = "required 8, confirmed 7.5"
			}
			if !strings.Contains(m.BodyText, want) {
				t.Errorf("breach message to %s lacks %q:\n%s", m.To, want, m.BodyText)
			}
		}
	})
}

// 6. Three at-risk commitments of one pair make one reminder per
// recipient with three lines, each line its own notice.
func TestRemindersGroupedPerRecipientAndPair(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		cs := w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"management_exchange"}, Measure: "count", Minimum: decimal.FromInt(2), Period: "term", Description: "每学期两次管理交流"},
			pairing.CommitmentInput{Categories: []string{"teaching_support", "lecture"}, Measure: "hours", Minimum: decimal.FromInt(10), Period: "term", Description: "每学期送教十课时"},
			pairing.CommitmentInput{Categories: []string{"secondment"}, Measure: "persons", Minimum: decimal.FromInt(1), Period: "term", Description: "每学期挂职一人"})
		act := w.log(supCoord, "2025-10-10", "management_exchange", "管理交流", "2025-10-09", 0)
		w.confirm(sudHead, act.ID)
		w.check("2026-01-25")

		var keys []string
		for _, c := range cs {
			keys = append(keys, key("reminder:%d:2025-2026-autumn:7", c))
		}
		keys = sorted(keys...)
		equal(t, "notices", w.keys(), keys)
		msgs := w.messages(notify.KindReminder)
		equal(t, "recipients", w.recipients(msgs), sorted(supCoord, supHead, sudHead))
		url := fmt.Sprintf("http://localhost:8080/pairs/%d", w.pair.ID)
		for _, m := range msgs {
			equal(t, "keys of the message to "+m.To, w.linked(m.ID), keys)
			var wantSubject, wantLocale string
			var body []string
			switch w.userKey(m) {
			case supCoord:
				wantLocale, wantSubject = "zh-CN", "【结对帮扶提醒】支援一中—受援一小：3 项指标本期尚未完成"
				body = []string{"支援协调员，您好", "要求 2，已确认 1，待确认 0，距周期结束还有 6 天", "要求 10，已确认 0", "要求 1，已确认 0", "每学期至少 2 次：管理交流", "2025—2026学年秋季学期"}
			case supHead:
				wantLocale, wantSubject = "en", "Twinning reminder: 支援一中 – 受援一小: 3 commitments not yet met"
				body = []string{"Dear Principal Support", "required 2, confirmed 1, pending 0, 6 days left", "required 10, confirmed 0", "required 1, confirmed 0",
					"autumn term 2025–2026", "at least 1 person per term", "at least 10 class-hours per term", "at least 2 times per term"}
			case sudHead:
				wantLocale, wantSubject = "zh-CN", "[抄送] 【结对帮扶提醒】支援一中—受援一小：3 项指标本期尚未完成"
				body = []string{"受援校长，您好", "抄送受援学校", "要求 2，已确认 1", "2025—2026学年秋季学期"}
			}
			if m.Locale != wantLocale || m.Subject != wantSubject {
				t.Errorf("message to %s: %s %q, want %s %q", m.To, m.Locale, m.Subject, wantLocale, wantSubject)
			}
			body = append(body, "支援一中", "受援一小", "每学期两次管理交流", "每学期送教十课时", "每学期挂职一人", url)
			for _, s := range body {
				if !strings.Contains(m.BodyText, s) {
					t.Errorf("message to %s lacks %q:\n%s", m.To, s, m.BodyText)
				}
			}
			if n := strings.Count(m.BodyText, "\n- "); n != 3 {
				t.Errorf("message to %s has %d lines, want 3:\n%s", m.To, n, m.BodyText)
			}
			if !strings.Contains(m.BodyHTML, "每学期送教十课时") || !strings.Contains(m.BodyHTML, url) {
				t.Errorf("HTML body to %s lacks the lines or the link:\n%s", m.To, m.BodyHTML)
			}
		}
	})
}

// 7. Confirmation reminders count from logged_on: the largest milestone
// reached only, to the counterpart principal; escalation to the bureau.
func TestConfirmationRemindersAndEscalation(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		// B: logged by the supported school, first swept 8 days later
		b := w.log(sudCoord, "2025-10-04", "secondment", "挂职", "2025-10-03", 0)
		// A: logged by the supporting school
		a := w.log(supCoord, "2025-10-10", "visit", "实地指导", "2025-10-09", 0)
		// C: confirmed at once, never reminded
		c := w.log(supCoord, "2025-10-10", "lecture", "讲座", "2025-10-09", 0)
		w.confirm(sudHead, c.ID)

		kinds := []string{notify.KindConfirm, notify.KindEscalate}
		type step struct {
			day        string
			keys       []string
			confirmTo  []string // recipients of all confirmation messages so far
			escalateTo []string
		}
		for _, s := range []step{
			{"2025-10-12", []string{key("confirm:%d:7", b.ID)}, []string{supHead}, nil},
			{"2025-10-13", []string{key("confirm:%d:3", a.ID), key("confirm:%d:7", b.ID)}, []string{supHead, sudHead}, nil},
			{"2025-10-18", []string{key("confirm:%d:3", a.ID), key("confirm:%d:7", a.ID), key("confirm:%d:7", b.ID), key("confirm:%d:escalate", b.ID)},
				[]string{supHead, sudHead, sudHead}, []string{bureauC}},
			{"2025-10-24", []string{key("confirm:%d:3", a.ID), key("confirm:%d:7", a.ID), key("confirm:%d:escalate", a.ID), key("confirm:%d:7", b.ID), key("confirm:%d:escalate", b.ID)},
				[]string{supHead, sudHead, sudHead}, []string{bureauC, bureauC}},
			{"2025-11-30", nil, nil, nil}, // nothing new, ever
		} {
			w.check(s.day)
			if s.keys == nil {
				if len(w.keys(kinds...)) != 5 || len(w.messages(notify.KindConfirm)) != 3 || len(w.messages(notify.KindEscalate)) != 2 {
					t.Fatalf("%s: new notices %v", s.day, w.keys(kinds...))
				}
				continue
			}
			equal(t, s.day+": notices", w.keys(kinds...), sorted(s.keys...))
			equal(t, s.day+": confirmation recipients", w.recipients(w.messages(notify.KindConfirm)), sorted(s.confirmTo...))
			equal(t, s.day+": escalation recipients", w.recipients(w.messages(notify.KindEscalate)), sorted(s.escalateTo...))
		}
		for _, m := range w.messages(notify.KindConfirm) {
			keys := w.linked(m.ID)
			if len(keys) != 1 {
				t.Fatalf("confirmation message %d carries %v", m.ID, keys)
			}
			title := map[string]string{key("confirm:%d:3", a.ID): "实地指导", key("confirm:%d:7", a.ID): "实地指导", key("confirm:%d:7", b.ID): "挂职"}[keys[0]]
			if title == "" || !strings.Contains(m.BodyText, title) {
				t.Errorf("confirmation message for %v lacks %q:\n%s", keys, title, m.BodyText)
			}
			// the link lands in the inbox, where the principal confirms
			if inbox := "http://localhost:8080/inbox"; !strings.Contains(m.BodyText, inbox) || !strings.Contains(m.BodyHTML, `href="`+inbox+`"`) {
				t.Errorf("confirmation message for %v does not link to the inbox:\n%s", keys, m.BodyText)
			}
			if m.Locale == "en" && !strings.Contains(m.Subject, "1 activity awaits") {
				t.Errorf("English subject %q", m.Subject)
			}
		}
		if keys := w.keys(notify.KindConfirm); slices.Contains(keys, key("confirm:%d:3", b.ID)) {
			t.Fatalf("a retroactive 3-day reminder was sent: %v", keys)
		}
	})
}

// 9. A dry run writes nothing and tells what a real sweep then queues.
func TestDryRunWritesNothing(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		busy(w)
		tables := []string{"notices", "breaches", "outbox_messages", "message_notices", "job_runs"}
		nothing := func(when string) {
			t.Helper()
			for _, tb := range tables {
				if n := w.count(tb); n != 0 {
					t.Fatalf("%s: %d rows in %s", when, n, tb)
				}
			}
		}
		at, now := date.MustParse("2026-01-25"), w.at("2026-01-25")
		dry, err := w.a.Sweeper.Sweep(w.ctx, at, now, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(dry.Messages) != 10 || dry.Breaches != 4 || dry.Notices[notify.KindBreach] != 4 {
			t.Fatalf("dry run reports %+v, want 10 messages and 4 breaches", dry)
		}
		nothing("after Sweep(dry)")
		again, err := w.a.Check(w.ctx, at, now, true)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "a second dry run", planned(again.Messages), planned(dry.Messages))
		nothing("after Check(dry)")
		dig, err := w.a.Sweeper.Digest(w.ctx, date.MustParse("2026-01-26"), now, true)
		if err != nil || len(dig.Messages) == 0 {
			t.Fatalf("dry digest: %+v, %v", dig, err)
		}
		nothing("after Digest(dry)")

		real := w.check("2026-01-25")
		equal(t, "the real sweep", planned(real.Messages), planned(dry.Messages))
		if w.count("outbox_messages") != 10 || w.count("breaches") != 4 {
			t.Fatalf("the real sweep wrote %d messages and %d breaches", w.count("outbox_messages"), w.count("breaches"))
		}
	})
}

// A backdated agreement, added after sweeps have run, still gets breach
// notices for its periods whose books closed before it existed: the sweep
// evaluates pairs changed since the last sweep as a whole.
func TestBackdatedAgreementIsBreachedOnce(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		for _, day := range []string{"2026-03-01", "2026-03-02"} {
			w.check(day) // daily sweeps, nothing to decide yet
		}
		w.clock.Set(w.at("2026-03-03"))
		ag := w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"lecture"}, Measure: "count", Minimum: decimal.FromInt(1), Period: "term", Description: "每学期一次讲座"})
		res := w.check("2026-03-03")
		equal(t, "breach notices", w.keys(notify.KindBreach), []string{key("breach:%d:2025-2026-autumn", ag[0])})
		if res.Breaches != 1 || w.count("breaches") != 1 {
			t.Fatalf("backdated agreement: %d breaches recorded, %d rows; want 1", res.Breaches, w.count("breaches"))
		}
		if res := w.check("2026-03-04"); res.Breaches != 0 || len(res.Messages) != 0 {
			t.Fatalf("the next day sent again: %+v", res)
		}
	})
}
