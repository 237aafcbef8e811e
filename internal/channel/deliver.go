package channel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/mail"
)

// window is the span of a robot's rate limit.
const window = time.Minute

// Result counts what one DeliverDue did. Paced counts posts deferred to
// their robot's next rate window (no attempt counted).
type Result struct {
	Sent    int `json:"sent"`
	Retried int `json:"retried"`
	Failed  int `json:"failed"`
	Paced   int `json:"paced"`
}

// Deliverer posts what is due. Any number may run at once, on any
// replica: a post is sent by the holder of its lease, every status write
// is conditional on that lease, and a robot's rate slots are taken with
// conditional UPDATEs on its row.
type Deliverer struct {
	svc    *Service
	client *http.Client
	batch  int
	lease  time.Duration
	log    *slog.Logger
}

// NewDeliverer returns a deliverer posting through client (NewClient when
// nil).
func NewDeliverer(svc *Service, client *http.Client, log *slog.Logger) *Deliverer {
	if client == nil {
		client = NewClient(svc.cfg.Timeout)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{svc: svc, client: client, batch: 50, lease: 5 * time.Minute, log: log}
}

// DeliverDue posts the messages due at now, up to 20 batches. now drives
// leases, backoff, pacing and DingTalk's signature timestamp; only network
// timeouts use the real clock.
func (d *Deliverer) DeliverDue(ctx context.Context, now time.Time) (Result, error) {
	var res Result
	if database.InTx(ctx) {
		return res, errors.New("channel: DeliverDue must not run inside a transaction")
	}
	start := time.Now() // monotonic: elapsed time only, never a timestamp
	for range 20 {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if d.late(start) {
			break
		}
		batch, token, err := d.claim(ctx, now)
		if err != nil || len(batch) == 0 {
			return res, err
		}
		if err := d.deliver(ctx, now, start, batch, token, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// claim leases due posts (queued and due, or sending with an expired
// lease) with one conditional UPDATE, as the mail outbox does.
func (d *Deliverer) claim(ctx context.Context, now time.Time) ([]*Message, string, error) {
	db := d.svc.db
	at := now.UnixMilli()
	token := newToken()
	var out []*Message
	err := db.WithTx(ctx, func(ctx context.Context) error {
		out = nil
		conn := db.Conn(ctx)
		var ids []int64
		if err := conn.Raw(`SELECT id FROM channel_messages WHERE status = ? AND lease_until < ? ORDER BY lease_until, id LIMIT ?`,
			StatusSending, at, d.batch).Scan(&ids).Error; err != nil {
			return err
		}
		if len(ids) < d.batch {
			var due []int64
			if err := conn.Raw(`SELECT id FROM channel_messages WHERE status = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
				StatusQueued, at, d.batch-len(ids)).Scan(&due).Error; err != nil {
				return err
			}
			ids = append(ids, due...)
		}
		if len(ids) == 0 {
			return nil
		}
		res := conn.Exec(`UPDATE channel_messages SET status = ?, lease_until = ?, lease_token = ?, updated_at = ?
			WHERE id IN ? AND ((status = ? AND next_attempt_at <= ?) OR (status = ? AND lease_until < ?))`,
			StatusSending, at+d.lease.Milliseconds(), token, now.UTC(), ids, StatusQueued, at, StatusSending, at)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return conn.Where("id IN ? AND lease_token = ?", ids, token).Order("id").Find(&out).Error
	})
	if err != nil {
		return nil, "", fmt.Errorf("channel: claim: %w", err)
	}
	return out, token, nil
}

// late reports that no post should be started any more: a run stays well
// within the lease it took (a post can take the whole timeout), so no
// other deliverer can take a post over while this one may be sending it.
func (d *Deliverer) late(start time.Time) bool { return time.Since(start) > d.lease/2 }

func (d *Deliverer) deliver(ctx context.Context, now, start time.Time, batch []*Message, token string, res *Result) error {
	ids := make([]int64, 0, len(batch))
	for _, m := range batch {
		ids = append(ids, m.RobotID)
	}
	var robots []Robot
	if err := d.svc.db.Conn(ctx).Where("id IN ?", ids).Find(&robots).Error; err != nil {
		return err
	}
	byID := make(map[int64]*Robot, len(robots))
	for i := range robots {
		byID[robots[i].ID] = &robots[i]
	}
	for i, m := range batch {
		if d.late(start) {
			// hand the untried posts back, due as before
			ids := make([]int64, 0, len(batch)-i)
			for _, rest := range batch[i:] {
				ids = append(ids, rest.ID)
			}
			return d.svc.db.Conn(ctx).Exec(`UPDATE channel_messages SET status = ?, lease_until = 0, lease_token = '', updated_at = ?
				WHERE id IN ? AND lease_token = ?`, StatusQueued, now.UTC(), ids, token).Error
		}
		r := byID[m.RobotID]
		var sendErr error
		var reply string
		switch {
		case r == nil:
			sendErr = &errPermanent{"robot removed"}
		default:
			if err := checkWebhook(r.Kind, r.Webhook, d.svc.cfg.AllowHosts); err != nil {
				// the allow list changed since the robot was configured
				sendErr = &errPermanent{"webhook refused: " + err.Error()}
				break
			}
			next, ok, err := d.takeSlot(ctx, r.ID, now)
			if err != nil {
				return err
			}
			if !ok {
				if err := d.defer_(ctx, now, m, token, next, ""); err != nil {
					return err
				}
				res.Paced++
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, min(d.svc.cfg.Timeout, d.lease/4))
			reply, sendErr = post(sctx, d.client, r, m, now)
			cancel()
		}
		if err := d.record(ctx, now, m, r, token, reply, sendErr, res); err != nil {
			return err
		}
	}
	return nil
}

// takeSlot takes one of the robot's posts of the current window: a new
// window when the last one is over, else one more while under the limit.
// When the robot is full it returns when the window ends.
func (d *Deliverer) takeSlot(ctx context.Context, robot int64, now time.Time) (next int64, ok bool, err error) {
	conn := d.svc.db.Conn(ctx)
	at, span := now.UnixMilli(), window.Milliseconds()
	r := conn.Exec("UPDATE channel_robots SET window_start = ?, window_count = 1 WHERE id = ? AND window_start <= ?", at, robot, at-span)
	if r.Error != nil || r.RowsAffected == 1 {
		return 0, r.Error == nil, r.Error
	}
	r = conn.Exec("UPDATE channel_robots SET window_count = window_count + 1 WHERE id = ? AND window_start > ? AND window_count < ?",
		robot, at-span, d.svc.cfg.PerMinute)
	if r.Error != nil || r.RowsAffected == 1 {
		return 0, r.Error == nil, r.Error
	}
	var start []int64
	if err := conn.Raw("SELECT window_start FROM channel_robots WHERE id = ?", robot).Scan(&start).Error; err != nil {
		return 0, false, err
	}
	if len(start) == 0 {
		return at, false, nil
	}
	return start[0] + span, false, nil
}

// defer_ hands a post back, due at next, without counting an attempt.
func (d *Deliverer) defer_(ctx context.Context, now time.Time, m *Message, token string, next int64, why string) error {
	q := `UPDATE channel_messages SET status = ?, next_attempt_at = ?, lease_until = 0, lease_token = '', updated_at = ?`
	args := []any{StatusQueued, next, now.UTC()}
	if why != "" {
		q += ", last_error = ?"
		args = append(args, truncate(why, 2000))
	}
	args = append(args, m.ID, token)
	return d.svc.db.Conn(ctx).Exec(q+" WHERE id = ? AND lease_token = ?", args...).Error
}

// record writes the outcome of one post.
func (d *Deliverer) record(ctx context.Context, now time.Time, m *Message, r *Robot, token, reply string, sendErr error, res *Result) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	conn := d.svc.db.Conn(ctx)
	if sendErr == nil {
		res.Sent++
		return conn.Exec(`UPDATE channel_messages SET status = ?, attempts = ?, reply = ?, sent_at = ?, lease_until = 0, lease_token = '', updated_at = ?
			WHERE id = ? AND lease_token = ?`, StatusSent, m.Attempts+1, truncate(reply, 500), now.UTC(), now.UTC(), m.ID, token).Error
	}
	var limited *errRateLimited
	if errors.As(sendErr, &limited) {
		// the vendor's own count disagrees with ours (another sender on
		// the same robot): fill the window and wait as the vendor says
		if err := conn.Exec("UPDATE channel_robots SET window_start = ?, window_count = ? WHERE id = ?",
			now.UnixMilli(), d.svc.cfg.PerMinute, r.ID).Error; err != nil {
			return err
		}
		res.Paced++
		d.log.Info("channel: robot rate-limited; post deferred", "robot", r.ID, "message", m.ID, "reply", limited.msg)
		return d.defer_(ctx, now, m, token, now.Add(limited.wait).UnixMilli(), limited.msg)
	}
	attempts := m.Attempts + 1
	status, next := StatusQueued, now.Add(mail.Backoff(attempts)).UnixMilli()
	var perm *errPermanent
	if errors.As(sendErr, &perm) || attempts >= m.MaxAttempts {
		status, next = StatusFailed, m.NextAttemptAt
		res.Failed++
		d.log.Warn("channel: post failed", "message", m.ID, "robot", m.RobotID, "err", sendErr)
	} else {
		res.Retried++
	}
	return conn.Exec(`UPDATE channel_messages SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?, lease_until = 0, lease_token = '', updated_at = ?
		WHERE id = ? AND lease_token = ?`, status, attempts, truncate(sendErr.Error(), 2000), next, now.UTC(), m.ID, token).Error
}
