package assessment_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/benchdata"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// BenchmarkCompute assesses a whole province for the school year
// 2025-2026 as of its end, on the benchmark programme (SQLite; pairs from
// TWINNING_BENCH_PAIRS, default 1000, with 50 activities a pair).
//
//	go test ./internal/assessment -run XXX -bench Compute -benchtime 3x
func BenchmarkCompute(b *testing.B) {
	pairs := 1000
	if v, err := strconv.Atoi(os.Getenv("TWINNING_BENCH_PAIRS")); err == nil && v > 0 {
		pairs = v
	}
	ctx := context.Background()
	db := testutil.SQLite(b)
	a := testutil.NewApp(b, db, testutil.NewClock(testutil.At("2026-09-01")))
	if _, err := benchdata.Generate(ctx, db, benchdata.Options{Pairs: pairs, Activities: pairs * 50,
		Derive: a.Ledger.RebuildAll, Derived: []string{"period_totals"}}); err != nil {
		b.Fatal(err)
	}
	at := date.MustParse("2026-09-01")
	b.ReportAllocs()
	b.ResetTimer()
	schools := 0
	for b.Loop() {
		res, err := a.Assessments.Compute(ctx, auth.SystemActor(), "2025-2026", 0, at)
		if err != nil {
			b.Fatal(err)
		}
		schools = len(res.Items)
	}
	b.ReportMetric(float64(schools), "schools")
}
