package compliance

import (
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/date"
)

// Decided tells a sweep as of one date which agreements it must record as
// decided through that date (Agreement.DecidedThrough): those for which
// recording it changes what a later sweep evaluates.
//
// Mode Undecided evaluates, per agreement, the started periods that
// overlap [min(DecidedThrough, At) − GraceDays − 1, At]. Moving
// DecidedThrough from d to at drops from that window exactly the periods
// ending in [d − GraceDays − 1, at − GraceDays − 1): the ones whose books
// closed in between. When none of the agreement's periods can end there —
// no month, term or school year of the calendar, and not the agreement's
// own end (where every period of it is clipped) — every sweep on any date
// evaluates the agreement exactly as if it had been recorded. Such an
// agreement is left as it is: on most days that is every agreement, and a
// province's sweep no longer writes fifty thousand rows a day (a large
// Galera write set, in conflict with every agreement edited meanwhile) to
// change nothing. Periods of a kind the agreement does not use count too:
// a superset is always safe, it only records more often.
type Decided struct {
	rules Rules
	cal   calendar.Calendar
	at    date.Date
	// by DecidedThrough: whether a calendar period ends in the gap
	ends map[date.Date]bool
}

// NewDecided is Decided for a sweep as of at.
func NewDecided(rules Rules, cal calendar.Calendar, at date.Date) *Decided {
	return &Decided{rules: rules, cal: cal, at: at, ends: map[date.Date]bool{}}
}

// MustRecord reports whether ag's DecidedThrough must become the sweep's
// date: never recorded, or a period of it closed its books since. It
// never moves the date back (a check of an earlier day).
func (d *Decided) MustRecord(ag *Agreement) bool {
	through := ag.DecidedThrough
	if through.IsZero() {
		return true
	}
	if !through.Before(d.at) {
		return false
	}
	lo := through.AddDays(-d.rules.GraceDays - 1)
	hi := d.at.AddDays(-d.rules.GraceDays - 1)
	if endsIn(ag.EffectiveTo, lo, hi) {
		return true
	}
	v, ok := d.ends[through]
	if !ok {
		v = d.calendarEndsIn(lo, hi)
		d.ends[through] = v
	}
	return v
}

// calendarEndsIn reports whether a month, term or school year ends in
// [lo, hi).
func (d *Decided) calendarEndsIn(lo, hi date.Date) bool {
	if !lo.Before(hi) {
		return false
	}
	for _, k := range []calendar.PeriodKind{calendar.Month, calendar.TermPeriod, calendar.SchoolYear} {
		for _, p := range d.cal.Periods(k, lo, hi, 0) {
			if endsIn(p.End, lo, hi) {
				return true
			}
		}
	}
	return false
}

// endsIn reports whether end (zero: never) is in [lo, hi).
func endsIn(end, lo, hi date.Date) bool {
	return !end.IsZero() && !end.Before(lo) && end.Before(hi)
}
