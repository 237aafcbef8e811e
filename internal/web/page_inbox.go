package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/view"
)

// pairNames names the pairs of the actor's scope ("supporting → supported")
// for lists of activities.
func (s *Server) pairNames(c echo.Context, a auth.Actor) (map[int64]string, []pairing.Pair, error) {
	l, err := s.Pairs.ListPairs(c.Request().Context(), a, pairing.PairFilter{SchoolID: a.SchoolID}, page.Page{Limit: page.MaxLimit})
	if err != nil {
		return nil, nil, err
	}
	out := make(map[int64]string, len(l.Items))
	for _, p := range l.Items {
		out[p.ID] = p.SupportingSchoolName + " → " + p.SupportedSchoolName
	}
	return out, l.Items, nil
}

func requirePrincipal(a auth.Actor) error {
	if a.Role != auth.RolePrincipal {
		return errs.Forbidden("only a principal confirms activities")
	}
	return nil
}

// inboxPage: the activities awaiting the principal's decision.
func (s *Server) inboxPage(c echo.Context) error {
	return s.renderInbox(c, http.StatusOK, nil)
}

func (s *Server) renderInbox(c echo.Context, status int, rowErrors map[int64]string) error {
	a, _ := pageActor(c)
	if err := requirePrincipal(a); err != nil {
		return err
	}
	p, err := s.newPage(c, "inbox.title", "inbox")
	if err != nil {
		return err
	}
	pg := pageParam(c, 20)
	l, err := s.Activities.List(c.Request().Context(), a, activity.Filter{ToConfirm: true}, pg)
	if err != nil {
		return err
	}
	names, pairs, err := s.pairNames(c, a)
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	if len(rowErrors) > 0 {
		p.Form.Error = p.T("err.validation")
	}
	p.Data = map[string]any{"Items": l.Items, "Errors": rowErrors, "PairNames": names, "Pairs": pairs,
		"Pager": makePager(c, pg, len(l.Items), l.Total)}
	return s.render(c, status, "inbox", p)
}

// historyPage: what the principal has confirmed or disputed.
func (s *Server) historyPage(c echo.Context) error {
	a, _ := pageActor(c)
	if err := requirePrincipal(a); err != nil {
		return err
	}
	p, err := s.newPage(c, "history.title", "history")
	if err != nil {
		return err
	}
	pg := pageParam(c, 20)
	l, err := s.Activities.List(c.Request().Context(), a, activity.Filter{Decided: true}, pg)
	if err != nil {
		return err
	}
	names, _, err := s.pairNames(c, a)
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Items": l.Items, "PairNames": names, "Pager": makePager(c, pg, len(l.Items), l.Total)}
	return s.render(c, http.StatusOK, "history", p)
}

func isHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// confirmSubmit confirms in one step: htmx swaps the inbox row for the
// outcome and updates the badge; a plain form post redirects back.
func (s *Server) confirmSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	act, err := s.Activities.Confirm(c.Request().Context(), a, id)
	if err != nil {
		return err
	}
	return s.decided(c, act, lateFlash(act, "confirmed"))
}

// disputeSubmit disputes in one step; the reason is required.
func (s *Server) disputeSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	act, err := s.Activities.Dispute(c.Request().Context(), a, id, activity.DisputeInput{Reason: c.FormValue("reason")})
	if err == nil {
		return s.decided(c, act, "disputed")
	}
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.KindInvalid {
		return err
	}
	p, perr := s.newPage(c, "inbox.title", "inbox")
	if perr != nil {
		return perr
	}
	msg := s.Views.FieldMessage(p.Locale, e.Fields["reason"])
	if msg == "" {
		msg = s.Views.ErrorMessage(p.Locale, e)
	}
	if isHTMX(c) {
		cur, gerr := s.Activities.Get(c.Request().Context(), a, id)
		if gerr != nil {
			return gerr
		}
		names, _, nerr := s.pairNames(c, a)
		if nerr != nil {
			return nerr
		}
		p.Form = view.NewForm()
		p.Form.Errors["reason"] = msg
		p.Data = map[string]any{"A": cur, "PairName": names[cur.PairID]}
		return s.renderBlock(c, http.StatusUnprocessableEntity, "inbox", "rowerror", p)
	}
	if back := backTo(c, "/inbox"); back != "/inbox" {
		cur, gerr := s.Activities.Get(c.Request().Context(), a, id)
		if gerr != nil {
			return gerr
		}
		pair, perr := s.Pairs.Pair(c.Request().Context(), a, cur.PairID)
		if perr != nil {
			return perr
		}
		p.Title = "activity.title"
		p.Form = view.NewForm()
		p.Form.Errors["reason"] = msg
		p.Form.Error = p.T("err.validation")
		return s.renderActivity(c, http.StatusUnprocessableEntity, p, a, cur, pair)
	}
	return s.renderInbox(c, http.StatusUnprocessableEntity, map[int64]string{id: msg})
}

func (s *Server) decided(c echo.Context, act activity.Activity, flash string) error {
	if !isHTMX(c) {
		return s.redirect(c, backTo(c, "/inbox"), flash)
	}
	p, err := s.newPage(c, "inbox.title", "inbox")
	if err != nil {
		return err
	}
	p.Data = map[string]any{"A": act}
	return s.renderBlock(c, http.StatusOK, "inbox", "done", p)
}
