package compliance

import (
	"fmt"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/category"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
)

// folder is the full recompute's inner loop: it folds one activity after
// another into totals. It computes what contributor.each does (the test of
// the read model checks one against the other) with everything a row
// touches turned into integers first — category bits, day numbers,
// interned periods — because it runs for every activity of the programme.
type folder struct {
	grace  int
	cal    calendar.Calendar
	years  []calendar.Period
	bits   map[string]uint16
	byPair map[int64][]foldAgreement
	// periods are interned: a kind and a day map to an index
	periods []foldPeriod
	// byDay[kind][day − firstDay] is the period index +1 (0: not looked up
	// yet, -1: none), for month, term and school year: an array index per
	// row instead of a map lookup.
	byDay    [3][]int32
	firstDay int
	// slots[c] holds the totals of commitment slot c, one entry per period
	// seen: a commitment touches a few dozen periods at most.
	slots [][]foldEntry
	pairs []int64 // pair id of each slot
}

type foldEntry struct {
	period            int32
	achieved, pending decimal.D
}

type foldAgreement struct {
	from, to    int
	period      int32 // the agreement period, interned
	pairID      int64
	commitments []foldCommitment
}

type foldCommitment struct {
	id      int64
	slot    int32
	mask    uint16
	kind    int // 0 month, 1 term, 2 school year, 3 agreement
	measure uint8
}

type foldPeriod struct {
	p      calendar.Period
	startN int
	endN   int
}

func newFolder(rules Rules, cal calendar.Calendar, byPair map[int64][]Agreement) *folder {
	f := &folder{grace: rules.GraceDays, cal: cal, years: cal.SchoolYears(), bits: map[string]uint16{},
		byPair: make(map[int64][]foldAgreement, len(byPair)), firstDay: dayNum(date.New(date.MinYear, 1, 1))}
	for i, c := range category.All() {
		f.bits[c] = 1 << i
	}
	for pairID, ags := range byPair {
		out := make([]foldAgreement, len(ags))
		for i, ag := range ags {
			fa := foldAgreement{from: dayNum(ag.EffectiveFrom), to: dayNum(ag.EffectiveTo), pairID: pairID,
				period: f.intern(calendar.Period{Kind: calendar.Agreement, Key: fmt.Sprintf("agreement-%d", ag.ID), Start: ag.EffectiveFrom, End: ag.EffectiveTo})}
			for _, c := range ag.Commitments {
				fc := foldCommitment{id: c.ID, kind: kindIndex(c.Period), slot: int32(len(f.slots))}
				f.slots = append(f.slots, nil)
				f.pairs = append(f.pairs, pairID)
				for _, cat := range c.Categories {
					fc.mask |= f.bits[cat]
				}
				switch c.Measure {
				case "hours":
					fc.measure = 1
				case "persons":
					fc.measure = 2
				}
				if fc.kind >= 0 {
					fa.commitments = append(fa.commitments, fc)
				}
			}
			out[i] = fa
		}
		f.byPair[pairID] = out
	}
	return f
}

func (f *folder) intern(p calendar.Period) int32 {
	f.periods = append(f.periods, foldPeriod{p: p, startN: dayNum(p.Start), endN: dayNum(p.End)})
	return int32(len(f.periods) - 1)
}

// periodOn is the interned period of kind (0–2) containing day d (dn its
// day number), or -1.
func (f *folder) periodOn(kind int, d date.Date, dn int) int32 {
	i := dn - f.firstDay
	if i < 0 {
		return -1
	}
	if i >= len(f.byDay[kind]) {
		grown := make([]int32, i+366)
		copy(grown, f.byDay[kind])
		f.byDay[kind] = grown
	}
	if v := f.byDay[kind][i]; v != 0 {
		if v < 0 {
			return -1
		}
		return v - 1
	}
	var p calendar.Period
	ok := false
	switch kind {
	case 0:
		p, ok = calendar.Period{Kind: calendar.Month, Key: fmt.Sprintf("%04d-%02d", d.Year(), d.Month()), Start: d.FirstOfMonth(), End: d.LastOfMonth()}, true
	case 1:
		if t, found := f.cal.TermOn(d); found {
			p, ok = calendar.Period{Kind: calendar.TermPeriod, Key: t.Key(), Start: t.StartsOn, End: t.EndsOn}, true
		}
	case 2:
		for _, y := range f.years {
			if !d.Before(y.Start) && !d.After(y.End) {
				p, ok = y, true
				break
			}
		}
	}
	idx := int32(-1)
	if ok {
		// one index per period, whatever day found it
		for i := range f.periods {
			if f.periods[i].p.Kind == p.Kind && f.periods[i].p.Key == p.Key {
				idx = int32(i)
				break
			}
		}
		if idx < 0 {
			idx = f.intern(p)
		}
	}
	if idx < 0 {
		f.byDay[kind][i] = -1
	} else {
		f.byDay[kind][i] = idx + 1
	}
	return idx
}

// add folds one activity in.
func (f *folder) add(a *Fact) {
	ags := f.byPair[a.PairID]
	if len(ags) == 0 {
		return
	}
	confirmed := a.Status == "confirmed"
	if !confirmed && a.Status != "pending" {
		return
	}
	bit := f.bits[a.Category]
	occ, logged := dayNum(a.OccurredOn), dayNum(a.LoggedOn)
	for ai := range ags {
		ag := &ags[ai]
		if occ < ag.from || occ > ag.to {
			continue
		}
		for ci := range ag.commitments {
			c := &ag.commitments[ci]
			if c.mask&bit == 0 {
				continue
			}
			pi := ag.period
			if c.kind < 3 {
				if pi = f.periodOn(c.kind, a.OccurredOn, occ); pi < 0 {
					continue
				}
			}
			if !a.Imported && logged > f.periods[pi].endN+f.grace {
				continue
			}
			amount := decimal.FromInt(int64(a.Count))
			switch c.measure {
			case 1:
				amount = a.Hours
			case 2:
				amount = a.Persons
			}
			es := f.slots[c.slot]
			j := len(es) - 1
			for j >= 0 && es[j].period != pi { // recent periods are at the end
				j--
			}
			if j < 0 {
				es = append(es, foldEntry{period: pi})
				f.slots[c.slot] = es
				j = len(es) - 1
			}
			if confirmed {
				es[j].achieved += amount
			} else {
				es[j].pending += amount
			}
		}
	}
}

// totals returns what was folded, as rows of the read model.
func (f *folder) totals() map[TotalKey]*totalRow {
	out := map[TotalKey]*totalRow{}
	for _, ags := range f.byPair {
		for _, ag := range ags {
			for _, c := range ag.commitments {
				for _, e := range f.slots[c.slot] {
					p := f.periods[e.period].p
					out[TotalKey{c.id, p.Key}] = &totalRow{CommitmentID: c.id, PeriodKey: p.Key, PairID: f.pairs[c.slot],
						PeriodStart: p.Start, PeriodEnd: p.End, Achieved: e.achieved, Pending: e.pending}
				}
			}
		}
	}
	return out
}
