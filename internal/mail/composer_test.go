package mail_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// testComposer writes "composed #ID" bodies; "test:broken" cannot be
// composed, and while down > 0 a call fails as a whole (the database).
type testComposer struct {
	down  atomic.Int32
	calls atomic.Int32
}

func (c *testComposer) Compose(_ context.Context, msgs []*mail.Message) ([]error, error) {
	c.calls.Add(1)
	if c.down.Load() > 0 {
		c.down.Add(-1)
		return nil, errors.New("database gone away")
	}
	failed := make([]error, len(msgs))
	for i, m := range msgs {
		if strings.HasSuffix(m.Composer, ":broken") {
			failed[i] = errors.New("its notices are gone")
			continue
		}
		m.BodyText = fmt.Sprintf("composed #%d\n", m.ID)
		m.BodyHTML = fmt.Sprintf("<p>composed #%d</p>", m.ID)
	}
	return failed, nil
}

func TestComposedAtDelivery(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, mail.DelivererOptions{})
		c := &testComposer{}
		e.ob.SetComposer("test", c)
		msgs := testMessages(5)
		for i, composer := range []string{"test", "test:arg", "test:broken", "unknown", ""} {
			if composer != "" {
				msgs[i].Composer, msgs[i].BodyText, msgs[i].BodyHTML = composer, "", ""
			}
		}
		enqueue(t, e.ob, msgs, t0)

		// a message without bodies and without a composer is refused
		bad := testMessages(1)
		bad[0].BodyText, bad[0].BodyHTML = "", ""
		if err := e.ob.Enqueue(context.Background(), bad, t0); !errors.As(err, new(*errs.Error)) || !strings.Contains(err.Error(), "body_text") {
			t.Fatalf("enqueue without bodies or composer: %v", err)
		}

		// the composer failing as a whole: nothing is sent or spent, the
		// batch is handed back
		c.down.Store(1)
		if _, err := e.d.DeliverDue(context.Background(), t0); err == nil || !strings.Contains(err.Error(), "database gone away") {
			t.Fatalf("DeliverDue with the composer down: %v", err)
		}
		for _, r := range rows(t, db) {
			if r.Status != mail.StatusQueued || r.Attempts != 0 || r.LeaseToken != "" {
				t.Fatalf("after a failed composition, row %d: %s, %d attempts, token %q", r.ID, r.Status, r.Attempts, r.LeaseToken)
			}
		}
		if n := len(e.srv.received()); n != 0 {
			t.Fatalf("%d messages sent while the composer was down", n)
		}

		// one message that cannot be composed, and one whose composer is
		// unknown, fail alone; the others go out composed
		res := deliver(t, e.d, t0)
		if res.Sent != 3 || res.Failed != 2 {
			t.Fatalf("delivery: %+v, want 3 sent and 2 failed", res)
		}
		recv := byMessageID(t, e.srv.received())
		for i, r := range rows(t, db) {
			switch i {
			case 0, 1:
				got, ok := recv[r.MessageID]
				if r.Status != mail.StatusSent || !ok || !strings.Contains(string(got.Data), fmt.Sprintf("composed #%d", r.ID)) {
					t.Errorf("composed message %d: %s, received %v", r.ID, r.Status, ok)
				}
				if r.BodyText != "" {
					t.Errorf("message %d: the rendered body was stored: %q", r.ID, r.BodyText)
				}
			case 2, 3:
				want := map[int]string{2: "its notices are gone", 3: `no composer "unknown"`}[i]
				if r.Status != mail.StatusFailed || r.Attempts != 1 || !strings.Contains(r.LastError, want) {
					t.Errorf("message %d (%s): %s after %d attempts, last error %q, want failed with %q", r.ID, r.Composer, r.Status, r.Attempts, r.LastError, want)
				}
			case 4:
				if _, ok := recv[r.MessageID]; r.Status != mail.StatusSent || !ok || r.BodyText != msgs[4].BodyText {
					t.Errorf("stored message %d: %s, received %v", r.ID, r.Status, ok)
				}
			}
		}

		// an administrator reads what is (or was) sent
		m, err := e.ob.Get(context.Background(), msgs[1].ID)
		if err != nil || m.BodyText != fmt.Sprintf("composed #%d\n", m.ID) || m.MessageID != e.ob.MessageIDFor(m.ID) {
			t.Fatalf("Get of a composed message: %+v, %v", m, err)
		}
		m, err = e.ob.Get(context.Background(), msgs[2].ID)
		if err != nil || m.BodyText != "" || !strings.Contains(m.LastError, "its notices are gone") {
			t.Fatalf("Get of a message that cannot be composed: %+v, %v", m, err)
		}
	})
}
