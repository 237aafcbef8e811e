package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/view"
)

// The account pages (issue 8): forgotten password, the one-time link of an
// invitation or reset, and one's own account.

func (s *Server) forgotPage(c echo.Context) error {
	p, err := s.newPage(c, "forgot.title", "login")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	return s.render(c, http.StatusOK, "forgot", p)
}

func (s *Server) forgotSubmit(c echo.Context) error {
	start := time.Now()
	in := auth.ForgotInput{Email: c.FormValue("email")}
	err := s.Auth.Forgot(c.Request().Context(), in)
	if d := forgotFloor - time.Since(start); d > 0 {
		time.Sleep(d) // the same time whether or not the address has an account
	}
	p, perr := s.newPage(c, "forgot.title", "login")
	if perr != nil {
		return perr
	}
	p.Form = view.NewForm()
	p.Form.Values["email"] = in.Email
	if err != nil {
		if !s.Views.ApplyError(p.Locale, p.Form, err, map[string]string{"email": "email"}) {
			return err
		}
		return s.render(c, http.StatusUnprocessableEntity, "forgot", p)
	}
	p.Data = true // "if an account has it, a link is on its way"
	return s.render(c, http.StatusAccepted, "forgot", p)
}

func (s *Server) resetPage(c echo.Context) error {
	p, err := s.newPage(c, "reset.title", "login")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	p.Form.Values["token"] = c.QueryParam("token")
	return s.render(c, http.StatusOK, "reset", p)
}

func (s *Server) resetSubmit(c echo.Context) error {
	in := auth.ResetInput{Token: c.FormValue("token"), NewPassword: c.FormValue("new_password")}
	if err := s.Auth.Reset(c.Request().Context(), in); err != nil {
		p, perr := s.newPage(c, "reset.title", "login")
		if perr != nil {
			return perr
		}
		p.Form = view.NewForm()
		p.Form.Values["token"] = in.Token
		if !s.Views.ApplyError(p.Locale, p.Form, err, map[string]string{"token": "token", "new_password": "new_password"}) {
			return err
		}
		return s.render(c, http.StatusUnprocessableEntity, "reset", p)
	}
	return s.redirect(c, "/login", "password_set")
}

func (s *Server) accountPage(c echo.Context) error {
	a, _ := pageActor(c)
	u, err := s.Auth.Me(c.Request().Context(), a)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "account.title", "account")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	p.Form.Values["name"], p.Form.Values["locale"] = u.Name, u.Locale
	if u.Phone != nil {
		p.Form.Values["phone"] = *u.Phone
	}
	return s.render(c, http.StatusOK, "account", p)
}

var accountFields = map[string]string{"name": "name", "phone": "phone", "locale": "locale",
	"current_password": "current_password", "new_password": "new_password"}

// accountError re-renders the account page with what was typed.
func (s *Server) accountError(c echo.Context, err error, values map[string]string) error {
	p, perr := s.newPage(c, "account.title", "account")
	if perr != nil {
		return perr
	}
	p.Form = view.NewForm()
	for k, v := range values {
		p.Form.Values[k] = v
	}
	if !s.Views.ApplyError(p.Locale, p.Form, err, accountFields) {
		return err
	}
	return s.render(c, http.StatusUnprocessableEntity, "account", p)
}

func (s *Server) accountSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	vals := map[string]string{"name": c.FormValue("name"), "phone": c.FormValue("phone"), "locale": c.FormValue("locale")}
	in := auth.ProfileInput{Name: auth.Opt[string]{Set: true, V: vals["name"]}, Phone: auth.Opt[string]{Set: true, V: vals["phone"]},
		Locale: auth.Opt[string]{Set: true, V: vals["locale"], Null: vals["locale"] == ""}}
	if vals["phone"] == "" {
		in.Phone.Null = true
	}
	if _, err := s.Auth.UpdateProfile(c.Request().Context(), a, in); err != nil {
		return s.accountError(c, err, vals)
	}
	if vals["locale"] != "" {
		c.SetCookie(&http.Cookie{Name: langCookie, Value: vals["locale"], Path: "/", MaxAge: 365 * 86400,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(c)})
	}
	return s.redirect(c, "/account", "created")
}

func (s *Server) accountPassword(c echo.Context) error {
	a, _ := pageActor(c)
	in := auth.PasswordInput{CurrentPassword: c.FormValue("current_password"), NewPassword: c.FormValue("new_password"), IP: c.RealIP()}
	if err := s.Auth.ChangePassword(c.Request().Context(), a, in); err != nil {
		u, uerr := s.Auth.Me(c.Request().Context(), a)
		if uerr != nil {
			return uerr
		}
		vals := map[string]string{"name": u.Name, "locale": u.Locale}
		if u.Phone != nil {
			vals["phone"] = *u.Phone
		}
		return s.accountError(c, err, vals)
	}
	return s.redirect(c, "/account", "password_changed")
}
