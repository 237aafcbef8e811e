package compliance

import (
	"context"
	"sort"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/pairing"
)

// Reasons an activity counts toward nothing it otherwise would.
const (
	// LoggedAfterBooksClosed: logged after the period's end + grace days
	// (imported records are exempt).
	LoggedAfterBooksClosed = "logged_after_books_closed"
	// OutsideAgreement: no agreement of the pair was in effect on the day
	// it occurred; the commitments listing its category are named.
	OutsideAgreement = "outside_agreement"
	// CategoryNotInCommitment: an agreement was in effect but none of its
	// commitments lists the activity's category.
	CategoryNotInCommitment = "category_not_in_commitment"
)

// Counted names one commitment period an activity counts toward.
type Counted struct {
	CommitmentID int64               `json:"commitment_id"`
	Period       calendar.PeriodKind `json:"period"`
	PeriodKey    string              `json:"period_key"`
}

// NotCounted names one commitment period an activity does not count
// toward, and why. BooksClosedOn is the last day the period's books took
// new records (end + grace), set for LoggedAfterBooksClosed.
type NotCounted struct {
	CommitmentID  int64               `json:"commitment_id"`
	Period        calendar.PeriodKind `json:"period"`
	PeriodKey     string              `json:"period_key"`
	Reason        string              `json:"reason"`
	BooksClosedOn *date.Date          `json:"books_closed_on,omitempty"`
}

// Accounting says where an activity counts, so screens can tell the truth
// about a late record instead of accepting it silently.
type Accounting struct {
	CountsToward []Counted    `json:"counts_toward"`
	NotCounted   []NotCounted `json:"not_counted"`
}

// Account applies the rules of Contributions to f, whatever its status
// (a pending or disputed activity is told where it would count once
// confirmed), and names the commitments it misses with the reason. The
// reasons for missing everything (outside_agreement,
// category_not_in_commitment) are given only when it counts toward nothing.
func Account(rules Rules, cal calendar.Calendar, ags []Agreement, f Fact) Accounting {
	x := newContributor(rules, cal)
	out := Accounting{CountsToward: []Counted{}, NotCounted: []NotCounted{}}
	var outside, uncovered []NotCounted
	for ai := range ags {
		ag := &ags[ai]
		if f.PairID != ag.PairID {
			continue
		}
		in := !f.OccurredOn.Before(ag.EffectiveFrom) && !f.OccurredOn.After(ag.EffectiveTo)
		for ci := range ag.Commitments {
			c := &ag.Commitments[ci]
			p, ok := x.periodOn(c.Period, ag, f.OccurredOn)
			key := ""
			if ok {
				key = p.Key
			}
			listed := hasCategory(c.Categories, f.Category)
			switch {
			case !in:
				if listed {
					outside = append(outside, NotCounted{CommitmentID: c.ID, Period: c.Period, PeriodKey: key, Reason: OutsideAgreement})
				}
			case !listed:
				uncovered = append(uncovered, NotCounted{CommitmentID: c.ID, Period: c.Period, PeriodKey: key, Reason: CategoryNotInCommitment})
			case !ok:
				// no period of this kind contains the day (outside every
				// term): nothing to count toward, nothing the logger missed
			case !f.Imported && f.LoggedOn.After(p.End.AddDays(rules.GraceDays)):
				closed := p.End.AddDays(rules.GraceDays)
				out.NotCounted = append(out.NotCounted, NotCounted{CommitmentID: c.ID, Period: c.Period, PeriodKey: key, Reason: LoggedAfterBooksClosed, BooksClosedOn: &closed})
			default:
				out.CountsToward = append(out.CountsToward, Counted{CommitmentID: c.ID, Period: c.Period, PeriodKey: key})
			}
		}
	}
	if len(out.CountsToward) == 0 && len(out.NotCounted) == 0 {
		if len(uncovered) > 0 {
			out.NotCounted = uncovered
		} else if len(outside) > 0 {
			out.NotCounted = outside
		}
	}
	return out
}

// Account tells, for each fact, where it counts (see Account): the
// agreements and commitments of all their pairs are read in two queries,
// so a page of activities costs the same as one.
func (l *Ledger) Account(ctx context.Context, facts []Fact) ([]Accounting, error) {
	out := make([]Accounting, len(facts))
	if len(facts) == 0 {
		return out, nil
	}
	seen := map[int64]bool{}
	var pairIDs []int64
	for _, f := range facts {
		if !seen[f.PairID] {
			seen[f.PairID] = true
			pairIDs = append(pairIDs, f.PairID)
		}
	}
	sort.Slice(pairIDs, func(i, j int) bool { return pairIDs[i] < pairIDs[j] })
	conn := l.db.Conn(ctx)
	var raw []pairing.Agreement
	if err := conn.Session(&gorm.Session{NewDB: true}).Table("agreements").Where("pair_id IN ?", pairIDs).Order("id").Find(&raw).Error; err != nil {
		return nil, err
	}
	cs, err := pairing.LoadCommitments(conn, "commitments.agreement_id IN (SELECT id FROM agreements WHERE pair_id IN ?)", pairIDs)
	if err != nil {
		return nil, err
	}
	cal, err := loadCalendar(conn)
	if err != nil {
		return nil, err
	}
	byPair := map[int64][]Agreement{}
	for _, a := range raw {
		byPair[a.PairID] = append(byPair[a.PairID], toAgreement(a, cs[a.ID]))
	}
	for i, f := range facts {
		out[i] = Account(l.rules, cal, byPair[f.PairID], f)
	}
	return out, nil
}
