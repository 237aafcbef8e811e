package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Composer renders the bodies of messages stored without them: a sweep
// queues thousands of messages on a reminder day, and storing two rendered
// bodies for each would cost the sweep's transaction more than everything
// else it does. Such a message keeps what decides its content — its kind,
// recipient, locale, subject and the rows its composer reads (a sweep's
// notices) — and is rendered when it is delivered or looked at.
type Composer interface {
	// Compose sets BodyText and BodyHTML of every message (and Subject
	// where empty). failed[i], when not nil, says why msgs[i] cannot be
	// composed: that message fails on its own. err is a failure of the
	// whole call (the database): nothing is sent, the messages are tried
	// again later.
	Compose(ctx context.Context, msgs []*Message) (failed []error, err error)
}

// SetComposer registers c under name: messages whose Composer is name, or
// starts with name and a colon (the rest is c's to read), are composed by
// it. Call it while wiring, before the outbox is used.
func (o *Outbox) SetComposer(name string, c Composer) {
	if o.composers == nil {
		o.composers = map[string]Composer{}
	}
	o.composers[name] = c
}

// ErrNotComposed is why a message cannot be composed: its composer is
// unknown, or it found the message's content gone.
var ErrNotComposed = errors.New("mail: message cannot be composed")

// needsComposing reports whether m is stored without bodies, for its
// composer to render.
func (m *Message) needsComposing() bool {
	return m.Composer != "" && m.BodyText == "" && m.BodyHTML == ""
}

// compose has the composers render the messages of msgs that need it, one
// call per composer, and returns the messages that could not be composed
// with the reason (a permanent failure: ErrPermanent wraps it).
func (o *Outbox) compose(ctx context.Context, msgs []*Message) (map[*Message]error, error) {
	byName := map[string][]*Message{}
	var names []string
	for _, m := range msgs {
		if !m.needsComposing() {
			continue
		}
		name, _, _ := strings.Cut(m.Composer, ":")
		if byName[name] == nil {
			names = append(names, name)
		}
		byName[name] = append(byName[name], m)
	}
	failed := map[*Message]error{}
	for _, name := range names {
		batch := byName[name]
		c := o.composers[name]
		if c == nil {
			for _, m := range batch {
				failed[m] = fmt.Errorf("%w: %w: no composer %q", ErrPermanent, ErrNotComposed, name)
			}
			continue
		}
		errs, err := c.Compose(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("outbox: compose: %w", err)
		}
		for i, m := range batch {
			var e error
			if i < len(errs) {
				e = errs[i]
			}
			if e == nil && m.BodyText == "" && m.BodyHTML == "" {
				e = ErrNotComposed
			}
			if e != nil {
				failed[m] = fmt.Errorf("%w: %w", ErrPermanent, e)
			}
		}
	}
	return failed, nil
}

// Compose renders the bodies of the messages of msgs stored without them,
// as the deliverer will send them (messages with bodies are left alone).
// failed holds the messages that cannot be composed, with the reason.
func (o *Outbox) Compose(ctx context.Context, msgs []*Message) (failed map[*Message]error, err error) {
	return o.compose(ctx, msgs)
}
