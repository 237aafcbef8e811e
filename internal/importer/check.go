package importer

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
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

// ---- regions ----

func (p *plan) loadRegions(conn *gorm.DB) error {
	var rows []school.Region
	if err := conn.Session(&gorm.Session{NewDB: true}).Table("regions").Order("path").Find(&rows).Error; err != nil {
		return err
	}
	for _, r := range rows {
		p.regionsByID[r.ID] = &regionNode{id: r.ID, name: r.Name, level: r.Level, oldLevel: r.Level, path: r.Path,
			children: map[string]*regionNode{}}
	}
	for _, r := range rows {
		n := p.regionsByID[r.ID]
		parent := p.root
		if r.ParentID != nil && p.regionsByID[*r.ParentID] != nil {
			n.parent = p.regionsByID[*r.ParentID]
			parent = n.parent
		}
		parent.children[n.name] = n
		p.regionNames[n.name] = append(p.regionNames[n.name], n)
	}
	return nil
}

// covered: may the actor place things in region n?
func (p *plan) covered(n *regionNode) bool {
	if p.a.IsAdmin() {
		return true
	}
	for ; n != nil; n = n.parent {
		if n.id != 0 {
			return p.a.CoversPath(n.path)
		}
	}
	return false
}

var (
	msgAmbiguousRegion = func(name string) msg {
		return msg{fmt.Sprintf("several regions are named %s: write its path, e.g. 湖北省/黄冈市/%s", name, name),
			fmt.Sprintf("有多个地区名为 %s，请写完整路径，如 湖北省/黄冈市/%s", name, name)}
	}
	msgUnknownRegion = func(ref string) msg {
		return msg{fmt.Sprintf("no region %s (neither in the database nor on the 地区 sheet)", ref),
			fmt.Sprintf("找不到地区 %s（数据库和“地区”表中都没有）", ref)}
	}
	msgOutside = msg{"outside your region", "不在您管辖的地区内"}
)

type resolveState int

const (
	resolved resolveState = iota
	waiting
	failed
)

// lookupRegion resolves a name or a path of names; pending counts the
// workbook's region rows not yet placed, by name (while one may still
// become the answer, the answer waits).
func (p *plan) lookupRegion(ref string, pending map[string]int) (*regionNode, resolveState, msg) {
	segs := strings.Split(ref, "/")
	var cur *regionNode
	for i, seg := range segs {
		seg = strings.TrimSpace(seg)
		if pending[seg] > 0 {
			return nil, waiting, msg{}
		}
		if i == 0 {
			c := p.regionNames[seg]
			switch len(c) {
			case 0:
				return nil, failed, msgUnknownRegion(ref)
			case 1:
				cur = c[0]
			default:
				if len(segs) == 1 {
					return nil, failed, msgAmbiguousRegion(seg)
				}
				// a path may start below the top: the first segment must
				// then name one region with a child named like the next
				var only *regionNode
				for _, cand := range c {
					if cand.children[strings.TrimSpace(segs[1])] != nil {
						if only != nil {
							return nil, failed, msgAmbiguousRegion(seg)
						}
						only = cand
					}
				}
				if only == nil {
					return nil, failed, msgUnknownRegion(ref)
				}
				cur = only
			}
			continue
		}
		next := cur.children[seg]
		if next == nil {
			return nil, failed, msgUnknownRegion(ref)
		}
		cur = next
	}
	return cur, resolved, msg{}
}

// region resolves a reference once every region is placed.
func (p *plan) region(ref string) (*regionNode, *msg) {
	n, st, m := p.lookupRegion(ref, nil)
	if st != resolved {
		return nil, &m
	}
	return n, nil
}

func (p *plan) checkRegions() {
	s := p.book.sheet(shRegions)
	iName, iLevel, iParent := s.def.col("name"), s.def.col("level"), s.def.col("parent")
	pending := map[string]int{}
	todo := make([]row, 0, len(s.rows))
	for _, r := range s.rows {
		if r.get(iName) == "" {
			p.failMsg(s, r.n, "name", msg{"is required", "必填"})
			continue
		}
		pending[r.get(iName)]++
		todo = append(todo, r)
	}
	place := func(r row, parent *regionNode) {
		name, level := r.get(iName), levels.parse(r.get(iLevel))
		p.enumCell(s, r, "level", levels)
		var parentRegion *school.Region
		if parent != p.root {
			parentRegion = &school.Region{Level: parent.level}
		}
		var pid *int64
		if parent != p.root {
			one := int64(1)
			pid = &one
		}
		bad := p.failDomain(s, r.n, p.im.schools.ValidateRegion(school.RegionInput{Name: name, Level: level, ParentID: pid}, parentRegion),
			map[string]string{"name": "name", "level": "level", "parent_id": "parent"})
		n := parent.children[name]
		switch {
		case n != nil && n.row != 0:
			p.failMsg(s, r.n, "name", msg{fmt.Sprintf("the same region as row %d", n.row), fmt.Sprintf("与第 %d 行是同一地区", n.row)})
			return
		case n != nil:
			n.row = r.n
			if !bad {
				n.level = level
			}
			if !p.covered(n) {
				p.failMsg(s, r.n, "name", msgOutside)
			} else if n.level != n.oldLevel && !p.a.IsAdmin() {
				p.failMsg(s, r.n, "level", msg{"only an admin may change a region", "只有系统管理员可以修改地区"})
			} else if n.level != n.oldLevel {
				// its sub-regions must still fit under it
				for _, c := range n.children {
					if err := p.im.schools.ValidateRegion(school.RegionInput{Name: c.name, Level: c.level, ParentID: pid}, &school.Region{Level: n.level}); err != nil {
						p.failMsg(s, r.n, "level", msg{fmt.Sprintf("the sub-region %s could not stay under a %s", c.name, n.level),
							fmt.Sprintf("下级地区 %s 不能隶属于该级别", c.name)})
						break
					}
				}
			}
		default:
			n = &regionNode{name: name, level: level, row: r.n, children: map[string]*regionNode{}}
			if parent != p.root {
				n.parent = parent
			}
			parent.children[name] = n
			p.regionNames[name] = append(p.regionNames[name], n)
			p.newRegions = append(p.newRegions, n)
			if !p.a.IsAdmin() {
				p.failMsg(s, r.n, "name", msg{"only an admin may create regions", "只有系统管理员可以新建地区"})
			}
		}
		p.regionRows = append(p.regionRows, n)
	}
	for progress := true; progress && len(todo) > 0; {
		progress = false
		rest := todo[:0]
		for _, r := range todo {
			ref := r.get(iParent)
			parent, st, m := p.root, resolved, msg{}
			pending[r.get(iName)]-- // a row is not its own parent's candidate
			if ref != "" {
				parent, st, m = p.lookupRegion(ref, pending)
			}
			switch st {
			case waiting:
				pending[r.get(iName)]++
				rest = append(rest, r)
				continue
			case failed:
				p.failMsg(s, r.n, "parent", m)
			case resolved:
				place(r, parent)
			}
			progress = true
		}
		todo = rest
	}
	for _, r := range todo {
		p.failMsg(s, r.n, "parent", msg{"the parent region is not found, or rows name each other as parents in a circle",
			"找不到上级地区，或几行互为上级"})
	}
}

// ---- schools ----

var codeRE = regexp.MustCompile(`^[0-9]{10}$`)

// schoolRefKeys collects the codes and names the workbook uses for schools.
func (p *plan) schoolRefKeys() (codes, names []string) {
	cs, ns := map[string]bool{}, map[string]bool{}
	add := func(ref string) {
		switch {
		case ref == "":
		case codeRE.MatchString(ref):
			cs[ref] = true
		default:
			ns[strings.TrimSpace(ref[strings.LastIndex(ref, "/")+1:])] = true
		}
	}
	s := p.book.sheet(shSchools)
	for _, r := range s.rows {
		cs[r.get(s.def.col("code"))] = true
		ns[r.get(s.def.col("name"))] = true
	}
	for _, ref := range []struct{ sheet, col string }{{shUsers, "school"}, {shPairs, "supporting"}, {shPairs, "supported"},
		{shAgreements, "supporting"}, {shAgreements, "supported"}} {
		s := p.book.sheet(ref.sheet)
		i := s.def.col(ref.col)
		for _, r := range s.rows {
			add(r.get(i))
		}
	}
	delete(cs, "")
	delete(ns, "")
	for c := range cs {
		codes = append(codes, c)
	}
	for n := range ns {
		names = append(names, n)
	}
	sort.Strings(codes)
	sort.Strings(names)
	return codes, names
}

func inChunks[T any](keys []T, fn func([]T) error) error {
	for start := 0; start < len(keys); start += chunk {
		if err := fn(keys[start:min(start+chunk, len(keys))]); err != nil {
			return err
		}
	}
	return nil
}

func (p *plan) loadSchools(conn *gorm.DB) error {
	codes, names := p.schoolRefKeys()
	byID := map[int64]bool{}
	load := func(cond string) func([]string) error {
		return func(keys []string) error {
			var rows []school.School
			if err := conn.Session(&gorm.Session{NewDB: true}).Table("schools").Where(cond, keys).Find(&rows).Error; err != nil {
				return err
			}
			for _, r := range rows {
				if byID[r.ID] {
					continue
				}
				byID[r.ID] = true
				n := &schoolNode{id: r.ID, name: r.Name, region: p.regionsByID[r.RegionID], stage: r.Stage, email: r.Email}
				if r.Code != nil {
					n.code = *r.Code
				}
				n.old.name, n.old.code, n.old.stage, n.old.email, n.old.region = n.name, n.code, n.stage, n.email, n.region
				if n.region != nil {
					n.old.regionPath = n.region.path
				}
				p.schools = append(p.schools, n)
			}
			return nil
		}
	}
	if err := inChunks(codes, load("code IN ?")); err != nil {
		return err
	}
	if err := inChunks(names, load("name IN ?")); err != nil {
		return err
	}
	p.indexSchools()
	return nil
}

func (p *plan) indexSchools() {
	p.schoolCode = map[string]*schoolNode{}
	p.schoolPlace = map[*regionNode]map[string]*schoolNode{}
	p.schoolNames = map[string][]*schoolNode{}
	for _, n := range p.schools {
		if n.code != "" {
			p.schoolCode[n.code] = n
		}
		if p.schoolPlace[n.region] == nil {
			p.schoolPlace[n.region] = map[string]*schoolNode{}
		}
		if _, dup := p.schoolPlace[n.region][n.name]; !dup {
			p.schoolPlace[n.region][n.name] = n
		}
		p.schoolNames[n.name] = append(p.schoolNames[n.name], n)
	}
}

func (p *plan) coveredSchool(n *schoolNode) bool {
	if p.a.IsAdmin() {
		return true
	}
	if n.id != 0 && n.old.regionPath != "" && !p.a.CoversPath(n.old.regionPath) {
		return false
	}
	return p.covered(n.region)
}

func (p *plan) checkSchools() {
	s := p.book.sheet(shSchools)
	c := func(k string) int { return s.def.col(k) }
	fields := map[string]string{"name": "name", "code": "code", "region_id": "region", "stage": "stage", "email": "email"}
	for _, r := range s.rows {
		name, code, stage, email := r.get(c("name")), r.get(c("code")), stageEnum.parse(r.get(c("stage"))), r.get(c("email"))
		p.enumCell(s, r, "stage", stageEnum)
		var region *regionNode
		if ref := r.get(c("region")); ref != "" {
			var m *msg
			if region, m = p.region(ref); m != nil {
				p.failMsg(s, r.n, "region", *m)
			}
		}
		regionID := int64(0)
		if region != nil || r.get(c("region")) != "" {
			regionID = 1 // resolved above; the validator only needs it present
		}
		bad := p.failDomain(s, r.n, p.im.schools.ValidateSchool(school.SchoolInput{Name: name, RegionID: regionID, Stage: stage, Code: code, Email: email}), fields)
		if region == nil || name == "" {
			continue
		}
		var n *schoolNode
		if code != "" {
			n = p.schoolCode[code]
			if n == nil {
				if o := p.schoolPlace[region][name]; o != nil && o.code == "" && o.id != 0 {
					n = o // an existing school gets its code
				}
			}
		} else {
			n = p.schoolPlace[region][name]
		}
		if n != nil && n.row != 0 {
			p.failMsg(s, r.n, "name", msg{fmt.Sprintf("the same school as row %d", n.row), fmt.Sprintf("与第 %d 行是同一所学校", n.row)})
			continue
		}
		if o := p.schoolPlace[region][name]; o != nil && o != n {
			p.failMsg(s, r.n, "name", msg{"another school in this region has this name", "该地区已有同名学校"})
			continue
		}
		if n == nil {
			p.tmpID--
			n = &schoolNode{tmp: p.tmpID}
			p.schools = append(p.schools, n)
		}
		n.row = r.n
		if !bad {
			n.name, n.region, n.stage, n.email = name, region, stage, email
			if code != "" {
				n.code = code
			}
			n.dirty = n.id != 0 && (n.name != n.old.name || n.region != n.old.region || n.stage != n.old.stage ||
				n.email != n.old.email || n.code != n.old.code)
		} else if n.id == 0 {
			n.name, n.region = name, region // still referable, so other sheets do not repeat the error
			if codeRE.MatchString(code) {
				n.code = code
			}
		}
		if !p.coveredSchool(n) {
			p.failMsg(s, r.n, "region", msgOutside)
		}
		if p.schoolPlace[region] == nil {
			p.schoolPlace[region] = map[string]*schoolNode{}
		}
		p.schoolPlace[region][name] = n
		if code != "" {
			p.schoolCode[code] = n
		}
	}
	p.indexSchools()
}

// school resolves a reference: a code, a name, or region/name.
func (p *plan) school(ref string) (*schoolNode, *msg) {
	ref = strings.TrimSpace(ref)
	if codeRE.MatchString(ref) {
		if n := p.schoolCode[ref]; n != nil {
			return n, nil
		}
		return nil, &msg{fmt.Sprintf("no school has the code %s", ref), fmt.Sprintf("没有学校代码为 %s 的学校", ref)}
	}
	if i := strings.LastIndex(ref, "/"); i > 0 {
		region, m := p.region(ref[:i])
		if m != nil {
			return nil, m
		}
		if n := p.schoolPlace[region][strings.TrimSpace(ref[i+1:])]; n != nil {
			return n, nil
		}
		return nil, &msg{fmt.Sprintf("no school %s", ref), fmt.Sprintf("找不到学校 %s", ref)}
	}
	c := p.schoolNames[ref]
	if len(c) > 1 && p.a.IsBureau() {
		var mine []*schoolNode
		for _, n := range c {
			if p.coveredSchool(n) {
				mine = append(mine, n)
			}
		}
		if len(mine) > 0 {
			c = mine
		}
	}
	switch len(c) {
	case 0:
		return nil, &msg{fmt.Sprintf("no school %s (neither in the database nor on the 学校 sheet)", ref),
			fmt.Sprintf("找不到学校 %s（数据库和“学校”表中都没有）", ref)}
	case 1:
		return c[0], nil
	}
	return nil, &msg{fmt.Sprintf("several schools are named %s: use its school code, or region/name", ref),
		fmt.Sprintf("有多所学校名为 %s，请填写学校代码，或写成 地区/学校名称", ref)}
}

// ---- users ----

var phoneRE = regexp.MustCompile(`^\+?[0-9][0-9 -]{4,19}$`)

func (p *plan) checkUsers(conn *gorm.DB) error {
	s := p.book.sheet(shUsers)
	c := func(k string) int { return s.def.col(k) }
	emails := make([]string, 0, len(s.rows))
	for _, r := range s.rows {
		if e := auth.NormalizeEmail(r.get(c("email"))); e != "" {
			emails = append(emails, e)
		}
	}
	type stored struct {
		auth.User
		ScopePath string
	}
	existing := map[string]*stored{}
	err := inChunks(emails, func(keys []string) error {
		var rows []stored
		if err := conn.Session(&gorm.Session{NewDB: true}).Table("users").
			Select("users.*, COALESCE(rs.path, ru.path, '') AS scope_path").
			Joins("LEFT JOIN schools s ON s.id = users.school_id").
			Joins("LEFT JOIN regions rs ON rs.id = s.region_id").
			Joins("LEFT JOIN regions ru ON ru.id = users.region_id").
			Where("users.email IN ?", keys).Find(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			existing[rows[i].Email] = &rows[i]
		}
		return nil
	})
	if err != nil {
		return err
	}
	fields := map[string]string{"name": "name", "email": "email", "role": "role", "school_id": "school", "region_id": "region", "password": "email", "locale": "email"}
	byEmail := map[string]int{}
	for _, r := range s.rows {
		u := &userNode{name: r.get(c("name")), email: auth.NormalizeEmail(r.get(c("email"))), phone: r.get(c("phone")),
			role: roleEnum.parse(r.get(c("role"))), row: r.n}
		p.enumCell(s, r, "role", roleEnum)
		var schoolID, regionID *int64
		one := int64(1)
		if ref := r.get(c("school")); ref != "" {
			schoolID = &one
			var m *msg
			if u.school, m = p.school(ref); m != nil {
				p.failMsg(s, r.n, "school", *m)
			}
		}
		if ref := r.get(c("region")); ref != "" {
			regionID = &one
			var m *msg
			if u.region, m = p.region(ref); m != nil {
				p.failMsg(s, r.n, "region", *m)
			}
		}
		p.failDomain(s, r.n, p.im.users.ValidateInvitee(p.a, auth.UserInput{Name: u.name, Email: u.email, Role: u.role,
			SchoolID: schoolID, RegionID: regionID, Locale: p.lang}), fields)
		if u.phone != "" && !phoneRE.MatchString(u.phone) {
			p.failMsg(s, r.n, "phone", msg{"must be a phone number", "不是有效的手机号"})
		}
		if u.email == "" {
			continue
		}
		if prev, dup := byEmail[u.email]; dup {
			p.failMsg(s, r.n, "email", msg{fmt.Sprintf("the same email as row %d", prev), fmt.Sprintf("与第 %d 行邮箱相同", prev)})
			continue
		}
		byEmail[u.email] = r.n
		if u.school != nil && !p.coveredSchool(u.school) {
			p.failMsg(s, r.n, "school", msgOutside)
		}
		if u.region != nil && !p.covered(u.region) {
			p.failMsg(s, r.n, "region", msgOutside)
		}
		if old := existing[u.email]; old != nil {
			u.id = old.ID
			if old.Role == auth.RoleAdmin {
				p.failMsg(s, r.n, "email", msg{"an admin account is not changed by an import", "系统管理员账号不能通过导入修改"})
			} else if !p.a.IsAdmin() && !p.a.CoversPath(old.ScopePath) {
				p.failMsg(s, r.n, "email", msg{"this email belongs to an account outside your region", "该邮箱属于您管辖范围以外的账号"})
			}
			sameInt := func(a *int64, n int64) bool { return (a == nil && n == 0) || (a != nil && *a == n) }
			var sid, rid int64
			if u.school != nil {
				sid = u.school.id
			}
			if u.region != nil {
				rid = u.region.id
			}
			u.dirty = old.Name != u.name || old.Phone != u.phone || old.Role != u.role || !sameInt(old.SchoolID, sid) || !sameInt(old.RegionID, rid) ||
				(u.school != nil && u.school.id == 0) || (u.region != nil && u.region.id == 0)
		}
		p.users = append(p.users, u)
	}
	return nil
}

// ---- pairs ----

// loadPairs loads the active pairs of the school couples both pair and
// agreement sheets name, and the agreements of those pairs.
func (p *plan) loadPairs(conn *gorm.DB) error {
	byKey := map[string]pairKey{}
	for _, sh := range []string{shPairs, shAgreements} {
		s := p.book.sheet(sh)
		for _, r := range s.rows {
			sup, _ := p.school(r.get(s.def.col("supporting")))
			sud, _ := p.school(r.get(s.def.col("supported")))
			if sup != nil && sud != nil && sup.id != 0 && sud.id != 0 {
				byKey[pairing.ActiveKeyOf(sup.id, sud.id)] = pairKey{sup, sud}
			}
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	byID := map[int64]*pairNode{}
	err := inChunks(keys, func(ks []string) error {
		var rows []pairing.Pair
		if err := conn.Session(&gorm.Session{NewDB: true}).Table("pairs").Where("active_key IN ?", ks).Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			k := byKey[*r.ActiveKey]
			n := &pairNode{id: r.ID, sup: k.sup, sud: k.sud, startsOn: r.StartsOn, endsOn: r.EndsOn, round: r.Round}
			p.pairs[k] = n
			byID[r.ID] = n
		}
		return nil
	})
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return inChunks(ids, func(ch []int64) error {
		var rows []pairing.Agreement
		if err := conn.Session(&gorm.Session{NewDB: true}).Table("agreements").Where("pair_id IN ?", ch).Order("id").Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		cs, err := pairing.LoadCommitments(conn, "commitments.agreement_id IN (SELECT id FROM agreements WHERE pair_id IN ?)", ch)
		if err != nil {
			return err
		}
		for _, r := range rows {
			ag := &agreementNode{id: r.ID, pair: byID[r.PairID], title: r.Title, signedOn: r.SignedOn,
				effectiveFrom: r.EffectiveFrom, effective: r.EffectiveTo}
			for _, c := range cs[r.ID] {
				min, err := decimal.FromFloat(c.Minimum) // decimal: convert at merge
				if err != nil {
					return err
				}
				ag.commitments = append(ag.commitments, &commitmentNode{id: c.ID, position: c.Position, categories: c.Categories,
					measure: c.Measure, minimum: min, period: c.Period, description: c.Description})
			}
			p.dbAgrees[r.PairID] = append(p.dbAgrees[r.PairID], ag)
		}
		return nil
	})
}

func (p *plan) dateCell(s *parsedSheet, r row, col string) date.Date {
	d, ok := parseDate(r.get(s.def.col(col)))
	if !ok {
		p.failMsg(s, r.n, col, msg{"must be a date (an Excel date or YYYY-MM-DD)", "不是日期（应为 Excel 日期或 YYYY-MM-DD）"})
	}
	return d
}

func (p *plan) schoolCell(s *parsedSheet, r row, col string) *schoolNode {
	ref := r.get(s.def.col(col))
	if ref == "" {
		return nil // the validator says it is required
	}
	n, m := p.school(ref)
	if m != nil {
		p.failMsg(s, r.n, col, *m)
		return nil
	}
	if p.a.IsBureau() && !p.coveredSchool(n) {
		p.failMsg(s, r.n, col, msg{"this school is outside your region: a bureau imports pairs of two schools in its region",
			"该学校不在您管辖的地区内：教育局只能导入本地区两所学校之间的结对"})
	}
	return n
}

func (p *plan) checkPairs(conn *gorm.DB) error {
	s := p.book.sheet(shPairs)
	c := func(k string) int { return s.def.col(k) }
	fields := map[string]string{"supporting_school_id": "supporting", "supported_school_id": "supported", "starts_on": "starts_on", "ends_on": "ends_on", "round": "round"}
	var spanChanged []int64
	for _, r := range s.rows {
		sup, sud := p.schoolCell(s, r, "supporting"), p.schoolCell(s, r, "supported")
		in := pairing.PairInput{StartsOn: p.dateCell(s, r, "starts_on"), EndsOn: p.dateCell(s, r, "ends_on"), Round: r.get(c("round"))}
		if sup != nil {
			in.SupportingSchoolID = sup.ref()
		} else if r.get(c("supporting")) != "" {
			in.SupportingSchoolID = -1 << 40 // named but not found: reported above
		}
		if sud != nil {
			in.SupportedSchoolID = sud.ref()
		} else if r.get(c("supported")) != "" {
			in.SupportedSchoolID = -1<<40 - 1
		}
		bad := p.failDomain(s, r.n, p.im.pairs.ValidatePair(in), fields)
		if sup == nil || sud == nil || sup == sud {
			continue
		}
		k := pairKey{sup, sud}
		n := p.pairs[k]
		if n != nil && n.row != 0 {
			p.failMsg(s, r.n, "supported", msg{fmt.Sprintf("the same pair as row %d", n.row), fmt.Sprintf("与第 %d 行是同一结对", n.row)})
			continue
		}
		if n == nil {
			n = &pairNode{sup: sup, sud: sud}
			p.pairs[k] = n
		}
		n.row = r.n
		p.pairRows = append(p.pairRows, n)
		if bad {
			continue
		}
		round := in.Round
		if n.id != 0 && (n.startsOn != in.StartsOn || n.endsOn != in.EndsOn) {
			n.spanChanged = true
			spanChanged = append(spanChanged, n.id)
		}
		n.dirty = n.id != 0 && (n.spanChanged || n.round != round)
		n.startsOn, n.endsOn, n.round = in.StartsOn, in.EndsOn, round
	}
	// a span may not shrink past activities (agreements: checkAgreements)
	type span struct {
		PairID     int64
		First      date.Date
		Last       date.Date
		Activities int64
	}
	byID := make(map[int64]*pairNode, len(spanChanged))
	for _, n := range p.pairRows {
		if n.spanChanged {
			byID[n.id] = n
		}
	}
	outside := map[int64]bool{}
	err := inChunks(spanChanged, func(ids []int64) error {
		var rows []span
		if err := conn.Session(&gorm.Session{NewDB: true}).Table("activities").
			Select("pair_id, MIN(occurred_on) AS first, MAX(occurred_on) AS last, COUNT(*) AS activities").
			Where("status <> 'withdrawn' AND pair_id IN ?", ids).Group("pair_id").Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			if n := byID[r.PairID]; n != nil {
				outside[r.PairID] = r.First.Before(n.startsOn) || (!n.endsOn.IsZero() && r.Last.After(n.endsOn))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range p.pairRows {
		if outside[n.id] {
			p.failMsg(s, n.row, "starts_on", msg{"the new dates would leave logged activities outside the pair's span", "新的起止日期会使已登记的活动落在结对期限之外"})
		}
	}
	return nil
}

// ---- agreements ----

func (p *plan) checkAgreements() error {
	s := p.book.sheet(shAgreements)
	c := func(k string) int { return s.def.col(k) }
	type group struct {
		ag   *agreementNode
		rows []row
	}
	type gkey struct {
		k     pairKey
		title string
	}
	groups := map[gkey]*group{}
	var order []*group
	for _, r := range s.rows {
		sup, sud := p.schoolCell(s, r, "supporting"), p.schoolCell(s, r, "supported")
		if r.get(c("supporting")) == "" {
			p.failMsg(s, r.n, "supporting", msg{"is required", "必填"})
		}
		if r.get(c("supported")) == "" {
			p.failMsg(s, r.n, "supported", msg{"is required", "必填"})
		}
		if sup == nil || sud == nil {
			continue
		}
		k := gkey{pairKey{sup, sud}, r.get(c("title"))}
		g := groups[k]
		if g == nil {
			pair := p.pairs[k.k]
			if pair == nil {
				p.failMsg(s, r.n, "supported", msg{"these two schools have no active pair: add it to the 结对 sheet", "这两所学校没有进行中的结对，请在“结对”表中添加"})
				continue
			}
			g = &group{ag: &agreementNode{pair: pair, title: k.title, inWorkbook: true}}
			groups[k] = g
			order = append(order, g)
		}
		g.rows = append(g.rows, r)
	}
	fieldCol := map[string]string{"title": "title", "signed_on": "signed_on", "effective_from": "effective_from", "effective_to": "effective_to",
		"goals": "title", "commitments": "categories", "categories": "categories", "measure": "measure", "minimum": "minimum",
		"period": "period", "description": "description"}
	for _, g := range order {
		first := g.rows[0]
		ag := g.ag
		ag.signedOn, ag.effectiveFrom, ag.effective = p.dateCell(s, first, "signed_on"), p.dateCell(s, first, "effective_from"), p.dateCell(s, first, "effective_to")
		in := pairing.AgreementInput{Title: ag.title, SignedOn: ag.signedOn, EffectiveFrom: ag.effectiveFrom, EffectiveTo: ag.effective}
		for i, r := range g.rows {
			ag.rows = append(ag.rows, r.n)
			if i > 0 {
				for _, col := range []string{"signed_on", "effective_from", "effective_to"} {
					if v := r.get(c(col)); v != "" && v != first.get(c(col)) {
						if d, ok := parseDate(v); !ok || d != p.agreementDate(ag, col) {
							p.failMsg(s, r.n, col, msg{fmt.Sprintf("differs from row %d, the agreement's first row", first.n),
								fmt.Sprintf("与该协议的第一行（第 %d 行）不一致", first.n)})
						}
					}
				}
			}
			p.enumCell(s, r, "measure", measureEnum)
			p.enumCell(s, r, "period", periodEnum)
			for _, cat := range strings.FieldsFunc(r.get(c("categories")), func(x rune) bool { return strings.ContainsRune("、,，;；\n", x) }) {
				if cat = strings.TrimSpace(cat); cat != "" && !categoryEnum.known(cat) {
					p.failMsg(s, r.n, "categories", msg{fmt.Sprintf("%q is not a category; the categories are %s", cat, categoryList(LangEN)),
						fmt.Sprintf("“%s”不是活动类别；可选：%s", cat, categoryList(LangZH))})
				}
			}
			cm := &commitmentNode{position: i, categories: splitCategories(r.get(c("categories"))), measure: measureEnum.parse(r.get(c("measure"))),
				period: periodEnum.parse(r.get(c("period"))), description: r.get(c("description")), row: r.n}
			if v := r.get(c("minimum")); v != "" {
				d, err := decimal.Parse(v)
				if err != nil {
					f, ferr := parseFloat(v)
					if ferr == nil {
						d, err = decimal.FromFloat(f)
					}
				}
				if err != nil {
					p.failMsg(s, r.n, "minimum", msg{"must be a number with at most two decimals", "应为最多两位小数的数字"})
				}
				cm.minimum = d
			}
			ag.commitments = append(ag.commitments, cm)
			in.Commitments = append(in.Commitments, pairing.CommitmentInput{Categories: cm.categories, Measure: cm.measure,
				Minimum: cm.minimum.Float(), // decimal: convert at merge
				Period:  cm.period, Description: cm.description})
		}
		pair := pairing.Pair{StartsOn: ag.pair.startsOn, EndsOn: ag.pair.endsOn}
		if err := p.im.pairs.ValidateAgreement(in, pair); err != nil {
			e, ok := errs.As(err)
			if !ok {
				return err
			}
			for field, m := range e.Fields {
				r, name := first.n, field
				var idx int
				if n, _ := fmt.Sscanf(field, "commitments[%d].", &idx); n == 1 && idx < len(g.rows) {
					r, name = g.rows[idx].n, field[strings.Index(field, "].")+2:]
				}
				p.fail(s, r, fieldCol[name], m)
			}
		}
		p.agreements = append(p.agreements, ag)
	}
	// match stored agreements by title within their pair; overlaps
	byPair := map[*pairNode][]*agreementNode{}
	for _, ag := range p.agreements {
		byPair[ag.pair] = append(byPair[ag.pair], ag)
	}
	for pair, list := range byPair {
		if pair.id == 0 {
			continue
		}
		for _, ag := range list {
			var match *agreementNode
			for _, old := range p.dbAgrees[pair.id] {
				if old.title == ag.title {
					if match != nil {
						p.failMsg(s, ag.rows[0], "title", msg{"two agreements of this pair have this title; rename one in the agreement page first", "该结对有两份同名协议，请先在协议页面改名"})
					}
					match = old
				}
			}
			if match == nil {
				continue
			}
			ag.id = match.id
			match.inWorkbook = true
			ag.dirty = ag.signedOn != match.signedOn || ag.effectiveFrom != match.effectiveFrom || ag.effective != match.effective
			if len(ag.commitments) < len(match.commitments) {
				p.failMsg(s, ag.rows[0], "categories", msg{fmt.Sprintf("the agreement has %d commitments and the workbook lists %d: an import does not remove commitments", len(match.commitments), len(ag.commitments)),
					fmt.Sprintf("该协议已有 %d 项指标，工作簿只列出 %d 项：导入不会删除指标", len(match.commitments), len(ag.commitments))})
				continue
			}
			for i, cm := range ag.commitments {
				if i >= len(match.commitments) {
					ag.dirty = true
					continue
				}
				old := match.commitments[i]
				cm.id = old.id
				cm.catsChanged = pairing.CategoriesColumn(cm.categories) != pairing.CategoriesColumn(old.categories)
				cm.dirty = cm.catsChanged || cm.measure != old.measure || cm.minimum != old.minimum || cm.period != old.period || cm.description != old.description
				if cm.dirty {
					ag.dirty = true
				}
			}
		}
	}
	pairSheet := p.book.sheet(shPairs)
	for _, pair := range p.pairOrder(byPair) {
		var spans []*agreementNode
		spans = append(spans, byPair[pair]...)
		if pair.id != 0 {
			for _, old := range p.dbAgrees[pair.id] {
				if !old.inWorkbook {
					spans = append(spans, old)
					if pair.spanChanged && (old.effectiveFrom.Before(pair.startsOn) || (!pair.endsOn.IsZero() && old.effective.After(pair.endsOn))) {
						p.failMsg(pairSheet, pair.row, "starts_on", msg{fmt.Sprintf("the new dates would leave the agreement %q outside the pair's span", old.title),
							fmt.Sprintf("新的起止日期会使协议“%s”落在结对期限之外", old.title)})
					}
				}
			}
		}
		sort.SliceStable(spans, func(i, j int) bool { return spans[i].effectiveFrom.Before(spans[j].effectiveFrom) })
		var reach *agreementNode // the agreement reaching furthest so far
		for _, cur := range spans {
			if cur.effectiveFrom.IsZero() || cur.effective.IsZero() {
				continue
			}
			if reach != nil && !cur.effectiveFrom.After(reach.effective) {
				at, other := cur, reach
				if len(at.rows) == 0 {
					at, other = reach, cur
				}
				if len(at.rows) > 0 {
					p.failMsg(s, at.rows[0], "effective_from", msg{fmt.Sprintf("overlaps the agreement %q (%s to %s) of the same pair", other.title, other.effectiveFrom, other.effective),
						fmt.Sprintf("与同一结对的协议“%s”（%s 至 %s）时间重叠", other.title, other.effectiveFrom, other.effective)})
				}
			}
			if reach == nil || cur.effective.After(reach.effective) {
				reach = cur
			}
		}
	}
	// pairs whose span changed keep their stored agreements inside it
	for _, pair := range p.pairRows {
		if pair.spanChanged && byPair[pair] == nil {
			for _, old := range p.dbAgrees[pair.id] {
				if old.effectiveFrom.Before(pair.startsOn) || (!pair.endsOn.IsZero() && old.effective.After(pair.endsOn)) {
					p.failMsg(pairSheet, pair.row, "starts_on", msg{fmt.Sprintf("the new dates would leave the agreement %q outside the pair's span", old.title),
						fmt.Sprintf("新的起止日期会使协议“%s”落在结对期限之外", old.title)})
				}
			}
		}
	}
	return nil
}

func parseFloat(v string) (float64, error) { return strconv.ParseFloat(strings.TrimSpace(v), 64) }

func (p *plan) agreementDate(ag *agreementNode, col string) date.Date {
	switch col {
	case "signed_on":
		return ag.signedOn
	case "effective_from":
		return ag.effectiveFrom
	}
	return ag.effective
}

// pairOrder lists the pairs of byPair in workbook order, so errors come
// out the same way each time.
func (p *plan) pairOrder(byPair map[*pairNode][]*agreementNode) []*pairNode {
	out := make([]*pairNode, 0, len(byPair))
	for k := range byPair {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return byPair[out[i]][0].rows[0] < byPair[out[j]][0].rows[0] })
	return out
}

// ---- counts ----

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
