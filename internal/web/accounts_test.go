package web_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// ---------------------------------------------------------------------
// A real SMTP server on 127.0.0.1 that keeps what it accepts.

type mailSink struct {
	port int
	mu   sync.Mutex
	msgs []string
}

func startMailSink(t *testing.T) *mailSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &mailSink{port: ln.Addr().(*net.TCPAddr).Port}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain, srv.ReadTimeout, srv.WriteTimeout = "mx.test", 10*time.Second, 10*time.Second
	srv.ErrorLog = sinkLog{}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return s
}

// waitFor returns the first message to addr containing want, waiting up to
// 5 seconds; the mail is "immediate" when it arrives well before the
// deliverer's one-minute tick (no tick runs in these tests at all).
func (s *mailSink) waitFor(t *testing.T, addr, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		for _, m := range s.msgs {
			if strings.Contains(m, "To: "+addr) || strings.Contains(m, "<"+addr+">") {
				if strings.Contains(m, want) {
					s.mu.Unlock()
					return m
				}
			}
		}
		s.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail to %s containing %q within 5 s", addr, want)
	return ""
}

type sinkSession struct{ s *mailSink }

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, string(b))
	ss.s.mu.Unlock()
	return nil
}
func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

type sinkLog struct{}

func (sinkLog) Printf(string, ...interface{}) {}
func (sinkLog) Println(...interface{})        {}

var linkRE = regexp.MustCompile(`/reset\?token=([A-Za-z0-9_-]+)`)

func linkToken(t *testing.T, msg string) string {
	t.Helper()
	// quoted-printable may fold the line; undo soft breaks first
	m := linkRE.FindStringSubmatch(strings.ReplaceAll(strings.ReplaceAll(msg, "=\r\n", ""), "=3D", "="))
	if m == nil {
		t.Fatalf("no reset link in\n%s", msg)
	}
	return m[1]
}

// ---------------------------------------------------------------------
// The world of these tests: an admin, a county bureau, two schools (one in
// the county, one outside), and apps on the same database.

type accounts struct {
	t       *testing.T
	db      *database.DB
	clock   *testutil.Clock
	api     *testutil.API
	admin   string
	county  int64 // region with the bureau
	other   int64 // another region
	inside  int64 // school in county
	outside int64 // school in other
	bureau  string
	sink    *mailSink
}

// accountsApp wires an app over db whose mail goes to sink, with the
// wake-up loop running like in `twinning serve`.
func accountsApp(t *testing.T, db *database.DB, clock *testutil.Clock, sink *mailSink) *app.App {
	t.Helper()
	cfg := testutil.Config(t)
	if sink != nil {
		cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS = "127.0.0.1", sink.port, mail.TLSNone
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
		app.Options{Now: clock.Now, BcryptCost: bcrypt.MinCost, Argon2: &auth.CheapArgon2, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.DeliverOnWake(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

const strongPW = "harbor-lantern-2026"

func newAccounts(t *testing.T, db *database.DB) *accounts {
	t.Helper()
	clock := testutil.NewClock(testutil.At(today))
	sink := startMailSink(t)
	api := testutil.NewAPI(t, accountsApp(t, db, clock, sink))
	w := &accounts{t: t, db: db, clock: clock, api: api, sink: sink}
	w.admin = api.Admin()
	w.county = w.created("/api/v1/regions", map[string]any{"name": "湖北省", "level": "province"})
	w.other = w.created("/api/v1/regions", map[string]any{"name": "陕西省", "level": "province"})
	w.inside = w.created("/api/v1/schools", map[string]any{"name": "麻城市第五中学", "region_id": w.county, "stage": "senior"})
	w.outside = w.created("/api/v1/schools", map[string]any{"name": "红安县第一中学", "region_id": w.other, "stage": "senior"})
	w.created("/api/v1/users", map[string]any{"name": "麻城市教育局", "email": "jyj@macheng.example.cn", "password": strongPW, "role": "bureau", "region_id": w.county})
	w.bureau = api.Login("jyj@macheng.example.cn", strongPW)
	return w
}

func (w *accounts) created(path string, body any) int64 {
	w.t.Helper()
	return w.api.Must(201, w.api.Do("POST", path, w.admin, body)).ID()
}

func (w *accounts) user(email string, extra ...any) int64 {
	w.t.Helper()
	body := map[string]any{"name": "张老师", "email": email, "password": strongPW, "role": "coordinator", "school_id": w.inside}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i].(string)] = extra[i+1]
	}
	return w.created("/api/v1/users", body)
}

func (w *accounts) audits(action string) int64 {
	w.t.Helper()
	return countRows(w.t, w.db, "audit_log", "action = ?", action)
}

// ---------------------------------------------------------------------

func TestSessionsEnd(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := newAccounts(t, db)
		api := w.api
		// a second replica on the same database
		api2 := testutil.NewAPI(t, testutil.NewApp(t, testutil.SecondHandle(t, db), w.clock))
		w.user("coord@example.cn")

		// logout ends that token, on both replicas; another session lives on
		tok, other := api.Login("coord@example.cn", strongPW), api.Login("coord@example.cn", strongPW)
		api2.Must(200, api2.Do("GET", "/api/v1/me", tok, nil))
		api.Must(204, api.Do("POST", "/api/v1/auth/logout", tok, nil))
		expectError(t, "after logout", api.Do("GET", "/api/v1/me", tok, nil), 401, "", "unauthorized")
		expectError(t, "after logout, other replica", api2.Do("GET", "/api/v1/me", tok, nil), 401, "", "unauthorized")
		api2.Must(200, api2.Do("GET", "/api/v1/me", other, nil))
		if w.audits("auth.logout") != 1 {
			t.Errorf("logout not audited")
		}

		// a password change ends every other session, not the one that made it
		mine := api.Login("coord@example.cn", strongPW)
		r := api.Do("POST", "/api/v1/auth/password", mine, map[string]string{"current_password": strongPW, "new_password": "quiet-river-stone-42"})
		api.Must(200, r)
		expectError(t, "other session after password change", api2.Do("GET", "/api/v1/me", other, nil), 401, "", "unauthorized")
		api2.Must(200, api2.Do("GET", "/api/v1/me", mine, nil))
		expectError(t, "old password", api.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "coord@example.cn", "password": strongPW}), 401, "", "unauthorized")
		expectError(t, "wrong current password", api.Do("POST", "/api/v1/auth/password", mine, map[string]string{"current_password": "not-my-password-at-all", "new_password": "quiet-river-stone-43"}), 422, "current_password", "validation_failed")
		expectError(t, "weak new password", api.Do("POST", "/api/v1/auth/password", mine, map[string]string{"current_password": "quiet-river-stone-42", "new_password": "password1234"}), 422, "new_password", "validation_failed")
		if w.audits("auth.password_change") != 1 {
			t.Errorf("password change not audited once")
		}

		// deactivation ends all of them at once, on every replica
		id := w.user("head@example.cn", "role", "principal")
		t1 := api.Login("head@example.cn", strongPW)
		t2 := api2.Login("head@example.cn", strongPW)
		got := api.Must(200, api.Do("PATCH", "/api/v1/users/"+strconv.FormatInt(id, 10), w.bureau, map[string]any{"active": false})).JSON()
		if got["active"] != false {
			t.Errorf("PATCH active:false answered %v", got)
		}
		for _, tk := range []string{t1, t2} {
			expectError(t, "after deactivation", api2.Do("GET", "/api/v1/me", tk, nil), 401, "", "unauthorized")
			expectError(t, "after deactivation", api.Do("GET", "/api/v1/me", tk, nil), 401, "", "unauthorized")
		}
		expectError(t, "login while switched off", api.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "head@example.cn", "password": strongPW}), 401, "", "unauthorized")
		api.Must(200, api.Do("PATCH", "/api/v1/users/"+strconv.FormatInt(id, 10), w.admin, map[string]any{"active": true}))
		api.Login("head@example.cn", strongPW)
	})
}

func TestLoginThrottle(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := newAccounts(t, db)
		api := w.api
		api2 := testutil.NewAPI(t, testutil.NewApp(t, testutil.SecondHandle(t, db), w.clock))
		w.user("coord@example.cn")
		wrong := map[string]string{"email": "coord@example.cn", "password": "wrong-password-1"}
		right := map[string]string{"email": "coord@example.cn", "password": strongPW}

		// a success clears the count: 4 failures, a success, 4 more are fine
		for range 4 {
			expectError(t, "wrong password", api.Do("POST", "/api/v1/auth/login", "", wrong), 401, "", "unauthorized")
		}
		api.Login("coord@example.cn", strongPW)
		// five failures across both replicas: the sixth attempt is 429, the
		// right password too, with Retry-After
		for i := range 5 {
			a := api
			if i%2 == 1 {
				a = api2
			}
			expectError(t, "wrong password", a.Do("POST", "/api/v1/auth/login", "", wrong), 401, "", "unauthorized")
		}
		w.clock.Set(w.clock.Now().Add(time.Minute))
		for _, body := range []map[string]string{wrong, right} {
			r := api2.Do("POST", "/api/v1/auth/login", "", body)
			expectError(t, "locked", r, 429, "", "too_many_attempts")
			if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 13*60 || ra > 15*60 {
				t.Errorf("Retry-After %q, want about 14 minutes", r.Header.Get("Retry-After"))
			}
		}
		// the alias and the other case of the email are the same account
		expectError(t, "locked via login alias", api.Do("POST", "/api/v1/auth/login", "", map[string]string{"login": "COORD@example.cn", "password": strongPW}), 429, "", "too_many_attempts")
		if n := w.audits("auth.lockout"); n != 1 {
			t.Errorf("%d lockout audit rows, want 1", n)
		}
		if n := w.audits("auth.login_failed"); n != 9 {
			t.Errorf("%d failure audit rows, want 9", n)
		}
		// when the window has passed, the right password works again
		w.clock.Set(w.clock.Now().Add(15 * time.Minute))
		api.Login("coord@example.cn", strongPW)

		// per client address: 30 failed logins a minute, whatever the accounts
		for i := range 30 {
			body := map[string]string{"email": "nobody" + strconv.Itoa(i) + "@example.cn", "password": "wrong-password-1"}
			expectError(t, "unknown account", api.Do("POST", "/api/v1/auth/login", "", body), 401, "", "unauthorized")
		}
		expectError(t, "31st from one address", api2.Do("POST", "/api/v1/auth/login", "", right), 429, "", "too_many_attempts")
		w.clock.Set(w.clock.Now().Add(61 * time.Second))
		api.Login("coord@example.cn", strongPW)
	})
}

func TestInvitationAndReset(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := newAccounts(t, db)
		api := w.api

		// no password: an invitation, at once, through the outbox
		start := time.Now()
		r := api.Must(201, api.Do("POST", "/api/v1/users", w.bureau, map[string]any{"name": "新老师", "email": "new@example.cn", "role": "coordinator", "school_id": w.inside}))
		id := r.ID()
		if r.JSON()["password_set"] != false || r.JSON()["locale"] != nil {
			t.Errorf("invited user: %s", r.Body)
		}
		msg := w.sink.waitFor(t, "new@example.cn", "/reset?token=")
		t.Logf("invitation arrived after %v", time.Since(start).Round(time.Millisecond))
		if countRows(t, db, "outbox_messages", "kind = ? AND status = ?", "invite", "sent") != 1 {
			t.Errorf("the invitation did not go through the outbox")
		}
		tok := linkToken(t, msg)
		expectError(t, "invited user cannot sign in yet", api.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": "new@example.cn", "password": "anything-at-all-1"}), 401, "", "unauthorized")
		expectError(t, "weak password through the link", api.Do("POST", "/api/v1/auth/reset", "", map[string]string{"token": tok, "new_password": "123456789012"}), 422, "new_password", "validation_failed")
		api.Must(200, api.Do("POST", "/api/v1/auth/reset", "", map[string]string{"token": tok, "new_password": "清晨的山路上开满了野花和小草"}))
		api.Login("new@example.cn", "清晨的山路上开满了野花和小草")
		expectError(t, "link used twice", api.Do("POST", "/api/v1/auth/reset", "", map[string]string{"token": tok, "new_password": "another-fine-passphrase"}), 422, "token", "validation_failed")
		expectError(t, "unknown link", api.Do("POST", "/api/v1/auth/reset", "", map[string]string{"token": "nope", "new_password": "another-fine-passphrase"}), 422, "token", "validation_failed")

		// re-invite: admin or the bureau in scope; the older link stops working
		api.Must(202, api.Do("POST", "/api/v1/users/"+strconv.FormatInt(id, 10)+"/invite", w.bureau, nil))
		outsider := w.user("far@example.cn", "school_id", w.outside)
		expectError(t, "bureau re-invites outside its region", api.Do("POST", "/api/v1/users/"+strconv.FormatInt(outsider, 10)+"/invite", w.bureau, nil), 404, "", "not_found")

		// forgot: 202 whoever asks; mail only to an active account, valid 1 h
		for _, e := range []string{"nobody@example.cn", "far@example.cn"} {
			api.Must(202, api.Do("POST", "/api/v1/auth/forgot", "", map[string]string{"email": e}))
		}
		msg = w.sink.waitFor(t, "far@example.cn", "/reset?token=")
		tok = linkToken(t, msg)
		other := api.Login("far@example.cn", strongPW)
		w.clock.Set(w.clock.Now().Add(61 * time.Minute))
		expectError(t, "expired link", api.Do("POST", "/api/v1/auth/reset", "", map[string]string{"token": tok, "new_password": "another-fine-passphrase"}), 422, "token", "validation_failed")
		api.Must(202, api.Do("POST", "/api/v1/auth/forgot", "", map[string]string{"login": "far@example.cn"}))
		w.sink.mu.Lock()
		w.sink.msgs = nil
		w.sink.mu.Unlock()
		api.Must(202, api.Do("POST", "/api/v1/auth/forgot", "", map[string]string{"email": "far@example.cn"}))
		tok = linkToken(t, w.sink.waitFor(t, "far@example.cn", "/reset?token="))
		api.Must(200, api.Do("POST", "/api/v1/auth/reset", "", map[string]string{"token": tok, "new_password": "another-fine-passphrase"}))
		expectError(t, "sessions end at reset", api.Do("GET", "/api/v1/me", other, nil), 401, "", "unauthorized")
		api.Login("far@example.cn", "another-fine-passphrase")
		for _, a := range []string{"auth.invite_sent", "auth.invite_accepted", "auth.reset_sent", "auth.password_reset"} {
			if w.audits(a) == 0 {
				t.Errorf("no %s audit row", a)
			}
		}
		// asking again and again: at most 3 reset mails an hour per account
		for range 5 {
			api.Must(202, api.Do("POST", "/api/v1/auth/forgot", "", map[string]string{"email": "far@example.cn"}))
		}
		if n := countRows(t, db, "outbox_messages", "kind = ? AND to_addr LIKE ? AND created_at >= ?", "reset", "%far@example.cn%", w.clock.Now().Add(-time.Minute).UTC()); n != 3 {
			t.Errorf("%d reset mails in a row, want 3", n)
		}
		if countRows(t, db, "outbox_messages", "to_addr LIKE ?", "%nobody@example.cn%") != 0 {
			t.Errorf("mail queued for an unknown address")
		}
	})
}

func TestPasswordPolicyAndHashes(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := newAccounts(t, db)
		api := w.api
		body := func(pw string) map[string]any {
			return map[string]any{"name": "x", "email": "p@example.cn", "password": pw, "role": "coordinator", "school_id": w.inside}
		}
		for _, pw := range []string{"password1234", "123456789012", "short-pw", "              ", "aaaaaaaaaaaaaaaa", strings.Repeat("长", 129)} {
			r := api.Do("POST", "/api/v1/users", w.admin, body(pw))
			expectError(t, "password "+pw, r, 422, "password", "validation_failed")
		}
		// characters, not bytes: 26 Chinese characters (78 bytes, over
		// bcrypt's 72) and 64 ASCII characters are fine, and both sign in
		for i, pw := range []string{strings.Repeat("山水", 6) + "相逢一醉是前缘风雨散飘然何处", strings.Repeat("tree-moss-", 6) + "1234"} {
			b := body(pw)
			b["email"] = "p" + strconv.Itoa(i) + "@example.cn"
			api.Must(201, api.Do("POST", "/api/v1/users", w.admin, b))
			api.Login(b["email"].(string), pw)
		}

		// a bcrypt hash of an older release signs in and is upgraded
		id := w.user("old@example.cn")
		old, _ := bcrypt.GenerateFromPassword([]byte("an-old-bcrypt-password"), bcrypt.MinCost)
		if err := db.Gorm().Exec("UPDATE users SET password_hash = ? WHERE id = ?", string(old), id).Error; err != nil {
			t.Fatal(err)
		}
		api.Login("old@example.cn", "an-old-bcrypt-password")
		var hash string
		db.Gorm().Raw("SELECT password_hash FROM users WHERE id = ?", id).Scan(&hash)
		if !strings.HasPrefix(hash, "$argon2id$") {
			t.Errorf("hash not upgraded: %q", hash)
		}
		api.Login("old@example.cn", "an-old-bcrypt-password")
	})
}

func TestUserEdit(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		w := newAccounts(t, db)
		api := w.api
		id := w.user("coord@example.cn", "phone", "138 0013 8000")
		path := "/api/v1/users/" + strconv.FormatInt(id, 10)
		got := api.Must(200, api.Do("GET", path, w.bureau, nil)).JSON()
		if got["phone"] != "13800138000" || got["locale"] != nil {
			t.Errorf("GET user: %v", got)
		}
		// sign in with the mobile number, by either field name
		api.Login("13800138000", strongPW)
		api.Must(200, api.Do("POST", "/api/v1/auth/login", "", map[string]string{"login": "13800138000", "password": strongPW}))

		// partial: absent unchanged, null clears
		got = api.Must(200, api.Do("PATCH", path, w.bureau, map[string]any{"name": "李老师", "locale": "en"})).JSON()
		if got["name"] != "李老师" || got["locale"] != "en" || got["phone"] != "13800138000" || got["email"] != "coord@example.cn" {
			t.Errorf("PATCH name/locale: %v", got)
		}
		got = api.Must(200, api.Do("PATCH", path, w.bureau, map[string]any{"phone": nil, "locale": nil})).JSON()
		if got["phone"] != nil || got["locale"] != nil || got["name"] != "李老师" {
			t.Errorf("PATCH null: %v", got)
		}
		expectError(t, "bad phone", api.Do("PATCH", path, w.bureau, map[string]any{"phone": "12345"}), 422, "phone", "validation_failed")
		expectError(t, "bureau changes role", api.Do("PATCH", path, w.bureau, map[string]any{"role": "principal"}), 403, "", "forbidden")
		api.Must(200, api.Do("PATCH", path, w.admin, map[string]any{"role": "principal"}))
		expectError(t, "admin moves to a region", api.Do("PATCH", path, w.admin, map[string]any{"school_id": nil}), 422, "school_id", "validation_failed")

		// a bureau sees and edits only the users of its schools
		far := w.user("far@example.cn", "school_id", w.outside)
		farPath := "/api/v1/users/" + strconv.FormatInt(far, 10)
		expectError(t, "bureau reads outside", api.Do("GET", farPath, w.bureau, nil), 404, "", "not_found")
		expectError(t, "bureau edits outside", api.Do("PATCH", farPath, w.bureau, map[string]any{"name": "x"}), 404, "", "not_found")
		coord := api.Login("far@example.cn", strongPW)
		expectError(t, "coordinator edits", api.Do("PATCH", path, coord, map[string]any{"name": "x"}), 403, "", "forbidden")
		api.Must(200, api.Do("GET", farPath, coord, nil)) // oneself

		// a bureau does not learn that an address exists in another region
		r := api.Do("POST", "/api/v1/users", w.bureau, map[string]any{"name": "x", "email": "far@example.cn", "password": strongPW, "role": "coordinator", "school_id": w.inside})
		if r.Status != 409 || r.Code() == "duplicate_email" || strings.Contains(string(r.Body), strconv.FormatInt(far, 10)+",") {
			t.Errorf("bureau duplicate: %d %s", r.Status, r.Body)
		}
		mine := api.Do("POST", "/api/v1/users", w.bureau, map[string]any{"name": "x", "email": "coord@example.cn", "password": strongPW, "role": "coordinator", "school_id": w.inside})
		if mine.Status != r.Status || mine.Code() != r.Code() || mine.Field("email") != r.Field("email") {
			t.Errorf("in-scope and out-of-scope duplicates answer differently: %s / %s", mine.Body, r.Body)
		}
		expectError(t, "admin duplicate", api.Do("POST", "/api/v1/users", w.admin, map[string]any{"name": "x", "email": "far@example.cn", "password": strongPW, "role": "coordinator", "school_id": w.inside}), 409, "email", "duplicate_email")
		api.Must(201, api.Do("POST", "/api/v1/users", w.admin, map[string]any{"name": "x", "email": "y@example.cn", "phone": "13900139000", "password": strongPW, "role": "coordinator", "school_id": w.inside}))
		expectError(t, "duplicate phone", api.Do("POST", "/api/v1/users", w.admin, map[string]any{"name": "x", "email": "z@example.cn", "phone": "139-0013-9000", "password": strongPW, "role": "coordinator", "school_id": w.inside}), 409, "phone", "duplicate_phone")
		expectError(t, "duplicate phone by PATCH", api.Do("PATCH", path, w.admin, map[string]any{"phone": "13900139000"}), 409, "phone", "duplicate_phone")

		// one's own profile
		self := api.Must(200, api.Do("PATCH", "/api/v1/me", coord, map[string]any{"locale": "zh-CN", "phone": "13700137000"})).JSON()
		if self["locale"] != "zh-CN" || self["phone"] != "13700137000" {
			t.Errorf("PATCH /me: %v", self)
		}
		expectError(t, "own profile cannot switch role", api.Do("PATCH", "/api/v1/me", coord, map[string]any{"role": "admin"}), 400, "", "")
	})
}
