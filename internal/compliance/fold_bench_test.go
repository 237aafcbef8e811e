package compliance

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/decimal"
)

// foldBenchProvince builds pairs pairs of one agreement with six
// commitments of the given measure (two random categories each) and 50
// confirmed activities per pair over two school years: in pair order, or
// with each row's pair drawn at random (shuffled), as the activities table
// returns them.
func foldBenchProvince(pairs int64, measure string, shuffled bool) (map[int64][]Agreement, []foldFact) {
	rng := rand.New(rand.NewSource(1))
	cats := []string{"visit", "teaching_support", "lecture", "secondment", "mentoring", "donation"}
	kinds := []calendar.PeriodKind{calendar.Month, calendar.TermPeriod, calendar.SchoolYear, calendar.Agreement, calendar.TermPeriod, calendar.SchoolYear}
	byPair := map[int64][]Agreement{}
	var cID int64
	for p := int64(1); p <= pairs; p++ {
		ag := Agreement{ID: p, PairID: p, EffectiveFrom: d("2025-09-01"), EffectiveTo: d("2028-08-31")}
		for k := 0; k < 6; k++ {
			cID++
			ag.Commitments = append(ag.Commitments, Commitment{ID: cID, Measure: measure, Period: kinds[k], Categories: []string{cats[rng.Intn(6)], cats[rng.Intn(6)]}})
		}
		byPair[p] = []Agreement{ag}
	}
	codes := newFactCodes()
	facts := make([]foldFact, 0, pairs*50)
	for i := int64(0); i < pairs*50; i++ {
		pair := 1 + i/50
		if shuffled {
			pair = 1 + rng.Int63n(pairs)
		}
		occ := d("2025-09-01").AddDays(rng.Intn(700))
		a := activityFact{PairID: pair, Category: cats[rng.Intn(6)], OccurredOn: occ, LoggedOn: occ.AddDays(rng.Intn(10)), Status: "confirmed", Hours: decimal.D(100)}
		f, _ := factOf(codes, &a)
		facts = append(facts, f)
	}
	return byPair, facts
}

// BenchmarkFolderAdd: building the folder and folding 10,000 pairs' rows
// in pair order.
func BenchmarkFolderAdd(b *testing.B) {
	cal := demoCalendar()
	byPair, facts := foldBenchProvince(10000, "count", false)
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
// order as the activities table returns them; the fold alone.
func BenchmarkFolderAddShuffled(b *testing.B) {
	cal := demoCalendar()
	byPair, facts := foldBenchProvince(50000, "hours", true)
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

// BenchmarkFolderAddChunked: BenchmarkFolderAddShuffled's rows folded as
// the recompute folds them, foldChunk at a time sorted by pair (the sort
// included), from batches of 4,096 rows, and with smaller and larger
// chunks.
func BenchmarkFolderAddChunked(b *testing.B) {
	cal := demoCalendar()
	byPair, facts := foldBenchProvince(50000, "hours", true)
	for _, chunk := range []int{1 << 16, foldChunk(50000), 1 << 20} {
		b.Run(fmt.Sprint(chunk), func(b *testing.B) {
			x := make([]foldFact, chunk)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				fo := newFolder(defaultRules, cal, byPair)
				b.StartTimer()
				for lo := 0; lo < len(facts); lo += chunk {
					fo.addAll(batchesOf(facts[lo:min(lo+chunk, len(facts))], 4096), x)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(facts)), "ns/row")
		})
	}
}
