package compliance

import (
	"math/rand"
	"testing"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/decimal"
)

func BenchmarkFolderAdd(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	cal := demoCalendar()
	cats := []string{"visit", "teaching_support", "lecture", "secondment", "mentoring", "donation"}
	kinds := []calendar.PeriodKind{calendar.Month, calendar.TermPeriod, calendar.SchoolYear, calendar.Agreement, calendar.TermPeriod, calendar.SchoolYear}
	byPair := map[int64][]Agreement{}
	var cID int64
	const pairs = 10000
	for p := int64(1); p <= pairs; p++ {
		ag := Agreement{ID: p, PairID: p, EffectiveFrom: d("2025-09-01"), EffectiveTo: d("2028-08-31")}
		for k := 0; k < 6; k++ {
			cID++
			ag.Commitments = append(ag.Commitments, Commitment{ID: cID, Measure: "count", Period: kinds[k], Categories: []string{cats[rng.Intn(6)], cats[rng.Intn(6)]}})
		}
		byPair[p] = []Agreement{ag}
	}
	codes := newCategoryCodes()
	var facts []foldFact
	for p := int64(1); p <= pairs; p++ {
		for i := 0; i < 50; i++ {
			occ := d("2025-09-01").AddDays(rng.Intn(700))
			a := activityFact{PairID: p, Category: cats[rng.Intn(6)], OccurredOn: occ, LoggedOn: occ.AddDays(rng.Intn(10)), Status: "confirmed", Hours: decimal.D(100)}
			f, _ := factOf(codes, &a)
			facts = append(facts, f)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fo := newFolder(defaultRules, cal, byPair)
		for j := range facts {
			fo.add(&facts[j])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(facts)), "ns/row")
}

// BenchmarkFolderAddShuffled: a province's shape, rows in random pair
// order as the activities table returns them.
func BenchmarkFolderAddShuffled(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	cal := demoCalendar()
	cats := []string{"visit", "teaching_support", "lecture", "secondment", "mentoring", "donation"}
	kinds := []calendar.PeriodKind{calendar.Month, calendar.TermPeriod, calendar.SchoolYear, calendar.Agreement, calendar.TermPeriod, calendar.SchoolYear}
	byPair := map[int64][]Agreement{}
	var cID int64
	const pairs = 50000
	for p := int64(1); p <= pairs; p++ {
		ag := Agreement{ID: p, PairID: p, EffectiveFrom: d("2025-09-01"), EffectiveTo: d("2028-08-31")}
		for k := 0; k < 6; k++ {
			cID++
			ag.Commitments = append(ag.Commitments, Commitment{ID: cID, Measure: "hours", Period: kinds[k], Categories: []string{cats[rng.Intn(6)], cats[rng.Intn(6)]}})
		}
		byPair[p] = []Agreement{ag}
	}
	codes := newCategoryCodes()
	var facts []foldFact
	for i := 0; i < pairs*50; i++ {
		occ := d("2025-09-01").AddDays(rng.Intn(700))
		a := activityFact{PairID: 1 + rng.Int63n(pairs), Category: cats[rng.Intn(6)], OccurredOn: occ, LoggedOn: occ.AddDays(rng.Intn(10)), Status: "confirmed", Hours: decimal.D(100)}
		f, _ := factOf(codes, &a)
		facts = append(facts, f)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fo := newFolder(defaultRules, cal, byPair)
		b.StartTimer()
		for j := range facts {
			fo.add(&facts[j])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(facts)), "ns/row")
}
