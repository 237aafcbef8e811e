package compliance

import (
	"testing"

	"github.com/twinning-platform/twinning/internal/calendar"
)

// TestAccount: the grace boundary (end + grace counts, end + grace + 1
// does not, imported records are exempt) and the reasons for counting
// toward nothing.
func TestAccount(t *testing.T) {
	cal := calendar.New(calendar.DefaultTerms(2025, 2026))
	ags := []Agreement{{ID: 1, PairID: 7, EffectiveFrom: d("2025-09-01"), EffectiveTo: d("2026-08-31"), Commitments: []Commitment{
		{ID: 10, Categories: []string{"visit"}, Measure: "count", Period: calendar.Month},
		{ID: 11, Categories: []string{"teaching_support"}, Measure: "hours", Period: calendar.Agreement},
	}}}
	rules := Rules{GraceDays: 7}
	f := Fact{PairID: 7, Category: "visit", OccurredOn: d("2025-10-31"), LoggedOn: d("2025-11-07"), Status: "pending", Count: 1}
	if got := Account(rules, cal, ags, f); len(got.CountsToward) != 1 || got.CountsToward[0] != (Counted{10, calendar.Month, "2025-10"}) || len(got.NotCounted) != 0 {
		t.Errorf("end+grace: %+v", got)
	}
	f.LoggedOn = d("2025-11-08")
	got := Account(rules, cal, ags, f)
	if len(got.CountsToward) != 0 || len(got.NotCounted) != 1 || got.NotCounted[0].Reason != LoggedAfterBooksClosed ||
		got.NotCounted[0].PeriodKey != "2025-10" || got.NotCounted[0].BooksClosedOn.String() != "2025-11-07" {
		t.Errorf("end+grace+1: %+v", got)
	}
	f.Imported = true
	if got := Account(rules, cal, ags, f); len(got.CountsToward) != 1 || len(got.NotCounted) != 0 {
		t.Errorf("imported, late: %+v", got)
	}
	// the grace counts from the period's end: an agreement-long commitment
	// takes a record logged months after the day until the agreement ends
	g := Fact{PairID: 7, Category: "teaching_support", OccurredOn: d("2025-10-01"), LoggedOn: d("2026-09-07"), Status: "confirmed"}
	if got := Account(rules, cal, ags, g); len(got.CountsToward) != 1 || got.CountsToward[0] != (Counted{11, calendar.Agreement, "agreement-1"}) {
		t.Errorf("agreement period: %+v", got)
	}
	g.LoggedOn = d("2026-09-08")
	if got := Account(rules, cal, ags, g); len(got.NotCounted) != 1 || got.NotCounted[0].Reason != LoggedAfterBooksClosed {
		t.Errorf("agreement period, late: %+v", got)
	}
	out := Fact{PairID: 7, Category: "visit", OccurredOn: d("2026-09-02"), LoggedOn: d("2026-09-02"), Status: "pending"}
	if got := Account(rules, cal, ags, out); len(got.CountsToward) != 0 || len(got.NotCounted) != 1 ||
		got.NotCounted[0] != (NotCounted{CommitmentID: 10, Period: calendar.Month, PeriodKey: "2026-09", Reason: OutsideAgreement}) {
		t.Errorf("outside the agreement: %+v", got)
	}
	other := Fact{PairID: 7, Category: "lecture", OccurredOn: d("2025-10-02"), LoggedOn: d("2025-10-02"), Status: "pending"}
	if got := Account(rules, cal, ags, other); len(got.CountsToward) != 0 || len(got.NotCounted) != 2 || got.NotCounted[0].Reason != CategoryNotInCommitment {
		t.Errorf("category in no commitment: %+v", got)
	}
	if got := Account(rules, cal, ags, Fact{PairID: 8, Category: "visit", OccurredOn: d("2025-10-02")}); len(got.CountsToward)+len(got.NotCounted) != 0 {
		t.Errorf("another pair's agreements: %+v", got)
	}
}
