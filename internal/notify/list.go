package notify

import (
	"context"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/pairing"
)

// NoticeView is a notice with the delivery status of its messages.
type NoticeView struct {
	Notice
	MessageID string `json:"message_id"`
	Messages  int    `json:"messages"`
	// Status is failed if any message failed, queued while any is queued
	// or being sent, sent when all were sent, none without recipients.
	Status string `json:"status"`
}

// NoticeFilter narrows ListNotices.
type NoticeFilter struct {
	PairID int64
	Kind   string
}

// Lister answers the notice and breach listings.
type Lister struct {
	db     *database.DB
	dir    pairing.Directory
	outbox *mail.Outbox // Message-IDs of messages not sent yet
}

// NewLister wires the lister.
func NewLister(db *database.DB, dir pairing.Directory, outbox *mail.Outbox) *Lister {
	return &Lister{db: db, dir: dir, outbox: outbox}
}

// ListNotices lists the notices of the pairs a sees (and a's own digests),
// newest first.
func (l *Lister) ListNotices(ctx context.Context, a auth.Actor, f NoticeFilter, p page.Page) (page.List[NoticeView], error) {
	p = p.Normalize()
	switch f.Kind {
	case "", KindReminder, KindBreach, KindConfirm, KindEscalate, KindDigest:
	default:
		return page.List[NoticeView]{}, errs.Field("kind", "must be reminder, breach, confirm, escalate or digest")
	}
	cond, args := pairing.ScopeSQL(a)
	q := l.db.Conn(ctx).Model(&Notice{})
	if a.IsAdmin() {
		// everything
	} else {
		q = q.Where("(notices.pair_id IN (SELECT pairs.id FROM pairs WHERE "+cond+") OR notices.user_id = ?)", append(args, a.UserID)...)
	}
	if f.PairID != 0 {
		q = q.Where("notices.pair_id = ?", f.PairID)
	}
	if f.Kind != "" {
		q = q.Where("notices.kind = ?", f.Kind)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.List[NoticeView]{}, err
	}
	var ns []Notice
	if err := q.Order("notices.id DESC").Limit(p.Limit).Offset(p.Offset).Find(&ns).Error; err != nil {
		return page.List[NoticeView]{}, err
	}
	out := make([]NoticeView, len(ns))
	ids := make([]int64, len(ns))
	idx := map[int64]int{}
	for i, n := range ns {
		out[i] = NoticeView{Notice: n, Status: "none"}
		ids[i] = n.ID
		idx[n.ID] = i
	}
	if len(ids) > 0 {
		var links []struct {
			NoticeID  int64
			ID        int64
			MessageID string
			Status    string
		}
		if err := l.db.Conn(ctx).Table("message_notices").
			Select("message_notices.notice_id, outbox_messages.id, outbox_messages.message_id, outbox_messages.status").
			Joins("JOIN outbox_messages ON outbox_messages.id = message_notices.message_id").
			Where("message_notices.notice_id IN ?", ids).Order("outbox_messages.id").Find(&links).Error; err != nil {
			return page.List[NoticeView]{}, err
		}
		rank := map[string]int{"none": 0, "sent": 1, "queued": 2, "failed": 3}
		for _, ln := range links {
			v := &out[idx[ln.NoticeID]]
			v.Messages++
			if v.MessageID == "" {
				// stored once sent; a function of the id before
				v.MessageID = ln.MessageID
				if v.MessageID == "" {
					v.MessageID = l.outbox.MessageIDFor(ln.ID)
				}
			}
			st := ln.Status
			if st == "sending" {
				st = "queued"
			}
			if rank[st] > rank[v.Status] {
				v.Status = st
			}
		}
	}
	return page.Of(out, p, total), nil
}

// BreachFilter narrows ListBreaches.
type BreachFilter struct {
	RegionID  int64
	PeriodKey string
	PairID    int64
}

// ListBreaches lists recorded breaches of the pairs a sees.
func (l *Lister) ListBreaches(ctx context.Context, a auth.Actor, f BreachFilter, p page.Page) (page.List[Breach], error) {
	p = p.Normalize()
	cond, args := pairing.ScopeSQL(a)
	if f.RegionID != 0 {
		path, err := l.dir.RegionPath(ctx, f.RegionID, "region_id")
		if err != nil {
			return page.List[Breach]{}, err
		}
		rc, rargs := pairing.RegionSQL(path)
		cond, args = cond+" AND "+rc, append(args, rargs...)
	}
	q := l.db.Conn(ctx).Model(&Breach{}).Where("breaches.pair_id IN (SELECT pairs.id FROM pairs WHERE "+cond+")", args...)
	if f.PeriodKey != "" {
		q = q.Where("breaches.period_key = ?", f.PeriodKey)
	}
	if f.PairID != 0 {
		q = q.Where("breaches.pair_id = ?", f.PairID)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.List[Breach]{}, err
	}
	var out []Breach
	err := q.Order("breaches.id DESC").Limit(p.Limit).Offset(p.Offset).Find(&out).Error
	return page.Of(out, p, total), err
}
