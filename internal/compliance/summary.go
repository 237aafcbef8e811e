package compliance

import (
	"context"
	"strings"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
)

// shape is what a commitment's grade depends on besides its sums: the
// agreement's span, the period kind, the retirement date and the minimum.
// A programme has a few dozen shapes over tens of thousands of commitments.
type shape struct {
	from, to date.Date
	kind     calendar.PeriodKind
	endsOn   date.Date
	minimum  decimal.D
}

// summary counts the statuses Evaluate would give every commitment of the
// pairs matching cond under opt (Current or Window), without loading them
// one by one: the commitments are counted per shape, every shape's periods
// are graded once as if nothing counted, and the few (shape, period,
// achieved) groups of the read model with something achieved move their
// commitments to the status of that sum. Grades depend on the period, the
// date and the sums only, so this equals grading each commitment.
func (r *Reader) summary(ctx context.Context, cal calendar.Calendar, opt Options, cond string, args []any) (map[Status]int, error) {
	out := map[Status]int{Met: 0, OnTrack: 0, AtRisk: 0, Breached: 0}
	conn := r.db.Conn(ctx)
	fresh := func() *gorm.DB { return conn.Session(&gorm.Session{NewDB: true}) }
	const shapeCols = "agreements.effective_from, agreements.effective_to, commitments.period, commitments.ends_on, commitments.minimum"
	rows, err := fresh().Table("commitments").
		Select(shapeCols+", COUNT(*)").
		Joins("JOIN agreements ON agreements.id = commitments.agreement_id").
		Where("agreements.pair_id IN (SELECT pairs.id FROM pairs WHERE "+cond+")", args...).
		Group(shapeCols).Rows()
	if err != nil {
		return nil, err
	}
	type graded struct {
		ag    Agreement
		items []Item
	}
	shapes := map[shape]*graded{}
	for rows.Next() {
		var s shape
		var n int
		if err := rows.Scan(&s.from, &s.to, &s.kind, &s.endsOn, &s.minimum, &n); err != nil {
			rows.Close()
			return nil, err
		}
		// (the period keys of kind "agreement" name the agreement; grades
		// and the totals matched below use the dates only)
		ag := Agreement{EffectiveFrom: s.from, EffectiveTo: s.to,
			Commitments: []Commitment{{Period: s.kind, Minimum: s.minimum, EndsOn: s.endsOn}}}
		g := shapes[s]
		if g == nil {
			g = &graded{ag: ag, items: evaluate(r.rules, cal, ag, opt, func(*Commitment, []Item) {})}
			shapes[s] = g
		}
		for _, it := range g.items {
			out[it.Status] += n
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	// Only the totals of the periods shown can move a commitment: a few
	// distinct periods (this month, term, school year, the agreements'
	// spans), read through the period index instead of every total since
	// the earliest of them.
	type span struct{ start, end date.Date }
	periods := map[span]bool{}
	for _, g := range shapes {
		for _, it := range g.items {
			periods[span{it.PeriodStart, it.PeriodEnd}] = true
		}
	}
	if len(periods) == 0 {
		return out, nil
	}
	var since date.Date
	var ors []string
	var orArgs []any
	for p := range periods {
		if since.IsZero() || p.end.Before(since) {
			since = p.end
		}
		ors = append(ors, "(period_totals.period_end = ? AND period_totals.period_start = ?)")
		orArgs = append(orArgs, p.end, p.start)
	}
	periodCond, periodArgs := "period_totals.period_end >= ?", []any{since}
	if len(periods) <= maxPeriodList {
		periodCond, periodArgs = "("+strings.Join(ors, " OR ")+")", orArgs
	}
	atN := dayNum(opt.At)
	maxReminder, hasReminder := 0, false
	for _, m := range r.rules.ReminderDays {
		if !hasReminder || m > maxReminder {
			maxReminder, hasReminder = m, true
		}
	}
	const totalCols = shapeCols + ", period_totals.period_start, period_totals.period_end, period_totals.achieved"
	trows, err := fresh().Table("period_totals").
		Select(totalCols+", COUNT(*)").
		Joins("JOIN commitments ON commitments.id = period_totals.commitment_id").
		Joins("JOIN agreements ON agreements.id = commitments.agreement_id").
		Where("period_totals.achieved <> 0").
		Where(periodCond, periodArgs...).
		Where("period_totals.pair_id IN (SELECT pairs.id FROM pairs WHERE "+cond+")", args...).
		Group(totalCols).Rows()
	if err != nil {
		return nil, err
	}
	defer trows.Close()
	for trows.Next() {
		var s shape
		var start, end date.Date
		var achieved decimal.D
		var n int
		if err := trows.Scan(&s.from, &s.to, &s.kind, &s.endsOn, &s.minimum, &start, &end, &achieved, &n); err != nil {
			return nil, err
		}
		g := shapes[s]
		if g == nil {
			continue
		}
		for _, it := range g.items {
			if it.PeriodStart != start || it.PeriodEnd != end {
				continue
			}
			out[it.Status] -= n
			one := []Item{it}
			one[0].Achieved = achieved
			grade(r.rules, g.ag, &g.ag.Commitments[0], one, atN, maxReminder, hasReminder)
			out[one[0].Status] += n
			break
		}
	}
	return out, trows.Err()
}

// maxPeriodList bounds the periods summary names one by one.
const maxPeriodList = 64
