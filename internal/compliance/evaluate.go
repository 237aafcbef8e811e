package compliance

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
)

// Mode selects which of the started periods Evaluate reports.
type Mode int

const (
	// All periods of each commitment that have started by At.
	All Mode = iota
	// Current reports, per commitment, only the latest-starting period that
	// has started by At: the running one, or the last one when At falls
	// between periods (or after the agreement's end).
	Current
	// Window reports the started periods that also overlap [From, To].
	Window
	// Undecided reports, per agreement, the started periods a sweep as of
	// At must look at: those running at At and those whose books (end +
	// GraceDays) had not closed by the agreement's DecidedThrough — every
	// started period when DecidedThrough is zero. It depends on the data
	// alone, never on when an agreement was created.
	Undecided
)

// Options of one evaluation.
type Options struct {
	At       date.Date // D, the "as of" date
	Mode     Mode
	From, To date.Date // for Window: periods overlapping [From, To]
	// EndsBy, when set, drops the periods ending after it, whatever the
	// mode: a sweep asks only for what can be due — a reminder needs a
	// period ending within the largest reminder milestone, a breach a
	// period that has ended — so on most days it grades and reads the
	// totals of a few periods instead of every running one.
	EndsBy date.Date
}

// Evaluate applies DESIGN §3 to every commitment of ag: for each period of
// the commitment's kind that overlaps the agreement's effective span and
// has started by opt.At (filtered by opt.Mode), it sums the counting facts
// and assigns a status. Items come in commitment order, then period start.
// facts may hold other pairs' facts; they are ignored. Evaluate does not
// modify its arguments; Item.Categories shares the commitment's slice.
func Evaluate(rules Rules, cal calendar.Calendar, ag Agreement, facts []Fact, opt Options) []Item {
	return evaluate(rules, cal, ag, opt, nil, func(c *Commitment, items []Item) { sumFacts(rules, ag, c, facts, items) })
}

// forAgreement turns Undecided into the Window (or All) it means for ag;
// other modes are returned unchanged.
func (opt Options) forAgreement(rules Rules, ag *Agreement) Options {
	if opt.Mode != Undecided {
		return opt
	}
	if ag.DecidedThrough.IsZero() {
		return Options{At: opt.At, Mode: All, EndsBy: opt.EndsBy}
	}
	// A period with end + grace < DecidedThrough was decided then; one day
	// of margin. A sweep as of a date before DecidedThrough needs only
	// what is running or closed by its own date.
	from := date.Min(ag.DecidedThrough, opt.At).AddDays(-rules.GraceDays - 1)
	return Options{At: opt.At, Mode: Window, From: from, To: opt.At, EndsBy: opt.EndsBy}
}

// ends reports whether period p is within opt.EndsBy (always when unset).
func (opt Options) ends(p calendar.Period) bool {
	return opt.EndsBy.IsZero() || !p.End.After(opt.EndsBy)
}

// EvaluateTotals is Evaluate over stored per-period totals (the read model)
// instead of the activity history: same periods, same grading.
func EvaluateTotals(rules Rules, cal calendar.Calendar, ag Agreement, totals Totals, opt Options) []Item {
	return evaluateTotals(rules, cal, ag, totals, opt, nil)
}

// evaluateTotals is EvaluateTotals sharing the started periods of cache
// (nil: none) with the other agreements of one evaluation.
func evaluateTotals(rules Rules, cal calendar.Calendar, ag Agreement, totals Totals, opt Options, cache periodCache) []Item {
	return evaluate(rules, cal, ag, opt, cache, func(c *Commitment, items []Item) {
		es := totals.entries(c.ID)
		for i := range items {
			for _, e := range es {
				if e.key == items[i].PeriodKey {
					items[i].Achieved, items[i].Pending = e.Achieved, e.Pending
					break
				}
			}
		}
	})
}

// TotalKey names one commitment in one period.
type TotalKey struct {
	CommitmentID int64
	PeriodKey    string
}

// Total is what counts toward a commitment in a period.
type Total struct{ Achieved, Pending decimal.D }

// Totals are the stored sums, by commitment and period. A commitment has a
// few periods with activity, so they sit in a short list under its id:
// integer hashing and no per-key allocation, for the tens of thousands a
// province reads.
type Totals struct {
	m map[int64][]totalEntry
	// dense, when set, holds the commitments lo … lo+len(dense)−1 by
	// id − lo instead of m: a full recompute's ids are dense, and an
	// index costs less than a hash to fill and to read
	lo    int64
	dense [][]totalEntry
}

// entries are the totals of commitment c.
func (t Totals) entries(c int64) []totalEntry {
	if i := c - t.lo; t.dense != nil && i >= 0 && i < int64(len(t.dense)) {
		return t.dense[i]
	}
	return t.m[c]
}

type totalEntry struct {
	key string
	Total
}

// NewTotals makes an empty Totals sized for n entries.
func NewTotals(n int) Totals { return Totals{m: make(map[int64][]totalEntry, n)} }

// Set records the total of commitment c in period key.
func (t Totals) Set(c int64, key string, v Total) {
	es := t.entries(c)
	for i := range es {
		if es[i].key == key {
			es[i].Total = v
			return
		}
	}
	if i := c - t.lo; t.dense != nil && i >= 0 && i < int64(len(t.dense)) {
		t.dense[i] = append(es, totalEntry{key, v})
		return
	}
	t.m[c] = append(es, totalEntry{key, v})
}

// Get is the total of commitment c in period key (zero when none).
func (t Totals) Get(c int64, key string) Total {
	for _, e := range t.entries(c) {
		if e.key == key {
			return e.Total
		}
	}
	return Total{}
}

// String lists the totals by commitment id, each commitment's by period
// key, whatever the form they are kept in: two Totals with the same sums
// print the same.
func (t Totals) String() string {
	all := map[int64][]totalEntry{}
	add := func(c int64, es []totalEntry) {
		if len(es) > 0 {
			es = slices.Clone(es)
			slices.SortFunc(es, func(a, b totalEntry) int { return strings.Compare(a.key, b.key) })
			all[c] = es
		}
	}
	for c, es := range t.m {
		add(c, es)
	}
	for i, es := range t.dense {
		add(t.lo+int64(i), es)
	}
	return fmt.Sprint(all)
}

// Len is the number of totals.
func (t Totals) Len() int {
	n := 0
	for _, es := range t.m {
		n += len(es)
	}
	for _, es := range t.dense {
		n += len(es)
	}
	return n
}

// periodCache holds the calendar periods (of a kind other than the
// agreement's own) started by At within an agreement span, for one
// evaluation (one At and EndsBy): a province's agreements share a few
// spans, and generating their months again for each is most of the cost
// of grading them. Not safe for concurrent use.
type periodCache map[periodSpan][]calendar.Period

type periodSpan struct {
	kind     calendar.PeriodKind
	from, hi date.Date
}

func evaluate(rules Rules, cal calendar.Calendar, ag Agreement, opt Options, shared periodCache, fill func(c *Commitment, items []Item)) []Item {
	opt = opt.forAgreement(rules, &ag)
	at := opt.At
	from, to := ag.EffectiveFrom, ag.EffectiveTo
	if to.Before(from) {
		return nil
	}
	atN := dayNum(at)
	maxReminder, hasReminder := 0, false
	for _, m := range rules.ReminderDays {
		if !hasReminder || m > maxReminder {
			maxReminder, hasReminder = m, true
		}
	}

	// Started periods per kind, computed once per agreement.
	var cache [4][]calendar.Period
	var cached [4]bool
	started := func(kind calendar.PeriodKind) []calendar.Period {
		k := kindIndex(kind)
		if k < 0 {
			return nil
		}
		if cached[k] {
			return cache[k]
		}
		var ps []calendar.Period
		var span periodSpan
		if kind == calendar.Agreement {
			ps = cal.Periods(kind, from, to, ag.ID)
		} else {
			// Periods overlapping [from, to] that start by At are exactly
			// those overlapping [from, min(to, At)] — or, when At is before
			// from, those containing from — and start by At. Asking for the
			// shorter range avoids generating months that are then dropped.
			hi := date.Min(to, at)
			if hi.Before(from) {
				hi = from
			}
			span = periodSpan{kind, from, hi}
			if shared != nil {
				if ps, ok := shared[span]; ok {
					cache[k], cached[k] = ps, true
					return ps
				}
			}
			ps = cal.Periods(kind, from, hi, ag.ID)
		}
		n := 0
		for _, p := range ps {
			if !p.Start.After(at) && opt.ends(p) {
				ps[n] = p
				n++
			}
		}
		ps = ps[:n]
		cache[k], cached[k] = ps, true
		if shared != nil && kind != calendar.Agreement {
			// shared read-only from here: callers take prefixes, never
			// write into it
			shared[span] = ps
		}
		return ps
	}

	// Size the result exactly: one allocation for all items.
	n := 0
	for ci := range ag.Commitments {
		ps := retired(started(ag.Commitments[ci].Period), ag.Commitments[ci].EndsOn)
		switch opt.Mode {
		case Current:
			n += min(len(ps), 1)
		case Window:
			for _, p := range ps {
				if calendar.Overlaps(p.Start, p.End, opt.From, opt.To) {
					n++
				}
			}
		default:
			n += len(ps)
		}
	}
	if n == 0 {
		return nil
	}

	items := make([]Item, 0, n)
	for ci := range ag.Commitments {
		c := &ag.Commitments[ci]
		ps := retired(started(c.Period), c.EndsOn)
		switch opt.Mode {
		case Current:
			if len(ps) > 0 {
				ps = ps[len(ps)-1:]
			}
		case Window:
			base := len(items)
			for _, p := range ps {
				if calendar.Overlaps(p.Start, p.End, opt.From, opt.To) {
					items = append(items, newItem(ag, c, p))
				}
			}
			fill(c, items[base:])
			grade(rules, ag, c, items[base:], atN, maxReminder, hasReminder)
			continue
		}
		base := len(items)
		for _, p := range ps {
			items = append(items, newItem(ag, c, p))
		}
		fill(c, items[base:])
		grade(rules, ag, c, items[base:], atN, maxReminder, hasReminder)
	}
	return items
}

// retired keeps, of periods sorted by start, those a commitment retired
// from endsOn still requires: the ones starting on or before it (a prefix,
// so the shared slice is not modified).
func retired(ps []calendar.Period, endsOn date.Date) []calendar.Period {
	if endsOn.IsZero() {
		return ps
	}
	n := 0
	for n < len(ps) && !ps[n].Start.After(endsOn) {
		n++
	}
	return ps[:n]
}

func kindIndex(k calendar.PeriodKind) int {
	switch k {
	case calendar.Month:
		return 0
	case calendar.TermPeriod:
		return 1
	case calendar.SchoolYear:
		return 2
	case calendar.Agreement:
		return 3
	}
	return -1
}

func newItem(ag Agreement, c *Commitment, p calendar.Period) Item {
	return Item{
		PairID:       ag.PairID,
		AgreementID:  ag.ID,
		CommitmentID: c.ID,
		Categories:   c.Categories,
		Measure:      c.Measure,
		Minimum:      c.Minimum,
		Description:  c.Description,
		Period:       p.Kind,
		PeriodKey:    p.Key,
		PeriodStart:  p.Start,
		PeriodEnd:    p.End,
	}
}

// sumFacts fills Achieved and Pending of items, the selected periods of
// commitment c sorted by PeriodStart, from the facts.
func sumFacts(rules Rules, ag Agreement, c *Commitment, facts []Fact, items []Item) {
	if len(items) == 0 {
		return
	}
	from, to := ag.EffectiveFrom, ag.EffectiveTo

	// Sum counting facts. Periods are sorted by start, so the scan over
	// them stops at the first one starting after the fact.
	for fi := range facts {
		f := &facts[fi]
		if f.PairID != ag.PairID {
			continue
		}
		var confirmed bool
		switch f.Status {
		case "confirmed":
			confirmed = true
		case "pending":
		default:
			continue
		}
		if !hasCategory(c.Categories, f.Category) {
			continue
		}
		occ := f.OccurredOn
		if occ.Before(from) || occ.After(to) {
			continue
		}
		var amount decimal.D
		switch c.Measure {
		case "hours":
			amount = f.Hours
		case "persons":
			amount = f.Persons
		default: // "count"
			amount = decimal.FromInt(int64(f.Count))
		}
		for i := range items {
			it := &items[i]
			if it.PeriodStart.After(occ) {
				break
			}
			if occ.After(it.PeriodEnd) {
				continue
			}
			if !f.Imported && f.LoggedOn.After(it.PeriodEnd.AddDays(rules.GraceDays)) {
				continue
			}
			if confirmed {
				it.Achieved += amount
			} else {
				it.Pending += amount
			}
		}
	}

}

// grade fills Required, Status and DaysLeft of items from their sums.
func grade(rules Rules, ag Agreement, c *Commitment, items []Item, atN, maxReminder int, hasReminder bool) {
	fromN, toN := dayNum(ag.EffectiveFrom), dayNum(ag.EffectiveTo)
	for i := range items {
		it := &items[i]
		startN, endN := dayNum(it.PeriodStart), dayNum(it.PeriodEnd)
		total := endN - startN + 1

		it.Required = c.Minimum
		if fromN > startN || toN < endN {
			covered := min(endN, toN) - max(startN, fromN) + 1
			// ceil(minimum × covered / total) to a whole unit, on integers:
			// an exact ratio never rounds up past its integer
			it.Required = c.Minimum.MulFrac(int64(covered), int64(total), true).CeilUnit()
		}

		it.DaysLeft = endN - atN
		elapsed := atN - startN + 1
		switch {
		case it.Achieved >= it.Required:
			it.Status = Met
		case atN > endN+rules.GraceDays:
			it.Status = Breached
		case atN > endN,
			hasReminder && it.DaysLeft <= maxReminder,
			it.Achieved < it.Required.MulFrac(int64(elapsed), int64(total), false).FloorUnit():
			it.Status = AtRisk
		default:
			it.Status = OnTrack
		}
	}
}

func hasCategory(cats []string, cat string) bool {
	for _, c := range cats {
		if c == cat {
			return true
		}
	}
	return false
}

// dayNum is the number of days since 1970-01-01 (proleptic Gregorian),
// computed without time.Time (H. Hinnant's days_from_civil).
func dayNum(d date.Date) int {
	y, m, dd := d.Year(), int(d.Month()), d.Day()
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + dd - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// Summarise counts items by status; all four statuses are present.
func Summarise(items []Item) map[Status]int {
	out := map[Status]int{Met: 0, OnTrack: 0, AtRisk: 0, Breached: 0}
	for i := range items {
		out[items[i].Status]++
	}
	return out
}

// selected are the periods of kind that Evaluate reports for agreement ag
// under opt: overlapping the agreement, started by At, then narrowed by
// the mode.
func selected(rules Rules, cal calendar.Calendar, kind calendar.PeriodKind, ag Agreement, opt Options) []calendar.Period {
	opt = opt.forAgreement(rules, &ag)
	from, to, at := ag.EffectiveFrom, ag.EffectiveTo, opt.At
	if to.Before(from) || kindIndex(kind) < 0 {
		return nil
	}
	hi := to
	if kind != calendar.Agreement {
		if hi = date.Min(to, at); hi.Before(from) {
			hi = from
		}
	}
	var ps []calendar.Period
	for _, p := range cal.Periods(kind, from, hi, ag.ID) {
		if p.Start.After(at) || !opt.ends(p) {
			continue
		}
		if opt.Mode == Window && !calendar.Overlaps(p.Start, p.End, opt.From, opt.To) {
			continue
		}
		ps = append(ps, p)
	}
	if opt.Mode == Current && len(ps) > 1 {
		ps = ps[len(ps)-1:]
	}
	return ps
}
