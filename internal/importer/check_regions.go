package importer

import (
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/school"
)

// The 地区 sheet and region references.

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
