package notify

import (
	"context"
	"encoding/json"
	"fmt"
	netmail "net/mail"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/mail"
)

// composerName is the mail.Composer of the messages a sweep queues for its
// notices; composerCopy marks the supported principal's copy of a
// reminder ("notice:copy").
const (
	composerName = "notice"
	composerCopy = "copy"
)

// Composer renders, when the deliverer sends them, the messages a sweep
// queued without bodies. Everything a message says was fixed by the sweep
// and stored with its notices (their details: each line's numbers as of
// the sweep, or the activity waiting); the pair's school names and the
// recipient's name are read as they are at delivery. One batch costs four
// queries whatever its size.
type Composer struct{ s *Sweeper }

// Composer returns the composer of s's messages, for mail.Outbox.SetComposer.
func (s *Sweeper) Composer() *Composer { return &Composer{s: s} }

// Compose implements mail.Composer.
func (c *Composer) Compose(ctx context.Context, msgs []*mail.Message) ([]error, error) {
	s := c.s
	conn := func() *gorm.DB { return s.db.Conn(ctx).Session(&gorm.Session{NewDB: true}) }
	ids := make([]int64, 0, len(msgs))
	var pairIDs, userIDs []int64
	for _, m := range msgs {
		ids = append(ids, m.ID)
		if m.PairID != nil {
			pairIDs = append(pairIDs, *m.PairID)
		}
		if m.RecipientUserID != nil {
			userIDs = append(userIDs, *m.RecipientUserID)
		}
	}
	// the notices of each message in the order the sweep inserted, and so
	// grouped, them
	byMessage := map[int64][]candidate{}
	for chunk := range slices.Chunk(ids, inList) {
		var rows []struct {
			MessageID int64
			ID        int64
			Kind      string
			AsOf      date.Date
			Details   *string
		}
		if err := conn().Raw(`SELECT mn.message_id, n.id, n.kind, n.as_of, n.details FROM message_notices mn
			JOIN notices n ON n.id = mn.notice_id WHERE mn.message_id IN ? ORDER BY mn.message_id, n.id`, chunk).Scan(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			var line lineSource
			if r.Details != nil && *r.Details != "" {
				if err := json.Unmarshal([]byte(*r.Details), &line); err != nil {
					// this message's content is unreadable, not the batch's
					line = lineSource{}
				}
			}
			byMessage[r.MessageID] = append(byMessage[r.MessageID], candidate{notice: Notice{ID: r.ID, Kind: r.Kind, AsOf: r.AsOf}, line: line})
		}
	}
	pairs, err := loadPairs(ctx, s.db, uniqIDs(pairIDs))
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	for chunk := range slices.Chunk(uniqIDs(userIDs), inList) {
		var us []struct {
			ID   int64
			Name string
		}
		if err := conn().Table("users").Select("id, name").Where("id IN ?", chunk).Find(&us).Error; err != nil {
			return nil, err
		}
		for _, u := range us {
			names[u.ID] = u.Name
		}
	}
	failed := make([]error, len(msgs))
	for i, m := range msgs {
		ns := byMessage[m.ID]
		var p *pairInfo
		if m.PairID != nil {
			p = pairs[*m.PairID]
		}
		if len(ns) == 0 || p == nil || m.RecipientUserID == nil {
			failed[i] = fmt.Errorf("%w: its notices or its pair are gone", mail.ErrNotComposed)
			continue
		}
		for _, n := range ns {
			if n.line.Item == nil && n.line.Activity == nil {
				failed[i] = fmt.Errorf("%w: notice %d has no readable details", mail.ErrNotComposed, n.notice.ID)
				break
			}
		}
		if failed[i] != nil {
			continue
		}
		name, ok := names[*m.RecipientUserID]
		if !ok {
			// the user is gone: the name the message is addressed to
			if a, err := netmail.ParseAddress(m.To); err == nil {
				name = a.Name
			}
		}
		_, arg, _ := strings.Cut(m.Composer, ":")
		o := &outgoing{kind: m.Kind, pair: p, recipient: recipient{ID: *m.RecipientUserID, Name: name, Locale: m.Locale},
			copy: arg == composerCopy, notices: ns}
		r, err := s.render.Render(m.Kind, o.recipient.locale(), s.data(o))
		if err != nil {
			failed[i] = err
			continue
		}
		m.BodyText, m.BodyHTML = r.Text, r.HTML
		if m.Subject == "" {
			m.Subject = r.Subject
		}
	}
	return failed, nil
}

func uniqIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
