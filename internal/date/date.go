// Package date holds Date, a local calendar date without time or zone.
//
// Every rule of the programme (periods, grace days, "not in the future") is
// stated in local dates of the programme's time zone, so the domain never
// handles time.Time for them: a Date cannot drift across midnight when a
// server runs in UTC.
package date

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// Layout is the only textual form of a Date, in JSON, SQL and URLs.
const Layout = "2006-01-02"

// Date is a proleptic Gregorian calendar date. The zero value is "no date".
type Date struct {
	y int
	m time.Month
	d int
}

// New returns the date y-m-d, normalising out-of-range values like time.Date.
func New(y int, m time.Month, d int) Date {
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return Date{t.Year(), t.Month(), t.Day()}
}

// Of returns the calendar date of t in loc.
func Of(t time.Time, loc *time.Location) Date {
	t = t.In(loc)
	return Date{t.Year(), t.Month(), t.Day()}
}

// Years a programme date may have: wide enough for any history or plan,
// narrow enough that a typo (0202-09-01) cannot make a month commitment
// span thousands of periods.
const (
	MinYear = 1990
	MaxYear = 2199
)

// Parse reads a YYYY-MM-DD date between MinYear and MaxYear.
func Parse(s string) (Date, error) {
	t, err := time.Parse(Layout, s)
	if err != nil {
		return Date{}, fmt.Errorf("must be a date in the form YYYY-MM-DD")
	}
	if t.Year() < MinYear || t.Year() > MaxYear {
		return Date{}, fmt.Errorf("must be a date between %d and %d", MinYear, MaxYear)
	}
	return Date{t.Year(), t.Month(), t.Day()}, nil
}

// MustParse is Parse for constants in tests and seed data.
func MustParse(s string) Date {
	d, err := Parse(s)
	if err != nil {
		panic(fmt.Sprintf("date.MustParse(%q): %v", s, err))
	}
	return d
}

func (d Date) IsZero() bool      { return d.y == 0 && d.m == 0 && d.d == 0 }
func (d Date) Year() int         { return d.y }
func (d Date) Month() time.Month { return d.m }
func (d Date) Day() int          { return d.d }

// Time is midnight of d in UTC; only for arithmetic.
func (d Date) Time() time.Time { return time.Date(d.y, d.m, d.d, 0, 0, 0, 0, time.UTC) }

func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.y, d.m, d.d)
}

// AddDays returns d shifted by n days.
func (d Date) AddDays(n int) Date { return New(d.y, d.m, d.d+n) }

// AddMonths returns the first day of the month n months after d's month.
func (d Date) FirstOfMonth() Date { return Date{d.y, d.m, 1} }

// LastOfMonth returns the last day of d's month.
func (d Date) LastOfMonth() Date { return New(d.y, d.m+1, 0) }

// DaysUntil returns the number of days from d to e (negative when e is before d).
func (d Date) DaysUntil(e Date) int {
	return int(e.Time().Sub(d.Time()).Hours() / 24)
}

func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }
func (d Date) After(e Date) bool  { return d.Compare(e) > 0 }

// Compare returns -1, 0 or +1.
func (d Date) Compare(e Date) int {
	switch {
	case d.y != e.y:
		return cmp(d.y, e.y)
	case d.m != e.m:
		return cmp(int(d.m), int(e.m))
	default:
		return cmp(d.d, e.d)
	}
}

func cmp(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Min and Max of two dates.
func Min(a, b Date) Date {
	if a.Before(b) {
		return a
	}
	return b
}

func Max(a, b Date) Date {
	if a.After(b) {
		return a
	}
	return b
}

// MarshalJSON writes "YYYY-MM-DD", or null for the zero date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

// UnmarshalJSON reads "YYYY-MM-DD", or null or "" for no date.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be a date in the form YYYY-MM-DD")
	}
	if s == "" { // an empty string clears an optional date
		*d = Date{}
		return nil
	}
	p, err := Parse(s)
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// Value stores a Date as 'YYYY-MM-DD' text, which MySQL accepts for DATE
// columns and which sorts correctly in SQLite TEXT columns.
func (d Date) Value() (driver.Value, error) {
	if d.IsZero() {
		return nil, nil
	}
	return d.String(), nil
}

// Scan accepts what either driver returns for a date column.
func (d *Date) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d = Date{}
		return nil
	case time.Time:
		*d = Date{v.Year(), v.Month(), v.Day()}
		return nil
	case string:
		return d.scanText(v)
	case []byte:
		return d.scanText(string(v))
	}
	return fmt.Errorf("date: cannot scan %T", src)
}

func (d *Date) scanText(s string) error {
	if len(s) > len(Layout) {
		s = s[:len(Layout)]
	}
	p, err := Parse(s)
	if err != nil {
		return fmt.Errorf("date: cannot scan %q", s)
	}
	*d = p
	return nil
}
