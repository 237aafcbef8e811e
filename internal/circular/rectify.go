package circular

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/page"
)

// Rectification states: awaiting_ack → acknowledged → submitted →
// accepted | returned → submitted …
const (
	AwaitingAck  = "awaiting_ack"
	Acknowledged = "acknowledged"
	Submitted    = "submitted"
	Accepted     = "accepted"
	Returned     = "returned"
)

// RectStatuses are the states in order.
var RectStatuses = []string{AwaitingAck, Acknowledged, Submitted, Returned, Accepted}

// openStatuses still owe the school something.
var openStatuses = []string{AwaitingAck, Acknowledged, Returned}

// maxRectFiles bounds the attachments of one report.
const maxRectFiles = 20

// Rectification is what one named school owes for one circular.
type Rectification struct {
	ID             int64      `json:"id" gorm:"primaryKey"`
	CircularID     int64      `json:"circular_id"`
	SchoolID       int64      `json:"school_id"`
	Status         string     `json:"status"`
	DueOn          date.Date  `json:"due_on"`
	Report         string     `json:"report"`
	ReturnReason   string     `json:"return_reason"`
	AcknowledgedBy *int64     `json:"acknowledged_by"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	SubmittedBy    *int64     `json:"submitted_by"`
	SubmittedAt    *time.Time `json:"submitted_at"`
	SubmittedOn    *date.Date `json:"submitted_on"`
	DecidedBy      *int64     `json:"decided_by"`
	DecidedAt      *time.Time `json:"decided_at"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	SchoolName     string     `json:"school_name" gorm:"->"`
	CircularTitle  string     `json:"circular_title" gorm:"->"`
	CircularNumber string     `json:"circular_number" gorm:"->"`
	// the issuing bureau's region: it alone (or an admin) decides
	CircularRegionID *int64 `json:"-" gorm:"->"`
	Overdue          bool   `json:"overdue" gorm:"-"`
	Files            []File `json:"files,omitempty" gorm:"-"`
}

// File is an attachment of a rectification report.
type File struct {
	ID              int64     `json:"id" gorm:"primaryKey"`
	RectificationID int64     `json:"rectification_id"`
	FileName        string    `json:"file_name"`
	ContentType     string    `json:"content_type"`
	Size            int64     `json:"size"`
	StorageKey      string    `json:"-"`
	SHA256          string    `json:"sha256" gorm:"column:sha256"`
	UploadedBy      int64     `json:"uploaded_by"`
	CreatedAt       time.Time `json:"created_at"`
}

// TableName of files.
func (File) TableName() string { return "rectification_files" }

// rectVisible restricts rectifications: admins all, a bureau those of
// circulars drafted in its subtree, a school user its own school's.
func rectVisible(q *gorm.DB, a auth.Actor) *gorm.DB {
	switch {
	case a.IsAdmin():
		return q
	case a.IsBureau():
		return q.Where("c.scope_path LIKE ?", a.RegionPath+"%")
	case a.IsSchoolUser():
		return q.Where("rectifications.school_id = ?", a.SchoolID)
	}
	return q.Where("1 = 0")
}

func (s *Service) rectQuery(ctx context.Context, a auth.Actor) *gorm.DB {
	return rectVisible(s.db.Conn(ctx).Table("rectifications").
		Select("rectifications.*, sc.name AS school_name, c.title AS circular_title, c.number AS circular_number, c.region_id AS circular_region_id").
		Joins("JOIN circulars c ON c.id = rectifications.circular_id").
		Joins("JOIN schools sc ON sc.id = rectifications.school_id"), a)
}

func (s *Service) markOverdue(rs []Rectification) {
	today := s.today()
	for i := range rs {
		rs[i].Overdue = isOpen(rs[i].Status) && today.After(rs[i].DueOn)
	}
}

func isOpen(status string) bool {
	for _, o := range openStatuses {
		if o == status {
			return true
		}
	}
	return false
}

// RectFilter of ListRectifications.
type RectFilter struct {
	CircularID int64
	Status     string
	Open       bool // only those still owing something (dashboard)
}

// ListRectifications returns the visible rectifications: overdue first,
// then by deadline.
func (s *Service) ListRectifications(ctx context.Context, a auth.Actor, f RectFilter, p page.Page) (page.List[Rectification], error) {
	p = p.Normalize()
	q := s.rectQuery(ctx, a)
	if f.Status != "" {
		ok := false
		for _, st := range RectStatuses {
			ok = ok || st == f.Status
		}
		if !ok {
			return page.List[Rectification]{}, errs.Field("status", "must be one of "+strings.Join(RectStatuses, ", "))
		}
		q = q.Where("rectifications.status = ?", f.Status)
	}
	if f.Open {
		q = q.Where("rectifications.status IN ?", openStatuses)
	}
	if f.CircularID != 0 {
		q = q.Where("rectifications.circular_id = ?", f.CircularID)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.List[Rectification]{}, err
	}
	var out []Rectification
	// open and past the deadline first; then the earliest deadline
	today := s.today()
	// (the date is ours, YYYY-MM-DD: safe to inline)
	order := "CASE WHEN rectifications.status IN ('" + strings.Join(openStatuses, "','") + "') AND rectifications.due_on < '" +
		today.String() + "' THEN 0 ELSE 1 END, rectifications.due_on, rectifications.id"
	if err := q.Order(order).Limit(p.Limit).Offset(p.Offset).Find(&out).Error; err != nil {
		return page.List[Rectification]{}, err
	}
	s.markOverdue(out)
	return page.Of(out, p, total), nil
}

// GetRectification returns one with its files.
func (s *Service) GetRectification(ctx context.Context, a auth.Actor, id int64) (*Rectification, error) {
	var r Rectification
	err := s.rectQuery(ctx, a).Where("rectifications.id = ?", id).Take(&r).Error
	if database.IsNotFound(err) {
		return nil, errs.NotFound("rectification")
	}
	if err != nil {
		return nil, err
	}
	if err := s.db.Conn(ctx).Where("rectification_id = ?", id).Order("id").Find(&r.Files).Error; err != nil {
		return nil, err
	}
	rs := []Rectification{r}
	s.markOverdue(rs)
	return &rs[0], nil
}

// mustBeSchool: only the named school's principal or coordinator acts for it.
func mustBeSchool(a auth.Actor, r *Rectification) error {
	if !a.IsSchoolUser() || a.SchoolID != r.SchoolID {
		return errs.Forbidden("only the named school's principal or coordinator may do this")
	}
	return nil
}

// mustDecide: the issuing bureau, or an admin. (Bureaus above it see the
// rectification but leave the decision to the issuer.)
func mustDecide(a auth.Actor, r *Rectification) error {
	if a.IsAdmin() || a.IsBureau() && r.CircularRegionID != nil && *r.CircularRegionID == a.RegionID {
		return nil
	}
	return errs.Forbidden("only the issuing bureau or an admin may accept or return a report")
}

// transition moves a rectification from one of from to to with the
// columns set, conditionally (a concurrent transition wins once), with
// its audit row, in one transaction.
func (s *Service) transition(ctx context.Context, a auth.Actor, id int64, check func(*Rectification) error, from []string, to string, set map[string]any, action string,
	then ...func(ctx context.Context, r *Rectification) error) (*Rectification, error) {
	now := s.now().UTC()
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		r, err := s.GetRectification(ctx, a, id)
		if err != nil {
			return err
		}
		if err := check(r); err != nil {
			return err
		}
		if !contains(from, r.Status) {
			return errs.Conflict("wrong_status", "status", fmt.Sprintf("the rectification is %s; this needs %s", r.Status, strings.Join(from, " or ")))
		}
		set["status"], set["updated_at"] = to, now
		res := s.db.Conn(ctx).Table("rectifications").Where("id = ? AND status IN ?", id, from).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errs.Conflict("wrong_status", "status", "the rectification changed meanwhile")
		}
		details := map[string]any{"from": r.Status, "to": to}
		for k, v := range set {
			if k == "report" || k == "return_reason" {
				details[k] = v
			}
		}
		if err := audit.Record(ctx, s.db.Conn(ctx), now, a.UserID, action, "rectification", id, details); err != nil {
			return err
		}
		for _, fn := range then {
			if err := fn(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetRectification(ctx, a, id)
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Acknowledge is the school's 签收.
func (s *Service) Acknowledge(ctx context.Context, a auth.Actor, id int64) (*Rectification, error) {
	return s.transition(ctx, a, id, func(r *Rectification) error { return mustBeSchool(a, r) },
		[]string{AwaitingAck}, Acknowledged, map[string]any{"acknowledged_by": a.UserID, "acknowledged_at": s.now().UTC()}, "rectification.acknowledge")
}

// Submit hands in the report (again, after a return).
func (s *Service) Submit(ctx context.Context, a auth.Actor, id int64, report string) (*Rectification, error) {
	f := errs.Fields{}
	checkText(f, "report", report, 20000, true)
	if err := f.Err(); err != nil {
		return nil, err
	}
	return s.transition(ctx, a, id, func(r *Rectification) error { return mustBeSchool(a, r) },
		[]string{Acknowledged, Returned}, Submitted, map[string]any{"report": report, "submitted_by": a.UserID,
			"submitted_at": s.now().UTC(), "submitted_on": s.today()}, "rectification.submit")
}

// Accept closes a submitted rectification.
func (s *Service) Accept(ctx context.Context, a auth.Actor, id int64) (*Rectification, error) {
	return s.transition(ctx, a, id, func(r *Rectification) error { return mustDecide(a, r) },
		[]string{Submitted}, Accepted, map[string]any{"decided_by": a.UserID, "decided_at": s.now().UTC(), "return_reason": ""}, "rectification.accept")
}

// Return sends a submitted report back with a reason.
func (s *Service) Return(ctx context.Context, a auth.Actor, id int64, reason string) (*Rectification, error) {
	f := errs.Fields{}
	checkText(f, "reason", reason, 1000, true)
	if err := f.Err(); err != nil {
		return nil, err
	}
	return s.transition(ctx, a, id, func(r *Rectification) error { return mustDecide(a, r) },
		[]string{Submitted}, Returned, map[string]any{"decided_by": a.UserID, "decided_at": s.now().UTC(), "return_reason": reason}, "rectification.return",
		func(ctx context.Context, r *Rectification) error { return s.tellReturned(ctx, r, reason) })
}

// tellReturned tells the school's principals and coordinators that their
// report came back and why, in the transaction of the return: a notice
// rectify:<circular>:<school>:returned:<n> (n counts the returns) and its mail.
func (s *Service) tellReturned(ctx context.Context, r *Rectification, reason string) error {
	conn := s.db.Conn(ctx)
	var n int64
	if err := conn.Table("audit_log").Where("entity = ? AND entity_id = ? AND action = ?", "rectification", r.ID, "rectification.return").
		Count(&n).Error; err != nil {
		return err
	}
	now := s.now()
	token := newToken()
	d, _ := json.Marshal(map[string]int64{"circular_id": r.CircularID, "school_id": r.SchoolID, "rectification_id": r.ID})
	row := notice{Kind: KindRectifyRemind, DedupeKey: fmt.Sprintf("rectify:%d:%d:returned:%d", r.CircularID, r.SchoolID, n),
		AsOf: s.today(), Details: string(d), RunToken: token, CreatedAt: now.UTC()}
	if err := conn.Create(&row).Error; err != nil {
		return err
	}
	staff, err := s.schoolStaff(ctx, []int64{r.SchoolID})
	if err != nil {
		return err
	}
	msgs := make([]*mail.Message, 0, len(staff))
	owners := make([]notice, 0, len(staff))
	for _, u := range staff {
		md := &mailData{Recipient: u.Name, Footer: footer(u.locale()), Title: r.CircularTitle, Number: r.CircularNumber, School: r.SchoolName,
			RectifyBy: r.DueOn.String(), Returned: true, Reason: reason,
			URL: fmt.Sprintf("%s/rectifications/%d", strings.TrimRight(s.cfg.BaseURL, "/"), r.ID)}
		out, err := s.mail.render("rectify", u.locale(), md)
		if err != nil {
			return err
		}
		uid := u.ID
		msgs = append(msgs, &mail.Message{Kind: KindRectifyRemind, RecipientUserID: &uid, To: u.address(), Locale: u.locale(),
			Subject: out.Subject, BodyText: out.Text, BodyHTML: out.HTML})
		owners = append(owners, row)
	}
	if err := s.outbox.Enqueue(ctx, msgs, now); err != nil {
		return err
	}
	return link(ctx, s, msgs, owners)
}

// AddFile stores an attachment while the report is being prepared. The
// file is written first and removed again if the database write fails.
func (s *Service) AddFile(ctx context.Context, a auth.Actor, id int64, name string, r io.Reader) (File, error) {
	rect, err := s.GetRectification(ctx, a, id)
	if err != nil {
		return File{}, err
	}
	if err := mustBeSchool(a, rect); err != nil {
		return File{}, err
	}
	if !isOpen(rect.Status) {
		return File{}, errs.Conflict("wrong_status", "status", "files can be added until the report is submitted")
	}
	key, ctype, size, sum, err := s.files.Put(r, s.cfg.MaxFileBytes)
	if err != nil {
		return File{}, err
	}
	now := s.now().UTC()
	f := File{RectificationID: id, FileName: activity.CleanName(name), ContentType: ctype, Size: size, StorageKey: key, SHA256: sum,
		UploadedBy: a.UserID, CreatedAt: now}
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		// lock the row and re-check its state under the transaction
		res := conn.Table("rectifications").Where("id = ? AND status IN ?", id, openStatuses).Update("updated_at", now)
		if res.Error != nil {
			return res.Error
		}
		var st string
		if err := conn.Table("rectifications").Select("status").Where("id = ?", id).Scan(&st).Error; err != nil {
			return err
		}
		if !isOpen(st) {
			return errs.Conflict("wrong_status", "status", "the report was submitted meanwhile")
		}
		var n int64
		if err := conn.Model(&File{}).Where("rectification_id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n >= maxRectFiles {
			return errs.Conflict("too_many_files", "file", fmt.Sprintf("a report can have at most %d files", maxRectFiles))
		}
		if err := conn.Create(&f).Error; err != nil {
			return err
		}
		return audit.Record(ctx, conn, now, a.UserID, "rectification.file", "rectification", id, map[string]any{"file": f.FileName, "sha256": sum})
	})
	if err != nil {
		s.files.Remove(key)
		return File{}, err
	}
	return f, nil
}

// OpenFile returns a visible attachment and its content.
func (s *Service) OpenFile(ctx context.Context, a auth.Actor, fileID int64) (File, io.ReadSeekCloser, error) {
	var f File
	if err := s.db.Conn(ctx).Where("id = ?", fileID).Take(&f).Error; err != nil {
		if database.IsNotFound(err) {
			return f, nil, errs.NotFound("file")
		}
		return f, nil, err
	}
	if _, err := s.GetRectification(ctx, a, f.RectificationID); err != nil {
		if errs.Is(err, errs.KindNotFound) {
			return f, nil, errs.NotFound("file")
		}
		return f, nil, err
	}
	rc, err := s.files.Open(f.StorageKey)
	if err != nil {
		return f, nil, err
	}
	return f, rc, nil
}
