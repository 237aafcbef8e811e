package compliance

import (
	"fmt"
	"sort"

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
//
// The rows arrive in table order, i.e. pairs at random: the layout keeps
// the cache misses per row few. A pair is an array index (pair ids are
// dense), its agreements and their commitments sit in two flat arrays, and
// a commitment carries its own sums (no second lookup by slot).
type folder struct {
	grace int
	cal   calendar.Calendar
	years []calendar.Period
	// pair id − pairLo → 1 + index into spans (0: no agreement); sparse
	// instead when the ids are too spread out for an array
	pairLo int64
	dense  []int32
	sparse map[int64]int32
	spans  []foldSpan
	ags    []foldAgreement
	coms   []foldCommitment
	// periods are interned: a kind and a day map to an index
	periods []foldPeriod
	terms   []calendar.Term // the calendar's, in its order: a term's ordinal
	// named finds the month, term and school-year periods interned so
	// far by kind and key (agreement periods, one per agreement, are
	// interned once and never looked up)
	named map[periodName]int32
	// byDay[kind][day − firstDay] is the period index +1 (0: not looked up
	// yet, -1: none), for month, term and school year: an array index per
	// row instead of a map lookup.
	byDay    [3][]int32
	firstDay int
}

type foldSpan struct{ lo, hi int32 } // agreements ags[lo:hi] of one pair

type foldEntry struct {
	period            int32 // interned index +1; 0: no activity in this period
	achieved, pending decimal.D
}

type foldAgreement struct {
	from, to int
	period   int32 // the agreement period, interned
	lo, hi   int32 // its commitments coms[lo:hi]
}

type foldCommitment struct {
	mask    uint16
	kind    int8 // 0 month, 1 term, 2 school year, 3 agreement
	measure uint8
	// es holds the totals by period: es[o − base] for the period of
	// ordinal o (see foldPeriod.ord), from the first to the last period
	// seen — an index instead of a search per row.
	es     []foldEntry
	base   int32
	n      int32 // len(es) once allocated: the periods of the agreement's span
	id     int64
	pairID int64
}

type periodName struct {
	kind calendar.PeriodKind
	key  string
}

type foldPeriod struct {
	p      calendar.Period
	startN int
	endN   int
	// ord numbers the periods of one kind in calendar order, without gaps
	// between neighbours: months y·12+m, terms and school years their
	// index in the calendar, an agreement 0
	ord int32
}

// foldFact is one activity row as the folder needs it: no strings (the
// batches in flight hold no pointers for the collector to scan).
type foldFact struct {
	pair      int64
	occurred  date.Date
	occ       int32 // day numbers
	logged    int32
	bit       uint16 // the category's bit, 0 when unknown
	confirmed bool   // else pending
	imported  bool
	hours     decimal.D
	persons   decimal.D
}

// categoryBits gives each category code a bit of a commitment's mask.
func categoryBits() map[string]uint16 {
	bits := map[string]uint16{}
	for i, c := range category.All() {
		bits[c] = 1 << i
	}
	return bits
}

// factOf turns a scanned row into a foldFact; ok is false for a row that
// counts nowhere (neither confirmed nor pending).
func factOf(bits map[string]uint16, a *activityFact) (foldFact, bool) {
	confirmed := a.Status == "confirmed"
	if !confirmed && a.Status != "pending" {
		return foldFact{}, false
	}
	return foldFact{pair: a.PairID, occurred: a.OccurredOn, occ: int32(dayNum(a.OccurredOn)), logged: int32(dayNum(a.LoggedOn)),
		bit: bits[a.Category], confirmed: confirmed, imported: a.Imported, hours: a.Hours, persons: a.Persons}, true
}

func newFolder(rules Rules, cal calendar.Calendar, byPair map[int64][]Agreement) *folder {
	f := &folder{grace: rules.GraceDays, cal: cal, years: cal.SchoolYears(), terms: cal.Terms(), named: map[periodName]int32{}, firstDay: dayNum(date.New(date.MinYear, 1, 1))}
	bits := categoryBits()
	pairIDs := make([]int64, 0, len(byPair))
	nAgs, nComs := 0, 0
	for pairID, ags := range byPair {
		pairIDs = append(pairIDs, pairID)
		nAgs += len(ags)
		for _, ag := range ags {
			nComs += len(ag.Commitments)
		}
	}
	// pairs in id order: the arrays then follow the table's usual order
	sort.Slice(pairIDs, func(i, j int) bool { return pairIDs[i] < pairIDs[j] })
	if len(pairIDs) > 0 {
		lo, hi := pairIDs[0], pairIDs[len(pairIDs)-1]
		if hi-lo < int64(8*len(pairIDs)+4096) {
			f.pairLo, f.dense = lo, make([]int32, hi-lo+1)
		} else {
			f.sparse = make(map[int64]int32, len(pairIDs))
		}
	}
	f.spans = make([]foldSpan, 0, len(pairIDs))
	f.ags = make([]foldAgreement, 0, nAgs)
	f.coms = make([]foldCommitment, 0, nComs)
	for _, pairID := range pairIDs {
		span := foldSpan{lo: int32(len(f.ags))}
		for _, ag := range byPair[pairID] {
			fa := foldAgreement{from: dayNum(ag.EffectiveFrom), to: dayNum(ag.EffectiveTo), lo: int32(len(f.coms)),
				period: f.intern(calendar.Period{Kind: calendar.Agreement, Key: fmt.Sprintf("agreement-%d", ag.ID), Start: ag.EffectiveFrom, End: ag.EffectiveTo}, 0)}
			for _, c := range ag.Commitments {
				kind := kindIndex(c.Period)
				if kind < 0 {
					continue
				}
				fc := foldCommitment{id: c.ID, pairID: pairID, kind: int8(kind)}
				fc.base, fc.n = f.span(kind, ag.EffectiveFrom, ag.EffectiveTo)
				for _, cat := range c.Categories {
					fc.mask |= bits[cat]
				}
				switch c.Measure {
				case "hours":
					fc.measure = 1
				case "persons":
					fc.measure = 2
				}
				f.coms = append(f.coms, fc)
			}
			fa.hi = int32(len(f.coms))
			f.ags = append(f.ags, fa)
		}
		span.hi = int32(len(f.ags))
		f.spans = append(f.spans, span)
		if f.dense != nil {
			f.dense[pairID-f.pairLo] = int32(len(f.spans))
		} else {
			f.sparse[pairID] = int32(len(f.spans))
		}
	}
	return f
}

func (f *folder) intern(p calendar.Period, ord int32) int32 {
	f.periods = append(f.periods, foldPeriod{p: p, startN: dayNum(p.Start), endN: dayNum(p.End), ord: ord})
	return int32(len(f.periods) - 1)
}

// periodOn is the interned period of kind (0–2) containing day d (dn its
// day number), or -1.
func (f *folder) periodOn(kind int8, d date.Date, dn int) int32 {
	i := dn - f.firstDay
	if i < 0 {
		return -1
	}
	if i < len(f.byDay[kind]) {
		if v := f.byDay[kind][i]; v != 0 {
			if v < 0 {
				return -1
			}
			return v - 1
		}
	}
	return f.lookUp(kind, d, i)
}

// lookUp is periodOn's first look at a day.
func (f *folder) lookUp(kind int8, d date.Date, i int) int32 {
	if i >= len(f.byDay[kind]) {
		grown := make([]int32, i+366)
		copy(grown, f.byDay[kind])
		f.byDay[kind] = grown
	}
	var p calendar.Period
	var ord int32
	ok := false
	switch kind {
	case 0:
		p, ok = calendar.Period{Kind: calendar.Month, Key: fmt.Sprintf("%04d-%02d", d.Year(), d.Month()), Start: d.FirstOfMonth(), End: d.LastOfMonth()}, true
		ord = int32(d.Year()*12 + int(d.Month()) - 1)
	case 1:
		if t, found := f.cal.TermOn(d); found {
			p, ok = calendar.Period{Kind: calendar.TermPeriod, Key: t.Key(), Start: t.StartsOn, End: t.EndsOn}, true
			for j := range f.terms {
				if f.terms[j].Key() == t.Key() {
					ord = int32(j)
					break
				}
			}
		}
	case 2:
		for j, y := range f.years {
			if !d.Before(y.Start) && !d.After(y.End) {
				p, ok, ord = y, true, int32(j)
				break
			}
		}
	}
	idx := int32(-1)
	if ok {
		// one index per period, whatever day found it
		var found bool
		if idx, found = f.named[periodName{p.Kind, p.Key}]; !found {
			idx = f.intern(p, ord)
			f.named[periodName{p.Kind, p.Key}] = idx
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
func (f *folder) add(a *foldFact) {
	var s int32
	if f.dense != nil {
		if i := a.pair - f.pairLo; i >= 0 && i < int64(len(f.dense)) {
			s = f.dense[i]
		}
	} else {
		s = f.sparse[a.pair]
	}
	if s == 0 || a.bit == 0 {
		return
	}
	span := f.spans[s-1]
	occ, logged := int(a.occ), int(a.logged)
	for ai := span.lo; ai < span.hi; ai++ {
		ag := &f.ags[ai]
		if occ < ag.from || occ > ag.to {
			continue
		}
		for ci := ag.lo; ci < ag.hi; ci++ {
			c := &f.coms[ci]
			if c.mask&a.bit == 0 {
				continue
			}
			pi := ag.period
			if c.kind < 3 {
				if pi = f.periodOn(c.kind, a.occurred, occ); pi < 0 {
					continue
				}
			}
			if !a.imported && logged > f.periods[pi].endN+f.grace {
				continue
			}
			amount := decimal.FromInt(1) // the count: one activity
			switch c.measure {
			case 1:
				amount = a.hours
			case 2:
				amount = a.persons
			}
			o := f.periods[pi].ord
			if o < c.base || int(o-c.base) >= len(c.es) {
				c.cover(o)
			}
			e := &c.es[o-c.base]
			e.period = pi + 1
			if a.confirmed {
				e.achieved += amount
			} else {
				e.pending += amount
			}
		}
	}
}

// span is the first ordinal and the number of ordinals of the periods of
// kind overlapping [from, to]: where the activities of an agreement can
// count (0, 0 when unknown; cover then grows es as periods come).
func (f *folder) span(kind int, from, to date.Date) (int32, int32) {
	if to.Before(from) {
		return 0, 0
	}
	lo, hi := int32(-1), int32(-1)
	widen := func(o int32) {
		if lo < 0 || o < lo {
			lo = o
		}
		if hi < 0 || o > hi {
			hi = o
		}
	}
	switch kind {
	case 0:
		widen(int32(from.Year()*12 + int(from.Month()) - 1))
		widen(int32(to.Year()*12 + int(to.Month()) - 1))
	case 1:
		for j, t := range f.terms {
			if !t.EndsOn.Before(from) && !t.StartsOn.After(to) {
				widen(int32(j))
			}
		}
	case 2:
		for j, y := range f.years {
			if !y.End.Before(from) && !y.Start.After(to) {
				widen(int32(j))
			}
		}
	case 3:
		widen(0)
	}
	if lo < 0 {
		return 0, 0
	}
	return lo, hi - lo + 1
}

// cover makes c.es reach ordinal o: at first the agreement's span, which
// holds every period an activity of it can count in; beyond it (a
// calendar that breaks its own rules) grown as needed.
func (c *foldCommitment) cover(o int32) {
	if c.es == nil && c.n > 0 {
		c.es = make([]foldEntry, c.n)
		if o >= c.base && int(o-c.base) < len(c.es) {
			return
		}
	}
	if len(c.es) == 0 {
		c.base, c.es = o, make([]foldEntry, 1)
		return
	}
	lo, hi := min(c.base, o), max(c.base+int32(len(c.es))-1, o)
	grown := make([]foldEntry, hi-lo+1)
	copy(grown[c.base-lo:], c.es)
	c.base, c.es = lo, grown
}

// seen is the number of periods with activity of c.
func (c *foldCommitment) seen() int {
	n := 0
	for i := range c.es {
		if c.es[i].period != 0 {
			n++
		}
	}
	return n
}

// each calls fn with every total, as a row of the read model, in primary
// key order (commitment, period key); r is reused between calls.
func (f *folder) each(fn func(r *totalRow) error) error {
	order := make([]int32, len(f.coms))
	for i := range order {
		order[i] = int32(i)
	}
	sort.Slice(order, func(i, j int) bool { return f.coms[order[i]].id < f.coms[order[j]].id })
	var r totalRow
	var es []foldEntry
	for _, ci := range order {
		c := &f.coms[ci]
		es = es[:0]
		for _, e := range c.es {
			if e.period != 0 {
				es = append(es, e)
			}
		}
		sort.Slice(es, func(i, j int) bool { return f.periods[es[i].period-1].p.Key < f.periods[es[j].period-1].p.Key })
		for _, e := range es {
			p := &f.periods[e.period-1].p
			r = totalRow{CommitmentID: c.id, PeriodKey: p.Key, PairID: c.pairID, PeriodStart: p.Start, PeriodEnd: p.End, Achieved: e.achieved, Pending: e.pending}
			if err := fn(&r); err != nil {
				return err
			}
		}
	}
	return nil
}

// totals returns what was folded as Totals: one map entry per commitment
// with totals, the entries in one backing array.
func (f *folder) totals() Totals {
	n, withTotals := 0, 0
	for i := range f.coms {
		if k := f.coms[i].seen(); k > 0 {
			n += k
			withTotals++
		}
	}
	out := NewTotals(withTotals)
	backing := make([]totalEntry, n)
	at := 0
	for i := range f.coms {
		c := &f.coms[i]
		if len(c.es) == 0 {
			continue
		}
		lo := at
		for _, e := range c.es {
			if e.period != 0 {
				backing[at] = totalEntry{f.periods[e.period-1].p.Key, Total{e.achieved, e.pending}}
				at++
			}
		}
		out.m[c.id] = backing[lo:at:at] // full slice: a later Set appends to a copy
	}
	return out
}
