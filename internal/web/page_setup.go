package web

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
)

// The setup checklist: what a first admin does on an empty service, in
// order, each step with its state and the page that does it.

// MailStatus is where the deliverer sends mail.
type MailStatus struct {
	Host string // SMTP host:port; "" = no SMTP configured
	Dir  string // where .eml files go without SMTP
}

// setupStep is one line of the checklist.
type setupStep struct {
	Key   string // i18n: setup.<key> and setup.<key>_hint
	Count int64
	Done  bool
	Link  string
}

// setupState counts what exists: one query.
func (s *Server) setupState(ctx context.Context) ([]setupStep, bool, error) {
	var n struct {
		Regions, Terms, Current, Schools, Pairs, Users int64
	}
	today := s.today()
	err := s.DB.Conn(ctx).Raw(`SELECT
		(SELECT COUNT(*) FROM regions) AS regions,
		(SELECT COUNT(*) FROM terms) AS terms,
		(SELECT COUNT(*) FROM terms WHERE starts_on <= ? AND ends_on >= ?) AS current,
		(SELECT COUNT(*) FROM schools) AS schools,
		(SELECT COUNT(*) FROM pairs) AS pairs,
		(SELECT COUNT(*) FROM users WHERE role <> 'admin') AS users`, today, today).Scan(&n).Error
	if err != nil {
		return nil, false, err
	}
	steps := []setupStep{
		{Key: "regions", Count: n.Regions, Done: n.Regions > 0, Link: "/admin/regions"},
		{Key: "terms", Count: n.Terms, Done: n.Current > 0, Link: "/admin/terms"},
		{Key: "schools", Count: n.Schools, Done: n.Schools > 0, Link: "/admin/schools"},
		{Key: "pairs", Count: n.Pairs, Done: n.Pairs > 0, Link: "/admin/pairs"},
		{Key: "users", Count: n.Users, Done: n.Users > 0, Link: "/admin/users"},
	}
	ready := true
	for _, st := range steps {
		ready = ready && st.Done
	}
	return steps, ready, nil
}

func (s *Server) setupPage(c echo.Context) error {
	a, _ := pageActor(c)
	if err := requireAdmin(a); err != nil {
		return err
	}
	steps, ready, err := s.setupState(c.Request().Context())
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "setup.title", "admin")
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Steps": steps, "Ready": ready, "SMTP": s.MailStatus}
	return s.render(c, http.StatusOK, "setup", p)
}

// adminHome sends an admin to the checklist while the service is not set
// up (no current term, or no regions, schools, pairs or users yet), else
// to the admin pages.
func (s *Server) adminHome(c echo.Context) error {
	_, ready, err := s.setupState(c.Request().Context())
	if err != nil {
		return err
	}
	if !ready {
		return c.Redirect(http.StatusSeeOther, "/setup")
	}
	return c.Redirect(http.StatusSeeOther, "/admin")
}
