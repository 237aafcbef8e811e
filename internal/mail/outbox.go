package mail

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
)

// DefaultMaxAttempts is used when NewOutbox is given no positive value.
const DefaultMaxAttempts = 8

// Limits of one INSERT: rows (1,000 rows of 20 columns stay below
// SQLite's 32,766 variables) and bytes of bodies (7 MiB: a text with a
// backslash is written in hex, twice its size (database.appendLiteral),
// and the statement must stay below MariaDB's default max_allowed_packet
// of 16 MiB). A sweep's thousands of messages take ceil(rows / 1,000) or
// ceil(bytes / 7 MiB) INSERTs, whichever is more.
const (
	insertRows  = 1000
	insertBytes = 7 << 20
)

// Outbox stores outgoing messages. Its methods are safe for concurrent use.
type Outbox struct {
	db          *database.DB
	domain      string
	maxAttempts int
	// composers render the bodies of messages stored without them, by
	// name (SetComposer); set while wiring, read-only afterwards
	composers map[string]Composer
}

// NewOutbox returns the outbox on db. domain is the right-hand side of the
// Message-IDs it assigns ("<twinning-outbox-42@domain>"); maxAttempts is the
// default for messages enqueued without their own (DefaultMaxAttempts when
// not positive).
func NewOutbox(db *database.DB, domain string, maxAttempts int) *Outbox {
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	return &Outbox{db: db, domain: cleanDomain(domain), maxAttempts: maxAttempts}
}

// cleanDomain keeps what may appear on the right of a Message-ID's "@".
func cleanDomain(d string) string {
	d = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return -1
	}, strings.TrimSpace(d))
	d = strings.Trim(d, ".-")
	if d == "" {
		return "localhost"
	}
	return d
}

// messageIDPrefix starts every Message-ID the outbox assigns.
const messageIDPrefix = "<twinning-outbox-"

// MessageIDFor is the stable Message-ID of outbox message id: the same for
// every attempt, so a resend after a crash is recognisable.
func (o *Outbox) MessageIDFor(id int64) string {
	return messageIDPrefix + strconv.FormatInt(id, 10) + "@" + o.domain + ">"
}

// Enqueue validates msgs and inserts them as queued, due at now, in the
// transaction carried by ctx (or a transaction of its own). It normalizes
// the addresses of msgs and sets ID, MessageID, Status and the bookkeeping
// fields on them. An invalid message fails the whole call with a
// validation error naming it. It sends batched INSERTs (up to 1,000
// messages or 8 MiB each), never one per message. The Message-ID is a
// function of the id (MessageIDFor): the row holds it once the message is
// sent, and every read fills it in before (withMessageID), so a sweep's
// thousands of messages cost no second statement.
func (o *Outbox) Enqueue(ctx context.Context, msgs []*Message, now time.Time) error {
	return o.enqueue(ctx, msgs, now, false)
}

// EnqueueTolerant is Enqueue for messages addressed from stored user data,
// as a sweep's are: a message whose To or Cc does not parse (a user's
// address that was valid once, or a name no encoding can save) does not
// fail the call. It is stored as given, and the deliverer fails it at its
// first attempt with the parse error as last_error, where an administrator
// sees it; every other message goes out, and the sweep that queued them
// commits. Any other mistake in a message still fails the call: those are
// the caller's bugs, not data.
func (o *Outbox) EnqueueTolerant(ctx context.Context, msgs []*Message, now time.Time) error {
	return o.enqueue(ctx, msgs, now, true)
}

func (o *Outbox) enqueue(ctx context.Context, msgs []*Message, now time.Time, tolerant bool) error {
	if len(msgs) == 0 {
		return nil
	}
	f := errs.Fields{}
	at := dbTime(now)
	// a reminder day's 65,000 messages go to fewer addresses: each is
	// parsed once
	addrs := newAddressCache()
	for i, m := range msgs {
		m.prepare(f, field{index: i, many: len(msgs) > 1}, tolerant, addrs)
		m.ID = 0
		m.MessageID = ""
		m.Status = StatusQueued
		m.Attempts = 0
		if m.MaxAttempts <= 0 {
			m.MaxAttempts = o.maxAttempts
		}
		m.NextAttemptAt = millis(now)
		m.LeaseUntil, m.LeaseToken = 0, ""
		m.LastError, m.SMTPReply, m.SentAt = "", "", nil
		m.CreatedAt, m.UpdatedAt = at, at
	}
	if err := f.Err(); err != nil {
		return err
	}
	return o.db.WithTx(ctx, func(ctx context.Context) error {
		for _, chunk := range insertChunks(msgs) {
			// the columns every new message leaves at their defaults
			// (message_id, attempts, lease_until, lease_token,
			// last_error, smtp_reply, sent_at) are not sent: a reminder
			// day's 65,000 rows are parsed and stored with a third fewer
			// values
			ids, err := o.db.IDs(ctx, database.Insert{Table: "outbox_messages",
				Columns: []string{"kind", "pair_id", "recipient_user_id", "to_addr", "cc_addrs", "locale", "subject",
					"body_text", "body_html", "composer", "status", "max_attempts", "next_attempt_at", "created_at", "updated_at"},
				Row: func(i int, a []any) []any {
					m := chunk[i]
					return append(a, m.Kind, m.PairID, m.RecipientUserID, m.To, m.Cc, m.Locale, m.Subject,
						m.BodyText, m.BodyHTML, m.Composer, m.Status, m.MaxAttempts, m.NextAttemptAt, m.CreatedAt, m.UpdatedAt)
				}}, len(chunk))
			if err != nil {
				return fmt.Errorf("outbox: insert: %w", err)
			}
			for i, id := range ids {
				chunk[i].ID = id
			}
		}
		for _, m := range msgs {
			if m.ID == 0 {
				return fmt.Errorf("outbox: insert returned no id")
			}
			m.MessageID = o.MessageIDFor(m.ID)
		}
		return nil
	})
}

// withMessageID fills in the Message-ID of a message read before it was
// sent (Enqueue leaves the column empty: it is MessageIDFor(id)).
func (o *Outbox) withMessageID(m *Message) {
	if m.MessageID == "" && m.ID != 0 {
		m.MessageID = o.MessageIDFor(m.ID)
	}
}

// insertChunks splits msgs into INSERTs of bounded rows and bytes.
func insertChunks(msgs []*Message) [][]*Message {
	var out [][]*Message
	start, size := 0, 0
	for i, m := range msgs {
		n := len(m.BodyText) + len(m.BodyHTML) + len(m.Subject) + len(m.Cc) + 512
		if i > start && (i-start >= insertRows || size+n > insertBytes) {
			out = append(out, msgs[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(out, msgs[start:])
}

func validStatus(s string) bool { return slices.Contains(Statuses, s) }

// List returns messages newest first, optionally of one status, without
// their bodies (Get has them).
func (o *Outbox) List(ctx context.Context, status string, p page.Page) (page.List[Message], error) {
	p = p.Normalize()
	if status != "" && !validStatus(status) {
		return page.List[Message]{}, errs.Field("status", "must be one of "+strings.Join(Statuses, ", "))
	}
	q := o.db.Conn(ctx).Model(&Message{})
	if status != "" {
		q = q.Where("status = ?", status)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.List[Message]{}, err
	}
	var out []Message
	err := q.Select(listColumns).Order("id DESC").Limit(p.Limit).Offset(p.Offset).Find(&out).Error
	for i := range out {
		o.withMessageID(&out[i])
	}
	return page.Of(out, p, total), err
}

// Get returns one message with its bodies.
func (o *Outbox) Get(ctx context.Context, id int64) (*Message, error) {
	var m Message
	err := o.db.Conn(ctx).Where("id = ?", id).Take(&m).Error
	if database.IsNotFound(err) {
		return nil, errs.NotFound("message")
	}
	if err != nil {
		return nil, err
	}
	o.withMessageID(&m)
	if m.needsComposing() {
		// an administrator reads what the deliverer will send; a message
		// that cannot be composed shows why instead of its bodies
		failed, err := o.compose(ctx, []*Message{&m})
		if err != nil {
			return nil, err
		}
		if e := failed[&m]; e != nil && m.LastError == "" {
			m.LastError = e.Error()
		}
	}
	return &m, nil
}

// Counts returns the number of messages per status; every status is present.
func (o *Outbox) Counts(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	err := o.db.Conn(ctx).Raw("SELECT status, COUNT(*) AS n FROM outbox_messages GROUP BY status").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(Statuses))
	for _, s := range Statuses {
		out[s] = 0
	}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// Retry queues a failed message again, due at now, with its attempts reset.
// It is a Conflict when the message is not failed, NotFound when missing.
func (o *Outbox) Retry(ctx context.Context, id int64, now time.Time) error {
	conn := o.db.Conn(ctx)
	res := conn.Exec(`UPDATE outbox_messages SET status = ?, attempts = 0, next_attempt_at = ?,
		lease_until = 0, lease_token = '', updated_at = ? WHERE id = ? AND status = ?`,
		StatusQueued, millis(now), dbTime(now), id, StatusFailed)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 1 {
		return nil
	}
	var status []string
	if err := conn.Raw("SELECT status FROM outbox_messages WHERE id = ?", id).Scan(&status).Error; err != nil {
		return err
	}
	if len(status) == 0 {
		return errs.NotFound("message")
	}
	return errs.Conflict("not_failed", "status", "only a failed message can be retried; this one is "+status[0])
}

// countQueued is the number of queued messages (an index range, cheap).
func (o *Outbox) countQueued(ctx context.Context) (int64, error) {
	var n int64
	err := o.db.Conn(ctx).Raw("SELECT COUNT(*) FROM outbox_messages WHERE status = ?", StatusQueued).Scan(&n).Error
	return n, err
}
