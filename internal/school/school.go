// Package school holds the region tree (province > city > county) and the
// schools in it, with the scoping rule every bureau query relies on: a
// bureau sees the subtree under its region.
package school

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/patch"
	"github.com/twinning-platform/twinning/internal/search"
	"github.com/twinning-platform/twinning/internal/validation"
)

// Region levels, highest first.
const (
	Province = "province"
	City     = "city"
	County   = "county"
)

func levelRank(l string) int {
	switch l {
	case Province:
		return 1
	case City:
		return 2
	case County:
		return 3
	}
	return 0
}

// Stages of a school.
var stages = []string{"kindergarten", "primary", "junior", "senior", "vocational", "nine_year", "twelve_year"}

// ValidStage reports whether s is a known stage.
func ValidStage(s string) bool {
	for _, k := range stages {
		if k == s {
			return true
		}
	}
	return false
}

// Region is a node of the administrative tree.
type Region struct {
	ID        int64     `json:"id" gorm:"primaryKey"`
	Name      string    `json:"name"`
	Level     string    `json:"level"`
	ParentID  *int64    `json:"parent_id"`
	Path      string    `json:"path"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// School is a supporting or supported school.
type School struct {
	ID        int64     `json:"id" gorm:"primaryKey"`
	Name      string    `json:"name"`
	Code      *string   `json:"code"`
	RegionID  int64     `json:"region_id"`
	Stage     string    `json:"stage"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// SearchText is what search matches: name, code, pinyin (internal/search).
	SearchText string `json:"-"`
}

// Service manages regions and schools.
type Service struct {
	db  *database.DB
	val *validation.Validator
	now func() time.Time
	// status is the compliance status read model, counted per region:
	// moving a school or a region detaches the pairs concerned before and
	// attaches them after, in the same transaction (nil: none kept)
	status StatusModel
}

// StatusModel is the compliance status read model (compliance.Ledger).
type StatusModel interface {
	DetachStatus(ctx context.Context, pairIDs []int64) error
	AttachStatus(ctx context.Context, pairIDs []int64) error
}

// NewService wires the service.
func NewService(db *database.DB, val *validation.Validator, now func() time.Time) *Service {
	return &Service{db: db, val: val, now: now}
}

// WithStatus is the service keeping m in step with school and region moves.
func (s *Service) WithStatus(m StatusModel) *Service {
	c := *s
	c.status = m
	return &c
}

// pairsUnder are the pairs with a school in the subtree of path (a region
// moves) or, with path empty, of the school (the school moves).
func (s *Service) pairsUnder(ctx context.Context, path string, schoolID int64) ([]int64, error) {
	var ids []int64
	q := s.db.Conn(ctx).Session(&gorm.Session{NewDB: true})
	var err error
	if path == "" {
		err = q.Raw("SELECT id FROM pairs WHERE supporting_school_id = ? OR supported_school_id = ?", schoolID, schoolID).Scan(&ids).Error
	} else {
		sub := "SELECT s.id FROM schools s JOIN regions r ON r.id = s.region_id WHERE r.path LIKE ?"
		err = q.Raw("SELECT id FROM pairs WHERE supporting_school_id IN ("+sub+") OR supported_school_id IN ("+sub+")", path+"%", path+"%").Scan(&ids).Error
	}
	return ids, err
}

// RegionInput creates a region.
type RegionInput struct {
	Name     string `json:"name" validate:"required,max=100"`
	Level    string `json:"level" validate:"required"`
	ParentID *int64 `json:"parent_id"`
}

// CreateRegion adds a region under its parent. A county may sit directly
// under a province (省直辖县级行政单位), so the rule is only that a parent is
// of a higher level.
func (s *Service) CreateRegion(ctx context.Context, a auth.Actor, in RegionInput) (Region, error) {
	if !a.IsAdmin() {
		return Region{}, errs.Forbidden("only an admin may create regions")
	}
	if err := s.val.Validate(in); err != nil {
		return Region{}, err
	}
	if levelRank(in.Level) == 0 {
		return Region{}, errs.Field("level", "must be one of province, city, county")
	}
	r := Region{Name: strings.TrimSpace(in.Name), Level: in.Level}
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		parentPath := "/"
		switch {
		case in.Level == Province && in.ParentID != nil:
			return errs.Field("parent_id", "a province has no parent")
		case in.Level != Province && in.ParentID == nil:
			return errs.Field("parent_id", "is required for a "+in.Level)
		case in.ParentID != nil:
			var parent Region
			if err := conn.First(&parent, *in.ParentID).Error; err != nil {
				if database.IsNotFound(err) {
					return errs.Field("parent_id", "no such region")
				}
				return err
			}
			if levelRank(parent.Level) >= levelRank(in.Level) {
				return errs.Field("parent_id", fmt.Sprintf("a %s cannot be under a %s", in.Level, parent.Level))
			}
			r.ParentID, parentPath = &parent.ID, parent.Path
		}
		if err := conn.Create(&r).Error; err != nil {
			return err
		}
		r.Path = fmt.Sprintf("%s%d/", parentPath, r.ID)
		if err := conn.Model(&r).Update("path", r.Path).Error; err != nil {
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "region.create", "region", r.ID, in)
	})
	return r, err
}

// RegionFilter narrows ListRegions.
type RegionFilter struct {
	ParentID int64
	Level    string
}

// ListRegions lists regions; the tree itself is not confidential, every
// signed-in user may read it (for pickers and filters).
func (s *Service) ListRegions(ctx context.Context, a auth.Actor, f RegionFilter, p page.Page) (page.List[Region], error) {
	p = p.Normalize()
	q := s.db.Conn(ctx).Model(&Region{})
	if f.ParentID != 0 {
		q = q.Where("parent_id = ?", f.ParentID)
	}
	if f.Level != "" {
		q = q.Where("level = ?", f.Level)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.List[Region]{}, err
	}
	var out []Region
	err := q.Order("path").Limit(p.Limit).Offset(p.Offset).Find(&out).Error
	return page.Of(out, p, total), err
}

// Region returns one region.
func (s *Service) Region(ctx context.Context, id int64) (Region, error) {
	var r Region
	err := s.db.Conn(ctx).First(&r, id).Error
	if database.IsNotFound(err) {
		return r, errs.NotFound("region")
	}
	return r, err
}

// RegionPath returns the path of region id, or a field error naming field.
func (s *Service) RegionPath(ctx context.Context, id int64, field string) (string, error) {
	var path string
	err := s.db.Conn(ctx).Raw("SELECT path FROM regions WHERE id = ?", id).Scan(&path).Error
	if err == nil && path == "" {
		return "", errs.Field(field, "no such region")
	}
	return path, err
}

// SchoolRegionPath returns the region path of school id, or a field error.
func (s *Service) SchoolRegionPath(ctx context.Context, id int64, field string) (string, error) {
	var path string
	err := s.db.Conn(ctx).Raw("SELECT r.path FROM schools s JOIN regions r ON r.id = s.region_id WHERE s.id = ?", id).Scan(&path).Error
	if err == nil && path == "" {
		return "", errs.Field(field, "no such school")
	}
	return path, err
}

// SchoolInput creates a school.
type SchoolInput struct {
	Name     string `json:"name" validate:"required,max=200"`
	RegionID int64  `json:"region_id" validate:"required"`
	Stage    string `json:"stage" validate:"required"`
	Code     string `json:"code" validate:"omitempty,len=10,numeric"`
	Email    string `json:"email" validate:"omitempty,max=254"`
}

// SchoolPatch is a merge patch of a school: absent members stay as they
// are; null clears the optional ones (code, email) and is refused for the
// others.
type SchoolPatch struct {
	Name     patch.Field[string] `json:"name" validate:"omitempty,max=200"`
	RegionID patch.Field[int64]  `json:"region_id"`
	Stage    patch.Field[string] `json:"stage"`
	Code     patch.Field[string] `json:"code" validate:"omitempty,len=10,numeric"`
	Email    patch.Field[string] `json:"email" validate:"omitempty,max=254"`
}

func checkSchool(stage, email string, code *string) error {
	f := errs.Fields{}
	if !ValidStage(stage) {
		f.Add("stage", "must be one of "+strings.Join(stages, ", "))
	}
	if code != nil && strings.Trim(*code, "0123456789") != "" { // the tag's "numeric" also takes signs and dots
		f.Add("code", "must be 10 digits")
	}
	if email != "" {
		if _, err := mail.ParseAddress(email); err != nil {
			f.Add("email", "must be an email address")
		}
	}
	return f.Err()
}

// canManageRegion: admins anywhere, bureaus in their subtree.
func (s *Service) canManageRegion(ctx context.Context, a auth.Actor, regionID int64) error {
	if !a.IsAdmin() && !a.IsBureau() {
		return errs.Forbidden("only an admin or a bureau may manage schools")
	}
	path, err := s.RegionPath(ctx, regionID, "region_id")
	if err != nil {
		return err
	}
	if !a.CoversPath(path) {
		return errs.Forbidden("region %d is outside your region", regionID)
	}
	return nil
}

func nullable(code string) *string {
	code = strings.TrimSpace(code)
	if code == "" {
		return nil
	}
	return &code
}

// CreateSchool adds a school.
func (s *Service) CreateSchool(ctx context.Context, a auth.Actor, in SchoolInput) (School, error) {
	if err := s.val.Validate(in); err != nil {
		return School{}, err
	}
	if err := checkSchool(in.Stage, in.Email, nullable(in.Code)); err != nil {
		return School{}, err
	}
	sc := School{Name: strings.TrimSpace(in.Name), RegionID: in.RegionID, Stage: in.Stage, Code: nullable(in.Code), Email: strings.TrimSpace(in.Email)}
	sc.SearchText = searchText(sc)
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		if err := s.canManageRegion(ctx, a, in.RegionID); err != nil {
			return err
		}
		conn := s.db.Conn(ctx)
		if err := conn.Create(&sc).Error; err != nil {
			if database.IsDuplicate(err) {
				return errs.Conflict("duplicate_code", "code", "another school has this code")
			}
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "school.create", "school", sc.ID, in)
	})
	return sc, err
}

// UpdateSchool applies a patch; a bureau may only move a school within its
// subtree.
func (s *Service) UpdateSchool(ctx context.Context, a auth.Actor, id int64, in SchoolPatch) (School, error) {
	if err := s.val.Validate(in); err != nil {
		return School{}, err
	}
	var sc School
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		if err := conn.First(&sc, id).Error; err != nil {
			if database.IsNotFound(err) {
				return errs.NotFound("school")
			}
			return err
		}
		if !a.IsAdmin() && !a.IsBureau() {
			return errs.Forbidden("only an admin or a bureau may edit schools")
		}
		if err := s.canManageRegion(ctx, a, sc.RegionID); err != nil {
			return errs.NotFound("school") // outside the scope: not visible at all
		}
		f := errs.Fields{}
		for name, null := range map[string]bool{"name": in.Name.Null, "region_id": in.RegionID.Null, "stage": in.Stage.Null} {
			if null {
				f.Add(name, "is required; it cannot be cleared")
			}
		}
		if in.Name.HasValue() && strings.TrimSpace(in.Name.Value) == "" {
			f.Add("name", "is required")
		}
		if err := f.Err(); err != nil {
			return err
		}
		if in.Name.HasValue() {
			sc.Name = strings.TrimSpace(in.Name.Value)
		}
		in.Stage.Apply(&sc.Stage)
		if in.Email.Set {
			sc.Email = strings.TrimSpace(in.Email.Value)
		}
		if in.Code.Set {
			sc.Code = nullable(in.Code.Value)
		}
		before := sc.RegionID
		if in.RegionID.HasValue() {
			if err := s.canManageRegion(ctx, a, in.RegionID.Value); err != nil {
				return err
			}
			sc.RegionID = in.RegionID.Value
		}
		if err := checkSchool(sc.Stage, sc.Email, sc.Code); err != nil {
			return err
		}
		sc.SearchText = searchText(sc)
		var moved []int64
		if s.status != nil && sc.RegionID != before {
			var err error
			if moved, err = s.pairsUnder(ctx, "", sc.ID); err != nil {
				return err
			}
			if err := s.status.DetachStatus(ctx, moved); err != nil {
				return err
			}
		}
		if err := conn.Save(&sc).Error; err != nil {
			if database.IsDuplicate(err) {
				return errs.Conflict("duplicate_code", "code", "another school has this code")
			}
			return err
		}
		if len(moved) > 0 {
			if err := s.status.AttachStatus(ctx, moved); err != nil {
				return err
			}
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "school.update", "school", sc.ID, in)
	})
	return sc, err
}

// SchoolFilter narrows ListSchools.
type SchoolFilter struct {
	RegionID int64 // the subtree of this region
	Stage    string
	Query    string // name, code or pinyin (full or initials), anywhere
}

func searchText(sc School) string {
	code := ""
	if sc.Code != nil {
		code = *sc.Code
	}
	return search.Text(sc.Name, code)
}

// scoped restricts a schools query to what a sees: everything (admin), the
// subtree (bureau), or the own school and its partner schools (school users).
func scoped(q *gorm.DB, a auth.Actor) *gorm.DB {
	switch {
	case a.IsAdmin():
		return q
	case a.IsBureau():
		return q.Where("region_id IN (SELECT id FROM regions WHERE path LIKE ?)", a.RegionPath+"%")
	default:
		return q.Where(`(id = ? OR id IN (SELECT supported_school_id FROM pairs WHERE supporting_school_id = ?)
			OR id IN (SELECT supporting_school_id FROM pairs WHERE supported_school_id = ?))`, a.SchoolID, a.SchoolID, a.SchoolID)
	}
}

// ListSchools lists the schools visible to a.
func (s *Service) ListSchools(ctx context.Context, a auth.Actor, f SchoolFilter, p page.Page) (page.List[School], error) {
	p = p.Normalize()
	q := scoped(s.db.Conn(ctx).Model(&School{}), a)
	if f.RegionID != 0 {
		path, err := s.RegionPath(ctx, f.RegionID, "region_id")
		if err != nil {
			return page.List[School]{}, err
		}
		q = q.Where("region_id IN (SELECT id FROM regions WHERE path LIKE ?)", path+"%")
	}
	if f.Stage != "" {
		q = q.Where("stage = ?", f.Stage)
	}
	if f.Query != "" {
		// a scan of the narrow (search_text, id) index, not of the table
		q = q.Where(search.Condition(s.db.Dialect(), "search_text"), search.Like(f.Query))
	}
	var out []School
	if err := q.Session(&gorm.Session{}).Order("id").Limit(p.Limit).Offset(p.Offset).Find(&out).Error; err != nil {
		return page.List[School]{}, err
	}
	// a first page that is not full is the whole answer: no second scan
	// to count it (a search for one school scans once)
	total := int64(len(out))
	if p.Offset > 0 || len(out) == p.Limit {
		if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
			return page.List[School]{}, err
		}
	}
	return page.Of(out, p, total), nil
}

// School returns one school if a may see it; otherwise not found, so that
// ids outside the scope reveal nothing.
func (s *Service) School(ctx context.Context, a auth.Actor, id int64) (School, error) {
	var sc School
	err := scoped(s.db.Conn(ctx).Model(&School{}), a).Where("id = ?", id).Take(&sc).Error
	if database.IsNotFound(err) {
		return sc, errs.NotFound("school")
	}
	return sc, err
}

// SchoolRegionPaths returns the region path of each of the schools (for
// grouping a dashboard by sub-region), a query per 500 ids.
func (s *Service) SchoolRegionPaths(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		var rows []struct {
			ID   int64
			Path string
		}
		if err := s.db.Conn(ctx).Table("schools").Select("schools.id, regions.path").
			Joins("JOIN regions ON regions.id = schools.region_id").
			Where("schools.id IN ?", chunk).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r.ID] = r.Path
		}
	}
	return out, nil
}

// Stages lists the stages of a school, in display order.
func Stages() []string { return append([]string(nil), stages...) }

// RegionPaths maps every region id to its path, in one query. The tree is
// small (a nation has a few thousand regions), and dashboards need to place
// thousands of pairs in it.
func (s *Service) RegionPaths(ctx context.Context) (map[int64]string, error) {
	var rows []struct {
		ID   int64
		Path string
	}
	if err := s.db.Conn(ctx).Table("regions").Select("id, path").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Path
	}
	return out, nil
}
