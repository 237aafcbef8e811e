package mail

import (
	"bytes"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/jordan-wright/email"
)

// Compose renders m as an RFC 5322 message from the address from, with
// github.com/jordan-wright/email: To, Cc, a Q-encoded UTF-8 Subject, a
// text and/or HTML body (multipart/alternative when both), the stored
// Message-ID and a Date of now. Long header lines are folded.
//
// An error here is permanent: the message itself cannot be rendered.
func Compose(m *Message, from string, now time.Time) ([]byte, error) {
	if m.MessageID == "" {
		return nil, errors.New("mail: message has no Message-ID")
	}
	// jordan-wright/email writes an address it cannot parse verbatim, so
	// every address is checked here: nothing unparsed (no CR/LF) reaches a
	// header.
	fa, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: bad From address %q: %w", from, err)
	}
	if _, err := m.Recipients(); err != nil {
		return nil, err
	}
	// every address written in its encoded form (formatAddress), so a
	// display name with specials survives the library's comma split
	e := email.NewEmail()
	e.From = formatAddress(fa)
	to, _ := netmail.ParseAddress(m.To)
	e.To = []string{formatAddress(to)}
	for _, raw := range m.CcList() {
		a, _ := netmail.ParseAddress(raw)
		e.Cc = append(e.Cc, formatAddress(a))
	}
	e.Subject = m.Subject
	e.Text = []byte(m.BodyText)
	e.HTML = []byte(m.BodyHTML)
	e.Headers.Set("Message-Id", m.MessageID)
	e.Headers.Set("Date", now.Format(time.RFC1123Z))
	e.Headers.Set("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies, please
	if m.Locale != "" {
		e.Headers.Set("Content-Language", m.Locale)
	}
	raw, err := e.Bytes()
	if err != nil {
		return nil, fmt.Errorf("mail: compose: %w", err)
	}
	return foldHeaders(raw), nil
}

// foldHeaders folds header lines longer than 78 octets at spaces (RFC 5322
// §2.2.3), so a long Chinese subject, which jordan-wright/email writes as
// many encoded-words on one line, stays within every server's line limit.
// Unfolding restores the original line exactly.
func foldHeaders(raw []byte) []byte {
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		return raw
	}
	lines := strings.Split(string(head), "\r\n")
	var b strings.Builder
	b.Grow(len(raw) + 64)
	for i, line := range lines {
		if i > 0 {
			b.WriteString("\r\n")
		}
		if len(line) <= 78 {
			b.WriteString(line)
			continue
		}
		n := 0
		for j, tok := range strings.Split(line, " ") {
			switch {
			case j == 0:
			case n+1+len(tok) > 76 && n > 0:
				b.WriteString("\r\n")
				n = 0
				fallthrough
			default:
				b.WriteByte(' ')
				n++
			}
			b.WriteString(tok)
			n += len(tok)
		}
	}
	b.WriteString("\r\n\r\n")
	b.Write(body)
	return []byte(b.String())
}
