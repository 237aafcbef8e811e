package compliance

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"sort"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/pairing"
)

// Ledger keeps the read model period_totals in step with the activities:
// every transition moves its contribution in the caller's transaction, so a
// dashboard or a sweep reads a few rows per commitment instead of the whole
// history. RebuildAll recomputes it from scratch and is the reference.
type Ledger struct {
	db    *database.DB
	rules Rules
	extra []ReadModelTable // built and swapped with period_totals by RebuildAll
	// statusBatch overrides defaultStatusBatch (tests: a batch per pair)
	statusBatch int64
}

// NewLedger wires the ledger.
func NewLedger(db *database.DB, rules Rules) *Ledger { return &Ledger{db: db, rules: rules} }

type totalRow struct {
	CommitmentID int64
	PeriodKey    string
	PairID       int64
	PeriodStart  date.Date
	PeriodEnd    date.Date
	Achieved     decimal.D
	Pending      decimal.D
}

func (totalRow) TableName() string { return "period_totals" }

// Move replaces the contribution of before by that of after (either may be
// nil) for one pair, e.g. pending → confirmed on confirmation.
func (l *Ledger) Move(ctx context.Context, pairID int64, before, after *Fact) error {
	if before == nil && after == nil {
		return nil
	}
	ags, cal, err := l.agreementsOf(ctx, pairID)
	if err != nil || len(ags) == 0 {
		return err
	}
	delta := map[TotalKey]*totalRow{}
	x := newContributor(l.rules, cal)
	add := func(f *Fact, sign int64) {
		if f == nil {
			return
		}
		x.each(ags, *f, func(c Contribution) {
			k := TotalKey{c.CommitmentID, c.Period.Key}
			r := delta[k]
			if r == nil {
				r = &totalRow{CommitmentID: c.CommitmentID, PeriodKey: c.Period.Key, PairID: c.PairID, PeriodStart: c.Period.Start, PeriodEnd: c.Period.End}
				delta[k] = r
			}
			r.Achieved += decimal.D(sign) * c.Achieved // sign is ±1: a plain integer factor
			r.Pending += decimal.D(sign) * c.Pending
		})
	}
	add(before, -1)
	add(after, +1)
	keys := make([]TotalKey, 0, len(delta))
	for k, r := range delta {
		if r.Achieved != 0 || r.Pending != 0 {
			keys = append(keys, k)
		}
	}
	// a fixed order keeps two concurrent transactions from deadlocking
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].CommitmentID != keys[j].CommitmentID {
			return keys[i].CommitmentID < keys[j].CommitmentID
		}
		return keys[i].PeriodKey < keys[j].PeriodKey
	})
	// the status read model moves with the achieved sums only (a pending
	// sum never changes a grade): out with the old sums, in with the new
	var achieved []TotalKey
	for _, k := range keys {
		if delta[k].Achieved != 0 {
			achieved = append(achieved, k)
		}
	}
	conn := l.db.Conn(ctx)
	// lock the totals rows about to move first, in key order (a zero
	// upsert: an X lock, the row created if missing): moveSums reads them
	// in an INSERT … SELECT, which on InnoDB takes shared locks, and two
	// confirmations on one pair would otherwise both hold the shared lock
	// and both wait to upgrade it — a deadlock on every busy pair
	for _, k := range achieved {
		r := delta[k]
		if err := conn.Exec(l.upsertSQL(), r.CommitmentID, r.PeriodKey, r.PairID, r.PeriodStart, r.PeriodEnd, decimal.D(0), decimal.D(0)).Error; err != nil {
			return err
		}
	}
	if err := l.moveSums(ctx, pairID, achieved, -1); err != nil {
		return err
	}
	for _, k := range keys {
		r := delta[k]
		if err := conn.Exec(l.upsertSQL(), r.CommitmentID, r.PeriodKey, r.PairID, r.PeriodStart, r.PeriodEnd, r.Achieved, r.Pending).Error; err != nil {
			return err
		}
	}
	return l.moveSums(ctx, pairID, achieved, +1)
}

func (l *Ledger) upsertSQL() string {
	const ins = "INSERT INTO period_totals (commitment_id, period_key, pair_id, period_start, period_end, achieved, pending) VALUES (?, ?, ?, ?, ?, ?, ?) "
	if l.db.Dialect() == database.MySQL {
		return ins + "ON DUPLICATE KEY UPDATE achieved = achieved + VALUES(achieved), pending = pending + VALUES(pending)"
	}
	return ins + "ON CONFLICT (commitment_id, period_key) DO UPDATE SET achieved = achieved + excluded.achieved, pending = pending + excluded.pending"
}

// agreementsOf loads one pair's agreements with commitments and the calendar.
func (l *Ledger) agreementsOf(ctx context.Context, pairID int64) ([]Agreement, calendar.Calendar, error) {
	conn := l.db.Conn(ctx)
	var raw []pairing.Agreement
	if err := conn.Session(&gorm.Session{NewDB: true}).Table("agreements").Where("pair_id = ?", pairID).Find(&raw).Error; err != nil {
		return nil, calendar.Calendar{}, err
	}
	if len(raw) == 0 {
		return nil, calendar.Calendar{}, nil
	}
	cs, err := pairing.LoadCommitments(conn, "commitments.agreement_id IN (SELECT id FROM agreements WHERE pair_id = ?)", pairID)
	if err != nil {
		return nil, calendar.Calendar{}, err
	}
	cal, err := loadCalendar(conn)
	if err != nil {
		return nil, cal, err
	}
	ags := make([]Agreement, len(raw))
	for i, a := range raw {
		ags[i] = toAgreement(a, cs[a.ID])
	}
	return ags, cal, nil
}

func loadCalendar(conn *gorm.DB) (calendar.Calendar, error) {
	var terms []calendar.Term
	err := conn.Session(&gorm.Session{NewDB: true}).Table("terms").Order("starts_on").Find(&terms).Error
	return calendar.New(terms), err
}

// activityFact is the shape of one activity as the rules see it.
type activityFact struct {
	PairID     int64
	Category   string
	OccurredOn date.Date
	LoggedOn   date.Date
	Imported   bool
	Status     string
	Hours      decimal.D
	Persons    decimal.D
}

// RebuildPair recomputes the totals of one pair from its activities, e.g.
// after an agreement is added over days that already have activity.
//
// The status read model: the caller detached the pair (DetachStatus)
// before changing what it is graded on; this attaches it again.
func (l *Ledger) RebuildPair(ctx context.Context, pairID int64) error {
	if err := l.rebuild(ctx, "pair_id = ?", pairID); err != nil {
		return err
	}
	return l.AttachStatus(ctx, []int64{pairID})
}

// RebuildPairs recomputes the totals of many pairs (a workbook import
// that added or changed their agreements), 500 pairs per pass.
func (l *Ledger) RebuildPairs(ctx context.Context, pairIDs []int64) error {
	for start := 0; start < len(pairIDs); start += 500 {
		if err := l.rebuild(ctx, "pair_id IN ?", pairIDs[start:min(start+500, len(pairIDs))]); err != nil {
			return err
		}
		// (detached by the caller, as for RebuildPair)
		if err := l.AttachStatus(ctx, pairIDs[start:min(start+500, len(pairIDs))]); err != nil {
			return err
		}
	}
	return nil
}

// RebuildAll recomputes every total from the activities: after terms change
// (term and school-year periods move, in the caller's transaction) or as
// `twinning rebuild`. Outside a transaction on MySQL the read model (the
// totals and the status counts built from them) is built into shadow
// tables and swapped in (rebuild.go); in one, or on SQLite, it is replaced
// in that one transaction.
func (l *Ledger) RebuildAll(ctx context.Context) error {
	if l.db.Dialect() == database.MySQL && !database.InTx(ctx) {
		return l.rebuildShadow(ctx)
	}
	return l.db.WithTx(ctx, func(ctx context.Context) error {
		if err := l.rebuild(ctx, "1 = 1"); err != nil {
			return err
		}
		if err := l.RebuildStatus(ctx, StatusTable); err != nil {
			return err
		}
		for _, t := range l.extra {
			conn := l.db.Conn(ctx).Session(&gorm.Session{NewDB: true})
			if err := conn.Exec("DELETE FROM " + t.Name).Error; err != nil {
				return err
			}
			if err := t.Build(ctx, t.Name); err != nil {
				return err
			}
		}
		return nil
	})
}

// rebuild recomputes the totals selected by cond and replaces them.
func (l *Ledger) rebuild(ctx context.Context, cond string, args ...any) error {
	return l.db.WithTx(ctx, func(ctx context.Context) error {
		acc, err := l.recompute(ctx, cond, args...)
		if err != nil {
			return err
		}
		conn := l.db.Conn(ctx)
		if err := conn.Session(&gorm.Session{NewDB: true}).Exec("DELETE FROM period_totals WHERE "+cond, args...).Error; err != nil {
			return err
		}
		return l.insert(ctx, acc)
	})
}

// Recompute computes every total of every period of every agreement from
// the activities, without writing anything: the full recompute a first
// sweep, a rebuild or a consistency check needs.
func (l *Ledger) Recompute(ctx context.Context) (Totals, error) {
	fo, err := l.recompute(ctx, "1 = 1")
	if err != nil {
		return Totals{}, err
	}
	return fo.totals(), nil
}

// recompute streams the counted activities once — one row each, no GROUP
// BY (MariaDB runs that slower than the stream) — and folds them into
// totals as they arrive: the scan and the arithmetic overlap on two
// goroutines, so the recompute costs little more than the stream itself.
func (l *Ledger) recompute(ctx context.Context, cond string, args ...any) (*folder, error) {
	conn := l.db.Conn(ctx)
	fresh := func() *gorm.DB { return conn.Session(&gorm.Session{NewDB: true}) }
	type structure struct {
		cal calendar.Calendar
		src foldSource
		err error
	}
	// The agreements and commitments load while the activity rows stream
	// in — on another connection, outside a transaction; inside one (a
	// rebuild) the connection is shared, so first.
	loaded := make(chan structure, 1)
	load := func() {
		var st structure
		defer func() { loaded <- st }()
		c := l.db.Conn(ctx)
		if st.cal, st.err = loadCalendar(c); st.err != nil {
			return
		}
		st.src, st.err = loadFoldSource(c, cond, args...)
	}
	if database.InTx(ctx) {
		load()
	} else {
		go load()
	}
	rows, err := fresh().Table("activities").
		Select("pair_id, category, occurred_on, logged_on, imported, status, hours, persons").
		Where("status IN ? AND "+cond, append([]any{[]string{"confirmed", "pending"}}, args...)...).Rows()
	if err != nil {
		if !database.InTx(ctx) {
			<-loaded
		}
		return nil, err
	}
	defer rows.Close()
	// 4,096 rows a batch: each hand-off may wake the folder's goroutine,
	// and on two cores fewer wake-ups measured a little faster than 1,024
	const batch = 4096
	// room for the whole stream while the structure loads; the folder
	// hands its batches back for reuse
	batches := make(chan []foldFact, 1024)
	free := make(chan []foldFact, 1024)
	var fo *folder
	done := make(chan error, 1)
	go func() {
		st := <-loaded
		if st.err != nil {
			for range batches { // drain so the scanner never blocks
			}
			done <- st.err
			return
		}
		fo = buildFolder(l.rules, st.cal, st.src)
		st = structure{} // the folder has what it needs: less for the collector to mark
		// folded a chunk at a time, each sorted by pair (folder.addAll),
		// read from the batches as they came: a chunk is a list of them
		size := foldChunk(len(fo.spans))
		var chunk [][]foldFact
		var rows int
		var a []foldFact // the sort's scratch
		fold := func() {
			if cap(a) < rows {
				a = make([]foldFact, rows)
			}
			fo.addAll(chunk, a)
			for _, fs := range chunk {
				select {
				case free <- fs[:0]:
				default:
				}
			}
			chunk, rows = chunk[:0], 0
		}
		for fs := range batches {
			if rows+len(fs) > size {
				fold()
			}
			chunk, rows = append(chunk, fs), rows+len(fs)
		}
		fold()
		done <- nil
	}()
	next := func() []foldFact {
		select {
		case fs := <-free:
			return fs
		default:
			return make([]foldFact, 0, batch)
		}
	}
	codes := newFactCodes()
	var scanErr error
	fs := next()
	var a activityFact
	for rows.Next() {
		if scanErr = rows.Scan(&a.PairID, &a.Category, &a.OccurredOn, &a.LoggedOn, &a.Imported, &a.Status, &a.Hours, &a.Persons); scanErr != nil {
			break
		}
		if f, ok := factOf(codes, &a); ok {
			fs = append(fs, f)
		}
		if len(fs) == batch {
			batches <- fs
			fs = next()
		}
	}
	if len(fs) > 0 {
		batches <- fs
	}
	close(batches)
	if err := <-done; err != nil {
		return nil, err
	}
	if scanErr != nil {
		return nil, scanErr
	}
	return fo, rows.Err()
}

// foldChunk is how many rows the recompute folds at once, sorted by pair,
// for a folder of pairs pairs: about five rows per pair, which is where
// the sort pays — the rows of a pair are then near each other, and the
// folder's records and sums are read in the order they lie in memory (57
// ns a row at 50,000 pairs, against 250-280 unsorted;
// BenchmarkFolderAddChunked, BenchmarkFolderAddShuffled).
// The fold overlaps the stream except for the last chunk, folded after the
// last row: a chunk of 256k rows cost a 5,000-pair recompute a third more
// than the stream, where five rows per pair (25k) leave a few ms. At most
// 2^18 rows (10 MB, twice that with the sort's copy).
func foldChunk(pairs int) int {
	return min(max(5*pairs, 1<<12), 1<<18)
}

// loadFoldSource loads what the folder needs of the agreements matching
// cond and of their commitments: the columns it reads, scanned by hand,
// in table order (the folder groups them; a commitments ORDER BY is a
// filesort). It runs beside the activity stream, on the same two cores.
func loadFoldSource(c *gorm.DB, cond string, args ...any) (foldSource, error) {
	var src foldSource
	rows, err := c.Session(&gorm.Session{NewDB: true}).Table("agreements").
		Select("id, pair_id, effective_from, effective_to").Where(cond, args...).Rows()
	if err != nil {
		return src, err
	}
	// ids as bytes, parsed here: Scan into an int64 goes through a string
	// and reflection, for 70,000 rows at a province
	var id, id2 sql.RawBytes
	for rows.Next() {
		var a foldSourceAgreement
		err := rows.Scan(&id, &id2, &a.from, &a.to)
		if err == nil {
			a.id, err = parseID(id)
		}
		if err == nil {
			a.pairID, err = parseID(id2)
		}
		if err != nil {
			rows.Close()
			return src, err
		}
		src.ags = append(src.ags, a)
	}
	if err := rows.Close(); err != nil {
		return src, err
	}
	// every agreement: no IN-subquery, which MariaDB runs as a temporary
	// table with a filesort over all of them
	commitCond, commitArgs := "commitments.agreement_id IN (SELECT id FROM agreements WHERE "+cond+")", args
	if cond == "1 = 1" {
		commitCond, commitArgs = "1 = 1", nil
	}
	// one column per row, the fields joined by spaces (none has one:
	// ids, the measure and period codes, the comma-separated category
	// codes last): a column costs the driver and database/sql more than
	// the few bytes it carries, and this query runs beside the stream
	packed := "CONCAT_WS(' ', commitments.id, commitments.agreement_id, commitments.measure, commitments.period, commitments.categories)"
	if c.Dialector.Name() == "sqlite" {
		packed = "commitments.id || ' ' || commitments.agreement_id || ' ' || commitments.measure || ' ' || commitments.period || ' ' || commitments.categories"
	}
	rows, err = c.Session(&gorm.Session{NewDB: true}).Table("commitments").
		Select(packed).Where(commitCond, commitArgs...).Rows()
	if err != nil {
		return src, err
	}
	defer rows.Close()
	bits := categoryBits()
	src.coms = make([]foldSourceCommitment, 0, 6*len(src.ags))
	// scanned as bytes: decoded here, never kept
	var row sql.RawBytes
	var f [5][]byte
	for rows.Next() {
		if err := rows.Scan(&row); err != nil {
			return src, err
		}
		rest := []byte(row)
		for i := 0; i < 4; i++ {
			j := bytes.IndexByte(rest, ' ')
			if j < 0 {
				return src, fmt.Errorf("compliance: bad commitment row %q", row)
			}
			f[i], rest = rest[:j], rest[j+1:]
		}
		f[4] = rest
		var cm foldSourceCommitment
		var err error
		if cm.id, err = parseID(f[0]); err != nil {
			return src, err
		}
		if cm.agreementID, err = parseID(f[1]); err != nil {
			return src, err
		}
		for cats := f[4]; len(cats) > 0; {
			code := cats
			if i := bytes.IndexByte(cats, ','); i >= 0 {
				code, cats = cats[:i], cats[i+1:]
			} else {
				cats = nil
			}
			cm.mask |= bits[string(code)]
		}
		cm.kind, cm.measure = int8(kindIndex(calendar.PeriodKind(f[3]))), measureIndex(string(f[2]))
		src.coms = append(src.coms, cm)
	}
	return src, rows.Err()
}

// parseID reads a decimal id (an integer column scanned as bytes).
func parseID(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, fmt.Errorf("compliance: bad id %q", b)
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("compliance: bad id %q", b)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// insert writes totals in multi-row INSERTs.
func (l *Ledger) insert(ctx context.Context, fo *folder) error {
	return l.insertInto(ctx, "period_totals", fo)
}

// insertInto writes totals into table in multi-row INSERTs of 1,000 rows,
// in primary-key order (an empty table then fills page after page).
func (l *Ledger) insertInto(ctx context.Context, table string, fo *folder) error {
	conn := l.db.Conn(ctx).Session(&gorm.Session{NewDB: true})
	batch := make([]totalRow, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := conn.Table(table).Create(&batch).Error
		batch = batch[:0]
		return err
	}
	if err := fo.each(func(r *totalRow) error {
		batch = append(batch, *r)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	}); err != nil {
		return err
	}
	return flush()
}

// Load reads the totals of the pairs matching cond (on table "pairs"; all
// pairs when empty) for periods ending on or after since.
func (l *Ledger) Load(ctx context.Context, since date.Date, cond string, args ...any) (Totals, error) {
	return l.LoadEnding(ctx, since, date.Date{}, cond, args...)
}

// LoadEnding is Load of the periods ending between since and until (no
// upper bound when until is zero): a sweep's few periods that can be due,
// an index range on period_end instead of every running period.
func (l *Ledger) LoadEnding(ctx context.Context, since, until date.Date, cond string, args ...any) (Totals, error) {
	q := l.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Table("period_totals").
		Select("commitment_id, period_key, achieved, pending")
	if cond != "" {
		q = q.Where("pair_id IN (SELECT pairs.id FROM pairs WHERE "+cond+")", args...)
	}
	if !since.IsZero() {
		q = q.Where("period_end >= ?", since)
	}
	if !until.IsZero() {
		q = q.Where("period_end <= ?", until)
	}
	rows, err := q.Rows()
	if err != nil {
		return Totals{}, err
	}
	defer rows.Close()
	out := NewTotals(1024)
	var last int64
	var es []totalEntry
	for rows.Next() {
		var c int64
		var e totalEntry
		if err := rows.Scan(&c, &e.key, &e.Achieved, &e.Pending); err != nil {
			return Totals{}, err
		}
		if c != last && es != nil {
			out.m[last] = append(out.m[last], es...)
			es = es[:0:0]
		}
		last = c
		es = append(es, e)
	}
	if es != nil {
		out.m[last] = append(out.m[last], es...)
	}
	return out, rows.Err()
}
