package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// notificationLimit bounds the in-app list: the newest notices are what a
// user acts on; older ones stay in the outbox and the mail.
const notificationLimit = 50

// myNotifications is GET /api/v1/me/notifications: the notices addressed
// to the caller, newest first, with the unread count.
func (s *Server) myNotifications(c echo.Context) error {
	out, err := s.Notices.Mine(c.Request().Context(), actor(c).UserID, notificationLimit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// notificationsSeen is POST /api/v1/me/notifications/seen: everything up
// to the newest notice is seen (the bell goes to 0).
func (s *Server) notificationsSeen(c echo.Context) error {
	ctx := c.Request().Context()
	uid := actor(c).UserID
	out, err := s.Notices.Mine(ctx, uid, 1)
	if err != nil {
		return err
	}
	if len(out.Items) > 0 {
		if err := s.Notices.MarkSeen(ctx, uid, out.Items[0].ID); err != nil {
			return err
		}
	}
	return c.NoContent(http.StatusNoContent)
}

// notificationsPage lists the user's notices, marking the new ones, and
// then records them as seen: the bell of the next page counts only what
// arrives later.
func (s *Server) notificationsPage(c echo.Context) error {
	a, _ := pageActor(c)
	ctx := c.Request().Context()
	out, err := s.Notices.Mine(ctx, a.UserID, notificationLimit)
	if err != nil {
		return err
	}
	if len(out.Items) > 0 {
		if err := s.Notices.MarkSeen(ctx, a.UserID, out.Items[0].ID); err != nil {
			return err
		}
	}
	p, err := s.newPage(c, "notifications.title", "notifications")
	if err != nil {
		return err
	}
	p.Data = out
	return s.render(c, http.StatusOK, "notifications", p)
}
