package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/errs"
)

func (s *Server) logActivity(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in activity.Input
	if err := bind(c, &in); err != nil {
		return err
	}
	act, replayed, err := s.Activities.Log(c.Request().Context(), actor(c), id, in, c.Request().Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	if replayed {
		c.Response().Header().Set("Idempotent-Replayed", "true")
	}
	return c.JSON(http.StatusCreated, act)
}

func (s *Server) importActivity(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in activity.ImportInput
	if err := bind(c, &in); err != nil {
		return err
	}
	act, err := s.Activities.Import(c.Request().Context(), actor(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, act)
}

func (s *Server) activityFilter(c echo.Context) (activity.Filter, error) {
	var f activity.Filter
	var err error
	if f.PairID, err = queryInt(c, "pair_id"); err != nil {
		return f, err
	}
	if f.From, err = queryDate(c, "from"); err != nil {
		return f, err
	}
	if f.To, err = queryDate(c, "to"); err != nil {
		return f, err
	}
	if f.ToConfirm, err = queryBool(c, "to_confirm"); err != nil {
		return f, err
	}
	if f.Mine, err = queryBool(c, "mine"); err != nil {
		return f, err
	}
	if f.Decided, err = queryBool(c, "decided"); err != nil {
		return f, err
	}
	f.Status, f.Category = c.QueryParam("status"), c.QueryParam("category")
	return f, nil
}

func (s *Server) listActivities(c echo.Context) error {
	f, err := s.activityFilter(c)
	if err != nil {
		return err
	}
	return s.activityList(c, f)
}

func (s *Server) listPairActivities(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	f, err := s.activityFilter(c)
	if err != nil {
		return err
	}
	f.PairID = id
	return s.activityList(c, f)
}

func (s *Server) activityList(c echo.Context, f activity.Filter) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	out, err := s.Activities.List(c.Request().Context(), actor(c), f, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getActivity(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	act, err := s.Activities.Get(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, act)
}

func (s *Server) amendActivity(c echo.Context) error { return update(c, s.Activities.PatchActivity) }

// keyed answers a decision sent with an optional Idempotency-Key: a retry
// of one that took gets the same answer, marked Idempotent-Replayed.
func keyed(c echo.Context, act activity.Activity, replayed bool, err error) error {
	if err != nil {
		return err
	}
	if replayed {
		c.Response().Header().Set("Idempotent-Replayed", "true")
	}
	return c.JSON(http.StatusOK, act)
}

func (s *Server) disputeActivity(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in activity.DisputeInput
	if err := bind(c, &in); err != nil {
		return err
	}
	act, replayed, err := s.Activities.DisputeOnce(c.Request().Context(), actor(c), id, in, c.Request().Header.Get("Idempotency-Key"))
	return keyed(c, act, replayed, err)
}

func (s *Server) confirmActivity(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	act, replayed, err := s.Activities.ConfirmOnce(c.Request().Context(), actor(c), id, c.Request().Header.Get("Idempotency-Key"))
	return keyed(c, act, replayed, err)
}

func (s *Server) withdrawActivity(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	act, replayed, err := s.Activities.WithdrawOnce(c.Request().Context(), actor(c), id, c.Request().Header.Get("Idempotency-Key"))
	return keyed(c, act, replayed, err)
}

func (s *Server) addEvidence(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	fh, f, err := s.uploaded(c)
	if err != nil {
		return err
	}
	defer f.Close()
	ev, err := s.Activities.AddEvidence(c.Request().Context(), actor(c), id, fh.Filename, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, ev)
}

func (s *Server) getEvidence(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ev, f, err := s.Activities.OpenEvidence(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	defer f.Close()
	return serveStored(c, ev.ContentType, ev.FileName, "evidence", f)
}

func (s *Server) pairCompliance(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	at, err := queryDate(c, "at")
	if err != nil {
		return err
	}
	if at.IsZero() {
		at = s.today()
	}
	rep, err := s.Compliance.Pair(c.Request().Context(), actor(c), id, at)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

func (s *Server) compliance(c echo.Context) error {
	at, err := queryDate(c, "at")
	if err != nil {
		return err
	}
	if at.IsZero() {
		at = s.today()
	}
	region, err := queryInt(c, "region_id")
	if err != nil {
		return err
	}
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	// after: the keyset cursor (a previous page's next_after)
	after, err := queryInt(c, "after")
	if err != nil {
		return err
	}
	rep, err := s.Compliance.Scope(c.Request().Context(), actor(c), compliance.Query{
		At: at, RegionID: region, Term: c.QueryParam("term"), Status: compliance.Status(c.QueryParam("status")), Page: p, After: after})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// previewAccounting says where an activity of ?category= on ?occurred_on=,
// logged today, would count: the log form calls it as soon as both are
// chosen, to warn before submission when a period's books are closed.
func (s *Server) previewAccounting(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	day, err := queryDate(c, "occurred_on")
	if err != nil {
		return err
	}
	cat := c.QueryParam("category")
	f := errs.Fields{}
	if day.IsZero() {
		f.Add("occurred_on", "is required")
	}
	if cat == "" {
		f.Add("category", "is required")
	}
	if err := f.Err(); err != nil {
		return err
	}
	acc, err := s.Activities.Preview(c.Request().Context(), actor(c), id, cat, day)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, acc)
}
