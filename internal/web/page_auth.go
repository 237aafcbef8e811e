package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/view"
)

// pageSession reads the session cookie: the same signed token the API
// takes as a bearer token, so any replica verifies it and nothing is kept
// on the server. A stale or forged cookie is cleared and the request goes
// on signed out.
func (s *Server) pageSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(s.sessionCookie())
		if err == nil && ck.Value != "" {
			a, err := s.Auth.Authenticate(c.Request().Context(), ck.Value)
			switch {
			case err == nil:
				c.Set(actorKey, a)
				c.Set(sessionKey, true)
			case errs.Is(err, errs.KindUnauthorized):
				// expired (idle), signed out elsewhere, or forged: a form
				// posted with it is that session's own if its CSRF token
				// says so (csrf then brings the user back to the form)
				c.Set(staleSessionKey, s.Auth.StaleSessionOf(ck.Value))
				s.clearSession(c)
			default:
				return err
			}
		}
		return next(c)
	}
}

// signedIn sends visitors without a session to the sign-in page (and
// back here afterwards); a form post without one is refused.
func (s *Server) signedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := pageActor(c); ok {
			return next(c)
		}
		if c.Request().Method == http.MethodGet || c.Request().Method == http.MethodHead {
			return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
		}
		return errs.Unauthorized("sign in first")
	}
}

func (s *Server) setSession(c echo.Context, sess auth.Session) {
	// Max-Age rather than Expires: the token's own expiry is checked on
	// every request; the cookie just should not outlive it
	maxAge := int(sess.ExpiresAt.Sub(s.Now()).Seconds())
	c.SetCookie(&http.Cookie{Name: s.sessionCookie(), Value: sess.Token, Path: "/", MaxAge: max(maxAge, 1),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(c)})
}

// sessionCookie is the session cookie's name: with the __Host- prefix
// when served over https, so no sibling domain or plain-http page can set
// or shadow it.
func (s *Server) sessionCookie() string {
	if s.SecureTransport {
		return "__Host-" + sessionCookie
	}
	return sessionCookie
}

func (s *Server) clearSession(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: s.sessionCookie(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(c)})
}

// rotateCSRF drops the CSRF cookie so the next page mints a new token
// (on signing in and out).
func (s *Server) rotateCSRF(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: csrfCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(c)})
}

// localPath keeps a redirect target on this site: a path, built from the
// parsed URL, never a scheme, host or anything a browser might read as one
// ("//evil", "/\\evil", "/%09/evil": browsers drop tabs and newlines).
func localPath(next string) string {
	if next == "" || strings.ContainsAny(next, "\\") || strings.IndexFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") ||
		strings.IndexFunc(u.Path, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) >= 0 {
		return "/"
	}
	out := &url.URL{Path: u.Path, RawQuery: u.RawQuery}
	if r := out.RequestURI(); strings.HasPrefix(r, "/") && !strings.HasPrefix(r, "//") {
		return r
	}
	return "/"
}

func (s *Server) loginPage(c echo.Context) error {
	if _, ok := pageActor(c); ok {
		return c.Redirect(http.StatusSeeOther, localPath(c.QueryParam("next")))
	}
	p, err := s.newPage(c, "login.title", "login")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	p.Form.Values["next"] = localPath(c.QueryParam("next"))
	return s.render(c, http.StatusOK, "login", p)
}

func (s *Server) loginSubmit(c echo.Context) error {
	in := auth.LoginInput{Email: c.FormValue("email"), Password: c.FormValue("password"), Kind: auth.KindPage, IP: c.RealIP()}
	next := localPath(c.FormValue("next"))
	sess, err := s.Auth.Login(c.Request().Context(), in)
	if err != nil {
		p, perr := s.newPage(c, "login.title", "login")
		if perr != nil {
			return perr
		}
		f := view.NewForm()
		f.Values["email"], f.Values["next"] = in.Email, next
		status := http.StatusUnprocessableEntity
		var th *auth.Throttled
		switch {
		case errors.As(err, &th):
			tarpit(c, err)
			c.Response().Header().Set("Retry-After", strconv.Itoa(th.Seconds()))
			f.Error = p.T("err.login_throttled")
			status = http.StatusTooManyRequests
		case errs.Is(err, errs.KindUnauthorized):
			f.Error = p.T("err.login_failed")
			status = http.StatusUnauthorized
		case !s.Views.ApplyError(p.Locale, f, err, map[string]string{"email": "email", "password": "password"}):
			return err
		}
		p.Form = f
		return s.render(c, status, "login", p)
	}
	s.setSession(c, sess)
	s.rotateCSRF(c)
	return c.Redirect(http.StatusSeeOther, next)
}

func (s *Server) logoutSubmit(c echo.Context) error {
	if a, ok := pageActor(c); ok {
		if err := s.Auth.Logout(c.Request().Context(), a); err != nil {
			return err
		}
	}
	s.clearSession(c)
	s.rotateCSRF(c)
	return s.redirect(c, "/login", "signed_out")
}

// langSubmit is the language switch: the user's own setting when signed
// in, a cookie before that.
func (s *Server) langSubmit(c echo.Context) error {
	l := c.FormValue("locale")
	if !auth.ValidLocale(l) {
		return errs.Field("locale", "must be zh-CN or en")
	}
	if a, ok := pageActor(c); ok {
		if err := s.Auth.SetLocale(c.Request().Context(), a, l); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 86400,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(c)})
	return c.Redirect(http.StatusSeeOther, localPath(c.FormValue("next")))
}

// home is each role's start page.
func (s *Server) home(c echo.Context) error {
	a, _ := pageActor(c)
	switch a.Role {
	case auth.RoleCoordinator:
		return s.coordinatorHome(c)
	case auth.RolePrincipal:
		return c.Redirect(http.StatusSeeOther, "/inbox")
	case auth.RoleBureau:
		return c.Redirect(http.StatusSeeOther, "/dashboard")
	default:
		return s.adminHome(c)
	}
}
