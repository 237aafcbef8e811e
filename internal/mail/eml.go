package mail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultFrom is the From of an EMLSender that has none.
const DefaultFrom = "Twinning <noreply@localhost>"

// EMLSender writes each message to Dir as "<Message-ID>.eml" (sanitized),
// for installations without an SMTP server. The write is atomic (a
// temporary file renamed into place), so a reader never sees half a
// message, and a resend of the same message replaces the same file.
type EMLSender struct {
	Dir  string
	From string // DefaultFrom when empty
}

// Send implements Sender. Its reply is "eml <file name>".
func (s *EMLSender) Send(ctx context.Context, m *Message, now time.Time) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", unavailable(err, 0)
	}
	from := s.From
	if from == "" {
		from = DefaultFrom
	}
	raw, err := Compose(m, from, now)
	if err != nil {
		return "", permanent(err, 0)
	}
	name := EMLName(m.MessageID)
	if err := writeAtomic(s.Dir, name, raw); err != nil {
		// A full or read-only disk affects every message alike.
		return "", unavailable(fmt.Errorf("eml: %w", err), 0)
	}
	return "eml " + name, nil
}

// EMLName is the file name EMLSender uses for a Message-ID: the id without
// its angle brackets, every character outside [A-Za-z0-9._@+-] replaced
// by "_".
func EMLName(messageID string) string {
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(messageID), "<"), ">")
	id = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '.', r == '_', r == '@', r == '+', r == '-':
			return r
		}
		return '_'
	}, id)
	id = strings.TrimLeft(id, ".") // no hidden files, no ".."
	if id == "" {
		id = "message"
	}
	if len(id) > 200 {
		id = id[:200]
	}
	return id + ".eml"
}

func writeAtomic(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*.eml")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o640); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	done = true
	return nil
}
