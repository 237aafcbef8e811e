// Package pairing holds pairs of schools (结对) and their agreements with
// commitments (quotas), and the rule of who sees which pair.
package pairing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/patch"
	"github.com/twinning-platform/twinning/internal/search"
	"github.com/twinning-platform/twinning/internal/validation"
)

// Pair statuses.
const (
	Active    = "active"
	Suspended = "suspended"
	Ended     = "ended"
)

// Pair is a supporting school paired with a supported school.
type Pair struct {
	ID                 int64     `json:"id" gorm:"primaryKey"`
	SupportingSchoolID int64     `json:"supporting_school_id"`
	SupportedSchoolID  int64     `json:"supported_school_id"`
	StartsOn           date.Date `json:"starts_on"`
	EndsOn             date.Date `json:"ends_on"`
	Status             string    `json:"status"`
	Round              string    `json:"round"`
	StatusReason       string    `json:"status_reason"` // why it was suspended or ended
	ActiveKey          *string   `json:"-"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`

	// Read-only, filled by joins.
	SupportingSchoolName string `json:"supporting_school_name" gorm:"->;-:migration"`
	SupportedSchoolName  string `json:"supported_school_name" gorm:"->;-:migration"`
}

// Covers reports whether d lies in the pair's span.
func (p Pair) Covers(d date.Date) bool {
	return !d.Before(p.StartsOn) && (p.EndsOn.IsZero() || !d.After(p.EndsOn))
}

// Counterpart returns the other school of the pair, or 0 if schoolID is in
// neither side.
func (p Pair) Counterpart(schoolID int64) int64 {
	switch schoolID {
	case p.SupportingSchoolID:
		return p.SupportedSchoolID
	case p.SupportedSchoolID:
		return p.SupportingSchoolID
	}
	return 0
}

func activeKey(p Pair) *string {
	if p.Status != Active {
		return nil
	}
	k := fmt.Sprintf("%d-%d", p.SupportingSchoolID, p.SupportedSchoolID)
	return &k
}

// ScopeSQL is a condition on the table alias "pairs" selecting the pairs a
// sees: all (admin); those with either school in the subtree (bureau); those
// of the own school (coordinators, principals). Every query that lists or
// aggregates pairs uses it, so the rule lives in one place.
func ScopeSQL(a auth.Actor) (string, []any) {
	switch {
	case a.IsAdmin():
		return "1 = 1", nil
	case a.IsBureau():
		sub := "SELECT s.id FROM schools s JOIN regions r ON r.id = s.region_id WHERE r.path LIKE ?"
		return "(pairs.supporting_school_id IN (" + sub + ") OR pairs.supported_school_id IN (" + sub + "))",
			[]any{a.RegionPath + "%", a.RegionPath + "%"}
	case a.IsSchoolUser() && a.SchoolID != 0:
		return "(pairs.supporting_school_id = ? OR pairs.supported_school_id = ?)", []any{a.SchoolID, a.SchoolID}
	}
	return "1 = 0", nil
}

// RegionSQL selects pairs with either school in the subtree of the region
// with path.
func RegionSQL(path string) (string, []any) {
	sub := "SELECT s.id FROM schools s JOIN regions r ON r.id = s.region_id WHERE r.path LIKE ?"
	return "(pairs.supporting_school_id IN (" + sub + ") OR pairs.supported_school_id IN (" + sub + "))",
		[]any{path + "%", path + "%"}
}

// Directory tells where schools sit (implemented by the school package).
type Directory interface {
	SchoolRegionPath(ctx context.Context, schoolID int64, field string) (string, error)
	RegionPath(ctx context.Context, regionID int64, field string) (string, error)
}

// Service manages pairs and agreements.
type Service struct {
	db  *database.DB
	val *validation.Validator
	dir Directory
	now func() time.Time
	// agreementAdded recomputes what the pair's existing activities count
	// toward the new commitments (the compliance read model), in the same
	// transaction.
	agreementAdded func(ctx context.Context, pairID int64) error
	// status is the compliance status read model: a change to what the
	// grades of a pair depend on detaches the pair before it and attaches
	// it after (agreementAdded attaches for itself).
	status StatusModel
}

// StatusModel is the compliance status read model as the pairs' lifecycle
// moves it (compliance.Ledger), in the caller's transaction.
type StatusModel interface {
	DetachStatus(ctx context.Context, pairIDs []int64) error
	AttachStatus(ctx context.Context, pairIDs []int64) error
}

func (s *Service) detach(ctx context.Context, pairIDs []int64) error {
	return s.status.DetachStatus(ctx, pairIDs)
}

// NewService wires the service.
func NewService(db *database.DB, val *validation.Validator, dir Directory, now func() time.Time,
	agreementAdded func(ctx context.Context, pairID int64) error, status StatusModel) *Service {
	return &Service{db: db, val: val, dir: dir, now: now, agreementAdded: agreementAdded, status: status}
}

// PairInput creates a pair.
type PairInput struct {
	SupportingSchoolID int64     `json:"supporting_school_id" validate:"required"`
	SupportedSchoolID  int64     `json:"supported_school_id" validate:"required"`
	StartsOn           date.Date `json:"starts_on"`
	EndsOn             date.Date `json:"ends_on"`
	Round              string    `json:"round" validate:"max=50"`
}

// PairPatch is a merge patch of a pair: absent members stay as they are;
// null clears ends_on (an open end) and round. A status change may carry a
// reason (why it was suspended or ended), kept on the pair and shown on
// its page.
type PairPatch struct {
	StartsOn patch.Field[date.Date] `json:"starts_on"`
	EndsOn   patch.Field[date.Date] `json:"ends_on"`
	Round    patch.Field[string]    `json:"round" validate:"omitempty,max=50"`
	Status   patch.Field[string]    `json:"status"`
	Reason   patch.Field[string]    `json:"reason" validate:"omitempty,max=500"`
}

func (s *Service) query(ctx context.Context, a auth.Actor) *gorm.DB {
	cond, args := ScopeSQL(a)
	return s.db.Conn(ctx).Table("pairs").
		Select("pairs.*, sup.name AS supporting_school_name, sud.name AS supported_school_name").
		Joins("JOIN schools sup ON sup.id = pairs.supporting_school_id").
		Joins("JOIN schools sud ON sud.id = pairs.supported_school_id").
		Where(cond, args...)
}

// Pair returns a pair visible to a, or not found.
func (s *Service) Pair(ctx context.Context, a auth.Actor, id int64) (Pair, error) {
	var p Pair
	err := s.query(ctx, a).Where("pairs.id = ?", id).Take(&p).Error
	if database.IsNotFound(err) {
		return p, errs.NotFound("pair")
	}
	return p, err
}

// PairFilter narrows ListPairs.
type PairFilter struct {
	RegionID int64
	SchoolID int64
	Status   string
	Query    string // either school's name, code or pinyin (internal/search)
}

// ListPairs lists the pairs a sees.
func (s *Service) ListPairs(ctx context.Context, a auth.Actor, f PairFilter, p page.Page) (page.List[Pair], error) {
	p = p.Normalize()
	q := s.query(ctx, a)
	if f.RegionID != 0 {
		path, err := s.dir.RegionPath(ctx, f.RegionID, "region_id")
		if err != nil {
			return page.List[Pair]{}, err
		}
		cond, args := RegionSQL(path)
		q = q.Where(cond, args...)
	}
	if f.SchoolID != 0 {
		q = q.Where("(pairs.supporting_school_id = ? OR pairs.supported_school_id = ?)", f.SchoolID, f.SchoolID)
	}
	if f.Status != "" {
		q = q.Where("pairs.status = ?", f.Status)
	}
	if strings.TrimSpace(f.Query) != "" {
		sub := "SELECT id FROM schools WHERE " + search.Condition(s.db.Dialect(), "search_text")
		like := search.Like(f.Query)
		q = q.Where("(pairs.supporting_school_id IN ("+sub+") OR pairs.supported_school_id IN ("+sub+"))", like, like)
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Select("COUNT(*)").Scan(&total).Error; err != nil {
		return page.List[Pair]{}, err
	}
	var out []Pair
	err := q.Order("pairs.id").Limit(p.Limit).Offset(p.Offset).Find(&out).Error
	return page.Of(out, p, total), err
}

func validStatus(s string) bool { return s == Active || s == Suspended || s == Ended }

// canManage: an admin, or a bureau covering both schools. A pair that
// crosses subtrees is made and managed by a common ancestor bureau or an
// admin; otherwise a county bureau could pair (and, through imports,
// attribute confirmed records to) a school of another province.
func (s *Service) canManage(ctx context.Context, a auth.Actor, p Pair) error {
	if a.IsAdmin() {
		return nil
	}
	if !a.IsBureau() {
		return errs.Forbidden("only an admin or a bureau may manage pairs and agreements")
	}
	for _, id := range []int64{p.SupportingSchoolID, p.SupportedSchoolID} {
		path, err := s.dir.SchoolRegionPath(ctx, id, "")
		if err != nil && !errs.Is(err, errs.KindInvalid) {
			return err
		}
		if !a.CoversPath(path) {
			return errs.Forbidden("both schools of a pair must be in your region; a pair across regions is managed by a bureau above both, or an admin")
		}
	}
	return nil
}

// CanManage reports (nil) whether a may change pair p and its agreements;
// for other services too: importing historical records into a pair is
// managing it.
func (s *Service) CanManage(ctx context.Context, a auth.Actor, p Pair) error {
	return s.canManage(ctx, a, p)
}

func checkSpan(f errs.Fields, p Pair) {
	if p.StartsOn.IsZero() {
		f.Add("starts_on", "is required")
	}
	if !p.EndsOn.IsZero() && !p.StartsOn.IsZero() && p.EndsOn.Before(p.StartsOn) {
		f.Add("ends_on", "must not be before starts_on")
	}
}

// CreatePair pairs two schools.
func (s *Service) CreatePair(ctx context.Context, a auth.Actor, in PairInput) (Pair, error) {
	if !a.IsAdmin() && !a.IsBureau() {
		return Pair{}, errs.Forbidden("only an admin or a bureau may create pairs")
	}
	if err := s.val.Validate(in); err != nil {
		return Pair{}, err
	}
	p := Pair{SupportingSchoolID: in.SupportingSchoolID, SupportedSchoolID: in.SupportedSchoolID,
		StartsOn: in.StartsOn, EndsOn: in.EndsOn, Status: Active, Round: strings.TrimSpace(in.Round)}
	f := errs.Fields{}
	if p.SupportingSchoolID == p.SupportedSchoolID {
		f.Add("supported_school_id", "a school cannot be paired with itself")
	}
	checkSpan(f, p)
	if err := f.Err(); err != nil {
		return Pair{}, err
	}
	p.ActiveKey = activeKey(p)
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		if _, err := s.dir.SchoolRegionPath(ctx, p.SupportingSchoolID, "supporting_school_id"); err != nil {
			return err
		}
		if _, err := s.dir.SchoolRegionPath(ctx, p.SupportedSchoolID, "supported_school_id"); err != nil {
			return err
		}
		if err := s.canManage(ctx, a, p); err != nil {
			return err
		}
		conn := s.db.Conn(ctx)
		if err := conn.Omit("SupportingSchoolName", "SupportedSchoolName").Create(&p).Error; err != nil {
			if database.IsDuplicate(err) {
				return errs.Conflict("duplicate_pair", "supported_school_id", "these two schools already have an active pair")
			}
			return err
		}
		// the status read model counts pairs per region
		if err := s.status.AttachStatus(ctx, []int64{p.ID}); err != nil {
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "pair.create", "pair", p.ID, in)
	})
	if err != nil {
		return Pair{}, err
	}
	return s.Pair(ctx, a, p.ID)
}

// UpdatePair changes the span, round or status. The span may not shrink
// past an agreement or a logged activity.
func (s *Service) UpdatePair(ctx context.Context, a auth.Actor, id int64, in PairPatch) (Pair, error) {
	if err := s.val.Validate(in); err != nil {
		return Pair{}, err
	}
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		p, err := s.Pair(ctx, a, id)
		if err != nil {
			return err
		}
		if err := s.canManage(ctx, a, p); err != nil {
			return err
		}
		f := errs.Fields{}
		if in.StartsOn.Null {
			f.Add("starts_on", "is required; it cannot be cleared")
		}
		if in.Status.Null {
			f.Add("status", "is required; it cannot be cleared")
		}
		if in.StartsOn.HasValue() {
			p.StartsOn = in.StartsOn.Value
		}
		in.EndsOn.Apply(&p.EndsOn)
		if in.Round.Set {
			p.Round = strings.TrimSpace(in.Round.Value)
		}
		statusChanged := false
		if in.Status.HasValue() {
			if !validStatus(in.Status.Value) {
				f.Add("status", "must be active, suspended or ended")
			}
			statusChanged = in.Status.Value != p.Status
			p.Status = in.Status.Value
		}
		if in.Reason.Set {
			p.StatusReason = strings.TrimSpace(in.Reason.Value)
		} else if statusChanged {
			p.StatusReason = "" // a new status without a reason: the old one no longer applies
		}
		checkSpan(f, p)
		if err := f.Err(); err != nil {
			return err
		}
		conn := s.db.Conn(ctx)
		end := p.EndsOn
		if end.IsZero() {
			end = date.New(9999, 12, 31)
		}
		var outside int64
		if err := conn.Raw(`SELECT (SELECT COUNT(*) FROM agreements WHERE pair_id = ? AND (effective_from < ? OR effective_to > ?))
			+ (SELECT COUNT(*) FROM activities WHERE pair_id = ? AND status <> 'withdrawn' AND (occurred_on < ? OR occurred_on > ?))`,
			p.ID, p.StartsOn, end, p.ID, p.StartsOn, end).Scan(&outside).Error; err != nil {
			return err
		}
		if outside > 0 {
			return errs.Conflict("span_excludes_records", "starts_on", "the new span would leave agreements or activities outside the pair's dates")
		}
		p.ActiveKey = activeKey(p)
		if err := conn.Table("pairs").Where("id = ?", p.ID).Updates(map[string]any{
			"starts_on": p.StartsOn, "ends_on": p.EndsOn, "round": p.Round, "status": p.Status,
			"active_key": p.ActiveKey, "status_reason": p.StatusReason, "updated_at": s.now().UTC(),
		}).Error; err != nil {
			if database.IsDuplicate(err) {
				return errs.Conflict("duplicate_pair", "status", "these two schools already have another active pair")
			}
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "pair.update", "pair", p.ID, in)
	})
	if err != nil {
		return Pair{}, err
	}
	return s.Pair(ctx, a, id)
}
