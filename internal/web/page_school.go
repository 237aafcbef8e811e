package web

import (
	"net/http"
	"sort"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
)

// The school's overview (一对多): a supporting school with many pairs
// sees all of them on one page, one line each — where every pair stands
// in its current periods and what waits for confirmation — worst first,
// instead of a card per pair.

// schoolPairRow is one pair of the overview.
type schoolPairRow struct {
	PairID                         int64
	Partner                        string // the other school
	Supporting                     bool   // the own school supports in this pair
	Status, Round                  string
	Met, OnTrack, AtRisk, Breached int
	Waiting                        int64 // activities of the pair awaiting confirmation
}

// manyPairs is from how many pairs the coordinator's home shows the
// overview instead of a card per pair.
const manyPairs = 4

// schoolOverview evaluates the actor's pairs as of today (the current
// period of each commitment) and counts their pending activities: a fixed
// number of queries whatever the number of pairs.
func (s *Server) schoolOverview(c echo.Context, a auth.Actor) ([]schoolPairRow, map[string]int, error) {
	ctx := c.Request().Context()
	rep, err := s.Compliance.Scope(ctx, a, compliance.Query{At: s.today(), Page: page.Page{Limit: page.MaxLimit}})
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int64, len(rep.Items))
	for i, pr := range rep.Items {
		ids[i] = pr.PairID
	}
	waiting := map[int64]int64{}
	if len(ids) > 0 {
		var rows []struct {
			PairID int64
			N      int64
		}
		if err := s.DB.Conn(ctx).Table("activities").Select("pair_id, COUNT(*) AS n").
			Where("status = 'pending' AND pair_id IN ?", ids).Group("pair_id").Scan(&rows).Error; err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			waiting[r.PairID] = r.N
		}
	}
	totals := map[string]int{"pairs": len(rep.Items)}
	out := make([]schoolPairRow, 0, len(rep.Items))
	for _, pr := range rep.Items {
		row := schoolPairRow{PairID: pr.PairID, Status: pr.Status, Round: pr.Round, Waiting: waiting[pr.PairID],
			Supporting: pr.SupportingSchool.ID == a.SchoolID, Partner: pr.SupportingSchool.Name}
		if row.Supporting {
			row.Partner = pr.SupportedSchool.Name
		}
		for _, it := range pr.Items {
			switch it.Status {
			case compliance.Met:
				row.Met++
			case compliance.OnTrack:
				row.OnTrack++
			case compliance.AtRisk:
				row.AtRisk++
			case compliance.Breached:
				row.Breached++
			}
		}
		totals["met"] += row.Met
		totals["on_track"] += row.OnTrack
		totals["at_risk"] += row.AtRisk
		totals["breached"] += row.Breached
		totals["waiting"] += int(row.Waiting)
		out = append(out, row)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Breached != out[j].Breached {
			return out[i].Breached > out[j].Breached
		}
		return out[i].AtRisk > out[j].AtRisk
	})
	return out, totals, nil
}

// schoolPage is the overview of all the school's pairs (coordinators and
// principals).
func (s *Server) schoolPage(c echo.Context) error {
	a, _ := pageActor(c)
	if !a.IsSchoolUser() || a.SchoolID == 0 {
		return errs.Forbidden("the school overview is for a school's coordinators and principals")
	}
	rows, totals, err := s.schoolOverview(c, a)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "school.title", "school")
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Rows": rows, "Totals": totals}
	return s.render(c, http.StatusOK, "home_school", p)
}
