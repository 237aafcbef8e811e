package compliance

import (
	"fmt"
	"testing"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/date"
)

// An agreement Decided leaves unrecorded is evaluated, by a sweep on any
// date, exactly as if its DecidedThrough had become the sweep's date: for
// every pair of dates over two school years, agreements ending on
// different days (and a month end, a term end, open-ended), commitments of
// every period kind.
func TestDecidedLeavesOnlyWhatChangesNothing(t *testing.T) {
	cal := demoCalendar()
	all := func(id int64, from, to string) Agreement {
		return agreement(id, 1, from, to,
			Commitment{ID: 1, Categories: []string{"visit"}, Measure: "count", Minimum: q(1), Period: calendar.Month},
			Commitment{ID: 2, Categories: []string{"lecture"}, Measure: "count", Minimum: q(2), Period: calendar.TermPeriod},
			Commitment{ID: 3, Categories: []string{"secondment"}, Measure: "persons", Minimum: q(1), Period: calendar.SchoolYear},
			Commitment{ID: 4, Categories: []string{"mentoring"}, Measure: "hours", Minimum: q(10), Period: calendar.Agreement},
		)
	}
	ags := []Agreement{
		all(1, "2025-09-01", "2027-08-31"),
		all(2, "2025-10-15", "2026-05-17"), // ends mid-month
		all(3, "2025-09-01", "2026-01-31"), // ends with a term
		all(4, "2026-03-01", "2026-11-30"), // ends with a month
	}
	open := all(5, "2025-09-01", "2027-08-31")
	open.EffectiveTo = date.Date{}
	ags = append(ags, open)

	items := func(ag Agreement, through, on date.Date) string {
		ag.DecidedThrough = through
		return fmt.Sprintf("%+v", Evaluate(defaultRules, cal, ag, nil, Options{At: on, Mode: Undecided}))
	}
	left, recorded := 0, 0
	start, end := d("2025-09-01"), d("2027-02-28")
	for i := range ags {
		ag := ags[i]
		for through := start; through.Before(end); through = through.AddDays(5) {
			for at := through.AddDays(1); at.Before(through.AddDays(70)); at = at.AddDays(3) {
				ag.DecidedThrough = through
				if NewDecided(defaultRules, cal, at).MustRecord(&ag) {
					recorded++
					continue
				}
				left++
				// every later sweep, and checks of earlier days
				for _, on := range []date.Date{through.AddDays(-10), through, at.AddDays(-1), at, at.AddDays(1), at.AddDays(9), at.AddDays(40), at.AddDays(200)} {
					if got, want := items(ag, through, on), items(ag, at, on); got != want {
						t.Fatalf("agreement %d decided through %s, not recorded as of %s: a sweep as of %s evaluates\n%s\nwhere recorded it evaluates\n%s",
							ag.ID, through, at, on, got, want)
					}
				}
			}
		}
	}
	if left < 1000 || recorded < 1000 {
		t.Fatalf("left %d, recorded %d: the dates do not exercise both", left, recorded)
	}
	// never recorded: always; the sweep's own date or later: never
	ag := ags[0]
	if !NewDecided(defaultRules, cal, d("2026-03-01")).MustRecord(&ag) {
		t.Errorf("an agreement no sweep has seen is not recorded")
	}
	ag.DecidedThrough = d("2026-03-05")
	if NewDecided(defaultRules, cal, d("2026-03-01")).MustRecord(&ag) || NewDecided(defaultRules, cal, d("2026-03-05")).MustRecord(&ag) {
		t.Errorf("a check of an earlier day, or of the same day, moves the date")
	}
	// October's books close on 7 November: the sweep of 9 November is the
	// first whose window no longer holds October
	ag.DecidedThrough = d("2025-11-08")
	if NewDecided(defaultRules, cal, d("2025-11-08").AddDays(0)).MustRecord(&ag) {
		t.Errorf("the same day recorded")
	}
	if !NewDecided(defaultRules, cal, d("2025-11-09")).MustRecord(&ag) {
		t.Errorf("8 → 9 November drops October from the window but is not recorded")
	}
	ag.DecidedThrough = d("2025-11-09")
	if NewDecided(defaultRules, cal, d("2025-11-30")).MustRecord(&ag) {
		t.Errorf("9 → 30 November drops no period but is recorded")
	}
}
