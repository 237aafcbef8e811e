package pairing

import (
	"context"
	"fmt"
	"strings"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/patch"
)

// AgreementPatch corrects an agreement (merge patch): its title, goals
// and signing date, and its end — ending it early or extending it within
// the pair's span, never over another agreement of the pair. null clears
// goals and signed_on.
type AgreementPatch struct {
	Title       patch.Field[string]    `json:"title" validate:"omitempty,max=200"`
	SignedOn    patch.Field[date.Date] `json:"signed_on"`
	EffectiveTo patch.Field[date.Date] `json:"effective_to"`
	Goals       patch.Field[string]    `json:"goals" validate:"omitempty,max=20000"`
}

// agreementFor loads an agreement, its pair as visible to a, and checks a
// may manage it. The pair row is touched first, which locks it (as
// CreateAgreement does), so overlap checks of one pair are serialised.
func (s *Service) agreementFor(ctx context.Context, a auth.Actor, id int64) (Agreement, Pair, error) {
	var ag Agreement
	conn := s.db.Conn(ctx)
	if err := conn.First(&ag, id).Error; err != nil {
		if database.IsNotFound(err) {
			return ag, Pair{}, errs.NotFound("agreement")
		}
		return ag, Pair{}, err
	}
	p, err := s.Pair(ctx, a, ag.PairID)
	if errs.Is(err, errs.KindNotFound) {
		return ag, p, errs.NotFound("agreement")
	}
	if err != nil {
		return ag, p, err
	}
	if err := s.canManage(ctx, a, p); err != nil {
		return ag, p, err
	}
	if err := conn.Exec("UPDATE pairs SET updated_at = ? WHERE id = ?", s.now().UTC(), p.ID).Error; err != nil {
		return ag, p, err
	}
	return ag, p, nil
}

// Agreement returns one agreement with its commitments, if a sees its pair.
func (s *Service) Agreement(ctx context.Context, a auth.Actor, id int64) (Agreement, error) {
	var ag Agreement
	if err := s.db.Conn(ctx).First(&ag, id).Error; err != nil {
		if database.IsNotFound(err) {
			return ag, errs.NotFound("agreement")
		}
		return ag, err
	}
	if _, err := s.Pair(ctx, a, ag.PairID); err != nil {
		if errs.Is(err, errs.KindNotFound) {
			return ag, errs.NotFound("agreement")
		}
		return ag, err
	}
	cs, err := s.commitmentsOf(ctx, "commitments.agreement_id = ?", ag.ID)
	ag.Commitments = cs[ag.ID]
	return ag, err
}

// UpdateAgreement applies a patch. A new end moves the periods that count
// (an "agreement" period, the coverage of the last months and terms), so
// the pair's read model is rebuilt in the same transaction; breaches
// already recorded and notices already sent stay as they were.
func (s *Service) UpdateAgreement(ctx context.Context, a auth.Actor, id int64, in AgreementPatch) (Agreement, error) {
	if err := s.val.Validate(in); err != nil {
		return Agreement{}, err
	}
	var ag Agreement
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		var p Pair
		var err error
		if ag, p, err = s.agreementFor(ctx, a, id); err != nil {
			return err
		}
		before := ag
		f := errs.Fields{}
		if in.Title.Null || (in.Title.HasValue() && strings.TrimSpace(in.Title.Value) == "") {
			f.Add("title", "is required")
		}
		if in.EffectiveTo.Null || (in.EffectiveTo.HasValue() && in.EffectiveTo.Value.IsZero()) {
			f.Add("effective_to", "is required; it cannot be cleared")
		}
		if err := f.Err(); err != nil {
			return err
		}
		if in.Title.HasValue() {
			ag.Title = strings.TrimSpace(in.Title.Value)
		}
		in.SignedOn.Apply(&ag.SignedOn)
		in.Goals.Apply(&ag.Goals)
		in.EffectiveTo.Apply(&ag.EffectiveTo)
		conn := s.db.Conn(ctx)
		if ag.EffectiveTo != before.EffectiveTo {
			switch {
			case ag.EffectiveTo.Before(ag.EffectiveFrom):
				return errs.Field("effective_to", "must not be before effective_from ("+ag.EffectiveFrom.String()+")")
			case !p.EndsOn.IsZero() && ag.EffectiveTo.After(p.EndsOn):
				return errs.Field("effective_to", "must not be after the pair ends ("+p.EndsOn.String()+")")
			}
			var clash Agreement
			err := conn.Where("pair_id = ? AND id <> ? AND effective_from <= ? AND effective_to >= ?", p.ID, ag.ID, ag.EffectiveTo, ag.EffectiveFrom).Take(&clash).Error
			if err == nil {
				return errs.Conflict("overlapping_agreement", "effective_to", fmt.Sprintf("would overlap agreement %d (%s to %s)", clash.ID, clash.EffectiveFrom, clash.EffectiveTo))
			}
			if !database.IsNotFound(err) {
				return err
			}
			var late int64
			if err := conn.Table("commitments").Where("agreement_id = ? AND ends_on > ?", ag.ID, ag.EffectiveTo).Count(&late).Error; err != nil {
				return err
			}
			if late > 0 {
				return errs.Conflict("commitment_retired_later", "effective_to", "a commitment of this agreement is retired after the new end; retire it earlier first")
			}
		}
		if ag.EffectiveTo != before.EffectiveTo {
			if err := s.detach(ctx, []int64{p.ID}); err != nil {
				return err
			}
		}
		if err := conn.Model(&Agreement{}).Where("id = ?", ag.ID).Updates(map[string]any{
			"title": ag.Title, "signed_on": ag.SignedOn, "effective_to": ag.EffectiveTo, "goals": ag.Goals,
			"updated_at": s.now().UTC()}).Error; err != nil {
			return err
		}
		if ag.EffectiveTo != before.EffectiveTo {
			if err := s.agreementAdded(ctx, p.ID); err != nil {
				return err
			}
		}
		cs, err := s.commitmentsOf(ctx, "commitments.agreement_id = ?", ag.ID)
		if err != nil {
			return err
		}
		ag.Commitments = cs[ag.ID]
		return audit.Record(ctx, conn, s.now(), a.UserID, "agreement.update", "agreement", ag.ID,
			map[string]any{"patch": in, "before": map[string]any{"title": before.Title, "signed_on": before.SignedOn, "effective_to": before.EffectiveTo}})
	})
	return ag, err
}

// AddCommitment adds a quota to an existing agreement; what the pair's
// activities already count toward it is computed at once (the pair's read
// model is rebuilt in the same transaction).
func (s *Service) AddCommitment(ctx context.Context, a auth.Actor, agreementID int64, in CommitmentInput) (Commitment, error) {
	if err := s.val.Validate(in); err != nil {
		return Commitment{}, err
	}
	var c Commitment
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		ag, p, err := s.agreementFor(ctx, a, agreementID)
		if err != nil {
			return err
		}
		// the rules of a commitment of a new agreement, its fields named
		// without the "commitments[0]." of that form
		one := AgreementInput{EffectiveFrom: ag.EffectiveFrom, EffectiveTo: ag.EffectiveTo, Commitments: []CommitmentInput{in}}
		if err := checkAgreement(one, p); err != nil {
			if e, ok := errs.As(err); ok {
				f := errs.Fields{}
				for k, v := range e.Fields {
					f.Add(strings.TrimPrefix(k, "commitments[0]."), v)
				}
				return f.Err()
			}
			return err
		}
		conn := s.db.Conn(ctx)
		var pos int
		if err := conn.Raw("SELECT COALESCE(MAX(position), -1) + 1 FROM commitments WHERE agreement_id = ?", ag.ID).Scan(&pos).Error; err != nil {
			return err
		}
		if err := s.detach(ctx, []int64{p.ID}); err != nil {
			return err
		}
		c = Commitment{AgreementID: ag.ID, Position: pos, Measure: in.Measure, Minimum: in.Minimum,
			Period: in.Period, Description: strings.TrimSpace(in.Description), Categories: orderCategories(in.Categories),
			CategoryList: CategoriesColumn(in.Categories)}
		if err := conn.Create(&c).Error; err != nil {
			return err
		}
		links := make([]CommitmentCategory, 0, len(in.Categories))
		for _, cat := range in.Categories {
			links = append(links, CommitmentCategory{CommitmentID: c.ID, Category: cat})
		}
		if err := conn.Create(&links).Error; err != nil {
			return err
		}
		if err := s.agreementAdded(ctx, p.ID); err != nil {
			return err
		}
		return audit.Record(ctx, conn, s.now(), a.UserID, "commitment.create", "commitment", c.ID,
			map[string]any{"agreement_id": ag.ID, "commitment": in})
	})
	return c, err
}

// CommitmentPatch retires a commitment from a date (ends_on; null
// restores it) or corrects its description.
type CommitmentPatch struct {
	EndsOn      patch.Field[date.Date] `json:"ends_on"`
	Description patch.Field[string]    `json:"description" validate:"omitempty,max=500"`
}

// UpdateCommitment applies a patch. Retiring a commitment from a date
// (ends_on) keeps every period that starts on or before it — whole, as
// agreed, including the one ends_on falls in — and drops the periods that
// start after it: they are no longer required. The periods and what counts
// toward each are unchanged, so period_totals stays as it is (the status
// read model moves: it counts commitments by retirement date); breaches
// recorded and notices sent are history and stay too.
func (s *Service) UpdateCommitment(ctx context.Context, a auth.Actor, id int64, in CommitmentPatch) (Commitment, error) {
	if err := s.val.Validate(in); err != nil {
		return Commitment{}, err
	}
	var c Commitment
	err := s.db.WithTx(ctx, func(ctx context.Context) error {
		var agID int64
		if err := s.db.Conn(ctx).Raw("SELECT agreement_id FROM commitments WHERE id = ?", id).Scan(&agID).Error; err != nil {
			return err
		}
		if agID == 0 {
			return errs.NotFound("commitment")
		}
		ag, _, err := s.agreementFor(ctx, a, agID)
		if errs.Is(err, errs.KindNotFound) {
			return errs.NotFound("commitment")
		}
		if err != nil {
			return err
		}
		// agreementFor touched the pair row: changes to its agreements and
		// commitments are serialised on it
		cs, err := LoadCommitments(s.db.Conn(ctx), "commitments.id = ?", id)
		if err != nil {
			return err
		}
		c = cs[agID][0]
		before := c
		in.EndsOn.Apply(&c.EndsOn)
		if in.Description.Set {
			c.Description = strings.TrimSpace(in.Description.Value)
		}
		if !c.EndsOn.IsZero() && (c.EndsOn.Before(ag.EffectiveFrom) || c.EndsOn.After(ag.EffectiveTo)) {
			return errs.Field("ends_on", "must lie within the agreement ("+ag.EffectiveFrom.String()+" to "+ag.EffectiveTo.String()+")")
		}
		// a retirement changes the commitment's grades: out of the status
		// read model with the old date, in with the new
		moved := c.EndsOn != before.EndsOn
		if moved {
			if err := s.status.DetachStatus(ctx, []int64{ag.PairID}); err != nil {
				return err
			}
		}
		if err := s.db.Conn(ctx).Table("commitments").Where("id = ?", c.ID).Updates(map[string]any{
			"ends_on": c.EndsOn, "description": c.Description}).Error; err != nil {
			return err
		}
		if moved {
			if err := s.status.AttachStatus(ctx, []int64{ag.PairID}); err != nil {
				return err
			}
		}
		return audit.Record(ctx, s.db.Conn(ctx), s.now(), a.UserID, "commitment.update", "commitment", c.ID,
			map[string]any{"patch": in, "before": map[string]any{"ends_on": before.EndsOn, "description": before.Description}})
	})
	return c, err
}
