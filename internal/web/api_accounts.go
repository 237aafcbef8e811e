package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/auth"
)

// throttleDelay holds a refused sign-in (429) this long before answering:
// a client hammering a locked account then waits instead of spinning, so
// a flood of refusals costs the server almost no CPU.
const throttleDelay = 250 * time.Millisecond

// tarpit waits throttleDelay when err is a throttle refusal (or until the
// request is abandoned).
func tarpit(c echo.Context, err error) {
	var th *auth.Throttled
	if !errors.As(err, &th) {
		return
	}
	t := time.NewTimer(throttleDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.Request().Context().Done():
	}
}

// forgotFloor is how long POST /auth/forgot takes at least, whether or not
// the address has an account, so its timing says nothing either.
const forgotFloor = 200 * time.Millisecond

func (s *Server) logout(c echo.Context) error {
	if err := s.Auth.Logout(c.Request().Context(), actor(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) forgot(c echo.Context) error {
	start := time.Now()
	var in auth.ForgotInput
	if err := bind(c, &in); err != nil {
		return err
	}
	err := s.Auth.Forgot(c.Request().Context(), in)
	if d := forgotFloor - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"status": "accepted",
		"message": "if an active account has this address, a link to reset its password is on its way"})
}

func (s *Server) reset(c echo.Context) error {
	var in auth.ResetInput
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.Auth.Reset(c.Request().Context(), in); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "password_set"})
}

func (s *Server) changePassword(c echo.Context) error {
	var in auth.PasswordInput
	if err := bind(c, &in); err != nil {
		return err
	}
	in.IP = c.RealIP()
	if err := s.Auth.ChangePassword(c.Request().Context(), actor(c), in); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "password_changed"})
}

func (s *Server) getUser(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	u, err := s.Auth.GetUser(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (s *Server) updateUser(c echo.Context) error { return update(c, s.Auth.UpdateUser) }

func (s *Server) updateMe(c echo.Context) error {
	var in auth.ProfileInput
	if err := bind(c, &in); err != nil {
		return err
	}
	u, err := s.Auth.UpdateProfile(c.Request().Context(), actor(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (s *Server) inviteUser(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.Auth.Invite(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"status": "invitation_sent"})
}
