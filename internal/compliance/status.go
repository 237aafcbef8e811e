package compliance

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
)

// The status read model (migration 0011, table status_counts): per scope
// region, area, shape and categories, how many commitments there are
// (sums = 0) and how many of their periods have a non-trivial achieved sum
// (sums = 1, bucketed). Every statement here is set-based: one INSERT …
// SELECT … GROUP BY whatever the number of pairs, so the same SQL keeps
// the model in step with one transition, with one pair's lifecycle change
// and rebuilds it from scratch.

// StatusTable is the table of the status read model.
const StatusTable = "status_counts"

// StatusKey is the unique key of status_counts, in its index order (a
// shadow table RebuildStatus fills needs a unique index on these columns).
const StatusKey = "scope_id, sums, period_end, period_start, area_id, effective_from, effective_to, period, ends_on, minimum, measure, categories, achieved"

const statusCols = "scope_id, area_id, effective_from, effective_to, period, ends_on, minimum, measure, categories, sums, period_start, period_end, achieved, n"

// neverRetired stands for a NULL ends_on in the unique key (NULLs are all
// distinct in a unique index); the last date a date.Date holds.
const neverRetired = "2199-12-31"

func (l *Ledger) concat(a, b string) string {
	if l.db.Dialect() == database.MySQL {
		return "CONCAT(" + a + ", " + b + ")"
	}
	return "(" + a + " || " + b + ")"
}

// bucket is the SQL of the achieved sum as the grade sees it (see the
// migration): every threshold grade compares a sum with is the minimum or
// a whole unit not above it rounded up, so the sum capped at the minimum
// rounded up, else the minimum once reached, else the sum rounded down
// grades the same at every date. On SQLite the sums are floats: rounded
// to hundredths first.
func (l *Ledger) bucket() string {
	a, ceil, floor := "t.achieved", "CEILING(c.minimum)", "FLOOR(t.achieved)"
	if l.db.Dialect() != database.MySQL {
		a = "ROUND(t.achieved, 2)"
		ceil = "(CASE WHEN c.minimum = CAST(c.minimum AS INTEGER) THEN c.minimum ELSE CAST(c.minimum AS INTEGER) + 1 END)"
		floor = "CAST(ROUND(t.achieved, 2) AS INTEGER)"
	}
	return "(CASE WHEN " + a + " >= " + ceil + " THEN " + ceil + " WHEN " + a + " >= c.minimum THEN c.minimum ELSE " + floor + " END)"
}

// statusSQL is one INSERT … SELECT of the rows the pairs matching pairCond
// (on "p") contribute, counted with sign (+1 or -1): their commitments
// (shapes) and/or their totals matching totalsCond (on "t"; sums). It
// groups twice, so that the wide grouping never multiplies: g groups by
// the two schools' regions (dr, ur) and the shape — a pair's contribution
// is the same for every pair of the same two regions —; each group then
// fans out (fan, a few hundred rows) to the scopes either region lies
// under (a bureau of that region sees the pair, pairing.ScopeSQL) and the
// programme (scope 0), with the area the dashboard files the pair under
// (web dashboardAreas): the scope's child holding the supported school,
// else the supporting one; 0 when that school sits in the scope region
// itself, the provinces under scope 0.
func (l *Ledger) statusSQL(table, totals string, upsert bool, pairCond string, pairArgs []any, totalsCond string, totalsArgs []any, sign int, shapes, sums bool) (string, []any) {
	under := func(path, anc string) string { return path + " LIKE " + l.concat(anc, "'%'") }
	n := "COUNT(*)"
	if sign < 0 {
		n = "-COUNT(*)"
	}
	shapeCols := "ds.region_id AS dr, us.region_id AS ur, a.effective_from AS ef, a.effective_to AS et, c.period AS kind, COALESCE(c.ends_on, '" + neverRetired + "') AS eo, c.minimum AS mn, c.measure AS ms, c.categories AS cats"
	schools := " JOIN pairs p ON p.id = a.pair_id JOIN schools ds ON ds.id = p.supported_school_id JOIN schools us ON us.id = p.supporting_school_id"
	var parts []string
	var args []any
	if shapes {
		parts = append(parts, "SELECT "+shapeCols+", 0 AS sums, a.effective_from AS pst, a.effective_to AS pen, 0 AS b, "+n+" AS n"+
			" FROM commitments c JOIN agreements a ON a.id = c.agreement_id"+schools+" WHERE "+pairCond+" GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13")
		args = append(args, pairArgs...)
	}
	if sums {
		parts = append(parts, "SELECT "+shapeCols+", 1 AS sums, t.period_start AS pst, t.period_end AS pen, "+l.bucket()+" AS b, "+n+" AS n"+
			" FROM "+totals+" t JOIN commitments c ON c.id = t.commitment_id JOIN agreements a ON a.id = c.agreement_id"+schools+
			" WHERE "+l.bucket()+" > 0 AND "+pairCond+" AND "+totalsCond+" GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13")
		args = append(args, pairArgs...)
		args = append(args, totalsArgs...)
	}
	if shapes {
		// sums = 2: the pairs themselves (a dashboard's pair count)
		none := "'" + neverRetired + "'"
		parts = append(parts, "SELECT ds.region_id, us.region_id, "+none+", "+none+", '', "+none+", 0, '', '', 2, "+none+", "+none+", 0, "+n+
			" FROM pairs p JOIN schools ds ON ds.id = p.supported_school_id JOIN schools us ON us.id = p.supporting_school_id WHERE "+pairCond+
			" GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13")
		args = append(args, pairArgs...)
	}
	// ra: every region, each region it lies under (itself included) and
	// the child of that one on the way down (0: the region itself)
	ra := "SELECT r.id AS region_id, anc.id AS anc_id, COALESCE((SELECT ch.id FROM regions ch WHERE ch.parent_id = anc.id AND " +
		under("r.path", "ch.path") + "), 0) AS child_id, anc.level AS level FROM regions r JOIN regions anc ON " + under("r.path", "anc.path")
	// combos: the (supported, supporting) region pairs of the pairs (joins,
	// not correlated subqueries, over ra: MariaDB would build ra again for
	// every row)
	combos := "SELECT DISTINCT ds.region_id AS dr, us.region_id AS ur FROM pairs p JOIN schools ds ON ds.id = p.supported_school_id" +
		" JOIN schools us ON us.id = p.supporting_school_id WHERE " + pairCond
	args = append(append([]any{}, pairArgs...), args...)
	fan := "SELECT cb.dr, cb.ur, ra.anc_id AS scope_id, ra.child_id AS area_id FROM combos cb JOIN ra ON ra.region_id = cb.dr" +
		" UNION ALL SELECT cb.dr, cb.ur, ra.anc_id, ra.child_id FROM combos cb JOIN ra ON ra.region_id = cb.ur" +
		" LEFT JOIN ra r2 ON r2.region_id = cb.dr AND r2.anc_id = ra.anc_id WHERE r2.region_id IS NULL" +
		" UNION ALL SELECT cb.dr, cb.ur, 0, COALESCE(r3.anc_id, 0) FROM combos cb LEFT JOIN ra r3 ON r3.region_id = cb.dr AND r3.level = 'province'"
	q := "INSERT INTO " + table + " (" + statusCols + ") WITH ra AS (" + ra + "), combos AS (" + combos + "), fan AS (" + fan + ")" +
		" SELECT fan.scope_id, fan.area_id, g.ef, g.et, g.kind, g.eo, g.mn, g.ms, g.cats, g.sums, g.pst, g.pen, g.b, SUM(g.n)" +
		" FROM (" + strings.Join(parts, " UNION ALL ") + ") g JOIN fan ON fan.dr = g.dr AND fan.ur = g.ur" +
		" WHERE 1 = 1 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"
	if upsert {
		if l.db.Dialect() == database.MySQL {
			q += " ON DUPLICATE KEY UPDATE n = n + VALUES(n)"
		} else {
			q += " ON CONFLICT (" + StatusKey + ") DO UPDATE SET n = n + excluded.n"
		}
	}
	return q, args
}

func (l *Ledger) exec(ctx context.Context, q string, args []any) error {
	return l.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Exec(q, args...).Error
}

// RebuildStatus fills table (status_counts or a shadow copy of it with
// its unique index, empty or not) from scratch from period_totals,
// commitments, agreements, pairs, schools and regions: a DELETE, then one
// INSERT … SELECT … GROUP BY per statusBatch pairs (by id range), each
// adding to what the batches before it wrote. No loop over rows: batches
// keep each statement's grouping small enough to stay in memory (one
// statement over 10,000 pairs spills to disk on MariaDB and takes 4× as
// long). Call it after period_totals is complete, in the same transaction
// when readers must never see the two disagree.
func (l *Ledger) RebuildStatus(ctx context.Context, table string) error {
	return l.RebuildStatusFrom(ctx, table, "period_totals")
}

// RebuildStatusFrom is RebuildStatus reading the totals from totals (a
// shadow copy of period_totals being built beside it).
func (l *Ledger) RebuildStatusFrom(ctx context.Context, table, totals string) error {
	if err := l.exec(ctx, "DELETE FROM "+table, nil); err != nil {
		return err
	}
	var bounds struct{ Lo, Hi int64 }
	if err := l.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Raw("SELECT COALESCE(MIN(id), 0) AS lo, COALESCE(MAX(id), -1) AS hi FROM pairs").Scan(&bounds).Error; err != nil {
		return err
	}
	batch := l.statusBatch
	if batch <= 0 {
		batch = defaultStatusBatch
	}
	for lo := bounds.Lo; lo <= bounds.Hi; lo += batch {
		q, args := l.statusSQL(table, totals, true, "p.id BETWEEN ? AND ?", []any{lo, lo + batch - 1}, "1 = 1", nil, +1, true, true)
		if err := l.exec(ctx, q, args); err != nil {
			return err
		}
	}
	return nil
}

// defaultStatusBatch is the pair-id range one statement of RebuildStatus
// covers.
const defaultStatusBatch = 500

// DetachStatus removes what the pairs contribute to the status read model,
// as the database holds them now; AttachStatus adds it back. A change to
// what a grade depends on (an agreement's span, a commitment's minimum or
// retirement, a school's region, a pair's agreements) runs Detach before
// it and Attach after it, in its transaction; Ledger.RebuildPair(s)
// attaches for itself.
func (l *Ledger) DetachStatus(ctx context.Context, pairIDs []int64) error {
	return l.moveStatus(ctx, pairIDs, -1)
}

// AttachStatus: see DetachStatus.
func (l *Ledger) AttachStatus(ctx context.Context, pairIDs []int64) error {
	return l.moveStatus(ctx, pairIDs, +1)
}

func (l *Ledger) moveStatus(ctx context.Context, pairIDs []int64, sign int) error {
	if len(pairIDs) == 0 {
		return nil
	}
	q, args := l.statusSQL(StatusTable, "period_totals", true, "p.id IN ?", []any{pairIDs}, "1 = 1", nil, sign, true, true)
	return l.exec(ctx, q, args)
}

// moveSums moves the sums rows of some totals of one pair by sign: Move
// runs it with -1 before changing the totals and +1 after.
func (l *Ledger) moveSums(ctx context.Context, pairID int64, keys []TotalKey, sign int) error {
	if len(keys) == 0 {
		return nil
	}
	ors := make([]string, len(keys))
	var targs []any
	for i, k := range keys {
		ors[i] = "(t.commitment_id = ? AND t.period_key = ?)"
		targs = append(targs, k.CommitmentID, k.PeriodKey)
	}
	q, args := l.statusSQL(StatusTable, "period_totals", true, "p.id = ?", []any{pairID}, "("+strings.Join(ors, " OR ")+")", targs, sign, false, true)
	return l.exec(ctx, q, args)
}

// StatusCounts are commitment-periods by status, for one view.
type StatusCounts map[Status]int

func newCounts() StatusCounts { return StatusCounts{Met: 0, OnTrack: 0, AtRisk: 0, Breached: 0} }

// StatusView is a view of a scope from the status read model: the items of
// opt by status, per area and categories, and per window (the trend: the
// items whose period overlaps each window, at opt.At).
type StatusView struct {
	Total      StatusCounts
	ByArea     map[int64]StatusCounts
	ByCategory map[string]StatusCounts
	// Cells are the counts per area and category (the heat map of areas).
	Cells   map[int64]map[string]StatusCounts
	Windows []StatusCounts
}

// Span is a span of dates a trend point counts the periods overlapping.
type Span struct{ From, To date.Date }

// StatusOf reads the view of scope (a region id, 0 for the whole
// programme) under opt (Current or Window) from the status read model: two
// indexed range reads of the scope's rows, each graded once.
func (r *Reader) StatusOf(ctx context.Context, scope int64, cal calendar.Calendar, opt Options, windows []Span) (StatusView, error) {
	v := StatusView{Total: newCounts(), ByArea: map[int64]StatusCounts{}, ByCategory: map[string]StatusCounts{},
		Cells: map[int64]map[string]StatusCounts{}, Windows: make([]StatusCounts, len(windows))}
	for i := range v.Windows {
		v.Windows[i] = newCounts()
	}
	conn := r.db.Conn(ctx)
	fresh := func() *gorm.DB { return conn.Session(&gorm.Session{NewDB: true}) }
	type group struct {
		area int64
		cats string
	}
	type graded struct {
		ag    Agreement
		items []Item
	}
	shapes := map[shape]*graded{}
	// counts per area and categories; KPI, areas and categories are sums
	// of these
	acc := map[group][]StatusCounts{}
	add := func(gk group, it *Item, st Status, n int) {
		cs := acc[gk]
		if cs == nil {
			cs = make([]StatusCounts, 1+len(windows))
			for i := range cs {
				cs[i] = newCounts()
			}
			acc[gk] = cs
		}
		if opt.Mode != Window || calendar.Overlaps(it.PeriodStart, it.PeriodEnd, opt.From, opt.To) {
			cs[0][st] += n
		}
		for i, w := range windows {
			if calendar.Overlaps(it.PeriodStart, it.PeriodEnd, w.From, w.To) {
				cs[1+i][st] += n
			}
		}
	}
	never := date.MustParse(neverRetired)
	shapeOf := func(from, to, endsOn date.Date, kind []byte, minimum decimal.D) (*graded, error) {
		s := shape{from: int32(dayNum(from)), to: int32(dayNum(to)), endsOn: -1, kind: kindCode(kind), minimum: minimum}
		if endsOn != never {
			s.endsOn = int32(dayNum(endsOn))
		} else {
			endsOn = date.Date{}
		}
		g := shapes[s]
		if g == nil {
			ag := Agreement{EffectiveFrom: from, EffectiveTo: to,
				Commitments: []Commitment{{Period: calendar.PeriodKind(string(kind)), Minimum: minimum, EndsOn: endsOn}}}
			g = &graded{ag: ag, items: evaluate(r.rules, cal, ag, opt, nil, func(*Commitment, []Item) {})}
			shapes[s] = g
		}
		return g, nil
	}
	rows, err := fresh().Table(StatusTable).
		Select("area_id, effective_from, effective_to, period, ends_on, minimum, categories, n").
		Where("scope_id = ? AND sums = 0 AND n <> 0", scope).Rows()
	if err != nil {
		return v, err
	}
	type span struct{ start, end date.Date }
	periods := map[span]bool{}
	for rows.Next() {
		var gk group
		var from, to, endsOn date.Date
		var kind []byte
		var minimum decimal.D
		var n int
		if err := rows.Scan(&gk.area, &from, &to, &kind, &endsOn, &minimum, &gk.cats, &n); err != nil {
			rows.Close()
			return v, err
		}
		g, _ := shapeOf(from, to, endsOn, kind, minimum)
		for i := range g.items {
			it := &g.items[i]
			periods[span{it.PeriodStart, it.PeriodEnd}] = true
			add(gk, it, it.Status, n)
		}
	}
	if err := rows.Close(); err != nil {
		return v, err
	}
	if len(periods) > 0 {
		// only the sums of the periods shown can move a count
		var ors []string
		var args []any
		var since date.Date
		for p := range periods {
			if since.IsZero() || p.end.Before(since) {
				since = p.end
			}
			ors = append(ors, "(period_end = ? AND period_start = ?)")
			args = append(args, p.end, p.start)
		}
		cond := "period_end >= ?"
		if len(periods) <= maxPeriodList {
			cond = "(" + strings.Join(ors, " OR ") + ")"
		} else {
			args = []any{since}
		}
		rows, err := fresh().Table(StatusTable).
			Select("area_id, effective_from, effective_to, period, ends_on, minimum, categories, period_start, period_end, achieved, n").
			Where("scope_id = ? AND sums = 1 AND n <> 0", scope).Where(cond, args...).Rows()
		if err != nil {
			return v, err
		}
		atN := dayNum(opt.At)
		maxReminder, hasReminder := 0, false
		for _, m := range r.rules.ReminderDays {
			if !hasReminder || m > maxReminder {
				maxReminder, hasReminder = m, true
			}
		}
		for rows.Next() {
			var gk group
			var from, to, endsOn, start, end date.Date
			var kind []byte
			var minimum, achieved decimal.D
			var n int
			if err := rows.Scan(&gk.area, &from, &to, &kind, &endsOn, &minimum, &gk.cats, &start, &end, &achieved, &n); err != nil {
				rows.Close()
				return v, err
			}
			g, _ := shapeOf(from, to, endsOn, kind, minimum)
			for i := range g.items {
				it := &g.items[i]
				if it.PeriodStart != start || it.PeriodEnd != end {
					continue
				}
				add(gk, it, it.Status, -n)
				one := []Item{*it}
				one[0].Achieved = achieved
				grade(r.rules, g.ag, &g.ag.Commitments[0], one, atN, maxReminder, hasReminder)
				add(gk, it, one[0].Status, n)
				break
			}
		}
		if err := rows.Close(); err != nil {
			return v, err
		}
	}
	for gk, cs := range acc {
		area := v.ByArea[gk.area]
		if area == nil {
			area = newCounts()
			v.ByArea[gk.area] = area
		}
		cells := v.Cells[gk.area]
		if cells == nil {
			cells = map[string]StatusCounts{}
			v.Cells[gk.area] = cells
		}
		cats := strings.Split(gk.cats, ",")
		for st, n := range cs[0] {
			v.Total[st] += n
			area[st] += n
			for _, c := range cats {
				if c == "" {
					continue
				}
				if v.ByCategory[c] == nil {
					v.ByCategory[c] = newCounts()
				}
				v.ByCategory[c][st] += n
				if cells[c] == nil {
					cells[c] = newCounts()
				}
				cells[c][st] += n
			}
		}
		for i := range windows {
			for st, n := range cs[1+i] {
				v.Windows[i][st] += n
			}
		}
	}
	return v, nil
}

// statusScope is the scope region of the status read model that selects
// exactly the pairs a sees under q (pairing.ScopeSQL and RegionSQL: either
// school in the subtree), or false when none does (a school's users, a
// bureau looking at an unrelated region).
func (r *Reader) statusScope(ctx context.Context, a auth.Actor, q Query) (int64, bool, error) {
	id, _, ok, err := r.regionScope(ctx, a, q)
	return id, ok, err
}

// regionScope is statusScope with the scope region's path ("" for the
// whole programme).
func (r *Reader) regionScope(ctx context.Context, a auth.Actor, q Query) (int64, string, bool, error) {
	var path string
	if q.RegionID != 0 {
		p, err := r.dir.RegionPath(ctx, q.RegionID, "region_id")
		if err != nil {
			return 0, "", false, err
		}
		path = p
	}
	switch {
	case a.IsAdmin():
		return q.RegionID, path, true, nil
	case a.IsBureau() && a.RegionPath != "":
		switch {
		case q.RegionID == 0, strings.HasPrefix(a.RegionPath, path):
			// the bureau's own region, or one above it: its own scope
			return a.RegionID, a.RegionPath, true, nil
		case strings.HasPrefix(path, a.RegionPath):
			return q.RegionID, path, true, nil
		}
	}
	return 0, "", false, nil
}

// PairsIn counts the pairs of a scope region (0: the programme) from the
// status read model: a few rows, whatever the number of pairs.
func (r *Reader) PairsIn(ctx context.Context, scope int64) (int, error) {
	n, _, err := r.pairsOf(ctx, scope)
	return n, err
}

// pairsOf counts the pairs of a scope region and of the whole programme
// in one statement on the status read model: when the two agree, the
// scope holds every pair (a province's bureau in a one-province
// programme) and its pages are pages of the pairs table itself.
func (r *Reader) pairsOf(ctx context.Context, scope int64) (n, all int, err error) {
	var rows []struct {
		ScopeID int64
		N       int64
	}
	err = r.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).
		Raw("SELECT scope_id, COALESCE(SUM(n), 0) AS n FROM "+StatusTable+" WHERE scope_id IN ? AND sums = 2 GROUP BY scope_id", []int64{scope, 0}).
		Scan(&rows).Error
	for _, row := range rows {
		if row.ScopeID == scope {
			n = int(row.N)
		}
		if row.ScopeID == 0 {
			all = int(row.N)
		}
	}
	return n, all, err
}

// PageUnder is limit pair ids of the subtree of path ("" for every pair)
// after the pair id after (0: from the first), skipping offset of them, in
// id order, for a large scope: the pairs are walked in primary-key order
// and each tested through four primary-key lookups, and the walk stops at
// the page's end. The join order is forced (STRAIGHT_JOIN, SQLite's CROSS
// JOIN): left to itself MariaDB starts from the regions matching the LIKE,
// reads every pair of the scope and sorts them (201 ms for the first page
// of a 50,000-pair province). The cost follows offset + limit over the
// share of the programme the scope holds, not the scope's size; for every
// pair it is one range of the primary key.
func (r *Reader) PageUnder(ctx context.Context, path string, after int64, offset, limit int) ([]int64, error) {
	var ids []int64
	tail := fmt.Sprintf(" ORDER BY p.id LIMIT %d OFFSET %d", limit, offset)
	q, args := "SELECT p.id FROM pairs p WHERE p.id > ?"+tail, []any{after}
	if path != "" {
		join := "CROSS JOIN"
		if r.db.Dialect() == database.MySQL {
			join = "STRAIGHT_JOIN"
		}
		q = "SELECT p.id FROM pairs p " + join + " schools ds ON ds.id = p.supported_school_id " + join + " regions dr ON dr.id = ds.region_id " +
			join + " schools us ON us.id = p.supporting_school_id " + join + " regions ur ON ur.id = us.region_id" +
			" WHERE p.id > ? AND (dr.path LIKE ? OR ur.path LIKE ?)" + tail
		args = []any{after, path + "%", path + "%"}
	}
	err := r.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Raw(q, args...).Scan(&ids).Error
	return ids, err
}

// PairIDsUnder are the ids of the pairs with either school in the subtree
// of path (every pair when path is empty) after the pair id after, in id
// order, limit of them from offset (limit < 0: all): pairing.RegionSQL as
// two indexed lookups (regions by path, their schools, the pairs of those
// schools) instead of a scan of every pair testing two IN-lists.
func (r *Reader) PairIDsUnder(ctx context.Context, path string, after int64, offset, limit int) ([]int64, error) {
	var ids []int64
	q, args := pairsUnder(path)
	q = "SELECT id FROM (" + q + ") x WHERE id > ? ORDER BY id"
	args = append(args, after)
	if limit >= 0 {
		q += fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset)
	}
	err := r.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Raw(q, args...).Scan(&ids).Error
	return ids, err
}

func pairsUnder(path string) (string, []any) {
	if path == "" {
		return "SELECT id FROM pairs", nil
	}
	side := func(col string) string {
		return "SELECT p.id FROM regions r JOIN schools s ON s.region_id = r.id JOIN pairs p ON p." + col + " = s.id WHERE r.path LIKE ?"
	}
	return side("supported_school_id") + " UNION " + side("supporting_school_id"), []any{path + "%", path + "%"}
}

// View is the status read model's view of what a sees under q (its
// summary, areas, categories) and the items of each window at q.At; false
// when the scope is not a region's (Scope then grades the pairs).
func (r *Reader) View(ctx context.Context, a auth.Actor, q Query, windows []Span) (StatusView, bool, error) {
	return r.view(ctx, a, q, nil, windows)
}

// ViewWindow is View under opt instead of q's term (the dashboard's trend:
// one window over every term shown, counted per term).
func (r *Reader) ViewWindow(ctx context.Context, a auth.Actor, q Query, opt Options, windows []Span) (StatusView, bool, error) {
	return r.view(ctx, a, q, &opt, windows)
}

// view is View under opt, or q's own options when opt is nil.
func (r *Reader) view(ctx context.Context, a auth.Actor, q Query, opt *Options, windows []Span) (StatusView, bool, error) {
	scope, ok, err := r.statusScope(ctx, a, q)
	if err != nil || !ok {
		return StatusView{}, ok, err
	}
	cal, err := r.calendar(ctx, Scope{})
	if err != nil {
		return StatusView{}, false, err
	}
	if opt == nil {
		o, err := options(cal, q)
		if err != nil {
			return StatusView{}, false, err
		}
		opt = &o
	}
	v, err := r.StatusOf(ctx, scope, cal, *opt, windows)
	return v, err == nil, err
}
