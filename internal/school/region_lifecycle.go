package school

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm/clause"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/patch"
)

// RegionPatch renames or moves a region (merge patch). parent_id null
// makes it a root, which only a province may be.
type RegionPatch struct {
	Name     patch.Field[string] `json:"name" validate:"omitempty,max=100"`
	ParentID patch.Field[int64]  `json:"parent_id"`
}

// UpdateRegion renames a region and/or moves it under another parent. A
// move rewrites the materialised path of the whole subtree in the same
// transaction (one UPDATE on the path index), so every scope query sees
// either the old tree or the new one. A region cannot move under itself
// or its own descendants, and the level order (province > city > county)
// must hold for the new parent.
func (s *Service) UpdateRegion(ctx context.Context, a auth.Actor, id int64, in RegionPatch) (Region, error) {
	if !a.IsAdmin() {
		return Region{}, errs.Forbidden("only an admin may change regions")
	}
	if err := s.val.Validate(in); err != nil {
		return Region{}, err
	}
	f := errs.Fields{}
	if in.Name.Null || (in.Name.HasValue() && strings.TrimSpace(in.Name.Value) == "") {
		f.Add("name", "is required")
	}
	if err := f.Err(); err != nil {
		return Region{}, err
	}
	var r Region
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		conn := s.db.Conn(ctx)
		q := conn
		if s.db.Dialect() == database.MySQL {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.First(&r, id).Error; err != nil {
			if database.IsNotFound(err) {
				return errs.NotFound("region")
			}
			return err
		}
		before := r
		if in.Name.HasValue() {
			r.Name = strings.TrimSpace(in.Name.Value)
		}
		oldPath := r.Path
		if in.ParentID.Set {
			parentPath := "/"
			switch {
			case in.ParentID.Null && r.Level != Province:
				return errs.Field("parent_id", "is required for a "+r.Level)
			case in.ParentID.Null:
				r.ParentID = nil
			default:
				var parent Region
				if err := conn.First(&parent, in.ParentID.Value).Error; err != nil {
					if database.IsNotFound(err) {
						return errs.Field("parent_id", "no such region")
					}
					return err
				}
				if strings.HasPrefix(parent.Path, r.Path) {
					return errs.Conflict("region_cycle", "parent_id", fmt.Sprintf("%s cannot move under itself or one of its own sub-regions (%s)", r.Name, parent.Name))
				}
				if levelRank(parent.Level) >= levelRank(r.Level) {
					return errs.Field("parent_id", fmt.Sprintf("a %s cannot be under a %s", r.Level, parent.Level))
				}
				r.ParentID, parentPath = &parent.ID, parent.Path
			}
			r.Path = fmt.Sprintf("%s%d/", parentPath, r.ID)
		}
		if err := conn.Model(&Region{}).Where("id = ?", r.ID).Updates(map[string]any{
			"name": r.Name, "parent_id": r.ParentID, "updated_at": s.now().UTC()}).Error; err != nil {
			return err
		}
		var moved []int64
		if r.Path != oldPath && s.status != nil {
			var err error
			if moved, err = s.pairsUnder(ctx, oldPath, 0); err != nil {
				return err
			}
			if err := s.status.DetachStatus(ctx, moved); err != nil {
				return err
			}
		}
		if r.Path != oldPath {
			// the region and every descendant: new prefix + the rest
			concat := "? || SUBSTR(path, ?)"
			if s.db.Dialect() == database.MySQL {
				concat = "CONCAT(?, SUBSTR(path, ?))"
			}
			if err := conn.Exec("UPDATE regions SET path = "+concat+" WHERE path LIKE ?",
				r.Path, len(oldPath)+1, oldPath+"%").Error; err != nil {
				return err
			}
		}
		if len(moved) > 0 {
			if err := s.status.AttachStatus(ctx, moved); err != nil {
				return err
			}
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "region.update", "region", r.ID,
			map[string]any{"patch": in, "before": map[string]any{"name": before.Name, "parent_id": before.ParentID, "path": before.Path}})
	})
	return r, err
}

// RegionNode is a region with its children, for the tree page.
type RegionNode struct {
	Region
	Depth    int
	Schools  int64
	Children []*RegionNode
}

// RegionTree returns the whole tree (roots first, children by name) with
// each region's own school count: two queries.
func (s *Service) RegionTree(ctx context.Context) ([]*RegionNode, error) {
	var regions []Region
	if err := s.db.Conn(ctx).Order("name").Find(&regions).Error; err != nil {
		return nil, err
	}
	var counts []struct {
		RegionID int64
		N        int64
	}
	if err := s.db.Conn(ctx).Table("schools").Select("region_id, COUNT(*) AS n").Group("region_id").Scan(&counts).Error; err != nil {
		return nil, err
	}
	nodes := make(map[int64]*RegionNode, len(regions))
	for _, r := range regions {
		nodes[r.ID] = &RegionNode{Region: r, Depth: strings.Count(r.Path, "/") - 2}
	}
	for _, c := range counts {
		if n := nodes[c.RegionID]; n != nil {
			n.Schools = c.N
		}
	}
	var roots []*RegionNode
	for _, r := range regions {
		n := nodes[r.ID]
		if r.ParentID != nil && nodes[*r.ParentID] != nil {
			p := nodes[*r.ParentID]
			p.Children = append(p.Children, n)
		} else {
			roots = append(roots, n)
		}
	}
	return roots, nil
}

// Flatten lists a tree depth first (the order a page shows it in).
func Flatten(roots []*RegionNode) []*RegionNode {
	var out []*RegionNode
	var walk func(ns []*RegionNode)
	walk = func(ns []*RegionNode) {
		for _, n := range ns {
			out = append(out, n)
			walk(n.Children)
		}
	}
	walk(roots)
	return out
}
