package circular_test

import (
	"context"
	"io"
	"log/slog"
	"mime"
	"net"
	netmail "net/mail"
	"sort"
	"strings"
	"sync"
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
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// A real SMTP server on 127.0.0.1 (github.com/emersion/go-smtp) that
// records what it accepts.
type smtpServer struct {
	Port int
	mu   sync.Mutex
	msgs []received
}

type received struct {
	To      []string
	Subject string
	Body    string
	Raw     string
}

type smtpSession struct {
	s  *smtpServer
	to []string
}

func (ss *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := netmail.ReadMessage(strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, received{To: ss.to, Subject: subj, Raw: string(b)})
	ss.s.mu.Unlock()
	return nil
}
func (ss *smtpSession) Reset()        { ss.to = nil }
func (ss *smtpSession) Logout() error { return nil }

type quietLog struct{}

func (quietLog) Printf(string, ...interface{}) {}
func (quietLog) Println(...interface{})        {}

func startSMTP(t testing.TB) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{Port: ln.Addr().(*net.TCPAddr).Port}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }))
	srv.Domain, srv.ReadTimeout, srv.WriteTimeout, srv.ErrorLog = "mx.test", 10*time.Second, 10*time.Second, quietLog{}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return s
}

// take returns and forgets what was received.
func (s *smtpServer) take() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.msgs
	s.msgs = nil
	return out
}

// rcpts lists the recipients of msgs, sorted.
func rcpts(msgs []received) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.To...)
	}
	sort.Strings(out)
	return out
}

// world:
//
//	province P (bureau.p)
//	├── city C
//	│   └── county X (bureau.x): 受援一小, 受援二小 (supported)
//	└── county Y: 支援一中 (supporting)
//
// Pairs 支援一中 → 受援一小 (2 management exchanges a term; one done) and
// 支援一中 → 受援二小 (a visit a month; none), from 2025-09-01.
type world struct {
	t     *testing.T
	ctx   context.Context
	db    *database.DB
	a     *app.App
	clock *testutil.Clock
	smtp  *smtpServer
	sys   auth.Actor

	regions            map[string]school.Region
	sup, sud1, sud2    school.School
	pair1, pair2       pairing.Pair
	actors             map[string]auth.Actor
	users              map[string]auth.User
	exchangeC, visitC  int64
	breachDay, dueDate string
}

func build(t *testing.T, db *database.DB) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), db: db, clock: testutil.NewClock(testutil.At("2025-08-20")), sys: auth.SystemActor(),
		regions: map[string]school.Region{}, actors: map[string]auth.Actor{}, users: map[string]auth.User{}}
	w.smtp = startSMTP(t)
	cfg := testutil.Config(t)
	cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS = "127.0.0.1", w.smtp.Port, mail.TLSNone
	cfg.SMTP.Timeout.Duration = 10 * time.Second
	a, err := app.New(w.ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{Now: w.clock.Now, BcryptCost: bcrypt.MinCost, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	w.a = a
	for _, term := range calendar.DefaultTerms(2025, 2026) {
		if _, err := a.Terms.CreateTerm(w.ctx, w.sys, calendar.TermInput{SchoolYear: term.SchoolYear, Season: term.Season, StartsOn: term.StartsOn, EndsOn: term.EndsOn}); err != nil {
			t.Fatal(err)
		}
	}
	w.region("P", "某省", school.Province, "")
	w.region("C", "某市", school.City, "P")
	w.region("X", "某县", school.County, "C")
	w.region("Y", "支援县", school.County, "P")
	w.sup = w.school("支援一中", "Y")
	w.sud1 = w.school("受援一小", "X")
	w.sud2 = w.school("受援二小", "X")
	w.pair1 = w.pair(w.sup, w.sud1)
	w.pair2 = w.pair(w.sup, w.sud2)
	w.user("sup.coord", auth.RoleCoordinator, &w.sup.ID, nil, "")
	w.user("sup.head", auth.RolePrincipal, &w.sup.ID, nil, "")
	w.user("sud1.coord", auth.RoleCoordinator, &w.sud1.ID, nil, "")
	w.user("sud1.head", auth.RolePrincipal, &w.sud1.ID, nil, auth.LocaleEN)
	w.user("sud2.coord", auth.RoleCoordinator, &w.sud2.ID, nil, "")
	w.user("sud2.head", auth.RolePrincipal, &w.sud2.ID, nil, "")
	rx, rp := w.regions["X"].ID, w.regions["P"].ID
	w.user("bureau.x", auth.RoleBureau, nil, &rx, "")
	w.user("bureau.p", auth.RoleBureau, nil, &rp, "")
	w.exchangeC = w.agreement(w.pair1, pairing.CommitmentInput{Categories: []string{"management_exchange"}, Measure: "count", Minimum: decimal.FromInt(2), Period: "term", Description: "每学期两次管理交流"})
	w.visitC = w.agreement(w.pair2, pairing.CommitmentInput{Categories: []string{"visit"}, Measure: "count", Minimum: decimal.FromInt(1), Period: "month", Description: "每月实地指导"})
	// one exchange, confirmed
	w.at("2025-10-10")
	var h decimal.D
	act, _, err := a.Activities.Log(w.ctx, w.actors["sup.coord"], w.pair1.ID, activity.Input{Category: "management_exchange", Title: "管理交流",
		OccurredOn: date.MustParse("2025-10-09"), Hours: &h}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Activities.Confirm(w.ctx, w.actors["sud1.head"], act.ID); err != nil {
		t.Fatal(err)
	}
	// the books of the autumn term and of January close on 2026-02-07
	w.check("2026-02-08")
	w.smtp.take()
	return w
}

func (w *world) region(key, name, level, parent string) {
	in := school.RegionInput{Name: name, Level: level}
	if parent != "" {
		id := w.regions[parent].ID
		in.ParentID = &id
	}
	r, err := w.a.Schools.CreateRegion(w.ctx, w.sys, in)
	if err != nil {
		w.t.Fatal(err)
	}
	w.regions[key] = r
}

func (w *world) school(name, region string) school.School {
	s, err := w.a.Schools.CreateSchool(w.ctx, w.sys, school.SchoolInput{Name: name, RegionID: w.regions[region].ID, Stage: "primary"})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) pair(sup, sud school.School) pairing.Pair {
	p, err := w.a.Pairs.CreatePair(w.ctx, w.sys, pairing.PairInput{SupportingSchoolID: sup.ID, SupportedSchoolID: sud.ID,
		StartsOn: date.MustParse("2025-09-01"), EndsOn: date.MustParse("2027-08-31")})
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) agreement(p pairing.Pair, c pairing.CommitmentInput) int64 {
	ag, err := w.a.Pairs.CreateAgreement(w.ctx, w.sys, p.ID, pairing.AgreementInput{Title: "帮扶协议",
		EffectiveFrom: date.MustParse("2025-09-01"), EffectiveTo: date.MustParse("2027-08-31"), Commitments: []pairing.CommitmentInput{c}})
	if err != nil {
		w.t.Fatal(err)
	}
	return ag.Commitments[0].ID
}

func (w *world) user(key, role string, schoolID, regionID *int64, locale string) {
	u, err := w.a.Auth.CreateUser(w.ctx, w.sys, auth.UserInput{Name: key, Email: key + "@test.local", Password: "password-123",
		Role: role, SchoolID: schoolID, RegionID: regionID, Locale: locale})
	if err != nil {
		w.t.Fatal(err)
	}
	a, err := w.a.Auth.ActorOf(w.ctx, u.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	w.users[key], w.actors[key] = u, a
}

// at moves the clock to 08:00 of day in Shanghai.
func (w *world) at(day string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", day+" 08:00", testutil.Shanghai())
	if err != nil {
		w.t.Fatal(err)
	}
	w.clock.Set(t)
	return t
}

// check runs the daily job of day: the compliance sweep, the
// rectification step and delivery.
func (w *world) check(day string) {
	w.t.Helper()
	if _, err := w.a.Check(w.ctx, date.MustParse(day), w.at(day), false); err != nil {
		w.t.Fatalf("check %s: %v", day, err)
	}
}

func (w *world) deliver() {
	w.t.Helper()
	if _, err := w.a.Deliverer.DeliverDue(w.ctx, w.clock.Now()); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) addr(keys ...string) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k+"@test.local")
	}
	sort.Strings(out)
	return out
}

func (w *world) count(table string, where string, args ...any) int64 {
	w.t.Helper()
	var n int64
	q := w.db.Gorm().Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		w.t.Fatal(err)
	}
	return n
}
