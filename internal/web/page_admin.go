package web

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/category"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/view"
)

// The admin pages: simple lists with a create form each, over the same
// services as the API. Admins manage everything; a bureau manages the
// schools, pairs, agreements and school users of its region (the services
// decide), terms and the outbox are the admin's alone.

func requireManager(a auth.Actor) error {
	if !a.IsAdmin() && !a.IsBureau() {
		return errs.Forbidden("only an admin or a bureau manages the programme")
	}
	return nil
}

func requireAdmin(a auth.Actor) error {
	if !a.IsAdmin() {
		return errs.Forbidden("only an admin may do this")
	}
	return nil
}

// formValues copies the named form fields.
func formValues(c echo.Context, f *view.Form, names ...string) {
	for _, n := range names {
		f.Values[n] = c.FormValue(n)
	}
}

// formID reads an optional positive id; bad notes an unreadable one.
func formID(f *view.Form, name string, bad map[string]string) *int64 {
	v := strings.TrimSpace(f.Values[name])
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		bad[name] = "err.choose"
		return nil
	}
	return &n
}

// formDate reads an optional date; bad notes an unreadable one.
func formDate(f *view.Form, name string, bad map[string]string) date.Date {
	v := strings.TrimSpace(f.Values[name])
	if v == "" {
		return date.Date{}
	}
	d, err := date.Parse(v)
	if err != nil {
		bad[name] = "err.date"
	}
	return d
}

// applyForm puts a service's error and the unreadable fields on the form;
// false means the error is not about the input.
func (s *Server) applyForm(p *view.Page, err error, bad map[string]string, fields map[string]string) bool {
	if err != nil && !s.Views.ApplyError(p.Locale, p.Form, err, fields) {
		return false
	}
	for field, id := range bad {
		p.Form.Errors[field] = p.T(id)
	}
	if p.Form.Error == "" {
		p.Form.Error = p.T("err.validation")
	}
	return true
}

type regionOption struct {
	ID    int64
	Label string
}

// regionOptions lists the regions the actor may place things in, each
// named with its ancestors ("湖北省 / 黄冈市 / 麻城市").
func (s *Server) regionOptions(c echo.Context, a auth.Actor) ([]regionOption, map[int64]string, error) {
	l, err := s.Schools.ListRegions(c.Request().Context(), a, school.RegionFilter{}, page.Page{Limit: page.MaxLimit})
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[int64]school.Region, len(l.Items))
	for _, r := range l.Items {
		byID[r.ID] = r
	}
	names := make(map[int64]string, len(l.Items))
	var out []regionOption
	for _, r := range l.Items {
		var parts []string
		for _, seg := range strings.Split(strings.Trim(r.Path, "/"), "/") {
			id, _ := strconv.ParseInt(seg, 10, 64)
			if anc, ok := byID[id]; ok {
				parts = append(parts, anc.Name)
			}
		}
		label := strings.Join(parts, " / ")
		names[r.ID] = label
		if a.CoversPath(r.Path) {
			out = append(out, regionOption{ID: r.ID, Label: label})
		}
	}
	return out, names, nil
}

func (s *Server) adminPage(c echo.Context) error {
	a, _ := pageActor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	ctx := c.Request().Context()
	one := page.Page{Limit: 1}
	schools, err := s.Schools.ListSchools(ctx, a, school.SchoolFilter{}, one)
	if err != nil {
		return err
	}
	pairs, err := s.Pairs.ListPairs(ctx, a, pairing.PairFilter{}, one)
	if err != nil {
		return err
	}
	users, err := s.Auth.ListUsers(ctx, a, auth.UserFilter{}, one)
	if err != nil {
		return err
	}
	d := map[string]any{"Schools": schools.Total, "Pairs": pairs.Total, "Users": users.Total}
	if a.IsAdmin() {
		terms, err := s.Terms.ListTerms(ctx, one)
		if err != nil {
			return err
		}
		counts, err := s.Outbox.Counts(ctx)
		if err != nil {
			return err
		}
		d["Terms"], d["Failed"], d["Queued"] = terms.Total, counts[mail.StatusFailed], counts[mail.StatusQueued]
	}
	p, err := s.newPage(c, "admin.title", "admin")
	if err != nil {
		return err
	}
	p.Data = d
	return s.render(c, http.StatusOK, "admin", p)
}

// ---- schools

func (s *Server) adminSchools(c echo.Context) error {
	p, err := s.newPage(c, "admin.schools", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	return s.renderSchools(c, http.StatusOK, p)
}

func (s *Server) renderSchools(c echo.Context, status int, p *view.Page) error {
	a, _ := pageActor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	pg := pageParam(c, 50)
	l, err := s.Schools.ListSchools(c.Request().Context(), a, school.SchoolFilter{Query: c.QueryParam("q")}, pg)
	if err != nil {
		return err
	}
	regions, names, err := s.regionOptions(c, a)
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Items": l.Items, "Regions": regions, "RegionNames": names, "Stages": school.Stages(), "Query": c.QueryParam("q"),
		"Pager": makePager(c, pg, len(l.Items), l.Total)}
	return s.render(c, status, "admin_schools", p)
}

func (s *Server) adminSchoolCreate(c echo.Context) error {
	a, _ := pageActor(c)
	p, err := s.newPage(c, "admin.schools", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "name", "region_id", "stage", "code", "email")
	bad := map[string]string{}
	in := school.SchoolInput{Name: p.Form.Values["name"], Stage: p.Form.Values["stage"],
		Code: strings.TrimSpace(p.Form.Values["code"]), Email: strings.TrimSpace(p.Form.Values["email"])}
	if id := formID(p.Form, "region_id", bad); id != nil {
		in.RegionID = *id
	}
	err = nil
	if len(bad) == 0 {
		if _, err = s.Schools.CreateSchool(c.Request().Context(), a, in); err == nil {
			return s.redirect(c, "/admin/schools", "created")
		}
	}
	if !s.applyForm(p, err, bad, nil) {
		return err
	}
	return s.renderSchools(c, http.StatusUnprocessableEntity, p)
}

// ---- pairs

var pairFields = []string{"supporting_school_id", "supported_school_id"}

func (s *Server) adminPairs(c echo.Context) error {
	p, err := s.newPage(c, "admin.pairs", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	return s.renderPairs(c, http.StatusOK, p)
}

func (s *Server) renderPairs(c echo.Context, status int, p *view.Page) error {
	a, _ := pageActor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	ctx := c.Request().Context()
	pg := pageParam(c, 50)
	l, err := s.Pairs.ListPairs(ctx, a, pairing.PairFilter{Query: c.QueryParam("q")}, pg)
	if err != nil {
		return err
	}
	picked, err := s.pickedSchools(c, a, p, pairFields...)
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Items": l.Items, "Picked": picked, "SchoolFields": pairFields, "Query": c.QueryParam("q"),
		"Pager": makePager(c, pg, len(l.Items), l.Total)}
	return s.render(c, status, "admin_pairs", p)
}

func (s *Server) adminPairCreate(c echo.Context) error {
	a, _ := pageActor(c)
	p, err := s.newPage(c, "admin.pairs", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "supporting_school_id", "supported_school_id", "starts_on", "ends_on", "round")
	bad := map[string]string{}
	in := pairing.PairInput{Round: p.Form.Values["round"],
		StartsOn: formDate(p.Form, "starts_on", bad), EndsOn: formDate(p.Form, "ends_on", bad)}
	if id := formID(p.Form, "supporting_school_id", bad); id != nil {
		in.SupportingSchoolID = *id
	}
	if id := formID(p.Form, "supported_school_id", bad); id != nil {
		in.SupportedSchoolID = *id
	}
	err = nil
	if len(bad) == 0 {
		var pair pairing.Pair
		if pair, err = s.Pairs.CreatePair(c.Request().Context(), a, in); err == nil {
			return s.redirect(c, fmt.Sprintf("/admin/pairs/%d/agreements", pair.ID), "created")
		}
	}
	if !s.applyForm(p, err, bad, nil) {
		return err
	}
	return s.renderPairs(c, http.StatusUnprocessableEntity, p)
}

// ---- agreements with commitments

const maxCommitmentRows = 12

var commitmentField = regexp.MustCompile(`^commitments\[(\d+)\]\.(\w+)$`)

func (s *Server) adminAgreements(c echo.Context) error {
	p, err := s.newPage(c, "admin.agreements", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	return s.renderAgreements(c, http.StatusOK, p, 3)
}

func (s *Server) renderAgreements(c echo.Context, status int, p *view.Page, rows int) error {
	a, _ := pageActor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	pair, err := s.Pairs.Pair(ctx, a, id)
	if err != nil {
		return err
	}
	ags, err := s.Pairs.ListAgreements(ctx, a, id, page.Page{Limit: 50})
	if err != nil {
		return err
	}
	rows = min(max(rows, 1), maxCommitmentRows)
	idx := make([]int, rows)
	for i := range idx {
		idx[i] = i
	}
	p.Data = map[string]any{"Pair": pair, "Agreements": ags.Items, "Rows": rows, "RowIndexes": idx,
		"Categories": category.All(), "Measures": []string{pairing.Count, pairing.Hours, pairing.Persons},
		"Periods": []string{string(calendar.TermPeriod), string(calendar.Month), string(calendar.SchoolYear), string(calendar.Agreement)}}
	return s.render(c, status, "admin_agreements", p)
}

func (s *Server) adminAgreementCreate(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "admin.agreements", "admin")
	if err != nil {
		return err
	}
	f := view.NewForm()
	p.Form = f
	formValues(c, f, "title", "signed_on", "effective_from", "effective_to", "goals")
	rows, _ := strconv.Atoi(c.FormValue("rows"))
	rows = min(max(rows, 1), maxCommitmentRows)
	form, err := c.FormParams()
	if err != nil {
		return errs.Malformed("", "could not read the form")
	}
	bad := map[string]string{}
	in := pairing.AgreementInput{Title: f.Values["title"], Goals: f.Values["goals"], SignedOn: formDate(f, "signed_on", bad),
		EffectiveFrom: formDate(f, "effective_from", bad), EffectiveTo: formDate(f, "effective_to", bad)}
	var rowOf []int // commitment index → form row
	for i := 0; i < rows; i++ {
		pre := fmt.Sprintf("c%d_", i)
		cats := form[pre+"categories"]
		f.Multi[pre+"categories"] = cats
		formValues(c, f, pre+"measure", pre+"minimum", pre+"period", pre+"description")
		min := strings.TrimSpace(f.Values[pre+"minimum"])
		if len(cats) == 0 && min == "" && strings.TrimSpace(f.Values[pre+"description"]) == "" {
			continue // an unused row
		}
		ci := pairing.CommitmentInput{Categories: cats, Measure: f.Values[pre+"measure"], Period: f.Values[pre+"period"],
			Description: f.Values[pre+"description"]}
		if min != "" {
			v, key := parseQuantity(min)
			if key != "" {
				bad[pre+"minimum"] = key
			}
			ci.Minimum = v
		}
		in.Commitments = append(in.Commitments, ci)
		rowOf = append(rowOf, i)
	}
	if c.FormValue("add_row") != "" {
		return s.renderAgreements(c, http.StatusOK, p, rows+1)
	}
	err = nil
	if len(bad) == 0 {
		if _, err = s.Pairs.CreateAgreement(c.Request().Context(), a, id, in); err == nil {
			return s.redirect(c, fmt.Sprintf("/admin/pairs/%d/agreements", id), "created")
		}
	}
	// commitments[k].field → the form row's field
	fields := map[string]string{"title": "title", "signed_on": "signed_on", "effective_from": "effective_from",
		"effective_to": "effective_to", "goals": "goals"}
	if e, ok := errs.As(err); ok {
		for name := range e.Fields {
			if m := commitmentField.FindStringSubmatch(name); m != nil {
				if k, _ := strconv.Atoi(m[1]); k < len(rowOf) {
					fields[name] = fmt.Sprintf("c%d_%s", rowOf[k], m[2])
				}
			}
		}
	}
	if !s.applyForm(p, err, bad, fields) {
		return err
	}
	return s.renderAgreements(c, http.StatusUnprocessableEntity, p, rows)
}

// ---- users

func (s *Server) adminUsers(c echo.Context) error {
	p, err := s.newPage(c, "admin.users", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	p.Form.Values["role"] = auth.RoleCoordinator
	return s.renderUsers(c, http.StatusOK, p)
}

func (s *Server) renderUsers(c echo.Context, status int, p *view.Page) error {
	a, _ := pageActor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	ctx := c.Request().Context()
	pg := pageParam(c, 50)
	l, err := s.Auth.ListUsers(ctx, a, auth.UserFilter{Query: c.QueryParam("q")}, pg)
	if err != nil {
		return err
	}
	schools, err := s.Schools.ListSchools(ctx, a, school.SchoolFilter{}, page.Page{Limit: page.MaxLimit})
	if err != nil {
		return err
	}
	schoolNames := make(map[int64]string, len(schools.Items))
	for _, sc := range schools.Items {
		schoolNames[sc.ID] = sc.Name
	}
	regions, regionNames, err := s.regionOptions(c, a)
	if err != nil {
		return err
	}
	roles := []string{auth.RoleCoordinator, auth.RolePrincipal}
	if a.IsAdmin() {
		roles = append(roles, auth.RoleBureau, auth.RoleAdmin)
	}
	picked, err := s.pickedSchools(c, a, p, "school_id")
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Items": l.Items, "Picked": picked, "SchoolNames": schoolNames, "Regions": regions, "Query": c.QueryParam("q"),
		"RegionNames": regionNames, "Roles": roles, "Pager": makePager(c, pg, len(l.Items), l.Total)}
	return s.render(c, status, "admin_users", p)
}

func (s *Server) adminUserCreate(c echo.Context) error {
	a, _ := pageActor(c)
	p, err := s.newPage(c, "admin.users", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "name", "email", "password", "role", "school_id", "region_id", "locale")
	bad := map[string]string{}
	in := auth.UserInput{Name: p.Form.Values["name"], Email: strings.TrimSpace(p.Form.Values["email"]), Password: p.Form.Values["password"],
		Role: p.Form.Values["role"], Locale: p.Form.Values["locale"],
		SchoolID: formID(p.Form, "school_id", bad), RegionID: formID(p.Form, "region_id", bad)}
	p.Form.Values["password"] = "" // never echoed back
	err = nil
	if len(bad) == 0 {
		if _, err = s.Auth.CreateUser(c.Request().Context(), a, in); err == nil {
			return s.redirect(c, "/admin/users", "created")
		}
	}
	if !s.applyForm(p, err, bad, nil) {
		return err
	}
	return s.renderUsers(c, http.StatusUnprocessableEntity, p)
}

// ---- terms

func (s *Server) adminTerms(c echo.Context) error {
	p, err := s.newPage(c, "admin.terms", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	return s.renderTerms(c, http.StatusOK, p)
}

func (s *Server) renderTerms(c echo.Context, status int, p *view.Page) error {
	a, _ := pageActor(c)
	if err := requireAdmin(a); err != nil {
		return err
	}
	l, err := s.Terms.ListTerms(c.Request().Context(), page.Page{Limit: page.MaxLimit})
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Items": l.Items}
	return s.render(c, status, "admin_terms", p)
}

func (s *Server) adminTermCreate(c echo.Context) error {
	a, _ := pageActor(c)
	p, err := s.newPage(c, "admin.terms", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "school_year", "season", "starts_on", "ends_on")
	bad := map[string]string{}
	in := calendar.TermInput{SchoolYear: strings.TrimSpace(p.Form.Values["school_year"]), Season: p.Form.Values["season"],
		StartsOn: formDate(p.Form, "starts_on", bad), EndsOn: formDate(p.Form, "ends_on", bad)}
	err = nil
	if len(bad) == 0 {
		if _, err = s.Terms.CreateTerm(c.Request().Context(), a, in); err == nil {
			return s.redirect(c, "/admin/terms", "created")
		}
	}
	if !s.applyForm(p, err, bad, nil) {
		return err
	}
	return s.renderTerms(c, http.StatusUnprocessableEntity, p)
}

// ---- outbox

func (s *Server) adminOutbox(c echo.Context) error {
	a, _ := pageActor(c)
	if err := requireAdmin(a); err != nil {
		return err
	}
	ctx := c.Request().Context()
	status := c.QueryParam("status")
	if status != "" && !slices.Contains(mail.Statuses, status) {
		status = ""
	}
	pg := pageParam(c, 50)
	l, err := s.Outbox.List(ctx, status, pg)
	if err != nil {
		return err
	}
	counts, err := s.Outbox.Counts(ctx)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "admin.outbox", "admin")
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Items": l.Items, "Status": status, "Statuses": mail.Statuses, "Counts": counts,
		"Pager": makePager(c, pg, len(l.Items), l.Total)}
	return s.render(c, http.StatusOK, "admin_outbox", p)
}

func (s *Server) adminOutboxRetry(c echo.Context) error {
	a, _ := pageActor(c)
	if err := requireAdmin(a); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.Outbox.Retry(c.Request().Context(), id, s.Now()); err != nil {
		return err
	}
	return s.redirect(c, "/admin/outbox?status=failed", "retried")
}
