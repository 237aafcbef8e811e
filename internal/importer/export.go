package importer

import (
	"context"
	"database/sql"
	"io"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
)

// Export writes the workbook filled with the actor's scope: an admin's is
// everything, a bureau's its subtree (the pairs whose two schools are in
// it, and their coordinators and principals). Only active pairs are
// written, since an import finds pairs by their active pair. Importing the
// export changes nothing.
func (im *Importer) Export(ctx context.Context, a auth.Actor, lang string, out io.Writer) error {
	if !a.IsAdmin() && !a.IsBureau() {
		return errs.Forbidden("only an admin or a bureau may export the workbook")
	}
	w, err := newWriter(lang)
	if err != nil {
		return err
	}
	conn := im.db.Conn(ctx)
	fresh := func() *gorm.DB { return conn.Session(&gorm.Session{NewDB: true}) }
	scopeLike := a.RegionPath + "%"

	// regions: a name where it is unique, else the path of names
	type regionRow struct {
		ID       int64
		Name     string
		Level    string
		ParentID *int64
		Path     string
	}
	var regions []regionRow
	if err := fresh().Table("regions").Select("id, name, level, parent_id, path").Order("path").Find(&regions).Error; err != nil {
		return err
	}
	byID := make(map[int64]*regionRow, len(regions))
	count := map[string]int{}
	for i := range regions {
		byID[regions[i].ID] = &regions[i]
		count[regions[i].Name]++
	}
	regionRef := func(id int64) string {
		r := byID[id]
		if r == nil {
			return ""
		}
		if count[r.Name] == 1 {
			return r.Name
		}
		var parts []string
		for _, seg := range strings.Split(strings.Trim(r.Path, "/"), "/") {
			n, _ := strconv.ParseInt(seg, 10, 64)
			if anc := byID[n]; anc != nil {
				parts = append(parts, anc.Name)
			}
		}
		return strings.Join(parts, "/")
	}
	if err := w.sheet(sheetByKey(shRegions), true, func(emit func([]any) error) error {
		for _, r := range regions {
			if !a.IsAdmin() && !strings.HasPrefix(r.Path, a.RegionPath) {
				continue
			}
			parent := ""
			if r.ParentID != nil {
				parent = regionRef(*r.ParentID)
			}
			if err := emit([]any{r.Name, levels.label(r.Level, w.lang), parent}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}

	// schools: a reference by code, else by name where unique, else region/name
	var dupNames []string
	if err := fresh().Table("schools").Select("name").Group("name").Having("COUNT(*) > 1").Find(&dupNames).Error; err != nil {
		return err
	}
	dup := make(map[string]bool, len(dupNames))
	for _, n := range dupNames {
		dup[n] = true
	}
	schoolScope := "1 = 1"
	var scopeArgs []any
	if !a.IsAdmin() {
		schoolScope = "region_id IN (SELECT id FROM regions WHERE path LIKE ?)"
		scopeArgs = []any{scopeLike}
	}
	schoolRef := map[int64]string{}
	if err := w.sheet(sheetByKey(shSchools), false, func(emit func([]any) error) error {
		rows, err := fresh().Table("schools").Select("id, name, code, region_id, stage, email").Where(schoolScope, scopeArgs...).Order("id").Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, region int64
			var name, stage, email string
			var code sql.NullString
			if err := rows.Scan(&id, &name, &code, &region, &stage, &email); err != nil {
				return err
			}
			switch {
			case code.Valid && code.String != "":
				schoolRef[id] = code.String
			case !dup[name]:
				schoolRef[id] = name
			default:
				schoolRef[id] = regionRef(region) + "/" + name
			}
			if err := emit([]any{name, textCell(code.String), regionRef(region), stageEnum.label(stage, w.lang), email}); err != nil {
				return err
			}
		}
		return rows.Err()
	}); err != nil {
		return err
	}

	// users: a bureau's coordinators and principals; an admin's every
	// account but the admins
	if err := w.sheet(sheetByKey(shUsers), false, func(emit func([]any) error) error {
		q := fresh().Table("users").Select("name, email, COALESCE(phone, ''), role, school_id, region_id").Where("active = ?", true)
		if a.IsAdmin() {
			q = q.Where("role IN ?", []string{auth.RoleBureau, auth.RoleCoordinator, auth.RolePrincipal})
		} else {
			q = q.Where("role IN ? AND school_id IN (SELECT id FROM schools WHERE "+schoolScope+")",
				append([]any{[]string{auth.RoleCoordinator, auth.RolePrincipal}}, scopeArgs...)...)
		}
		rows, err := q.Order("id").Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name, email, phone, role string
			var school, region sql.NullInt64
			if err := rows.Scan(&name, &email, &phone, &role, &school, &region); err != nil {
				return err
			}
			sref, rref := "", ""
			if school.Valid {
				sref = schoolRef[school.Int64]
			}
			if region.Valid {
				rref = regionRef(region.Int64)
			}
			if err := emit([]any{name, email, textCell(phone), roleEnum.label(role, w.lang), sref, rref}); err != nil {
				return err
			}
		}
		return rows.Err()
	}); err != nil {
		return err
	}

	// pairs: active, both schools in the scope
	pairCond := "pairs.status = 'active'"
	var pairArgs []any
	if !a.IsAdmin() {
		sub := "SELECT s.id FROM schools s JOIN regions r ON r.id = s.region_id WHERE r.path LIKE ?"
		pairCond += " AND pairs.supporting_school_id IN (" + sub + ") AND pairs.supported_school_id IN (" + sub + ")"
		pairArgs = []any{scopeLike, scopeLike}
	}
	type pairRefs struct{ sup, sud string }
	pairs := map[int64]pairRefs{}
	if err := w.sheet(sheetByKey(shPairs), false, func(emit func([]any) error) error {
		rows, err := fresh().Table("pairs").Select("id, supporting_school_id, supported_school_id, starts_on, ends_on, round").
			Where(pairCond, pairArgs...).Order("id").Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, sup, sud int64
			var starts, ends date.Date
			var round string
			if err := rows.Scan(&id, &sup, &sud, &starts, &ends, &round); err != nil {
				return err
			}
			pairs[id] = pairRefs{schoolRef[sup], schoolRef[sud]}
			if err := emit([]any{schoolRef[sup], schoolRef[sud], dateCell(starts), dateCell(ends), round}); err != nil {
				return err
			}
		}
		return rows.Err()
	}); err != nil {
		return err
	}

	// agreements: one row per commitment, in agreement and position order
	type agreementRow struct {
		ID            int64
		PairID        int64
		Title         string
		SignedOn      date.Date
		EffectiveFrom date.Date
		EffectiveTo   date.Date
	}
	agreements := map[int64]agreementRow{}
	inPairs := "pair_id IN (SELECT pairs.id FROM pairs WHERE " + pairCond + ")"
	{
		var rows []agreementRow
		if err := fresh().Table("agreements").Select("id, pair_id, title, signed_on, effective_from, effective_to").
			Where(inPairs, pairArgs...).Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			agreements[r.ID] = r
		}
	}
	sep := "、"
	if w.lang == LangEN {
		sep = ", "
	}
	if err := w.sheet(sheetByKey(shAgreements), false, func(emit func([]any) error) error {
		rows, err := fresh().Table("commitments").Select("agreement_id, categories, measure, minimum, period, description").
			Where("agreement_id IN (SELECT id FROM agreements WHERE "+inPairs+")", pairArgs...).
			Order("agreement_id, position").Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var agID int64
			var cats, measure, period, desc string
			var minimum decimal.D
			if err := rows.Scan(&agID, &cats, &measure, &minimum, &period, &desc); err != nil {
				return err
			}
			ag, ok := agreements[agID]
			if !ok {
				continue
			}
			labels := strings.Split(cats, ",")
			for i, c := range labels {
				labels[i] = categoryEnum.label(c, w.lang)
			}
			pr := pairs[ag.PairID]
			if err := emit([]any{pr.sup, pr.sud, ag.Title, dateCell(ag.SignedOn), dateCell(ag.EffectiveFrom), dateCell(ag.EffectiveTo),
				strings.Join(labels, sep), measureEnum.label(measure, w.lang), minimum.Float(), periodEnum.label(period, w.lang), desc}); err != nil {
				return err
			}
		}
		return rows.Err()
	}); err != nil {
		return err
	}
	return w.finish(out)
}
