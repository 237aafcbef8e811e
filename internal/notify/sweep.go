// Package notify turns the state of the programme on a date D into notices
// (DESIGN §4): quota reminders, breach notices (recording Breaches),
// confirmation reminders and escalations, and weekly bureau digests. A
// sweep is a pure function of the data and D. It never talks to SMTP: in
// one transaction it inserts the notices (a unique dedupe key each, so a
// repeated or concurrent sweep finds them done) and the outbox messages
// that carry them.
package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/i18n"
	"github.com/twinning-platform/twinning/internal/mail"
)

// Notice is one thing that was (or is being) told, once ever per DedupeKey.
type Notice struct {
	ID           int64     `json:"id" gorm:"primaryKey"`
	Kind         string    `json:"kind"`
	DedupeKey    string    `json:"dedupe_key"`
	PairID       *int64    `json:"pair_id"`
	CommitmentID *int64    `json:"commitment_id"`
	ActivityID   *int64    `json:"activity_id"`
	UserID       *int64    `json:"user_id"`
	PeriodKey    string    `json:"period_key"`
	AsOf         date.Date `json:"as_of"`
	Details      string    `json:"-"`
	RunToken     string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
}

// Breach records a commitment not met in a closed period.
type Breach struct {
	ID           int64     `json:"id" gorm:"primaryKey"`
	PairID       int64     `json:"pair_id"`
	AgreementID  int64     `json:"agreement_id"`
	CommitmentID int64     `json:"commitment_id"`
	PeriodKey    string    `json:"period_key"`
	PeriodStart  date.Date `json:"period_start"`
	PeriodEnd    date.Date `json:"period_end"`
	Required     decimal.D `json:"required"`
	Achieved     decimal.D `json:"achieved"`
	Pending      decimal.D `json:"pending"`
	RecordedOn   date.Date `json:"recorded_on"`
	CreatedAt    time.Time `json:"created_at"`
}

// Config are the rules and addresses a sweep needs.
type Config struct {
	Rules               compliance.Rules
	ConfirmReminderDays []int
	ConfirmEscalateDays int
	BaseURL             string
}

// Sweeper runs sweeps and digests.
type Sweeper struct {
	db     *database.DB
	reader *compliance.Reader
	outbox *mail.Outbox
	render *Renderer
	cat    *i18n.Catalog
	cfg    Config
	robots RobotQueue // robots.go; nil: no robot posts
	// splitMin overrides the default splitMin (tests: split every sweep)
	splitMin int
	// everyoneMin overrides the active pairs from which the plan reads
	// every school's users (tests: every sweep)
	everyoneMin int
}

// NewSweeper wires the sweeper and registers its Composer with outbox.
func NewSweeper(db *database.DB, reader *compliance.Reader, outbox *mail.Outbox, render *Renderer, cat *i18n.Catalog, cfg Config) *Sweeper {
	s := &Sweeper{db: db, reader: reader, outbox: outbox, render: render, cat: cat, cfg: cfg}
	// the messages it queues without bodies are rendered at delivery
	outbox.SetComposer(composerName, s.Composer())
	return s
}

// Planned describes one message a sweep queued (or, dry, would queue).
type Planned struct {
	Kind    string   `json:"kind"`
	To      string   `json:"to"`
	Locale  string   `json:"locale"`
	PairID  int64    `json:"pair_id"`
	Subject string   `json:"subject"`
	Keys    []string `json:"dedupe_keys"`
}

// Result of a sweep.
type Result struct {
	AsOf     date.Date      `json:"as_of"`
	Since    date.Date      `json:"since"`
	Notices  map[string]int `json:"notices"`
	Breaches int            `json:"breaches"`
	Messages []Planned      `json:"messages"`
}

var errDryRun = errors.New("dry run: rolled back")

// Sweep evaluates the programme as of at and queues what is due. It looks
// at periods that are running or whose books closed since the last
// completed sweep (all of them on a first sweep); the dedupe keys keep it
// correct whatever it re-reads. With dryRun, everything is rolled back and
// the result tells what would have been queued.
//
// Inside a caller's transaction, or dry, the plan and its writes are one
// transaction. Otherwise the plan is read first (its halves beside each
// other, see beside) and then written in a transaction of its own, or in
// parts (splitMin): what is written never depended on the plan being read
// in the writing transaction — a notice another sweep inserted meanwhile
// is skipped by its dedupe key, as when two sweeps race.
func (s *Sweeper) Sweep(ctx context.Context, at date.Date, now time.Time, dryRun bool) (Result, error) {
	if dryRun || database.InTx(ctx) {
		return s.sweepWithin(ctx, at, now, dryRun)
	}
	p, err := s.plan(ctx, at)
	if err != nil {
		return Result{AsOf: at, Notices: map[string]int{}}, err
	}
	res := Result{AsOf: at, Since: p.since, Notices: map[string]int{}}
	if s.splits(p) {
		return s.writeParts(ctx, p, res, at, now)
	}
	var part Result
	err = s.db.WithTx(ctx, func(ctx context.Context) error {
		// a retried transaction counts only what its last, committed
		// attempt inserted
		var err error
		part, err = s.write(ctx, p.all(), at, now)
		return err
	})
	if err != nil {
		return Result{AsOf: at, Notices: map[string]int{}}, err
	}
	res.add(part)
	return res, nil
}

// sweepWithin plans and writes in one transaction (the caller's, if any),
// rolled back when dry.
func (s *Sweeper) sweepWithin(ctx context.Context, at date.Date, now time.Time, dryRun bool) (Result, error) {
	var res Result
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		// a fresh plan and result per attempt: a retried transaction
		// counts only what its last, committed attempt inserted
		p, err := s.plan(ctx, at)
		if err != nil {
			return err
		}
		res = Result{AsOf: at, Since: p.since, Notices: map[string]int{}}
		part, err := s.write(ctx, p.all(), at, now)
		if err != nil {
			return err
		}
		res.add(part)
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	if err != nil {
		// nothing was committed: nothing to report or count
		return Result{AsOf: at, Notices: map[string]int{}}, err
	}
	return res, nil
}

// A reminder day of a province writes tens of thousands of notices and
// messages: a single transaction leaves one of the database server's
// cores idle. From splitMin new notices on, a sweep writes its pairs in
// splitParts disjoint parts, each in a transaction of its own on its own
// connection, at the same time. Every notice commits with its messages,
// its breach and its agreement's decided_through — all of a pair are in
// one part —, so a part that fails leaves its pairs to the next sweep,
// exactly as a failed sweep does, and the dedupe keys keep a part that is
// retried from sending anything twice. Group robots get one post per part.
const (
	splitMin   = 4000
	splitParts = 2
)

// splits reports whether the plan is written in parts (never inside a
// caller's transaction, which one connection carries, nor dry: Sweep
// does not ask then).
func (s *Sweeper) splits(p plan) bool {
	least := splitMin
	if s.splitMin > 0 {
		least = s.splitMin
	}
	return len(p.cands) >= least
}

// everyoneFrom is the number of active pairs from which the plan reads
// every school's users.
func (s *Sweeper) everyoneFrom() int64 {
	if s.everyoneMin > 0 {
		return int64(s.everyoneMin)
	}
	return inList/2 + 1
}

// writeParts writes p in splitParts parts at once, adding what each part
// committed to res. A part that fails does not stop the others; its error
// is returned with what the others committed.
func (s *Sweeper) writeParts(ctx context.Context, p plan, res Result, at date.Date, now time.Time) (Result, error) {
	parts := p.parts(splitParts)
	type outcome struct {
		res Result
		err error
	}
	outs := make([]outcome, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// the parts write beside each other: READ COMMITTED, so the
			// UPDATE of one part's agreements does not lock the other's
			// (what a part reads needs no single instant: the plan is made)
			outs[i].err = s.db.WithTx(database.ReadCommitted(ctx), func(ctx context.Context) error {
				var err error
				outs[i].res, err = s.write(ctx, part, at, now)
				return err
			})
		}()
	}
	wg.Wait()
	var errs []error
	for _, o := range outs {
		if o.err != nil {
			errs = append(errs, o.err)
			continue
		}
		res.add(o.res)
	}
	return res, errors.Join(errs...)
}

// plan is what a sweep decided to write: the notices it wants that do not
// exist yet, the breaches they record, and the agreements it evaluated.
type plan struct {
	since    date.Date
	cands    []candidate
	breaches map[string]Breach
	decided  []decidedAgreement
	dir      *directory // the candidates' pairs and recipients
	// the quota candidates' pairs, as the evaluation read them: the
	// directory reads only the others'
	known map[int64]*pairInfo
}

type decidedAgreement struct{ pair, id int64 }

// plan reads the programme as of at: the quota notices and the
// confirmation notices beside each other (they read different tables and
// decide different notices), then who the messages go to.
func (s *Sweeper) plan(ctx context.Context, at date.Date) (plan, error) {
	var p plan
	var confirms []candidate
	quota := func(ctx context.Context) error {
		var err error
		if p.cands, p.breaches, p.decided, p.known, err = s.quotaCandidates(ctx, at); err != nil {
			return err
		}
		// the new ones only (insertNotices still skips a key another
		// sweep inserts meanwhile)
		p.cands, err = s.withoutExisting(ctx, p.cands, at)
		return err
	}
	confirm := func(ctx context.Context) error {
		var err error
		if p.since, err = s.lastCompleted(ctx, "sweep", at); err != nil {
			return err
		}
		if confirms, err = s.confirmCandidates(ctx, at, p.since); err != nil {
			return err
		}
		if confirms, err = s.withoutExisting(ctx, confirms, at); err != nil {
			return err
		}
		// with their activities described
		return s.describeActivities(ctx, confirms)
	}
	// A programme of more active pairs than half an IN list reads every
	// school's users for a reminder day's messages (loadDirectory): beside
	// the evaluation, which leaves a core to spare, rather than after it
	// (50k pairs: 107,000 users). An ordinary day's few messages do not
	// need them, but that read then costs a core that was idle.
	var everyone *people
	users := func(ctx context.Context) error {
		everyone = nil
		var active int64
		if err := s.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Table("pairs").
			Where("status = ?", "active").Count(&active).Error; err != nil || active < s.everyoneFrom() {
			return err
		}
		them, err := readPeople(ctx, s.db, nil)
		everyone = &them
		return err
	}
	if err := s.beside(ctx, quota, confirm, users); err != nil {
		return p, err
	}
	p.cands = append(p.cands, confirms...)
	// who the messages go to, read once for all parts (which only read it)
	if len(p.cands) > 0 {
		var err error
		if p.dir, err = loadDirectory(ctx, s.db, pairIDs(p.cands), p.known, everyone, s.beside); err != nil {
			return p, err
		}
	}
	return p, nil
}

// beside runs reads that need no single instant between them. On MySQL,
// outside a transaction, they run at once, each in a transaction of its
// own on its own connection: a reminder day's plan of a province is a
// second of reading and evaluating, and in one transaction the database
// server works while the evaluation waits, and the other way round — two
// of them use both cores. Otherwise (SQLite, which writes one at a time,
// or inside a transaction, which one connection carries) one after the
// other, in one transaction. A read that fails stops none of the others;
// the errors are joined. Each fn must set, not add to, what it returns:
// its transaction may be retried.
func (s *Sweeper) beside(ctx context.Context, fns ...func(ctx context.Context) error) error {
	if database.InTx(ctx) || s.db.Dialect() != database.MySQL || len(fns) < 2 {
		return s.db.WithTx(ctx, func(ctx context.Context) error {
			for _, fn := range fns {
				if err := fn(ctx); err != nil {
					return err
				}
			}
			return nil
		})
	}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.db.WithTx(ctx, fn)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// part is the share of a plan one transaction writes.
type part struct {
	cands    []candidate
	breaches map[string]Breach
	decided  []int64
	dir      *directory // shared by the parts, read-only
}

func (p plan) all() part {
	ids := make([]int64, len(p.decided))
	for i, d := range p.decided {
		ids[i] = d.id
	}
	return part{cands: p.cands, breaches: p.breaches, decided: ids, dir: p.dir}
}

// parts splits p by pair into n parts of about as many candidates each.
func (p plan) parts(n int) []part {
	count := map[int64]int{}
	for _, c := range p.cands {
		count[*c.notice.PairID]++
	}
	pairs := keysOf(count)
	slices.Sort(pairs)
	of := make(map[int64]int, len(pairs)) // pair → part
	seen := 0
	for _, id := range pairs {
		of[id] = min(n-1, seen*n/max(1, len(p.cands)))
		seen += count[id]
	}
	out := make([]part, n)
	for i := range out {
		out[i].breaches, out[i].dir = map[string]Breach{}, p.dir
	}
	for _, c := range p.cands {
		i := of[*c.notice.PairID]
		out[i].cands = append(out[i].cands, c)
		if b, ok := p.breaches[c.notice.DedupeKey]; ok {
			out[i].breaches[c.notice.DedupeKey] = b
		}
	}
	for _, d := range p.decided {
		// an agreement of a pair without candidates: any part will do,
		// once (spread by pair id)
		i, ok := of[d.pair]
		if !ok {
			i = int(d.pair % int64(n))
		}
		out[i].decided = append(out[i].decided, d.id)
	}
	return out
}

// write inserts the notices of pt (skipping any another sweep inserted
// meanwhile), their breaches and their messages, and marks pt's agreements
// decided, in the transaction of ctx.
func (s *Sweeper) write(ctx context.Context, pt part, at date.Date, now time.Time) (Result, error) {
	res := Result{Notices: map[string]int{}}
	fresh, err := s.insertNotices(ctx, pt.cands, at, now, newToken())
	if err != nil {
		return res, err
	}
	if res.Breaches, err = s.recordBreaches(ctx, pt.breaches, fresh, at, now); err != nil {
		return res, err
	}
	if err := s.markDecided(ctx, pt.decided, at); err != nil {
		return res, err
	}
	for _, n := range fresh {
		res.Notices[n.notice.Kind]++
	}
	msgs, err := s.compose(fresh, pt.dir)
	if err != nil {
		return res, err
	}
	if res.Messages, err = s.enqueue(ctx, msgs, now); err != nil {
		return res, err
	}
	return res, nil
}

// add counts what part committed into r.
func (r *Result) add(part Result) {
	for k, n := range part.Notices {
		r.Notices[k] += n
	}
	r.Breaches += part.Breaches
	r.Messages = append(r.Messages, part.Messages...)
	if r.Messages == nil {
		r.Messages = []Planned{}
	}
}

// lastCompleted is the as-of date of the latest finished run of job on or
// before at; zero when there is none.
func (s *Sweeper) lastCompleted(ctx context.Context, job string, at date.Date) (date.Date, error) {
	var d date.Date
	var rows []struct{ AsOf date.Date }
	err := s.db.Conn(ctx).Table("job_runs").Select("as_of").
		Where("job = ? AND status = ? AND as_of <= ?", job, "done", at).Order("as_of DESC").Limit(1).Find(&rows).Error
	if len(rows) > 0 {
		d = rows[0].AsOf
	}
	return d, err
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// candidate is a notice a sweep wants to exist.
type candidate struct {
	notice Notice
	line   lineSource
}

// lineSource keeps what a message line shows.
type lineSource struct {
	Item     *compliance.Item `json:"item,omitempty"`
	Activity *pendingActivity `json:"activity,omitempty"`
	Days     int              `json:"days,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// quotaCandidates evaluates the active pairs over the periods the sweep
// must look at and returns reminder and breach notices, the breach rows,
// keyed by their notice's dedupe key, and the agreements it decided.
func (s *Sweeper) quotaCandidates(ctx context.Context, at date.Date) (out []candidate, breaches map[string]Breach, decided []decidedAgreement, known map[int64]*pairInfo, err error) {
	// Only what can be due: a reminder is for a period with at most the
	// largest milestone left, a breach for one that has ended. Periods
	// ending later are neither loaded, graded nor read.
	maxRem := 0
	for _, m := range s.cfg.Rules.ReminderDays {
		maxRem = max(maxRem, m)
	}
	opt := compliance.Options{At: at, Mode: compliance.Undecided, EndsBy: at.AddDays(maxRem)}
	sc, err := s.reader.LoadDue(ctx, opt, "pairs.status = ?", "active")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// Per agreement: the running periods and those whose books closed
	// after the last sweep that evaluated it (all of them for an agreement
	// no sweep has seen: new, possibly backdated, whenever and on whatever
	// replica it was created). A pair paused and reactivated picks up where
	// its agreements were left.
	reports, err := s.reader.EvaluateScope(ctx, sc, opt)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// recorded as decided through at: the agreements for which that
	// changes what a later sweep evaluates (compliance.Decided)
	must := compliance.NewDecided(s.cfg.Rules, sc.Calendar, at)
	for _, ags := range sc.Agreements {
		for i := range ags {
			if must.MustRecord(&ags[i]) {
				decided = append(decided, decidedAgreement{pair: ags[i].PairID, id: ags[i].ID})
			}
		}
	}
	breaches = map[string]Breach{}
	for _, rep := range reports {
		for i := range rep.Items {
			it := rep.Items[i]
			switch {
			case it.Status == compliance.AtRisk && it.DaysLeft >= 0:
				m, ok := smallestAtLeast(s.cfg.Rules.ReminderDays, it.DaysLeft)
				if !ok {
					continue
				}
				key := fmt.Sprintf("reminder:%d:%s:%d", it.CommitmentID, it.PeriodKey, m)
				out = append(out, candidate{notice: Notice{Kind: KindReminder, DedupeKey: key, PairID: ptr(it.PairID), CommitmentID: ptr(it.CommitmentID), PeriodKey: it.PeriodKey}, line: lineSource{Item: &it}})
			case it.Status == compliance.Breached:
				// the status the rules computed (grace included), never a
				// second comparison of the numbers
				key := fmt.Sprintf("breach:%d:%s", it.CommitmentID, it.PeriodKey)
				out = append(out, candidate{notice: Notice{Kind: KindBreach, DedupeKey: key, PairID: ptr(it.PairID), CommitmentID: ptr(it.CommitmentID), PeriodKey: it.PeriodKey}, line: lineSource{Item: &it}})
				breaches[key] = Breach{PairID: it.PairID, AgreementID: it.AgreementID, CommitmentID: it.CommitmentID, PeriodKey: it.PeriodKey,
					PeriodStart: it.PeriodStart, PeriodEnd: it.PeriodEnd, Required: it.Required, Achieved: it.Achieved, Pending: it.Pending}
			}
		}
	}
	known, err = s.pairsOf(ctx, sc, out)
	return out, breaches, decided, known, err
}

// pairsOf is the directory's description of the pairs of cands, from the
// scope the evaluation read (plus the paths of their regions, one query):
// on a reminder day of a province they are twenty thousand pairs, which
// the directory would read again after the plan.
func (s *Sweeper) pairsOf(ctx context.Context, sc compliance.Scope, cands []candidate) (map[int64]*pairInfo, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	want := make(map[int64]bool, len(cands))
	for _, c := range cands {
		want[*c.notice.PairID] = true
	}
	out := make(map[int64]*pairInfo, len(want))
	regions := map[int64]string{}
	for i := range sc.Pairs {
		p := &sc.Pairs[i]
		if !want[p.ID] {
			continue
		}
		supported, supporting := sc.Regions(p.ID)
		regions[supported], regions[supporting] = "", ""
		out[p.ID] = &pairInfo{id: p.ID, supporting: p.SupportingSchoolID, supported: p.SupportedSchoolID,
			supportingName: p.SupportingSchoolName, supportedName: p.SupportedSchoolName}
	}
	paths, err := regionPaths(ctx, s.db, keysOf(regions))
	if err != nil {
		return nil, err
	}
	for id, p := range out {
		supported, supporting := sc.Regions(id)
		p.supportedPath, p.supportingPath = paths[supported], paths[supporting]
	}
	return out, nil
}

// markDecided records, in the sweep's transaction, that the agreements
// were evaluated as of at: their periods whose books closed before at are
// decided. It never moves a date back (a check --at an earlier day).
func (s *Sweeper) markDecided(ctx context.Context, ids []int64, at date.Date) error {
	slices.Sort(ids) // a fixed lock order for concurrent sweeps
	conn := s.db.Conn(ctx)
	for chunk := range slices.Chunk(ids, 5000) {
		if err := conn.Exec("UPDATE agreements SET decided_through = ? WHERE id IN ? AND (decided_through IS NULL OR decided_through < ?)",
			at, chunk, at).Error; err != nil {
			return err
		}
	}
	return nil
}

// smallestAtLeast is the smallest milestone m with v <= m: with 7 days
// left only the 7-day reminder is due, never a retroactive 30-day one.
func smallestAtLeast(ms []int, v int) (int, bool) {
	best, ok := 0, false
	for _, m := range ms {
		if v <= m && (!ok || m < best) {
			best, ok = m, true
		}
	}
	return best, ok
}

type pendingActivity struct {
	ID               int64     `json:"id"`
	PairID           int64     `json:"pair_id"`
	Title            string    `json:"title"`
	Category         string    `json:"category"`
	OccurredOn       date.Date `json:"occurred_on"`
	LoggedOn         date.Date `json:"logged_on"`
	LoggedBySchoolID int64     `json:"logged_by_school_id"`
}

// confirmCandidates finds activities pending long enough for a reminder
// to the counterpart principal (the largest milestone reached only) or an
// escalation to the responsible bureau.
func (s *Sweeper) confirmCandidates(ctx context.Context, at, since date.Date) ([]candidate, error) {
	first, last := s.cfg.ConfirmEscalateDays, s.cfg.ConfirmEscalateDays
	for _, d := range s.cfg.ConfirmReminderDays {
		first, last = min(first, d), max(last, d)
	}
	// Index columns only (idx_activities_status covers them). After a
	// completed sweep as of since, only two kinds of pending activity can
	// need a new notice: those that reached a milestone since (logged
	// within the last `last` days of the window), and older ones the last
	// sweep did not see pending (an amended dispute, a reactivated pair).
	// An older one is past every milestone, so the last sweep that saw it
	// pending escalated it: those without an escalation notice are the
	// ones to look at — found from the data, not from a wall-clock
	// updated_at compared with an as-of date. The first sweep looks at
	// every pending activity.
	base := func() *gorm.DB {
		return s.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Table("activities").
			Select("activities.id, activities.pair_id, activities.logged_on, activities.logged_by_school_id").
			Joins("JOIN pairs ON pairs.id = activities.pair_id AND pairs.status = ?", "active").
			Where("activities.status = ? AND activities.logged_on <= ?", "pending", at.AddDays(-first))
	}
	var acts []pendingActivity
	if since.IsZero() {
		if err := base().Order("activities.id").Find(&acts).Error; err != nil {
			return nil, err
		}
	} else {
		if err := base().Where("activities.logged_on > ?", since.AddDays(-last)).Find(&acts).Error; err != nil {
			return nil, err
		}
		var changed []pendingActivity
		if err := base().Where("activities.logged_on <= ?", since.AddDays(-last)).
			Where("NOT EXISTS (SELECT 1 FROM notices WHERE notices.activity_id = activities.id AND notices.kind = ?)", KindEscalate).
			Find(&changed).Error; err != nil {
			return nil, err
		}
		seen := map[int64]bool{}
		for _, a := range acts {
			seen[a.ID] = true
		}
		for _, a := range changed {
			if !seen[a.ID] {
				acts = append(acts, a)
			}
		}
	}
	var out []candidate
	for i := range acts {
		a := &acts[i]
		days := a.LoggedOn.DaysUntil(at)
		if d, ok := largestAtMost(s.cfg.ConfirmReminderDays, days); ok {
			out = append(out, candidate{notice: Notice{Kind: KindConfirm, DedupeKey: fmt.Sprintf("confirm:%d:%d", a.ID, d), PairID: ptr(a.PairID), ActivityID: ptr(a.ID)},
				line: lineSource{Activity: a, Days: days}})
		}
		if days >= s.cfg.ConfirmEscalateDays {
			out = append(out, candidate{notice: Notice{Kind: KindEscalate, DedupeKey: fmt.Sprintf("confirm:%d:escalate", a.ID), PairID: ptr(a.PairID), ActivityID: ptr(a.ID)},
				line: lineSource{Activity: a, Days: days}})
		}
	}
	return out, nil
}

// largestAtMost is the largest milestone d with d <= v.
func largestAtMost(ds []int, v int) (int, bool) {
	best, ok := 0, false
	for _, d := range ds {
		if d <= v && (!ok || d > best) {
			best, ok = d, true
		}
	}
	return best, ok
}

// withoutExisting drops the candidates whose notice exists, reading only
// the notices that could hold their keys — so a daily sweep does not
// re-insert yesterday's tens of thousands of keys, and what it reads does
// not grow with the history:
//   - a reminder (c, p, m) is created when p has at most m days left, so
//     for a running period no earlier than at − m;
//   - a breach notice, by its period key;
//   - confirmation notices, by the (pending) activity.
//
// insertNotices still skips duplicates, for sweeps racing each other.
func (s *Sweeper) withoutExisting(ctx context.Context, cands []candidate, at date.Date) ([]candidate, error) {
	maxRem := 0
	for _, m := range s.cfg.Rules.ReminderDays {
		maxRem = max(maxRem, m)
	}
	periods, activities := map[string]bool{}, map[int64]bool{}
	var hasReminder bool
	for _, c := range cands {
		switch c.notice.Kind {
		case KindReminder:
			hasReminder = true
		case KindBreach:
			periods[c.notice.PeriodKey] = true
		case KindConfirm, KindEscalate:
			activities[*c.notice.ActivityID] = true
		}
	}
	conn := s.db.Conn(ctx)
	exists := map[string]bool{}
	collect := func(q *gorm.DB) error {
		var keys []string
		if err := q.Pluck("dedupe_key", &keys).Error; err != nil {
			return err
		}
		for _, k := range keys {
			exists[k] = true
		}
		return nil
	}
	fresh := func() *gorm.DB { return conn.Session(&gorm.Session{NewDB: true}).Table("notices") }
	if hasReminder {
		if err := collect(fresh().Where("kind = ? AND as_of >= ?", KindReminder, at.AddDays(-maxRem-1))); err != nil {
			return nil, err
		}
	}
	if len(periods) > 0 {
		if err := collect(fresh().Where("kind = ? AND period_key IN ?", KindBreach, keysOf(periods))); err != nil {
			return nil, err
		}
	}
	if len(activities) > 0 {
		ids := keysOf(activities)
		for lo := 0; lo < len(ids); lo += 5000 {
			if err := collect(fresh().Where("kind IN ? AND activity_id IN ?", []string{KindConfirm, KindEscalate}, ids[lo:min(lo+5000, len(ids))])); err != nil {
				return nil, err
			}
		}
	}
	out := cands[:0]
	for _, c := range cands {
		if !exists[c.notice.DedupeKey] {
			out = append(out, c)
		}
	}
	return out, nil
}

// describeActivities fills title, category and date of the activities of
// the (new) confirmation candidates, in one query.
func (s *Sweeper) describeActivities(ctx context.Context, cands []candidate) error {
	byID := map[int64][]*pendingActivity{}
	for _, c := range cands {
		if a := c.line.Activity; a != nil {
			byID[a.ID] = append(byID[a.ID], a)
		}
	}
	if len(byID) == 0 {
		return nil
	}
	var rows []pendingActivity
	if err := s.db.Conn(ctx).Table("activities").Select("id, title, category, occurred_on").
		Where("id IN ?", keysOf(byID)).Find(&rows).Error; err != nil {
		return err
	}
	for _, r := range rows {
		for _, a := range byID[r.ID] {
			a.Title, a.Category, a.OccurredOn = r.Title, r.Category, r.OccurredOn
		}
	}
	return nil
}

func keysOf[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// insertNotices inserts the candidates, skipping dedupe keys that exist,
// and returns exactly the ones this call inserted (their ids as the
// INSERT returns them; read back by token when a racing sweep had some).
// Statements are batched: their number grows with the candidates by the
// thousand, never one per pair.
func (s *Sweeper) insertNotices(ctx context.Context, cands []candidate, at date.Date, now time.Time, token string) ([]candidate, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	conn := s.db.Conn(ctx)
	byKey := make(map[string]candidate, len(cands))
	rows := make([]Notice, 0, len(cands))
	for _, c := range cands {
		if _, dup := byKey[c.notice.DedupeKey]; dup {
			continue
		}
		byKey[c.notice.DedupeKey] = c
		n := c.notice
		n.AsOf, n.RunToken, n.CreatedAt = at, token, now.UTC()
		details, err := json.Marshal(c.line)
		if err != nil {
			return nil, err
		}
		n.Details = string(details)
		rows = append(rows, n)
	}
	// the ids and keys only: the rest is what this call inserted
	type idKey struct {
		ID        int64
		DedupeKey string
	}
	inserted := make([]idKey, 0, len(rows))
	raced := false
	for chunk := range slices.Chunk(rows, noticeRows) {
		ids, err := s.db.IDs(ctx, noticeInsert(chunk), len(chunk))
		if database.IsDuplicate(err) {
			// a sweep racing this one inserted some of the keys (the
			// plan left out what existed): the others are inserted, and
			// told apart by the token
			raced = true
			err = insertNew(conn, chunk, len(chunk))
		}
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			inserted = append(inserted, idKey{id, chunk[i].DedupeKey})
		}
	}
	if raced {
		inserted = inserted[:0]
		if err := conn.Session(&gorm.Session{NewDB: true}).Table("notices").Select("id, dedupe_key").
			Where("run_token = ?", token).Order("id").Scan(&inserted).Error; err != nil {
			return nil, err
		}
	}
	out := make([]candidate, 0, len(inserted))
	for _, n := range inserted {
		c := byKey[n.DedupeKey]
		c.notice.ID = n.ID
		c.notice.AsOf, c.notice.RunToken, c.notice.CreatedAt = at, token, now.UTC()
		out = append(out, c)
	}
	return out, nil
}

// noticeInsert inserts rows, one statement (no reflection: a reminder day
// of a province is 25,000 notices).
func noticeInsert(rows []Notice) database.Insert {
	return database.Insert{Table: "notices",
		Columns: []string{"kind", "dedupe_key", "pair_id", "commitment_id", "activity_id", "user_id", "period_key", "as_of", "details", "run_token", "created_at"},
		Row: func(i int, a []any) []any {
			n := &rows[i]
			return append(a, n.Kind, n.DedupeKey, n.PairID, n.CommitmentID, n.ActivityID, n.UserID, n.PeriodKey, n.AsOf, n.Details, n.RunToken, n.CreatedAt)
		}}
}

// recordBreaches writes a Breach for every new breach notice.
func (s *Sweeper) recordBreaches(ctx context.Context, all map[string]Breach, fresh []candidate, at date.Date, now time.Time) (int, error) {
	var rows []Breach
	for _, c := range fresh {
		if b, ok := all[c.notice.DedupeKey]; ok && c.notice.Kind == KindBreach {
			b.RecordedOn, b.CreatedAt = at, now.UTC()
			rows = append(rows, b)
		}
	}
	if len(rows) == 0 {
		return 0, nil
	}
	return len(rows), insertNew(s.db.Conn(ctx), rows, noticeRows)
}

// insertNew inserts rows, per statements of n, skipping those whose unique
// key exists. It tries a plain INSERT first and only a statement that hits
// a duplicate (a sweep racing this one: the plan left out what existed)
// is repeated as INSERT … ON DUPLICATE KEY UPDATE. That form checks
// uniqueness under an exclusive next-key lock on the index record after
// each key, held to the commit: the parts of a reminder day, whose
// dedupe keys interleave in the index, then waited for each other — the
// second part's notices took as long as the whole first part (50k: 1.2 s
// instead of 0.35 s). A plain INSERT takes no such lock. A failed
// statement is undone alone; the transaction goes on.
func insertNew[T any](conn *gorm.DB, rows []T, n int) error {
	for chunk := range slices.Chunk(rows, n) {
		err := conn.Create(&chunk).Error
		if database.IsDuplicate(err) {
			err = conn.Clauses(clause.OnConflict{DoNothing: true}).Create(&chunk).Error
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// outgoing is one message being built, before rendering.
type outgoing struct {
	kind      string
	pair      *pairInfo // nil for a digest
	recipient recipient
	copy      bool
	notices   []candidate
	data      *Data // prebuilt (digests); otherwise built from the notices
	group     int   // the group of notices it carries (compose); -1 for a digest
}

// compose groups new notices into one message per recipient, pair and
// kind.
func (s *Sweeper) compose(fresh []candidate, dir *directory) ([]*outgoing, error) {
	if len(fresh) == 0 {
		return nil, nil
	}
	type groupKey struct {
		kind   string
		pair   int64
		school int64 // for confirmation reminders: the school that must confirm
	}
	groups := map[groupKey][]candidate{}
	var order []groupKey
	for _, c := range fresh {
		k := groupKey{kind: c.notice.Kind, pair: *c.notice.PairID}
		if c.notice.Kind == KindConfirm {
			if p := dir.pairs[k.pair]; p != nil {
				k.school = p.counterpart(c.line.Activity.LoggedBySchoolID)
			}
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], c)
	}
	var out []*outgoing
	for gi, k := range order {
		p := dir.pairs[k.pair]
		if p == nil {
			continue
		}
		add := func(rs []recipient, copy bool) {
			for _, r := range rs {
				out = append(out, &outgoing{kind: k.kind, pair: p, recipient: r, copy: copy, notices: groups[k], group: gi})
			}
		}
		switch k.kind {
		case KindReminder:
			add(dir.schoolUsers(p.supporting, "coordinator", "principal"), false)
			add(dir.schoolUsers(p.supported, "principal"), true)
		case KindBreach:
			add(uniq(dir.schoolUsers(p.supporting, "coordinator", "principal"), dir.schoolUsers(p.supported, "coordinator", "principal"), dir.responsibleBureau(p)), false)
		case KindConfirm:
			add(dir.schoolUsers(k.school, "principal"), false)
		case KindEscalate:
			add(dir.responsibleBureau(p), false)
		}
	}
	return out, nil
}

func pairIDs(cs []candidate) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, c := range cs {
		if c.notice.PairID != nil && !seen[*c.notice.PairID] {
			seen[*c.notice.PairID] = true
			out = append(out, *c.notice.PairID)
		}
	}
	return out
}

// enqueue queues a message for every outgoing in the outbox and links each
// to its notices. A digest is rendered here; the messages of notices are
// stored with their subject but without bodies: the deliverer has the
// Composer render them from the notices when it sends them (composer
// "notice", "notice:copy" for the supported principal's copy of a
// reminder). A reminder day's thousands of messages thus cost the sweep a
// small row each, and one subject per group of recipients.
func (s *Sweeper) enqueue(ctx context.Context, outs []*outgoing, now time.Time) ([]Planned, error) {
	if len(outs) == 0 {
		return []Planned{}, nil
	}
	msgs := make([]*mail.Message, len(outs))
	planned := make([]Planned, len(outs))
	type subjectKey struct {
		group  int
		locale string
		copy   bool
	}
	subjects := map[subjectKey]string{}
	// a recipient of several messages, a group of several recipients:
	// the address and the keys once each
	addrs := map[int64]string{}
	keysOf := map[int][]string{}
	for i, o := range outs {
		uid := o.recipient.ID
		var pairID *int64
		var pid int64
		if o.pair != nil {
			pid = o.pair.id
			pairID = &pid
		}
		loc := o.recipient.locale()
		to, ok := addrs[uid]
		if !ok {
			to = o.recipient.address()
			addrs[uid] = to
		}
		m := &mail.Message{Kind: o.kind, PairID: pairID, RecipientUserID: &uid, To: to, Locale: loc}
		if o.data != nil || o.group < 0 {
			r, err := s.render.Render(o.kind, loc, o.data)
			if err != nil {
				return nil, err
			}
			m.Subject, m.BodyText, m.BodyHTML = r.Subject, r.Text, r.HTML
		} else {
			k := subjectKey{o.group, loc, o.copy}
			subject, ok := subjects[k]
			if !ok {
				// the subject names the pair and counts the lines: the
				// lines themselves are the composer's to write
				d := &Data{Copy: o.copy, Pair: s.pairRef(o.pair), Lines: make([]Line, len(o.notices))}
				var err error
				if subject, err = s.render.Subject(o.kind, loc, d); err != nil {
					return nil, err
				}
				subjects[k] = subject
			}
			m.Subject, m.Composer = subject, composerName
			if o.copy {
				m.Composer = composerName + ":" + composerCopy
			}
		}
		msgs[i] = m
		keys, ok := keysOf[o.group]
		if !ok || o.group < 0 {
			keys = make([]string, len(o.notices))
			for j, c := range o.notices {
				keys[j] = c.notice.DedupeKey
			}
			keysOf[o.group] = keys
		}
		planned[i] = Planned{Kind: o.kind, To: o.recipient.Email, Locale: loc, PairID: pid, Subject: m.Subject, Keys: keys}
	}
	// one user's unusable address must not hold back the sweep or anyone
	// else's mail: that message fails at delivery, with its reason
	if err := s.outbox.EnqueueTolerant(ctx, msgs, now); err != nil {
		return nil, err
	}
	var links [][2]int64
	for i, o := range outs {
		for _, c := range o.notices {
			links = append(links, [2]int64{msgs[i].ID, c.notice.ID})
		}
	}
	for chunk := range slices.Chunk(links, linkRows) {
		if err := s.db.Exec(ctx, database.Insert{Table: "message_notices", Columns: []string{"message_id", "notice_id"},
			Row: func(i int, a []any) []any { return append(a, chunk[i][0], chunk[i][1]) }}, len(chunk)); err != nil {
			return nil, err
		}
	}
	if err := s.postRobots(ctx, outs, now); err != nil {
		return nil, err
	}
	return planned, nil
}

// Rows per multi-row INSERT of the sweep's own tables: the statements of a
// sweep grow by one per this many notices, breaches or links (the outbox
// has its own bounds, mail.Outbox.Enqueue), never one per pair or message.
const (
	noticeRows = 2000
	linkRows   = 5000
)

// data builds the template data of one message.
func (s *Sweeper) data(o *outgoing) *Data {
	loc := o.recipient.locale()
	d := &Data{Recipient: o.recipient.Name, Copy: o.copy, Pair: s.pairRef(o.pair),
		AsOf: o.notices[0].notice.AsOf.String(), Footer: s.footer(loc)}
	for _, c := range o.notices {
		d.Lines = append(d.Lines, s.line(loc, c.line))
	}
	return d
}

func (s *Sweeper) pairRef(p *pairInfo) PairRef {
	return PairRef{ID: p.id, Supporting: p.supportingName, Supported: p.supportedName,
		URL: fmt.Sprintf("%s/pairs/%d", strings.TrimRight(s.cfg.BaseURL, "/"), p.id)}
}

func (s *Sweeper) footer(loc string) string {
	if loc == "en" {
		return "Sent by the school twinning platform. You receive this because of your role in this pair."
	}
	return "本邮件由结对帮扶平台自动发送。您因在该结对中的职务收到此邮件。"
}

// line renders one notice's line in loc.
func (s *Sweeper) line(loc string, src lineSource) Line {
	t := func(id string) string { return s.cat.T(loc, id, nil) }
	l := Line{PeriodLabel: label(loc, "周期", "period"), RequiredLabel: label(loc, "要求", "required"),
		AchievedLabel: label(loc, "已确认", "confirmed"), PendingLabel: label(loc, "待确认", "pending"),
		DaysLeftLabel: label(loc, "剩余天数", "days left")}
	if it := src.Item; it != nil {
		l.Commitment = s.commitmentWords(loc, it)
		l.Description = it.Description
		l.Period = it.PeriodKey
		l.Required, l.Achieved, l.Pending = number(it.Required), number(it.Achieved), number(it.Pending)
		l.DaysLeft, l.ShowDaysLeft = it.DaysLeft, it.DaysLeft >= 0
		l.Status = t("status." + string(it.Status))
	}
	if a := src.Activity; a != nil {
		l.Title, l.Category = a.Title, t("category."+a.Category)
		l.OccurredOn, l.LoggedOn, l.DaysPending = a.OccurredOn.String(), a.LoggedOn.String(), src.Days
	}
	return l
}

func label(loc, zh, en string) string {
	if loc == "en" {
		return en
	}
	return zh
}

// commitmentWords says a commitment in words: "每学期至少 2 次：示范课、专题讲座".
func (s *Sweeper) commitmentWords(loc string, it *compliance.Item) string {
	cats := make([]string, len(it.Categories))
	for i, c := range it.Categories {
		cats[i] = s.cat.T(loc, "category."+c, nil)
	}
	minimum := it.Minimum
	return s.cat.T(loc, "commitment.words", map[string]any{
		"Minimum":    number(minimum),
		"Unit":       s.cat.T(loc, "unit."+it.Measure, nil),
		"Period":     s.cat.T(loc, "period."+string(it.Period), nil),
		"Categories": strings.Join(cats, s.cat.T(loc, "list.separator", nil)),
	})
}
