package notify_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/patch"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// 8. Every Monday each bureau with at-risk items or new breaches in its
// subtree gets one digest, once; a bureau with nothing gets none.
func TestWeeklyDigestOncePerBureauWithNews(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"management_exchange"}, Measure: "count", Minimum: decimal.FromInt(2), Period: "term", Description: "每学期两次管理交流"})
		// the pair's schools are under city C (supported) and county Y
		// (supporting), both under province P; C3 has nothing
		news := []string{bureauC, bureauP, bureauY}
		digest := func(day string) notify.Result {
			t.Helper()
			res, err := w.a.Sweeper.Digest(w.ctx, date.MustParse(day), w.at(day), false)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		keysFor := func(week string, who ...string) []string {
			var out []string
			for _, k := range who {
				out = append(out, key("digest:%d:%s", w.users[k].ID, week))
			}
			return sorted(out...)
		}
		if got := notify.ISOWeek(date.MustParse("2026-02-09")); got != "2026-W07" {
			t.Fatalf("ISOWeek(2026-02-09) = %s", got)
		}

		// Monday 2026-01-26: the term is at risk (5 days left), no breach yet
		for range 2 {
			digest("2026-01-26")
		}
		equal(t, "digests of 2026-W05", w.keys(notify.KindDigest), keysFor("2026-W05", news...))
		equal(t, "digest recipients", w.recipients(w.messages(notify.KindDigest)), sorted(news...))
		for _, m := range w.messages(notify.KindDigest) {
			if !strings.Contains(m.Subject, "1 项有风险，0 项新增未达标") || !strings.Contains(m.BodyText, "支援一中—受援一小") ||
				!strings.Contains(m.BodyText, fmt.Sprintf("/pairs/%d", w.pair.ID)) {
				t.Errorf("digest to %s: %q\n%s", m.To, m.Subject, m.BodyText)
			}
		}

		// the breach is recorded on Sunday 2026-02-08; Monday's digest has it
		w.check("2026-02-08")
		if len(w.breaches()) != 1 {
			t.Fatalf("%d breaches, want 1", len(w.breaches()))
		}
		for range 2 {
			digest("2026-02-09")
		}
		equal(t, "digests through 2026-W07", w.keys(notify.KindDigest), sorted(append(keysFor("2026-W05", news...), keysFor("2026-W07", news...)...)...))
		week7 := 0
		for _, m := range w.messages(notify.KindDigest) {
			if keys := w.linked(m.ID); len(keys) != 1 || !strings.HasSuffix(keys[0], ":2026-W07") {
				continue
			}
			week7++
			if !strings.Contains(m.Subject, "0 项有风险，1 项新增未达标") || !strings.Contains(m.BodyText, "每学期至少 2 次：管理交流，周期 2025—2026学年秋季学期：要求 2，已确认 0") {
				t.Errorf("digest to %s: %q\n%s", m.To, m.Subject, m.BodyText)
			}
		}
		if week7 != 3 {
			t.Fatalf("%d digests of 2026-W07, want 3", week7)
		}

		// a week later the breach is old news and the spring term is on
		// track: nobody hears anything
		if res := digest("2026-02-16"); len(res.Messages) != 0 {
			t.Fatalf("digest of 2026-W08 queued %+v", res.Messages)
		}
	})
}

// A digest caught up after downtime still reports every breach recorded
// since the previous Monday's digest: none falls between two digests.
func TestCaughtUpDigestMissesNoBreach(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		visit := w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"visit"}, Measure: "count", Minimum: decimal.FromInt(1), Period: "month", Description: "每月实地指导"})[0]
		for _, m := range []string{"2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"} {
			act := w.log(supCoord, m+"-28", "visit", "指导", m+"-28", 0)
			w.confirm(sudHead, act.ID)
		}
		// Monday 2026-04-06: the daily sweep and the weekly digest
		w.check("2026-04-06")
		if _, err := w.a.Sweeper.Digest(w.ctx, date.MustParse("2026-04-06"), w.at("2026-04-06"), false); err != nil {
			t.Fatal(err)
		}
		// Wednesday 2026-04-08 (March 31 + 7 + 1): March's breach
		w.check("2026-04-07")
		w.check("2026-04-08")
		bs := w.breaches()
		if len(bs) != 1 || bs[0].PeriodKey != "2026-03" || bs[0].CommitmentID != visit || bs[0].RecordedOn.String() != "2026-04-08" {
			t.Fatalf("breaches %+v, want March's recorded on 2026-04-08", bs)
		}
		// down from Sunday 2026-04-12 to Wednesday 2026-04-15, 10:00: the
		// Monday digest is caught up then
		s, err := w.a.Scheduler()
		if err != nil {
			t.Fatal(err)
		}
		now := testutil.At("2026-04-15")
		w.clock.Set(now)
		s.CatchUp(w.ctx, now)
		week := notify.ISOWeek(date.MustParse("2026-04-13"))
		var got []string
		for _, m := range w.messages(notify.KindDigest) {
			if keys := w.linked(m.ID); len(keys) == 1 && strings.HasSuffix(keys[0], ":"+week) {
				got = append(got, w.userKey(m))
				if !strings.Contains(m.Subject, "1 项新增未达标") || !strings.Contains(m.BodyText, "周期 2026年3月：要求 1，已确认 0") {
					t.Errorf("caught-up digest to %s omits the breach of 2026-04-08: %q\n%s", m.To, m.Subject, m.BodyText)
				}
			}
		}
		equal(t, "recipients of the caught-up digest of "+week, sorted(got...), sorted(bureauC, bureauP, bureauY))

		// April's breach is recorded on Friday 2026-05-08; the service is
		// then down over three Mondays and back on Tuesday 2026-05-26
		for _, day := range []string{"2026-05-07", "2026-05-08"} {
			w.check(day)
		}
		if bs := w.breaches(); len(bs) != 2 || bs[1].PeriodKey != "2026-04" || bs[1].RecordedOn.String() != "2026-05-08" {
			t.Fatalf("breaches %+v, want April's recorded on 2026-05-08", bs)
		}
		now = testutil.At("2026-05-26")
		w.clock.Set(now)
		s.CatchUp(w.ctx, now)
		week = notify.ISOWeek(date.MustParse("2026-05-26"))
		got = nil
		for _, m := range w.messages(notify.KindDigest) {
			if keys := w.linked(m.ID); len(keys) == 1 && strings.HasSuffix(keys[0], ":"+week) {
				got = append(got, w.userKey(m))
				if !strings.Contains(m.Subject, "1 项新增未达标") || !strings.Contains(m.BodyText, "周期 2026年4月：要求 1，已确认 0") {
					t.Errorf("digest caught up after three missed Mondays to %s omits the breach of 2026-05-08: %q\n%s", m.To, m.Subject, m.BodyText)
				}
			}
		}
		equal(t, "recipients of the caught-up digest of "+week, sorted(got...), sorted(bureauC, bureauP, bureauY))
		// the next Monday's digest does not tell it again
		w.check("2026-06-01")
		if _, err := w.a.Sweeper.Digest(w.ctx, date.MustParse("2026-06-01"), w.at("2026-06-01"), false); err != nil {
			t.Fatal(err)
		}
		for _, m := range w.messages(notify.KindDigest) {
			if keys := w.linked(m.ID); strings.HasSuffix(keys[0], ":2026-W23") && strings.Contains(m.BodyText, "周期 2026年4月：") {
				t.Errorf("the digest of 2026-W23 repeats April's breach:\n%s", m.BodyText)
			}
		}
	})
}

// On the default schedule the Monday digest (07:00) runs before the daily
// sweep (08:00): a breach that sweep records on a Monday is in the next
// Monday's digest.
func TestBreachRecordedOnMondayIsInNextDigest(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		w.agreement(w.pair, "2025-09-01",
			pairing.CommitmentInput{Categories: []string{"visit"}, Measure: "count", Minimum: decimal.FromInt(1), Period: "month", Description: "每月实地指导"})
		for _, m := range []string{"2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04"} {
			act := w.log(supCoord, m+"-28", "visit", "指导", m+"-28", 0)
			w.confirm(sudHead, act.ID)
		}
		w.check("2026-06-01")
		digestAt := func(day string) {
			t.Helper()
			now, err := time.ParseInLocation("2006-01-02 15:04", day+" 07:00", testutil.Shanghai())
			if err != nil {
				t.Fatal(err)
			}
			w.clock.Set(now)
			if _, err := w.a.Sweeper.Digest(w.ctx, date.MustParse(day), now, false); err != nil {
				t.Fatal(err)
			}
		}
		// Monday 2026-06-08: the digest at 07:00, then the sweep at 08:00
		// records May's breach (May 31 + 7 + 1)
		digestAt("2026-06-08")
		w.check("2026-06-08")
		if bs := w.breaches(); len(bs) != 1 || bs[0].PeriodKey != "2026-05" || bs[0].RecordedOn.String() != "2026-06-08" {
			t.Fatalf("breaches %+v, want May's recorded on 2026-06-08", bs)
		}
		digestAt("2026-06-15")
		week := notify.ISOWeek(date.MustParse("2026-06-15"))
		var got []string
		for _, m := range w.messages(notify.KindDigest) {
			if keys := w.linked(m.ID); len(keys) == 1 && strings.HasSuffix(keys[0], ":"+week) {
				got = append(got, w.userKey(m))
				if !strings.Contains(m.Subject, "1 项新增未达标") || !strings.Contains(m.BodyText, "周期 2026年5月：要求 1，已确认 0") {
					t.Errorf("digest of %s to %s omits the breach recorded on Monday 2026-06-08: %q\n%s", week, m.To, m.Subject, m.BodyText)
				}
			}
		}
		equal(t, "recipients of the digest of "+week, sorted(got...), sorted(bureauC, bureauP, bureauY))
		// and the digest of the week before did not have it: told once
		listing := func(period string) []string {
			t.Helper()
			var weeks []string
			for _, m := range w.messages(notify.KindDigest) {
				if strings.Contains(m.BodyText, "[未达标] 每月至少 1 次：实地指导，周期 "+period+"：") && w.userKey(m) == bureauC {
					weeks = append(weeks, strings.TrimPrefix(w.linked(m.ID)[0], key("digest:%d:", w.users[bureauC].ID)))
				}
			}
			return weeks
		}
		digestAt("2026-06-22")
		equal(t, "the city's digests listing May's breach", listing("2026年5月"), []string{week})

		// the other order: June's breach (due 2026-07-08) is recorded by a
		// sweep on Monday 2026-07-13 that runs before that day's digest;
		// it belongs to the next one, and only to it
		w.check("2026-07-13")
		digestAt("2026-07-13")
		digestAt("2026-07-20")
		digestAt("2026-07-27")
		equal(t, "the city's digests listing June's breach", listing("2026年6月"), []string{notify.ISOWeek(date.MustParse("2026-07-20"))})
	})
}

// Each bureau's window starts at its own previous digest: a bureau that
// heard nothing for weeks does not make another hear a breach twice.
func TestDigestTellsEachBureauEachBreachOnce(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := build(t, db, nil)
		term := pairing.CommitmentInput{Categories: []string{"management_exchange"}, Measure: "count", Minimum: decimal.FromInt(2), Period: "term", Description: "每学期两次管理交流"}
		w.agreement(w.pair, "2025-09-01", term)
		// a pair in city C3, watched by bureauOth only, at risk in January
		// and ended before February
		other := w.newPair(w.school("无关一中", "C3"), w.school("无关一小", "C3"))
		w.agreement(other, "2025-09-01", term)
		digest := func(day string) {
			t.Helper()
			if _, err := w.a.Sweeper.Digest(w.ctx, date.MustParse(day), w.at(day), false); err != nil {
				t.Fatal(err)
			}
		}
		digest("2026-01-26")
		equal(t, "digests of 2026-W05", w.recipients(w.messages(notify.KindDigest)), sorted(bureauC, bureauOth, bureauP, bureauY))
		if _, err := w.a.Pairs.UpdatePair(w.ctx, w.sys, other.ID, pairing.PairPatch{Status: patch.Of(pairing.Ended)}); err != nil {
			t.Fatal(err)
		}
		w.check("2026-02-08") // the autumn term's breach of the first pair
		digest("2026-02-09")
		digest("2026-02-16")
		digest("2026-02-23")
		var weeks []string
		for _, m := range w.messages(notify.KindDigest) {
			weeks = append(weeks, strings.TrimPrefix(w.linked(m.ID)[0], "digest:"))
		}
		var want []string
		for _, k := range []string{bureauC, bureauOth, bureauP, bureauY} {
			want = append(want, fmt.Sprintf("%d:2026-W05", w.users[k].ID))
		}
		for _, k := range []string{bureauC, bureauP, bureauY} {
			want = append(want, fmt.Sprintf("%d:2026-W07", w.users[k].ID))
		}
		equal(t, "digests", sorted(weeks...), sorted(want...))
	})
}
