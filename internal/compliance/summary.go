package compliance

import (
	"context"
	"database/sql"
	"strings"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
)

// shape is what a commitment's grade depends on besides its sums: the
// agreement's span, the period kind, the retirement date and the minimum.
// A programme has a few dozen shapes over tens of thousands of commitments;
// the key is a few integers, cheap to hash once per commitment.
type shape struct {
	from, to, endsOn int32 // dayNum; endsOn -1 when never retired
	kind             uint8
	minimum          decimal.D
}

// kindCode is a small code of a period kind as stored, without allocating.
func kindCode(b []byte) uint8 {
	switch string(b) {
	case string(calendar.Month):
		return 1
	case string(calendar.TermPeriod):
		return 2
	case string(calendar.SchoolYear):
		return 3
	case string(calendar.Agreement):
		return 4
	}
	return 0
}

// summary counts the statuses Evaluate would give every commitment of the
// pairs matching cond under opt (Current or Window) without grading them
// one by one: three lean streams with no join (the scope's agreement
// spans, their commitments' shapes, and the read-model totals of the few
// periods shown that have something achieved). Every shape's periods are
// graded once as if nothing counted; each total then moves its commitment
// to the grade of its sum. Grades depend on the period, the date and the
// sums only, so this equals grading each commitment. byIDs says cond is
// "pairs.id IN ?" with an id list in args[0].
func (r *Reader) summary(ctx context.Context, cal calendar.Calendar, opt Options, cond string, args []any, byIDs bool) (map[Status]int, error) {
	out := map[Status]int{Met: 0, OnTrack: 0, AtRisk: 0, Breached: 0}
	conn := r.db.Conn(ctx)
	fresh := func() *gorm.DB { return conn.Session(&gorm.Session{NewDB: true}) }
	type span struct{ start, end date.Date }
	type agSpan struct {
		span
		from, to int32
	}
	agreements := map[int64]agSpan{}
	q := fresh().Table("agreements").Select("id, effective_from, effective_to")
	if byIDs {
		q = q.Where("pair_id IN ?", args...)
	} else {
		q = q.Where("pair_id IN (SELECT pairs.id FROM pairs WHERE "+cond+")", args...)
	}
	rows, err := q.Rows()
	if err != nil {
		return nil, err
	}
	agIDs := make([]int64, 0, 64)
	for rows.Next() {
		var id int64
		var sp agSpan
		if err := rows.Scan(&id, &sp.start, &sp.end); err != nil {
			rows.Close()
			return nil, err
		}
		sp.from, sp.to = int32(dayNum(sp.start)), int32(dayNum(sp.end))
		agreements[id] = sp
		agIDs = append(agIDs, id)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if len(agreements) == 0 {
		return out, nil
	}
	// The periods shown, from the agreements' spans alone (a retirement
	// date only drops periods, so this is a superset): the totals stream
	// starts now and runs beside the commitments' stream.
	periods := map[span]bool{}
	seenSpan := map[span]bool{}
	for _, sp := range agreements {
		if seenSpan[sp.span] {
			continue
		}
		seenSpan[sp.span] = true
		for _, kind := range []calendar.PeriodKind{calendar.Month, calendar.TermPeriod, calendar.SchoolYear, calendar.Agreement} {
			ag := Agreement{EffectiveFrom: sp.start, EffectiveTo: sp.end, Commitments: []Commitment{{Period: kind}}}
			for _, it := range evaluate(r.rules, cal, ag, opt, nil, func(*Commitment, []Item) {}) {
				periods[span{it.PeriodStart, it.PeriodEnd}] = true
			}
		}
	}
	type total struct {
		id         int64
		start, end date.Date
		achieved   decimal.D
	}
	type streamed struct {
		totals []total
		err    error
	}
	totalsCh := make(chan streamed, 1)
	streamTotals := func() {
		var st streamed
		defer func() { totalsCh <- st }()
		if len(periods) == 0 {
			return
		}
		var since date.Date
		var ors []string
		var orArgs []any
		for p := range periods {
			if since.IsZero() || p.end.Before(since) {
				since = p.end
			}
			ors = append(ors, "(period_end = ? AND period_start = ?)")
			orArgs = append(orArgs, p.end, p.start)
		}
		periodCond, periodArgs := "period_end >= ?", []any{since}
		if len(periods) <= maxPeriodList {
			periodCond, periodArgs = "("+strings.Join(ors, " OR ")+")", orArgs
		}
		q := r.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Table("period_totals").Select("commitment_id, period_start, period_end, achieved").
			Where("achieved <> 0").Where(periodCond, periodArgs...)
		if byIDs {
			q = q.Where("pair_id IN ?", args...)
		}
		trows, err := q.Rows()
		if st.err = err; err != nil {
			return
		}
		defer trows.Close()
		for trows.Next() {
			var t total
			if st.err = trows.Scan(&t.id, &t.start, &t.end, &t.achieved); st.err != nil {
				return
			}
			st.totals = append(st.totals, t)
		}
		st.err = trows.Err()
	}
	// inside a transaction the connection is shared: one stream at a time
	if database.InTx(ctx) {
		streamTotals()
	} else {
		go streamTotals()
	}
	defer func() {
		select {
		case <-totalsCh:
		default:
		}
	}()
	// A large scope reads every commitment and keeps those of its
	// agreements, as Load does.
	q = fresh().Table("commitments").Select("id, agreement_id, period, ends_on, minimum")
	if byIDs {
		q = q.Where("agreement_id IN ?", agIDs)
	}
	if rows, err = q.Rows(); err != nil {
		return nil, err
	}
	type graded struct {
		ag    Agreement
		items []Item
		n     int
	}
	shapes := map[shape]*graded{}
	byCommitment := make(map[int64]*graded, 4*len(agreements))
	var kind sql.RawBytes
	for rows.Next() {
		var id, agID int64
		var endsOn date.Date
		var minimum decimal.D
		if err := rows.Scan(&id, &agID, &kind, &endsOn, &minimum); err != nil {
			rows.Close()
			return nil, err
		}
		sp, ok := agreements[agID]
		if !ok {
			continue
		}
		s := shape{from: sp.from, to: sp.to, endsOn: -1, kind: kindCode(kind), minimum: minimum}
		if !endsOn.IsZero() {
			s.endsOn = int32(dayNum(endsOn))
		}
		g := shapes[s]
		if g == nil {
			// (the period keys of kind "agreement" name the agreement;
			// grades and the totals matched below use the dates only)
			ag := Agreement{EffectiveFrom: sp.start, EffectiveTo: sp.end,
				Commitments: []Commitment{{Period: calendar.PeriodKind(string(kind)), Minimum: minimum, EndsOn: endsOn}}}
			g = &graded{ag: ag, items: evaluate(r.rules, cal, ag, opt, nil, func(*Commitment, []Item) {})}
			shapes[s] = g
		}
		g.n++
		byCommitment[id] = g
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	for _, g := range shapes {
		for _, it := range g.items {
			out[it.Status] += g.n
		}
	}
	st := <-totalsCh
	if st.err != nil {
		return nil, st.err
	}
	atN := dayNum(opt.At)
	maxReminder, hasReminder := 0, false
	for _, m := range r.rules.ReminderDays {
		if !hasReminder || m > maxReminder {
			maxReminder, hasReminder = m, true
		}
	}
	// Only the totals of the periods shown can move a commitment.
	for _, t := range st.totals {
		g := byCommitment[t.id]
		if g == nil {
			continue
		}
		for _, it := range g.items {
			if it.PeriodStart != t.start || it.PeriodEnd != t.end {
				continue
			}
			out[it.Status]--
			one := []Item{it}
			one[0].Achieved = t.achieved
			grade(r.rules, g.ag, &g.ag.Commitments[0], one, atN, maxReminder, hasReminder)
			out[one[0].Status]++
			break
		}
	}
	return out, nil
}

// maxPeriodList bounds the periods summary names one by one.
const maxPeriodList = 64
