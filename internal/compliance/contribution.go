package compliance

import (
	"fmt"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
)

// Contribution is what one fact adds to one commitment in one period.
type Contribution struct {
	CommitmentID int64
	PairID       int64
	Period       calendar.Period
	Achieved     decimal.D
	Pending      decimal.D
}

// Contributions lists where fact f counts among ags, the agreements of its
// pair, under the rules of §3: the commitment lists its category, it
// occurred in the agreement's span and in the period, and it was logged
// within the period's books (or imported). Each commitment kind has exactly
// one period containing a given day, so this is at most one contribution
// per commitment.
func Contributions(rules Rules, cal calendar.Calendar, ags []Agreement, f Fact) []Contribution {
	var out []Contribution
	newContributor(rules, cal).each(ags, f, func(c Contribution) { out = append(out, c) })
	return out
}

// contributor computes contributions with the period lookups memoised:
// a full recompute calls it for every activity of the programme.
type contributor struct {
	rules Rules
	cal   calendar.Calendar
	years []calendar.Period
	cache map[periodAt]periodHit
}

type periodAt struct {
	kind calendar.PeriodKind
	day  date.Date
}

type periodHit struct {
	p  calendar.Period
	ok bool
}

func newContributor(rules Rules, cal calendar.Calendar) *contributor {
	return &contributor{rules: rules, cal: cal, years: cal.SchoolYears(), cache: map[periodAt]periodHit{}}
}

// each calls fn for every contribution of f.
func (x *contributor) each(ags []Agreement, f Fact, fn func(Contribution)) {
	confirmed := f.Status == "confirmed"
	if !confirmed && f.Status != "pending" {
		return
	}
	for ai := range ags {
		ag := &ags[ai]
		if f.PairID != ag.PairID || f.OccurredOn.Before(ag.EffectiveFrom) || f.OccurredOn.After(ag.EffectiveTo) {
			continue
		}
		for ci := range ag.Commitments {
			c := &ag.Commitments[ci]
			if !hasCategory(c.Categories, f.Category) {
				continue
			}
			p, ok := x.periodOn(c.Period, ag, f.OccurredOn)
			if !ok {
				continue
			}
			if !f.Imported && f.LoggedOn.After(p.End.AddDays(x.rules.GraceDays)) {
				continue
			}
			amount := decimal.FromInt(int64(f.Count))
			switch c.Measure {
			case "hours":
				amount = f.Hours
			case "persons":
				amount = f.Persons
			}
			con := Contribution{CommitmentID: c.ID, PairID: ag.PairID, Period: p}
			if confirmed {
				con.Achieved = amount
			} else {
				con.Pending = amount
			}
			fn(con)
		}
	}
}

// periodOn is the period of kind containing d, as Calendar.Periods builds it.
func (x *contributor) periodOn(kind calendar.PeriodKind, ag *Agreement, d date.Date) (calendar.Period, bool) {
	if kind == calendar.Agreement {
		return calendar.Period{Kind: kind, Key: fmt.Sprintf("agreement-%d", ag.ID), Start: ag.EffectiveFrom, End: ag.EffectiveTo}, true
	}
	k := periodAt{kind, d}
	if hit, ok := x.cache[k]; ok {
		return hit.p, hit.ok
	}
	var hit periodHit
	switch kind {
	case calendar.Month:
		hit = periodHit{calendar.Period{Kind: kind, Key: fmt.Sprintf("%04d-%02d", d.Year(), d.Month()), Start: d.FirstOfMonth(), End: d.LastOfMonth()}, true}
	case calendar.TermPeriod:
		if t, ok := x.cal.TermOn(d); ok {
			hit = periodHit{calendar.Period{Kind: kind, Key: t.Key(), Start: t.StartsOn, End: t.EndsOn}, true}
		}
	case calendar.SchoolYear:
		for _, y := range x.years {
			if !d.Before(y.Start) && !d.After(y.End) {
				hit = periodHit{y, true}
				break
			}
		}
	}
	x.cache[k] = hit
	return hit.p, hit.ok
}
