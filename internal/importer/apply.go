package importer

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/search"
)

// batch is how many rows one INSERT carries.
const batch = 500

// apply writes the checked plan in the caller's transaction: inserts in
// batches, changes as one UPDATE … CASE per batch, then the compliance
// read model of the touched existing pairs, the invitations and one audit
// entry for the whole import.
func (p *plan) apply(ctx context.Context) error {
	conn := p.im.db.Conn(ctx).Session(&gorm.Session{NewDB: true})
	now := p.im.now()
	if err := p.applyRegions(conn, now); err != nil {
		return err
	}
	if err := p.applySchools(conn, now); err != nil {
		return err
	}
	invite, err := p.applyUsers(conn, now)
	if err != nil {
		return err
	}
	if err := p.applyPairs(conn, now); err != nil {
		return err
	}
	rebuild, err := p.applyAgreements(conn, now)
	if err != nil {
		return err
	}
	// (called even when no existing pair changed: the rebuild also
	// refreshes what is counted per region, which moved schools change)
	if p.im.rebuild != nil {
		if err := p.im.rebuild(ctx, rebuild); err != nil {
			return err
		}
	}
	if len(invite) > 0 && p.im.inviter != nil {
		if err := p.im.inviter.InviteTx(ctx, invite, now); err != nil {
			return err
		}
	}
	res := p.result()
	return audit.Record(ctx, conn, now, p.a.UserID, "import.workbook", "import", 0, map[string]any{
		"created": res.Created, "updated": res.Updated, "unchanged": res.Unchanged, "invited": len(invite)})
}

// update sets columns of many rows by id: one statement per batch,
// "SET col = CASE id WHEN ? THEN ? … END".
func update(conn *gorm.DB, table string, cols []string, ids []int64, vals [][]any, touched *time.Time) error {
	const per = 200
	for start := 0; start < len(ids); start += per {
		end := min(start+per, len(ids))
		var sb strings.Builder
		args := make([]any, 0, (end-start)*(2*len(cols)+1)+1)
		sb.WriteString("UPDATE " + table + " SET ")
		for ci, col := range cols {
			if ci > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(col + " = CASE id")
			for i := start; i < end; i++ {
				sb.WriteString(" WHEN ? THEN ?")
				args = append(args, ids[i], vals[i][ci])
			}
			sb.WriteString(" END")
		}
		if touched != nil {
			sb.WriteString(", updated_at = ?")
			args = append(args, touched.UTC())
		}
		sb.WriteString(" WHERE id IN ?")
		args = append(args, ids[start:end])
		if err := conn.Exec(sb.String(), args...).Error; err != nil {
			return err
		}
	}
	return nil
}

func depth(n *regionNode) int {
	d := 0
	for ; n.parent != nil; n = n.parent {
		d++
	}
	return d
}

func (p *plan) applyRegions(conn *gorm.DB, now time.Time) error {
	news := append([]*regionNode(nil), p.newRegions...)
	sort.SliceStable(news, func(i, j int) bool { return depth(news[i]) < depth(news[j]) })
	for start := 0; start < len(news); {
		d := depth(news[start])
		end := start
		for end < len(news) && depth(news[end]) == d {
			end++
		}
		level := news[start:end]
		rows := make([]school.Region, len(level))
		for i, n := range level {
			rows[i] = school.Region{Name: n.name, Level: n.level, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
			if n.parent != nil {
				rows[i].ParentID = &n.parent.id
			}
		}
		if err := conn.CreateInBatches(&rows, batch).Error; err != nil {
			return err
		}
		ids := make([]int64, len(level))
		vals := make([][]any, len(level))
		for i, n := range level {
			n.id = rows[i].ID
			parentPath := "/"
			if n.parent != nil {
				parentPath = n.parent.path
			}
			n.path = fmt.Sprintf("%s%d/", parentPath, n.id)
			ids[i], vals[i] = n.id, []any{n.path}
		}
		if err := update(conn, "regions", []string{"path"}, ids, vals, nil); err != nil {
			return err
		}
		start = end
	}
	var ids []int64
	var vals [][]any
	for _, n := range p.regionRows {
		if n.id != 0 && n.oldLevel != "" && n.level != n.oldLevel {
			ids, vals = append(ids, n.id), append(vals, []any{n.level})
		}
	}
	return update(conn, "regions", []string{"level"}, ids, vals, &now)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (p *plan) applySchools(conn *gorm.DB, now time.Time) error {
	var fresh []*schoolNode
	var ids []int64
	var vals [][]any
	for _, n := range p.schools {
		switch {
		case n.row == 0:
		case n.id == 0:
			fresh = append(fresh, n)
		case n.dirty:
			ids = append(ids, n.id)
			vals = append(vals, []any{n.name, nullable(n.code), n.region.id, n.stage, n.email, search.Text(n.name, n.code)})
		}
	}
	if err := update(conn, "schools", []string{"name", "code", "region_id", "stage", "email", "search_text"}, ids, vals, &now); err != nil {
		if database.IsDuplicate(err) {
			return errs.Conflict("duplicate_code", "code", "two schools would have the same code")
		}
		return err
	}
	for start := 0; start < len(fresh); start += batch {
		part := fresh[start:min(start+batch, len(fresh))]
		rows := make([]school.School, len(part))
		for i, n := range part {
			rows[i] = school.School{Name: n.name, Code: nullable(n.code), RegionID: n.region.id, Stage: n.stage, Email: n.email,
				SearchText: search.Text(n.name, n.code), CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
		}
		if err := conn.Create(&rows).Error; err != nil {
			if database.IsDuplicate(err) {
				return errs.Conflict("duplicate_code", "code", "another school has this code")
			}
			return err
		}
		for i, n := range part {
			n.id = rows[i].ID
		}
	}
	return nil
}

func idOf[T interface{ *schoolNode | *regionNode }](n T) *int64 {
	switch v := any(n).(type) {
	case *schoolNode:
		if v != nil {
			return &v.id
		}
	case *regionNode:
		if v != nil {
			return &v.id
		}
	}
	return nil
}

func (p *plan) applyUsers(conn *gorm.DB, now time.Time) ([]int64, error) {
	var fresh []*userNode
	var ids []int64
	var vals [][]any
	for _, u := range p.users {
		switch {
		case u.id == 0:
			fresh = append(fresh, u)
		case u.dirty:
			ids = append(ids, u.id)
			vals = append(vals, []any{u.name, auth.PhonePtr(u.phone), u.role, idOf(u.school), idOf(u.region), search.Text(u.name, u.email)})
		}
	}
	if err := update(conn, "users", []string{"name", "phone", "role", "school_id", "region_id", "search_text"}, ids, vals, &now); err != nil {
		return nil, err
	}
	var created []int64
	for start := 0; start < len(fresh); start += batch {
		part := fresh[start:min(start+batch, len(fresh))]
		rows := make([]auth.User, len(part))
		for i, u := range part {
			// no password: the invitation lets the person choose one
			rows[i] = auth.User{Name: u.name, Email: u.email, Phone: auth.PhonePtr(u.phone), Role: u.role, SchoolID: idOf(u.school),
				// no language until the person chooses one (pages follow the browser)
				RegionID: idOf(u.region), SearchText: search.Text(u.name, u.email), Active: true, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
			if rows[i].SchoolID != nil {
				v := *rows[i].SchoolID
				rows[i].SchoolID = &v
			}
			if rows[i].RegionID != nil {
				v := *rows[i].RegionID
				rows[i].RegionID = &v
			}
		}
		if err := conn.Create(&rows).Error; err != nil {
			if database.IsDuplicate(err) {
				return nil, errs.Conflict("duplicate_email", "email", "a user with one of these emails was just created")
			}
			return nil, err
		}
		for i, u := range part {
			u.id = rows[i].ID
			created = append(created, u.id)
		}
	}
	return created, nil
}

func (p *plan) applyPairs(conn *gorm.DB, now time.Time) error {
	var fresh []*pairNode
	var ids []int64
	var vals [][]any
	for _, n := range p.pairRows {
		switch {
		case n.id == 0:
			fresh = append(fresh, n)
		case n.dirty:
			ids = append(ids, n.id)
			vals = append(vals, []any{n.startsOn, n.endsOn, n.round})
		}
	}
	if err := update(conn, "pairs", []string{"starts_on", "ends_on", "round"}, ids, vals, &now); err != nil {
		return err
	}
	for start := 0; start < len(fresh); start += batch {
		part := fresh[start:min(start+batch, len(fresh))]
		rows := make([]pairing.Pair, len(part))
		for i, n := range part {
			key := pairing.ActiveKeyOf(n.sup.id, n.sud.id)
			rows[i] = pairing.Pair{SupportingSchoolID: n.sup.id, SupportedSchoolID: n.sud.id, StartsOn: n.startsOn, EndsOn: n.endsOn,
				Status: pairing.Active, Round: n.round, ActiveKey: &key, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
		}
		if err := conn.Omit("SupportingSchoolName", "SupportedSchoolName").Create(&rows).Error; err != nil {
			if database.IsDuplicate(err) {
				return errs.Conflict("duplicate_pair", "supported_school_id", "two of these schools were just paired by someone else")
			}
			return err
		}
		for i, n := range part {
			n.id = rows[i].ID
		}
	}
	return nil
}

// applyAgreements writes agreements and commitments; it answers the
// existing pairs whose agreements changed (their compliance is rebuilt).
func (p *plan) applyAgreements(conn *gorm.DB, now time.Time) ([]int64, error) {
	var fresh []*agreementNode
	var ids []int64
	var vals [][]any
	touched := map[int64]bool{}
	var newCommitments []*commitmentNode
	var newOwner []*agreementNode
	var cIDs []int64
	var cVals [][]any
	var relink []int64
	for _, ag := range p.agreements {
		if ag.id == 0 {
			fresh = append(fresh, ag)
			if ag.pair.id != 0 {
				touched[ag.pair.id] = true
			}
			continue
		}
		if ag.dirty {
			touched[ag.pair.id] = true
			ids = append(ids, ag.id)
			vals = append(vals, []any{ag.signedOn, ag.effectiveFrom, ag.effective})
		}
		for _, cm := range ag.commitments {
			switch {
			case cm.id == 0:
				newCommitments, newOwner = append(newCommitments, cm), append(newOwner, ag)
			case cm.dirty:
				cIDs = append(cIDs, cm.id)
				cVals = append(cVals, []any{pairing.CategoriesColumn(cm.categories), cm.measure, cm.minimum, cm.period, cm.description})
				if cm.catsChanged {
					relink = append(relink, cm.id)
				}
			}
		}
	}
	if err := update(conn, "agreements", []string{"signed_on", "effective_from", "effective_to"}, ids, vals, &now); err != nil {
		return nil, err
	}
	if err := update(conn, "commitments", []string{"categories", "measure", "minimum", "period", "description"}, cIDs, cVals, nil); err != nil {
		return nil, err
	}
	if err := inChunks(relink, func(ch []int64) error {
		return conn.Exec("DELETE FROM commitment_categories WHERE commitment_id IN ?", ch).Error
	}); err != nil {
		return nil, err
	}
	for start := 0; start < len(fresh); start += batch {
		part := fresh[start:min(start+batch, len(fresh))]
		rows := make([]pairing.Agreement, len(part))
		for i, ag := range part {
			rows[i] = pairing.Agreement{PairID: ag.pair.id, Title: ag.title, SignedOn: ag.signedOn, EffectiveFrom: ag.effectiveFrom,
				EffectiveTo: ag.effective, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
		}
		if err := conn.Create(&rows).Error; err != nil {
			return nil, err
		}
		for i, ag := range part {
			ag.id = rows[i].ID
			for _, cm := range ag.commitments {
				newCommitments, newOwner = append(newCommitments, cm), append(newOwner, ag)
			}
		}
	}
	var links []pairing.CommitmentCategory
	for start := 0; start < len(newCommitments); start += batch {
		end := min(start+batch, len(newCommitments))
		rows := make([]pairing.Commitment, end-start)
		for i := start; i < end; i++ {
			cm := newCommitments[i]
			rows[i-start] = pairing.Commitment{AgreementID: newOwner[i].id, Position: cm.position, Measure: cm.measure,
				Minimum: cm.minimum,
				Period:  cm.period, Description: cm.description, CategoryList: pairing.CategoriesColumn(cm.categories), CreatedAt: now.UTC()}
		}
		if err := conn.Create(&rows).Error; err != nil {
			return nil, err
		}
		for i := start; i < end; i++ {
			newCommitments[i].id = rows[i-start].ID
			for _, cat := range newCommitments[i].categories {
				links = append(links, pairing.CommitmentCategory{CommitmentID: rows[i-start].ID, Category: cat})
			}
		}
		if len(links) >= batch*4 {
			if err := conn.CreateInBatches(&links, batch*2).Error; err != nil {
				return nil, err
			}
			links = links[:0]
		}
	}
	if len(relink) > 0 {
		for _, ag := range p.agreements {
			for _, cm := range ag.commitments {
				if cm.catsChanged && cm.id != 0 {
					for _, cat := range cm.categories {
						links = append(links, pairing.CommitmentCategory{CommitmentID: cm.id, Category: cat})
					}
				}
			}
		}
	}
	if len(links) > 0 {
		if err := conn.CreateInBatches(&links, batch*2).Error; err != nil {
			return nil, err
		}
	}
	out := make([]int64, 0, len(touched))
	for id := range touched {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
