// Package activity holds logged activities, their evidence files and the
// confirmation workflow: the logging school's coordinator logs, the
// counterpart school's principal confirms or disputes, the logger amends a
// disputed activity (pending again) or withdraws it. Confirmed is final.
package activity

import (
	"context"
	"time"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/validation"
)

// Statuses of an activity.
const (
	Pending   = "pending"
	Confirmed = "confirmed"
	Disputed  = "disputed"
	Withdrawn = "withdrawn"
)

// Activity is one logged visit, lesson, lecture, secondment...
type Activity struct {
	ID               int64      `json:"id" gorm:"primaryKey"`
	PairID           int64      `json:"pair_id"`
	Category         string     `json:"category"`
	Title            string     `json:"title"`
	OccurredOn       date.Date  `json:"occurred_on"`
	Hours            decimal.D  `json:"hours"`
	Persons          int        `json:"persons"`
	Description      string     `json:"description"`
	Location         string     `json:"location"`
	LoggedByUserID   int64      `json:"logged_by_user_id"`
	LoggedBySchoolID int64      `json:"logged_by_school_id"`
	LoggedAt         time.Time  `json:"logged_at"`
	LoggedOn         date.Date  `json:"logged_on"`
	Imported         bool       `json:"imported"`
	Status           string     `json:"status"`
	DecidedByUserID  *int64     `json:"decided_by_user_id"`
	DecidedAt        *time.Time `json:"decided_at"`
	DisputeReason    string     `json:"dispute_reason"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`

	// Derived for readers, not stored.
	Term     *string    `json:"term" gorm:"-"` // the term key of occurred_on, null when outside every term
	Evidence []Evidence `json:"evidence" gorm:"-"`
	// Where it counts under the rules of §3, and where it would but does
	// not (logged after the books closed...): screens tell the truth from it.
	CountsToward []compliance.Counted    `json:"counts_toward" gorm:"-"`
	NotCounted   []compliance.NotCounted `json:"not_counted" gorm:"-"`
	// History is read with one activity (Get), not in lists.
	History []Event `json:"history,omitempty" gorm:"-"`
}

// Late is whether the activity misses a period it belongs to because it
// was logged after that period's books closed ("逾期补录，不计入").
func (a Activity) Late() bool {
	for _, n := range a.NotCounted {
		if n.Reason == compliance.LoggedAfterBooksClosed {
			return true
		}
	}
	return false
}

// Evidence is a stored file attached to an activity.
type Evidence struct {
	ID          int64     `json:"id" gorm:"primaryKey"`
	ActivityID  int64     `json:"activity_id"`
	FileName    string    `json:"file_name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	StorageKey  string    `json:"-"`
	SHA256      string    `json:"sha256" gorm:"column:sha256"`
	UploadedBy  int64     `json:"uploaded_by"`
	CreatedAt   time.Time `json:"created_at"`
}

func (Evidence) TableName() string { return "evidence" }

// Pairs is what the workflow needs of the pairing package.
type Pairs interface {
	Pair(ctx context.Context, a auth.Actor, id int64) (pairing.Pair, error)
	// CanManage: imports need the right to manage the pair (for a bureau,
	// both schools in its subtree), not just to see it.
	CanManage(ctx context.Context, a auth.Actor, p pairing.Pair) error
}

// Terms gives the calendar, to name the term an activity falls in.
type Terms interface {
	Calendar(ctx context.Context) (calendar.Calendar, error)
}

// Ledger keeps the compliance read model in step: each transition moves
// the activity's contribution in the same transaction.
type Ledger interface {
	Move(ctx context.Context, pairID int64, before, after *compliance.Fact) error
	// Account says where each fact counts (counts_toward / not_counted).
	Account(ctx context.Context, facts []compliance.Fact) ([]compliance.Accounting, error)
}

// fact is how the compliance rules see an activity.
func (a Activity) fact() *compliance.Fact {
	return &compliance.Fact{PairID: a.PairID, Category: a.Category, OccurredOn: a.OccurredOn, LoggedOn: a.LoggedOn,
		Imported: a.Imported, Status: a.Status, Count: 1, Hours: a.Hours, Persons: decimal.FromInt(int64(a.Persons))}
}

// Service runs the workflow.
type Service struct {
	ledger      Ledger
	db          *database.DB
	val         *validation.Validator
	pairs       Pairs
	terms       Terms
	files       *Files
	loc         *time.Location
	now         func() time.Time
	maxEvidence int64
	// schoolQuota bounds the evidence bytes stored per logging school (0:
	// none); see WithSchoolQuota.
	schoolQuota int64
	// tell writes dispute and amendment notices (nil: none); see WithNotices.
	tell *teller
}

// WithSchoolQuota sets the per-school evidence storage quota (bytes, 0 for
// none) at construction, in the composition root.
func (s *Service) WithSchoolQuota(n int64) *Service {
	s.schoolQuota = n
	return s
}

// NewService wires the service. maxEvidence is the per-file size limit.
func NewService(db *database.DB, val *validation.Validator, pairs Pairs, terms Terms, ledger Ledger, files *Files,
	loc *time.Location, now func() time.Time, maxEvidence int64) *Service {
	return &Service{db: db, val: val, pairs: pairs, terms: terms, ledger: ledger, files: files, loc: loc, now: now, maxEvidence: maxEvidence}
}

// today is the current local date of the programme.
func (s *Service) today() date.Date { return date.Of(s.now(), s.loc) }
