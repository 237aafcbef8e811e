package mail

import (
	"context"
	"errors"
	"time"
)

// Sender delivers one composed outbox message. now is the Date of the
// message. reply is the server's final answer ("250 2.0.0 Ok: queued").
//
// Errors are classified with errors.Is: ErrPermanent (the message will
// never go through as it is: a 5xx answer to MAIL, RCPT or DATA, or a
// message that cannot be rendered) and ErrUnavailable (the server could not
// be reached or the session broke: every other message would fail the same
// way now). Anything else is a temporary failure of this message (a 4xx
// answer to MAIL, RCPT or DATA).
type Sender interface {
	Send(ctx context.Context, m *Message, now time.Time) (reply string, err error)
}

var (
	// ErrPermanent marks a failure that retrying cannot fix.
	ErrPermanent = errors.New("permanent failure")
	// ErrUnavailable marks a temporary failure of the server or the
	// connection rather than of one message.
	ErrUnavailable = errors.New("mail server unavailable")
)

// SendError is the error of a Sender: Err, with its class, and the SMTP
// reply code when the server answered (0 otherwise).
type SendError struct {
	Err         error
	Code        int
	Permanent   bool
	Unavailable bool
}

func (e *SendError) Error() string { return e.Err.Error() }

// Unwrap exposes the cause and the class sentinel.
func (e *SendError) Unwrap() []error {
	out := []error{e.Err}
	if e.Permanent {
		out = append(out, ErrPermanent)
	}
	if e.Unavailable {
		out = append(out, ErrUnavailable)
	}
	return out
}

func permanent(err error, code int) error {
	return &SendError{Err: err, Code: code, Permanent: true}
}

func unavailable(err error, code int) error {
	return &SendError{Err: err, Code: code, Unavailable: true}
}

func temporary(err error, code int) error {
	return &SendError{Err: err, Code: code}
}
