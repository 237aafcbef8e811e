package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/database"
)

// healthz is liveness: the process is up and serving HTTP. It does not
// touch the database, so a database outage (or an exhausted request pool)
// never gets a healthy process restarted; readiness is /readyz.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is readiness: the database answers a table read on the probe's
// own connection (not the request pool) within db.ready_timeout and, on a
// Galera node, the node is synced with the primary component. A load
// balancer takes a replica whose node is cut off or rejoining out of
// rotation on the 503.
func (s *Server) readyz(c echo.Context) error {
	if err := s.DB.Ready(c.Request().Context()); err != nil {
		reason := err.Error()
		var nr *database.NotReady
		if errors.As(err, &nr) {
			reason = nr.Reason
		}
		c.Response().Header().Set("Retry-After", "1")
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
