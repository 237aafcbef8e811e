package compliance

import (
	"math/rand"
	"testing"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
)

// TestFolderMatchesContributions folds random activities — every period
// kind and measure, late and imported rows, rows outside every agreement,
// unknown categories, pairs in arbitrary order and with sparse ids — and
// compares the totals with the sums of Contributions, the reference the
// incremental read model uses.
func TestFolderMatchesContributions(t *testing.T) {
	many := make([]int64, 600) // more spans than one byte of the sort's key
	for i := range many {
		many[i] = int64(600 - i)
	}
	for _, pairIDs := range [][]int64{{1, 2, 3, 4, 5, 6}, {3, 90, 7_000_000, 12}, many} {
		rng := rand.New(rand.NewSource(11))
		cal := demoCalendar()
		cats := []string{"visit", "teaching_support", "lecture", "secondment", "mentoring", "donation", "no-such-category"}
		kinds := []calendar.PeriodKind{calendar.Month, calendar.TermPeriod, calendar.SchoolYear, calendar.Agreement, "fortnight"}
		measures := []string{"count", "hours", "persons"}
		byPair := map[int64][]Agreement{}
		var agID, cID int64
		for _, p := range pairIDs {
			for n := 1 + rng.Intn(3); n > 0; n-- {
				agID++
				from := d("2025-06-01").AddDays(rng.Intn(400))
				ag := Agreement{ID: agID, PairID: p, EffectiveFrom: from, EffectiveTo: from.AddDays(30 + rng.Intn(700))}
				for k := 1 + rng.Intn(5); k > 0; k-- {
					cID++
					c := Commitment{ID: 1_000_000 - cID, Measure: measures[rng.Intn(3)], Period: kinds[rng.Intn(len(kinds))]}
					for j := 1 + rng.Intn(3); j > 0; j-- {
						c.Categories = append(c.Categories, cats[rng.Intn(len(cats)-1)])
					}
					ag.Commitments = append(ag.Commitments, c)
				}
				byPair[p] = append(byPair[p], ag)
			}
		}
		fo := newFolder(defaultRules, cal, byPair)
		var facts []foldFact // for the recompute's way: addAll by chunk
		want := map[TotalKey]Total{}
		x := newContributor(defaultRules, cal)
		codes := newFactCodes()
		statuses := []string{"confirmed", "pending", "disputed"}
		for i := 0; i < 20000; i++ {
			p := pairIDs[rng.Intn(len(pairIDs))]
			if rng.Intn(20) == 0 {
				p = 555 // no agreement
			}
			occ := d("2025-05-01").AddDays(rng.Intn(1000))
			f := Fact{PairID: p, Category: cats[rng.Intn(len(cats))], OccurredOn: occ, LoggedOn: occ.AddDays(rng.Intn(60)),
				Imported: rng.Intn(10) == 0, Status: statuses[rng.Intn(3)], Count: 1,
				Hours: decimal.D(rng.Intn(900)), Persons: decimal.FromInt(int64(rng.Intn(4)))}
			x.each(byPair[p], f, func(c Contribution) {
				k := TotalKey{c.CommitmentID, c.Period.Key}
				w := want[k]
				w.Achieved += c.Achieved
				w.Pending += c.Pending
				want[k] = w
			})
			a := activityFact{PairID: f.PairID, Category: f.Category, OccurredOn: f.OccurredOn, LoggedOn: f.LoggedOn,
				Imported: f.Imported, Status: f.Status, Hours: f.Hours, Persons: f.Persons}
			if ff, ok := factOf(codes, &a); ok {
				fo.add(&ff)
				facts = append(facts, ff)
			}
		}
		got := map[TotalKey]Total{}
		var last TotalKey
		if err := fo.each(func(r *totalRow) error {
			k := TotalKey{r.CommitmentID, r.PeriodKey}
			if k.CommitmentID < last.CommitmentID || k.CommitmentID == last.CommitmentID && k.PeriodKey <= last.PeriodKey {
				t.Fatalf("%v after %v: not in key order", k, last)
			}
			last = k
			got[k] = Total{r.Achieved, r.Pending}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d totals", len(want))
		if len(want) < 30 || len(got) != len(want) {
			t.Fatalf("folder: %d totals, contributions: %d", len(got), len(want))
		}
		tot := fo.totals()
		if tot.Len() != len(want) {
			t.Fatalf("Totals: %d, contributions: %d", tot.Len(), len(want))
		}
		// sorted by pair a chunk at a time, as the recompute folds: each
		// chunk a list of batches (here of up to 7 rows)
		chunked := map[int]Totals{}
		for _, n := range []int{1, 997, len(facts)} {
			fc := newFolder(defaultRules, cal, byPair)
			a := make([]foldFact, n)
			work := append([]foldFact(nil), facts...)
			for lo := 0; lo < len(work); lo += n {
				fc.addAll(batchesOf(work[lo:min(lo+n, len(work))], 7), a)
			}
			chunked[n] = fc.totals()
			if chunked[n].Len() != len(want) {
				t.Fatalf("addAll by %d: %d totals, contributions: %d", n, chunked[n].Len(), len(want))
			}
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%v: folded %v, contributions %v", k, got[k], w)
			}
			if g := tot.Get(k.CommitmentID, k.PeriodKey); g != w {
				t.Errorf("%v: Totals %v, contributions %v", k, g, w)
			}
			for n, c := range chunked {
				if g := c.Get(k.CommitmentID, k.PeriodKey); g != w {
					t.Errorf("%v: addAll by %d %v, contributions %v", k, n, g, w)
				}
			}
		}
	}
}

// TestDateOfDayNum: the inverse of dayNum over every day the dates allow.
func TestDateOfDayNum(t *testing.T) {
	for day := d("1990-01-01"); day.Year() < 2101; day = day.AddDays(1) {
		if got := dateOfDayNum(dayNum(day)); got != day {
			t.Fatalf("%s: day %d back as %s", day, dayNum(day), got)
		}
	}
}

// batchesOf cuts fs into batches of up to n rows.
func batchesOf(fs []foldFact, n int) [][]foldFact {
	var out [][]foldFact
	for lo := 0; lo < len(fs); lo += n {
		out = append(out, fs[lo:min(lo+n, len(fs))])
	}
	return out
}

// TestFactCodesDay: the month table gives dayNum over every day the dates
// allow, and dayNum itself outside them.
func TestFactCodesDay(t *testing.T) {
	fc := newFactCodes()
	for day := date.New(date.MinYear, 1, 1); day.Year() <= date.MaxYear; day = day.AddDays(1) {
		if got := fc.day(day); got != int32(dayNum(day)) {
			t.Fatalf("%s: %d, dayNum %d", day, got, dayNum(day))
		}
	}
	for _, day := range []date.Date{{}, date.New(date.MinYear-1, 12, 31), date.New(date.MaxYear+1, 1, 1)} {
		if got := fc.day(day); got != int32(dayNum(day)) {
			t.Fatalf("%v: %d, dayNum %d", day, got, dayNum(day))
		}
	}
}

// TestFolderCover: sums moved by cover (a period outside the agreement's
// span, which a calendar that breaks its rules could yield) keep their
// values and their marks.
func TestFolderCover(t *testing.T) {
	ag := Agreement{ID: 1, PairID: 1, EffectiveFrom: d("2025-09-01"), EffectiveTo: d("2025-12-31"),
		Commitments: []Commitment{{ID: 10, Categories: []string{"visit"}, Measure: "count", Period: calendar.Month}}}
	fo := newFolder(defaultRules, demoCalendar(), map[int64][]Agreement{1: {ag}})
	codes := newFactCodes()
	a := activityFact{PairID: 1, Category: "visit", OccurredOn: d("2025-10-03"), LoggedOn: d("2025-10-03"), Status: "confirmed"}
	ff, _ := factOf(codes, &a)
	fo.add(&ff)
	c := &fo.coms[0]
	before := c.n
	fo.cover(c, c.base-3)
	fo.cover(c, c.base+c.n+2)
	if c.n != before+3+3 {
		t.Fatalf("n %d after cover, want %d", c.n, before+6)
	}
	tot := fo.totals()
	if tot.Len() != 1 || tot.Get(10, "2025-10") != (Total{Achieved: decimal.FromInt(1)}) {
		t.Fatalf("after cover: %d totals, 2025-10 %v", tot.Len(), tot.Get(10, "2025-10"))
	}
	fo.add(&ff)
	if got := fo.totals().Get(10, "2025-10"); got != (Total{Achieved: decimal.FromInt(2)}) {
		t.Fatalf("after cover and another row: %v", got)
	}
}

// TestDenseTotals: Totals indexed by commitment id (a recompute's) read
// and take totals inside and outside the indexed ids as a map's do.
func TestDenseTotals(t *testing.T) {
	ag := Agreement{ID: 1, PairID: 1, EffectiveFrom: d("2025-09-01"), EffectiveTo: d("2026-08-31"),
		Commitments: []Commitment{{ID: 20, Categories: []string{"visit"}, Measure: "count", Period: calendar.Month},
			{ID: 22, Categories: []string{"visit"}, Measure: "count", Period: calendar.SchoolYear}}}
	fo := newFolder(defaultRules, demoCalendar(), map[int64][]Agreement{1: {ag}})
	a := activityFact{PairID: 1, Category: "visit", OccurredOn: d("2025-10-03"), LoggedOn: d("2025-10-03"), Status: "pending"}
	ff, _ := factOf(newFactCodes(), &a)
	fo.add(&ff)
	tot := fo.totals()
	if tot.dense == nil {
		t.Fatal("dense ids: want an indexed Totals")
	}
	one := Total{Pending: decimal.FromInt(1)}
	tot.Set(21, "2025-10", one)                  // inside the ids, no totals yet
	tot.Set(5, "2025-10", one)                   // below
	tot.Set(20, "2025-11", one)                  // another period of an indexed id
	tot.Set(22, "2025-2026", Total{Achieved: 3}) // replaces
	if tot.Len() != 5 || tot.Get(20, "2025-10") != one || tot.Get(21, "2025-10") != one || tot.Get(5, "2025-10") != one ||
		tot.Get(20, "2025-11") != one || tot.Get(22, "2025-2026") != (Total{Achieved: 3}) || tot.Get(99, "2025-10") != (Total{}) {
		t.Fatalf("dense Totals: %d entries, %+v", tot.Len(), tot)
	}
}
