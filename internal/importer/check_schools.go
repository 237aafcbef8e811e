package importer

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/school"
)

// The 学校 sheet and school references.

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
