package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/date"
)

// Notification is a notice addressed to one user, with where it is acted on.
type Notification struct {
	ID         int64     `json:"id"`
	Kind       string    `json:"kind"`
	PairID     *int64    `json:"pair_id"`
	ActivityID *int64    `json:"activity_id"`
	PeriodKey  string    `json:"period_key"`
	AsOf       date.Date `json:"as_of"`
	CreatedAt  time.Time `json:"created_at"`
	Title      string    `json:"title,omitempty"` // the activity's title (disputed, amended)
	Link       string    `json:"link"`
	Unread     bool      `json:"unread"`
}

// Notifications is a user's list, newest first, with the unread count.
type Notifications struct {
	Items  []Notification `json:"items"`
	Unread int64          `json:"unread"`
}

// mine selects the notices whose messages went to user ?: the outbox's
// recipient index, then the link table's and the notices' primary keys.
const mine = `FROM outbox_messages m
JOIN message_notices mn ON mn.message_id = m.id
JOIN notices n ON n.id = mn.notice_id
WHERE m.recipient_user_id = ?`

// Mine lists the newest limit notices addressed to userID.
func (l *Lister) Mine(ctx context.Context, userID int64, limit int) (Notifications, error) {
	conn := l.db.Conn(ctx).Session(&gorm.Session{NewDB: true})
	seen, err := l.seen(ctx, userID)
	if err != nil {
		return Notifications{}, err
	}
	var rows []struct {
		ID         int64
		Kind       string
		PairID     *int64
		ActivityID *int64
		PeriodKey  string
		AsOf       date.Date
		CreatedAt  time.Time
		Details    *string
	}
	if err := conn.Raw("SELECT DISTINCT n.id, n.kind, n.pair_id, n.activity_id, n.period_key, n.as_of, n.created_at, n.details "+mine+
		" ORDER BY n.id DESC LIMIT ?", userID, limit).Scan(&rows).Error; err != nil {
		return Notifications{}, err
	}
	out := Notifications{Items: make([]Notification, 0, len(rows))}
	for _, r := range rows {
		n := Notification{ID: r.ID, Kind: r.Kind, PairID: r.PairID, ActivityID: r.ActivityID, PeriodKey: r.PeriodKey,
			AsOf: r.AsOf, CreatedAt: r.CreatedAt.UTC(), Unread: r.ID > seen}
		if r.Details != nil && (r.Kind == "disputed" || r.Kind == "amended") {
			var d struct {
				Title string `json:"title"`
			}
			_ = json.Unmarshal([]byte(*r.Details), &d) // a title is a nicety; the link stays
			n.Title = d.Title
		}
		n.Link = linkOf(n)
		out.Items = append(out.Items, n)
	}
	out.Unread, err = l.unread(ctx, userID, seen)
	return out, err
}

// Unread counts the notices addressed to userID that are newer than the
// last one they saw (the bell's number).
func (l *Lister) Unread(ctx context.Context, userID int64) (int64, error) {
	var n int64
	err := l.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Raw("SELECT COUNT(DISTINCT n.id) "+mine+
		" AND n.id > (SELECT u.notices_seen_id FROM users u WHERE u.id = ?)", userID, userID).Scan(&n).Error
	return n, err
}

func (l *Lister) unread(ctx context.Context, userID, seen int64) (int64, error) {
	var n int64
	err := l.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Raw("SELECT COUNT(DISTINCT n.id) "+mine+" AND n.id > ?", userID, seen).Scan(&n).Error
	return n, err
}

func (l *Lister) seen(ctx context.Context, userID int64) (int64, error) {
	var seen int64
	err := l.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Raw("SELECT notices_seen_id FROM users WHERE id = ?", userID).Scan(&seen).Error
	return seen, err
}

// MarkSeen records that userID saw every notice up to id (never moving
// back: a stale page cannot make old notices unread again).
func (l *Lister) MarkSeen(ctx context.Context, userID, id int64) error {
	return l.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).
		Exec("UPDATE users SET notices_seen_id = ? WHERE id = ? AND notices_seen_id < ?", id, userID, id).Error
}

// linkOf is where a notice is acted on: a confirmation reminder in the
// inbox, a breach or an at-risk reminder on the pair, a circular or a
// rectification reminder among the rectifications, a dispute or an
// amendment on the activity.
func linkOf(n Notification) string {
	switch n.Kind {
	case KindConfirm:
		return "/inbox"
	case "disputed", "amended", KindEscalate:
		if n.ActivityID != nil {
			return fmt.Sprintf("/activities/%d", *n.ActivityID)
		}
	case "circular", "rectify", "rectify_overdue":
		return "/rectifications"
	case KindDigest:
		return "/dashboard"
	}
	if n.PairID != nil {
		return fmt.Sprintf("/pairs/%d", *n.PairID)
	}
	return "/"
}
