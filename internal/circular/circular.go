// Package circular holds circulars (通报): a bureau's published criticism
// of the schools in its subtree whose commitments were breached in a term
// or school year, and the rectification (整改) each named school owes.
//
// A circular is drafted from the recorded breaches (internal/notify's
// breaches table), edited while a draft, and published once: publishing
// freezes it, opens one rectification per named school and tells the
// schools' principals and coordinators (a notice each, by mail through the
// outbox, and to the region's robots) in one transaction.
package circular

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/channel"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/i18n"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/page"
)

// Statuses of a circular.
const (
	Draft     = "draft"
	Published = "published"
)

// maxLines bounds one circular: a period with more breaches than this in
// one subtree is drafted per sub-region.
const maxLines = 2000

// Circular is one 通报.
type Circular struct {
	ID           int64      `json:"id" gorm:"primaryKey"`
	RegionID     *int64     `json:"region_id"`
	ScopePath    string     `json:"-"`
	Issuer       string     `json:"issuer"`
	PeriodKey    string     `json:"period_key"`
	Period       string     `json:"period" gorm:"-"` // in words
	Title        string     `json:"title"`
	Number       string     `json:"number"`
	Preamble     string     `json:"preamble"`
	Requirements string     `json:"requirements"`
	RectifyBy    *date.Date `json:"rectify_by"`
	RefersTo     *int64     `json:"refers_to"`
	Status       string     `json:"status"`
	CreatedBy    *int64     `json:"created_by"`
	PublishedBy  *int64     `json:"published_by"`
	PublishedOn  *date.Date `json:"published_on"`
	PublishedAt  *time.Time `json:"published_at"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	// Schools are the named schools with their lines (Get, Draft).
	Schools []SchoolGroup `json:"schools,omitempty" gorm:"-"`
}

// Line is one breach of a named school, as drafted.
type Line struct {
	ID           int64     `json:"-" gorm:"primaryKey"`
	CircularID   int64     `json:"-"`
	Position     int       `json:"-"`
	SchoolID     int64     `json:"-"`
	SchoolName   string    `json:"-"`
	PairID       int64     `json:"pair_id"`
	Counterpart  string    `json:"counterpart"`
	BreachID     int64     `json:"breach_id"`
	CommitmentID int64     `json:"commitment_id"`
	Commitment   string    `json:"commitment"`
	PeriodKey    string    `json:"period_key"`
	Period       string    `json:"period" gorm:"-"`
	PeriodStart  date.Date `json:"period_start"`
	PeriodEnd    date.Date `json:"period_end"`
	Required     decimal.D `json:"required"`
	Achieved     decimal.D `json:"achieved"`
}

// TableName of lines.
func (Line) TableName() string { return "circular_lines" }

// SchoolGroup is a named school and its lines.
type SchoolGroup struct {
	SchoolID int64  `json:"school_id"`
	Name     string `json:"name"`
	Lines    []Line `json:"lines"`
}

// Robots queues posts for region robots (channel.Service).
type Robots interface {
	Queue(ctx context.Context, b channel.Batch, now time.Time) (int, error)
}

// Config of the service.
type Config struct {
	BaseURL      string
	Location     *time.Location
	MaxFileBytes int64
	// ReminderDays before the deadline a school is reminded (3).
	ReminderDays int
}

// Service drafts, edits and publishes circulars and runs rectifications.
type Service struct {
	db     *database.DB
	cat    *i18n.Catalog
	outbox *mail.Outbox
	robots Robots
	files  *activity.Files
	mail   *mailer
	cfg    Config
	now    func() time.Time
}

// NewService wires the service; robots may be nil.
func NewService(db *database.DB, fsys fs.FS, cat *i18n.Catalog, outbox *mail.Outbox, robots Robots, files *activity.Files, cfg Config, now func() time.Time) (*Service, error) {
	m, err := newMailer(fsys)
	if err != nil {
		return nil, err
	}
	if cfg.ReminderDays <= 0 {
		cfg.ReminderDays = 3
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = 10 << 20
	}
	return &Service{db: db, cat: cat, outbox: outbox, robots: robots, files: files, mail: m, cfg: cfg, now: now}, nil
}

func (s *Service) today() date.Date { return date.Of(s.now(), s.cfg.Location) }

// DraftInput is the body of POST /circulars.
type DraftInput struct {
	PeriodKey    string     `json:"period_key"`
	Title        string     `json:"title"`
	Number       string     `json:"number"`
	Preamble     string     `json:"preamble"`
	Requirements string     `json:"requirements"`
	RectifyBy    *date.Date `json:"rectify_by"`
	RefersTo     *int64     `json:"refers_to"`
}

func checkText(f errs.Fields, field, v string, max int, required bool) {
	switch {
	case required && strings.TrimSpace(v) == "":
		f.Add(field, "is required")
	case utf8.RuneCountInString(v) > max:
		f.Add(field, fmt.Sprintf("must be at most %d characters", max))
	case !utf8.ValidString(v):
		f.Add(field, "must be valid text")
	}
}

// mayIssue: admins and bureaus issue circulars.
func mayIssue(a auth.Actor) error {
	if !a.IsAdmin() && !a.IsBureau() {
		return errs.Forbidden("only a bureau or an admin may issue circulars")
	}
	return nil
}

// span resolves a term key or school-year key to its dates.
func (s *Service) span(ctx context.Context, key string) (date.Date, date.Date, error) {
	var terms []calendar.Term
	if err := s.db.Conn(ctx).Table("terms").Find(&terms).Error; err != nil {
		return date.Date{}, date.Date{}, err
	}
	var from, to date.Date
	for _, t := range terms {
		if t.Key() == key || t.SchoolYear == key {
			if from.IsZero() || t.StartsOn.Before(from) {
				from = t.StartsOn
			}
			if to.IsZero() || t.EndsOn.After(to) {
				to = t.EndsOn
			}
		}
	}
	if from.IsZero() {
		return from, to, errs.Field("period_key", "must be a term (2026-2027-autumn) or a school year (2026-2027) of the calendar")
	}
	return from, to, nil
}

// breachRow is a breach with what a line shows.
type breachRow struct {
	ID                    int64
	PairID                int64
	CommitmentID          int64
	PeriodKey             string
	PeriodStart           date.Date
	PeriodEnd             date.Date
	Required              decimal.D
	Achieved              decimal.D
	SupportingID          int64
	SupportedID           int64
	SupportingName        string
	SupportedName         string
	SupportingPath        string
	SupportedPath         string
	Categories            string
	Measure               string
	Minimum               decimal.D
	Period                string
	CommitmentDescription string
}

// Draft creates a draft from the breaches recorded for the period in the
// actor's subtree. A breach names each school of its pair that lies in
// the subtree (a bureau criticises the schools under it; the province
// names both schools of a pair, a county only its own).
func (s *Service) Draft(ctx context.Context, a auth.Actor, in DraftInput) (*Circular, error) {
	if err := mayIssue(a); err != nil {
		return nil, err
	}
	in.PeriodKey = strings.TrimSpace(in.PeriodKey)
	f := errs.Fields{}
	checkText(f, "period_key", in.PeriodKey, 32, true)
	checkText(f, "title", in.Title, 200, true)
	checkText(f, "number", in.Number, 100, false)
	checkText(f, "preamble", in.Preamble, 20000, false)
	checkText(f, "requirements", in.Requirements, 20000, false)
	if err := f.Err(); err != nil {
		return nil, err
	}
	from, to, err := s.span(ctx, in.PeriodKey)
	if err != nil {
		return nil, err
	}
	if in.RectifyBy != nil && in.RectifyBy.Before(s.today()) {
		return nil, errs.Field("rectify_by", "must not be in the past")
	}
	scope := ""
	var regionID *int64
	issuer := ""
	if a.IsBureau() {
		scope, regionID = a.RegionPath, &a.RegionID
		if err := s.db.Conn(ctx).Raw("SELECT name FROM regions WHERE id = ?", a.RegionID).Scan(&issuer).Error; err != nil {
			return nil, err
		}
		issuer += "教育局"
	}
	if in.RefersTo != nil {
		old, err := s.load(ctx, a, *in.RefersTo)
		if err != nil {
			if errs.Is(err, errs.KindNotFound) {
				return nil, errs.Field("refers_to", "no such circular")
			}
			return nil, err
		}
		if old.Status != Published {
			return nil, errs.Field("refers_to", "a correction refers to a published circular")
		}
	}
	conn := s.db.Conn(ctx)
	q := conn.Table("breaches b").Select(`b.id, b.pair_id, b.commitment_id, b.period_key, b.period_start, b.period_end, b.required, b.achieved,
		p.supporting_school_id AS supporting_id, p.supported_school_id AS supported_id,
		sup.name AS supporting_name, sud.name AS supported_name, rs.path AS supporting_path, rd.path AS supported_path,
		c.categories, c.measure, c.minimum, c.period, c.description AS commitment_description`).
		Joins("JOIN pairs p ON p.id = b.pair_id").
		Joins("JOIN schools sup ON sup.id = p.supporting_school_id").
		Joins("JOIN regions rs ON rs.id = sup.region_id").
		Joins("JOIN schools sud ON sud.id = p.supported_school_id").
		Joins("JOIN regions rd ON rd.id = sud.region_id").
		Joins("JOIN commitments c ON c.id = b.commitment_id").
		Where("b.period_start >= ? AND b.period_end <= ?", from, to)
	if scope != "" {
		q = q.Where("(rs.path LIKE ? OR rd.path LIKE ?)", scope+"%", scope+"%")
	}
	var rows []breachRow
	if err := q.Order("b.pair_id, b.commitment_id, b.period_start").Limit(maxLines + 1).Scan(&rows).Error; err != nil {
		return nil, err
	}
	lines := s.linesOf(rows, scope)
	if len(lines) == 0 {
		return nil, errs.Field("period_key", "no breaches are recorded for this period in your region")
	}
	if len(lines) > maxLines {
		return nil, errs.Field("period_key", fmt.Sprintf("more than %d breaches: draft a circular per sub-region", maxLines))
	}
	now := s.now().UTC()
	c := &Circular{RegionID: regionID, ScopePath: scope, Issuer: issuer, PeriodKey: in.PeriodKey, Title: strings.TrimSpace(in.Title),
		Number: strings.TrimSpace(in.Number), Preamble: in.Preamble, Requirements: in.Requirements, RectifyBy: in.RectifyBy,
		RefersTo: in.RefersTo, Status: Draft, CreatedAt: now, UpdatedAt: now}
	if a.UserID != 0 {
		uid := a.UserID
		c.CreatedBy = &uid
	}
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		if err := conn.Omit("Schools").Create(c).Error; err != nil {
			return err
		}
		for i := range lines {
			lines[i].CircularID, lines[i].Position = c.ID, i
		}
		if err := conn.CreateInBatches(&lines, 500).Error; err != nil {
			return err
		}
		return audit.Record(ctx, conn, now, a.UserID, "circular.draft", "circular", c.ID,
			map[string]any{"period_key": c.PeriodKey, "title": c.Title, "lines": len(lines)})
	})
	if err != nil {
		return nil, err
	}
	c.Schools = group(lines)
	s.words(c)
	return c, nil
}

// linesOf turns breaches into lines, one per named school.
func (s *Service) linesOf(rows []breachRow, scope string) []Line {
	var out []Line
	for _, r := range rows {
		words := s.commitmentWords(r)
		add := func(school int64, name, counterpart string) {
			out = append(out, Line{SchoolID: school, SchoolName: name, PairID: r.PairID, Counterpart: counterpart, BreachID: r.ID,
				CommitmentID: r.CommitmentID, Commitment: words, PeriodKey: r.PeriodKey, PeriodStart: r.PeriodStart, PeriodEnd: r.PeriodEnd,
				Required: r.Required, Achieved: r.Achieved})
		}
		if strings.HasPrefix(r.SupportingPath, scope) {
			add(r.SupportingID, r.SupportingName, r.SupportedName)
		}
		if strings.HasPrefix(r.SupportedPath, scope) {
			add(r.SupportedID, r.SupportedName, r.SupportingName)
		}
	}
	// stable order: by school as first met, then as read
	order := map[int64]int{}
	for _, l := range out {
		if _, ok := order[l.SchoolID]; !ok {
			order[l.SchoolID] = len(order)
		}
	}
	sorted := make([]Line, 0, len(out))
	buckets := make([][]Line, len(order))
	for _, l := range out {
		buckets[order[l.SchoolID]] = append(buckets[order[l.SchoolID]], l)
	}
	for _, b := range buckets {
		sorted = append(sorted, b...)
	}
	return sorted
}

// commitmentWords: "每学期至少 2 次：管理交流、实地指导" (circulars are
// official documents in Chinese).
func (s *Service) commitmentWords(r breachRow) string {
	var cats []string
	for _, c := range strings.Split(r.Categories, ",") {
		if c = strings.TrimSpace(c); c != "" {
			cats = append(cats, s.cat.T("zh-CN", "category."+c, nil))
		}
	}
	w := s.cat.T("zh-CN", "commitment.words", map[string]any{
		"Minimum": r.Minimum.String(), "Unit": s.cat.T("zh-CN", "unit."+r.Measure, nil),
		"Period": s.cat.T("zh-CN", "period."+r.Period, nil), "Categories": strings.Join(cats, s.cat.T("zh-CN", "list.separator", nil)),
	})
	if r.CommitmentDescription != "" {
		w += "（" + r.CommitmentDescription + "）"
	}
	return truncate(w, 500)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func group(lines []Line) []SchoolGroup {
	var out []SchoolGroup
	idx := map[int64]int{}
	for _, l := range lines {
		i, ok := idx[l.SchoolID]
		if !ok {
			i = len(out)
			idx[l.SchoolID] = i
			out = append(out, SchoolGroup{SchoolID: l.SchoolID, Name: l.SchoolName})
		}
		out[i].Lines = append(out[i].Lines, l)
	}
	return out
}

// words fills the periods in words.
func (s *Service) words(c *Circular) {
	c.Period = calendar.KeyWords(c.PeriodKey, "zh-CN")
	for i := range c.Schools {
		for j := range c.Schools[i].Lines {
			l := &c.Schools[i].Lines[j]
			l.Period = calendar.KeyWords(l.PeriodKey, "zh-CN")
		}
	}
}

// visible restricts circulars to the actor: an admin sees all, a bureau
// those drafted in its subtree, a school user the published ones naming
// its school.
func visible(q *gorm.DB, a auth.Actor) *gorm.DB {
	switch {
	case a.IsAdmin():
		return q
	case a.IsBureau():
		return q.Where("circulars.scope_path LIKE ?", a.RegionPath+"%")
	case a.IsSchoolUser():
		return q.Where("circulars.status = ? AND EXISTS (SELECT 1 FROM rectifications r WHERE r.circular_id = circulars.id AND r.school_id = ?)", Published, a.SchoolID)
	}
	return q.Where("1 = 0")
}

func (s *Service) load(ctx context.Context, a auth.Actor, id int64) (*Circular, error) {
	var c Circular
	err := visible(s.db.Conn(ctx).Model(&Circular{}), a).Where("circulars.id = ?", id).Take(&c).Error
	if database.IsNotFound(err) {
		return nil, errs.NotFound("circular")
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// Get returns a circular with its schools and lines. A school user sees
// only its own school's lines.
func (s *Service) Get(ctx context.Context, a auth.Actor, id int64) (*Circular, error) {
	c, err := s.load(ctx, a, id)
	if err != nil {
		return nil, err
	}
	q := s.db.Conn(ctx).Where("circular_id = ?", id)
	if a.IsSchoolUser() {
		q = q.Where("school_id = ?", a.SchoolID)
	}
	var lines []Line
	if err := q.Order("position").Find(&lines).Error; err != nil {
		return nil, err
	}
	c.Schools = group(lines)
	s.words(c)
	return c, nil
}

// Filter of List.
type Filter struct {
	Status    string
	PeriodKey string
}

// List returns the visible circulars, newest first, without lines.
func (s *Service) List(ctx context.Context, a auth.Actor, f Filter, p page.Page) (page.List[Circular], error) {
	p = p.Normalize()
	if f.Status != "" && f.Status != Draft && f.Status != Published {
		return page.List[Circular]{}, errs.Field("status", "must be draft or published")
	}
	q := visible(s.db.Conn(ctx).Model(&Circular{}), a)
	if f.Status != "" {
		q = q.Where("circulars.status = ?", f.Status)
	}
	if f.PeriodKey != "" {
		q = q.Where("circulars.period_key = ?", f.PeriodKey)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.List[Circular]{}, err
	}
	var out []Circular
	if err := q.Order("circulars.id DESC").Limit(p.Limit).Offset(p.Offset).Find(&out).Error; err != nil {
		return page.List[Circular]{}, err
	}
	for i := range out {
		out[i].Period = calendar.KeyWords(out[i].PeriodKey, "zh-CN")
	}
	return page.Of(out, p, total), nil
}

// Patch edits a draft (RFC 7396: absent unchanged, null clears an
// optional field).
type Patch struct {
	Title        Opt[string]
	Number       Opt[string]
	Preamble     Opt[string]
	Requirements Opt[string]
	RectifyBy    Opt[date.Date]
}

// Opt is a PATCH field: Set when present, Null when present as null.
type Opt[T any] struct {
	Set, Null bool
	V         T
}

// UnmarshalJSON records presence and null.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// UnmarshalJSON reads a patch, refusing unknown fields.
func (p *Patch) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return errs.Malformed("", "the body must be a JSON object")
	}
	fields := map[string]interface{ UnmarshalJSON([]byte) error }{
		"title": &p.Title, "number": &p.Number, "preamble": &p.Preamble, "requirements": &p.Requirements, "rectify_by": &p.RectifyBy}
	for k, raw := range m {
		f, ok := fields[k]
		if !ok {
			return errs.Malformed(k, "unknown field "+k)
		}
		if err := f.UnmarshalJSON(raw); err != nil {
			return errs.Field(k, "has the wrong type")
		}
	}
	return nil
}

// Update applies a patch to a draft.
func (s *Service) Update(ctx context.Context, a auth.Actor, id int64, p Patch) (*Circular, error) {
	if err := mayIssue(a); err != nil {
		return nil, err
	}
	f := errs.Fields{}
	set := map[string]any{}
	text := func(field string, o Opt[string], max int, required bool) {
		if !o.Set {
			return
		}
		if o.Null {
			if required {
				f.Add(field, "is required")
				return
			}
			set[field] = ""
			return
		}
		checkText(f, field, o.V, max, required)
		set[field] = o.V
	}
	text("title", p.Title, 200, true)
	text("number", p.Number, 100, false)
	text("preamble", p.Preamble, 20000, false)
	text("requirements", p.Requirements, 20000, false)
	if p.RectifyBy.Set {
		if p.RectifyBy.Null {
			set["rectify_by"] = nil
		} else if p.RectifyBy.V.Before(s.today()) {
			f.Add("rectify_by", "must not be in the past")
		} else {
			set["rectify_by"] = p.RectifyBy.V
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		c, err := s.load(ctx, a, id)
		if err != nil {
			return err
		}
		if c.Status != Draft {
			return errs.Conflict("published", "status", "a published circular cannot be changed; issue a correction that refers to it")
		}
		if len(set) == 0 {
			return nil
		}
		set["updated_at"] = now
		res := s.db.Conn(ctx).Model(&Circular{}).Where("id = ? AND status = ?", id, Draft).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errs.Conflict("published", "status", "the circular was published meanwhile")
		}
		delete(set, "updated_at")
		return audit.Record(ctx, s.db.Conn(ctx), now, a.UserID, "circular.update", "circular", id, set)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, a, id)
}
