package assessment

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/category"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/pairing"
)

// DefaultRules apply where no bureau set its own: equal weights, 5 points
// per circular and per overdue rectification, 优秀 ≥ 90, 良好 ≥ 80,
// 合格 ≥ 60, 不合格 below.
func DefaultRules() Rules {
	return Rules{Weights: map[string]decimal.D{}, CircularPenalty: decimal.FromInt(5), OverduePenalty: decimal.FromInt(5),
		Bands: []Band{{"优秀", decimal.FromInt(90)}, {"良好", decimal.FromInt(80)}, {"合格", decimal.FromInt(60)}, {"不合格", 0}}}
}

// Settings are the rules a region uses and where they come from.
type Settings struct {
	RegionID        int64                `json:"region_id"`
	From            int64                `json:"from_region_id"` // 0: the defaults
	Weights         map[string]decimal.D `json:"weights"`
	CircularPenalty decimal.D            `json:"circular_penalty"`
	OverduePenalty  decimal.D            `json:"overdue_penalty"`
	Bands           []Band               `json:"bands"`
}

// Rules of the settings.
func (s Settings) Rules() Rules {
	return Rules{Weights: s.Weights, CircularPenalty: s.CircularPenalty, OverduePenalty: s.OverduePenalty, Bands: s.Bands}
}

type settingsRow struct {
	RegionID        int64 `gorm:"primaryKey"`
	Weights         string
	CircularPenalty decimal.D
	OverduePenalty  decimal.D
	Bands           string
	UpdatedBy       *int64
	UpdatedAt       time.Time
}

func (settingsRow) TableName() string { return "assessment_settings" }

// Service computes assessments and keeps the settings.
type Service struct {
	db     *database.DB
	reader *compliance.Reader
	loc    *time.Location
	now    func() time.Time
}

// NewService wires the service.
func NewService(db *database.DB, reader *compliance.Reader, loc *time.Location, now func() time.Time) *Service {
	return &Service{db: db, reader: reader, loc: loc, now: now}
}

// region resolves the region the actor asks about: the given one (which a
// bureau must cover), else the bureau's own; an admin without one gets
// the whole programme (id 0, path "").
func (s *Service) region(ctx context.Context, a auth.Actor, id int64) (int64, string, error) {
	if !a.IsAdmin() && !a.IsBureau() {
		return 0, "", errs.Forbidden("assessments are for bureaus and admins")
	}
	if id == 0 {
		if a.IsBureau() {
			return a.RegionID, a.RegionPath, nil
		}
		return 0, "", nil
	}
	var path string
	if err := s.db.Conn(ctx).Raw("SELECT path FROM regions WHERE id = ?", id).Scan(&path).Error; err != nil {
		return 0, "", err
	}
	if path == "" || !a.CoversPath(path) {
		return 0, "", errs.NotFound("region")
	}
	return id, path, nil
}

// Settings returns the rules of a region: its own, the nearest region's
// above it, or the defaults.
func (s *Service) Settings(ctx context.Context, a auth.Actor, regionID int64) (Settings, error) {
	id, path, err := s.region(ctx, a, regionID)
	if err != nil {
		return Settings{}, err
	}
	return s.settingsFor(ctx, id, path)
}

func (s *Service) settingsFor(ctx context.Context, id int64, path string) (Settings, error) {
	d := DefaultRules()
	out := Settings{RegionID: id, Weights: d.Weights, CircularPenalty: d.CircularPenalty, OverduePenalty: d.OverduePenalty, Bands: d.Bands}
	var ids []int64
	for _, p := range strings.Split(strings.Trim(path, "/"), "/") {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			ids = append(ids, n)
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []settingsRow
	if err := s.db.Conn(ctx).Where("region_id IN ?", ids).Find(&rows).Error; err != nil {
		return out, err
	}
	byID := map[int64]settingsRow{}
	for _, r := range rows {
		byID[r.RegionID] = r
	}
	for i := len(ids) - 1; i >= 0; i-- { // nearest first
		r, ok := byID[ids[i]]
		if !ok {
			continue
		}
		out.From, out.CircularPenalty, out.OverduePenalty = r.RegionID, r.CircularPenalty, r.OverduePenalty
		out.Weights, out.Bands = map[string]decimal.D{}, nil
		if r.Weights != "" {
			if err := json.Unmarshal([]byte(r.Weights), &out.Weights); err != nil {
				return out, err
			}
		}
		if err := json.Unmarshal([]byte(r.Bands), &out.Bands); err != nil {
			return out, err
		}
		break
	}
	return out, nil
}

// SettingsInput replaces a region's settings.
type SettingsInput struct {
	Weights         map[string]decimal.D `json:"weights"`
	CircularPenalty decimal.D            `json:"circular_penalty"`
	OverduePenalty  decimal.D            `json:"overdue_penalty"`
	Bands           []Band               `json:"bands"`
}

// SetSettings stores a region's settings (admin, or a bureau covering it).
func (s *Service) SetSettings(ctx context.Context, a auth.Actor, regionID int64, in SettingsInput) (Settings, error) {
	if regionID == 0 {
		return Settings{}, errs.NotFound("region")
	}
	id, path, err := s.region(ctx, a, regionID)
	if err != nil {
		return Settings{}, err
	}
	f := errs.Fields{}
	hundred := decimal.FromInt(100)
	for c, w := range in.Weights {
		if !category.Valid(c) {
			f.Add("weights."+c, "is not a category")
		} else if w < 0 || w > hundred {
			f.Add("weights."+c, "must be between 0 and 100")
		}
	}
	if in.CircularPenalty < 0 || in.CircularPenalty > hundred {
		f.Add("circular_penalty", "must be between 0 and 100")
	}
	if in.OverduePenalty < 0 || in.OverduePenalty > hundred {
		f.Add("overdue_penalty", "must be between 0 and 100")
	}
	if len(in.Bands) == 0 || len(in.Bands) > 10 {
		f.Add("bands", "must list 1 to 10 grades")
	}
	for i, b := range in.Bands {
		k := fmt.Sprintf("bands[%d].", i)
		if strings.TrimSpace(b.Grade) == "" || utf8.RuneCountInString(b.Grade) > 20 {
			f.Add(k+"grade", "is required, at most 20 characters")
		}
		if b.Min < 0 || b.Min > hundred {
			f.Add(k+"min", "must be between 0 and 100")
		}
		if i > 0 && b.Min >= in.Bands[i-1].Min {
			f.Add(k+"min", "must be below the previous grade's minimum (highest first)")
		}
	}
	if err := f.Err(); err != nil {
		return Settings{}, err
	}
	if in.Weights == nil {
		in.Weights = map[string]decimal.D{}
	}
	wj, _ := json.Marshal(in.Weights)
	bj, _ := json.Marshal(in.Bands)
	now := s.now().UTC()
	row := settingsRow{RegionID: id, Weights: string(wj), CircularPenalty: in.CircularPenalty, OverduePenalty: in.OverduePenalty, Bands: string(bj), UpdatedAt: now}
	if a.UserID != 0 {
		uid := a.UserID
		row.UpdatedBy = &uid
	}
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		if err := conn.Exec("DELETE FROM assessment_settings WHERE region_id = ?", id).Error; err != nil {
			return err
		}
		if err := conn.Create(&row).Error; err != nil {
			return err
		}
		return audit.Record(ctx, conn, now, a.UserID, "assessment.settings", "region", id, in)
	})
	if err != nil {
		return Settings{}, err
	}
	return s.settingsFor(ctx, id, path)
}

// Result is a region's assessment for a school year.
type Result struct {
	SchoolYear string    `json:"school_year"`
	RegionID   int64     `json:"region_id"`
	At         date.Date `json:"at"`
	Settings   Settings  `json:"settings"`
	Items      []Item    `json:"items"`
	// Evidence lists the periods behind every score (the export's sheet).
	Evidence []Period `json:"-"`
}

// Compute assesses the schools of the region's subtree taking part in the
// school year: those with at least one period of the year ended by at.
func (s *Service) Compute(ctx context.Context, a auth.Actor, schoolYear string, regionID int64, at date.Date) (Result, error) {
	if err := calendar.ValidateSchoolYear(schoolYear); err != nil {
		return Result{}, errs.Field("school_year", "must be a school year such as 2025-2026")
	}
	id, path, err := s.region(ctx, a, regionID)
	if err != nil {
		return Result{}, err
	}
	if at.IsZero() {
		at = date.Of(s.now(), s.loc)
	}
	var terms []calendar.Term
	if err := s.db.Conn(ctx).Table("terms").Where("school_year = ?", schoolYear).Find(&terms).Error; err != nil {
		return Result{}, err
	}
	if len(terms) == 0 {
		return Result{}, errs.Field("school_year", "the calendar has no term of this school year")
	}
	from, to := terms[0].StartsOn, terms[0].EndsOn
	for _, t := range terms {
		from, to = date.Min(from, t.StartsOn), date.Max(to, t.EndsOn)
	}
	settings, err := s.settingsFor(ctx, id, path)
	if err != nil {
		return Result{}, err
	}
	res := Result{SchoolYear: schoolYear, RegionID: id, At: at, Settings: settings, Items: []Item{}}

	cond, args := "1 = 1", []any(nil)
	if path != "" {
		cond, args = pairing.RegionSQL(path)
	}
	sc, err := s.reader.Load(ctx, cond, args...)
	if err != nil {
		return Result{}, err
	}
	reports, err := s.reader.EvaluateScope(ctx, sc, compliance.Options{At: at, Mode: compliance.All})
	if err != nil {
		return Result{}, err
	}
	facts := map[int64]*Facts{}
	names := map[int64]string{}
	for _, rep := range reports {
		for _, it := range rep.Items {
			if it.PeriodStart.Before(from) || it.PeriodEnd.After(to) || !it.PeriodEnd.Before(at) {
				continue
			}
			req, ach := it.Required, it.Achieved
			for _, side := range [][2]compliance.School{{rep.SupportingSchool, rep.SupportedSchool}, {rep.SupportedSchool, rep.SupportingSchool}} {
				school, other := side[0], side[1]
				f := facts[school.ID]
				if f == nil {
					f = &Facts{}
					facts[school.ID] = f
				}
				names[school.ID] = school.Name
				f.Periods = append(f.Periods, Period{SchoolID: school.ID, PairID: rep.PairID, Counterpart: other.Name,
					CommitmentID: it.CommitmentID, Categories: it.Categories, PeriodKey: it.PeriodKey, Required: req, Achieved: ach})
			}
		}
	}
	if len(facts) == 0 {
		return res, nil
	}
	ids := make([]int64, 0, len(facts))
	for id := range facts {
		ids = append(ids, id)
	}
	var schools []struct {
		ID         int64
		RegionID   int64
		RegionName string
		Path       string
	}
	if err := s.db.Conn(ctx).Raw("SELECT s.id, s.region_id, r.name AS region_name, r.path FROM schools s JOIN regions r ON r.id = s.region_id WHERE s.id IN ?", ids).
		Scan(&schools).Error; err != nil {
		return Result{}, err
	}
	if err := s.penalties(ctx, schoolYear, facts); err != nil {
		return Result{}, err
	}
	rules := settings.Rules()
	for _, sc := range schools {
		if !strings.HasPrefix(sc.Path, path) { // the other school of a pair, outside the region
			continue
		}
		f := facts[sc.ID]
		base, score := rules.Score(f)
		res.Items = append(res.Items, Item{SchoolID: sc.ID, Name: names[sc.ID], RegionID: sc.RegionID, RegionName: sc.RegionName,
			Score: score, Grade: rules.Grade(score), Base: base, Periods: len(f.Periods), Circulars: f.Circulars, Overdue: f.Overdue})
		res.Evidence = append(res.Evidence, f.Periods...)
	}
	Rank(res.Items)
	return res, nil
}

// penalties counts, per school, the published circulars of the school
// year (its own key or one of its terms') naming it, and those of its
// rectifications escalated as overdue (notice rectify:<c>:<s>:overdue).
func (s *Service) penalties(ctx context.Context, schoolYear string, facts map[int64]*Facts) error {
	var rows []struct {
		CircularID int64
		SchoolID   int64
	}
	if err := s.db.Conn(ctx).Table("rectifications r").Select("r.circular_id, r.school_id").
		Joins("JOIN circulars c ON c.id = r.circular_id").
		Where("c.status = ? AND (c.period_key = ? OR c.period_key LIKE ?)", "published", schoolYear, schoolYear+"-%").
		Scan(&rows).Error; err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = fmt.Sprintf("rectify:%d:%d:overdue", r.CircularID, r.SchoolID)
	}
	var overdue []string
	if err := s.db.Conn(ctx).Table("notices").Where("dedupe_key IN ?", keys).Pluck("dedupe_key", &overdue).Error; err != nil {
		return err
	}
	late := map[string]bool{}
	for _, k := range overdue {
		late[k] = true
	}
	for i, r := range rows {
		f := facts[r.SchoolID]
		if f == nil {
			continue
		}
		f.Circulars++
		if late[keys[i]] {
			f.Overdue++
		}
	}
	return nil
}
