package mail_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/mail"
)

func oneMessage() *mail.Message {
	m := testMessages(1)[0]
	m.ID = 1
	m.MessageID = "<twinning-outbox-1@twinning.test>"
	return m
}

func TestComposeFoldsLongChineseSubject(t *testing.T) {
	m := oneMessage()
	m.Subject = strings.Repeat("结对帮扶学校交流活动提醒，", 30) // 390 characters, ~3500 octets Q-encoded
	m.BodyHTML = ""
	raw, err := mail.Compose(m, testFrom, t0)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		if len(line) > 78 {
			t.Errorf("header line of %d octets: %q", len(line), line)
		}
	}
	r := received{Data: raw}
	if s := r.subject(t); s != m.Subject {
		t.Fatalf("subject decodes to %q", s)
	}
	msg := r.parse(t)
	if ct := msg.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	if msg.Header.Get("Message-Id") != m.MessageID || msg.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("headers %v", msg.Header)
	}
}

func TestComposeRefusesBadAddresses(t *testing.T) {
	m := oneMessage()
	if _, err := mail.Compose(m, "no address", t0); err == nil {
		t.Error("bad From accepted")
	}
	m.Cc = "x@y.cn\r\nBcc: evil@example.com"
	if _, err := mail.Compose(m, testFrom, t0); err == nil {
		t.Error("header injection through Cc accepted")
	}
	m = oneMessage()
	m.MessageID = ""
	if _, err := mail.Compose(m, testFrom, t0); err == nil {
		t.Error("message without Message-ID composed")
	}
}

func sendOne(t *testing.T, s *mail.SMTPSender) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer s.Close()
	return s.Send(ctx, oneMessage(), t0)
}

func TestSTARTTLSDelivers(t *testing.T) {
	srvTLS, cliTLS := selfSigned(t)
	srv := startServer(t, serverOptions{startTLS: srvTLS, auth: [2]string{"mailer", "s3cret"}})
	s := &mail.SMTPSender{Host: srv.Host, Port: srv.Port, Username: "mailer", Password: "s3cret", From: testFrom,
		TLS: mail.TLSStartTLS, Timeout: 5 * time.Second, TLSConfig: cliTLS}
	reply, err := sendOne(t, s)
	if err != nil || !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("reply %q err %v", reply, err)
	}
	got := srv.received()
	if len(got) != 1 || !got[0].TLS || got[0].subject(t) != oneMessage().Subject {
		t.Fatalf("received %+v", got)
	}

	s.Password = "wrong"
	_, err = sendOne(t, s)
	if !errors.Is(err, mail.ErrUnavailable) || errors.Is(err, mail.ErrPermanent) || !strings.Contains(err.Error(), "535") {
		t.Errorf("bad password: %v (want a temporary, server-wide error)", err)
	}
}

func TestImplicitTLSDelivers(t *testing.T) {
	srvTLS, cliTLS := selfSigned(t)
	srv := startServer(t, serverOptions{implicit: srvTLS})
	s := &mail.SMTPSender{Host: srv.Host, Port: srv.Port, From: testFrom, TLS: mail.TLSImplicit, Timeout: 5 * time.Second, TLSConfig: cliTLS}
	reply, err := sendOne(t, s)
	if err != nil || !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("reply %q err %v", reply, err)
	}
	if got := srv.received(); len(got) != 1 || !got[0].TLS {
		t.Fatalf("received %+v", got)
	}

	// Without the test CA the certificate is not trusted.
	s.TLSConfig = nil
	if _, err := sendOne(t, s); !errors.Is(err, mail.ErrUnavailable) {
		t.Errorf("untrusted certificate: %v", err)
	}
	if n := len(srv.received()); n != 1 {
		t.Errorf("%d received after an untrusted handshake", n)
	}
}

// "starttls" never falls back to clear text.
func TestSTARTTLSRequired(t *testing.T) {
	_, cliTLS := selfSigned(t)
	srv := startServer(t, serverOptions{}) // no STARTTLS on offer
	s := &mail.SMTPSender{Host: srv.Host, Port: srv.Port, From: testFrom, TLS: mail.TLSStartTLS, Timeout: 5 * time.Second, TLSConfig: cliTLS}
	_, err := sendOne(t, s)
	if !errors.Is(err, mail.ErrNoStartTLS) || !errors.Is(err, mail.ErrUnavailable) || errors.Is(err, mail.ErrPermanent) {
		t.Fatalf("want ErrNoStartTLS (temporary), got %v", err)
	}
	if n := len(srv.received()); n != 0 {
		t.Fatalf("%d messages went out in clear text", n)
	}
}

func TestPlainAuthRefusedInClearToARemoteHost(t *testing.T) {
	srv := startServer(t, serverOptions{auth: [2]string{"mailer", "s3cret"}})
	s := &mail.SMTPSender{Host: srv.Host, Port: srv.Port, Username: "mailer", Password: "s3cret", From: testFrom, TLS: mail.TLSNone, Timeout: 5 * time.Second}
	if _, err := sendOne(t, s); err != nil {
		t.Fatalf("AUTH in clear to localhost: %v", err)
	}
	// 127.0.0.2 is loopback too, but not "localhost" to net/smtp: a password
	// is not sent in clear to it.
	remote := startServer(t, serverOptions{auth: [2]string{"mailer", "s3cret"}, host: "127.0.0.2"})
	s.Host, s.Port = remote.Host, remote.Port
	_, err := sendOne(t, s)
	if !errors.Is(err, mail.ErrUnavailable) || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("want AUTH refused in clear, got %v", err)
	}
	if len(remote.received()) != 0 {
		t.Fatal("sent without AUTH")
	}
}

func TestSenderClassifiesReplies(t *testing.T) {
	srv := startServer(t, serverOptions{})
	s := &mail.SMTPSender{Host: srv.Host, Port: srv.Port, From: testFrom, TLS: mail.TLSNone, Timeout: 5 * time.Second}
	ctx := context.Background()
	defer s.Close()

	srv.mode.Store(modeReject)
	_, err := s.Send(ctx, oneMessage(), t0)
	var se *mail.SendError
	if !errors.Is(err, mail.ErrPermanent) || errors.Is(err, mail.ErrUnavailable) || !errors.As(err, &se) || se.Code != 550 {
		t.Errorf("550: %v", err)
	}
	srv.mode.Store(modeTempFail)
	_, err = s.Send(ctx, oneMessage(), t0)
	if errors.Is(err, mail.ErrPermanent) || errors.Is(err, mail.ErrUnavailable) || !errors.As(err, &se) || se.Code != 451 {
		t.Errorf("451: %v", err)
	}
	srv.mode.Store(modeAccept)
	if _, err := s.Send(ctx, oneMessage(), t0); err != nil {
		t.Errorf("after RSET: %v", err)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}

	// The idle connection dies on the server side: the sender redials.
	srv.Close()
	srv2 := startServer(t, serverOptions{port: srv.Port})
	if _, err := s.Send(ctx, oneMessage(), t0); err != nil {
		t.Errorf("after the server restarted: %v", err)
	}
	if len(srv2.received()) != 1 {
		t.Error("not received after redial")
	}

	bad := &mail.SMTPSender{Host: srv.Host, Port: srv.Port, From: testFrom, TLS: "ssl"}
	if _, err := bad.Send(ctx, oneMessage(), t0); !errors.Is(err, mail.ErrUnavailable) {
		t.Errorf("bad TLS mode: %v", err)
	}
}

func TestSendHonoursContext(t *testing.T) {
	srv := startServer(t, serverOptions{})
	srv.mode.Store(modeStall)
	s := &mail.SMTPSender{Host: srv.Host, Port: srv.Port, From: testFrom, TLS: mail.TLSNone, Timeout: time.Minute}
	for _, kind := range []string{"deadline", "cancel"} {
		var ctx context.Context
		var cancel context.CancelFunc
		if kind == "deadline" {
			ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
		} else {
			ctx, cancel = context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
		}
		done := make(chan error, 1)
		go func() { _, err := s.Send(ctx, oneMessage(), t0); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, mail.ErrUnavailable) {
				t.Errorf("%s: want ErrUnavailable, got %v", kind, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Send ignored its context", kind)
		}
		cancel()
	}
}
