package activity

import (
	"context"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/pairing"
)

// Filter narrows a listing.
type Filter struct {
	PairID   int64
	Status   string
	Category string
	From, To date.Date
	// ToConfirm keeps the activities awaiting the actor's decision: pending,
	// logged by the other school of one of the actor's pairs.
	ToConfirm bool
	// Mine keeps the activities the actor logged.
	Mine bool
	// Decided keeps the activities the actor confirmed or disputed.
	Decided bool
}

// List returns activities visible to a, newest first, with evidence.
func (s *Service) List(ctx context.Context, a auth.Actor, f Filter, p page.Page) (page.List[Activity], error) {
	p = p.Normalize()
	if f.PairID != 0 {
		if _, err := s.pairs.Pair(ctx, a, f.PairID); err != nil {
			return page.List[Activity]{}, err
		}
	}
	switch f.Status {
	case "", Pending, Confirmed, Disputed, Withdrawn:
	default:
		return page.List[Activity]{}, errs.Field("status", "must be pending, confirmed, disputed or withdrawn")
	}
	cond, args := pairing.ScopeSQL(a)
	q := s.db.Conn(ctx).Model(&Activity{}).Where("activities.pair_id IN (SELECT pairs.id FROM pairs WHERE "+cond+")", args...)
	if f.PairID != 0 {
		q = q.Where("activities.pair_id = ?", f.PairID)
	}
	if f.Status != "" {
		q = q.Where("activities.status = ?", f.Status)
	}
	if f.Category != "" {
		q = q.Where("activities.category = ?", f.Category)
	}
	if !f.From.IsZero() {
		q = q.Where("activities.occurred_on >= ?", f.From)
	}
	if !f.To.IsZero() {
		q = q.Where("activities.occurred_on <= ?", f.To)
	}
	if f.ToConfirm {
		q = q.Where("activities.status = ? AND activities.logged_by_school_id <> ?", Pending, a.SchoolID)
	}
	if f.Mine {
		q = q.Where("activities.logged_by_user_id = ?", a.UserID)
	}
	if f.Decided {
		q = q.Where("activities.decided_by_user_id = ?", a.UserID)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.List[Activity]{}, err
	}
	var out []Activity
	if err := q.Order("activities.occurred_on DESC, activities.id DESC").Limit(p.Limit).Offset(p.Offset).Find(&out).Error; err != nil {
		return page.List[Activity]{}, err
	}
	ptrs := make([]*Activity, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := s.decorate(ctx, ptrs); err != nil {
		return page.List[Activity]{}, err
	}
	return page.Of(out, p, total), nil
}
