package calendar

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/date"
)

func d(s string) date.Date { return date.MustParse(s) }

// demoTerms is the calendar of data/demo-programme.yaml, deliberately out of order.
func demoTerms() []Term {
	return []Term{
		{ID: 3, SchoolYear: "2026-2027", Season: Autumn, StartsOn: d("2026-09-01"), EndsOn: d("2027-01-31")},
		{ID: 1, SchoolYear: "2025-2026", Season: Autumn, StartsOn: d("2025-09-01"), EndsOn: d("2026-01-31")},
		{ID: 4, SchoolYear: "2026-2027", Season: Spring, StartsOn: d("2027-02-01"), EndsOn: d("2027-08-31")},
		{ID: 2, SchoolYear: "2025-2026", Season: Spring, StartsOn: d("2026-02-01"), EndsOn: d("2026-08-31")},
	}
}

// oddTerms is a non-default calendar: terms start and end mid-month and
// leave gaps (winter and summer holidays) that belong to no term.
func oddTerms() []Term {
	return []Term{
		{SchoolYear: "2025-2026", Season: Autumn, StartsOn: d("2025-08-25"), EndsOn: d("2026-01-18")},
		{SchoolYear: "2025-2026", Season: Spring, StartsOn: d("2026-02-23"), EndsOn: d("2026-07-10")},
		{SchoolYear: "2026-2027", Season: Autumn, StartsOn: d("2026-08-31"), EndsOn: d("2027-01-22")},
	}
}

// brief renders periods as "key start..end" lines for easy comparison.
func brief(ps []Period) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %s %s..%s", p.Kind, p.Key, p.Start, p.End)
	}
	return b.String()
}

func TestNewSortsAndIsImmutable(t *testing.T) {
	in := demoTerms()
	c := New(in)
	in[0].SchoolYear = "mutated" // the caller's slice is not retained

	got := c.Terms()
	wantIDs := []int64{1, 2, 3, 4}
	if len(got) != len(wantIDs) {
		t.Fatalf("Terms() has %d terms, want %d", len(got), len(wantIDs))
	}
	for i, id := range wantIDs {
		if got[i].ID != id {
			t.Errorf("Terms()[%d].ID = %d, want %d (sorted by StartsOn)", i, got[i].ID, id)
		}
	}
	for _, term := range got {
		if term.SchoolYear == "mutated" {
			t.Errorf("calendar kept a reference to the caller's slice")
		}
	}
	got[0].Season = "mutated" // nor hands out its own
	if c.Terms()[0].Season != Autumn {
		t.Errorf("Terms() returned the calendar's own slice")
	}
	ys := c.SchoolYears()
	ys[0].Key = "mutated"
	if c.SchoolYears()[0].Key != "2025-2026" {
		t.Errorf("SchoolYears() returned the calendar's own slice")
	}
}

func TestTermOn(t *testing.T) {
	demo, odd := New(demoTerms()), New(oddTerms())
	tests := []struct {
		name string
		cal  Calendar
		on   string
		want string // term key, "" for none
	}{
		{"demo first day", demo, "2025-09-01", "2025-2026-autumn"},
		{"demo last day of autumn", demo, "2026-01-31", "2025-2026-autumn"},
		{"demo first day of spring", demo, "2026-02-01", "2025-2026-spring"},
		{"demo mid spring", demo, "2026-02-15", "2025-2026-spring"},
		{"demo next year autumn", demo, "2026-09-01", "2026-2027-autumn"},
		{"demo last day", demo, "2027-08-31", "2026-2027-spring"},
		{"demo before first term", demo, "2025-08-31", ""},
		{"demo after last term", demo, "2027-09-01", ""},
		{"odd autumn starts in August", odd, "2025-08-25", "2025-2026-autumn"},
		{"odd day before autumn", odd, "2025-08-24", ""},
		{"odd winter gap first day", odd, "2026-01-19", ""},
		{"odd winter gap", odd, "2026-02-01", ""},
		{"odd winter gap last day", odd, "2026-02-22", ""},
		{"odd spring first day", odd, "2026-02-23", "2025-2026-spring"},
		{"odd summer gap", odd, "2026-08-01", ""},
		{"odd autumn 2026 starts in August", odd, "2026-08-31", "2026-2027-autumn"},
		{"empty calendar", New(nil), "2026-01-01", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term, ok := tt.cal.TermOn(d(tt.on))
			if tt.want == "" {
				if ok {
					t.Fatalf("TermOn(%s) = %s, want no term", tt.on, term.Key())
				}
				return
			}
			if !ok {
				t.Fatalf("TermOn(%s) found no term, want %s", tt.on, tt.want)
			}
			if term.Key() != tt.want {
				t.Errorf("TermOn(%s) = %s, want %s", tt.on, term.Key(), tt.want)
			}
		})
	}
}

func TestSchoolYears(t *testing.T) {
	tests := []struct {
		name  string
		terms []Term
		want  string
	}{
		{"demo", demoTerms(),
			"school_year 2025-2026 2025-09-01..2026-08-31; school_year 2026-2027 2026-09-01..2027-08-31"},
		{"non-default dates", oddTerms(),
			"school_year 2025-2026 2025-08-25..2026-07-10; school_year 2026-2027 2026-08-31..2027-01-22"},
		{"label not tied to dates", []Term{
			{SchoolYear: "2030-2031", Season: Spring, StartsOn: d("2026-03-01"), EndsOn: d("2026-06-30")},
			{SchoolYear: "2030-2031", Season: Autumn, StartsOn: d("2025-10-01"), EndsOn: d("2026-01-10")},
		}, "school_year 2030-2031 2025-10-01..2026-06-30"},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := brief(New(tt.terms).SchoolYears()); got != tt.want {
				t.Errorf("SchoolYears() = %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestPeriods(t *testing.T) {
	demo, odd := New(demoTerms()), New(oddTerms())
	tests := []struct {
		name     string
		cal      Calendar
		kind     PeriodKind
		from, to string
		want     string
	}{
		{"months across a year boundary", demo, Month, "2025-11-15", "2026-03-02",
			"month 2025-11 2025-11-01..2025-11-30; month 2025-12 2025-12-01..2025-12-31; " +
				"month 2026-01 2026-01-01..2026-01-31; month 2026-02 2026-02-01..2026-02-28; " +
				"month 2026-03 2026-03-01..2026-03-31"},
		{"one day is one month", demo, Month, "2026-10-31", "2026-10-31", "month 2026-10 2026-10-01..2026-10-31"},
		{"leap February", demo, Month, "2028-02-10", "2028-02-10", "month 2028-02 2028-02-01..2028-02-29"},
		{"century non-leap February", demo, Month, "2100-02-01", "2100-02-01", "month 2100-02 2100-02-01..2100-02-28"},
		{"empty range", demo, Month, "2026-03-01", "2026-02-28", ""},

		{"demo terms over the span", demo, TermPeriod, "2025-09-01", "2028-08-31",
			"term 2025-2026-autumn 2025-09-01..2026-01-31; term 2025-2026-spring 2026-02-01..2026-08-31; " +
				"term 2026-2027-autumn 2026-09-01..2027-01-31; term 2026-2027-spring 2027-02-01..2027-08-31"},
		{"terms touching at a boundary", demo, TermPeriod, "2026-01-31", "2026-02-01",
			"term 2025-2026-autumn 2025-09-01..2026-01-31; term 2025-2026-spring 2026-02-01..2026-08-31"},
		{"term overlapped by one day", demo, TermPeriod, "2026-08-31", "2026-08-31",
			"term 2025-2026-spring 2026-02-01..2026-08-31"},
		{"before every term", demo, TermPeriod, "2024-01-01", "2025-08-31", ""},

		{"demo school years", demo, SchoolYear, "2025-09-01", "2028-08-31",
			"school_year 2025-2026 2025-09-01..2026-08-31; school_year 2026-2027 2026-09-01..2027-08-31"},
		{"school year overlapped at its end", demo, SchoolYear, "2027-08-31", "2030-01-01",
			"school_year 2026-2027 2026-09-01..2027-08-31"},

		{"odd term in August", odd, TermPeriod, "2025-08-25", "2025-08-31",
			"term 2025-2026-autumn 2025-08-25..2026-01-18"},
		{"odd range inside the winter gap", odd, TermPeriod, "2026-01-19", "2026-02-22", ""},
		{"odd range inside the summer gap", odd, SchoolYear, "2026-07-11", "2026-08-30", ""},
		{"odd range spanning the summer gap", odd, TermPeriod, "2026-07-10", "2026-08-31",
			"term 2025-2026-spring 2026-02-23..2026-07-10; term 2026-2027-autumn 2026-08-31..2027-01-22"},
		{"odd school year starts in August", odd, SchoolYear, "2025-08-25", "2025-08-25",
			"school_year 2025-2026 2025-08-25..2026-07-10"},

		{"agreement is the range itself", demo, Agreement, "2025-09-10", "2028-08-31",
			"agreement agreement-42 2025-09-10..2028-08-31"},
		{"unknown kind", demo, PeriodKind("week"), "2025-09-01", "2026-09-01", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := brief(tt.cal.Periods(tt.kind, d(tt.from), d(tt.to), 42))
			if got != tt.want {
				t.Errorf("Periods(%s, %s, %s) =\n  %q\nwant\n  %q", tt.kind, tt.from, tt.to, got, tt.want)
			}
		})
	}
}

func TestMonthPeriodsManyYears(t *testing.T) {
	ps := New(nil).Periods(Month, d("1999-12-31"), d("2031-01-01"), 0)
	if len(ps) != 12*31+2 {
		t.Fatalf("got %d months, want %d", len(ps), 12*31+2)
	}
	want := date.New(1999, time.December, 1)
	for i, p := range ps {
		if p.Kind != Month {
			t.Fatalf("period %d has kind %q", i, p.Kind)
		}
		if p.Start != want {
			t.Fatalf("period %d starts %s, want %s", i, p.Start, want)
		}
		if p.End != want.LastOfMonth() {
			t.Fatalf("period %d ends %s, want %s", i, p.End, want.LastOfMonth())
		}
		if key := fmt.Sprintf("%04d-%02d", want.Year(), int(want.Month())); p.Key != key {
			t.Fatalf("period %d key %q, want %q", i, p.Key, key)
		}
		want = date.New(want.Year(), want.Month()+1, 1)
	}
}

func TestValidateSchoolYear(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"2026-2027", true},
		{"2025-2026", true},
		{"1999-2000", true},
		{"2026-2026", false},
		{"2026-2028", false},
		{"2027-2026", false},
		{"2026/2027", false},
		{"2026–2027", false}, // en dash
		{"26-27", false},
		{"2026-27", false},
		{" 2026-2027", false},
		{"2026-2027 ", false},
		{"20a6-2027", false},
		{"", false},
		{"２０２６-２０２７", false}, // full-width digits
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := ValidateSchoolYear(tt.in)
			if tt.ok && err != nil {
				t.Errorf("ValidateSchoolYear(%q) = %v, want nil", tt.in, err)
			}
			if !tt.ok {
				if err == nil {
					t.Fatalf("ValidateSchoolYear(%q) = nil, want an error", tt.in)
				}
				if !strings.Contains(err.Error(), "2026-2027") || !strings.Contains(err.Error(), "consecutive") {
					t.Errorf("error %q does not explain the form", err)
				}
			}
		})
	}
}

func TestValidSeason(t *testing.T) {
	for s, want := range map[string]bool{"autumn": true, "spring": true, "Autumn": false, "summer": false, "": false} {
		if got := ValidSeason(s); got != want {
			t.Errorf("ValidSeason(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestDefaultTerms(t *testing.T) {
	got := DefaultTerms(2025, 2026)
	want := New(demoTerms()).Terms()
	if len(got) != len(want) {
		t.Fatalf("DefaultTerms(2025, 2026) has %d terms, want %d", len(got), len(want))
	}
	for i := range want {
		w := want[i]
		w.ID = 0
		if got[i] != w {
			t.Errorf("term %d = %+v, want %+v", i, got[i], w)
		}
	}
	if n := len(DefaultTerms(2025, 2025)); n != 2 {
		t.Errorf("DefaultTerms(2025, 2025) has %d terms, want 2", n)
	}
	if n := len(DefaultTerms(2026, 2025)); n != 0 {
		t.Errorf("DefaultTerms(2026, 2025) has %d terms, want 0", n)
	}
	// Leap year: spring of 2027-2028 includes 29 Feb 2028 without trouble.
	c := New(DefaultTerms(2020, 2030))
	if term, ok := c.TermOn(d("2028-02-29")); !ok || term.Key() != "2027-2028-spring" {
		t.Errorf("TermOn(2028-02-29) = %v %v, want 2027-2028-spring", term.Key(), ok)
	}
	for _, term := range c.Terms() {
		if err := ValidateSchoolYear(term.SchoolYear); err != nil || !ValidSeason(term.Season) {
			t.Errorf("default term %+v is not valid", term)
		}
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a1, a2, b1, b2 string
		want           bool
	}{
		{"2026-01-01", "2026-01-31", "2026-01-31", "2026-02-28", true}, // one shared day
		{"2026-01-01", "2026-01-31", "2026-02-01", "2026-02-28", false},
		{"2026-02-01", "2026-02-28", "2026-01-01", "2026-01-31", false},
		{"2026-01-01", "2026-12-31", "2026-05-05", "2026-05-05", true}, // contained
		{"2026-05-05", "2026-05-05", "2026-01-01", "2026-12-31", true}, // containing
		{"2026-05-05", "2026-05-05", "2026-05-05", "2026-05-05", true},
	}
	for _, tt := range tests {
		if got := Overlaps(d(tt.a1), d(tt.a2), d(tt.b1), d(tt.b2)); got != tt.want {
			t.Errorf("Overlaps(%s..%s, %s..%s) = %v, want %v", tt.a1, tt.a2, tt.b1, tt.b2, got, tt.want)
		}
	}
}

func BenchmarkPeriodsMonth(b *testing.B) {
	c := New(DefaultTerms(2025, 2027))
	from, to := d("2025-09-01"), d("2028-08-31")
	for b.Loop() {
		_ = c.Periods(Month, from, to, 1)
	}
}
