package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/notify"
)

func (s *Server) listNotices(c echo.Context) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	pair, err := queryInt(c, "pair_id")
	if err != nil {
		return err
	}
	out, err := s.Notices.ListNotices(c.Request().Context(), actor(c), notify.NoticeFilter{PairID: pair, Kind: c.QueryParam("kind")}, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) listBreaches(c echo.Context) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	region, err := queryInt(c, "region_id")
	if err != nil {
		return err
	}
	pair, err := queryInt(c, "pair_id")
	if err != nil {
		return err
	}
	out, err := s.Notices.ListBreaches(c.Request().Context(), actor(c),
		notify.BreachFilter{RegionID: region, PeriodKey: c.QueryParam("period_key"), PairID: pair}, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) listOutbox(c echo.Context) error {
	if !actor(c).IsAdmin() {
		return errs.Forbidden("only an admin may read the outbox")
	}
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	out, err := s.Outbox.List(ctx, c.QueryParam("status"), p)
	if err != nil {
		return err
	}
	counts, err := s.Outbox.Counts(ctx)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out.Items, "limit": out.Limit, "offset": out.Offset, "total": out.Total, "counts": counts})
}

func (s *Server) retryOutbox(c echo.Context) error {
	if !actor(c).IsAdmin() {
		return errs.Forbidden("only an admin may retry messages")
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.Outbox.Retry(ctx, id, s.Now()); err != nil {
		return err
	}
	m, err := s.Outbox.Get(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}
