package calendar

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm/clause"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/patch"
)

// TermPatch corrects a term (merge patch); every member is required, so
// null is refused.
type TermPatch struct {
	SchoolYear patch.Field[string]    `json:"school_year"`
	Season     patch.Field[string]    `json:"season"`
	StartsOn   patch.Field[date.Date] `json:"starts_on"`
	EndsOn     patch.Field[date.Date] `json:"ends_on"`
}

// lockTerm reads a term, locked on MySQL (SQLite write transactions are
// exclusive already), and serialises calendar changes as CreateTerm does.
func (s *Service) lockTerm(ctx context.Context, id int64) (termRow, error) {
	conn := s.db.Conn(ctx)
	if s.db.Dialect() == database.MySQL {
		if err := conn.Exec("SELECT id FROM terms ORDER BY id DESC LIMIT 1 FOR UPDATE").Error; err != nil {
			return termRow{}, err
		}
		conn = conn.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var row termRow
	err := conn.First(&row, id).Error
	if database.IsNotFound(err) {
		return row, errs.NotFound("term")
	}
	return row, err
}

// recorded lists what was already decided under a term's period key (and,
// when the term is the only one of its school year, under the school
// year's): breaches recorded and notices sent. Those are history and must
// keep meaning what they meant.
func (s *Service) recorded(ctx context.Context, t Term) ([]string, error) {
	conn := s.db.Conn(ctx)
	keys := []string{t.Key()}
	var siblings int64
	if err := conn.Table("terms").Where("school_year = ? AND id <> ?", t.SchoolYear, t.ID).Count(&siblings).Error; err != nil {
		return nil, err
	}
	if siblings == 0 {
		keys = append(keys, t.SchoolYear)
	}
	var breaches, notices int64
	if err := conn.Table("breaches").Where("period_key IN ?", keys).Count(&breaches).Error; err != nil {
		return nil, err
	}
	if err := conn.Table("notices").Where("period_key IN ?", keys).Count(&notices).Error; err != nil {
		return nil, err
	}
	var out []string
	if breaches > 0 {
		out = append(out, fmt.Sprintf("%d recorded breach(es) of period %s", breaches, strings.Join(keys, " / ")))
	}
	if notices > 0 {
		out = append(out, fmt.Sprintf("%d notice(s) sent for period %s", notices, strings.Join(keys, " / ")))
	}
	return out, nil
}

// UpdateTerm corrects a term's dates (or label). Terms still may not
// overlap. Compliance follows at once: the term and school-year periods
// move, so the read model is rebuilt in the same transaction. A label
// change would orphan breaches and notices recorded under the old period
// key, so it is refused once there are any (the dates may still change:
// what was recorded stays as recorded).
func (s *Service) UpdateTerm(ctx context.Context, a auth.Actor, id int64, in TermPatch) (Term, error) {
	if !a.IsAdmin() {
		return Term{}, errs.Forbidden("only an admin may manage terms")
	}
	var row termRow
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		var err error
		if row, err = s.lockTerm(ctx, id); err != nil {
			return err
		}
		before := row.Term
		f := errs.Fields{}
		for name, fv := range map[string]bool{"school_year": in.SchoolYear.Null, "season": in.Season.Null,
			"starts_on": in.StartsOn.Null || (in.StartsOn.HasValue() && in.StartsOn.Value.IsZero()),
			"ends_on":   in.EndsOn.Null || (in.EndsOn.HasValue() && in.EndsOn.Value.IsZero())} {
			if fv {
				f.Add(name, "is required; it cannot be cleared")
			}
		}
		if err := f.Err(); err != nil {
			return err
		}
		in.SchoolYear.Apply(&row.SchoolYear)
		in.Season.Apply(&row.Season)
		in.StartsOn.Apply(&row.StartsOn)
		in.EndsOn.Apply(&row.EndsOn)
		if err := ValidateSchoolYear(row.SchoolYear); err != nil {
			f.Add("school_year", err.Error())
		}
		if !ValidSeason(row.Season) {
			f.Add("season", "must be autumn or spring")
		}
		if row.EndsOn.Before(row.StartsOn) {
			f.Add("ends_on", "must not be before starts_on")
		}
		if err := f.Err(); err != nil {
			return err
		}
		conn := s.db.Conn(ctx)
		if row.Key() != before.Key() {
			deps, err := s.recorded(ctx, before)
			if err != nil {
				return err
			}
			if len(deps) > 0 {
				return errs.Conflict("term_in_use", "school_year", "the term's key "+before.Key()+" is used by "+strings.Join(deps, " and ")+"; only its dates may change")
			}
		}
		var clash Term
		err = conn.Table("terms").Where("id <> ? AND starts_on <= ? AND ends_on >= ?", row.ID, row.EndsOn, row.StartsOn).Take(&clash).Error
		if err == nil {
			field := "starts_on"
			if clash.StartsOn.After(row.StartsOn) {
				field = "ends_on"
			}
			return errs.Conflict("overlapping_term", field,
				"overlaps term "+clash.Key()+" ("+clash.StartsOn.String()+" to "+clash.EndsOn.String()+")")
		}
		if !database.IsNotFound(err) {
			return err
		}
		if err := conn.Table("terms").Where("id = ?", row.ID).Updates(map[string]any{
			"school_year": row.SchoolYear, "season": row.Season, "starts_on": row.StartsOn, "ends_on": row.EndsOn,
			"updated_at": s.now().UTC()}).Error; err != nil {
			if database.IsDuplicate(err) {
				return errs.Conflict("duplicate_term", "season", "term "+row.Key()+" already exists")
			}
			return err
		}
		if err := s.termsChanged(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "term.update", "term", row.ID, map[string]any{"patch": in, "before": before})
	})
	return row.Term, err
}

// DeleteTerm removes a term no period depends on. A term is depended on
// when (1) a breach was recorded or a notice sent under its period key (or
// its school year's, when it is that year's only term): history names it;
// or (2) an agreement whose span overlaps the term has a commitment
// measured per term or per school year: its periods would silently change.
// Monthly and whole-agreement commitments do not depend on terms. The 409
// names what depends on it.
func (s *Service) DeleteTerm(ctx context.Context, a auth.Actor, id int64) error {
	if !a.IsAdmin() {
		return errs.Forbidden("only an admin may manage terms")
	}
	return s.db.WithTx(ctx, func(ctx context.Context) error {
		row, err := s.lockTerm(ctx, id)
		if err != nil {
			return err
		}
		deps, err := s.recorded(ctx, row.Term)
		if err != nil {
			return err
		}
		conn := s.db.Conn(ctx)
		var ags []struct {
			ID    int64
			Title string
		}
		if err := conn.Raw(`SELECT DISTINCT agreements.id, agreements.title FROM agreements
			JOIN commitments ON commitments.agreement_id = agreements.id
			WHERE commitments.period IN ? AND agreements.effective_from <= ? AND agreements.effective_to >= ?
			ORDER BY agreements.id LIMIT 6`, []string{string(TermPeriod), string(SchoolYear)}, row.EndsOn, row.StartsOn).Scan(&ags).Error; err != nil {
			return err
		}
		if len(ags) > 0 {
			names := make([]string, 0, len(ags))
			for i, ag := range ags {
				if i == 5 {
					names = append(names, "…")
					break
				}
				names = append(names, fmt.Sprintf("%d %s", ag.ID, ag.Title))
			}
			deps = append(deps, "per-term or per-school-year commitments of agreement(s) "+strings.Join(names, ", "))
		}
		if len(deps) > 0 {
			return errs.Conflict("term_in_use", "id", "term "+row.Key()+" cannot be deleted: "+strings.Join(deps, "; "))
		}
		if err := conn.Exec("DELETE FROM terms WHERE id = ?", row.ID).Error; err != nil {
			return err
		}
		if err := s.termsChanged(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "term.delete", "term", row.ID, row.Term)
	})
}

// Term returns one term.
func (s *Service) Term(ctx context.Context, id int64) (Term, error) {
	var t Term
	err := s.db.Conn(ctx).Table("terms").Where("id = ?", id).Take(&t).Error
	if database.IsNotFound(err) {
		return t, errs.NotFound("term")
	}
	return t, err
}
