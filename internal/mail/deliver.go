package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
)

// Defaults of DelivererOptions.
const (
	DefaultBatch      = 100
	DefaultLease      = 5 * time.Minute
	DefaultMaxBatches = 100
)

// recordTimeout bounds the writes that record an outcome. They run even
// when the caller's ctx is cancelled: a message that went out must be
// recorded as sent, or it goes out again.
const recordTimeout = 30 * time.Second

// DelivererOptions tune a Deliverer; zero values take the defaults.
type DelivererOptions struct {
	Batch      int           // messages claimed at a time (DefaultBatch)
	Lease      time.Duration // how long a claim is held before another deliverer may take it over (DefaultLease)
	MaxBatches int           // batches per DeliverDue (DefaultMaxBatches): a run is bounded
	Log        *slog.Logger  // discarded when nil
	Metrics    *Metrics      // none when nil
}

// Result counts what one DeliverDue did. Retried counts temporary failures
// queued again; Failed counts messages that became failed.
type Result struct {
	Sent    int `json:"sent"`
	Retried int `json:"retried"`
	Failed  int `json:"failed"`
}

// Deliverer sends what is due in the outbox. Any number of deliverers, in
// one process or many, may run at once: a message is sent by the one
// holding its lease, and every status write is conditional on that lease.
type Deliverer struct {
	outbox *Outbox
	sender Sender
	opt    DelivererOptions
	log    *slog.Logger
}

// NewDeliverer returns a deliverer of outbox through sender.
func NewDeliverer(outbox *Outbox, sender Sender, opts DelivererOptions) *Deliverer {
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.MaxBatches <= 0 {
		opts.MaxBatches = DefaultMaxBatches
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{outbox: outbox, sender: sender, opt: opts, log: log}
}

// Backoff is the wait before attempt n+1 after n failed attempts:
// 1m, 5m, 30m, 2h, then 6h.
func Backoff(attempts int) time.Duration {
	switch {
	case attempts <= 1:
		return time.Minute
	case attempts == 2:
		return 5 * time.Minute
	case attempts == 3:
		return 30 * time.Minute
	case attempts == 4:
		return 2 * time.Hour
	default:
		return 6 * time.Hour
	}
}

// DeliverDue sends the messages due at now, batch by batch, until none is
// due or MaxBatches batches were handled. All lease and backoff arithmetic
// uses now; only network timeouts use the real clock. It returns an error
// only when the database fails or ctx ends; delivery failures are recorded
// on the messages and counted in Result.
//
// When the server is unavailable (ErrUnavailable: unreachable, timing out,
// refusing the session), the message being sent and the rest of its batch
// all record the same failed attempt, and the run stops: one stalled
// server costs one timeout per run, not one per message.
//
// A run also stops within its lease: it starts no message after half the
// Lease has passed (real time, since the run began) and cuts a send off at
// three quarters, handing untried messages back. Every lease it takes is
// now+Lease, so no other deliverer can take a message over while this run
// may still be sending it (as long as now is close to the real clock).
func (d *Deliverer) DeliverDue(ctx context.Context, now time.Time) (Result, error) {
	var res Result
	if database.InTx(ctx) {
		return res, errors.New("mail: DeliverDue must not run inside a transaction")
	}
	if c, ok := d.sender.(io.Closer); ok {
		defer c.Close()
	}
	defer d.reportQueued(ctx)
	run := newRun(ctx, d.opt.Lease)
	defer run.cancel()
	for range d.opt.MaxBatches {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if run.late() {
			break
		}
		batch, token, err := d.claim(ctx, now)
		if err != nil {
			return res, err
		}
		if len(batch) == 0 {
			break
		}
		more, err := d.deliver(ctx, run, now, batch, token, &res)
		if err != nil || !more {
			return res, err
		}
	}
	return res, nil
}

// run is the real-time budget of one DeliverDue within its lease.
type run struct {
	start   time.Time
	lease   time.Duration
	sendCtx context.Context // cut off at 3/4 of the lease
	cancel  context.CancelFunc
}

func newRun(ctx context.Context, lease time.Duration) *run {
	start := time.Now() // monotonic: elapsed time only, never a timestamp
	sendCtx, cancel := context.WithDeadline(ctx, start.Add(lease*3/4))
	return &run{start: start, lease: lease, sendCtx: sendCtx, cancel: cancel}
}

// late reports that no further message should be started.
func (r *run) late() bool { return time.Since(r.start) > r.lease/2 }

func (d *Deliverer) reportQueued(ctx context.Context) {
	if d.opt.Metrics == nil {
		return
	}
	ctx, cancel := d.recordCtx(ctx)
	defer cancel()
	n, err := d.outbox.countQueued(ctx)
	if err != nil {
		d.log.Warn("outbox: counting queued messages", "err", err)
		return
	}
	d.opt.Metrics.SetQueued(n)
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather)
	return hex.EncodeToString(b[:])
}

// claimWindow is how many due candidates a claim looks at per message it
// wants: it takes a random Batch of Batch·claimWindow, so deliverers
// running at once (one per replica, and `twinning check`) spread over the
// queue instead of all fighting over its first rows.
const claimWindow = 4

// claimTries bounds the claims of one batch lost to conflicts before the
// run stops: the rows are being delivered by someone else.
const claimTries = 3

// claim leases up to Batch due messages: those queued and due, and those
// whose lease expired (a deliverer crashed or stalled while holding them).
// It picks candidates, then takes them with one UPDATE that re-checks the
// condition, so of two deliverers racing for a row exactly one wins, then
// reads back the rows holding its token. No SKIP LOCKED, no FOR UPDATE:
// the same statements work on MySQL, MariaDB, TiDB, Galera and SQLite. A
// claim that loses a conflict (deadlock, certification failure on a
// cluster) is no error: another deliverer has those rows; a new random
// pick is tried, and after claimTries the run ends with what it sent.
func (d *Deliverer) claim(ctx context.Context, now time.Time) ([]*Message, string, error) {
	for try := 1; ; try++ {
		out, token, candidates, err := d.claimOnce(ctx, now)
		switch {
		case err == nil && (len(out) > 0 || candidates == 0):
			return out, token, nil
		case err == nil:
			d.log.Debug("outbox: the picked messages were claimed by another deliverer", "try", try)
		case database.Conflict(err) || errors.As(err, new(*database.BusyError)):
			d.log.Info("outbox: claim lost to another deliverer", "try", try, "err", err)
		default:
			return nil, token, err
		}
		if try >= claimTries {
			return nil, token, nil
		}
	}
}

func (d *Deliverer) claimOnce(ctx context.Context, now time.Time) (_ []*Message, _ string, candidates int, _ error) {
	db := d.outbox.db
	at := millis(now)
	token := newToken()
	window := d.opt.Batch * claimWindow
	var out []*Message
	err := db.WithTx(ctx, func(ctx context.Context) error {
		out = nil
		conn := db.Conn(ctx)
		// Two ranges of idx_outbox_due (status, next_attempt_at) rather
		// than one OR, so sent rows piling up in the table are never
		// scanned: the expired leases among the few rows being sent
		// (status = sending: the deliverers' current batches), then the
		// due queued rows in order.
		var ids []int64
		if err := conn.Raw(`SELECT id FROM outbox_messages WHERE status = ? AND lease_until < ?
			ORDER BY lease_until, id LIMIT ?`, StatusSending, at, window).Scan(&ids).Error; err != nil {
			return fmt.Errorf("outbox: claim: %w", err)
		}
		if len(ids) < window {
			var due []int64
			if err := conn.Raw(`SELECT id FROM outbox_messages WHERE status = ? AND next_attempt_at <= ?
				ORDER BY next_attempt_at, id LIMIT ?`, StatusQueued, at, window-len(ids)).Scan(&due).Error; err != nil {
				return fmt.Errorf("outbox: claim: %w", err)
			}
			ids = append(ids, due...)
		}
		candidates = len(ids)
		if len(ids) == 0 {
			return nil
		}
		if len(ids) > d.opt.Batch {
			mrand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			ids = ids[:d.opt.Batch]
		}
		slices.Sort(ids) // rows locked in key order: two claims wait, not deadlock
		res := conn.Exec(`UPDATE outbox_messages SET status = ?, lease_until = ?, lease_token = ?, updated_at = ?
			WHERE id IN ? AND ((status = ? AND next_attempt_at <= ?) OR (status = ? AND lease_until < ?))`,
			StatusSending, at+d.opt.Lease.Milliseconds(), token, dbTime(now),
			ids, StatusQueued, at, StatusSending, at)
		if res.Error != nil {
			return fmt.Errorf("outbox: claim: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		if err := conn.Where("id IN ? AND lease_token = ?", ids, token).Order("id").Find(&out).Error; err != nil {
			return fmt.Errorf("outbox: claim: %w", err)
		}
		return nil
	})
	return out, token, candidates, err
}

// deliver sends a claimed batch and records each outcome. more is false
// when the run should stop (the server is unavailable, or the run is out of
// lease time).
func (d *Deliverer) deliver(ctx context.Context, run *run, now time.Time, batch []*Message, token string, res *Result) (more bool, err error) {
	// Messages stored without bodies are rendered now, the batch in one go;
	// one that cannot be composed fails alone, with the reason. The
	// database failing hands the batch back, untried.
	uncomposed, err := d.outbox.compose(ctx, batch)
	if err != nil {
		return false, errors.Join(err, d.release(ctx, now, batch, token))
	}
	for i, m := range batch {
		if err := ctx.Err(); err != nil {
			return false, errors.Join(err, d.release(ctx, now, batch[i:], token))
		}
		if run.late() {
			d.log.Warn("outbox: run is slow, handing messages back before the lease runs out",
				"elapsed", time.Since(run.start), "lease", d.opt.Lease, "released", len(batch)-i)
			return false, d.release(ctx, now, batch[i:], token)
		}
		d.outbox.withMessageID(m)
		if cerr := uncomposed[m]; cerr != nil {
			if err := d.recordFailure(ctx, now, m, token, cerr, res); err != nil {
				return false, err
			}
			continue
		}
		reply, sendErr := d.send(run.sendCtx, m, now)
		switch {
		case sendErr == nil:
			if err := d.recordSent(ctx, now, m, token, reply); err != nil {
				return false, err
			}
			res.Sent++
		case ctx.Err() != nil:
			// Shutting down: this attempt counts, the rest are handed back
			// untouched and due at once.
			err := d.recordFailure(ctx, now, m, token, sendErr, res)
			return false, errors.Join(ctx.Err(), err, d.release(ctx, now, batch[i+1:], token))
		case run.sendCtx.Err() != nil:
			// Out of lease time in the middle of a send.
			err := d.recordFailure(ctx, now, m, token, sendErr, res)
			return false, errors.Join(err, d.release(ctx, now, batch[i+1:], token))
		case errors.Is(sendErr, ErrUnavailable):
			d.log.Warn("outbox: mail server unavailable; deferring the batch", "err", sendErr, "messages", len(batch)-i)
			for _, rest := range batch[i:] {
				if err := d.recordFailure(ctx, now, rest, token, sendErr, res); err != nil {
					return false, err
				}
			}
			return false, nil
		default:
			if err := d.recordFailure(ctx, now, m, token, sendErr, res); err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// send calls the sender; a panic is a temporary failure of this message,
// so a message that crashes the sender runs out of attempts instead of
// taking the deliverer down on every run.
func (d *Deliverer) send(ctx context.Context, m *Message, now time.Time) (reply string, err error) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("outbox: sender panicked", "id", m.ID, "panic", r)
			reply, err = "", temporary(fmt.Errorf("mail: sender panicked: %v", r), 0)
		}
	}()
	return d.sender.Send(ctx, m, now)
}

func (d *Deliverer) recordCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
}

func (d *Deliverer) recordSent(ctx context.Context, now time.Time, m *Message, token, reply string) error {
	ctx, cancel := d.recordCtx(ctx)
	defer cancel()
	r := d.outbox.db.Conn(ctx).Exec(`UPDATE outbox_messages SET status = ?, attempts = ?, smtp_reply = ?, sent_at = ?,
		message_id = ?, lease_until = 0, lease_token = '', updated_at = ? WHERE id = ? AND lease_token = ?`,
		StatusSent, m.Attempts+1, truncate(reply, maxReply), dbTime(now), m.MessageID, dbTime(now), m.ID, token)
	if r.Error != nil {
		return fmt.Errorf("outbox: record sent %d: %w", m.ID, r.Error)
	}
	if r.RowsAffected == 0 {
		d.lostLease(m)
	}
	d.opt.Metrics.add(Result{Sent: 1})
	return nil
}

// recordFailure records a failed attempt: failed at once when permanent or
// out of attempts, otherwise queued again after Backoff.
func (d *Deliverer) recordFailure(ctx context.Context, now time.Time, m *Message, token string, sendErr error, res *Result) error {
	ctx, cancel := d.recordCtx(ctx)
	defer cancel()
	attempts := m.Attempts + 1
	status, next := StatusQueued, millis(now.Add(Backoff(attempts)))
	if errors.Is(sendErr, ErrPermanent) || attempts >= m.MaxAttempts {
		status, next = StatusFailed, m.NextAttemptAt
	}
	r := d.outbox.db.Conn(ctx).Exec(`UPDATE outbox_messages SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?,
		lease_until = 0, lease_token = '', updated_at = ? WHERE id = ? AND lease_token = ?`,
		status, attempts, truncate(sendErr.Error(), maxLastError), next, dbTime(now), m.ID, token)
	if r.Error != nil {
		return fmt.Errorf("outbox: record failure of %d: %w", m.ID, r.Error)
	}
	if r.RowsAffected == 0 {
		d.lostLease(m)
		return nil
	}
	if status == StatusFailed {
		res.Failed++
		d.opt.Metrics.add(Result{Failed: 1})
		d.log.Warn("outbox: message failed", "id", m.ID, "attempts", attempts, "err", sendErr)
	} else {
		res.Retried++
		d.opt.Metrics.add(Result{Retried: 1})
		d.log.Info("outbox: message deferred", "id", m.ID, "attempts", attempts, "next_attempt_at", time.UnixMilli(next).UTC(), "err", sendErr)
	}
	return nil
}

// release hands claimed, untried messages back: queued, due as before.
func (d *Deliverer) release(ctx context.Context, now time.Time, msgs []*Message, token string) error {
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := d.recordCtx(ctx)
	defer cancel()
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	err := d.outbox.db.Conn(ctx).Exec(`UPDATE outbox_messages SET status = ?, lease_until = 0, lease_token = '', updated_at = ?
		WHERE id IN ? AND lease_token = ?`, StatusQueued, dbTime(now), ids, token).Error
	if err != nil {
		return fmt.Errorf("outbox: release: %w", err)
	}
	return nil
}

func (d *Deliverer) lostLease(m *Message) {
	d.log.Warn("outbox: lease lost before the outcome was recorded; another deliverer took the message over and may send it again",
		"id", m.ID, "message_id", m.MessageID)
}
