package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"sync"
	"time"
)

// TLS modes of SMTPSender.
const (
	TLSNone     = "none"     // plain SMTP (a local relay or a mail catcher)
	TLSStartTLS = "starttls" // plain connect, then STARTTLS, required: never falls back to clear text
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
)

// Defaults of SMTPSender.
const (
	DefaultSMTPTimeout = 30 * time.Second
	DefaultMaxPerConn  = 100
	idleMax            = 30 * time.Second
)

// ErrNoStartTLS is the error (wrapped, and ErrUnavailable) when "starttls"
// is configured and the server does not offer STARTTLS: the sender stops
// rather than sending in clear text. It is temporary, not permanent: it is
// the server's (or its configuration's) fault, not the message's, and the
// messages go out once it is fixed.
var ErrNoStartTLS = errors.New("smtp: server does not offer STARTTLS")

// SMTPSender sends over SMTP. It dials itself with timeouts and sets a
// deadline on the connection before every step (greeting, EHLO, STARTTLS,
// AUTH, MAIL, each RCPT, DATA, the body, the final reply), so a server that
// stops answering costs at most Timeout per step, never a hung deliverer.
//
// It keeps at most one idle connection between messages (RSET before
// reuse, redial if that fails) for up to MaxPerConn messages; Close QUITs
// it, and the Deliverer calls Close at the end of each run. A connection
// that saw any error other than a 4xx/5xx answer to the envelope or the
// data is closed, never reused. An SMTPSender must not be copied after
// first use; it is safe for concurrent use.
type SMTPSender struct {
	Host     string
	Port     int
	Username string // AUTH PLAIN when set; refused over clear text except to localhost
	Password string
	From     string        // "结对帮扶平台 <noreply@example.cn>"
	TLS      string        // TLSNone, TLSStartTLS or TLSImplicit
	Timeout  time.Duration // per step; DefaultSMTPTimeout when zero

	TLSConfig  *tls.Config // optional: custom roots (tests, private CAs); ServerName defaults to Host
	LocalName  string      // EHLO name; "localhost" when empty
	MaxPerConn int         // messages per connection; DefaultMaxPerConn when zero, 1 disables reuse

	mu   sync.Mutex
	idle *smtpConn
}

type smtpConn struct {
	conn      net.Conn // the TCP (or TLS) connection under the client: deadlines go here
	client    *smtp.Client
	timeout   time.Duration
	sent      int
	idleSince time.Time
}

func (s *SMTPSender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultSMTPTimeout
}

func (s *SMTPSender) maxPerConn() int {
	if s.MaxPerConn > 0 {
		return s.MaxPerConn
	}
	return DefaultMaxPerConn
}

// Send implements Sender.
func (s *SMTPSender) Send(ctx context.Context, m *Message, now time.Time) (string, error) {
	from, err := netmail.ParseAddress(s.From)
	if err != nil {
		return "", unavailable(fmt.Errorf("smtp: bad From %q: %w", s.From, err), 0)
	}
	raw, err := Compose(m, s.From, now)
	if err != nil {
		return "", permanent(err, 0)
	}
	rcpts, err := m.Recipients()
	if err != nil {
		return "", permanent(err, 0)
	}
	c, err := s.conn(ctx)
	if err != nil {
		return "", err
	}
	// A cancelled ctx interrupts whatever step is blocked.
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	reply, err := c.deliver(ctx, from.Address, rcpts, raw)
	interrupted := !stop()
	if err != nil && ctx.Err() != nil {
		err = unavailable(fmt.Errorf("smtp: %w (%v)", ctx.Err(), err), 0)
	}
	if interrupted || (err != nil && !envelopeReply(err)) {
		c.close()
	} else {
		s.release(c)
	}
	return reply, err
}

// Close QUITs the idle connection, if any.
func (s *SMTPSender) Close() error {
	s.mu.Lock()
	c := s.idle
	s.idle = nil
	s.mu.Unlock()
	if c != nil {
		c.quit()
	}
	return nil
}

// conn returns the idle connection, reset for a new transaction, or a new one.
func (s *SMTPSender) conn(ctx context.Context) (*smtpConn, error) {
	s.mu.Lock()
	c := s.idle
	s.idle = nil
	s.mu.Unlock()
	if c != nil {
		if time.Since(c.idleSince) < idleMax && c.step(ctx) == nil && c.client.Reset() == nil {
			return c, nil
		}
		c.close() // stale: the server hung up or timed us out; dial afresh
	}
	return s.dial(ctx)
}

// release keeps c for the next message, or QUITs it when it has served
// its share or another connection is already idle.
func (s *SMTPSender) release(c *smtpConn) {
	if c.sent >= s.maxPerConn() {
		c.quit()
		return
	}
	c.idleSince = time.Now()
	s.mu.Lock()
	if s.idle == nil {
		s.idle, c = c, nil
	}
	s.mu.Unlock()
	if c != nil {
		c.quit()
	}
}

func (s *SMTPSender) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if s.TLSConfig != nil {
		cfg = s.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.Host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// dial connects, reads the greeting, says EHLO, starts TLS and
// authenticates as configured. Every error is ErrUnavailable.
func (s *SMTPSender) dial(ctx context.Context) (*smtpConn, error) {
	if s.Host == "" {
		return nil, unavailable(errors.New("smtp: no host configured"), 0)
	}
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	d := &net.Dialer{Timeout: s.timeout(), KeepAlive: 30 * time.Second}
	var conn net.Conn
	var err error
	switch s.TLS {
	case TLSImplicit:
		// The dialer's timeout covers the handshake too.
		conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsConfig()}).DialContext(ctx, "tcp", addr)
	case TLSNone, TLSStartTLS:
		conn, err = d.DialContext(ctx, "tcp", addr)
	default:
		return nil, unavailable(fmt.Errorf("smtp: TLS mode %q: must be none, starttls or tls", s.TLS), 0)
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("smtp: dial %s: %w", addr, err), 0)
	}
	c := &smtpConn{conn: conn, timeout: s.timeout()}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	err = c.open(ctx, s)
	if !stop() && err == nil {
		err = unavailable(fmt.Errorf("smtp: %w", ctx.Err()), 0)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *smtpConn) open(ctx context.Context, s *SMTPSender) error {
	fail := func(what string, err error) error {
		code := 0
		var te *textproto.Error
		if errors.As(err, &te) {
			code = te.Code
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return unavailable(fmt.Errorf("smtp: %s: %w", what, err), code)
	}
	if err := c.step(ctx); err != nil {
		return fail("greeting", err)
	}
	client, err := smtp.NewClient(c.conn, s.Host) // reads the 220 greeting
	if err != nil {
		return fail("greeting", err)
	}
	c.client = client
	local := s.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.step(ctx); err != nil {
		return fail("EHLO", err)
	}
	if err := client.Hello(local); err != nil {
		return fail("EHLO", err)
	}
	if s.TLS == TLSStartTLS {
		if err := c.step(ctx); err != nil {
			return fail("STARTTLS", err)
		}
		if ok, _ := client.Extension("STARTTLS"); !ok {
			return fail("STARTTLS", ErrNoStartTLS)
		}
		// STARTTLS, the handshake and the second EHLO, under one deadline
		// set on the TCP connection that the TLS layer writes to.
		if err := client.StartTLS(s.tlsConfig()); err != nil {
			return fail("STARTTLS", err)
		}
	}
	if s.Username != "" {
		if err := c.step(ctx); err != nil {
			return fail("AUTH", err)
		}
		if ok, _ := client.Extension("AUTH"); !ok {
			return fail("AUTH", errors.New("server does not offer AUTH"))
		}
		// net/smtp refuses PLAIN over clear text unless the host is localhost.
		if err := client.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return fail("AUTH", err)
		}
	}
	return nil
}

// step checks ctx and sets the deadline of the next step: Timeout from now,
// or ctx's deadline if sooner.
func (c *smtpConn) step(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dl := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	return c.conn.SetDeadline(dl)
}

// deliver runs one mail transaction and returns the final reply.
func (c *smtpConn) deliver(ctx context.Context, from string, rcpts []string, raw []byte) (string, error) {
	if err := c.step(ctx); err != nil {
		return "", unavailable(err, 0)
	}
	if err := c.client.Mail(from); err != nil {
		return "", classify("MAIL FROM", err)
	}
	for _, r := range rcpts {
		if err := c.step(ctx); err != nil {
			return "", unavailable(err, 0)
		}
		if err := c.client.Rcpt(r); err != nil {
			return "", classify("RCPT TO <"+r+">", err)
		}
	}
	// DATA by hand over the client's textproto.Conn: net/smtp's own
	// writer discards the final reply, which is what we record.
	text := c.client.Text
	if err := c.step(ctx); err != nil {
		return "", unavailable(err, 0)
	}
	id, err := text.Cmd("DATA")
	if err != nil {
		return "", classify("DATA", err)
	}
	text.StartResponse(id)
	_, _, err = text.ReadResponse(354)
	text.EndResponse(id)
	if err != nil {
		return "", classify("DATA", err)
	}
	if err := c.step(ctx); err != nil {
		return "", unavailable(err, 0)
	}
	w := text.DotWriter()
	if _, err := w.Write(raw); err != nil {
		_ = w.Close()
		return "", classify("message body", err)
	}
	if err := w.Close(); err != nil {
		return "", classify("message body", err)
	}
	if err := c.step(ctx); err != nil {
		return "", unavailable(err, 0)
	}
	code, msg, err := text.ReadResponse(250)
	if err != nil {
		return "", classify("end of DATA", err)
	}
	c.sent++
	return truncate(strconv.Itoa(code)+" "+msg, maxReply), nil
}

// classify sorts an error of the mail transaction: 5xx is permanent, 421
// (the server is closing) and anything that is not an SMTP reply (timeout,
// reset, TLS) is ErrUnavailable, other 4xx are temporary for this message.
func classify(what string, err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return unavailable(fmt.Errorf("smtp: %s: %w", what, err), 0)
	}
	err = fmt.Errorf("smtp: %s: %w", what, err)
	switch {
	case te.Code == 421:
		return unavailable(err, te.Code)
	case te.Code >= 500:
		return permanent(err, te.Code)
	default:
		return temporary(err, te.Code)
	}
}

// envelopeReply reports an error that is the server's answer within a mail
// transaction: the connection is still in step and can be reused after RSET.
func envelopeReply(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Code != 0 && se.Code != 421 && !se.Unavailable
}

// quit says goodbye politely, within one step's timeout.
func (c *smtpConn) quit() {
	if c.client != nil {
		_ = c.conn.SetDeadline(time.Now().Add(min(c.timeout, 5*time.Second)))
		_ = c.client.Quit()
	}
	c.close()
}

func (c *smtpConn) close() {
	if c.client != nil {
		_ = c.client.Close()
	} else {
		_ = c.conn.Close()
	}
}
