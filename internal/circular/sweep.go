package circular

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm/clause"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/channel"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/mail"
)

// SweepResult counts the rectification notices a sweep created.
type SweepResult struct {
	Reminders   int `json:"reminders"`
	Escalations int `json:"escalations"`
}

// openRect is an open rectification with what its notices say.
type openRect struct {
	ID         int64
	CircularID int64
	SchoolID   int64
	DueOn      date.Date
	SchoolName string
	SchoolPath string
	Title      string
	Number     string
	RegionID   *int64
}

// Sweep is the daily rectification step, a pure function of the data and
// at (the daily job calls it with the compliance sweep's date and now):
//   - a reminder to the school's principals and coordinators from 3 days
//     before the deadline (due_on − 3 ≤ at ≤ due_on), once:
//     rectify:<circular>:<school>:reminder;
//   - an escalation to the issuing bureau from the day after the deadline
//     (at > due_on), once: rectify:<circular>:<school>:overdue,
//     also posted to the robots of the school's region and above;
//
// both only while the school still owes its report (awaiting_ack,
// acknowledged, returned). Notices and their mail are one transaction.
func (s *Service) Sweep(ctx context.Context, at date.Date, now time.Time) (SweepResult, error) {
	var res SweepResult
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		res = SweepResult{}
		var rows []openRect
		// at most a few hundred open rectifications: one indexed range read
		if err := s.db.Conn(ctx).Table("rectifications r").
			Select("r.id, r.circular_id, r.school_id, r.due_on, sc.name AS school_name, g.path AS school_path, c.title, c.number, c.region_id").
			Joins("JOIN circulars c ON c.id = r.circular_id").
			Joins("JOIN schools sc ON sc.id = r.school_id").
			Joins("JOIN regions g ON g.id = sc.region_id").
			Where("r.status IN ? AND r.due_on <= ?", openStatuses, at.AddDays(s.cfg.ReminderDays)).
			Order("r.id").Scan(&rows).Error; err != nil {
			return err
		}
		var reminders, overdue []openRect
		for _, r := range rows {
			switch {
			case at.After(r.DueOn):
				overdue = append(overdue, r)
			case !at.Before(r.DueOn.AddDays(-s.cfg.ReminderDays)):
				reminders = append(reminders, r)
			}
		}
		token := newToken()
		var ns []notice
		add := func(r openRect, kind, suffix string) {
			d, _ := json.Marshal(map[string]int64{"circular_id": r.CircularID, "school_id": r.SchoolID, "rectification_id": r.ID})
			ns = append(ns, notice{Kind: kind, DedupeKey: fmt.Sprintf("rectify:%d:%d:%s", r.CircularID, r.SchoolID, suffix),
				AsOf: at, Details: string(d), RunToken: token, CreatedAt: now.UTC()})
		}
		for _, r := range reminders {
			add(r, KindRectifyRemind, "reminder")
		}
		for _, r := range overdue {
			add(r, KindRectifyOverdue, "overdue")
		}
		if len(ns) == 0 {
			return nil
		}
		conn := s.db.Conn(ctx)
		if err := conn.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(&ns, 500).Error; err != nil {
			return err
		}
		var fresh []notice
		if err := conn.Where("run_token = ?", token).Order("id").Find(&fresh).Error; err != nil {
			return err
		}
		if len(fresh) == 0 {
			return nil
		}
		byKey := map[string]openRect{}
		for _, r := range reminders {
			byKey[fmt.Sprintf("rectify:%d:%d:reminder", r.CircularID, r.SchoolID)] = r
		}
		for _, r := range overdue {
			byKey[fmt.Sprintf("rectify:%d:%d:overdue", r.CircularID, r.SchoolID)] = r
		}
		return s.sendRect(ctx, fresh, byKey, at, now, &res)
	})
	return res, err
}

// sendRect composes one message per notice and recipient.
func (s *Service) sendRect(ctx context.Context, fresh []notice, byKey map[string]openRect, at date.Date, now time.Time, res *SweepResult) error {
	var schools []int64
	for _, n := range fresh {
		if n.Kind == KindRectifyRemind {
			schools = append(schools, byKey[n.DedupeKey].SchoolID)
		}
	}
	staff := map[int64][]recipient{}
	if len(schools) > 0 {
		rs, err := s.schoolStaff(ctx, schools)
		if err != nil {
			return err
		}
		for _, r := range rs {
			staff[r.SchoolID] = append(staff[r.SchoolID], r)
		}
	}
	bureaus, err := s.bureauUsers(ctx)
	if err != nil {
		return err
	}
	base := strings.TrimRight(s.cfg.BaseURL, "/")
	var msgs []*mail.Message
	var owners []notice
	var items []channel.Item
	for _, n := range fresh {
		r := byKey[n.DedupeKey]
		var to []recipient
		overdue := n.Kind == KindRectifyOverdue
		if overdue {
			res.Escalations++
			to = issuingBureau(bureaus, r)
			items = append(items, channel.Item{Section: "逾期未整改", Paths: []string{r.SchoolPath},
				Text: fmt.Sprintf("**%s**：通报 %s 要求于 %s 前提交整改报告，已逾期", mdEscape(r.SchoolName), mdEscape(r.Number), r.DueOn)})
		} else {
			res.Reminders++
			to = staff[r.SchoolID]
		}
		for _, u := range to {
			d := &mailData{Recipient: u.Name, Footer: footer(u.locale()), Title: r.Title, Number: r.Number, School: r.SchoolName,
				RectifyBy: r.DueOn.String(), DaysLeft: at.DaysUntil(r.DueOn), Overdue: overdue,
				URL: fmt.Sprintf("%s/rectifications/%d", base, r.ID)}
			out, err := s.mail.render("rectify", u.locale(), d)
			if err != nil {
				return err
			}
			uid := u.ID
			msgs = append(msgs, &mail.Message{Kind: n.Kind, RecipientUserID: &uid, To: u.address(), Locale: u.locale(),
				Subject: out.Subject, BodyText: out.Text, BodyHTML: out.HTML})
			owners = append(owners, n)
		}
	}
	if err := s.outbox.Enqueue(ctx, msgs, now); err != nil {
		return err
	}
	if err := link(ctx, s, msgs, owners); err != nil {
		return err
	}
	if s.robots != nil && len(items) > 0 {
		if _, err := s.robots.Queue(ctx, channel.Batch{Kind: KindRectifyOverdue, Title: "整改逾期提醒", Items: items, Link: base + "/dashboard"}, now); err != nil {
			return err
		}
	}
	return nil
}

type bureauUser struct {
	recipient
	RegionID int64
	Path     string
}

func (s *Service) bureauUsers(ctx context.Context) ([]bureauUser, error) {
	var rows []struct {
		ID                  int64
		Name, Email, Locale string
		RegionID            int64
		Path                string
	}
	err := s.db.Conn(ctx).Table("users u").Select("u.id, u.name, u.email, u.locale, u.region_id, g.path").
		Joins("JOIN regions g ON g.id = u.region_id").
		Where("u.role = ? AND u.active = ?", auth.RoleBureau, true).Order("u.id").Scan(&rows).Error
	out := make([]bureauUser, len(rows))
	for i, r := range rows {
		out[i] = bureauUser{recipient: recipient{ID: r.ID, Name: r.Name, Email: r.Email, Locale: r.Locale}, RegionID: r.RegionID, Path: r.Path}
	}
	return out, err
}

// issuingBureau: the bureau users of the circular's region; for an
// admin's circular, the nearest bureau above the school.
func issuingBureau(all []bureauUser, r openRect) []recipient {
	var out []recipient
	if r.RegionID != nil {
		for _, b := range all {
			if b.RegionID == *r.RegionID {
				out = append(out, b.recipient)
			}
		}
		return out
	}
	best := ""
	for _, b := range all {
		if strings.HasPrefix(r.SchoolPath, b.Path) && len(b.Path) > len(best) {
			best = b.Path
		}
	}
	for _, b := range all {
		if best != "" && b.Path == best {
			out = append(out, b.recipient)
		}
	}
	return out
}
