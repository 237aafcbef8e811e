package compliance

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"time"

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
// The rows arrive in the server's order, pairs at random (as activities
// are logged over the years): a row's cost is the cache lines it
// misses, so it touches few. A pair is an index into spans (pair ids are
// dense); its commitments are adjacent 32-byte records that carry their
// agreement's span, so one or two lines hold everything a row tests; the
// row then adds into one sum, found by index (the period's ordinal), in
// one array of all sums.
type folder struct {
	grace int
	cal   calendar.Calendar
	years []calendar.Period
	// pair id − pairLo → 1 + index into spans (0: no agreement); sparse
	// instead when the ids are too spread out for an array
	pairLo int64
	dense  []int32
	at     []int32 // addAll's counts
	sparse map[int64]int32
	spans  []foldSpan
	coms   []foldCommitment
	// achieved and pending hold the sums of every commitment,
	// commitment after commitment: foldCommitment.off is where a
	// commitment's start. Two arrays: nine rows in ten are confirmed, and
	// the array they add to is then half the memory a row can miss in.
	achieved, pending []decimal.D
	seen              []uint64 // bit i: sum i saw activity
	// ordPeriod[kind] finds the interned month, term or school-year
	// period by its ordinal (read for every total when they come out)
	ordPeriod [3]ordTable
	// the commitment's id and pair, by the index in coms: read only when
	// the totals come out, so kept out of the cache lines add touches
	comIDs   []int64
	comPairs []int64
	// agreement period of a commitment of kind agreement, by index in coms
	comPeriods []int32
	// periods are interned	// periods are interned: a kind and a day map to an index
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

// foldSpan is one pair: its commitments coms[lo:hi] and, when it has at
// most 8, by category the bits of those listing it (bit j: coms[lo+j]),
// so a row reads the records it counts toward and not all of the pair's.
type foldSpan struct {
	lo, hi int32
	cats   [16]uint8 // by category index; unused when hi − lo > 8
}

// foldEntry is the sums of one commitment in one period, as they come
// out.
type foldEntry struct {
	achieved, pending decimal.D
}

// foldCommitment is a commitment as a row tests it: 32 bytes.
type foldCommitment struct {
	from, to int32 // the agreement's span, day numbers
	// the sums: achieved[off + o − base] (and pending) for the period of ordinal o (see
	// foldPeriod.ord), over the n periods of the agreement's span — an
	// index instead of a search per row
	off, base, n int32
	nSeen        int32 // sums with activity
	mask         uint16
	kind         int8 // 0 month, 1 term, 2 school year, 3 agreement
	measure      uint8
}

// foldSource is what the folder is built from: the agreements and the
// commitments, in any order, the categories already bits.
type foldSource struct {
	ags  []foldSourceAgreement
	coms []foldSourceCommitment
}

type foldSourceAgreement struct {
	id, pairID int64
	from, to   date.Date
}

type foldSourceCommitment struct {
	id, agreementID int64
	mask            uint16
	kind            int8 // kindIndex; -1: counts nowhere
	measure         uint8
}

// measureIndex numbers a commitment's measure as the folder reads it.
func measureIndex(m string) uint8 {
	switch m {
	case "hours":
		return 1
	case "persons":
		return 2
	}
	return 0
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
	occ       int32 // day numbers
	logged    int32
	cat       uint8 // the category's index +1, 0 when unknown
	confirmed bool  // else pending
	imported  bool
	// span is 1 + the pair's index in folder.spans (0: none), set by
	// addAll: the key it sorts by (in the struct's padding: still 40 bytes)
	span    int32
	hours   decimal.D
	persons decimal.D
}

// categoryBits gives each category code a bit of a commitment's mask.
func categoryBits() map[string]uint16 {
	out := map[string]uint16{}
	for i, c := range category.All() {
		out[c] = 1 << i
	}
	return out
}

// factCodes turns a row's text and dates into the numbers a foldFact
// holds, at a cost per row that matters: it runs beside the stream, for
// every activity of the programme.
type factCodes struct {
	// byLen finds the index of a category code by its length first, then
	// among the few codes of that length: cheaper per row than hashing
	byLen [32][]categoryCode
	// monthStart[(y − MinYear)·12 + m − 1] is the day number of the
	// month's first day: two loads instead of dayNum's divisions
	monthStart []int32
}

type categoryCode struct {
	code string
	cat  uint8 // index +1
}

func newFactCodes() *factCodes {
	fc := &factCodes{monthStart: make([]int32, 0, (date.MaxYear-date.MinYear+1)*12)}
	for i, c := range category.All() {
		if len(c) < len(fc.byLen) {
			fc.byLen[len(c)] = append(fc.byLen[len(c)], categoryCode{c, uint8(i + 1)})
		}
	}
	for y := date.MinYear; y <= date.MaxYear; y++ {
		for m := time.January; m <= time.December; m++ {
			fc.monthStart = append(fc.monthStart, int32(dayNum(date.New(y, m, 1))))
		}
	}
	return fc
}

// index is the index +1 of code s, 0 when unknown.
func (fc *factCodes) index(s string) uint8 {
	if len(s) >= len(fc.byLen) {
		return 0
	}
	for _, c := range fc.byLen[len(s)] {
		if c.code == s {
			return c.cat
		}
	}
	return 0
}

// day is dayNum(d).
func (fc *factCodes) day(d date.Date) int32 {
	if i := (d.Year()-date.MinYear)*12 + int(d.Month()) - 1; i >= 0 && i < len(fc.monthStart) {
		return fc.monthStart[i] + int32(d.Day()) - 1
	}
	return int32(dayNum(d)) // outside the years a date may have: not from the database
}

// factOf turns a scanned row into a foldFact; ok is false for a row that
// counts nowhere (neither confirmed nor pending).
func factOf(fc *factCodes, a *activityFact) (foldFact, bool) {
	confirmed := a.Status == "confirmed"
	if !confirmed && a.Status != "pending" {
		return foldFact{}, false
	}
	return foldFact{pair: a.PairID, occ: fc.day(a.OccurredOn), logged: fc.day(a.LoggedOn),
		cat: fc.index(a.Category), confirmed: confirmed, imported: a.Imported, hours: a.Hours, persons: a.Persons}, true
}

// newFolder builds a folder over agreements by pair (tests; the
// recompute builds it from the rows, buildFolder).
func newFolder(rules Rules, cal calendar.Calendar, byPair map[int64][]Agreement) *folder {
	catBits := categoryBits()
	var src foldSource
	for pairID, ags := range byPair {
		for _, ag := range ags {
			src.ags = append(src.ags, foldSourceAgreement{id: ag.ID, pairID: pairID, from: ag.EffectiveFrom, to: ag.EffectiveTo})
			for _, c := range ag.Commitments {
				sc := foldSourceCommitment{id: c.ID, agreementID: ag.ID, kind: int8(kindIndex(c.Period)), measure: measureIndex(c.Measure)}
				for _, cat := range c.Categories {
					sc.mask |= catBits[cat]
				}
				src.coms = append(src.coms, sc)
			}
		}
	}
	return buildFolder(rules, cal, src)
}

// buildFolder lays the commitments out by pair, each with its agreement's
// span, and their sums in one array in the same order.
func buildFolder(rules Rules, cal calendar.Calendar, src foldSource) *folder {
	f := &folder{grace: rules.GraceDays, cal: cal, years: cal.SchoolYears(), terms: cal.Terms(), named: map[periodName]int32{}, firstDay: dayNum(date.New(date.MinYear, 1, 1))}
	ags := src.ags
	// pairs in id order: the arrays then follow the table's usual order
	slices.SortFunc(ags, func(a, b foldSourceAgreement) int {
		if c := cmp.Compare(a.pairID, b.pairID); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	at := newIDIndex(len(ags), func(i int) int64 { return ags[i].id }) // agreement id → index in ags
	// commitments grouped by agreement: a counting sort
	starts := make([]int32, len(ags)+1)
	for i := range src.coms {
		c := &src.coms[i]
		if a, ok := at.get(c.agreementID); ok && c.kind >= 0 {
			starts[a+1]++
		}
	}
	for i := 1; i < len(starts); i++ {
		starts[i] += starts[i-1]
	}
	n := starts[len(ags)]
	f.coms = make([]foldCommitment, n)
	f.comIDs, f.comPairs, f.comPeriods = make([]int64, n), make([]int64, n), make([]int32, n)
	// the agreement periods, interned once each
	periods := make([]int32, len(ags))
	f.periods = make([]foldPeriod, 0, len(ags)+64)
	for i := range ags {
		ag := &ags[i]
		periods[i] = f.intern(calendar.Period{Kind: calendar.Agreement, Key: "agreement-" + strconv.FormatInt(ag.id, 10), Start: ag.from, End: ag.to}, 0)
	}
	next := append([]int32(nil), starts[:len(ags)]...)
	for i := range src.coms {
		c := &src.coms[i]
		a, ok := at.get(c.agreementID)
		if !ok || c.kind < 0 {
			continue
		}
		j := next[a]
		next[a]++
		ag := &ags[a]
		fc := foldCommitment{from: int32(dayNum(ag.from)), to: int32(dayNum(ag.to)), mask: c.mask, kind: c.kind, measure: c.measure}
		fc.base, fc.n = f.span(int(c.kind), ag.from, ag.to)
		f.coms[j], f.comIDs[j], f.comPairs[j], f.comPeriods[j] = fc, c.id, ag.pairID, periods[a]
	}
	total := int32(0)
	for i := range f.coms {
		f.coms[i].off = total
		total += f.coms[i].n
	}
	f.achieved, f.pending = make([]decimal.D, total), make([]decimal.D, total)
	f.seen = make([]uint64, (total+63)/64)
	if len(ags) > 0 {
		lo, hi := ags[0].pairID, ags[len(ags)-1].pairID
		if hi-lo < int64(8*len(ags)+4096) {
			f.pairLo, f.dense = lo, make([]int32, hi-lo+1)
		} else {
			f.sparse = map[int64]int32{}
		}
	}
	for i := range ags {
		pairID := ags[i].pairID
		if i == 0 || pairID != ags[i-1].pairID {
			f.spans = append(f.spans, foldSpan{lo: starts[i]})
			if f.dense != nil {
				f.dense[pairID-f.pairLo] = int32(len(f.spans))
			} else {
				f.sparse[pairID] = int32(len(f.spans))
			}
		}
		f.spans[len(f.spans)-1].hi = starts[i+1]
	}
	for si := range f.spans {
		sp := &f.spans[si]
		if sp.hi-sp.lo > 8 {
			continue
		}
		for j := sp.lo; j < sp.hi; j++ {
			for k := 0; k < len(sp.cats); k++ {
				if f.coms[j].mask&(1<<k) != 0 {
					sp.cats[k] |= 1 << (j - sp.lo)
				}
			}
		}
	}
	return f
}

// idIndex finds the index of an id among n: an array from the lowest id
// when they are dense (a programme's agreements are), else a map.
type idIndex struct {
	lo    int64
	dense []int32 // index +1, 0: none
	m     map[int64]int32
}

func newIDIndex(n int, id func(i int) int64) idIndex {
	var x idIndex
	if n == 0 {
		return x
	}
	lo, hi := id(0), id(0)
	for i := 1; i < n; i++ {
		lo, hi = min(lo, id(i)), max(hi, id(i))
	}
	if hi-lo < int64(4*n+4096) {
		x.lo, x.dense = lo, make([]int32, hi-lo+1)
		for i := 0; i < n; i++ {
			x.dense[id(i)-lo] = int32(i + 1)
		}
		return x
	}
	x.m = make(map[int64]int32, n)
	for i := 0; i < n; i++ {
		x.m[id(i)] = int32(i)
	}
	return x
}

func (x idIndex) get(id int64) (int32, bool) {
	if x.m != nil {
		i, ok := x.m[id]
		return i, ok
	}
	if i := id - x.lo; i >= 0 && i < int64(len(x.dense)) && x.dense[i] != 0 {
		return x.dense[i] - 1, true
	}
	return 0, false
}

func (f *folder) intern(p calendar.Period, ord int32) int32 {
	f.periods = append(f.periods, foldPeriod{p: p, startN: dayNum(p.Start), endN: dayNum(p.End), ord: ord})
	return int32(len(f.periods) - 1)
}

// periodOn is the interned period of kind (0–2) containing the day of
// day number dn, or -1.
func (f *folder) periodOn(kind int8, dn int) int32 {
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
	return f.lookUp(kind, dateOfDayNum(dn), i)
}

// dateOfDayNum is the inverse of dayNum (H. Hinnant's civil_from_days):
// the facts carry day numbers only, the date is needed on a day's first
// look-up.
func dateOfDayNum(n int) date.Date {
	z := n + 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return date.New(y, time.Month(m), d)
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
			f.ordPeriod[kind].set(ord, idx)
		}
	}
	if idx < 0 {
		f.byDay[kind][i] = -1
	} else {
		f.byDay[kind][i] = idx + 1
	}
	return idx
}

// spanOf is 1 + the index in spans of the pair (0: no agreement).
func (f *folder) spanOf(pair int64) int32 {
	if f.dense != nil {
		if i := pair - f.pairLo; i >= 0 && i < int64(len(f.dense)) {
			return f.dense[i]
		}
		return 0
	}
	return f.sparse[pair]
}

// add folds one activity in.
func (f *folder) add(a *foldFact) {
	a.span = f.spanOf(a.pair)
	f.addSpanned(a)
}

// addAll folds the rows of the batches in, sorted first by pair (into a,
// at least as long as the rows; the batches keep their order). The rows
// arrive with their pairs at random, and each then misses the cache twice
// — its commitment's record and its sum, in arrays of tens of megabytes
// for a province. In pair order the records and sums are read in the
// order they lie in memory (BenchmarkFolderAddChunked). The sort counts
// the rows of each pair and places each row once, straight from the
// batches: a chunk holds a few rows a pair, so the counts are small
// beside the rows, and one pass over 40-byte rows beat a radix sort's two
// (57 against 66 ns a row for the whole fold at 50,000 pairs).
func (f *folder) addAll(batches [][]foldFact, a []foldFact) {
	if cap(f.at) < len(f.spans)+2 {
		f.at = make([]int32, len(f.spans)+2)
	}
	at := f.at[:len(f.spans)+2]
	clear(at)
	n := 0
	for _, fs := range batches {
		for i := range fs {
			s := f.spanOf(fs[i].pair)
			fs[i].span = s
			at[s+1]++
		}
		n += len(fs)
	}
	for j := 1; j < len(at); j++ {
		at[j] += at[j-1]
	}
	dst := a[:n]
	for _, fs := range batches {
		for i := range fs {
			s := fs[i].span
			dst[at[s]] = fs[i]
			at[s]++
		}
	}
	for i := range dst {
		f.addSpanned(&dst[i])
	}
}

// addSpanned folds one activity in whose span is set.
func (f *folder) addSpanned(a *foldFact) {
	s := a.span
	if s == 0 || a.cat == 0 || a.cat > 16 {
		return
	}
	span := &f.spans[s-1]
	if span.hi-span.lo > 8 {
		for ci := span.lo; ci < span.hi; ci++ {
			if f.coms[ci].mask&(1<<(a.cat-1)) != 0 {
				f.addTo(a, ci)
			}
		}
		return
	}
	for m := span.cats[a.cat-1]; m != 0; m &= m - 1 {
		f.addTo(a, span.lo+int32(bits.TrailingZeros8(m)))
	}
}

// addTo folds activity a into commitment ci, which lists its category.
func (f *folder) addTo(a *foldFact, ci int32) {
	occ, logged := a.occ, int(a.logged)
	c := &f.coms[ci]
	if occ < c.from || occ > c.to {
		return
	}
	// the period: its end for the grace rule, its ordinal for the sum
	var pi, o int32
	var endN int
	if c.kind < 3 {
		if pi = f.periodOn(c.kind, int(occ)); pi < 0 {
			return
		}
		p := &f.periods[pi]
		endN, o = p.endN, p.ord
	} else {
		pi, endN = f.comPeriods[ci], int(c.to) // the agreement period ends with the agreement
	}
	if !a.imported && logged > endN+f.grace {
		return
	}
	amount := decimal.FromInt(1) // the count: one activity
	switch c.measure {
	case 1:
		amount = a.hours
	case 2:
		amount = a.persons
	}
	if o < c.base || o-c.base >= c.n {
		f.cover(c, o)
	}
	i := c.off + o - c.base
	if w, b := &f.seen[i>>6], uint64(1)<<(i&63); *w&b == 0 {
		*w |= b
		c.nSeen++
	}
	if a.confirmed {
		f.achieved[i] += amount
	} else {
		f.pending[i] += amount
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

// cover makes the sums of c reach ordinal o: the agreement's span holds
// every period an activity of it can count in; beyond it (a calendar
// that breaks its own rules) they move to the end of the arrays, grown.
func (f *folder) cover(c *foldCommitment, o int32) {
	lo, hi := o, o
	if c.n > 0 {
		lo, hi = min(c.base, o), max(c.base+c.n-1, o)
	}
	off := int32(len(f.achieved))
	f.achieved = append(f.achieved, make([]decimal.D, hi-lo+1)...)
	f.pending = append(f.pending, make([]decimal.D, hi-lo+1)...)
	copy(f.achieved[off+c.base-lo:], f.achieved[c.off:c.off+c.n])
	copy(f.pending[off+c.base-lo:], f.pending[c.off:c.off+c.n])
	for len(f.seen)*64 < len(f.achieved) {
		f.seen = append(f.seen, 0)
	}
	for k := int32(0); k < c.n; k++ {
		if from := c.off + k; f.seen[from>>6]&(1<<(from&63)) != 0 {
			to := off + c.base - lo + k
			f.seen[to>>6] |= 1 << (to & 63)
		}
	}
	c.off, c.base, c.n = off, lo, hi-lo+1
}

// ordTable maps the ordinals of one kind's periods to their index: an
// array from the lowest ordinal seen (the ordinals of a kind are dense:
// months y·12+m, terms and school years by calendar index).
type ordTable struct {
	lo  int32
	idx []int32 // period index +1, 0: none
}

func (t *ordTable) set(ord, idx int32) {
	if len(t.idx) == 0 {
		t.lo = ord
	}
	if ord < t.lo {
		grown := make([]int32, int(t.lo-ord)+len(t.idx))
		copy(grown[t.lo-ord:], t.idx)
		t.idx, t.lo = grown, ord
	}
	for int(ord-t.lo) >= len(t.idx) {
		t.idx = append(t.idx, 0)
	}
	t.idx[ord-t.lo] = idx + 1
}

// get is the index of the period of ordinal ord; only ordinals set are
// asked for (a sum exists only where a period was found).
func (t *ordTable) get(ord int32) int32 {
	return t.idx[ord-t.lo] - 1
}

// foldSum is a sum with activity, and its period.
type foldSum struct {
	period int32
	foldEntry
}

// sums appends the sums with activity of commitment ci to out.
func (f *folder) sums(ci int32, out []foldSum) []foldSum {
	c := &f.coms[ci]
	for k := int32(0); k < c.n; k++ {
		i := c.off + k
		if f.seen[i>>6]&(1<<(i&63)) == 0 {
			continue
		}
		pi := f.comPeriods[ci]
		if c.kind < 3 {
			pi = f.ordPeriod[c.kind].get(c.base + k)
		}
		out = append(out, foldSum{pi, foldEntry{f.achieved[i], f.pending[i]}})
	}
	return out
}

// each calls fn with every total, as a row of the read model, in primary
// key order (commitment, period key); r is reused between calls.
func (f *folder) each(fn func(r *totalRow) error) error {
	order := make([]int32, len(f.coms))
	for i := range order {
		order[i] = int32(i)
	}
	sort.Slice(order, func(i, j int) bool { return f.comIDs[order[i]] < f.comIDs[order[j]] })
	var r totalRow
	var es []foldSum
	for _, ci := range order {
		if f.coms[ci].nSeen == 0 {
			continue
		}
		es = f.sums(ci, es[:0])
		sort.Slice(es, func(i, j int) bool { return f.periods[es[i].period].p.Key < f.periods[es[j].period].p.Key })
		for _, e := range es {
			p := &f.periods[e.period].p
			r = totalRow{CommitmentID: f.comIDs[ci], PeriodKey: p.Key, PairID: f.comPairs[ci], PeriodStart: p.Start, PeriodEnd: p.End, Achieved: e.achieved, Pending: e.pending}
			if err := fn(&r); err != nil {
				return err
			}
		}
	}
	return nil
}

// totals returns what was folded as Totals: by commitment id (an index
// when the ids are dense, as a whole programme's are). It runs after the
// stream, when the other core has nothing left to do, so the entries are
// written by two goroutines, each into its own backing array (allocating
// and clearing it too) for one half of the commitments.
func (f *folder) totals() Totals {
	n, withTotals := 0, 0
	lo, hi := int64(0), int64(-1)
	for i := range f.coms {
		if k := int(f.coms[i].nSeen); k > 0 {
			n += k
			withTotals++
			if id := f.comIDs[i]; hi < lo {
				lo, hi = id, id
			} else {
				lo, hi = min(lo, id), max(hi, id)
			}
		}
	}
	if withTotals == 0 || hi-lo >= int64(2*withTotals+1024) {
		// ids too spread out for an index: one goroutine fills the map
		out := NewTotals(withTotals)
		f.fillTotals(0, len(f.coms), n, func(id int64, es []totalEntry) { out.m[id] = es })
		return out
	}
	out := Totals{m: map[int64][]totalEntry{}, lo: lo, dense: make([][]totalEntry, hi-lo+1)}
	set := func(id int64, es []totalEntry) { out.dense[id-lo] = es }
	// the halves: split where half of the entries are behind
	mid, before := 0, 0
	for ; mid < len(f.coms) && 2*before < n; mid++ {
		before += int(f.coms[mid].nSeen)
	}
	done := make(chan struct{})
	go func() {
		f.fillTotals(mid, len(f.coms), n-before, set)
		close(done)
	}()
	f.fillTotals(0, mid, before, set)
	<-done
	return out
}

// fillTotals hands set the entries of the commitments coms[from:to] (n in
// all), each a full slice of one backing array: a later Set appends to a
// copy. Two calls over disjoint ranges may run at once.
func (f *folder) fillTotals(from, to, n int, set func(id int64, es []totalEntry)) {
	backing := make([]totalEntry, n)
	at := 0
	var es []foldSum
	for i := from; i < to; i++ {
		if f.coms[i].nSeen == 0 {
			continue
		}
		start := at
		es = f.sums(int32(i), es[:0])
		for _, e := range es {
			backing[at] = totalEntry{f.periods[e.period].p.Key, Total{e.achieved, e.pending}}
			at++
		}
		set(f.comIDs[i], backing[start:at:at])
	}
}
