// Package benchdata fills an empty, migrated database with a large,
// realistic twinning programme for benchmarks, sweeps and dashboards:
// one province, its cities and counties, supporting schools in the cities,
// supported schools in the counties, one agreement with six commitments
// per pair, and activity over two school years. Rows are written with
// multi-row INSERTs in transactions, not through the services, so half a
// million activities take seconds rather than hours. The same Options and
// seed always give the same rows.
package benchdata

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/category"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/pairing"
)

// The programme's fixed dates.
var (
	// PairStart and PairEnd are every pair's span and agreement's effective span.
	PairStart = date.New(2025, 9, 1)
	PairEnd   = date.New(2028, 8, 31)
	// ActivityFrom and ActivityTo bound occurred_on: two school years.
	ActivityFrom = date.New(2025, 9, 1)
	ActivityTo   = date.New(2027, 8, 31)
)

// Options size the programme. Zero values take the defaults.
type Options struct {
	Pairs           int    // default 10000
	Activities      int    // default 500000
	Seed            uint64 // default 1
	Cities          int    // default 10
	CountiesPerCity int    // default 10
	PairsPerSupport int    // pairs per supporting school, default 10
	Password        string // every user's password, default DefaultPassword
	BcryptCost      int    // default 4 (bcrypt's minimum: fast logins, never for production)
	Batch           int    // rows per INSERT, default 1000
	TxRows          int    // rows per transaction, default 20000
	Timezone        string // the programme's, for logged_at → logged_on; default Asia/Shanghai
	GraceDays       int    // only to report how many activities were logged too late; default 7
	Log             io.Writer

	// Derive, when set, runs after the rows are in, to fill read models
	// that the services keep in step with activity but a bulk load
	// bypasses, e.g. compliance.Ledger.RebuildAll for period_totals.
	// Derived names the tables it fills: they must start empty, and they
	// are analysed and counted with the others.
	Derive  func(ctx context.Context) error
	Derived []string
}

// DefaultPassword is every generated user's password unless Options says otherwise.
const DefaultPassword = "bench-password-2025"

func (o *Options) defaults() error {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Pairs, 10000)
	def(&o.Cities, 10)
	def(&o.CountiesPerCity, 10)
	def(&o.PairsPerSupport, 10)
	def(&o.BcryptCost, 4)
	def(&o.Batch, 1000)
	def(&o.TxRows, 20000)
	def(&o.GraceDays, 7)
	if o.Activities < 0 {
		return fmt.Errorf("benchdata: activities must not be negative")
	}
	if o.Activities == 0 {
		o.Activities = 500000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Password == "" {
		o.Password = DefaultPassword
	}
	if o.Timezone == "" {
		o.Timezone = "Asia/Shanghai"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// Phase is one timed step of Generate.
type Phase struct {
	Name     string
	Rows     int
	Duration time.Duration
}

// Count is the row count of one table after generation.
type Count struct {
	Table string
	Rows  int64
}

// Result reports what Generate wrote.
type Result struct {
	Phases   []Phase
	Counts   []Count
	Total    time.Duration
	Password string
	// Sample logins, one per role.
	Logins map[string]string
	// Activity statistics.
	ByStatus  map[string]int
	LateLogs  int // logged more than GraceDays after occurred_on
	GraceDays int
}

// Regions and users follow fixed id and e-mail schemes, so that benchmarks
// can find them without a lookup table:
//
//	region 1 is the province; cities are 2..1+Cities; the counties of city c
//	(1-based) follow all cities, CountiesPerCity each, in city order.
//	bureau.p@bench.twinning.test        province bureau
//	bureau.c03@bench.twinning.test      bureau of city 3
//	bureau.c03.k07@bench.twinning.test  bureau of county 7 of city 3
//	coord.s<school id>@..., principal.s<school id>@...
//	admin@bench.twinning.test
const Domain = "bench.twinning.test"

// CountyBureauEmail is the login of the bureau of county k (1-based) of
// city c (1-based).
func CountyBureauEmail(c, k int) string { return fmt.Sprintf("bureau.c%02d.k%02d@%s", c, k, Domain) }

// CityBureauEmail is the login of the bureau of city c (1-based).
func CityBureauEmail(c int) string { return fmt.Sprintf("bureau.c%02d@%s", c, Domain) }

// ProvinceBureauEmail is the login of the province bureau.
func ProvinceBureauEmail() string { return "bureau.p@" + Domain }

// tables in the order they are filled (and checked empty).
var tables = []string{"regions", "schools", "users", "terms", "pairs", "agreements", "commitments", "commitment_categories", "activities"}

// Generate fills db, which must be migrated and empty. It writes the base
// tables only; read models derived from them (period_totals) are filled by
// Options.Derive, typically the app's Ledger.RebuildAll.
func Generate(ctx context.Context, db *database.DB, opt Options) (Result, error) {
	if err := opt.defaults(); err != nil {
		return Result{}, err
	}
	loc, err := time.LoadLocation(opt.Timezone)
	if err != nil {
		return Result{}, fmt.Errorf("benchdata: timezone: %w", err)
	}
	for _, t := range slices.Concat(tables, opt.Derived, []string{"evidence", "audit_log"}) {
		n, err := count(ctx, db, t)
		if err != nil {
			return Result{}, fmt.Errorf("benchdata: is the database migrated? %w", err)
		}
		if n > 0 {
			return Result{}, fmt.Errorf("benchdata: table %s already has %d rows; generate into an empty, migrated database", t, n)
		}
	}
	start := time.Now()
	g := newGen(opt, loc)
	res := Result{Password: opt.Password, Logins: map[string]string{}, GraceDays: opt.GraceDays}
	logf := func(format string, args ...any) { fmt.Fprintf(opt.Log, format+"\n", args...) }

	phase := func(name string, rows int, run func() (time.Duration, error)) error {
		d, err := run()
		if err != nil {
			return err
		}
		res.Phases = append(res.Phases, Phase{Name: name, Rows: rows, Duration: d})
		if rows == 0 {
			logf("  %-22s %14s  %8s", name, "", d.Round(time.Millisecond))
		} else {
			logf("  %-22s %9d rows  %8s  (%.0f rows/s)", name, rows, d.Round(time.Millisecond), float64(rows)/max(d.Seconds(), 1e-9))
		}
		return nil
	}
	b := func(table string, cols ...string) *bulk { return newBulk(db, table, cols, opt.Batch, opt.TxRows) }

	t0 := time.Now()
	hash, err := auth.Hasher{Cost: opt.BcryptCost}.Hash(opt.Password)
	if err != nil {
		return res, err
	}
	g.plan()
	res.Phases = append(res.Phases, Phase{Name: "plan (in memory)", Rows: len(g.acts), Duration: time.Since(t0)})
	logf("  %-22s %9d activities planned  %8s", "plan (in memory)", len(g.acts), time.Since(t0).Round(time.Millisecond))

	steps := []struct {
		name  string
		rows  int
		table *bulk
		row   func(i int, dst []any) []any
	}{
		{"regions", len(g.regions), b("regions", "id", "name", "level", "parent_id", "path", "created_at", "updated_at"), g.regionRow},
		{"schools", len(g.schools), b("schools", "id", "name", "code", "region_id", "stage", "email", "created_at", "updated_at"), g.schoolRow},
		{"users", len(g.users), b("users", "id", "name", "email", "password_hash", "role", "school_id", "region_id", "locale", "active", "created_at", "updated_at"),
			func(i int, dst []any) []any { return g.userRow(i, dst, hash) }},
		{"terms", len(g.terms), b("terms", "id", "school_year", "season", "starts_on", "ends_on", "created_at", "updated_at"), g.termRow},
		{"pairs", len(g.pairs), b("pairs", "id", "supporting_school_id", "supported_school_id", "starts_on", "ends_on", "status", "round", "active_key", "created_at", "updated_at"), g.pairRow},
		{"agreements", len(g.pairs), b("agreements", "id", "pair_id", "title", "signed_on", "effective_from", "effective_to", "goals", "created_at", "updated_at"), g.agreementRow},
		{"commitments", len(g.commitments), b("commitments", "id", "agreement_id", "position", "measure", "minimum", "period", "description", "categories", "created_at"), g.commitmentRow},
		{"commitment_categories", len(g.links), b("commitment_categories", "commitment_id", "category"), g.linkRow},
		{"activities", len(g.acts), b("activities", "id", "pair_id", "category", "title", "occurred_on", "hours", "persons", "description", "location",
			"logged_by_user_id", "logged_by_school_id", "logged_at", "logged_on", "imported", "status", "decided_by_user_id", "decided_at",
			"dispute_reason", "created_at", "updated_at"), g.activityRow},
	}
	for _, s := range steps {
		if err := phase(s.name, s.rows, func() (time.Duration, error) { return s.table.insert(ctx, s.rows, s.row) }); err != nil {
			return res, err
		}
	}
	if opt.Derive != nil {
		if err := phase("read models", 0, func() (time.Duration, error) {
			t := time.Now()
			err := opt.Derive(ctx)
			return time.Since(t), err
		}); err != nil {
			return res, fmt.Errorf("benchdata: deriving read models: %w", err)
		}
	}
	details, _ := json.Marshal(map[string]any{"pairs": opt.Pairs, "activities": opt.Activities, "seed": opt.Seed})
	if err := db.Conn(ctx).Exec("INSERT INTO audit_log (at, action, entity, details, request_id, ip) VALUES (?, ?, ?, ?, '', '')",
		time.Now().UTC(), "benchdata.generate", "programme", string(details)).Error; err != nil {
		return res, err
	}
	all := slices.Concat(tables, opt.Derived)
	if db.Dialect() == database.MySQL {
		// A long-running server keeps InnoDB statistics current by itself
		// (innodb_stats_auto_recalc); after a bulk load they lag, so take
		// them now rather than benchmark plans made on stale estimates.
		if err := phase("analyze tables", 0, func() (time.Duration, error) {
			t := time.Now()
			err := db.Conn(ctx).Exec("ANALYZE TABLE " + strings.Join(all, ", ")).Error
			return time.Since(t), err
		}); err != nil {
			return res, err
		}
	}
	for _, t := range all {
		n, err := count(ctx, db, t)
		if err != nil {
			return res, err
		}
		res.Counts = append(res.Counts, Count{Table: t, Rows: n})
	}
	res.ByStatus = map[string]int{}
	for _, a := range g.acts {
		res.ByStatus[statuses[a.status]]++
		if int(a.delay) > opt.GraceDays {
			res.LateLogs++
		}
	}
	res.Logins = map[string]string{
		"admin":               "admin@" + Domain,
		"province bureau":     ProvinceBureauEmail(),
		"city bureau":         CityBureauEmail(1),
		"county bureau":       CountyBureauEmail(1, 1),
		"coordinator":         g.users[g.firstSchoolUser].email,
		"principal":           g.users[g.firstSchoolUser+1].email,
		"supported principal": g.users[len(g.users)-1].email,
	}
	res.Total = time.Since(start)
	return res, nil
}

// ---------------------------------------------------------------------------
// The plan: every row, computed in memory from the seed before any insert.

type region struct {
	id, parent int64
	name       string
	level      string
	path       string
}

type schoolRow struct {
	id, region int64
	name       string
	stage      string
}

type userRow struct {
	id             int64
	name, email    string
	role           string
	school, region int64
}

type pairRow struct {
	id                    int64
	supporting, supported int64 // school ids
	coordinator           int64 // user who logs (supporting coordinator)
	principal             int64 // user who confirms (supported principal)
	diligence             float64
}

type commitmentRow struct {
	id, agreement int64
	position      int
	tpl           *template
	minimum       float64
}

type linkRow struct {
	commitment int64
	category   string
}

// act is one planned activity, packed small: half a million of them live
// in memory at once.
type act struct {
	pair     int32
	day      int16 // occurred_on, days after ActivityFrom
	delay    uint8 // logged_on - occurred_on, in days
	minute   int16 // logged_at, minutes after 08:00 local
	decide   int16 // decided_at, hours after logged_at
	cat      uint8 // index into category.All()
	status   uint8 // index into statuses
	variant  uint8
	persons  int16
	halfHour int16 // hours × 2
}

var statuses = []string{"confirmed", "pending", "disputed", "withdrawn"}

// template is one kind of quota a pair may sign.
type template struct {
	categories []string
	measure    string
	minimum    [2]float64 // range, whole steps (half hours for hours)
	period     calendar.PeriodKind
	desc       string
}

// Each agreement takes one template from each slot: six commitments that
// mix every period kind (month, term, school_year, agreement) and every
// measure (count, hours, persons).
var slots = [6][]template{
	{
		{[]string{"visit"}, "count", [2]float64{1, 1}, calendar.Month, "每月至少一次实地指导"},
		{[]string{"visit"}, "count", [2]float64{2, 3}, calendar.TermPeriod, "每学期至少%g次到校实地指导"},
	},
	{
		{[]string{"management_exchange"}, "count", [2]float64{2, 3}, calendar.TermPeriod, "每学期至少%g次管理交流"},
		{[]string{"management_exchange", "shadow_learning"}, "count", [2]float64{3, 4}, calendar.SchoolYear, "每学年至少%g次管理交流或跟班学习"},
	},
	{
		{[]string{"teaching_support", "demonstration_lesson"}, "hours", [2]float64{8, 16}, calendar.TermPeriod, "每学期送教、示范课不少于%g课时"},
		{[]string{"demonstration_lesson"}, "hours", [2]float64{4, 8}, calendar.TermPeriod, "每学期示范课不少于%g课时"},
	},
	{
		{[]string{"secondment", "shadow_learning"}, "persons", [2]float64{1, 2}, calendar.SchoolYear, "每学年至少挂职或跟班学习%g人"},
		{[]string{"secondment"}, "persons", [2]float64{1, 1}, calendar.Agreement, "协议期内至少选派%g名干部挂职"},
	},
	{
		{[]string{"teacher_training", "mentoring", "lecture", "demonstration_lesson"}, "count", [2]float64{2, 3}, calendar.TermPeriod, "教师专业发展活动每学期至少%g次"},
		{[]string{"lecture", "teacher_training"}, "count", [2]float64{1, 1}, calendar.Month, "每月至少一次专题讲座或教师培训"},
	},
	{
		{[]string{"student_exchange", "campus_culture"}, "count", [2]float64{1, 2}, calendar.SchoolYear, "每学年至少%g次学生交流或校园文化活动"},
		{[]string{"resource_sharing", "donation"}, "count", [2]float64{3, 6}, calendar.Agreement, "协议期内资源共享或捐赠至少%g次"},
	},
}

// periodsInWindow is how many periods of a kind the activity window spans,
// to weigh categories by how much activity their quotas need.
var periodsInWindow = map[calendar.PeriodKind]float64{calendar.Month: 24, calendar.TermPeriod: 4, calendar.SchoolYear: 2, calendar.Agreement: 2.0 / 3}

type gen struct {
	opt         Options
	loc         *time.Location
	rnd         *rand.Rand
	cats        []string
	catIndex    map[string]uint8
	regions     []region
	schools     []schoolRow
	users       []userRow
	terms       []calendar.Term
	pairs       []pairRow
	commitments []commitmentRow
	links       []linkRow
	acts        []act

	firstSchoolUser int
	created         time.Time
}

func newGen(opt Options, loc *time.Location) *gen {
	g := &gen{opt: opt, loc: loc, rnd: rand.New(rand.NewPCG(opt.Seed, 0x7477696e6e696e67)), cats: category.All(), catIndex: map[string]uint8{}}
	for i, c := range g.cats {
		g.catIndex[c] = uint8(i)
	}
	g.created = time.Date(2025, 8, 20, 2, 0, 0, 0, time.UTC)
	return g
}

func (g *gen) plan() {
	g.planRegionsAndSchools()
	g.planTerms()
	g.planAgreements()
	g.planActivities()
}

func (g *gen) planRegionsAndSchools() {
	o := g.opt
	counties := o.Cities * o.CountiesPerCity
	g.regions = append(g.regions, region{id: 1, name: "示范省", level: "province", path: "/1/"})
	for c := 1; c <= o.Cities; c++ {
		id := int64(1 + c)
		g.regions = append(g.regions, region{id: id, parent: 1, name: fmt.Sprintf("第%02d市", c), level: "city", path: fmt.Sprintf("/1/%d/", id)})
	}
	countyID := func(c, k int) int64 { return int64(1 + o.Cities + (c-1)*o.CountiesPerCity + k) }
	for c := 1; c <= o.Cities; c++ {
		for k := 1; k <= o.CountiesPerCity; k++ {
			g.regions = append(g.regions, region{id: countyID(c, k), parent: int64(1 + c),
				name: fmt.Sprintf("第%02d市第%02d县", c, k), level: "county", path: fmt.Sprintf("/1/%d/%d/", 1+c, countyID(c, k))})
		}
	}

	// Pairs per county: as even as the total allows.
	perCounty := make([]int, counties)
	for i := range o.Pairs {
		perCounty[i%counties]++
	}
	// Supporting schools: in their city, each supporting PairsPerSupport
	// pairs spread over the city's counties.
	supportBase := make([]int64, o.Cities+1) // first supporting school id of city c
	nSupport := make([]int, o.Cities+1)
	var nextID int64 = 1
	stagesHigh := []string{"senior", "junior", "primary", "kindergarten", "twelve_year", "vocational"}
	for c := 1; c <= o.Cities; c++ {
		pairs := 0
		for k := 0; k < o.CountiesPerCity; k++ {
			pairs += perCounty[(c-1)*o.CountiesPerCity+k]
		}
		nSupport[c] = max(1, (pairs+o.PairsPerSupport-1)/o.PairsPerSupport)
		supportBase[c] = nextID
		for s := 1; s <= nSupport[c]; s++ {
			g.schools = append(g.schools, schoolRow{id: nextID, region: int64(1 + c), name: fmt.Sprintf("第%02d市实验学校%03d", c, s),
				stage: stagesHigh[g.rnd.IntN(len(stagesHigh))]})
			nextID++
		}
	}
	stagesLow := []string{"primary", "primary", "junior", "nine_year", "kindergarten", "senior"}
	var pairID int64 = 1
	for c := 1; c <= o.Cities; c++ {
		k := 0 // pair number within the city
		for ck := 1; ck <= o.CountiesPerCity; ck++ {
			for s := 1; s <= perCounty[(c-1)*o.CountiesPerCity+ck-1]; s++ {
				g.schools = append(g.schools, schoolRow{id: nextID, region: countyID(c, ck), name: fmt.Sprintf("第%02d市第%02d县第%03d学校", c, ck, s),
					stage: stagesLow[g.rnd.IntN(len(stagesLow))]})
				g.pairs = append(g.pairs, pairRow{id: pairID, supporting: supportBase[c] + int64(k%nSupport[c]), supported: nextID})
				nextID++
				pairID++
				k++
			}
		}
	}

	// Users: admin, bureaus (province, cities, counties), then a
	// coordinator and a principal per school.
	g.users = append(g.users, userRow{name: "系统管理员", email: "admin@" + Domain, role: "admin"})
	for _, r := range g.regions {
		var email string
		switch r.level {
		case "province":
			email = ProvinceBureauEmail()
		case "city":
			email = CityBureauEmail(int(r.id - 1))
		default:
			n := int(r.id) - 2 - o.Cities
			email = CountyBureauEmail(n/o.CountiesPerCity+1, n%o.CountiesPerCity+1)
		}
		g.users = append(g.users, userRow{name: r.name + "教育局", email: email, role: "bureau", region: r.id})
	}
	g.firstSchoolUser = len(g.users)
	for _, s := range g.schools {
		g.users = append(g.users,
			userRow{name: s.name + "联络员", email: fmt.Sprintf("coord.s%d@%s", s.id, Domain), role: "coordinator", school: s.id},
			userRow{name: s.name + "校长", email: fmt.Sprintf("principal.s%d@%s", s.id, Domain), role: "principal", school: s.id})
	}
	for i := range g.users {
		g.users[i].id = int64(i + 1)
	}
	// The coordinator and the principal of school s follow each other, in
	// school order, after the bureaus.
	coordinator := func(school int64) int64 { return int64(g.firstSchoolUser) + (school-1)*2 + 1 }
	for i := range g.pairs {
		p := &g.pairs[i]
		p.coordinator = coordinator(p.supporting)
		p.principal = coordinator(p.supported) + 1
	}
}

func (g *gen) planTerms() {
	id := int64(1)
	for y := 2025; y <= 2027; y++ {
		sy := fmt.Sprintf("%d-%d", y, y+1)
		g.terms = append(g.terms,
			calendar.Term{ID: id, SchoolYear: sy, Season: calendar.Autumn, StartsOn: date.New(y, 9, 1), EndsOn: date.New(y+1, 1, 31)},
			calendar.Term{ID: id + 1, SchoolYear: sy, Season: calendar.Spring, StartsOn: date.New(y+1, 2, 1), EndsOn: date.New(y+1, 8, 31)})
		id += 2
	}
}

func (g *gen) planAgreements() {
	var cid int64 = 1
	for i := range g.pairs {
		p := &g.pairs[i]
		for pos, slot := range slots {
			t := &slot[0]
			if g.rnd.Float64() < 0.35 {
				t = &slot[1]
			}
			lo, hi := t.minimum[0], t.minimum[1]
			minimum := lo + float64(g.rnd.IntN(int(hi-lo)+1))
			g.commitments = append(g.commitments, commitmentRow{id: cid, agreement: p.id, position: pos, tpl: t, minimum: minimum})
			for _, c := range t.categories {
				g.links = append(g.links, linkRow{commitment: cid, category: c})
			}
			cid++
		}
		// Diligence: most pairs do roughly what they signed, some far
		// more, some far less, a few almost nothing.
		switch r := g.rnd.Float64(); {
		case r < 0.04:
			p.diligence = 0.05 + 0.1*g.rnd.Float64()
		case r < 0.20:
			p.diligence = 0.3 + 0.4*g.rnd.Float64()
		case r < 0.85:
			p.diligence = 0.8 + 0.5*g.rnd.Float64()
		default:
			p.diligence = 1.3 + 0.7*g.rnd.Float64()
		}
	}
}

// dayWeight is how busy a day of the school calendar is: little happens in
// the summer and winter holidays.
func dayWeight(d date.Date) float64 {
	switch m := d.Month(); {
	case m == time.July || m == time.August:
		return 0.15
	case m == time.February && d.Day() < 20, m == time.January && d.Day() > 15:
		return 0.3
	case d.Time().Weekday() == time.Saturday || d.Time().Weekday() == time.Sunday:
		return 0.2
	}
	return 1
}

func (g *gen) planActivities() {
	o := g.opt
	// Cumulative day weights over the activity window.
	days := ActivityFrom.DaysUntil(ActivityTo) + 1
	cum := make([]float64, days)
	acc := 0.0
	for i := range days {
		acc += dayWeight(ActivityFrom.AddDays(i))
		cum[i] = acc
	}
	pickDay := func() int {
		x := g.rnd.Float64() * acc
		i, _ := slices.BinarySearchFunc(cum, x, func(c, x float64) int {
			if c < x {
				return -1
			}
			return 1
		})
		return min(i, days-1)
	}
	// Activities per pair in proportion to diligence, exactly o.Activities in all.
	sum := 0.0
	for _, p := range g.pairs {
		sum += p.diligence
	}
	counts := make([]int, len(g.pairs))
	given := 0
	for i, p := range g.pairs {
		counts[i] = int(float64(o.Activities) * p.diligence / sum)
		given += counts[i]
	}
	for i := 0; given < o.Activities; i = (i + 1) % len(counts) {
		counts[i]++
		given++
	}
	g.acts = make([]act, 0, o.Activities)
	hoursOf := map[string][2]int{ // half hours
		"teaching_support": {2, 12}, "demonstration_lesson": {2, 6}, "lecture": {2, 6}, "teacher_training": {2, 8}, "visit": {2, 8},
	}
	personsOf := map[string][2]int{"secondment": {1, 2}, "shadow_learning": {1, 4}, "student_exchange": {10, 40}, "teacher_training": {5, 30}, "campus_culture": {20, 80}}
	lastWeeks := days - 45
	for pi := range g.pairs {
		cs := g.commitments[pi*len(slots) : (pi+1)*len(slots)]
		// Weigh each commitment by the activities its quota needs.
		weights := make([]float64, len(cs))
		total := 0.0
		for i, c := range cs {
			per := 1.0
			switch c.tpl.measure {
			case "hours":
				per = 3
			case "persons":
				per = 1.5
			}
			weights[i] = c.minimum * periodsInWindow[c.tpl.period] / per
			total += weights[i]
		}
		for range counts[pi] {
			var cat string
			if g.rnd.Float64() < 0.1 {
				cat = g.cats[g.rnd.IntN(len(g.cats))]
			} else {
				x := g.rnd.Float64() * total
				ci := 0
				for ; ci < len(cs)-1 && x >= weights[ci]; ci++ {
					x -= weights[ci]
				}
				cc := cs[ci].tpl.categories
				cat = cc[g.rnd.IntN(len(cc))]
			}
			a := act{pair: int32(pi), day: int16(pickDay()), cat: g.catIndex[cat], variant: uint8(g.rnd.IntN(8)),
				minute: int16(g.rnd.IntN(14 * 60)), decide: int16(2 + g.rnd.IntN(7*24)), persons: 1}
			switch r := g.rnd.Float64(); {
			case r < 0.55:
				a.delay = 0
			case r < 0.75:
				a.delay = uint8(1 + g.rnd.IntN(2))
			case r < 0.88:
				a.delay = uint8(3 + g.rnd.IntN(3))
			case r < 0.95:
				a.delay = uint8(6 + g.rnd.IntN(2))
			default:
				a.delay = uint8(8 + g.rnd.IntN(3)) // past the grace period of a period ending that day
			}
			if h, ok := hoursOf[cat]; ok {
				a.halfHour = int16(h[0] + g.rnd.IntN(h[1]-h[0]+1))
			}
			if pr, ok := personsOf[cat]; ok {
				a.persons = int16(pr[0] + g.rnd.IntN(pr[1]-pr[0]+1))
			} else {
				a.persons = int16(1 + g.rnd.IntN(6))
			}
			r := g.rnd.Float64()
			switch {
			case int(a.day) >= lastWeeks && r < 0.35:
				a.status = 1 // recent: often still waiting for the principal
			case r < 0.87:
				a.status = 0
			case r < 0.92:
				a.status = 1
			case r < 0.96:
				a.status = 2
			default:
				a.status = 3
			}
			g.acts = append(g.acts, a)
		}
	}
	// Ids in the order the activities were logged, as a live system
	// assigns them: one pair's activities are spread over the whole table.
	slices.SortStableFunc(g.acts, func(x, y act) int {
		if d := (int(x.day) + int(x.delay)) - (int(y.day) + int(y.delay)); d != 0 {
			return d
		}
		return int(x.minute) - int(y.minute)
	})
}

// ---------------------------------------------------------------------------
// Rows, in the column order of the steps in Generate.

func (g *gen) regionRow(i int, dst []any) []any {
	r := g.regions[i]
	var parent any
	if r.parent != 0 {
		parent = r.parent
	}
	return append(dst, r.id, r.name, r.level, parent, r.path, g.created, g.created)
}

func (g *gen) schoolRow(i int, dst []any) []any {
	s := g.schools[i]
	return append(dst, s.id, s.name, fmt.Sprintf("4%09d", s.id), s.region, s.stage, fmt.Sprintf("office.s%d@%s", s.id, Domain), g.created, g.created)
}

func (g *gen) userRow(i int, dst []any, hash string) []any {
	u := g.users[i]
	var school, region any
	if u.school != 0 {
		school = u.school
	}
	if u.region != 0 {
		region = u.region
	}
	return append(dst, u.id, u.name, u.email, hash, u.role, school, region, "zh-CN", true, g.created, g.created)
}

func (g *gen) termRow(i int, dst []any) []any {
	t := g.terms[i]
	return append(dst, t.ID, t.SchoolYear, t.Season, t.StartsOn, t.EndsOn, g.created, g.created)
}

func (g *gen) pairRow(i int, dst []any) []any {
	p := g.pairs[i]
	return append(dst, p.id, p.supporting, p.supported, PairStart, PairEnd, "active", "第一轮",
		fmt.Sprintf("%d-%d", p.supporting, p.supported), g.created, g.created)
}

func (g *gen) agreementRow(i int, dst []any) []any {
	p := g.pairs[i]
	return append(dst, p.id, p.id, fmt.Sprintf("结对帮扶协议（%s—%s）", g.schools[p.supporting-1].name, g.schools[p.supported-1].name),
		date.New(2025, 8, 25), PairStart, PairEnd, "提升受援学校管理水平和教育教学质量，三年内形成稳定的校际合作机制。", g.created, g.created)
}

func (g *gen) commitmentRow(i int, dst []any) []any {
	c := g.commitments[i]
	desc := c.tpl.desc
	if strings.Contains(desc, "%g") {
		desc = fmt.Sprintf(desc, c.minimum)
	}
	// minimums are whole units (hours in halves would be too): stored as
	// exact hundredths
	return append(dst, c.id, c.agreement, c.position, c.tpl.measure, decimal.D(math.Round(c.minimum*decimal.Scale)), string(c.tpl.period), desc, pairing.CategoriesColumn(c.tpl.categories), g.created)
}

func (g *gen) linkRow(i int, dst []any) []any {
	l := g.links[i]
	return append(dst, l.commitment, l.category)
}

var labels = map[string]string{
	"visit": "实地指导", "management_exchange": "管理交流", "demonstration_lesson": "示范课", "lecture": "专题讲座",
	"teacher_training": "教师培训", "mentoring": "师徒结对", "teaching_support": "送教支教", "secondment": "挂职交流",
	"shadow_learning": "跟班学习", "student_exchange": "学生交流", "campus_culture": "校园文化", "resource_sharing": "资源共享",
	"donation": "捐赠", "other": "其他",
}

var descriptions = [8]string{
	"双方学校领导参加，围绕课堂教学常规和教研制度进行交流，形成改进清单。",
	"支援学校骨干教师到校上示范课并评课，受援学校教师全程观摩。",
	"就教学质量分析、作业设计和课后服务开展专题研讨。",
	"",
	"组织青年教师听课、磨课，师徒双方签订结对协议并制定学期计划。",
	"交流德育工作和班主任管理经验，参观校园文化建设。",
	"共享备课资源和校本课程材料，建立线上教研群。",
	"",
}

var disputeReasons = [3]string{"佐证材料不足，请补充照片和签到表", "日期与实际到校时间不符", "参加人数与记录不一致"}

func (g *gen) activityRow(i int, dst []any) []any {
	a := g.acts[i]
	p := g.pairs[a.pair]
	cat := g.cats[a.cat]
	occurred := ActivityFrom.AddDays(int(a.day))
	loggedDay := occurred.AddDays(int(a.delay))
	loggedAt := time.Date(loggedDay.Year(), loggedDay.Month(), loggedDay.Day(), 8, 0, 0, 0, g.loc).
		Add(time.Duration(a.minute) * time.Minute).UTC()
	status := statuses[a.status]
	var decidedBy, decidedAt any
	updated := loggedAt
	reason := ""
	if status == "confirmed" || status == "disputed" {
		t := loggedAt.Add(time.Duration(a.decide) * time.Hour)
		decidedBy, decidedAt, updated = p.principal, t, t
		if status == "disputed" {
			reason = disputeReasons[int(a.variant)%len(disputeReasons)]
		}
	}
	var desc any
	if d := descriptions[a.variant]; d != "" {
		desc = d
	}
	return append(dst, int64(i+1), p.id, cat, fmt.Sprintf("%s：%s", labels[cat], occurred.String()), occurred,
		decimal.D(a.halfHour)*decimal.Scale/2, int(a.persons), desc, g.schools[p.supported-1].name,
		p.coordinator, p.supporting, loggedAt, date.Of(loggedAt, g.loc), false, status, decidedBy, decidedAt,
		reason, loggedAt, updated)
}
