package circular

import (
	"context"
	"encoding/json"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	"gorm.io/gorm/clause"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/channel"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/mail"
)

// Notice kinds of this package (the notices table of internal/notify).
const (
	KindCircular       = "circular"
	KindRectifyRemind  = "rectify"
	KindRectifyOverdue = "rectify_overdue"
)

// notice is a row of the notices table.
type notice struct {
	ID        int64 `gorm:"primaryKey"`
	Kind      string
	DedupeKey string
	UserID    *int64
	PeriodKey string
	AsOf      date.Date
	Details   string
	RunToken  string
	CreatedAt time.Time
}

func (notice) TableName() string { return "notices" }

// recipient is a user told of a circular or a rectification.
type recipient struct {
	ID       int64
	Name     string
	Email    string
	Locale   string
	SchoolID int64
}

func (r recipient) locale() string {
	if r.Locale == "en" {
		return "en"
	}
	return "zh-CN"
}

func (r recipient) address() string {
	name := strings.NewReplacer(",", " ", "\r", " ", "\n", " ").Replace(r.Name)
	// quoted or encoded as needed: a name such as "a@b" or 张三 stays one address
	return (&netmail.Address{Name: strings.TrimSpace(name), Address: r.Email}).String()
}

// schoolStaff are the active principals and coordinators of the schools.
func (s *Service) schoolStaff(ctx context.Context, schools []int64) ([]recipient, error) {
	var out []recipient
	err := s.db.Conn(ctx).Table("users").Select("id, name, email, locale, school_id").
		Where("school_id IN ? AND role IN ? AND active = ?", schools, []string{auth.RolePrincipal, auth.RoleCoordinator}, true).
		Order("school_id, id").Scan(&out).Error
	return out, err
}

// Publish freezes a draft, opens a rectification per named school and
// tells the schools' principals and coordinators, all in one transaction.
func (s *Service) Publish(ctx context.Context, a auth.Actor, id int64) (*Circular, error) {
	if err := mayIssue(a); err != nil {
		return nil, err
	}
	now := s.now()
	today := s.today()
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		c, err := s.load(ctx, a, id)
		if err != nil {
			return err
		}
		if c.Status != Draft {
			return errs.Conflict("published", "status", "the circular is already published")
		}
		f := errs.Fields{}
		if strings.TrimSpace(c.Number) == "" {
			f.Add("number", "is required to publish (e.g. 麻教通〔2026〕3号)")
		}
		switch {
		case c.RectifyBy == nil:
			f.Add("rectify_by", "is required to publish")
		case c.RectifyBy.Before(today):
			f.Add("rectify_by", "must not be in the past")
		}
		if err := f.Err(); err != nil {
			return err
		}
		conn := s.db.Conn(ctx)
		uid := a.UserID
		var by *int64
		if uid != 0 {
			by = &uid
		}
		res := conn.Model(&Circular{}).Where("id = ? AND status = ?", id, Draft).Updates(map[string]any{
			"status": Published, "published_by": by, "published_on": today, "published_at": now.UTC(), "updated_at": now.UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errs.Conflict("published", "status", "the circular was published meanwhile")
		}
		var lines []Line
		if err := conn.Where("circular_id = ?", id).Order("position").Find(&lines).Error; err != nil {
			return err
		}
		groups := group(lines)
		schools := make([]int64, len(groups))
		rects := make([]Rectification, len(groups))
		for i, g := range groups {
			schools[i] = g.SchoolID
			rects[i] = Rectification{CircularID: id, SchoolID: g.SchoolID, Status: AwaitingAck, DueOn: *c.RectifyBy,
				CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
		}
		if err := conn.Omit("SchoolName", "CircularTitle", "CircularNumber", "Files").Create(&rects).Error; err != nil {
			return err
		}
		staff, err := s.schoolStaff(ctx, schools)
		if err != nil {
			return err
		}
		c.Status, c.PublishedOn = Published, &today
		rectOf := make(map[int64]int64, len(rects))
		for _, r := range rects {
			rectOf[r.SchoolID] = r.ID
		}
		if err := s.tell(ctx, c, groups, staff, rectOf, today, now); err != nil {
			return err
		}
		return audit.Record(ctx, conn, now, a.UserID, "circular.publish", "circular", id,
			map[string]any{"schools": schools, "recipients": len(staff), "rectify_by": c.RectifyBy})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, a, id)
}

// tell inserts the circular notices (one per user, dedupe key
// circular:<id>:<user>), their mail, and the robots' post.
// Each mail links to the school's rectification, where it acknowledges
// and reports.
func (s *Service) tell(ctx context.Context, c *Circular, groups []SchoolGroup, staff []recipient, rectOf map[int64]int64, today date.Date, now time.Time) error {
	conn := s.db.Conn(ctx)
	byKey := map[string]recipient{}
	var rows []notice
	token := newToken()
	for _, r := range staff {
		uid := r.ID
		key := fmt.Sprintf("circular:%d:%d", c.ID, r.ID)
		details, _ := json.Marshal(map[string]int64{"circular_id": c.ID, "school_id": r.SchoolID})
		rows = append(rows, notice{Kind: KindCircular, DedupeKey: key, UserID: &uid, PeriodKey: c.PeriodKey, AsOf: today,
			Details: string(details), RunToken: token, CreatedAt: now.UTC()})
		byKey[key] = r
	}
	bySchool := map[int64]SchoolGroup{}
	for _, g := range groups {
		bySchool[g.SchoolID] = g
	}
	if len(rows) > 0 {
		if err := conn.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(&rows, 500).Error; err != nil {
			return err
		}
		var fresh []notice
		if err := conn.Where("run_token = ?", token).Order("id").Find(&fresh).Error; err != nil {
			return err
		}
		msgs := make([]*mail.Message, 0, len(fresh))
		for _, n := range fresh {
			r := byKey[n.DedupeKey]
			g := bySchool[r.SchoolID]
			d := s.circularData(c, r, g)
			d.URL = fmt.Sprintf("%s/rectifications/%d", strings.TrimRight(s.cfg.BaseURL, "/"), rectOf[r.SchoolID])
			out, err := s.mail.render("circular", r.locale(), d)
			if err != nil {
				return err
			}
			uid := r.ID
			msgs = append(msgs, &mail.Message{Kind: KindCircular, RecipientUserID: &uid, To: r.address(), Locale: r.locale(),
				Subject: out.Subject, BodyText: out.Text, BodyHTML: out.HTML})
		}
		if err := s.outbox.Enqueue(ctx, msgs, now); err != nil {
			return err
		}
		if err := link(ctx, s, msgs, fresh); err != nil {
			return err
		}
	}
	return s.postCircular(ctx, c, groups, now)
}

// link ties messages to their notices (one each, same order).
func link(ctx context.Context, s *Service, msgs []*mail.Message, ns []notice) error {
	type row struct{ MessageID, NoticeID int64 }
	links := make([]row, len(msgs))
	for i := range msgs {
		links[i] = row{msgs[i].ID, ns[i].ID}
	}
	if len(links) == 0 {
		return nil
	}
	return s.db.Conn(ctx).Table("message_notices").CreateInBatches(links, 1000).Error
}

// postCircular queues the robots' post: the named schools and their count
// of lines, to the robots of the schools' regions and above.
func (s *Service) postCircular(ctx context.Context, c *Circular, groups []SchoolGroup, now time.Time) error {
	if s.robots == nil || len(groups) == 0 {
		return nil
	}
	ids := make([]int64, len(groups))
	for i, g := range groups {
		ids[i] = g.SchoolID
	}
	paths, err := s.schoolPaths(ctx, ids)
	if err != nil {
		return err
	}
	var items []channel.Item
	for _, g := range groups {
		items = append(items, channel.Item{Section: c.Number + " " + c.Title, Paths: []string{paths[g.SchoolID]},
			Text: fmt.Sprintf("**%s**：%d 项未达标，请于 %s 前完成整改", mdEscape(g.Name), len(g.Lines), c.RectifyBy.String())})
	}
	_, err = s.robots.Queue(ctx, channel.Batch{Kind: KindCircular, Title: "通报：" + c.Title, Items: items,
		Link: fmt.Sprintf("%s/circulars/%d", strings.TrimRight(s.cfg.BaseURL, "/"), c.ID)}, now)
	return err
}

func (s *Service) schoolPaths(ctx context.Context, ids []int64) (map[int64]string, error) {
	var rows []struct {
		ID   int64
		Path string
	}
	if err := s.db.Conn(ctx).Raw("SELECT s.id, r.path FROM schools s JOIN regions r ON r.id = s.region_id WHERE s.id IN ?", ids).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Path
	}
	return out, nil
}

func mdEscape(s string) string {
	return strings.NewReplacer("[", "［", "]", "］", "*", "＊", "#", "＃", "\n", " ").Replace(s)
}
