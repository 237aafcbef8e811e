package compliance

import (
	"fmt"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/date"
)

// Contribution is what one fact adds to one commitment in one period.
type Contribution struct {
	CommitmentID int64
	PairID       int64
	Period       calendar.Period
	Achieved     float64
	Pending      float64
}

// Contributions lists where fact f counts among ags, the agreements of its
// pair, under the rules of §3: the commitment lists its category, it
// occurred in the agreement's span and in the period, and it was logged
// within the period's books (or imported). Each commitment kind has exactly
// one period containing a given day, so this is at most one contribution
// per commitment.
func Contributions(rules Rules, cal calendar.Calendar, ags []Agreement, f Fact) []Contribution {
	if f.Status != "confirmed" && f.Status != "pending" {
		return nil
	}
	var out []Contribution
	for _, ag := range ags {
		if f.PairID != ag.PairID || f.OccurredOn.Before(ag.EffectiveFrom) || f.OccurredOn.After(ag.EffectiveTo) {
			continue
		}
		for ci := range ag.Commitments {
			c := &ag.Commitments[ci]
			if !hasCategory(c.Categories, f.Category) {
				continue
			}
			p, ok := periodOn(cal, c.Period, ag, f.OccurredOn)
			if !ok {
				continue
			}
			if !f.Imported && f.LoggedOn.After(p.End.AddDays(rules.GraceDays)) {
				continue
			}
			amount := float64(f.Count)
			switch c.Measure {
			case "hours":
				amount = f.Hours
			case "persons":
				amount = f.Persons
			}
			con := Contribution{CommitmentID: c.ID, PairID: ag.PairID, Period: p}
			if f.Status == "confirmed" {
				con.Achieved = amount
			} else {
				con.Pending = amount
			}
			out = append(out, con)
		}
	}
	return out
}

// periodOn is the period of kind containing d, as Calendar.Periods builds it.
func periodOn(cal calendar.Calendar, kind calendar.PeriodKind, ag Agreement, d date.Date) (calendar.Period, bool) {
	switch kind {
	case calendar.Month:
		return calendar.Period{Kind: kind, Key: fmt.Sprintf("%04d-%02d", d.Year(), d.Month()), Start: d.FirstOfMonth(), End: d.LastOfMonth()}, true
	case calendar.TermPeriod:
		t, ok := cal.TermOn(d)
		if !ok {
			return calendar.Period{}, false
		}
		return calendar.Period{Kind: kind, Key: t.Key(), Start: t.StartsOn, End: t.EndsOn}, true
	case calendar.SchoolYear:
		for _, y := range cal.SchoolYears() {
			if !d.Before(y.Start) && !d.After(y.End) {
				return y, true
			}
		}
		return calendar.Period{}, false
	case calendar.Agreement:
		return calendar.Period{Kind: kind, Key: fmt.Sprintf("agreement-%d", ag.ID), Start: ag.EffectiveFrom, End: ag.EffectiveTo}, true
	}
	return calendar.Period{}, false
}
