// Package audit records who changed what and when. Every write records its
// entry through the same transaction as the change, so the log can neither
// miss a change nor show one that was rolled back.
package audit

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/page"
)

// Entry is one audited change.
type Entry struct {
	ID        int64           `json:"id" gorm:"primaryKey"`
	At        time.Time       `json:"at"`
	UserID    *int64          `json:"user_id"`
	Action    string          `json:"action"`
	Entity    string          `json:"entity"`
	EntityID  *int64          `json:"entity_id"`
	Details   json.RawMessage `json:"details" gorm:"type:text;serializer:json"`
	RequestID string          `json:"request_id"`
	IP        string          `json:"ip"`
}

func (Entry) TableName() string { return "audit_log" }

type requestKey struct{}

type request struct{ id, ip string }

// WithRequest attaches the request id and client address to ctx, so that
// services record them without knowing about HTTP.
func WithRequest(ctx context.Context, requestID, ip string) context.Context {
	return context.WithValue(ctx, requestKey{}, request{requestID, ip})
}

// Record writes an entry through conn (the caller's transaction). details
// is any JSON-encodable value, typically the input that was applied.
func Record(ctx context.Context, conn *gorm.DB, at time.Time, userID int64, action, entity string, entityID int64, details any) error {
	raw, err := json.Marshal(details)
	if err != nil {
		return err
	}
	e := Entry{At: at.UTC(), Action: action, Entity: entity, Details: raw}
	if userID != 0 {
		e.UserID = &userID
	}
	if entityID != 0 {
		e.EntityID = &entityID
	}
	if r, ok := ctx.Value(requestKey{}).(request); ok {
		e.RequestID, e.IP = r.id, r.ip
	}
	return conn.Create(&e).Error
}

// RecordEach writes the same action for many entities in batched inserts
// (an import's invitations: one statement per batch, not one per user).
func RecordEach(ctx context.Context, conn *gorm.DB, at time.Time, userID int64, action, entity string, entityIDs []int64) error {
	if len(entityIDs) == 0 {
		return nil
	}
	rows := make([]Entry, len(entityIDs))
	for i := range entityIDs {
		id := entityIDs[i]
		rows[i] = Entry{At: at.UTC(), Action: action, Entity: entity, EntityID: &id, Details: json.RawMessage("null")}
		if userID != 0 {
			uid := userID
			rows[i].UserID = &uid
		}
		if r, ok := ctx.Value(requestKey{}).(request); ok {
			rows[i].RequestID, rows[i].IP = r.id, r.ip
		}
	}
	return conn.CreateInBatches(&rows, 500).Error
}

// Filter narrows a listing.
type Filter struct {
	Entity   string
	EntityID int64
	UserID   int64
	Action   string
}

// List returns entries newest first.
func List(ctx context.Context, conn *gorm.DB, f Filter, p page.Page) (page.List[Entry], error) {
	p = p.Normalize()
	q := conn.Model(&Entry{})
	if f.Entity != "" {
		q = q.Where("entity = ?", f.Entity)
	}
	if f.EntityID != 0 {
		q = q.Where("entity_id = ?", f.EntityID)
	}
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.List[Entry]{}, err
	}
	var out []Entry
	err := q.Order("id DESC").Limit(p.Limit).Offset(p.Offset).Find(&out).Error
	return page.Of(out, p, total), err
}

// RecordMany writes one entry per details for the same entity in one
// statement (the files a form attaches at once).
func RecordMany(ctx context.Context, conn *gorm.DB, at time.Time, userID int64, action, entity string, entityID int64, details []any) error {
	if len(details) == 0 {
		return nil
	}
	rows := make([]Entry, len(details))
	for i, d := range details {
		raw, err := json.Marshal(d)
		if err != nil {
			return err
		}
		id := entityID
		rows[i] = Entry{At: at.UTC(), Action: action, Entity: entity, EntityID: &id, Details: raw}
		if userID != 0 {
			uid := userID
			rows[i].UserID = &uid
		}
		if r, ok := ctx.Value(requestKey{}).(request); ok {
			rows[i].RequestID, rows[i].IP = r.id, r.ip
		}
	}
	return conn.Create(&rows).Error
}
