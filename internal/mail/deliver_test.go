package mail_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/testutil"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const (
	testFrom       = "结对帮扶平台 <noreply@twinning.local>"
	chineseSubject = "【结对帮扶】提醒：第一学期交流活动尚未达标（还剩 7 天）"
)

func testMessages(n int) []*mail.Message {
	pair := int64(7)
	out := make([]*mail.Message, n)
	for i := range out {
		out[i] = &mail.Message{
			Kind:     "reminder",
			PairID:   &pair,
			To:       fmt.Sprintf("张老师%d <teacher%d@school.example.cn>", i, i),
			Cc:       "principal@school.example.cn, 教育局 <bureau@edu.example.cn>",
			Locale:   "zh-CN",
			Subject:  fmt.Sprintf("%s #%d", chineseSubject, i),
			BodyText: fmt.Sprintf("您好！\n结对学校第 %d 项承诺尚未达标。\n", i),
			BodyHTML: fmt.Sprintf("<p>您好！</p><p>结对学校第 %d 项承诺尚未达标。</p>", i),
		}
	}
	return out
}

type env struct {
	db      *database.DB
	ob      *mail.Outbox
	srv     *testServer
	snd     *mail.SMTPSender
	d       *mail.Deliverer
	reg     *prometheus.Registry
	metrics *mail.Metrics
}

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newEnv wires an outbox on db, a test SMTP server (unless port is given
// with nothing on it) and a deliverer.
func newEnv(t testing.TB, db *database.DB, opts mail.DelivererOptions) *env {
	t.Helper()
	e := &env{db: db, ob: mail.NewOutbox(db, "twinning.test", 0), reg: prometheus.NewRegistry()}
	e.srv = startServer(t, serverOptions{})
	var err error
	e.metrics, err = mail.NewMetrics(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	e.snd = &mail.SMTPSender{Host: e.srv.Host, Port: e.srv.Port, From: testFrom, TLS: mail.TLSNone, Timeout: 5 * time.Second}
	if opts.Log == nil {
		opts.Log = testLog(t)
	}
	opts.Metrics = e.metrics
	e.d = mail.NewDeliverer(e.ob, e.snd, opts)
	return e
}

func enqueue(t testing.TB, ob *mail.Outbox, msgs []*mail.Message, now time.Time) {
	t.Helper()
	if err := ob.Enqueue(context.Background(), msgs, now); err != nil {
		t.Fatal(err)
	}
}

func deliver(t testing.TB, d *mail.Deliverer, now time.Time) mail.Result {
	t.Helper()
	res, err := d.DeliverDue(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func rows(t testing.TB, db *database.DB) []mail.Message {
	t.Helper()
	var out []mail.Message
	if err := db.Gorm().Order("id").Find(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

func metric(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// byMessageID indexes what the server received, failing on a duplicate.
func byMessageID(t testing.TB, got []received) map[string]received {
	t.Helper()
	out := map[string]received{}
	for _, r := range got {
		id := r.messageID(t)
		if _, dup := out[id]; dup {
			t.Fatalf("message %s received twice", id)
		}
		out[id] = r
	}
	return out
}

func TestDeliveredOnce(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, mail.DelivererOptions{})
		msgs := testMessages(3)
		enqueue(t, e.ob, msgs, t0)
		for _, m := range msgs {
			if want := fmt.Sprintf("<twinning-outbox-%d@twinning.test>", m.ID); m.MessageID != want {
				t.Fatalf("Message-ID %q, want %q", m.MessageID, want)
			}
		}
		if res := deliver(t, e.d, t0); res != (mail.Result{Sent: 3}) {
			t.Fatalf("first run: %+v", res)
		}
		if res := deliver(t, e.d, t0.Add(time.Hour)); res != (mail.Result{}) {
			t.Fatalf("second run: %+v", res)
		}
		got := e.srv.received()
		if len(got) != 3 {
			t.Fatalf("server received %d messages, want 3", len(got))
		}
		if n := e.srv.conns.Load(); n != 1 {
			t.Errorf("%d connections for one run, want 1 (reused with RSET)", n)
		}
		recv := byMessageID(t, got)
		for _, row := range rows(t, db) {
			if row.Status != mail.StatusSent || row.Attempts != 1 || row.LeaseToken != "" {
				t.Errorf("row %d: status %s attempts %d token %q", row.ID, row.Status, row.Attempts, row.LeaseToken)
			}
			if !strings.HasPrefix(row.SMTPReply, "250 ") || !strings.Contains(row.SMTPReply, "queued") {
				t.Errorf("row %d: smtp_reply %q", row.ID, row.SMTPReply)
			}
			if row.SentAt == nil || !row.SentAt.Equal(t0) {
				t.Errorf("row %d: sent_at %v, want %v", row.ID, row.SentAt, t0)
			}
			r, ok := recv[row.MessageID]
			if !ok {
				t.Fatalf("row %d: no received message with Message-ID %s", row.ID, row.MessageID)
			}
			if s := r.subject(t); s != row.Subject || !strings.HasPrefix(s, chineseSubject) {
				t.Errorf("received subject %q, want %q", s, row.Subject)
			}
			msg := r.parse(t)
			if date, err := msg.Header.Date(); err != nil || !date.Equal(t0) {
				t.Errorf("Date header %v (%v), want %v", date, err, t0)
			}
			from, err := msg.Header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Name != "结对帮扶平台" {
				t.Errorf("From %v (%v)", from, err)
			}
			to, err := msg.Header.AddressList("To")
			if err != nil || len(to) != 1 || !strings.HasPrefix(to[0].Name, "张老师") {
				t.Errorf("To %v (%v)", to, err)
			}
			cc, err := msg.Header.AddressList("Cc")
			if err != nil || len(cc) != 2 || cc[1].Name != "教育局" {
				t.Errorf("Cc %v (%v)", cc, err)
			}
			if r.From != "noreply@twinning.local" || len(r.To) != 3 || r.To[1] != "principal@school.example.cn" {
				t.Errorf("envelope from %s to %v", r.From, r.To)
			}
			if !strings.Contains(msg.Header.Get("Content-Type"), "multipart/alternative") {
				t.Errorf("Content-Type %q", msg.Header.Get("Content-Type"))
			}
		}
		if v := metric(t, e.reg, "twinning_mail_sent_total"); v != 3 {
			t.Errorf("sent metric %v", v)
		}
	})
}

func TestConcurrentDeliverersSendEachOnce(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, mail.DelivererOptions{})
		const n = 40
		enqueue(t, e.ob, testMessages(n), t0)
		// Two deliverers, each with its own Outbox and SMTP connection, as two
		// replicas would be, claiming small batches so that they collide.
		var ds []*mail.Deliverer
		for range 2 {
			snd := &mail.SMTPSender{Host: e.srv.Host, Port: e.srv.Port, From: testFrom, TLS: mail.TLSNone, Timeout: 5 * time.Second}
			ds = append(ds, mail.NewDeliverer(mail.NewOutbox(db, "twinning.test", 0), snd, mail.DelivererOptions{Batch: 3, Log: testLog(t)}))
		}
		var wg sync.WaitGroup
		results := make([]mail.Result, 4)
		errs := make([]error, 4)
		for i := range 4 {
			wg.Go(func() { results[i], errs[i] = ds[i%2].DeliverDue(context.Background(), t0) })
		}
		wg.Wait()
		total := 0
		for i := range results {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			total += results[i].Sent
		}
		if total != n {
			t.Errorf("deliverers report %d sent, want %d (%+v)", total, n, results)
		}
		got := e.srv.received()
		if len(got) != n {
			t.Fatalf("server received %d messages, want %d", len(got), n)
		}
		byMessageID(t, got) // fails on a duplicate
		for _, row := range rows(t, db) {
			if row.Status != mail.StatusSent || row.Attempts != 1 {
				t.Errorf("row %d: status %s attempts %d", row.ID, row.Status, row.Attempts)
			}
		}
	})
}

func TestConcurrentClaimsAreDisjoint(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ob := mail.NewOutbox(db, "twinning.test", 0)
		const n = 60
		enqueue(t, ob, testMessages(n), t0)
		d := mail.NewDeliverer(ob, &mail.EMLSender{Dir: t.TempDir()}, mail.DelivererOptions{Batch: 7})
		var mu sync.Mutex
		seen := map[int64]string{}
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for {
					batch, token, err := d.Claim(context.Background(), t0)
					if err != nil {
						t.Error(err)
						return
					}
					if len(batch) == 0 {
						return
					}
					mu.Lock()
					for _, m := range batch {
						if m.LeaseToken != token || m.Status != mail.StatusSending {
							t.Errorf("claimed row %d has token %q status %s", m.ID, m.LeaseToken, m.Status)
						}
						if other, dup := seen[m.ID]; dup {
							t.Errorf("row %d claimed twice (%s, %s)", m.ID, other, token)
						}
						seen[m.ID] = token
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("%d rows claimed, want %d", len(seen), n)
		}
	})
}

func TestServerDownThenUp(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, mail.DelivererOptions{})
		port := freePort(t)
		e.snd.Port = port // nothing listens there
		enqueue(t, e.ob, testMessages(3), t0)

		if res := deliver(t, e.d, t0); res != (mail.Result{Retried: 3}) {
			t.Fatalf("run while down: %+v", res)
		}
		for _, row := range rows(t, db) {
			if row.Status != mail.StatusQueued || row.Attempts != 1 || row.LastError == "" ||
				row.NextAttemptAt != t0.Add(time.Minute).UnixMilli() || row.LeaseToken != "" {
				t.Fatalf("after a failed run: %+v", row)
			}
		}
		if v := metric(t, e.reg, "twinning_mail_retried_total"); v != 3 {
			t.Errorf("retried metric %v", v)
		}
		if v := metric(t, e.reg, "twinning_mail_queued"); v != 3 {
			t.Errorf("queued gauge %v", v)
		}

		srv := startServer(t, serverOptions{port: port})
		if res := deliver(t, e.d, t0.Add(30*time.Second)); res != (mail.Result{}) {
			t.Fatalf("run before the backoff elapsed: %+v", res)
		}
		if n := len(srv.received()); n != 0 {
			t.Fatalf("server received %d before the backoff elapsed", n)
		}
		if res := deliver(t, e.d, t0.Add(time.Minute)); res != (mail.Result{Sent: 3}) {
			t.Fatalf("run after the backoff: %+v", res)
		}
		if res := deliver(t, e.d, t0.Add(time.Hour)); res != (mail.Result{}) {
			t.Fatalf("later run: %+v", res)
		}
		byMessageID(t, srv.received())
		if n := len(srv.received()); n != 3 {
			t.Fatalf("server received %d, want 3", n)
		}
		for _, row := range rows(t, db) {
			if row.Status != mail.StatusSent || row.Attempts != 2 || !row.SentAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("row %d: %s attempts %d sent_at %v", row.ID, row.Status, row.Attempts, row.SentAt)
			}
		}
		if v := metric(t, e.reg, "twinning_mail_queued"); v != 0 {
			t.Errorf("queued gauge %v", v)
		}
	})
}

func TestPermanentFailureThenRetry(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, mail.DelivererOptions{})
		e.srv.mode.Store(modeReject)
		msgs := testMessages(2)
		enqueue(t, e.ob, msgs, t0)
		if res := deliver(t, e.d, t0); res != (mail.Result{Failed: 2}) {
			t.Fatalf("run against 5xx: %+v", res)
		}
		if n := e.srv.conns.Load(); n != 1 {
			t.Errorf("%d connections: a 5xx to RCPT should keep the connection (RSET)", n)
		}
		for _, row := range rows(t, db) {
			if row.Status != mail.StatusFailed || row.Attempts != 1 || !strings.Contains(row.LastError, "550") {
				t.Fatalf("after 5xx: %+v", row)
			}
		}
		if v := metric(t, e.reg, "twinning_mail_failed_total"); v != 2 {
			t.Errorf("failed metric %v, want 2", v)
		}
		counts, err := e.ob.Counts(context.Background())
		if err != nil || counts[mail.StatusFailed] != 2 || counts[mail.StatusSent] != 0 || len(counts) != 4 {
			t.Fatalf("counts %v %v", counts, err)
		}

		e.srv.mode.Store(modeAccept)
		later := t0.Add(time.Hour)
		if err := e.ob.Retry(context.Background(), msgs[0].ID, later); err != nil {
			t.Fatal(err)
		}
		m, err := e.ob.Get(context.Background(), msgs[0].ID)
		if err != nil || m.Status != mail.StatusQueued || m.Attempts != 0 || m.NextAttemptAt != later.UnixMilli() {
			t.Fatalf("after Retry: %+v %v", m, err)
		}
		if res := deliver(t, e.d, later); res != (mail.Result{Sent: 1}) {
			t.Fatalf("run after Retry: %+v", res)
		}
		got := e.srv.received()
		if len(got) != 1 || got[0].messageID(t) != msgs[0].MessageID {
			t.Fatalf("received %d messages", len(got))
		}
		if m, _ := e.ob.Get(context.Background(), msgs[1].ID); m.Status != mail.StatusFailed {
			t.Errorf("the other message is %s", m.Status)
		}
		if v := metric(t, e.reg, "twinning_mail_sent_total"); v != 1 {
			t.Errorf("sent metric %v", v)
		}
	})
}

func TestStalledServerDoesNotHang(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, mail.DelivererOptions{})
		e.srv.mode.Store(modeStall)
		e.snd.Timeout = 300 * time.Millisecond
		enqueue(t, e.ob, testMessages(2), t0)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		type out struct {
			res mail.Result
			err error
		}
		done := make(chan out, 1)
		go func() {
			res, err := e.d.DeliverDue(ctx, t0)
			done <- out{res, err}
		}()
		var o out
		select {
		case o = <-done:
		case <-ctx.Done():
			t.Fatal("DeliverDue hung on a server that never answers")
		}
		if o.err != nil || o.res != (mail.Result{Retried: 2}) {
			t.Fatalf("DeliverDue: %+v %v", o.res, o.err)
		}
		for _, row := range rows(t, db) {
			if row.Status != mail.StatusQueued || row.Attempts != 1 || row.NextAttemptAt != t0.Add(time.Minute).UnixMilli() ||
				!strings.Contains(row.LastError, "timeout") {
				t.Errorf("after a stall: %+v", row)
			}
		}
	})
}

func TestCrashBetweenClaimAndSend(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		lease := 2 * time.Minute
		e := newEnv(t, db, mail.DelivererOptions{Lease: lease})
		enqueue(t, e.ob, testMessages(1), t0)

		// A deliverer claims and dies before sending.
		crashed := mail.NewDeliverer(mail.NewOutbox(db, "twinning.test", 0), e.snd, mail.DelivererOptions{Lease: lease})
		batch, _, err := crashed.Claim(context.Background(), t0)
		if err != nil || len(batch) != 1 {
			t.Fatalf("claim: %d %v", len(batch), err)
		}
		if batch[0].LeaseUntil != t0.Add(lease).UnixMilli() {
			t.Fatalf("lease_until %d", batch[0].LeaseUntil)
		}

		for _, at := range []time.Time{t0, t0.Add(lease)} {
			if res := deliver(t, e.d, at); res != (mail.Result{}) {
				t.Fatalf("run at %v while the lease holds: %+v", at, res)
			}
		}
		if n := len(e.srv.received()); n != 0 {
			t.Fatalf("sent %d while the lease holds", n)
		}
		if res := deliver(t, e.d, t0.Add(lease+time.Millisecond)); res != (mail.Result{Sent: 1}) {
			t.Fatalf("run after the lease expired: %+v", res)
		}
		if res := deliver(t, e.d, t0.Add(3*lease)); res != (mail.Result{}) {
			t.Fatalf("later run: %+v", res)
		}
		if n := len(e.srv.received()); n != 1 {
			t.Fatalf("sent %d times, want once", n)
		}
		if row := rows(t, db)[0]; row.Status != mail.StatusSent {
			t.Fatalf("row %+v", row)
		}
	})
}

func TestStaleLeaseCannotWrite(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		lease := time.Minute
		ob := mail.NewOutbox(db, "twinning.test", 0)
		enqueue(t, ob, testMessages(1), t0)
		d := mail.NewDeliverer(ob, &mail.EMLSender{Dir: t.TempDir()}, mail.DelivererOptions{Lease: lease})
		ctx := context.Background()
		a, tokA, err := d.Claim(ctx, t0)
		if err != nil || len(a) != 1 {
			t.Fatal(len(a), err)
		}
		later := t0.Add(lease + time.Second)
		b, tokB, err := d.Claim(ctx, later)
		if err != nil || len(b) != 1 || tokA == tokB {
			t.Fatal(len(b), err)
		}
		// The first holder comes back and tries to record: nothing happens.
		if _, err := d.RecordFailure(ctx, later, a[0], tokA, mail.TemporaryError(errors.New("late"), 451)); err != nil {
			t.Fatal(err)
		}
		if err := d.RecordSent(ctx, later, a[0], tokA, "250 late"); err != nil {
			t.Fatal(err)
		}
		if row := rows(t, db)[0]; row.Status != mail.StatusSending || row.LeaseToken != tokB || row.Attempts != 0 {
			t.Fatalf("a stale lease wrote: %+v", row)
		}
		if err := d.RecordSent(ctx, later, b[0], tokB, "250 ok"); err != nil {
			t.Fatal(err)
		}
		if row := rows(t, db)[0]; row.Status != mail.StatusSent || row.SMTPReply != "250 ok" {
			t.Fatalf("the holder could not write: %+v", row)
		}
	})
}

func TestMaxAttemptsExhausted(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, mail.DelivererOptions{})
		e.srv.mode.Store(modeTempFail)
		msgs := testMessages(1)
		msgs[0].MaxAttempts = 3
		enqueue(t, e.ob, msgs, t0)

		at := t0
		for attempt := 1; attempt <= 2; attempt++ {
			if res := deliver(t, e.d, at); res != (mail.Result{Retried: 1}) {
				t.Fatalf("attempt %d: %+v", attempt, res)
			}
			row := rows(t, db)[0]
			next := at.Add(mail.Backoff(attempt))
			if row.Status != mail.StatusQueued || row.Attempts != attempt || row.NextAttemptAt != next.UnixMilli() ||
				!strings.Contains(row.LastError, "451") {
				t.Fatalf("after attempt %d: %+v", attempt, row)
			}
			if res := deliver(t, e.d, next.Add(-time.Millisecond)); res != (mail.Result{}) {
				t.Fatalf("run before the backoff: %+v", res)
			}
			at = next
		}
		if res := deliver(t, e.d, at); res != (mail.Result{Failed: 1}) {
			t.Fatalf("last attempt: %+v", res)
		}
		if row := rows(t, db)[0]; row.Status != mail.StatusFailed || row.Attempts != 3 {
			t.Fatalf("after the last attempt: %+v", row)
		}
		if v := metric(t, e.reg, "twinning_mail_failed_total"); v != 1 {
			t.Errorf("failed metric %v", v)
		}
		if len(e.srv.received()) != 0 {
			t.Error("a 4xx message was received")
		}
	})
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour, 6 * time.Hour, 6 * time.Hour}
	for i, w := range want {
		if got := mail.Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

// A 4xx for one message does not hold up the next one.
func TestTemporaryFailureIsPerMessage(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, mail.DelivererOptions{})
		msgs := testMessages(3)
		enqueue(t, e.ob, msgs, t0)
		flaky := &flakySender{next: e.snd, failID: msgs[1].ID}
		d := mail.NewDeliverer(e.ob, flaky, mail.DelivererOptions{Log: testLog(t)})
		if res := deliver(t, d, t0); res != (mail.Result{Sent: 2, Retried: 1}) {
			t.Fatalf("%+v", res)
		}
		got := rows(t, db)
		if got[0].Status != mail.StatusSent || got[1].Status != mail.StatusQueued || got[2].Status != mail.StatusSent {
			t.Fatalf("statuses %s %s %s", got[0].Status, got[1].Status, got[2].Status)
		}
	})
}

type flakySender struct {
	next   mail.Sender
	failID int64
}

func (f *flakySender) Send(ctx context.Context, m *mail.Message, now time.Time) (string, error) {
	if m.ID == f.failID {
		return "", mail.TemporaryError(errors.New("452 4.2.2 mailbox full"), 452)
	}
	return f.next.Send(ctx, m, now)
}

func TestPanickingSenderIsATemporaryFailure(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ob := mail.NewOutbox(db, "twinning.test", 0)
		enqueue(t, ob, testMessages(1), t0)
		d := mail.NewDeliverer(ob, panicSender{}, mail.DelivererOptions{})
		if res := deliver(t, d, t0); res != (mail.Result{Retried: 1}) {
			t.Fatalf("%+v", res)
		}
		if row := rows(t, db)[0]; row.Status != mail.StatusQueued || !strings.Contains(row.LastError, "panicked") {
			t.Fatalf("%+v", row)
		}
	})
}

type panicSender struct{}

func (panicSender) Send(context.Context, *mail.Message, time.Time) (string, error) { panic("boom") }

func TestDeliverDueRefusesATransaction(t *testing.T) {
	db := testutil.SQLite(t)
	d := mail.NewDeliverer(mail.NewOutbox(db, "x", 0), &mail.EMLSender{Dir: t.TempDir()}, mail.DelivererOptions{})
	err := db.WithTx(context.Background(), func(ctx context.Context) error {
		_, err := d.DeliverDue(ctx, t0)
		return err
	})
	if err == nil {
		t.Fatal("DeliverDue ran inside a transaction")
	}
}

func TestEMLSender(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		dir := t.TempDir()
		ob := mail.NewOutbox(db, "twinning.test", 0)
		d := mail.NewDeliverer(ob, &mail.EMLSender{Dir: dir, From: testFrom}, mail.DelivererOptions{})
		msgs := testMessages(2)
		enqueue(t, ob, msgs, t0)
		if res := deliver(t, d, t0); res != (mail.Result{Sent: 2}) {
			t.Fatalf("%+v", res)
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 2 {
			t.Fatalf("%d files in %s (%v)", len(entries), dir, err)
		}
		for _, m := range msgs {
			name := mail.EMLName(m.MessageID)
			if name != fmt.Sprintf("twinning-outbox-%d@twinning.test.eml", m.ID) {
				t.Errorf("file name %q", name)
			}
			data, err := os.ReadFile(dir + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			r := received{Data: data}
			if s := r.subject(t); s != m.Subject {
				t.Errorf("subject %q, want %q", s, m.Subject)
			}
			if id := r.messageID(t); id != m.MessageID {
				t.Errorf("Message-ID %q, want %q", id, m.MessageID)
			}
			row, _ := ob.Get(context.Background(), m.ID)
			if row.Status != mail.StatusSent || row.SMTPReply != "eml "+name {
				t.Errorf("row %+v", row)
			}
		}
	})
}

func TestEMLName(t *testing.T) {
	for in, want := range map[string]string{
		"<twinning-outbox-1@example.cn>": "twinning-outbox-1@example.cn.eml",
		"<../../etc/passwd>":             "_.._etc_passwd.eml",
		"<a/b\\c d>":                     "a_b_c_d.eml",
		"":                               "message.eml",
	} {
		if got := mail.EMLName(in); got != want {
			t.Errorf("EMLName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCountsAndListAreConsistent(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, mail.DelivererOptions{Batch: 2, MaxBatches: 1})
		enqueue(t, e.ob, testMessages(5), t0)
		if res := deliver(t, e.d, t0); res != (mail.Result{Sent: 2}) {
			t.Fatalf("one bounded batch: %+v", res)
		}
		counts, err := e.ob.Counts(context.Background())
		if err != nil || counts[mail.StatusQueued] != 3 || counts[mail.StatusSent] != 2 {
			t.Fatalf("%v %v", counts, err)
		}
		if !slices.Equal(mail.Statuses, []string{"queued", "sending", "sent", "failed"}) {
			t.Fatal(mail.Statuses)
		}
	})
}

// slowSender takes delay per message, or blocks until its context ends
// when delay is negative.
type slowSender struct {
	delay time.Duration
	mu    sync.Mutex
	sent  []int64
}

func (s *slowSender) Send(ctx context.Context, m *mail.Message, now time.Time) (string, error) {
	if s.delay < 0 {
		<-ctx.Done()
		return "", mail.TemporaryError(ctx.Err(), 0)
	}
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return "", mail.TemporaryError(ctx.Err(), 0)
	}
	s.mu.Lock()
	s.sent = append(s.sent, m.ID)
	s.mu.Unlock()
	return "250 ok", nil
}

// A run never outlives its lease: it starts nothing after half the lease
// and hands the untried messages back.
func TestRunStaysWithinItsLease(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ob := mail.NewOutbox(db, "twinning.test", 0)
		enqueue(t, ob, testMessages(6), t0)
		lease := time.Second
		snd := &slowSender{delay: 300 * time.Millisecond}
		d := mail.NewDeliverer(ob, snd, mail.DelivererOptions{Lease: lease, Log: testLog(t)})
		res := deliver(t, d, t0)
		if res.Sent < 1 || res.Sent > 3 || res.Retried != 0 || res.Failed != 0 {
			t.Fatalf("%+v", res)
		}
		for _, row := range rows(t, db) {
			sent := row.Status == mail.StatusSent
			if !sent && (row.Status != mail.StatusQueued || row.Attempts != 0 || row.LeaseToken != "" || row.NextAttemptAt != t0.UnixMilli()) {
				t.Errorf("an untried message was not handed back as it was: %+v", row)
			}
		}
		// The next run (the lease has not expired: same now) picks them up.
		snd.delay = 0
		if res2 := deliver(t, d, t0); res.Sent+res2.Sent != 6 {
			t.Fatalf("second run %+v", res2)
		}

		// A send that would run past the lease is cut off at 3/4 of it.
		enqueue(t, ob, testMessages(2), t0)
		snd.delay = -1
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := d.DeliverDue(ctx, t0)
		if err != nil || res != (mail.Result{Retried: 1}) {
			t.Fatalf("stuck send: %+v %v", res, err)
		}
		counts, _ := ob.Counts(context.Background())
		if counts[mail.StatusQueued] != 2 || counts[mail.StatusSending] != 0 {
			t.Fatalf("counts %v", counts)
		}
	})
}

// Deliverers spread over the queue: a claim takes a random batch among the
// first due messages rather than the very first ones, so deliverers on
// several replicas do not all fight over the same rows.
func TestClaimsSpreadOverTheQueue(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ob := mail.NewOutbox(db, "twinning.test", 0)
		enqueue(t, ob, testMessages(100), t0)
		d := mail.NewDeliverer(ob, &mail.EMLSender{Dir: t.TempDir()}, mail.DelivererOptions{Batch: 10})
		var lowest []int64
		if err := db.Gorm().Raw("SELECT id FROM outbox_messages ORDER BY id LIMIT 10").Scan(&lowest).Error; err != nil {
			t.Fatal(err)
		}
		a, _, err := d.Claim(context.Background(), t0)
		if err != nil || len(a) != 10 {
			t.Fatalf("claimed %d, err %v", len(a), err)
		}
		same := 0
		for i, m := range a {
			if m.ID == lowest[i] {
				same++
			}
		}
		if same == 10 {
			t.Fatalf("the claim took exactly the first 10 rows of the queue: deliverers would all collide there")
		}
	})
}
