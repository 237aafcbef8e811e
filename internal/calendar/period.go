package calendar

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twinning-platform/twinning/internal/date"
)

// Calendar is an immutable set of terms with the period arithmetic built on
// them. Build it with New; the zero value is an empty calendar (no terms, no
// school years; months and agreement periods still work).
type Calendar struct {
	terms []Term   // sorted by StartsOn
	tps   []Period // the terms as periods, same order as terms
	years []Period // school years, sorted by Start
}

// New copies terms, sorts them by StartsOn and precomputes the term and
// school-year periods. The caller's slice is not retained.
func New(terms []Term) Calendar {
	ts := slices.Clone(terms)
	slices.SortStableFunc(ts, func(a, b Term) int {
		if c := a.StartsOn.Compare(b.StartsOn); c != 0 {
			return c
		}
		return a.EndsOn.Compare(b.EndsOn)
	})
	c := Calendar{terms: ts}
	if len(ts) == 0 {
		return c
	}
	c.tps = make([]Period, len(ts))
	for i, t := range ts {
		c.tps[i] = Period{Kind: TermPeriod, Key: t.Key(), Start: t.StartsOn, End: t.EndsOn}
	}
	index := make(map[string]int)
	for _, t := range ts {
		i, ok := index[t.SchoolYear]
		if !ok {
			index[t.SchoolYear] = len(c.years)
			c.years = append(c.years, Period{Kind: SchoolYear, Key: t.SchoolYear, Start: t.StartsOn, End: t.EndsOn})
			continue
		}
		y := &c.years[i]
		y.Start = date.Min(y.Start, t.StartsOn)
		y.End = date.Max(y.End, t.EndsOn)
	}
	// Terms are visited by start, so the first term of a label is its
	// earliest one and years are already in Start order; sort anyway to
	// keep the invariant explicit and ties deterministic.
	slices.SortStableFunc(c.years, func(a, b Period) int {
		if x := a.Start.Compare(b.Start); x != 0 {
			return x
		}
		return strings.Compare(a.Key, b.Key)
	})
	return c
}

// Terms returns a copy of the terms, sorted by StartsOn.
func (c Calendar) Terms() []Term { return slices.Clone(c.terms) }

// TermOn returns the term containing d. Dates outside every term (a gap
// between terms, or before the first / after the last) belong to none.
func (c Calendar) TermOn(d date.Date) (Term, bool) {
	// Index of the first term starting after d; candidates are before it.
	i, _ := slices.BinarySearchFunc(c.terms, d, func(t Term, d date.Date) int {
		if t.StartsOn.After(d) {
			return 1
		}
		return -1
	})
	// Terms must not overlap, so the nearest candidate is the answer; the
	// backward scan only matters for a calendar that breaks that rule.
	for j := i - 1; j >= 0; j-- {
		if !c.terms[j].EndsOn.Before(d) {
			return c.terms[j], true
		}
	}
	return Term{}, false
}

// SchoolYears returns one period per distinct school_year label, spanning
// the earliest start to the latest end of the terms carrying it, sorted by
// Start.
func (c Calendar) SchoolYears() []Period { return slices.Clone(c.years) }

// Periods returns every period of kind that overlaps the closed range
// [from, to], sorted by Start. Month, term and school-year periods are whole
// (they may extend beyond the range); an Agreement period is exactly
// [from, to] with key "agreement-<agreementID>". An empty range (to before
// from) or an unknown kind yields nil.
func (c Calendar) Periods(kind PeriodKind, from, to date.Date, agreementID int64) []Period {
	if to.Before(from) {
		return nil
	}
	switch kind {
	case Month:
		return months(from, to)
	case TermPeriod:
		return overlapping(c.tps, from, to)
	case SchoolYear:
		return overlapping(c.years, from, to)
	case Agreement:
		return []Period{{Kind: Agreement, Key: fmt.Sprintf("agreement-%d", agreementID), Start: from, End: to}}
	}
	return nil
}

// overlapping copies the periods of ps (sorted by Start) that overlap
// [from, to].
func overlapping(ps []Period, from, to date.Date) []Period {
	var out []Period
	for _, p := range ps {
		if p.Start.After(to) {
			break
		}
		if !p.End.Before(from) {
			out = append(out, p)
		}
	}
	return out
}

// months returns the calendar months overlapping [from, to] (from <= to).
// All keys share one backing string, so a call costs two allocations
// whatever the number of months.
func months(from, to date.Date) []Period {
	y, m := from.Year(), from.Month()
	ty, tm := to.Year(), to.Month()
	n := (ty-y)*12 + int(tm-m) + 1
	out := make([]Period, 0, n)
	if y < 0 || ty > 9999 {
		for i := 0; i < n; i++ {
			first := date.New(y, m+time.Month(i), 1)
			out = append(out, Period{Kind: Month, Key: fmt.Sprintf("%04d-%02d", first.Year(), int(first.Month())),
				Start: first, End: first.LastOfMonth()})
		}
		return out
	}
	var b strings.Builder
	b.Grow(7 * n)
	for i := 0; i < n; i++ {
		b.WriteByte(byte('0' + y/1000%10))
		b.WriteByte(byte('0' + y/100%10))
		b.WriteByte(byte('0' + y/10%10))
		b.WriteByte(byte('0' + y%10))
		b.WriteByte('-')
		b.WriteByte(byte('0' + int(m)/10))
		b.WriteByte(byte('0' + int(m)%10))
		out = append(out, Period{Kind: Month, Start: date.New(y, m, 1), End: date.New(y, m, daysIn(y, m))})
		if m == time.December {
			y, m = y+1, time.January
		} else {
			m++
		}
	}
	keys := b.String()
	for i := range out {
		out[i].Key = keys[7*i : 7*i+7]
	}
	return out
}

func daysIn(y int, m time.Month) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// ValidateSchoolYear checks a school_year label: "YYYY-YYYY" with the second
// year the one after the first, e.g. "2026-2027".
func ValidateSchoolYear(s string) error {
	bad := errors.New("must look like 2026-2027 (two consecutive years)")
	if len(s) != 9 || s[4] != '-' {
		return bad
	}
	a, ok1 := digits4(s[:4])
	b, ok2 := digits4(s[5:])
	if !ok1 || !ok2 || b != a+1 {
		return bad
	}
	return nil
}

func digits4(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int(ch-'0')
	}
	return n, true
}

// ValidSeason reports whether s is "autumn" or "spring".
func ValidSeason(s string) bool { return s == Autumn || s == Spring }

// DefaultTerms returns the default calendar for the school years starting
// in fromYear through toYear inclusive: for each Y, autumn Y-09-01 to
// (Y+1)-01-31 and spring (Y+1)-02-01 to (Y+1)-08-31, labelled "Y-(Y+1)".
// DefaultTerms(2025, 2026) yields 2025-2026 and 2026-2027. IDs are zero.
func DefaultTerms(fromYear, toYear int) []Term {
	if toYear < fromYear {
		return nil
	}
	out := make([]Term, 0, 2*(toYear-fromYear+1))
	for y := fromYear; y <= toYear; y++ {
		label := fmt.Sprintf("%04d-%04d", y, y+1)
		out = append(out,
			Term{SchoolYear: label, Season: Autumn,
				StartsOn: date.New(y, time.September, 1), EndsOn: date.New(y+1, time.January, 31)},
			Term{SchoolYear: label, Season: Spring,
				StartsOn: date.New(y+1, time.February, 1), EndsOn: date.New(y+1, time.August, 31)},
		)
	}
	return out
}

// Overlaps reports whether the closed ranges [aFrom, aTo] and [bFrom, bTo]
// share at least one day.
func Overlaps(aFrom, aTo, bFrom, bTo date.Date) bool {
	return !aTo.Before(bFrom) && !bTo.Before(aFrom)
}
