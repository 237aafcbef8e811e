package mail

import (
	"context"
	"time"
)

// Internals for the tests of package mail_test (which, unlike package mail,
// may import internal/testutil).

func (d *Deliverer) Claim(ctx context.Context, now time.Time) ([]*Message, string, error) {
	return d.claim(ctx, now)
}

func (d *Deliverer) RecordSent(ctx context.Context, now time.Time, m *Message, token, reply string) error {
	return d.recordSent(ctx, now, m, token, reply)
}

func (d *Deliverer) RecordFailure(ctx context.Context, now time.Time, m *Message, token string, err error) (Result, error) {
	var res Result
	e := d.recordFailure(ctx, now, m, token, err, &res)
	return res, e
}

func TemporaryError(err error, code int) error { return temporary(err, code) }

var CleanDomain = cleanDomain
