package mail_test

import (
	"bytes"
	"context"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// Any display name a bureau can type survives the trip into a header and
// back: specials, quotes, commas, angle brackets, line breaks, Chinese.
// (Issue 9, item 11: 王老师: 校长 failed address validation and with it a
// whole sweep.)
func TestAddressEncodesAnyDisplayName(t *testing.T) {
	names := []string{"王老师: 校长", "Li, Ming", `say "hi" <now>`, "a\r\nBcc: evil@x.cn", "张三, 李四 (主任)", "plain", "", "x@y.cn", "校长;副校长"}
	for _, name := range names {
		addr := mail.Address(name, "u@test.cn")
		want := strings.Join(strings.Fields(name), " ")
		if strings.ContainsAny(addr, "\r\n") {
			t.Errorf("%q → %q has a line break", name, addr)
		}
		a, err := netmail.ParseAddress(addr)
		if err != nil || a.Name != want || a.Address != "u@test.cn" {
			t.Errorf("%q → %q parses to %v, %v", name, addr, a, err)
			continue
		}
		// as a To and a Cc of a composed message
		m := &mail.Message{MessageID: "<t-1@test.cn>", To: addr, Cc: addr + ", " + mail.Address(name, "v@test.cn"), Subject: "s", BodyText: "b"}
		raw, err := mail.Compose(m, mail.Address("平台, 通知", "noreply@test.cn"), time.Date(2026, 2, 8, 8, 0, 0, 0, time.UTC))
		if err != nil {
			t.Errorf("%q: compose: %v", name, err)
			continue
		}
		msg, err := netmail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		to, err := msg.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Name != want || to[0].Address != "u@test.cn" {
			t.Errorf("%q: To %q → %v, %v", name, msg.Header.Get("To"), to, err)
		}
		cc, err := msg.Header.AddressList("Cc")
		if err != nil || len(cc) != 2 || cc[1].Name != want || cc[1].Address != "v@test.cn" {
			t.Errorf("%q: Cc %q → %v, %v", name, msg.Header.Get("Cc"), cc, err)
		}
		from, err := msg.Header.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Name != "平台, 通知" {
			t.Errorf("From %q → %v, %v", msg.Header.Get("From"), from, err)
		}
		if len(msg.Header["Bcc"]) != 0 {
			t.Errorf("%q injected a Bcc header", name)
		}
	}
}

// EnqueueTolerant stores a message whose address does not parse instead of
// failing the batch; the deliverer fails it at its first attempt with the
// reason, and the other messages reach the (real, in-test) SMTP server,
// the display names intact.
func TestUnaddressableMessageFailsAloneAtDelivery(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		e := newEnv(t, db, mail.DelivererOptions{})
		now := time.Date(2026, 2, 8, 0, 0, 0, 0, time.UTC)
		msgs := []*mail.Message{
			{Kind: "breach", To: mail.Address("王老师: 校长", "wang@school.cn"), Subject: "违约", BodyText: "a"},
			{Kind: "breach", To: "王老师: 校长 <nobody@>", Subject: "违约", BodyText: "b"},
			{Kind: "breach", To: mail.Address("Li, \"Ming\" <b>", "li@school.cn"), Cc: "not an address", Subject: "违约", BodyText: "c"},
			{Kind: "breach", To: mail.Address("张三", "zhang@school.cn"), Subject: "违约", BodyText: "d"},
		}
		if err := e.ob.Enqueue(context.Background(), msgs, now); !errs.Is(err, errs.KindInvalid) {
			t.Fatalf("Enqueue of an unaddressable batch: %v, want a validation error", err)
		}
		if err := e.ob.EnqueueTolerant(context.Background(), msgs, now); err != nil {
			t.Fatal(err)
		}
		res := deliver(t, e.d, now)
		if res.Sent != 2 || res.Failed != 2 || res.Retried != 0 {
			t.Fatalf("delivery %+v, want 2 sent and 2 failed", res)
		}
		for i, m := range rows(t, db) {
			wantFailed := i == 1 || i == 2
			if wantFailed && (m.Status != mail.StatusFailed || m.Attempts != 1 || !strings.Contains(m.LastError, "bad address")) {
				t.Errorf("message %d: %s after %d attempts, last_error %q; want failed with the reason", i, m.Status, m.Attempts, m.LastError)
			}
			if !wantFailed && m.Status != mail.StatusSent {
				t.Errorf("message %d: %s (%s)", i, m.Status, m.LastError)
			}
		}
		got := e.srv.received()
		if len(got) != 2 {
			t.Fatalf("the server received %d messages, want 2", len(got))
		}
		to, err := got[0].parse(t).Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Name != "王老师: 校长" || to[0].Address != "wang@school.cn" {
			t.Errorf("To of the first message: %v, %v", to, err)
		}
	})
}
