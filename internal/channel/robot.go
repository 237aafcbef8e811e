// Package channel holds the group robots bureaus read (DingTalk custom
// robots, WeCom group robots): their configuration per region, the posts
// queued for them and their delivery. Posts go through an outbox of their
// own with the same guarantees as mail: queued in the caller's
// transaction, delivered under a lease, retried with backoff, failed on a
// permanent error, paced to the vendor's rate limit, never doubled.
package channel

import (
	"context"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
)

// Robot kinds.
const (
	DingTalk = "dingtalk"
	WeCom    = "wecom"
)

// Kinds are the robot kinds.
var Kinds = []string{DingTalk, WeCom}

// Vendor hosts: a robot posts only here, over https, unless its host is
// listed in Config.AllowHosts (tests, an on-premises gateway).
const (
	DingTalkHost = "oapi.dingtalk.com"
	WeComHost    = "qyapi.weixin.qq.com"
)

// Vendor paths of the webhooks, as the vendors give them.
const (
	DingTalkPath = "/robot/send"
	WeComPath    = "/cgi-bin/webhook/send"
)

// Robot is one group robot of a region.
type Robot struct {
	ID          int64     `json:"id" gorm:"primaryKey"`
	RegionID    int64     `json:"region_id"`
	Kind        string    `json:"kind"`
	Name        string    `json:"name"`
	Webhook     string    `json:"-"`
	Secret      string    `json:"-"`
	WindowStart int64     `json:"-"`
	WindowCount int       `json:"-"`
	CreatedBy   *int64    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// TableName is the robots' table.
func (Robot) TableName() string { return "channel_robots" }

// RobotView is a robot as the API shows it: the webhook with its token
// masked, and whether a signing secret is set (never the secret).
type RobotView struct {
	Robot
	Webhook   string `json:"webhook"`
	HasSecret bool   `json:"has_secret"`
}

// View masks the robot's credentials.
func (r Robot) View() RobotView {
	return RobotView{Robot: r, Webhook: maskWebhook(r.Webhook), HasSecret: r.Secret != ""}
}

// maskWebhook keeps the first 4 characters of the token or key.
func maskWebhook(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	q := u.Query()
	for _, k := range []string{"access_token", "key"} {
		if v := q.Get(k); v != "" {
			q.Set(k, v[:min(4, len(v))]+"…")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// RegionPaths resolves a region's materialised path (school.Service).
type RegionPaths interface {
	RegionPath(ctx context.Context, id int64, field string) (string, error)
}

// Config is what the channel package reads from the configuration.
type Config struct {
	// AllowHosts may be posted to besides the vendors' hosts, over http or
	// https and on any port (host names or IPs, without port).
	AllowHosts []string
	// PerMinute is each robot's rate (DingTalk and WeCom: 20).
	PerMinute int
	// Timeout bounds one post.
	Timeout time.Duration
	// BaseURL links posts to the platform.
	BaseURL string
}

// Service configures robots and queues posts for them.
type Service struct {
	db      *database.DB
	regions RegionPaths
	cfg     Config
	now     func() time.Time
}

// NewService returns the robot service.
func NewService(db *database.DB, regions RegionPaths, cfg Config, now func() time.Time) *Service {
	if cfg.PerMinute <= 0 {
		cfg.PerMinute = 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Service{db: db, regions: regions, cfg: cfg, now: now}
}

// RobotInput is the body of POST /regions/:id/robots.
type RobotInput struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Webhook string `json:"webhook"`
	Secret  string `json:"secret"`
}

// canManage: admins anywhere, a bureau in its subtree.
func (s *Service) canManage(ctx context.Context, a auth.Actor, regionID int64) error {
	if !a.IsAdmin() && !a.IsBureau() {
		return errs.Forbidden("only an admin or the region's bureau may configure robots")
	}
	path, err := s.regions.RegionPath(ctx, regionID, "region_id")
	if err != nil {
		if e, ok := errs.As(err); ok && e.Kind == errs.KindInvalid {
			return errs.NotFound("region")
		}
		return err
	}
	if !a.CoversPath(path) {
		if a.IsBureau() {
			return errs.NotFound("region")
		}
		return errs.Forbidden("region %d is outside your region", regionID)
	}
	return nil
}

// List returns the robots of a region.
func (s *Service) List(ctx context.Context, a auth.Actor, regionID int64) ([]RobotView, error) {
	if err := s.canManage(ctx, a, regionID); err != nil {
		return nil, err
	}
	var rs []Robot
	if err := s.db.Conn(ctx).Where("region_id = ?", regionID).Order("id").Limit(200).Find(&rs).Error; err != nil {
		return nil, err
	}
	out := make([]RobotView, len(rs))
	for i, r := range rs {
		out[i] = r.View()
	}
	return out, nil
}

// Create adds a robot to a region after checking its webhook.
func (s *Service) Create(ctx context.Context, a auth.Actor, regionID int64, in RobotInput) (RobotView, error) {
	if err := s.canManage(ctx, a, regionID); err != nil {
		return RobotView{}, err
	}
	in.Kind, in.Name = strings.TrimSpace(in.Kind), strings.TrimSpace(in.Name)
	in.Webhook, in.Secret = strings.TrimSpace(in.Webhook), strings.TrimSpace(in.Secret)
	f := errs.Fields{}
	if !slices.Contains(Kinds, in.Kind) {
		f.Add("kind", "must be one of "+strings.Join(Kinds, ", "))
	} else if err := s.CheckWebhook(in.Kind, in.Webhook); err != nil {
		f.Add("webhook", err.Error())
	}
	if len([]rune(in.Name)) > 100 {
		f.Add("name", "must be at most 100 characters")
	}
	if len(in.Secret) > 255 {
		f.Add("secret", "must be at most 255 characters")
	}
	if in.Kind == WeCom && in.Secret != "" {
		f.Add("secret", "a WeCom group robot has no signing secret; leave it empty")
	}
	if err := f.Err(); err != nil {
		return RobotView{}, err
	}
	now := s.now().UTC()
	r := Robot{RegionID: regionID, Kind: in.Kind, Name: in.Name, Webhook: in.Webhook, Secret: in.Secret, CreatedAt: now, UpdatedAt: now}
	if a.UserID != 0 {
		uid := a.UserID
		r.CreatedBy = &uid
	}
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		if err := conn.Create(&r).Error; err != nil {
			return err
		}
		return audit.Record(ctx, conn, now, a.UserID, "robot.create", "robot", r.ID,
			map[string]any{"region_id": regionID, "kind": r.Kind, "name": r.Name, "webhook": maskWebhook(r.Webhook), "has_secret": r.Secret != ""})
	})
	return r.View(), err
}

// Delete removes a robot; its unsent posts become failed in the same
// transaction (nobody is left to read them).
func (s *Service) Delete(ctx context.Context, a auth.Actor, id int64) error {
	var r Robot
	if err := s.db.Conn(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		if database.IsNotFound(err) {
			return errs.NotFound("robot")
		}
		return err
	}
	if err := s.canManage(ctx, a, r.RegionID); err != nil {
		if errs.Is(err, errs.KindNotFound) {
			return errs.NotFound("robot")
		}
		return err
	}
	now := s.now().UTC()
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		res := conn.Exec("DELETE FROM channel_robots WHERE id = ?", id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errs.NotFound("robot")
		}
		if err := conn.Exec(`UPDATE channel_messages SET status = ?, last_error = ?, lease_token = '', updated_at = ?
			WHERE robot_id = ? AND status IN ?`, StatusFailed, "robot removed", now, id, []string{StatusQueued, StatusSending}).Error; err != nil {
			return err
		}
		return audit.Record(ctx, conn, now, a.UserID, "robot.delete", "robot", id, map[string]any{"region_id": r.RegionID, "kind": r.Kind})
	})
}

// CheckWebhook accepts only the vendor's own webhook (https on its host,
// the documented path, the token or key present) or one on an allowed
// host: a robot can never be pointed at an internal address.
func (s *Service) CheckWebhook(kind, raw string) error {
	return checkWebhook(kind, raw, s.cfg.AllowHosts)
}

type webhookError string

func (e webhookError) Error() string { return string(e) }

func checkWebhook(kind, raw string, allow []string) error {
	if raw == "" {
		return webhookError("is required")
	}
	if len(raw) > 1000 {
		return webhookError("must be at most 1000 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return webhookError("must be an absolute URL")
	}
	if u.User != nil {
		return webhookError("must not carry a user name or password")
	}
	if u.Fragment != "" {
		return webhookError("must not have a fragment")
	}
	host := strings.ToLower(u.Hostname())
	vendor, path, param := DingTalkHost, DingTalkPath, "access_token"
	if kind == WeCom {
		vendor, path, param = WeComHost, WeComPath, "key"
	}
	allowed := slices.ContainsFunc(allow, func(h string) bool { return strings.EqualFold(strings.TrimSpace(h), host) })
	switch {
	case allowed:
		if u.Scheme != "https" && u.Scheme != "http" {
			return webhookError("must be an http(s) URL")
		}
	case host == vendor:
		if u.Scheme != "https" {
			return webhookError("must use https")
		}
		if p := u.Port(); p != "" && p != "443" {
			return webhookError("must use the standard https port")
		}
	default:
		if ip := net.ParseIP(host); ip != nil {
			return webhookError("must be on " + vendor + ", not an IP address")
		}
		return webhookError("must be on " + vendor)
	}
	if u.Path != path {
		return webhookError("must have the path " + path)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil || q.Get(param) == "" {
		return webhookError("must carry the " + param + " the vendor gave")
	}
	if kind == DingTalk && (q.Has("timestamp") || q.Has("sign")) {
		return webhookError("must not carry timestamp or sign (they are added to every post)")
	}
	return nil
}
