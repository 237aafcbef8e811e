package compliance

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
)

func d(s string) date.Date { return date.MustParse(s) }

var defaultRules = Rules{GraceDays: 7, ReminderDays: []int{30, 14, 7}}

// demoCalendar is the calendar of data/demo-programme.yaml.
func demoCalendar() calendar.Calendar {
	return calendar.New([]calendar.Term{
		{SchoolYear: "2025-2026", Season: calendar.Autumn, StartsOn: d("2025-09-01"), EndsOn: d("2026-01-31")},
		{SchoolYear: "2025-2026", Season: calendar.Spring, StartsOn: d("2026-02-01"), EndsOn: d("2026-08-31")},
		{SchoolYear: "2026-2027", Season: calendar.Autumn, StartsOn: d("2026-09-01"), EndsOn: d("2027-01-31")},
		{SchoolYear: "2026-2027", Season: calendar.Spring, StartsOn: d("2027-02-01"), EndsOn: d("2027-08-31")},
	})
}

// fact is a confirmed count-1 activity logged the day it occurred.
func fact(pair int64, cat, on string) Fact {
	return Fact{PairID: pair, Category: cat, OccurredOn: d(on), LoggedOn: d(on), Status: "confirmed", Count: 1}
}

func withStatus(f Fact, s string) Fact { f.Status = s; return f }
func loggedOn(f Fact, on string) Fact  { f.LoggedOn = d(on); return f }
func imported(f Fact) Fact             { f.Imported = true; return f }

// q is a quantity written as a float literal in a test table.
func q(v float64) decimal.D {
	d, err := decimal.FromFloat(v)
	if err != nil {
		panic(err)
	}
	return d
}

func hours(f Fact, h float64) Fact   { f.Hours = q(h); return f }
func persons(f Fact, p float64) Fact { f.Persons = q(p); return f }
func count(f Fact, n int) Fact       { f.Count = n; return f }
func at(s string) Options            { return Options{At: d(s)} }
func agreement(id, pair int64, from, to string, cs ...Commitment) Agreement {
	return Agreement{ID: id, PairID: pair, EffectiveFrom: d(from), EffectiveTo: d(to), Commitments: cs}
}

// want is the expected evaluation of one commitment in one period.
type want struct {
	commitment int64
	key        string
	required   float64
	achieved   float64
	pending    float64
	status     Status
	daysLeft   int
}

func (w want) String() string {
	return fmt.Sprintf("c%d %s req=%g ach=%g pend=%g %s left=%d",
		w.commitment, w.key, w.required, w.achieved, w.pending, w.status, w.daysLeft)
}

func got(it Item) want {
	return want{it.CommitmentID, it.PeriodKey, it.Required.Float(), it.Achieved.Float(), it.Pending.Float(), it.Status, it.DaysLeft}
}

// checkItems compares items with wants, in order.
func checkItems(t *testing.T, items []Item, wants []want) {
	t.Helper()
	n := max(len(items), len(wants))
	for i := 0; i < n; i++ {
		switch {
		case i >= len(items):
			t.Errorf("item %d missing, want %v", i, wants[i])
		case i >= len(wants):
			t.Errorf("unexpected item %d: %v", i, got(items[i]))
		case !sameWant(got(items[i]), wants[i]):
			t.Errorf("item %d:\n  got  %v\n  want %v", i, got(items[i]), wants[i])
		}
	}
}

func sameWant(a, b want) bool {
	const tol = 1e-9
	return a.commitment == b.commitment && a.key == b.key && a.status == b.status && a.daysLeft == b.daysLeft &&
		math.Abs(a.required-b.required) < tol && math.Abs(a.achieved-b.achieved) < tol &&
		math.Abs(a.pending-b.pending) < tol
}

// --- the worked example of DESIGN §3 -------------------------------------

const (
	pairKG  = 7 // 省级示范幼儿园一 → 子洲县第一幼儿园
	pairWH  = 1 // 武汉六中 → 麻城五中
	pairZZ  = 2 // 省级示范高中 → 子洲中学
	demoEnd = "2028-08-31"
)

// demoFacts are the activities of data/demo-programme.yaml, all pairs mixed.
func demoFacts() []Fact {
	return []Fact{
		fact(pairWH, "management_exchange", "2025-09-24"),
		fact(pairWH, "visit", "2025-12-10"),
		hours(fact(pairWH, "demonstration_lesson", "2025-10-16"), 2),
		hours(fact(pairWH, "lecture", "2025-11-27"), 3),
		fact(pairWH, "mentoring", "2025-10-09"),
		fact(pairWH, "campus_culture", "2025-11-05"),
		persons(fact(pairWH, "secondment", "2025-10-20"), 1),
		withStatus(fact(pairWH, "teacher_training", "2026-01-08"), "pending"),
		hours(fact(pairZZ, "teaching_support", "2025-11-12"), 12),
		hours(fact(pairZZ, "demonstration_lesson", "2025-11-13"), 1),
		withStatus(hours(fact(pairZZ, "demonstration_lesson", "2025-12-18"), 1), "disputed"),
		fact(pairKG, "visit", "2025-09-18"),
		fact(pairKG, "visit", "2025-10-22"),
		hours(fact(pairKG, "teaching_support", "2025-11-06"), 6),
		hours(fact(pairKG, "lecture", "2025-12-03"), 2),
	}
}

func kindergartenAgreement() Agreement {
	return agreement(70, pairKG, "2025-09-01", demoEnd,
		Commitment{ID: 701, Categories: []string{"visit"}, Measure: "count", Minimum: q(1), Period: calendar.Month, Description: "每月专人到园查看一日活动组织"},
		Commitment{ID: 702, Categories: []string{"teaching_support"}, Measure: "hours", Minimum: q(10), Period: calendar.TermPeriod, Description: "每学期送教不低于10课时"},
		Commitment{ID: 703, Categories: []string{"lecture"}, Measure: "count", Minimum: q(2), Period: calendar.TermPeriod, Description: "每学期两次专题讲座"},
	)
}

func wuhanAgreement() Agreement {
	return agreement(10, pairWH, "2025-09-01", demoEnd,
		Commitment{ID: 101, Categories: []string{"visit", "management_exchange"}, Measure: "count", Minimum: q(2), Period: calendar.TermPeriod},
		Commitment{ID: 102, Categories: []string{"demonstration_lesson", "lecture"}, Measure: "count", Minimum: q(2), Period: calendar.TermPeriod},
		Commitment{ID: 103, Categories: []string{"mentoring", "teacher_training", "teaching_support", "shadow_learning"}, Measure: "count", Minimum: q(2), Period: calendar.TermPeriod, Description: "一对一帮扶、校际培训、支教、跟班学习"},
		Commitment{ID: 104, Categories: []string{"campus_culture"}, Measure: "count", Minimum: q(2), Period: calendar.TermPeriod},
		Commitment{ID: 105, Categories: []string{"student_exchange"}, Measure: "count", Minimum: q(1), Period: calendar.SchoolYear, Description: "学生参观交流"},
		Commitment{ID: 106, Categories: []string{"secondment"}, Measure: "persons", Minimum: q(1), Period: calendar.SchoolYear},
	)
}

func TestWorkedExampleKindergarten(t *testing.T) {
	items := Evaluate(defaultRules, demoCalendar(), kindergartenAgreement(), demoFacts(), at("2026-02-15"))
	checkItems(t, items, []want{
		{701, "2025-09", 1, 1, 0, Met, -138},
		{701, "2025-10", 1, 1, 0, Met, -107},
		{701, "2025-11", 1, 0, 0, Breached, -77},
		{701, "2025-12", 1, 0, 0, Breached, -46},
		{701, "2026-01", 1, 0, 0, Breached, -15},
		{701, "2026-02", 1, 0, 0, AtRisk, 13},
		{702, "2025-2026-autumn", 10, 6, 0, Breached, -15},
		{702, "2025-2026-spring", 10, 0, 0, OnTrack, 197},
		{703, "2025-2026-autumn", 2, 1, 0, Breached, -15},
		{703, "2025-2026-spring", 2, 0, 0, OnTrack, 197},
	})
	// Every field of an item is filled.
	it := items[5]
	wantItem := Item{
		PairID: pairKG, AgreementID: 70, CommitmentID: 701, Categories: []string{"visit"}, Measure: "count",
		Minimum: q(1), Description: "每月专人到园查看一日活动组织", Period: calendar.Month, PeriodKey: "2026-02",
		PeriodStart: d("2026-02-01"), PeriodEnd: d("2026-02-28"),
		Required: q(1), Achieved: 0, Pending: 0, Status: AtRisk, DaysLeft: 13,
	}
	if fmt.Sprintf("%+v", it) != fmt.Sprintf("%+v", wantItem) {
		t.Errorf("item fields:\n  got  %+v\n  want %+v", it, wantItem)
	}
	if items[6].Period != calendar.TermPeriod || items[6].PeriodStart != d("2025-09-01") || items[6].PeriodEnd != d("2026-01-31") {
		t.Errorf("term item period = %s %s..%s", items[6].Period, items[6].PeriodStart, items[6].PeriodEnd)
	}
}

func TestWorkedExampleWuhan(t *testing.T) {
	items := Evaluate(defaultRules, demoCalendar(), wuhanAgreement(), demoFacts(), at("2026-02-15"))
	checkItems(t, items, []want{
		{101, "2025-2026-autumn", 2, 2, 0, Met, -15}, // a management exchange and a visit
		{101, "2025-2026-spring", 2, 0, 0, OnTrack, 197},
		{102, "2025-2026-autumn", 2, 2, 0, Met, -15},
		{102, "2025-2026-spring", 2, 0, 0, OnTrack, 197},
		{103, "2025-2026-autumn", 2, 1, 1, Breached, -15}, // the worked example
		{103, "2025-2026-spring", 2, 0, 0, OnTrack, 197},
		{104, "2025-2026-autumn", 2, 1, 0, Breached, -15},
		{104, "2025-2026-spring", 2, 0, 0, OnTrack, 197},
		{105, "2025-2026", 1, 0, 0, OnTrack, 197}, // the worked example
		{106, "2025-2026", 1, 1, 0, Met, 197},
	})
	se := items[8]
	if se.PeriodStart != d("2025-09-01") || se.PeriodEnd != d("2026-08-31") || se.Period != calendar.SchoolYear {
		t.Errorf("school year period = %s %s..%s, want school_year 2025-09-01..2026-08-31", se.Period, se.PeriodStart, se.PeriodEnd)
	}
	if !slices.Equal(items[4].Categories, []string{"mentoring", "teacher_training", "teaching_support", "shadow_learning"}) {
		t.Errorf("categories = %v", items[4].Categories)
	}
	sum := Summarise(items)
	wantSum := map[Status]int{Met: 3, OnTrack: 5, AtRisk: 0, Breached: 2}
	if fmt.Sprint(sum) != fmt.Sprint(wantSum) {
		t.Errorf("Summarise = %v, want %v", sum, wantSum)
	}
}

// --- proration -----------------------------------------------------------

func TestProration(t *testing.T) {
	cal := demoCalendar()
	term := func(min float64) Commitment {
		return Commitment{ID: 1, Categories: []string{"visit"}, Measure: "count", Minimum: q(min), Period: calendar.TermPeriod}
	}
	tests := []struct {
		name     string
		from, to string
		c        Commitment
		at       string
		want     []want
	}{
		// autumn 2025 has 153 days; from 2025-11-17 the agreement covers 76
		// of them: 2×76/153 = 0.993 → 1.
		{"mid-term start rounds up to 1", "2025-11-17", demoEnd, term(2), "2026-01-31",
			[]want{{1, "2025-2026-autumn", 1, 0, 0, AtRisk, 0}}},
		// from 2025-11-16 it covers 77: 2×77/153 = 1.007 → 2.
		{"one more day rounds up to 2", "2025-11-16", demoEnd, term(2), "2026-01-31",
			[]want{{1, "2025-2026-autumn", 2, 0, 0, AtRisk, 0}}},
		// 9×17/153 = 1 exactly: no spurious rounding up.
		{"exact ratio stays exact", "2026-01-15", demoEnd, term(9), "2026-01-31",
			[]want{{1, "2025-2026-autumn", 1, 0, 0, AtRisk, 0}}},
		// ends early: spring 2027 (212 days) covered 2027-02-01..2027-03-31 = 59 days.
		{"agreement ending mid-term", "2025-09-01", "2027-03-31", term(4), "2027-04-10",
			[]want{
				{1, "2025-2026-autumn", 4, 0, 0, Breached, -434},
				{1, "2025-2026-spring", 4, 0, 0, Breached, -222},
				{1, "2026-2027-autumn", 4, 0, 0, Breached, -69},
				{1, "2026-2027-spring", 2, 0, 0, OnTrack, 143}, // ceil(4×59/212 = 1.11)
			}},
		{"whole period needs the full minimum", "2025-09-01", demoEnd, term(2), "2025-09-01",
			[]want{{1, "2025-2026-autumn", 2, 0, 0, OnTrack, 152}}},
		{"agreement period is never prorated", "2025-09-10", "2027-06-30",
			Commitment{ID: 1, Categories: []string{"visit"}, Measure: "count", Minimum: q(3), Period: calendar.Agreement}, "2026-02-15",
			[]want{{1, "agreement-99", 3, 0, 0, OnTrack, 500}}},
		// The agreement starts 2025-10-01; on 2025-09-20 autumn (which
		// overlaps it) has started, September (which does not) is not a
		// period of it, October has not started.
		{"before the agreement starts", "2025-10-01", demoEnd, term(2), "2025-09-20",
			[]want{{1, "2025-2026-autumn", 2, 0, 0, OnTrack, 133}}}, // ceil(2×123/153 = 1.6)
		{"months before the agreement starts", "2025-10-01", demoEnd,
			Commitment{ID: 1, Categories: []string{"visit"}, Measure: "count", Minimum: q(1), Period: calendar.Month}, "2025-09-20",
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ag := agreement(99, 5, tt.from, tt.to, tt.c)
			checkItems(t, Evaluate(defaultRules, cal, ag, nil, at(tt.at)), tt.want)
		})
	}
}

func TestProrationByMonth(t *testing.T) {
	// November has 30 days; an agreement from 2025-11-21 covers 10 of them.
	c := Commitment{ID: 1, Categories: []string{"teaching_support"}, Measure: "hours", Minimum: q(10), Period: calendar.Month}
	ag := agreement(1, 5, "2025-11-21", demoEnd, c)
	items := Evaluate(defaultRules, demoCalendar(), ag, []Fact{
		hours(fact(5, "teaching_support", "2025-11-20"), 50), // before the agreement: ignored
		hours(fact(5, "teaching_support", "2025-11-21"), 4),
	}, at("2025-12-01"))
	checkItems(t, items, []want{
		{1, "2025-11", 4, 4, 0, Met, -1}, // ceil(10×10/30 = 3.33)
		{1, "2025-12", 10, 0, 0, AtRisk, 30},
	})
}

// --- no back-filling -----------------------------------------------------

func TestNoBackFilling(t *testing.T) {
	c := Commitment{ID: 1, Categories: []string{"visit"}, Measure: "count", Minimum: q(1), Period: calendar.Month}
	ag := agreement(1, 5, "2025-09-01", demoEnd, c)
	visit := fact(5, "visit", "2026-01-20") // January closes 2026-01-31 + 7 = 2026-02-07
	tests := []struct {
		name     string
		f        Fact
		achieved float64
		pending  float64
		status   Status
	}{
		{"logged the same day", visit, 1, 0, Met},
		{"logged on the last day of the month", loggedOn(visit, "2026-01-31"), 1, 0, Met},
		{"logged on end + grace", loggedOn(visit, "2026-02-07"), 1, 0, Met},
		{"logged on end + grace + 1", loggedOn(visit, "2026-02-08"), 0, 0, Breached},
		{"logged months later", loggedOn(visit, "2026-06-01"), 0, 0, Breached},
		{"imported months later", imported(loggedOn(visit, "2026-06-01")), 1, 0, Met},
		{"pending logged on end + grace", withStatus(loggedOn(visit, "2026-02-07"), "pending"), 0, 1, Breached},
		{"pending logged too late", withStatus(loggedOn(visit, "2026-02-08"), "pending"), 0, 0, Breached},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := Evaluate(defaultRules, demoCalendar(), ag, []Fact{tt.f},
				Options{At: d("2026-06-30"), Mode: Window, From: d("2026-01-01"), To: d("2026-01-31")})
			checkItems(t, items, []want{{1, "2026-01", 1, tt.achieved, tt.pending, tt.status, -150}})
		})
	}

	// The grace comes from the rules.
	items := Evaluate(Rules{GraceDays: 0}, demoCalendar(), ag, []Fact{loggedOn(visit, "2026-02-01")},
		Options{At: d("2026-06-30"), Mode: Window, From: d("2026-01-01"), To: d("2026-01-31")})
	checkItems(t, items, []want{{1, "2026-01", 1, 0, 0, Breached, -150}})
}

// --- status branches -----------------------------------------------------

func TestStatusBranches(t *testing.T) {
	// Spring 2026 runs 2026-02-01..2026-08-31 (212 days); minimum 4.
	c := Commitment{ID: 1, Categories: []string{"lecture"}, Measure: "count", Minimum: q(4), Period: calendar.TermPeriod}
	ag := agreement(1, 5, "2025-09-01", demoEnd, c)
	lectures := func(confirmed, pending int) []Fact {
		var fs []Fact
		for i := 0; i < confirmed; i++ {
			fs = append(fs, fact(5, "lecture", "2026-02-10"))
		}
		for i := 0; i < pending; i++ {
			fs = append(fs, withStatus(fact(5, "lecture", "2026-02-11"), "pending"))
		}
		return fs
	}
	tests := []struct {
		name      string
		rules     Rules
		at        string
		confirmed int
		pending   int
		status    Status
		daysLeft  int
	}{
		{"met while running", defaultRules, "2026-02-15", 4, 0, Met, 197},
		{"met beats at_risk on the last day", defaultRules, "2026-08-31", 4, 0, Met, 0},
		{"met beats breached", defaultRules, "2026-09-30", 4, 0, Met, -30},
		{"more than required is met", defaultRules, "2026-09-30", 6, 0, Met, -30},
		{"pending does not meet", defaultRules, "2026-09-30", 3, 1, Breached, -30},
		{"breached the day after grace", defaultRules, "2026-09-08", 3, 0, Breached, -8},
		{"at_risk on the last day of grace", defaultRules, "2026-09-07", 3, 0, AtRisk, -7},
		{"at_risk the day after the end", defaultRules, "2026-09-01", 3, 0, AtRisk, -1},
		{"at_risk after the end even without reminders", Rules{GraceDays: 7}, "2026-09-01", 3, 0, AtRisk, -1},
		// 2026-08-01: 30 days left; elapsed 182/212 → floor(3.43) = 3 ≤ 3 achieved.
		{"at_risk by reminder at 30 days left", defaultRules, "2026-08-01", 3, 0, AtRisk, 30},
		{"on_track at 31 days left", defaultRules, "2026-07-31", 3, 0, OnTrack, 31},
		{"reminder threshold is the largest of the list", Rules{GraceDays: 7, ReminderDays: []int{7, 14}}, "2026-08-17", 3, 0, AtRisk, 14},
		{"on_track beyond the largest reminder", Rules{GraceDays: 7, ReminderDays: []int{7, 14}}, "2026-08-16", 3, 0, OnTrack, 15},
		{"no reminders: clause never fires", Rules{GraceDays: 7}, "2026-08-25", 3, 0, OnTrack, 6},
		{"empty reminder list: clause never fires", Rules{GraceDays: 7, ReminderDays: []int{}}, "2026-08-25", 3, 0, OnTrack, 6},
		{"no reminders: elapsed fraction still applies on the last day", Rules{GraceDays: 7}, "2026-08-31", 3, 0, AtRisk, 0},
		// elapsed 53/212 on 2026-03-25 → floor(4×53/212 = 1) = 1.
		{"at_risk by elapsed fraction", defaultRules, "2026-03-25", 0, 0, AtRisk, 159},
		{"elapsed fraction satisfied", defaultRules, "2026-03-25", 1, 0, OnTrack, 159},
		{"elapsed fraction ignores pending", defaultRules, "2026-03-25", 0, 1, AtRisk, 159},
		{"on_track the day before the fraction reaches 1", defaultRules, "2026-03-24", 0, 0, OnTrack, 160},
		// elapsed 160/212 on 2026-07-10 → floor(3.02) = 3.
		{"at_risk by elapsed fraction late in term", defaultRules, "2026-07-10", 2, 0, AtRisk, 52},
		{"on_track on the first day", defaultRules, "2026-02-01", 0, 0, OnTrack, 211},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := Evaluate(tt.rules, demoCalendar(), ag, lectures(tt.confirmed, tt.pending),
				Options{At: d(tt.at), Mode: Window, From: d("2026-02-01"), To: d("2026-02-01")})
			checkItems(t, items, []want{{1, "2025-2026-spring", 4, float64(tt.confirmed), float64(tt.pending), tt.status, tt.daysLeft}})
		})
	}
}

// --- measures and filtering ----------------------------------------------

func TestMeasuresAndFiltering(t *testing.T) {
	const pair = 5
	tests := []struct {
		name     string
		c        Commitment
		facts    []Fact
		achieved float64
		pending  float64
		status   Status
	}{
		{"count adds Count of aggregated facts",
			Commitment{Categories: []string{"visit"}, Measure: "count", Minimum: q(5)},
			[]Fact{count(fact(pair, "visit", "2026-03-01"), 3), count(withStatus(fact(pair, "visit", "2026-03-02"), "pending"), 2)},
			3, 2, OnTrack},
		{"count ignores hours and persons",
			Commitment{Categories: []string{"visit"}, Measure: "count", Minimum: q(2)},
			[]Fact{persons(hours(fact(pair, "visit", "2026-03-01"), 8), 5)},
			1, 0, OnTrack},
		{"hours adds hours, not count",
			Commitment{Categories: []string{"teaching_support"}, Measure: "hours", Minimum: q(10)},
			[]Fact{
				count(hours(fact(pair, "teaching_support", "2026-03-01"), 6), 4),
				hours(fact(pair, "teaching_support", "2026-03-08"), 4.5),
				withStatus(hours(fact(pair, "teaching_support", "2026-03-09"), 1.5), "pending"),
			},
			10.5, 1.5, Met},
		{"hours sums tolerate float noise (0.1 + 0.7 meets 0.8)",
			Commitment{Categories: []string{"teaching_support"}, Measure: "hours", Minimum: q(0.8)},
			[]Fact{hours(fact(pair, "teaching_support", "2026-03-01"), 0.1), hours(fact(pair, "teaching_support", "2026-03-02"), 0.7)},
			0.8, 0, Met},
		{"persons adds persons",
			Commitment{Categories: []string{"secondment"}, Measure: "persons", Minimum: q(3)},
			[]Fact{persons(fact(pair, "secondment", "2026-03-01"), 1), persons(fact(pair, "secondment", "2026-04-01"), 2)},
			3, 0, Met},
		{"persons below minimum",
			Commitment{Categories: []string{"secondment"}, Measure: "persons", Minimum: q(3)},
			[]Fact{persons(count(fact(pair, "secondment", "2026-03-01"), 3), 2)},
			2, 0, OnTrack},
		{"any of several categories counts",
			Commitment{Categories: []string{"visit", "management_exchange"}, Measure: "count", Minimum: q(2)},
			[]Fact{fact(pair, "visit", "2026-03-01"), fact(pair, "management_exchange", "2026-03-02")},
			2, 0, Met},
		{"other categories are ignored",
			Commitment{Categories: []string{"visit"}, Measure: "count", Minimum: q(1)},
			[]Fact{fact(pair, "lecture", "2026-03-01"), fact(pair, "Visit", "2026-03-01"), fact(pair, "", "2026-03-01")},
			0, 0, OnTrack},
		{"other pairs are ignored",
			Commitment{Categories: []string{"visit"}, Measure: "count", Minimum: q(1)},
			[]Fact{fact(pair+1, "visit", "2026-03-01"), withStatus(fact(0, "visit", "2026-03-01"), "pending")},
			0, 0, OnTrack},
		{"withdrawn, disputed and unknown statuses are ignored",
			Commitment{Categories: []string{"visit"}, Measure: "count", Minimum: q(1)},
			[]Fact{
				withStatus(fact(pair, "visit", "2026-03-01"), "withdrawn"),
				withStatus(fact(pair, "visit", "2026-03-01"), "disputed"),
				withStatus(fact(pair, "visit", "2026-03-01"), "Confirmed"),
				withStatus(fact(pair, "visit", "2026-03-01"), ""),
			},
			0, 0, OnTrack},
		{"activity outside the period is ignored",
			Commitment{Categories: []string{"visit"}, Measure: "count", Minimum: q(1)},
			[]Fact{fact(pair, "visit", "2026-01-31"), fact(pair, "visit", "2026-09-01")},
			0, 0, OnTrack},
		{"period bounds are inclusive",
			Commitment{Categories: []string{"visit"}, Measure: "count", Minimum: q(3)},
			[]Fact{fact(pair, "visit", "2026-02-01"), withStatus(fact(pair, "visit", "2026-08-31"), "pending")},
			1, 1, OnTrack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.ID, tt.c.Period = 1, calendar.TermPeriod
			ag := agreement(1, pair, "2025-09-01", demoEnd, tt.c)
			items := Evaluate(defaultRules, demoCalendar(), ag, tt.facts,
				Options{At: d("2026-04-15"), Mode: Current})
			checkItems(t, items, []want{{1, "2025-2026-spring", tt.c.Minimum.Float(), tt.achieved, tt.pending, tt.status, 138}})
		})
	}
}

func TestFactsOutsideAgreementSpan(t *testing.T) {
	// The agreement runs 2025-10-01..2026-05-31: autumn and spring are
	// both partly covered; activity outside the span never counts.
	c := Commitment{ID: 1, Categories: []string{"visit"}, Measure: "count", Minimum: q(2), Period: calendar.TermPeriod}
	ag := agreement(1, 5, "2025-10-01", "2026-05-31", c)
	facts := []Fact{
		fact(5, "visit", "2025-09-30"), // autumn, before the span
		fact(5, "visit", "2025-10-01"),
		fact(5, "visit", "2026-05-31"),
		fact(5, "visit", "2026-06-01"), // spring, after the span
	}
	items := Evaluate(defaultRules, demoCalendar(), ag, facts, at("2026-12-31"))
	checkItems(t, items, []want{
		{1, "2025-2026-autumn", 2, 1, 0, Breached, -334}, // ceil(2×123/153 = 1.6)
		{1, "2025-2026-spring", 2, 1, 0, Breached, -122}, // ceil(2×120/212 = 1.13)
	})
}

// --- modes -----------------------------------------------------------------

func TestModes(t *testing.T) {
	cal := demoCalendar()
	ag := kindergartenAgreement()
	keys := func(items []Item) string {
		var ks []string
		for _, it := range items {
			ks = append(ks, fmt.Sprintf("%d:%s", it.CommitmentID, it.PeriodKey))
		}
		return strings.Join(ks, " ")
	}
	tests := []struct {
		name string
		ag   Agreement
		cal  calendar.Calendar
		opt  Options
		want string
	}{
		{"all", ag, cal, Options{At: d("2025-11-01")},
			"701:2025-09 701:2025-10 701:2025-11 702:2025-2026-autumn 703:2025-2026-autumn"},
		{"current while running", ag, cal, Options{At: d("2026-02-15"), Mode: Current},
			"701:2026-02 702:2025-2026-spring 703:2025-2026-spring"},
		{"current on the first day of a period", ag, cal, Options{At: d("2026-09-01"), Mode: Current},
			"701:2026-09 702:2026-2027-autumn 703:2026-2027-autumn"},
		{"current before anything started", ag, cal, Options{At: d("2025-08-31"), Mode: Current}, ""},
		{"current after the agreement ended", agreement(70, pairKG, "2025-09-01", "2026-03-15", ag.Commitments...), cal,
			Options{At: d("2027-05-01"), Mode: Current},
			"701:2026-03 702:2025-2026-spring 703:2025-2026-spring"},
		{"current in a gap between terms is the last started term", ag, calendar.New([]calendar.Term{
			{SchoolYear: "2025-2026", Season: calendar.Autumn, StartsOn: d("2025-08-25"), EndsOn: d("2026-01-18")},
			{SchoolYear: "2025-2026", Season: calendar.Spring, StartsOn: d("2026-02-23"), EndsOn: d("2026-07-10")},
		}), Options{At: d("2026-02-01"), Mode: Current},
			"701:2026-02 702:2025-2026-autumn 703:2025-2026-autumn"},
		{"window of two months", ag, cal, Options{At: d("2026-02-15"), Mode: Window, From: d("2025-10-15"), To: d("2025-11-15")},
			"701:2025-10 701:2025-11 702:2025-2026-autumn 703:2025-2026-autumn"},
		{"window excludes periods not started by At", ag, cal, Options{At: d("2026-02-15"), Mode: Window, From: d("2026-01-31"), To: d("2026-12-31")},
			"701:2026-01 701:2026-02 702:2025-2026-autumn 702:2025-2026-spring 703:2025-2026-autumn 703:2025-2026-spring"},
		{"window touching nothing", ag, cal, Options{At: d("2026-02-15"), Mode: Window, From: d("2024-01-01"), To: d("2024-12-31")}, ""},
		{"commitment order is kept", agreement(70, pairKG, "2025-09-01", demoEnd, ag.Commitments[2], ag.Commitments[0]), cal,
			Options{At: d("2025-10-01")},
			"703:2025-2026-autumn 701:2025-09 701:2025-10"},
		{"empty agreement span", agreement(70, pairKG, "2026-01-01", "2025-12-31", ag.Commitments...), cal,
			Options{At: d("2026-02-15")}, ""},
		{"unknown period kind", agreement(70, pairKG, "2025-09-01", demoEnd,
			Commitment{ID: 9, Categories: []string{"visit"}, Measure: "count", Minimum: q(1), Period: "week"}), cal,
			Options{At: d("2026-02-15")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keys(Evaluate(defaultRules, tt.cal, tt.ag, demoFacts(), tt.opt)); got != tt.want {
				t.Errorf("items = %q\nwant    %q", got, tt.want)
			}
		})
	}
}

func TestModesAgreeWithAll(t *testing.T) {
	// Current and Window select from All; the selected items are identical.
	cal, ag, facts := demoCalendar(), wuhanAgreement(), demoFacts()
	for _, on := range []string{"2025-09-01", "2026-01-31", "2026-02-15", "2026-09-07", "2027-08-31", "2029-01-01"} {
		all := Evaluate(defaultRules, cal, ag, facts, at(on))
		byKey := map[string]Item{}
		for _, it := range all {
			byKey[fmt.Sprintf("%d:%s", it.CommitmentID, it.PeriodKey)] = it
		}
		for _, mode := range []Options{
			{At: d(on), Mode: Current},
			{At: d(on), Mode: Window, From: d("2026-01-01"), To: d("2026-03-01")},
		} {
			for _, it := range Evaluate(defaultRules, cal, ag, facts, mode) {
				a, ok := byKey[fmt.Sprintf("%d:%s", it.CommitmentID, it.PeriodKey)]
				if !ok || fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", it) {
					t.Errorf("at %s mode %d: item %+v differs from All's %+v", on, mode.Mode, it, a)
				}
			}
		}
	}
}

func TestEvaluateDoesNotModifyInputs(t *testing.T) {
	facts := demoFacts()
	before := fmt.Sprintf("%+v", facts)
	ag := wuhanAgreement()
	agBefore := fmt.Sprintf("%+v", ag)
	Evaluate(defaultRules, demoCalendar(), ag, facts, at("2026-02-15"))
	if fmt.Sprintf("%+v", facts) != before || fmt.Sprintf("%+v", ag) != agBefore {
		t.Errorf("Evaluate modified its inputs")
	}
}

func TestSummarise(t *testing.T) {
	empty := Summarise(nil)
	if len(empty) != 4 {
		t.Errorf("Summarise(nil) has %d keys, want 4", len(empty))
	}
	for _, s := range []Status{Met, OnTrack, AtRisk, Breached} {
		if v, ok := empty[s]; !ok || v != 0 {
			t.Errorf("Summarise(nil)[%s] = %d, %v; want 0, true", s, v, ok)
		}
	}
	items := Evaluate(defaultRules, demoCalendar(), kindergartenAgreement(), demoFacts(), at("2026-02-15"))
	got := Summarise(items)
	want := map[Status]int{Met: 2, OnTrack: 2, AtRisk: 1, Breached: 5}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Summarise = %v, want %v", got, want)
	}
}

func TestDayNum(t *testing.T) {
	// far dates are outside what date.Parse accepts from users; build them directly
	d := func(s string) date.Date {
		tm, err := time.Parse(date.Layout, s)
		if err != nil {
			t.Fatal(err)
		}
		return date.New(tm.Year(), tm.Month(), tm.Day())
	}
	base := d("1970-01-01")
	// time.Duration limits DaysUntil to ±292 years around 1970.
	for _, s := range []string{"1970-01-01", "1969-12-31", "1900-02-28", "1900-03-01", "2000-02-29", "2000-03-01", "2100-03-01", "2025-09-01", "2026-02-15", "2200-12-31"} {
		if got, want := dayNum(d(s)), base.DaysUntil(d(s)); got != want {
			t.Errorf("dayNum(%s) = %d, want %d", s, got, want)
		}
	}
	// Far dates, against well-known day counts.
	if got := dayNum(d("0001-01-01")); got != -719162 {
		t.Errorf("dayNum(0001-01-01) = %d, want -719162", got)
	}
	if got := dayNum(d("9999-12-31")); got != 2932896 {
		t.Errorf("dayNum(9999-12-31) = %d, want 2932896", got)
	}
	// Consecutive across many years.
	prev := dayNum(d("1999-12-31"))
	for x := d("2000-01-01"); x.Before(d("2031-01-01")); x = x.AddDays(1) {
		n := dayNum(x)
		if n != prev+1 {
			t.Fatalf("dayNum(%s) = %d, previous %d", x, n, prev)
		}
		prev = n
	}
}

// --- benchmark -------------------------------------------------------------

func benchData() (calendar.Calendar, Agreement, []Fact) {
	cal := calendar.New(calendar.DefaultTerms(2025, 2026))
	ag := agreement(1, 42, "2025-09-01", "2027-08-31",
		Commitment{ID: 1, Categories: []string{"visit"}, Measure: "count", Minimum: q(1), Period: calendar.Month},
		Commitment{ID: 2, Categories: []string{"visit", "management_exchange"}, Measure: "count", Minimum: q(2), Period: calendar.TermPeriod},
		Commitment{ID: 3, Categories: []string{"demonstration_lesson", "lecture"}, Measure: "count", Minimum: q(2), Period: calendar.TermPeriod},
		Commitment{ID: 4, Categories: []string{"mentoring", "teacher_training", "teaching_support", "shadow_learning"}, Measure: "hours", Minimum: q(10), Period: calendar.TermPeriod},
		Commitment{ID: 5, Categories: []string{"student_exchange"}, Measure: "count", Minimum: q(1), Period: calendar.SchoolYear},
		Commitment{ID: 6, Categories: []string{"secondment"}, Measure: "persons", Minimum: q(1), Period: calendar.SchoolYear},
	)
	cats := []string{"visit", "management_exchange", "demonstration_lesson", "lecture", "mentoring",
		"teacher_training", "teaching_support", "student_exchange", "secondment", "campus_culture"}
	statuses := []string{"confirmed", "confirmed", "confirmed", "pending", "disputed"}
	facts := make([]Fact, 50)
	start := d("2025-09-01")
	for i := range facts {
		on := start.AddDays(i * 14)
		facts[i] = Fact{PairID: 42, Category: cats[i%len(cats)], OccurredOn: on, LoggedOn: on.AddDays(i % 10),
			Status: statuses[i%len(statuses)], Count: 1, Hours: q(2), Persons: q(1)}
	}
	return cal, ag, facts
}

func TestBenchDataIsRealistic(t *testing.T) {
	cal, ag, facts := benchData()
	items := Evaluate(defaultRules, cal, ag, facts, at("2027-08-31"))
	// 24 months + 3×4 terms + 2×2 school years.
	if len(items) != 24+12+4 {
		t.Fatalf("benchmark evaluates %d items, want 40", len(items))
	}
	s := Summarise(items)
	if s[Met] == 0 || s[Breached] == 0 {
		t.Errorf("benchmark data should mix statuses, got %v", s)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	cal, ag, facts := benchData()
	opt := at("2027-08-31")
	b.ReportAllocs()
	for b.Loop() {
		_ = Evaluate(defaultRules, cal, ag, facts, opt)
	}
}

func BenchmarkEvaluateCurrent(b *testing.B) {
	cal, ag, facts := benchData()
	opt := Options{At: d("2027-03-15"), Mode: Current}
	b.ReportAllocs()
	for b.Loop() {
		_ = Evaluate(defaultRules, cal, ag, facts, opt)
	}
}

func TestAtRiskAfterEndIsItsOwnClause(t *testing.T) {
	// With no reminders and a fractional minimum, neither the reminder nor
	// the elapsed-fraction clause fires after the end (floor(10.5×213/212)
	// = 10 ≤ 10.2): only "D > p.end, books still open" makes it at_risk.
	c := Commitment{ID: 1, Categories: []string{"teaching_support"}, Measure: "hours", Minimum: q(10.5), Period: calendar.TermPeriod}
	ag := agreement(1, 5, "2025-09-01", demoEnd, c)
	facts := []Fact{hours(fact(5, "teaching_support", "2026-03-01"), 10.2)}
	for _, tt := range []struct {
		at     string
		status Status
		left   int
	}{
		{"2026-08-31", OnTrack, 0},
		{"2026-09-01", AtRisk, -1},
		{"2026-09-07", AtRisk, -7},
		{"2026-09-08", Breached, -8},
	} {
		items := Evaluate(Rules{GraceDays: 7}, demoCalendar(), ag, facts,
			Options{At: d(tt.at), Mode: Window, From: d("2026-03-01"), To: d("2026-03-01")})
		checkItems(t, items, []want{{1, "2025-2026-spring", 10.5, 10.2, 0, tt.status, tt.left}})
	}
}
