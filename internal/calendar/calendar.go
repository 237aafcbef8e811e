// Package calendar holds terms (学期) and the period arithmetic every
// quota is measured in: calendar months, terms, school years (the span of
// the terms carrying one school_year label) and whole agreements.
package calendar

import (
	"github.com/twinning-platform/twinning/internal/date"
)

// Seasons of a term.
const (
	Autumn = "autumn"
	Spring = "spring"
)

// Term is one 学期. Its dates are whatever the calendar says; nothing may
// assume particular months or tie the school_year label to the dates.
type Term struct {
	ID         int64     `json:"id" gorm:"primaryKey"`
	SchoolYear string    `json:"school_year"`
	Season     string    `json:"season"`
	StartsOn   date.Date `json:"starts_on"`
	EndsOn     date.Date `json:"ends_on"`
}

// Key is the term's period key, e.g. "2026-2027-autumn".
func (t Term) Key() string { return t.SchoolYear + "-" + t.Season }

// PeriodKind is the unit a commitment is measured in.
type PeriodKind string

const (
	Month      PeriodKind = "month"
	TermPeriod PeriodKind = "term"
	SchoolYear PeriodKind = "school_year"
	Agreement  PeriodKind = "agreement"
)

// Valid reports whether k is a known period kind.
func (k PeriodKind) Valid() bool {
	switch k {
	case Month, TermPeriod, SchoolYear, Agreement:
		return true
	}
	return false
}

// Period is one concrete, closed date range with its stable key
// ("2026-10", "2026-2027-autumn", "2026-2027", "agreement-12").
type Period struct {
	Kind  PeriodKind
	Key   string
	Start date.Date
	End   date.Date
}

// Days is the number of days in the period, both ends included.
func (p Period) Days() int { return p.Start.DaysUntil(p.End) + 1 }

// DefaultYear is the first calendar year of the default school year (1 Sep
// – 31 Aug) containing d: DefaultTerms(DefaultYear(d), …) starts there.
func DefaultYear(d date.Date) int {
	if d.Month() < 9 {
		return d.Year() - 1 // January–August belong to the school year that began last September
	}
	return d.Year()
}
