package pairing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/category"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
)

// Measures of a commitment.
const (
	Count   = "count"
	Hours   = "hours"
	Persons = "persons"
)

// Agreement is a signed 帮扶协议 with its quotas.
type Agreement struct {
	ID            int64        `json:"id" gorm:"primaryKey"`
	PairID        int64        `json:"pair_id"`
	Title         string       `json:"title"`
	SignedOn      date.Date    `json:"signed_on"`
	EffectiveFrom date.Date    `json:"effective_from"`
	EffectiveTo   date.Date    `json:"effective_to"`
	Goals         string       `json:"goals"`
	Commitments   []Commitment `json:"commitments" gorm:"-"`
	CreatedAt     time.Time    `json:"created_at"`
	UpdatedAt     time.Time    `json:"updated_at"`
}

// Commitment is a minimum quota.
type Commitment struct {
	ID          int64    `json:"id" gorm:"primaryKey"`
	AgreementID int64    `json:"agreement_id"`
	Position    int      `json:"-"`
	Categories  []string `json:"categories" gorm:"-"`
	// CategoryList is Categories as stored (see CategoriesColumn).
	CategoryList string    `json:"-" gorm:"column:categories"`
	Measure      string    `json:"measure"`
	Minimum      decimal.D `json:"minimum"`
	Period       string    `json:"period"`
	Description  string    `json:"description"`
	EndsOn       date.Date `json:"ends_on"` // retired from this date; zero = applies throughout
	CreatedAt    time.Time `json:"-"`
}

// CommitmentCategory links a commitment to one category code.
type CommitmentCategory struct {
	CommitmentID int64
	Category     string
}

// AgreementInput creates an agreement with its commitments.
type AgreementInput struct {
	Title         string            `json:"title" validate:"required,max=200"`
	SignedOn      date.Date         `json:"signed_on"`
	EffectiveFrom date.Date         `json:"effective_from"`
	EffectiveTo   date.Date         `json:"effective_to"`
	Goals         string            `json:"goals" validate:"max=20000"`
	Commitments   []CommitmentInput `json:"commitments" validate:"required,min=1,max=50,dive"`
}

// CommitmentInput is one quota of an AgreementInput.
type CommitmentInput struct {
	Categories  []string  `json:"categories" validate:"required,min=1,max=14"`
	Measure     string    `json:"measure" validate:"required"`
	Minimum     decimal.D `json:"minimum"`
	Period      string    `json:"period" validate:"required"`
	Description string    `json:"description" validate:"max=500"`
}

func checkAgreement(in AgreementInput, p Pair) error {
	f := errs.Fields{}
	if in.EffectiveFrom.IsZero() {
		f.Add("effective_from", "is required")
	}
	if in.EffectiveTo.IsZero() {
		f.Add("effective_to", "is required")
	}
	if !in.EffectiveFrom.IsZero() && !in.EffectiveTo.IsZero() {
		if in.EffectiveTo.Before(in.EffectiveFrom) {
			f.Add("effective_to", "must not be before effective_from")
		}
		if in.EffectiveFrom.Before(p.StartsOn) {
			f.Add("effective_from", "must not be before the pair starts ("+p.StartsOn.String()+")")
		}
		if !p.EndsOn.IsZero() && in.EffectiveTo.After(p.EndsOn) {
			f.Add("effective_to", "must not be after the pair ends ("+p.EndsOn.String()+")")
		}
	}
	for i, c := range in.Commitments {
		key := fmt.Sprintf("commitments[%d].", i)
		seen := map[string]bool{}
		for _, cat := range c.Categories {
			if !category.Valid(cat) {
				f.Add(key+"categories", fmt.Sprintf("unknown category %q", cat))
			} else if seen[cat] {
				f.Add(key+"categories", fmt.Sprintf("category %q is listed twice", cat))
			}
			seen[cat] = true
		}
		switch c.Measure {
		case Count, Hours, Persons:
		default:
			f.Add(key+"measure", "must be count, hours or persons")
		}
		switch {
		// (a third decimal place is refused when the JSON is decoded)
		case c.Minimum <= 0:
			f.Add(key+"minimum", "must be greater than 0")
		case c.Minimum > decimal.FromInt(100000):
			f.Add(key+"minimum", "must be at most 100000")
		case c.Measure != Hours && !c.Minimum.IsWhole():
			f.Add(key+"minimum", "must be a whole number for "+c.Measure)
		}
		if !calendar.PeriodKind(c.Period).Valid() {
			f.Add(key+"period", "must be month, term, school_year or agreement")
		}
	}
	return f.Err()
}

// CreateAgreement adds an agreement with its commitments in one
// transaction. Agreements of one pair may not overlap; the pair row is
// locked first so two concurrent requests cannot both pass the check.
func (s *Service) CreateAgreement(ctx context.Context, a auth.Actor, pairID int64, in AgreementInput) (Agreement, error) {
	if err := s.val.Validate(in); err != nil {
		return Agreement{}, err
	}
	var ag Agreement
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		p, err := s.Pair(ctx, a, pairID)
		if err != nil {
			return err
		}
		if err := s.canManage(ctx, a, p); err != nil {
			return err
		}
		if err := checkAgreement(in, p); err != nil {
			return err
		}
		conn := s.db.Conn(ctx)
		if err := conn.Exec("UPDATE pairs SET updated_at = ? WHERE id = ?", s.now().UTC(), p.ID).Error; err != nil {
			return err
		}
		var clash Agreement
		err = conn.Where("pair_id = ? AND effective_from <= ? AND effective_to >= ?", p.ID, in.EffectiveTo, in.EffectiveFrom).Take(&clash).Error
		if err == nil {
			return errs.Conflict("overlapping_agreement", "effective_from", fmt.Sprintf("overlaps agreement %d (%s to %s)", clash.ID, clash.EffectiveFrom, clash.EffectiveTo))
		}
		if !database.IsNotFound(err) {
			return err
		}
		if err := s.detach(ctx, []int64{p.ID}); err != nil {
			return err
		}
		ag = Agreement{PairID: p.ID, Title: strings.TrimSpace(in.Title), SignedOn: in.SignedOn,
			EffectiveFrom: in.EffectiveFrom, EffectiveTo: in.EffectiveTo, Goals: in.Goals}
		if err := conn.Create(&ag).Error; err != nil {
			return err
		}
		var links []CommitmentCategory
		for i, ci := range in.Commitments {
			c := Commitment{AgreementID: ag.ID, Position: i, Measure: ci.Measure, Minimum: ci.Minimum,
				Period: ci.Period, Description: strings.TrimSpace(ci.Description), Categories: orderCategories(ci.Categories),
				CategoryList: CategoriesColumn(ci.Categories)}
			if err := conn.Create(&c).Error; err != nil {
				return err
			}
			for _, cat := range ci.Categories {
				links = append(links, CommitmentCategory{CommitmentID: c.ID, Category: cat})
			}
			ag.Commitments = append(ag.Commitments, c)
		}
		if err := conn.Create(&links).Error; err != nil {
			return err
		}
		if err := s.agreementAdded(ctx, p.ID); err != nil {
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "agreement.create", "agreement", ag.ID, in)
	})
	return ag, err
}

// ListAgreements lists a pair's agreements with commitments, in three
// queries whatever their number.
func (s *Service) ListAgreements(ctx context.Context, a auth.Actor, pairID int64, p page.Page) (page.List[Agreement], error) {
	p = p.Normalize()
	if _, err := s.Pair(ctx, a, pairID); err != nil {
		return page.List[Agreement]{}, err
	}
	q := s.db.Conn(ctx).Model(&Agreement{}).Where("pair_id = ?", pairID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.List[Agreement]{}, err
	}
	var out []Agreement
	if err := q.Order("effective_from").Limit(p.Limit).Offset(p.Offset).Find(&out).Error; err != nil {
		return page.List[Agreement]{}, err
	}
	ids := make([]int64, len(out))
	for i := range out {
		ids[i] = out[i].ID
	}
	byAgreement, err := s.commitmentsOf(ctx, "commitments.agreement_id IN ?", ids)
	if err != nil {
		return page.List[Agreement]{}, err
	}
	for i := range out {
		out[i].Commitments = byAgreement[out[i].ID]
	}
	return page.Of(out, p, total), nil
}

// commitmentsOf loads commitments matching cond with their categories,
// grouped by agreement, in two queries.
func (s *Service) commitmentsOf(ctx context.Context, cond string, args ...any) (map[int64][]Commitment, error) {
	return LoadCommitments(s.db.Conn(ctx), cond, args...)
}

// LoadCommitments loads the commitments matching cond (a condition on the
// table "commitments") with their categories, grouped by agreement id, in
// one query whatever their number.
func LoadCommitments(conn *gorm.DB, cond string, args ...any) (map[int64][]Commitment, error) {
	// scanned by hand: dashboards and sweeps load tens of thousands, and
	// reflection would cost more than the query
	rows, err := conn.Session(&gorm.Session{NewDB: true}).Table("commitments").
		Select("commitments.id, commitments.agreement_id, commitments.position, commitments.categories, commitments.measure, commitments.minimum, commitments.period, commitments.description, commitments.ends_on").
		Where(cond, args...).Order("commitments.agreement_id, commitments.position").Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[int64][]Commitment)
	for rows.Next() {
		var c Commitment
		if err := rows.Scan(&c.ID, &c.AgreementID, &c.Position, &c.CategoryList, &c.Measure, &c.Minimum, &c.Period, &c.Description, &c.EndsOn); err != nil {
			return nil, err
		}
		c.Categories = strings.Split(c.CategoryList, ",")
		out[c.AgreementID] = append(out[c.AgreementID], c)
	}
	return out, rows.Err()
}

// CategoriesColumn is how a commitment's categories are stored: the codes
// in catalogue order, comma-separated.
func CategoriesColumn(cats []string) string { return strings.Join(orderCategories(cats), ",") }

// orderCategories sorts codes into the catalogue's display order.
func orderCategories(cs []string) []string {
	out := make([]string, 0, len(cs))
	for _, k := range category.All() {
		for _, c := range cs {
			if c == k {
				out = append(out, c)
			}
		}
	}
	return out
}
