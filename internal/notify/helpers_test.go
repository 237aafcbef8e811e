package notify_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// ---------------------------------------------------------------------
// A real SMTP server (github.com/emersion/go-smtp) on 127.0.0.1, after
// internal/mail/server_test.go: it records every message it accepts.

type smtpServer struct {
	Port   int
	reject atomic.Bool // answer 550 to RCPT
	srv    *smtp.Server

	mu   sync.Mutex
	msgs []smtpReceived
}

type smtpReceived struct {
	From string
	To   []string
	Data string
}

func startSMTP(t testing.TB) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{Port: ln.Addr().(*net.TCPAddr).Port}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }))
	s.srv.Domain = "mx.test"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.ErrorLog = quietLog{}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close(); <-done })
	return s
}

func (s *smtpServer) received() []smtpReceived {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// messageIDs maps each Message-ID received to how many times it came.
func (s *smtpServer) messageIDs(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range s.received() {
		id := header(m.Data, "Message-Id")
		if id == "" {
			t.Fatalf("a received message has no Message-Id:\n%s", m.Data)
		}
		out[id]++
	}
	return out
}

func header(data, name string) string {
	for _, line := range strings.Split(data, "\r\n") {
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

type smtpSession struct {
	s    *smtpServer
	from string
	to   []string
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error { ss.from = from; return nil }
func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.reject.Load() {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	}
	ss.to = append(ss.to, to)
	return nil
}
func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, smtpReceived{From: ss.from, To: ss.to, Data: string(b)})
	ss.s.mu.Unlock()
	return nil
}
func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }

type quietLog struct{}

func (quietLog) Printf(string, ...interface{}) {}
func (quietLog) Println(...interface{})        {}

// ---------------------------------------------------------------------
// Apps and database handles.

// newApp wires an App over db like testutil.NewApp; with srv, its
// configured mail sender is SMTP to srv (so App.Check and App.Deliverer
// deliver there, with the App's metrics).
func newApp(t testing.TB, db *database.DB, clock *testutil.Clock, srv *smtpServer) *app.App {
	t.Helper()
	cfg := testutil.Config(t)
	if srv != nil {
		cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS = "127.0.0.1", srv.Port, mail.TLSNone
		cfg.SMTP.Timeout.Duration = 10 * time.Second
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(context.Background(), cfg, log, app.Options{Now: clock.Now, BcryptCost: bcrypt.MinCost, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ---------------------------------------------------------------------
// The programme every test starts from.
//
//	province P (bureau "bureau.prov")
//	├── city C (bureau "bureau.city")
//	│   └── county X (no bureau): the supported school 受援一小
//	├── city C2
//	│   └── county Y (bureau "bureau.y"): the supporting school 支援一中
//	└── city C3 (bureau "bureau.other"): nothing in it
//
// One active pair 支援一中 → 受援一小 from 2025-09-01 to 2027-08-31, the
// default calendar 2025-2026 and 2026-2027, and users: a coordinator and a
// principal per school (the supporting principal reads English).

type world struct {
	t     *testing.T
	ctx   context.Context
	db    *database.DB
	a     *app.App
	clock *testutil.Clock
	sys   auth.Actor

	regions map[string]school.Region // P, C, X, C2, Y, C3
	sup     school.School
	sud     school.School
	pair    pairing.Pair
	users   map[string]auth.User
	actors  map[string]auth.Actor
}

// Names of the world's users.
const (
	supCoord  = "sup.coord"
	supHead   = "sup.head"
	sudCoord  = "sud.coord"
	sudHead   = "sud.head"
	bureauC   = "bureau.city"
	bureauY   = "bureau.y"
	bureauP   = "bureau.prov"
	bureauOth = "bureau.other"
)

func build(t *testing.T, db *database.DB, srv *smtpServer) *world {
	t.Helper()
	return buildWith(t, db, srv, calendar.DefaultTerms(2025, 2026))
}

// buildWith builds the world on the given calendar.
func buildWith(t *testing.T, db *database.DB, srv *smtpServer, terms []calendar.Term) *world {
	t.Helper()
	clock := testutil.NewClock(testutil.At("2025-08-20"))
	w := &world{t: t, ctx: context.Background(), db: db, clock: clock, sys: auth.SystemActor(),
		regions: map[string]school.Region{}, users: map[string]auth.User{}, actors: map[string]auth.Actor{}}
	w.a = newApp(t, db, clock, srv)
	for _, term := range terms {
		if _, err := w.a.Terms.CreateTerm(w.ctx, w.sys, calendar.TermInput{SchoolYear: term.SchoolYear, Season: term.Season, StartsOn: term.StartsOn, EndsOn: term.EndsOn}); err != nil {
			t.Fatal(err)
		}
	}
	w.region("P", "某省", school.Province, "")
	w.region("C", "某市", school.City, "P")
	w.region("X", "某县", school.County, "C")
	w.region("C2", "另一市", school.City, "P")
	w.region("Y", "支援县", school.County, "C2")
	w.region("C3", "无关市", school.City, "P")
	w.sup = w.school("支援一中", "Y")
	w.sud = w.school("受援一小", "X")
	w.pair = w.newPair(w.sup, w.sud)
	w.user(supCoord, "支援协调员", auth.RoleCoordinator, &w.sup.ID, nil, "")
	w.user(supHead, "Principal Support", auth.RolePrincipal, &w.sup.ID, nil, auth.LocaleEN)
	w.user(sudCoord, "受援协调员", auth.RoleCoordinator, &w.sud.ID, nil, "")
	w.user(sudHead, "受援校长", auth.RolePrincipal, &w.sud.ID, nil, "")
	w.user(bureauC, "市教育局", auth.RoleBureau, nil, ptr(w.regions["C"].ID), "")
	w.user(bureauY, "支援县教育局", auth.RoleBureau, nil, ptr(w.regions["Y"].ID), "")
	w.user(bureauP, "省教育厅", auth.RoleBureau, nil, ptr(w.regions["P"].ID), "")
	w.user(bureauOth, "无关市教育局", auth.RoleBureau, nil, ptr(w.regions["C3"].ID), "")
	return w
}

func ptr[T any](v T) *T { return &v }

func (w *world) region(key, name, level, parent string) {
	w.t.Helper()
	in := school.RegionInput{Name: name, Level: level}
	if parent != "" {
		in.ParentID = ptr(w.regions[parent].ID)
	}
	r, err := w.a.Schools.CreateRegion(w.ctx, w.sys, in)
	if err != nil {
		w.t.Fatal(err)
	}
	w.regions[key] = r
}

func (w *world) school(name, region string) school.School {
	w.t.Helper()
	s, err := w.a.Schools.CreateSchool(w.ctx, w.sys, school.SchoolInput{Name: name, RegionID: w.regions[region].ID, Stage: "junior"})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) newPair(sup, sud school.School) pairing.Pair {
	w.t.Helper()
	p, err := w.a.Pairs.CreatePair(w.ctx, w.sys, pairing.PairInput{SupportingSchoolID: sup.ID, SupportedSchoolID: sud.ID,
		StartsOn: date.MustParse("2025-09-01"), EndsOn: date.MustParse("2027-08-31")})
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) user(key, name, role string, schoolID, regionID *int64, locale string) {
	w.t.Helper()
	u, err := w.a.Auth.CreateUser(w.ctx, w.sys, auth.UserInput{Name: name, Email: key + "@test.local", Password: "password-123",
		Role: role, SchoolID: schoolID, RegionID: regionID, Locale: locale})
	if err != nil {
		w.t.Fatal(err)
	}
	actor, err := w.a.Auth.ActorOf(w.ctx, u.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	w.users[key], w.actors[key] = u, actor
}

// agreement gives pair an agreement from from to 2027-08-31 and returns
// the ids of its commitments, in order.
func (w *world) agreement(pair pairing.Pair, from string, cs ...pairing.CommitmentInput) []int64 {
	w.t.Helper()
	ag, err := w.a.Pairs.CreateAgreement(w.ctx, w.sys, pair.ID, pairing.AgreementInput{Title: "帮扶协议",
		EffectiveFrom: date.MustParse(from), EffectiveTo: date.MustParse("2027-08-31"), Commitments: cs})
	if err != nil {
		w.t.Fatal(err)
	}
	ids := make([]int64, len(ag.Commitments))
	for i, c := range ag.Commitments {
		ids[i] = c.ID
	}
	return ids
}

// at moves the clock to 08:00 of day in Shanghai (the sweep's hour).
func (w *world) at(day string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", day+" 08:00", testutil.Shanghai())
	if err != nil {
		w.t.Fatal(err)
	}
	w.clock.Set(t)
	return t
}

// log records an activity by the coordinator who, on day (the clock is
// moved there first), that occurred on occurred.
func (w *world) log(who, day, cat, title, occurred string, hours float64) activity.Activity {
	w.t.Helper()
	w.at(day)
	h, err := decimal.FromFloat(hours)
	if err != nil {
		w.t.Fatal(err)
	}
	act, _, err := w.a.Activities.Log(w.ctx, w.actors[who], w.pair.ID, activity.Input{Category: cat, Title: title,
		OccurredOn: date.MustParse(occurred), Hours: &h}, "")
	if err != nil {
		w.t.Fatal(err)
	}
	return act
}

func (w *world) confirm(who string, id int64) {
	w.t.Helper()
	if _, err := w.a.Activities.Confirm(w.ctx, w.actors[who], id); err != nil {
		w.t.Fatal(err)
	}
}

// check runs `twinning check --at day` at 08:00 that day: the sweep, its
// record as a completed sweep, and delivery.
func (w *world) check(day string) notify.Result {
	w.t.Helper()
	now := w.at(day)
	res, err := w.a.Check(w.ctx, date.MustParse(day), now, false)
	if err != nil {
		w.t.Fatalf("check %s: %v", day, err)
	}
	return res
}

// ---------------------------------------------------------------------
// Reading what the sweeps left.

type noticeRow struct {
	ID        int64
	Kind      string
	DedupeKey string
	PeriodKey string
	AsOf      date.Date
}

// notices lists the notices of the given kinds (all when none), by key.
func (w *world) notices(kinds ...string) []noticeRow {
	w.t.Helper()
	q := w.db.Gorm().Table("notices").Select("id, kind, dedupe_key, period_key, as_of").Order("dedupe_key")
	if len(kinds) > 0 {
		q = q.Where("kind IN ?", kinds)
	}
	var out []noticeRow
	if err := q.Find(&out).Error; err != nil {
		w.t.Fatal(err)
	}
	return out
}

func (w *world) keys(kinds ...string) []string {
	w.t.Helper()
	var out []string
	for _, n := range w.notices(kinds...) {
		out = append(out, n.DedupeKey)
	}
	return out
}

// messages lists the outbox messages of kind (all when ""), by id.
func (w *world) messages(kind string) []mail.Message {
	w.t.Helper()
	q := w.db.Gorm().Model(&mail.Message{}).Order("id")
	if kind != "" {
		q = q.Where("kind = ?", kind)
	}
	var out []mail.Message
	if err := q.Find(&out).Error; err != nil {
		w.t.Fatal(err)
	}
	// the bodies the deliverer will send: a sweep stores its messages
	// without them (mail.Composer)
	ptrs := make([]*mail.Message, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	failed, err := w.a.Outbox.Compose(context.Background(), ptrs)
	if err != nil {
		w.t.Fatal(err)
	}
	for m, err := range failed {
		w.t.Errorf("message %d cannot be composed: %v", m.ID, err)
	}
	return out
}

// recipients names (by world user key) the recipients of messages, sorted.
func (w *world) recipients(msgs []mail.Message) []string {
	w.t.Helper()
	var out []string
	for _, m := range msgs {
		out = append(out, w.userKey(m))
	}
	sort.Strings(out)
	return out
}

func (w *world) userKey(m mail.Message) string {
	w.t.Helper()
	if m.RecipientUserID == nil {
		w.t.Fatalf("message %d has no recipient user", m.ID)
	}
	for k, u := range w.users {
		if u.ID == *m.RecipientUserID {
			if !strings.Contains(m.To, "<"+u.Email+">") {
				w.t.Fatalf("message %d to %q, but its recipient is %s", m.ID, m.To, u.Email)
			}
			return k
		}
	}
	w.t.Fatalf("message %d to an unknown user %d", m.ID, *m.RecipientUserID)
	return ""
}

// linked lists the dedupe keys of the notices message id carries, sorted.
func (w *world) linked(id int64) []string {
	w.t.Helper()
	var out []string
	if err := w.db.Gorm().Table("message_notices").Select("notices.dedupe_key").
		Joins("JOIN notices ON notices.id = message_notices.notice_id").
		Where("message_notices.message_id = ?", id).Order("notices.dedupe_key").Scan(&out).Error; err != nil {
		w.t.Fatal(err)
	}
	return out
}

func (w *world) count(table string) int64 {
	w.t.Helper()
	var n int64
	if err := w.db.Gorm().Table(table).Count(&n).Error; err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *world) breaches() []notify.Breach {
	w.t.Helper()
	var out []notify.Breach
	if err := w.db.Gorm().Order("commitment_id, period_key").Find(&out).Error; err != nil {
		w.t.Fatal(err)
	}
	return out
}

func sorted(xs ...string) []string {
	out := slices.Clone(xs)
	sort.Strings(out)
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func key(format string, args ...any) string { return fmt.Sprintf(format, args...) }
