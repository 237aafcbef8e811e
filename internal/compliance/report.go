package compliance

import (
	"context"
	"sort"
	"sync"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/pairing"
)

// Reader answers compliance questions from the database: it loads a scope
// of pairs in a fixed number of queries (never one per pair) and runs
// Evaluate over it.
type Reader struct {
	db     *database.DB
	rules  Rules
	dir    pairing.Directory
	ledger *Ledger
	// eachBatch overrides defaultEachBatch (tests: several batches of a
	// few pairs)
	eachBatch int
	// summaryByCond makes Scope's summary select by the condition, as for
	// a large scope (tests)
	summaryByCond bool
	// fullScope overrides defaultFullScope; -1: never (tests)
	fullScope int
	// listScope overrides maxIDList as the largest scope whose page Scope
	// finds by PairIDsUnder rather than PageUnder; -1: never (tests)
	listScope int
}

// defaultFullScope is the largest scope Scope grades in full rather than
// a page and a summary.
const defaultFullScope = 300

func (r *Reader) fullBelow() int { return bound(r.fullScope, defaultFullScope) }

func (r *Reader) listBelow() int { return bound(r.listScope, maxIDList) }

// bound is a test's override of a scope size: set when positive, -1
// (never) when negative, def when zero.
func bound(set, def int) int {
	switch {
	case set < 0:
		return -1
	case set > 0:
		return set
	}
	return def
}

// NewReader wires the reader.
func NewReader(db *database.DB, rules Rules, dir pairing.Directory, ledger *Ledger) *Reader {
	return &Reader{db: db, rules: rules, dir: dir, ledger: ledger}
}

// School names one side of a pair.
type School struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// PairReport is the compliance of one pair.
type PairReport struct {
	PairID           int64     `json:"pair_id"`
	At               date.Date `json:"at"`
	SupportingSchool School    `json:"supporting_school"`
	SupportedSchool  School    `json:"supported_school"`
	// Region is the supported school's region (usually its county).
	Region School `json:"region"`
	Status string `json:"status"`
	Round  string `json:"round"`
	Items  []Item `json:"items"`
}

// Scope is everything loaded for a set of pairs.
type Scope struct {
	Pairs    []pairing.Pair
	Calendar calendar.Calendar
	// Agreements by pair id.
	Agreements map[int64][]Agreement
	// regions is the supported school's region of each pair, and
	// supportingRegions the supporting school's region id.
	regions           map[int64]School
	supportingRegions map[int64]int64
	// cond and args select the pairs (for loading their totals); large
	// marks a scope too big for an id list.
	cond  string
	args  []any
	large bool
}

// Load reads the pairs matching cond (a condition on the table "pairs")
// with their agreements, commitments and the calendar: five queries
// whatever the number of pairs.
func (r *Reader) Load(ctx context.Context, cond string, args ...any) (Scope, error) {
	return r.load(ctx, Options{}, cond, args...)
}

// LoadDue is Load for an evaluation under opt (a sweep's: Undecided with
// EndsBy), leaving out the commitments of a period kind of which no period
// can be selected — on most days the terms and school years, whose
// periods neither end within the reminder milestones nor closed since the
// last sweep. They would grade to nothing; a province reads a third of
// its commitments instead of all of them.
func (r *Reader) LoadDue(ctx context.Context, opt Options, cond string, args ...any) (Scope, error) {
	return r.load(ctx, opt, cond, args...)
}

// dueKinds are the period kinds of which opt can select a period of an
// agreement decided through one of decided; nil: every kind.
func dueKinds(rules Rules, cal calendar.Calendar, opt Options, decided []date.Date) []string {
	if opt.Mode != Undecided || opt.EndsBy.IsZero() {
		return nil
	}
	var from date.Date
	for i, d := range decided {
		if d.IsZero() {
			return nil // never swept: every started period
		}
		// forAgreement's window: the earliest of them all
		f := date.Min(d, opt.At).AddDays(-rules.GraceDays - 1)
		if i == 0 || f.Before(from) {
			from = f
		}
	}
	kinds := []string{string(calendar.Agreement)} // its period is its own span
	for _, k := range []calendar.PeriodKind{calendar.Month, calendar.TermPeriod, calendar.SchoolYear} {
		// within an agreement the periods are these, clipped: a superset
		for _, p := range cal.Periods(k, from, opt.At, 0) {
			if !p.Start.After(opt.At) && opt.ends(p) {
				kinds = append(kinds, string(k))
				break
			}
		}
	}
	return kinds
}

func (r *Reader) load(ctx context.Context, due Options, cond string, args ...any) (Scope, error) {
	conn := r.db.Conn(ctx)
	fresh := func() *gorm.DB { return conn.Session(&gorm.Session{NewDB: true}) }
	sc := Scope{Agreements: map[int64][]Agreement{}, regions: map[int64]School{}, supportingRegions: map[int64]int64{}, cond: cond, args: args}
	// scanned by hand: a province is ten thousand pairs and agreements, and
	// reflection would cost more than the queries
	rows, err := fresh().Table("pairs").
		// the region name as a scalar subquery: a fourth join makes MariaDB
		// drop the index plan of the bureau scope (1 ms → 20 ms for a county)
		Select("pairs.id, pairs.supporting_school_id, pairs.supported_school_id, pairs.starts_on, pairs.ends_on, pairs.status, pairs.round, sup.name, sud.name, sud.region_id, (SELECT name FROM regions WHERE regions.id = sud.region_id), sup.region_id").
		Joins("JOIN schools sup ON sup.id = pairs.supporting_school_id").
		Joins("JOIN schools sud ON sud.id = pairs.supported_school_id").
		Where(cond, args...).Order("pairs.id").Rows()
	if err != nil {
		return sc, err
	}
	for rows.Next() {
		var p pairing.Pair
		var region School
		var supportingRegion int64
		if err := rows.Scan(&p.ID, &p.SupportingSchoolID, &p.SupportedSchoolID, &p.StartsOn, &p.EndsOn, &p.Status, &p.Round,
			&p.SupportingSchoolName, &p.SupportedSchoolName, &region.ID, &region.Name, &supportingRegion); err != nil {
			rows.Close()
			return sc, err
		}
		sc.Pairs = append(sc.Pairs, p)
		sc.regions[p.ID] = region
		sc.supportingRegions[p.ID] = supportingRegion
	}
	if err := rows.Close(); err != nil {
		return sc, err
	}
	if len(sc.Pairs) == 0 {
		return sc, nil
	}
	// Once the pairs are known, select the rest by their ids: index
	// lookups on exactly the scope. Re-evaluating cond in each statement
	// scans every pair of the programme (its OR of two IN-subqueries
	// cannot use an index), so each would cost O(all pairs), not
	// O(scope). Scopes beyond maxIDList pairs keep cond, within the
	// bound-parameter limits (SQLite: 32766).
	inScope, scopeArgs := "SELECT pairs.id FROM pairs WHERE "+cond, args
	byIDs := len(sc.Pairs) <= maxIDList
	sc.large = !byIDs
	if byIDs {
		ids := make([]int64, len(sc.Pairs))
		for i, p := range sc.Pairs {
			ids[i] = p.ID
		}
		inScope, scopeArgs = "?", []any{ids}
		sc.cond, sc.args = "pairs.id IN ?", []any{ids}
	}
	var ags []pairing.Agreement
	var decided []date.Date
	arows, err := fresh().Table("agreements").Select("agreements.id, agreements.pair_id, agreements.effective_from, agreements.effective_to, agreements.decided_through").
		Where("agreements.pair_id IN ("+inScope+")", scopeArgs...).Order("agreements.pair_id, agreements.effective_from").Rows()
	if err != nil {
		return sc, err
	}
	for arows.Next() {
		var a pairing.Agreement
		var d date.Date
		if err := arows.Scan(&a.ID, &a.PairID, &a.EffectiveFrom, &a.EffectiveTo, &d); err != nil {
			arows.Close()
			return sc, err
		}
		ags = append(ags, a)
		decided = append(decided, d)
	}
	if err := arows.Close(); err != nil {
		return sc, err
	}
	// A large scope is a large share of the programme: reading every
	// commitment and keeping those of the loaded agreements beats making
	// MariaDB evaluate the scope for each of them.
	commitCond, commitArgs := "1 = 1", []any(nil)
	if byIDs {
		agIDs := make([]int64, len(ags))
		for i, ag := range ags {
			agIDs[i] = ag.ID
		}
		commitCond, commitArgs = "commitments.agreement_id IN ?", []any{agIDs}
	}
	var terms []calendar.Term
	if err := fresh().Table("terms").Order("starts_on").Find(&terms).Error; err != nil {
		return sc, err
	}
	sc.Calendar = calendar.New(terms)
	if kinds := dueKinds(r.rules, sc.Calendar, due, decided); kinds != nil {
		commitCond, commitArgs = commitCond+" AND commitments.period IN ?", append(commitArgs, kinds)
	}
	commitments, err := pairing.LoadCommitments(conn, commitCond, commitArgs...)
	if err != nil {
		return sc, err
	}
	for i, ag := range ags {
		x := toAgreement(ag, commitments[ag.ID])
		x.DecidedThrough = decided[i]
		sc.Agreements[ag.PairID] = append(sc.Agreements[ag.PairID], x)
	}
	// (commitments of agreements outside the scope are simply not used)
	return sc, nil
}

// maxIDList bounds the id lists Load binds as parameters.
const maxIDList = 5000

func toAgreement(ag pairing.Agreement, cs []pairing.Commitment) Agreement {
	out := Agreement{ID: ag.ID, PairID: ag.PairID, EffectiveFrom: ag.EffectiveFrom, EffectiveTo: ag.EffectiveTo}
	for _, c := range cs {
		out.Commitments = append(out.Commitments, Commitment{ID: c.ID, Categories: c.Categories, Measure: c.Measure,
			Minimum: c.Minimum, Period: calendar.PeriodKind(c.Period), Description: c.Description, EndsOn: c.EndsOn})
	}
	return out
}

// Evaluate runs the rules over every pair of the scope with the given
// sums: Totals from the read model, or nil for the periods alone. A large
// scope is split over two goroutines.
func (sc Scope) Evaluate(rules Rules, opt Options, totals Totals) []PairReport {
	out := make([]PairReport, len(sc.Pairs))
	run := func(lo, hi int) {
		cache := periodCache{}
		for i := lo; i < hi; i++ {
			p := sc.Pairs[i]
			rep := PairReport{PairID: p.ID, At: opt.At, Status: p.Status, Round: p.Round,
				SupportingSchool: School{p.SupportingSchoolID, p.SupportingSchoolName},
				SupportedSchool:  School{p.SupportedSchoolID, p.SupportedSchoolName},
				Region:           sc.regions[p.ID],
				Items:            []Item{}}
			for j, ag := range sc.Agreements[p.ID] {
				items := evaluateTotals(rules, sc.Calendar, ag, totals, opt, cache)
				if j == 0 && items != nil {
					rep.Items = items // the usual single agreement: no copy
				} else {
					rep.Items = append(rep.Items, items...)
				}
			}
			out[i] = rep
		}
	}
	if n := len(sc.Pairs); n < 2000 {
		run(0, n)
	} else {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); run(0, n/2) }()
		run(n/2, n)
		wg.Wait()
	}
	return out
}

// Regions returns the region ids of a pair's supported and supporting
// schools.
func (sc Scope) Regions(pairID int64) (supported, supporting int64) {
	return sc.regions[pairID].ID, sc.supportingRegions[pairID]
}

// Within keeps, of each report, the items whose period overlaps [from, to]:
// one evaluation over several terms, split per term. An item's grade
// depends on its period and the date only, so this equals evaluating each
// window on its own.
func Within(reports []PairReport, from, to date.Date) []PairReport {
	out := make([]PairReport, len(reports))
	for i, r := range reports {
		items := make([]Item, 0, len(r.Items))
		for _, it := range r.Items {
			if calendar.Overlaps(it.PeriodStart, it.PeriodEnd, from, to) {
				items = append(items, it)
			}
		}
		r.Items = items
		out[i] = r
	}
	return out
}

// earliestEnd is the earliest end of the periods opt selects in the scope:
// how far back its totals must be read. Agreements of a programme share a
// few spans, so it is worked out once per kind and span.
func (sc Scope) earliestEnd(rules Rules, opt Options) date.Date {
	type span struct {
		kind              calendar.PeriodKind
		from, to, decided date.Date
	}
	seen := map[span]bool{}
	var min date.Date
	for _, ags := range sc.Agreements {
		for _, ag := range ags {
			for _, c := range ag.Commitments {
				k := span{c.Period, ag.EffectiveFrom, ag.EffectiveTo, ag.DecidedThrough}
				if seen[k] {
					continue
				}
				seen[k] = true
				for _, p := range selected(rules, sc.Calendar, c.Period, ag, opt) {
					if min.IsZero() || p.End.Before(min) {
						min = p.End
					}
				}
			}
		}
	}
	return min
}

// EvaluateScope grades the scope from the read model in two steps: first the
// periods alone (pure, cheap) to learn the earliest period end shown, then
// the totals of those periods only — a bounded read whatever the length of
// the history.
func (r *Reader) EvaluateScope(ctx context.Context, sc Scope, opt Options) ([]PairReport, error) {
	if len(sc.Pairs) == 0 {
		return []PairReport{}, nil
	}
	since := sc.earliestEnd(r.rules, opt)
	if since.IsZero() {
		return sc.Evaluate(r.rules, opt, Totals{}), nil
	}
	cond, args := sc.cond, sc.args
	if sc.large {
		// Re-evaluating the scope per total costs more than reading the
		// totals of every pair: totals are keyed by commitment, and only
		// the scope's commitments are looked up.
		cond, args = "", nil
	}
	totals, err := r.ledger.LoadEnding(ctx, since, opt.EndsBy, cond, args...)
	if err != nil {
		return nil, err
	}
	return sc.Evaluate(r.rules, opt, totals), nil
}

// Pair reports every period of every commitment of a pair that has started
// by at.
func (r *Reader) Pair(ctx context.Context, a auth.Actor, pairID int64, at date.Date) (PairReport, error) {
	cond, args := pairing.ScopeSQL(a)
	sc, err := r.Load(ctx, "pairs.id = ? AND "+cond, append([]any{pairID}, args...)...)
	if err != nil {
		return PairReport{}, err
	}
	if len(sc.Pairs) == 0 {
		return PairReport{}, errs.NotFound("pair")
	}
	reps, err := r.EvaluateScope(ctx, sc, Options{At: at, Mode: All})
	if err != nil {
		return PairReport{}, err
	}
	return reps[0], nil
}

// Query selects a dashboard view.
type Query struct {
	At       date.Date
	RegionID int64
	Term     string // a term key: the periods overlapping that term
	Status   Status // keep items (and pairs) with this status
	Page     page.Page
	// After is a keyset cursor: the page holds the pairs with an id above
	// it (0: from the first), Page.Offset of them skipped.
	After int64
}

// Report is the compliance of the pairs in an actor's scope.
type Report struct {
	At      date.Date      `json:"at"`
	Term    string         `json:"term,omitempty"`
	Summary map[Status]int `json:"summary"`
	Items   []PairReport   `json:"items"`
	Limit   int            `json:"limit"`
	Offset  int            `json:"offset"`
	Total   int64          `json:"total"`
	// NextAfter is the cursor of the next page (the last pair id of this
	// one, for Query.After) while pairs follow; absent on the last page.
	NextAfter *int64 `json:"next_after,omitempty"`
}

// next sets NextAfter when more pairs follow the page.
func (rep *Report) next(more bool) {
	if more && len(rep.Items) > 0 {
		id := rep.Items[len(rep.Items)-1].PairID
		rep.NextAfter = &id
	}
}

// window is the page of p after the pair id after in a list of n sorted
// by pair id (idAt): its bounds, and whether pairs follow it.
func window(n int, idAt func(int) int64, after int64, p page.Page) (lo, hi int, more bool) {
	start := sort.Search(n, func(i int) bool { return idAt(i) > after })
	lo = min(start+p.Offset, n)
	hi = min(lo+p.Limit, n)
	return lo, hi, hi < n
}

// Scope reports the pairs a sees, a page at a time (by offset, or after
// a pair id). Without a term, each commitment shows its current period
// (the running one, or the last one started); with a term, every period
// overlapping it. The summary counts the items of the whole scope before
// the status filter, so KPI cards do not change with paging.
//
// Without a status filter a page costs in proportion to the page: only
// the page's pair ids are read, in id order (PairIDsUnder for a few
// thousand pairs, PageUnder's walk of the primary key above that), only
// the page's pairs are loaded and graded, and the summary comes from the
// status read model instead of grading every pair.
func (r *Reader) Scope(ctx context.Context, a auth.Actor, q Query) (Report, error) {
	p := q.Page.Normalize()
	out := Report{At: q.At, Term: q.Term, Items: []PairReport{}, Limit: p.Limit, Offset: p.Offset}
	if q.Status != "" {
		kept, summary, err := r.Reports(ctx, a, q)
		if err != nil {
			return Report{}, err
		}
		lo, hi, more := window(len(kept), func(i int) int64 { return kept[i].PairID }, q.After, p)
		out.Summary, out.Items, out.Total = summary, kept[lo:hi], int64(len(kept))
		out.next(more)
		return out, nil
	}
	cond, args, err := r.scopeCond(ctx, a, q)
	if err != nil {
		return Report{}, err
	}
	cal, err := r.calendar(ctx, Scope{})
	if err != nil {
		return Report{}, err
	}
	opt, err := options(cal, q)
	if err != nil {
		return Report{}, err
	}
	// ids: the scope's pair ids, or (paged) only the page's and one more,
	// which tells whether pairs follow
	var ids []int64
	paged := false
	scope, path, region, err := r.regionScope(ctx, a, q)
	if err != nil {
		return Report{}, err
	}
	total := 0
	if region {
		// a region's scope: counted by the status read model; a small one
		// read by two indexed lookups, a large one only its page's ids
		all := 0
		if total, all, err = r.pairsOf(ctx, scope); err != nil {
			return Report{}, err
		}
		switch {
		case total <= r.fullBelow():
			ids, err = r.PairIDsUnder(ctx, path, 0, 0, -1)
		case total == all:
			// every pair of the programme (a province, the one city of an
			// embedded programme): a range of the primary key
			ids, err = r.PageUnder(ctx, "", q.After, p.Offset, p.Limit+1)
			paged = true
		case total <= r.listBelow():
			// a few thousand pairs: the indexed lookups, then the page
			ids, err = r.PairIDsUnder(ctx, path, q.After, p.Offset, p.Limit+1)
			paged = true
		default:
			// a large share of the programme: walk the pairs in order
			ids, err = r.PageUnder(ctx, path, q.After, p.Offset, p.Limit+1)
			paged = true
		}
		if err != nil {
			return Report{}, err
		}
	} else {
		if err := r.db.Conn(ctx).Table("pairs").Where(cond, args...).Order("pairs.id").Pluck("pairs.id", &ids).Error; err != nil {
			return Report{}, err
		}
		total = len(ids)
	}
	out.Total = int64(total)
	if total <= r.fullBelow() && !paged {
		// a county: grading every pair costs less than the summary's
		// statements
		sc, err := r.Load(ctx, "pairs.id IN ?", ids)
		if err != nil {
			return Report{}, err
		}
		reports, err := r.EvaluateScope(ctx, sc, opt)
		if err != nil {
			return Report{}, err
		}
		summary := map[Status]int{Met: 0, OnTrack: 0, AtRisk: 0, Breached: 0}
		for _, rep := range reports {
			for k, v := range Summarise(rep.Items) {
				summary[k] += v
			}
		}
		lo, hi, more := window(len(reports), func(i int) int64 { return reports[i].PairID }, q.After, p)
		out.Summary, out.Items = summary, reports[lo:hi]
		out.next(more)
		return out, nil
	}
	var pageIDs []int64
	more := false
	if paged {
		more = len(ids) > p.Limit
		pageIDs = ids[:min(len(ids), p.Limit)]
	} else {
		var lo, hi int
		lo, hi, more = window(len(ids), func(i int) int64 { return ids[i] }, q.After, p)
		pageIDs = ids[lo:hi]
	}
	if len(pageIDs) > 0 {
		sc, err := r.Load(ctx, "pairs.id IN ?", pageIDs)
		if err != nil {
			return Report{}, err
		}
		if out.Items, err = r.EvaluateScope(ctx, sc, opt); err != nil {
			return Report{}, err
		}
	}
	out.next(more)
	out.Summary = map[Status]int{Met: 0, OnTrack: 0, AtRisk: 0, Breached: 0}
	if total > 0 {
		// a region's scope: the status read model, rows in proportion to
		// its areas and shapes
		v, ok, err := r.View(ctx, a, q, nil)
		if err != nil {
			return Report{}, err
		}
		if ok && !r.summaryByCond {
			out.Summary = v.Total
		} else {
			// otherwise the summary's statements, selecting the scope by
			// the id list when it is short (and known: not a region's
			// page), by the condition when it is a large share of the
			// programme
			sumCond, sumArgs := cond, args
			byIDs := !paged && total <= maxIDList && !r.summaryByCond
			if byIDs {
				sumCond, sumArgs = "pairs.id IN ?", []any{ids}
			}
			if out.Summary, err = r.summary(ctx, cal, opt, sumCond, sumArgs, byIDs); err != nil {
				return Report{}, err
			}
		}
	}
	return out, nil
}

// scopeCond is the condition on "pairs" selecting what a sees under q.
func (r *Reader) scopeCond(ctx context.Context, a auth.Actor, q Query) (string, []any, error) {
	cond, args := pairing.ScopeSQL(a)
	if q.RegionID != 0 {
		path, err := r.dir.RegionPath(ctx, q.RegionID, "region_id")
		if err != nil {
			return "", nil, err
		}
		rc, rargs := pairing.RegionSQL(path)
		cond, args = cond+" AND "+rc, append(args, rargs...)
	}
	return cond, args, nil
}

// options are the evaluation options of q: the current period of each
// commitment, or the periods overlapping q.Term.
func options(cal calendar.Calendar, q Query) (Options, error) {
	if q.Term == "" {
		return Options{At: q.At, Mode: Current}, nil
	}
	t, ok := findTerm(cal, q.Term)
	if !ok {
		return Options{}, errs.Field("term", "no term "+q.Term+"; use a key such as 2026-2027-autumn")
	}
	return Options{At: q.At, Mode: Window, From: t.StartsOn, To: t.EndsOn}, nil
}

// Reports is every pair of Scope (no paging), for exports and dashboards,
// with the summary of the whole scope.
func (r *Reader) Reports(ctx context.Context, a auth.Actor, q Query) ([]PairReport, map[Status]int, error) {
	switch q.Status {
	case "", Met, OnTrack, AtRisk, Breached:
	default:
		return nil, nil, errs.Field("status", "must be met, on_track, at_risk or breached")
	}
	cond, args, err := r.scopeCond(ctx, a, q)
	if err != nil {
		return nil, nil, err
	}
	sc, err := r.Load(ctx, cond, args...)
	if err != nil {
		return nil, nil, err
	}
	cal := sc.Calendar
	if len(sc.Pairs) == 0 && q.Term != "" {
		if cal, err = r.calendar(ctx, sc); err != nil {
			return nil, nil, err
		}
	}
	opt, err := options(cal, q)
	if err != nil {
		return nil, nil, err
	}
	reports, err := r.EvaluateScope(ctx, sc, opt)
	if err != nil {
		return nil, nil, err
	}
	summary := map[Status]int{Met: 0, OnTrack: 0, AtRisk: 0, Breached: 0}
	kept := reports[:0]
	for _, rep := range reports {
		for k, v := range Summarise(rep.Items) {
			summary[k] += v
		}
		if q.Status != "" {
			items := rep.Items[:0]
			for _, it := range rep.Items {
				if it.Status == q.Status {
					items = append(items, it)
				}
			}
			if len(items) == 0 {
				continue
			}
			rep.Items = items
		}
		kept = append(kept, rep)
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].PairID < kept[j].PairID })
	return kept, summary, nil
}

// calendar loads the terms when the scope was empty (Load skips them).
func (r *Reader) calendar(ctx context.Context, sc Scope) (calendar.Calendar, error) {
	var terms []calendar.Term
	if err := r.db.Conn(ctx).Table("terms").Order("starts_on").Find(&terms).Error; err != nil {
		return sc.Calendar, err
	}
	return calendar.New(terms), nil
}

func findTerm(cal calendar.Calendar, key string) (calendar.Term, bool) {
	for _, t := range cal.Terms() {
		if t.Key() == key {
			return t, true
		}
	}
	return calendar.Term{}, false
}

// PairFromFacts is Pair computed from the activity history instead of the
// read model: the reference the read model is tested against.
func (r *Reader) PairFromFacts(ctx context.Context, a auth.Actor, pairID int64, at date.Date) (PairReport, error) {
	cond, args := pairing.ScopeSQL(a)
	cond, args = "pairs.id = ? AND "+cond, append([]any{pairID}, args...)
	sc, err := r.Load(ctx, cond, args...)
	if err != nil {
		return PairReport{}, err
	}
	if len(sc.Pairs) == 0 {
		return PairReport{}, errs.NotFound("pair")
	}
	var facts []Fact
	if err := r.db.Conn(ctx).Table("activities").
		Select("pair_id, category, occurred_on, logged_on, imported, status, COUNT(*) AS count, SUM(hours) AS hours, SUM(persons) AS persons").
		Where("status IN ? AND pair_id IN (SELECT pairs.id FROM pairs WHERE "+cond+")", append([]any{[]string{"confirmed", "pending"}}, args...)...).
		Group("pair_id, category, occurred_on, logged_on, imported, status").Find(&facts).Error; err != nil {
		return PairReport{}, err
	}
	p := sc.Pairs[0]
	rep := PairReport{PairID: p.ID, At: at, Status: p.Status, Round: p.Round,
		SupportingSchool: School{p.SupportingSchoolID, p.SupportingSchoolName},
		SupportedSchool:  School{p.SupportedSchoolID, p.SupportedSchoolName}, Items: []Item{}}
	for _, ag := range sc.Agreements[p.ID] {
		rep.Items = append(rep.Items, Evaluate(r.rules, sc.Calendar, ag, facts, Options{At: at, Mode: All})...)
	}
	return rep, nil
}

// defaultEachBatch is how many pairs Each loads and grades at a time.
const defaultEachBatch = 500

// Each is Reports a batch of pairs at a time, in pair order, for exports:
// memory is bounded by a batch, not the scope. start runs once the query
// is known to be valid and before the first batch (a response can commit
// its headers there); fn gets each batch, filtered like Reports.
func (r *Reader) Each(ctx context.Context, a auth.Actor, q Query, start func() error, fn func([]PairReport) error) error {
	switch q.Status {
	case "", Met, OnTrack, AtRisk, Breached:
	default:
		return errs.Field("status", "must be met, on_track, at_risk or breached")
	}
	cond, args, err := r.scopeCond(ctx, a, q)
	if err != nil {
		return err
	}
	cal, err := r.calendar(ctx, Scope{})
	if err != nil {
		return err
	}
	opt, err := options(cal, q)
	if err != nil {
		return err
	}
	var ids []int64
	if err := r.db.Conn(ctx).Table("pairs").Where(cond, args...).Order("pairs.id").Pluck("pairs.id", &ids).Error; err != nil {
		return err
	}
	if err := start(); err != nil {
		return err
	}
	batch := r.eachBatch
	if batch <= 0 {
		batch = defaultEachBatch
	}
	for lo := 0; lo < len(ids); lo += batch {
		sc, err := r.Load(ctx, "pairs.id IN ?", ids[lo:min(lo+batch, len(ids))])
		if err != nil {
			return err
		}
		reports, err := r.EvaluateScope(ctx, sc, opt)
		if err != nil {
			return err
		}
		if q.Status != "" {
			kept := reports[:0]
			for _, rep := range reports {
				items := rep.Items[:0]
				for _, it := range rep.Items {
					if it.Status == q.Status {
						items = append(items, it)
					}
				}
				if len(items) > 0 {
					rep.Items = items
					kept = append(kept, rep)
				}
			}
			reports = kept
		}
		if err := fn(reports); err != nil {
			return err
		}
	}
	return nil
}
