package mail_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"mime"
	"net"
	netmail "net/mail"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Behaviours of the test server.
const (
	modeAccept   int32 = iota // 250 to everything
	modeReject                // 550 5.1.1 to RCPT
	modeTempFail              // 451 4.3.0 to RCPT
	modeStall                 // accept the TCP connection, then never say a word
)

// received is one message the test server accepted.
type received struct {
	From string
	To   []string
	Data []byte
	TLS  bool // the message came over TLS
}

func (r received) parse(t testing.TB) *netmail.Message {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, r.Data)
	}
	return msg
}

func (r received) subject(t testing.TB) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(r.parse(t).Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject does not decode: %v", err)
	}
	return s
}

func (r received) messageID(t testing.TB) string {
	t.Helper()
	return r.parse(t).Header.Get("Message-Id")
}

// testServer is a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1, recording what it receives.
type testServer struct {
	Host string
	Port int

	mode    atomic.Int32
	discard atomic.Bool // count messages without keeping them (benchmarks)
	conns   atomic.Int64
	count   atomic.Int64

	mu       sync.Mutex
	msgs     []received
	stalled  []net.Conn
	ln       net.Listener
	srv      *smtp.Server
	implicit *tls.Config
	accepted chan net.Conn
	done     chan struct{}
	wg       sync.WaitGroup
}

type serverOptions struct {
	startTLS *tls.Config // offer STARTTLS with this config
	implicit *tls.Config // TLS from the first byte
	auth     [2]string   // require AUTH PLAIN with this user and password
	port     int         // 0: any free port
	host     string      // 127.0.0.1 when empty
}

func startServer(t testing.TB, o serverOptions) *testServer {
	t.Helper()
	host := o.host
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(o.port)))
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{Host: host, Port: ln.Addr().(*net.TCPAddr).Port, ln: ln, implicit: o.implicit,
		accepted: make(chan net.Conn), done: make(chan struct{})}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{s: s, conn: c, auth: o.auth}, nil
	})
	s.srv = smtp.NewServer(be)
	s.srv.Domain = "mx.test"
	s.srv.TLSConfig = o.startTLS
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.ErrorLog = quietLog{}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.acceptLoop() }()
	go func() { defer s.wg.Done(); _ = s.srv.Serve(chanListener{s}) }()
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		if s.mode.Load() == modeStall {
			s.mu.Lock()
			s.stalled = append(s.stalled, c)
			s.mu.Unlock()
			continue
		}
		if s.implicit != nil {
			c = tls.Server(c, s.implicit)
		}
		select {
		case s.accepted <- c:
		case <-s.done:
			_ = c.Close()
			return
		}
	}
}

// Close stops the server and drops every connection.
func (s *testServer) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return
	default:
	}
	close(s.done)
	_ = s.ln.Close()
	for _, c := range s.stalled {
		_ = c.Close()
	}
	s.mu.Unlock()
	_ = s.srv.Close()
	s.wg.Wait()
}

func (s *testServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// chanListener hands go-smtp the connections acceptLoop lets through.
type chanListener struct{ s *testServer }

func (l chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.s.accepted:
		return c, nil
	case <-l.s.done:
		return nil, net.ErrClosed
	}
}
func (l chanListener) Close() error   { return nil }
func (l chanListener) Addr() net.Addr { return l.s.ln.Addr() }

type testSession struct {
	s      *testServer
	conn   *smtp.Conn
	auth   [2]string
	authed bool
	from   string
	to     []string
}

func (ss *testSession) AuthMechanisms() []string {
	if ss.auth[0] == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *testSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.auth[0] || pass != ss.auth[1] {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.auth[0] != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch ss.s.mode.Load() {
	case modeReject:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	case modeTempFail:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.count.Add(1)
	_, isTLS := ss.conn.TLSConnectionState()
	if !ss.s.discard.Load() {
		ss.s.mu.Lock()
		ss.s.msgs = append(ss.s.msgs, received{From: ss.from, To: ss.to, Data: b, TLS: isTLS})
		ss.s.mu.Unlock()
	}
	return nil
}

func (ss *testSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *testSession) Logout() error { return nil }

type quietLog struct{}

func (quietLog) Printf(string, ...interface{}) {}
func (quietLog) Println(...interface{})        {}

// selfSigned returns a server certificate for 127.0.0.1 and localhost and
// a client config that trusts it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "twinning test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

// freePort is a port nothing listens on (just closed).
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}
