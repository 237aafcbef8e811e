package calendar

import (
	"context"
	"time"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/validation"
)

// Service manages terms.
type Service struct {
	db  *database.DB
	val *validation.Validator
	now func() time.Time
	// termsChanged recomputes the compliance read model, whose term and
	// school-year periods follow the terms, in the same transaction.
	termsChanged func(ctx context.Context) error
}

// NewService wires the service.
func NewService(db *database.DB, val *validation.Validator, now func() time.Time, termsChanged func(ctx context.Context) error) *Service {
	return &Service{db: db, val: val, now: now, termsChanged: termsChanged}
}

// TermInput creates a term.
type TermInput struct {
	SchoolYear string    `json:"school_year" validate:"required"`
	Season     string    `json:"season" validate:"required"`
	StartsOn   date.Date `json:"starts_on"`
	EndsOn     date.Date `json:"ends_on"`
}

// termRow is Term with timestamps, as stored.
type termRow struct {
	Term
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (termRow) TableName() string { return "terms" }

// CreateTerm adds a term; terms may not overlap and (school_year, season)
// is unique. The overlap check runs inside the write transaction, which is
// serialised (BEGIN IMMEDIATE on SQLite, a lock on the last term on MySQL).
func (s *Service) CreateTerm(ctx context.Context, a auth.Actor, in TermInput) (Term, error) {
	if !a.IsAdmin() {
		return Term{}, errs.Forbidden("only an admin may manage terms")
	}
	if err := s.val.Validate(in); err != nil {
		return Term{}, err
	}
	f := errs.Fields{}
	if err := ValidateSchoolYear(in.SchoolYear); err != nil {
		f.Add("school_year", err.Error())
	}
	if !ValidSeason(in.Season) {
		f.Add("season", "must be autumn or spring")
	}
	if in.StartsOn.IsZero() {
		f.Add("starts_on", "is required")
	}
	if in.EndsOn.IsZero() {
		f.Add("ends_on", "is required")
	}
	if !in.StartsOn.IsZero() && !in.EndsOn.IsZero() && in.EndsOn.Before(in.StartsOn) {
		f.Add("ends_on", "must not be before starts_on")
	}
	if err := f.Err(); err != nil {
		return Term{}, err
	}
	row := termRow{Term: Term{SchoolYear: in.SchoolYear, Season: in.Season, StartsOn: in.StartsOn, EndsOn: in.EndsOn}}
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		if s.db.Dialect() == database.MySQL {
			// serialise term creation: overlap is a check across rows
			if err := conn.Exec("SELECT id FROM terms ORDER BY id DESC LIMIT 1 FOR UPDATE").Error; err != nil {
				return err
			}
		}
		var clash Term
		err := conn.Table("terms").Where("starts_on <= ? AND ends_on >= ?", in.EndsOn, in.StartsOn).Take(&clash).Error
		if err == nil {
			return errs.Conflict("overlapping_term", "starts_on",
				"overlaps term "+clash.Key()+" ("+clash.StartsOn.String()+" to "+clash.EndsOn.String()+")")
		}
		if !database.IsNotFound(err) {
			return err
		}
		if err := conn.Create(&row).Error; err != nil {
			if database.IsDuplicate(err) {
				return errs.Conflict("duplicate_term", "season", "term "+row.Key()+" already exists")
			}
			return err
		}
		if err := s.termsChanged(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "term.create", "term", row.ID, in)
	})
	return row.Term, err
}

// ListTerms lists terms by start date.
func (s *Service) ListTerms(ctx context.Context, p page.Page) (page.List[Term], error) {
	p = p.Normalize()
	q := s.db.Conn(ctx).Table("terms")
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.List[Term]{}, err
	}
	var out []Term
	err := q.Order("starts_on").Limit(p.Limit).Offset(p.Offset).Find(&out).Error
	return page.Of(out, p, total), err
}

// Calendar loads every term. There are two a year: this stays small.
func (s *Service) Calendar(ctx context.Context) (Calendar, error) {
	var terms []Term
	if err := s.db.Conn(ctx).Table("terms").Order("starts_on").Find(&terms).Error; err != nil {
		return Calendar{}, err
	}
	return New(terms), nil
}

// TermKeyOn returns the key of the term containing d, if any.
func (s *Service) TermKeyOn(ctx context.Context, d date.Date) (string, bool, error) {
	var t Term
	err := s.db.Conn(ctx).Table("terms").Where("starts_on <= ? AND ends_on >= ?", d, d).Take(&t).Error
	if database.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return t.Key(), true, nil
}
