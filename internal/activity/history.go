package activity

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Event is one step of an activity's history: logged, disputed (with the
// reason), amended (with what changed), confirmed, withdrawn, evidence
// added or removed — who and when. It is read from the audit rows the
// workflow writes in the same transactions, so it cannot disagree with
// what happened.
type Event struct {
	Action   string            `json:"action"`
	At       time.Time         `json:"at"`
	UserID   *int64            `json:"user_id"`
	UserName string            `json:"user_name"`
	Reason   string            `json:"reason,omitempty"`
	Changes  map[string]Change `json:"changes,omitempty"`
	File     string            `json:"file,omitempty"`
}

// Change is one field an amendment changed.
type Change struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// historyActions names the audit actions of an activity in its history.
var historyActions = map[string]string{
	"activity.log": "logged", "activity.import": "imported", "activity.dispute": "disputed",
	"activity.amend": "amended", "activity.confirm": "confirmed", "activity.withdraw": "withdrawn",
	"evidence.add": "evidence_added", "evidence.remove": "evidence_removed",
}

// changes lists the fields that differ between before and after (the
// "what changed" of an amendment's history entry).
func changes(before, after Activity) map[string]Change {
	out := map[string]Change{}
	add := func(name string, from, to any, differ bool) {
		if differ {
			out[name] = Change{From: from, To: to}
		}
	}
	add("category", before.Category, after.Category, before.Category != after.Category)
	add("title", before.Title, after.Title, before.Title != after.Title)
	add("occurred_on", before.OccurredOn, after.OccurredOn, before.OccurredOn != after.OccurredOn)
	add("hours", before.Hours, after.Hours, before.Hours != after.Hours)
	add("persons", before.Persons, after.Persons, before.Persons != after.Persons)
	add("description", before.Description, after.Description, before.Description != after.Description)
	add("location", before.Location, after.Location, before.Location != after.Location)
	return out
}

// history reads an activity's events, oldest first, in one query.
func (s *Service) history(ctx context.Context, id int64) ([]Event, error) {
	var rows []struct {
		At      time.Time
		UserID  *int64
		Action  string
		Details string
		Name    *string
	}
	err := s.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Table("audit_log").
		Select("audit_log.at, audit_log.user_id, audit_log.action, audit_log.details, users.name").
		Joins("LEFT JOIN users ON users.id = audit_log.user_id").
		Where("audit_log.entity = ? AND audit_log.entity_id = ?", "activity", id).Order("audit_log.id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := []Event{}
	for _, r := range rows {
		name, ok := historyActions[r.Action]
		if !ok {
			continue
		}
		e := Event{Action: name, At: r.At.UTC(), UserID: r.UserID}
		if r.Name != nil {
			e.UserName = *r.Name
		}
		var d struct {
			Reason   string            `json:"reason"`
			Changes  map[string]Change `json:"changes"`
			FileName string            `json:"file_name"`
		}
		if strings.HasPrefix(strings.TrimSpace(r.Details), "{") {
			_ = json.Unmarshal([]byte(r.Details), &d) // older rows may hold other shapes: the step stays, without details
		}
		e.Reason, e.Changes, e.File = d.Reason, d.Changes, d.FileName
		out = append(out, e)
	}
	return out, nil
}
