package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/channel"
)

// Group robots of a region (issue 11): admins and the region's bureau.

func (s *Server) listRobots(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	out, err := s.Channels.List(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

func (s *Server) createRobot(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in channel.RobotInput
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.Channels.Create(c.Request().Context(), actor(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) deleteRobot(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.Channels.Delete(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
