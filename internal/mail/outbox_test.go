package mail_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	netmail "net/mail"
	"strconv"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/testutil"
)

func TestEnqueueBatchesStatements(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		qc := database.CountQueries(db)
		ob := mail.NewOutbox(db, "twinning.test", 5)
		msgs := testMessages(2500)
		before := qc.Queries()
		enqueue(t, ob, msgs, t0)
		// 3 INSERTs (1,000+1,000+500 rows); the Message-IDs follow from the
		// ids and are stored once sent
		if n := qc.Queries() - before; n != 3 {
			t.Errorf("Enqueue of 2,500 messages sent %d statements, want 3", n)
		}
		got := rows(t, db)
		if len(got) != 2500 {
			t.Fatalf("%d rows", len(got))
		}
		for i, row := range got {
			if row.ID != msgs[i].ID || row.MessageID != "" || msgs[i].MessageID != ob.MessageIDFor(row.ID) {
				t.Fatalf("row %d: id %d message_id %q; enqueued id %d %q", i, row.ID, row.MessageID, msgs[i].ID, msgs[i].MessageID)
			}
			if row.Status != mail.StatusQueued || row.MaxAttempts != 5 || row.NextAttemptAt != t0.UnixMilli() ||
				!row.CreatedAt.Equal(t0) || row.Subject != msgs[i].Subject || row.BodyText != msgs[i].BodyText {
				t.Fatalf("row %d: %+v", i, row)
			}
		}
	})
}

// Bodies of megabytes, each with backslashes (written in hex on MySQL,
// twice their size), are split over statements that each stay within
// the server's max_allowed_packet, and are stored exactly.
func TestEnqueueLargeBodiesWithinThePacket(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ob := mail.NewOutbox(db, "twinning.test", 0)
		msgs := testMessages(4)
		for i, m := range msgs {
			m.BodyText = strings.Repeat(`C:\学校\`, (3<<20)/len(`C:\学校\`)) + strconv.Itoa(i)
			m.BodyHTML = "<p>" + m.BodyText + "</p>"
		}
		enqueue(t, ob, msgs, t0)
		got := rows(t, db)
		if len(got) != len(msgs) {
			t.Fatalf("%d rows", len(got))
		}
		for i, row := range got {
			if row.BodyText != msgs[i].BodyText || row.BodyHTML != msgs[i].BodyHTML {
				t.Fatalf("row %d: the body came back different (%d bytes, want %d)", i, len(row.BodyText), len(msgs[i].BodyText))
			}
		}
	})
}

func TestEnqueueJoinsTheCallersTransaction(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ob := mail.NewOutbox(db, "twinning.test", 0)
		boom := errors.New("the sweep failed after enqueueing")
		err := db.WithTx(context.Background(), func(ctx context.Context) error {
			if err := ob.Enqueue(ctx, testMessages(2), t0); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if n := len(rows(t, db)); n != 0 {
			t.Fatalf("%d messages survived the rollback", n)
		}
	})
}

func TestEnqueueValidates(t *testing.T) {
	db := testutil.SQLite(t)
	ob := mail.NewOutbox(db, "twinning.test", 0)
	bad := []*mail.Message{
		{Kind: "reminder", To: "not an address", Subject: "s", BodyText: "b"},
		{Kind: "reminder", To: "a@b.cn", Cc: "ok@b.cn, not-an-address", Subject: "s", BodyText: "b"},
		{Kind: "reminder", To: "a@b.cn\r\nBcc: evil@x.com", Subject: "s", BodyText: "b"},
		{Kind: "reminder", To: "a@b.cn", Subject: " ", BodyText: "b"},
		{Kind: "reminder", To: "a@b.cn", Subject: "s"},
		{Kind: "much-too-long-kind-name", To: "a@b.cn", Subject: "s", BodyText: "b"},
		{Kind: "reminder", To: "a@b.cn", Subject: strings.Repeat("长", 501), BodyText: "b"},
	}
	for i, m := range bad {
		err := ob.Enqueue(context.Background(), []*mail.Message{m}, t0)
		if !errs.Is(err, errs.KindInvalid) {
			t.Errorf("message %d: want a validation error, got %v", i, err)
		}
	}
	if n := len(rows(t, db)); n != 0 {
		t.Fatalf("%d invalid messages stored", n)
	}
	good := &mail.Message{Kind: "digest", To: "  局长 <chief@edu.example.cn> ", Cc: "a@b.cn,, \"Doe, John\" <c@d.cn>", Subject: "每周摘要", BodyHTML: "<p>hi</p>"}
	enqueue(t, ob, []*mail.Message{good}, t0)
	// a comma in a name is kept, encoded: the stored list has no bare comma
	// inside an address, and parses back to the names as written
	if good.Locale != "zh-CN" || good.Cc != "<a@b.cn>, =?utf-8?b?RG9lLCBKb2hu?= <c@d.cn>" || !strings.HasSuffix(good.To, "<chief@edu.example.cn>") {
		t.Errorf("normalized: locale %q to %q cc %q", good.Locale, good.To, good.Cc)
	}
	if list, err := netmail.ParseAddressList(good.Cc); err != nil || len(list) != 2 || list[1].Name != "Doe, John" || len(good.CcList()) != 2 {
		t.Errorf("cc %q parses to %v, %v", good.Cc, list, err)
	}
	if rcpts, err := good.Recipients(); err != nil || strings.Join(rcpts, " ") != "chief@edu.example.cn a@b.cn c@d.cn" {
		t.Errorf("recipients %v %v", rcpts, err)
	}
}

// Errors in a batch name the message they are in, and a Cc shared by many
// messages (normalized once) is stored the same on each.
func TestEnqueueBatchFieldsAndSharedCc(t *testing.T) {
	db := testutil.SQLite(t)
	ob := mail.NewOutbox(db, "twinning.test", 0)
	batch := func() []*mail.Message {
		var msgs []*mail.Message
		for i := range 4 {
			msgs = append(msgs, &mail.Message{Kind: "reminder", To: fmt.Sprintf("u%d@b.cn", i),
				Cc: "\"Doe, John\" <c@d.cn>,  王校长 <w@d.cn>", Subject: "s", BodyText: "b"})
		}
		return msgs
	}
	bad := batch()
	bad[2].Cc = "ok@b.cn, not-an-address"
	bad[3].Subject = ""
	err := ob.Enqueue(context.Background(), bad, t0)
	e, ok := errs.As(err)
	if !ok || len(e.Fields) != 2 || e.Fields["messages[2].cc_addrs"] == "" || e.Fields["messages[3].subject"] == "" {
		t.Fatalf("want the errors of messages 2 and 3 by name, got %v", err)
	}
	if n := len(rows(t, db)); n != 0 {
		t.Fatalf("%d messages of an invalid batch stored", n)
	}
	good := batch()
	enqueue(t, ob, good, t0)
	want := "=?utf-8?b?RG9lLCBKb2hu?= <c@d.cn>, =?utf-8?q?=E7=8E=8B=E6=A0=A1=E9=95=BF?= <w@d.cn>"
	for i, m := range good {
		if m.Cc != want {
			t.Errorf("message %d: cc %q, want %q", i, m.Cc, want)
		}
	}
}

func TestListGetRetry(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		ob := mail.NewOutbox(db, "twinning.test", 0)
		msgs := testMessages(5)
		enqueue(t, ob, msgs, t0)
		if err := db.Gorm().Exec("UPDATE outbox_messages SET status = 'failed', lease_token = 'secret' WHERE id IN ?",
			[]int64{msgs[1].ID, msgs[3].ID}).Error; err != nil {
			t.Fatal(err)
		}

		all, err := ob.List(ctx, "", page.Page{Limit: 2})
		if err != nil || all.Total != 5 || len(all.Items) != 2 || all.Items[0].ID != msgs[4].ID || all.Items[1].ID != msgs[3].ID {
			t.Fatalf("List: %+v %v", all, err)
		}
		if all.Items[0].BodyText != "" || all.Items[0].Subject == "" {
			t.Errorf("List returns bodies or no subject: %+v", all.Items[0])
		}
		failed, err := ob.List(ctx, mail.StatusFailed, page.Page{})
		if err != nil || failed.Total != 2 || len(failed.Items) != 2 || failed.Items[0].ID != msgs[3].ID {
			t.Fatalf("List failed: %+v %v", failed, err)
		}
		b, _ := json.Marshal(failed)
		if strings.Contains(string(b), "secret") || strings.Contains(string(b), "lease_token") {
			t.Errorf("JSON leaks the lease token: %s", b)
		}
		if !strings.Contains(string(b), `"to_addr"`) || !strings.Contains(string(b), `"next_attempt_at"`) {
			t.Errorf("JSON: %s", b)
		}
		if _, err := ob.List(ctx, "bogus", page.Page{}); !errs.Is(err, errs.KindInvalid) {
			t.Errorf("List with a bad status: %v", err)
		}

		m, err := ob.Get(ctx, msgs[0].ID)
		if err != nil || m.BodyHTML != msgs[0].BodyHTML {
			t.Fatalf("Get: %+v %v", m, err)
		}
		if _, err := ob.Get(ctx, 999999); !errs.Is(err, errs.KindNotFound) {
			t.Errorf("Get missing: %v", err)
		}

		if err := ob.Retry(ctx, msgs[0].ID, t0); !errs.Is(err, errs.KindConflict) {
			t.Errorf("Retry of a queued message: %v", err)
		}
		if err := ob.Retry(ctx, 999999, t0); !errs.Is(err, errs.KindNotFound) {
			t.Errorf("Retry of a missing message: %v", err)
		}
		if err := ob.Retry(ctx, msgs[1].ID, t0); err != nil {
			t.Fatal(err)
		}
		if err := ob.Retry(ctx, msgs[1].ID, t0); !errs.Is(err, errs.KindConflict) {
			t.Errorf("second Retry: %v", err)
		}
		counts, err := ob.Counts(ctx)
		if err != nil || counts[mail.StatusQueued] != 4 || counts[mail.StatusFailed] != 1 || counts[mail.StatusSending] != 0 {
			t.Fatalf("Counts: %v %v", counts, err)
		}
	})
}

func TestCleanDomain(t *testing.T) {
	for in, want := range map[string]string{"example.cn": "example.cn", " <evil>@x ": "evilx", "": "localhost", "...": "localhost"} {
		if got := mail.CleanDomain(in); got != want {
			t.Errorf("CleanDomain(%q) = %q, want %q", in, got, want)
		}
	}
}
