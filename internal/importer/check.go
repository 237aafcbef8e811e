package importer

import (
	"context"
	"fmt"
	"sort"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
)

// chunk is how many keys go into one IN list.
const chunk = 1000

// The check resolves every row against the database and the rest of the
// workbook, in dependency order, loading what the workbook names in
// batches (never a query per row), and records what the import would
// create or change. Every mistake becomes a RowError; nothing stops at the
// first.

type regionNode struct {
	id       int64 // 0: new
	name     string
	level    string
	oldLevel string
	parent   *regionNode // nil: a province (or the virtual root)
	path     string      // stored path ("/1/5/"), for existing regions
	row      int         // the workbook row that names it, 0 none
	children map[string]*regionNode
}

type schoolNode struct {
	id     int64 // 0: new
	tmp    int64 // a negative stand-in id for a new school (validators compare ids)
	name   string
	code   string
	region *regionNode
	stage  string
	email  string
	row    int
	dirty  bool
	// what the database holds, for existing schools
	old struct {
		name, code, stage, email string
		region                   *regionNode
		regionPath               string
	}
}

func (s *schoolNode) ref() int64 {
	if s.id != 0 {
		return s.id
	}
	return s.tmp
}

type userNode struct {
	id                 int64
	name, email, phone string
	role               string
	school             *schoolNode
	region             *regionNode
	row                int
	dirty              bool
}

type pairKey struct{ sup, sud *schoolNode }

type pairNode struct {
	id               int64
	sup, sud         *schoolNode
	startsOn, endsOn date.Date
	round            string
	row              int
	dirty            bool
	spanChanged      bool
}

type commitmentNode struct {
	id          int64 // 0: new
	position    int
	categories  []string
	measure     string
	minimum     decimal.D
	period      string
	description string
	row         int
	dirty       bool
	catsChanged bool
}

type agreementNode struct {
	id                                 int64
	pair                               *pairNode
	title                              string
	signedOn, effectiveFrom, effective date.Date
	rows                               []int
	dirty                              bool
	commitments                        []*commitmentNode
	inWorkbook                         bool
}

type plan struct {
	im   *Importer
	a    auth.Actor
	book *book
	lang string
	errs []RowError
	seen map[string]bool // sheet/row/column with an error already

	root        *regionNode
	regionsByID map[int64]*regionNode
	regionNames map[string][]*regionNode
	newRegions  []*regionNode
	regionRows  []*regionNode // regions the workbook names (existing and new)

	schools     []*schoolNode // every school known (loaded or from the workbook)
	schoolCode  map[string]*schoolNode
	schoolPlace map[*regionNode]map[string]*schoolNode
	schoolNames map[string][]*schoolNode
	tmpID       int64

	users []*userNode

	pairs      map[pairKey]*pairNode
	pairRows   []*pairNode
	agreements []*agreementNode
	dbAgrees   map[int64][]*agreementNode // by pair id, as stored
}

func newPlan(im *Importer, a auth.Actor, b *book, lang string) *plan {
	return &plan{im: im, a: a, book: b, lang: lang, seen: map[string]bool{},
		root: &regionNode{children: map[string]*regionNode{}}, regionsByID: map[int64]*regionNode{},
		regionNames: map[string][]*regionNode{}, schoolCode: map[string]*schoolNode{},
		schoolPlace: map[*regionNode]map[string]*schoolNode{}, schoolNames: map[string][]*schoolNode{},
		pairs: map[pairKey]*pairNode{}, dbAgrees: map[int64][]*agreementNode{}}
}

// fail records a mistake; the first per cell wins.
func (p *plan) fail(s *parsedSheet, r int, col string, m string) {
	name := ""
	if col != "" {
		name = s.colName[s.def.col(col)]
	}
	k := fmt.Sprintf("%s\x00%d\x00%s", s.name, r, name)
	if p.seen[k] {
		return
	}
	p.seen[k] = true
	p.errs = append(p.errs, RowError{Sheet: s.name, Row: r, Column: name, Message: m})
}

func (p *plan) failMsg(s *parsedSheet, r int, col string, m msg) { p.fail(s, r, col, m.in(p.lang)) }

// enumCell reports a value outside an enumerated column's vocabulary in
// the caller's words (before the domain's validator says it in English).
func (p *plan) enumCell(s *parsedSheet, r row, col string, e enum) {
	if v := r.get(s.def.col(col)); v != "" && !e.known(v) {
		p.failMsg(s, r.n, col, e.choice(v))
	}
}

// failDomain spreads a domain validation error over the row's columns;
// fields maps the domain's field names to column keys.
func (p *plan) failDomain(s *parsedSheet, r int, err error, fields map[string]string) bool {
	if err == nil {
		return false
	}
	e, ok := errs.As(err)
	if !ok || len(e.Fields) == 0 {
		m := err.Error()
		if ok {
			m = e.Message
		}
		p.fail(s, r, "", m)
		return true
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, f := range keys {
		p.fail(s, r, fields[f], e.Fields[f])
	}
	return true
}

func (p *plan) check(ctx context.Context) error {
	conn := p.im.db.Conn(ctx)
	if err := p.loadRegions(conn); err != nil {
		return err
	}
	p.checkRegions()
	if err := p.loadSchools(conn); err != nil {
		return err
	}
	p.checkSchools()
	if err := p.checkUsers(conn); err != nil {
		return err
	}
	if err := p.loadPairs(conn); err != nil {
		return err
	}
	if err := p.checkPairs(conn); err != nil {
		return err
	}
	return p.checkAgreements()
}

// Counts of what the import does.

func (p *plan) result() Result {
	var r Result
	for _, n := range p.regionRows {
		switch {
		case n.id == 0:
			r.Created.Regions++
		case n.level != n.oldLevel:
			r.Updated.Regions++
		default:
			r.Unchanged.Regions++
		}
	}
	for _, n := range p.schools {
		switch {
		case n.row == 0:
		case n.id == 0:
			r.Created.Schools++
		case n.dirty:
			r.Updated.Schools++
		default:
			r.Unchanged.Schools++
		}
	}
	for _, u := range p.users {
		switch {
		case u.id == 0:
			r.Created.Users++
		case u.dirty:
			r.Updated.Users++
		default:
			r.Unchanged.Users++
		}
	}
	for _, n := range p.pairRows {
		switch {
		case n.id == 0:
			r.Created.Pairs++
		case n.dirty:
			r.Updated.Pairs++
		default:
			r.Unchanged.Pairs++
		}
	}
	for _, ag := range p.agreements {
		switch {
		case ag.id == 0:
			r.Created.Agreements++
		case ag.dirty:
			r.Updated.Agreements++
		default:
			r.Unchanged.Agreements++
		}
		for _, cm := range ag.commitments {
			switch {
			case cm.id == 0:
				r.Created.Commitments++
			case cm.dirty:
				r.Updated.Commitments++
			default:
				r.Unchanged.Commitments++
			}
		}
	}
	return r
}
