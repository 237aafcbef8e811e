// Package mail is the outbox of outgoing mail and its deliverer.
//
// A sweep enqueues messages in its own transaction (Outbox.Enqueue); a
// Deliverer later claims due messages with a lease, hands them to a Sender
// (SMTP, or .eml files when no SMTP server is configured) and records the
// outcome: sent with the server's reply, queued again with a backoff, or
// failed. Nothing here reads the wall clock for outbox arithmetic: every
// operation takes `now`; only network timeouts use real time.
package mail

import (
	"encoding/base64"
	"fmt"
	netmail "net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twinning-platform/twinning/internal/errs"
)

// Statuses of an outbox message: queued → sending (leased) → sent | queued
// again (retry) | failed.
const (
	StatusQueued  = "queued"
	StatusSending = "sending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
)

// Statuses lists every status, in lifecycle order.
var Statuses = []string{StatusQueued, StatusSending, StatusSent, StatusFailed}

// Column sizes of outbox_messages (characters).
const (
	maxKind      = 16
	maxLocale    = 8
	maxTo        = 254
	maxCc        = 2000
	maxSubject   = 500
	maxLastError = 2000
	maxReply     = 500
	maxComposer  = 32
)

// Message is one outgoing mail, a row of outbox_messages. Times of the
// delivery machinery (NextAttemptAt, LeaseUntil) are unix milliseconds, so
// both dialects compare them in SQL without text-format traps.
type Message struct {
	ID              int64  `json:"id" gorm:"primaryKey"`
	Kind            string `json:"kind"`
	PairID          *int64 `json:"pair_id"`
	RecipientUserID *int64 `json:"recipient_user_id"`
	// To is one address, optionally with a display name
	// ("张老师 <zhang@example.cn>"); Cc is a comma-separated list of them.
	// Enqueue normalizes both (see Address: no bare comma in a name).
	To        string `json:"to_addr" gorm:"column:to_addr"`
	Cc        string `json:"cc_addrs" gorm:"column:cc_addrs"`
	Locale    string `json:"locale"`
	Subject   string `json:"subject"`
	BodyText  string `json:"body_text,omitempty" gorm:"column:body_text"` // left out of List
	BodyHTML  string `json:"body_html,omitempty" gorm:"column:body_html"` // left out of List
	MessageID string `json:"message_id" gorm:"column:message_id"`         // "<twinning-outbox-ID@domain>"
	// Composer names who renders the bodies at delivery ("name" or
	// "name:argument", see Outbox.SetComposer); '' when they are stored.
	Composer      string     `json:"composer,omitempty" gorm:"column:composer"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	MaxAttempts   int        `json:"max_attempts"`
	NextAttemptAt int64      `json:"next_attempt_at" gorm:"column:next_attempt_at"` // unix ms
	LeaseUntil    int64      `json:"lease_until" gorm:"column:lease_until"`         // unix ms
	LeaseToken    string     `json:"-" gorm:"column:lease_token"`                   // never leaves the server
	LastError     string     `json:"last_error"`
	SMTPReply     string     `json:"smtp_reply" gorm:"column:smtp_reply"`
	SentAt        *time.Time `json:"sent_at"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// TableName maps Message to outbox_messages.
func (Message) TableName() string { return "outbox_messages" }

// listColumns are the columns List reads: everything but the bodies.
var listColumns = []string{"id", "kind", "pair_id", "recipient_user_id", "to_addr", "cc_addrs", "locale",
	"subject", "message_id", "composer", "status", "attempts", "max_attempts", "next_attempt_at", "lease_until",
	"last_error", "smtp_reply", "sent_at", "created_at", "updated_at"}

// CcList splits Cc into its addresses (empty entries dropped).
func (m *Message) CcList() []string {
	var out []string
	for _, a := range strings.Split(m.Cc, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Recipients are the envelope addresses (RCPT TO) of To and Cc, without
// display names and without duplicates.
func (m *Message) Recipients() ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, raw := range append([]string{m.To}, m.CcList()...) {
		a, err := netmail.ParseAddress(raw)
		if err != nil {
			return nil, fmt.Errorf("mail: bad address %q: %w", raw, err)
		}
		key := strings.ToLower(a.Address)
		if !seen[key] {
			seen[key] = true
			out = append(out, a.Address)
		}
	}
	return out, nil
}

// normalizeAddress parses one address and returns its canonical form
// (see formatAddress: the stored value is ASCII, without a bare comma).
func normalizeAddress(raw string) (string, error) {
	a, err := netmail.ParseAddress(strings.TrimSpace(raw))
	if err != nil {
		return "", err
	}
	return formatAddress(a), nil
}

// Address is the header form of a display name and an address, whatever
// the name holds: a bureau can name a user 王老师: 校长, "Li, Ming" or
// <b>x</b>. Control characters become spaces; a name with ASCII specials
// is an RFC 5322 quoted-string, a non-ASCII one an RFC 2047 encoded-word
// (net/mail.Address.String does both), and a name with a comma an
// encoded-word too. The result parses back to the same name and address,
// when the address itself is valid.
func Address(name, addr string) string {
	name = strings.Join(strings.FieldsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	return formatAddress(&netmail.Address{Name: name, Address: strings.TrimSpace(addr)})
}

// formatAddress writes a as a header holds it, never with a bare comma:
// Cc is stored comma-separated, and jordan-wright/email splits address
// headers on commas before parsing them, so "Li, Ming" <l@x> would come
// apart. A name with a comma is written as a base64 encoded-word, which
// every reader decodes back to the name.
func formatAddress(a *netmail.Address) string {
	if !strings.Contains(a.Name, ",") {
		return a.String()
	}
	bare := (&netmail.Address{Address: a.Address}).String()
	return "=?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte(a.Name)) + "?= " + bare
}

// unparsed keeps an address that does not parse, for the deliverer to fail
// with its reason: no CR/LF (it is never written to a header anyway, as
// Compose checks every address first) and within the column.
func unparsed(raw string, max int) string {
	return truncate(strings.Join(strings.FieldsFunc(raw, func(r rune) bool { return unicode.IsControl(r) }), " "), max)
}

// field names a message's field in errors: "subject" when a call has one
// message, "messages[3].subject" when it has several. The name is built
// only for an error: a sweep prepares 65,000 valid messages.
type field struct {
	index int
	many  bool
}

func (p field) name(s string) string {
	if !p.many {
		return s
	}
	return "messages[" + strconv.Itoa(p.index) + "]." + s
}

// prepare validates m and normalizes its addresses (addrs remembers the
// To and Cc values normalized so far: a sweep's messages go to far fewer
// addresses than there are messages); f collects errors under the names
// p gives. With tolerant, an address that does not parse is kept as given
// (see unparsed) instead of being an error, and a display name too long
// for the column is dropped.
func (m *Message) prepare(f errs.Fields, p field, tolerant bool, addrs *addressCache) {
	if m.Kind == "" || utf8.RuneCountInString(m.Kind) > maxKind {
		f.Add(p.name("kind"), fmt.Sprintf("is required, at most %d characters", maxKind))
	}
	if m.Locale == "" {
		m.Locale = "zh-CN"
	}
	if utf8.RuneCountInString(m.Locale) > maxLocale {
		f.Add(p.name("locale"), fmt.Sprintf("at most %d characters", maxLocale))
	}
	to, known := addrs.to[m.To]
	var err error
	if !known {
		raw := m.To
		if to, err = normalizeAddress(raw); err == nil {
			addrs.to[raw] = to
		}
	}
	if err == nil && len(to) > maxTo && tolerant {
		// a name too long for the column once encoded: the address alone
		if a, perr := netmail.ParseAddress(to); perr == nil {
			to = formatAddress(&netmail.Address{Address: a.Address})
		}
	}
	switch {
	case err != nil && tolerant:
		m.To = unparsed(m.To, maxTo)
	case err != nil:
		f.Add(p.name("to_addr"), "is not a valid address: "+err.Error())
	case len(to) > maxTo:
		f.Add(p.name("to_addr"), fmt.Sprintf("at most %d characters", maxTo))
	default:
		m.To = to
	}
	if cc, known := addrs.cc[m.Cc]; known {
		m.Cc = cc
	} else if strings.TrimSpace(m.Cc) != "" {
		raw := m.Cc
		list, err := netmail.ParseAddressList(m.Cc)
		switch {
		case err != nil && tolerant:
			m.Cc = unparsed(m.Cc, maxCc)
		case err != nil:
			f.Add(p.name("cc_addrs"), "is not a valid list of addresses: "+err.Error())
		default:
			cc := make([]string, len(list))
			for i, a := range list {
				cc[i] = formatAddress(a)
			}
			m.Cc = strings.Join(cc, ", ")
			addrs.cc[raw] = m.Cc
		}
	} else {
		m.Cc = ""
	}
	if len(m.Cc) > maxCc {
		f.Add(p.name("cc_addrs"), fmt.Sprintf("at most %d characters", maxCc))
	}
	if strings.TrimSpace(m.Subject) == "" || utf8.RuneCountInString(m.Subject) > maxSubject {
		f.Add(p.name("subject"), fmt.Sprintf("is required, at most %d characters", maxSubject))
	}
	if m.BodyText == "" && m.BodyHTML == "" && m.Composer == "" {
		f.Add(p.name("body_text"), "a text or an HTML body is required")
	}
	if len(m.Composer) > maxComposer {
		f.Add(p.name("composer"), fmt.Sprintf("at most %d characters", maxComposer))
	}
}

// addressCache holds the To and Cc values one enqueue has normalized,
// by their given form.
type addressCache struct{ to, cc map[string]string }

func newAddressCache() *addressCache {
	return &addressCache{to: map[string]string{}, cc: map[string]string{}}
}

// truncate cuts s to at most n characters, on a rune boundary.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// millis is t as unix milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }

// dbTime is t as stored in DATETIME(6) columns.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
