package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/view"
)

// The admin page of one account (issue 8): edit, switch off or on, send
// the invitation again. The service decides who may (an admin, or the
// bureau of the user's school).

func (s *Server) adminUser(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	a, _ := pageActor(c)
	u, err := s.Auth.GetUser(c.Request().Context(), a, id)
	if err != nil {
		return err
	}
	if err := requireManager(a); err != nil {
		return err
	}
	p, err := s.newPage(c, "admin.users", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	p.Form.Values["name"], p.Form.Values["email"], p.Form.Values["locale"], p.Form.Values["role"] = u.Name, u.Email, u.Locale, u.Role
	if u.Phone != nil {
		p.Form.Values["phone"] = *u.Phone
	}
	if u.SchoolID != nil {
		p.Form.Values["school_id"] = strconv.FormatInt(*u.SchoolID, 10)
	}
	if u.RegionID != nil {
		p.Form.Values["region_id"] = strconv.FormatInt(*u.RegionID, 10)
	}
	return s.renderUser(c, http.StatusOK, p, u)
}

func (s *Server) renderUser(c echo.Context, status int, p *view.Page, u auth.User) error {
	a, _ := pageActor(c)
	ctx := c.Request().Context()
	schools, err := s.Schools.ListSchools(ctx, a, school.SchoolFilter{}, page.Page{Limit: page.MaxLimit})
	if err != nil {
		return err
	}
	regions, _, err := s.regionOptions(c, a)
	if err != nil {
		return err
	}
	p.Data = map[string]any{"U": u, "Schools": schools.Items, "Regions": regions,
		"Roles": []string{auth.RoleCoordinator, auth.RolePrincipal, auth.RoleBureau, auth.RoleAdmin}}
	return s.render(c, status, "admin_user", p)
}

func (s *Server) adminUserUpdate(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	a, _ := pageActor(c)
	ctx := c.Request().Context()
	p, err := s.newPage(c, "admin.users", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "name", "email", "phone", "locale", "role", "school_id", "region_id")
	str := func(n string) auth.Opt[string] {
		v := strings.TrimSpace(p.Form.Values[n])
		return auth.Opt[string]{Set: true, V: v, Null: v == ""}
	}
	in := auth.UserPatch{Name: str("name"), Email: str("email"), Phone: str("phone"), Locale: str("locale")}
	in.Name.Null, in.Email.Null = false, false // required: "" is refused, not cleared
	bad := map[string]string{}
	if a.IsAdmin() {
		in.Role = str("role")
		for _, n := range []string{"school_id", "region_id"} {
			o := auth.Opt[int64]{Set: true, Null: true}
			if v := formID(p.Form, n, bad); v != nil {
				o = auth.Opt[int64]{Set: true, V: *v}
			}
			if n == "school_id" {
				in.SchoolID = o
			} else {
				in.RegionID = o
			}
		}
	}
	var u auth.User
	if len(bad) == 0 {
		if u, err = s.Auth.UpdateUser(ctx, a, id, in); err == nil {
			return s.redirect(c, "/admin/users/"+strconv.FormatInt(id, 10), "created")
		}
	}
	if !s.applyForm(p, err, bad, nil) {
		return err
	}
	if u, err = s.Auth.GetUser(ctx, a, id); err != nil {
		return err
	}
	return s.renderUser(c, http.StatusUnprocessableEntity, p, u)
}

// adminUserActive switches an account off (signing it out everywhere) or
// on again.
func (s *Server) adminUserActive(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	a, _ := pageActor(c)
	on := c.FormValue("active") == "true"
	if _, err := s.Auth.UpdateUser(c.Request().Context(), a, id, auth.UserPatch{Active: auth.Opt[bool]{Set: true, V: on}}); err != nil {
		return err
	}
	return s.redirect(c, "/admin/users/"+strconv.FormatInt(id, 10), "created")
}

func (s *Server) adminUserInvite(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	a, _ := pageActor(c)
	if err := s.Auth.Invite(c.Request().Context(), a, id); err != nil {
		return err
	}
	return s.redirect(c, "/admin/users/"+strconv.FormatInt(id, 10), "invited")
}
