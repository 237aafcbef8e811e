package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/patch"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/view"
)

// The lifecycle pages: the region tree (create, rename, move), term
// corrections, and on the pair page the management forms (status with a
// reason, agreement corrections, commitments added and retired, the signed
// agreement attached). Each form posts to the same service as the API; a
// refusal re-renders the page with the errors, a success redirects.

// ---- regions

func (s *Server) adminRegions(c echo.Context) error {
	p, err := s.newPage(c, "admin.regions", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	return s.renderRegions(c, http.StatusOK, p)
}

func (s *Server) renderRegions(c echo.Context, status int, p *view.Page) error {
	a, _ := pageActor(c)
	if err := requireAdmin(a); err != nil {
		return err
	}
	tree, err := s.Schools.RegionTree(c.Request().Context())
	if err != nil {
		return err
	}
	opts, _, err := s.regionOptions(c, a)
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Nodes": school.Flatten(tree), "Options": opts}
	return s.render(c, status, "admin_regions", p)
}

func (s *Server) adminRegionCreate(c echo.Context) error {
	a, _ := pageActor(c)
	p, err := s.newPage(c, "admin.regions", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "name", "level", "parent_id")
	bad := map[string]string{}
	in := school.RegionInput{Name: strings.TrimSpace(p.Form.Values["name"]), Level: p.Form.Values["level"], ParentID: formID(p.Form, "parent_id", bad)}
	err = nil
	if len(bad) == 0 {
		if _, err = s.Schools.CreateRegion(c.Request().Context(), a, in); err == nil {
			return s.redirect(c, "/admin/regions", "created")
		}
	}
	if !s.applyForm(p, err, bad, nil) {
		return err
	}
	return s.renderRegions(c, http.StatusUnprocessableEntity, p)
}

func (s *Server) adminRegionUpdate(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "admin.regions", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "name", "parent_id")
	p.Form.Values["region"] = strconv.FormatInt(id, 10)
	bad := map[string]string{}
	in := school.RegionPatch{Name: patch.Of(strings.TrimSpace(p.Form.Values["name"]))}
	if parent := formID(p.Form, "parent_id", bad); parent != nil {
		in.ParentID = patch.Of(*parent)
	} else if len(bad) == 0 {
		in.ParentID = patch.Null[int64]()
	}
	err = nil
	if len(bad) == 0 {
		if _, err = s.Schools.UpdateRegion(c.Request().Context(), a, id, in); err == nil {
			return s.redirect(c, "/admin/regions", "created")
		}
	}
	if !s.applyForm(p, err, bad, nil) {
		return err
	}
	return s.renderRegions(c, formStatus(err), p)
}

// formStatus is the status of a re-rendered form: 409 for a conflict with
// other records (a cycle, an overlap), 422 for bad input.
func formStatus(err error) int {
	if isConflict(err) {
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}

// ---- terms

func (s *Server) adminTermUpdate(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "admin.terms", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "starts_on", "ends_on")
	bad := map[string]string{}
	in := calendar.TermPatch{StartsOn: patch.Of(formDate(p.Form, "starts_on", bad)), EndsOn: patch.Of(formDate(p.Form, "ends_on", bad))}
	err = nil
	if len(bad) == 0 {
		if _, err = s.Terms.UpdateTerm(c.Request().Context(), a, id, in); err == nil {
			return s.redirect(c, "/admin/terms", "created")
		}
	}
	if !s.applyForm(p, err, bad, map[string]string{}) {
		return err
	}
	return s.renderTerms(c, formStatus(err), p)
}

func (s *Server) adminTermDelete(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err = s.Terms.DeleteTerm(c.Request().Context(), a, id); err == nil {
		return s.redirect(c, "/admin/terms", "deleted")
	}
	p, perr := s.newPage(c, "admin.terms", "admin")
	if perr != nil {
		return perr
	}
	p.Form = view.NewForm()
	if !s.applyForm(p, err, nil, map[string]string{}) {
		return err
	}
	return s.renderTerms(c, http.StatusConflict, p)
}

func (s *Server) adminTermDefaults(c echo.Context) error {
	a, _ := pageActor(c)
	if err := requireAdmin(a); err != nil {
		return err
	}
	cal, err := s.Terms.Calendar(c.Request().Context())
	if err != nil {
		return err
	}
	// this school year and the next; terms that exist already (by label
	// or dates) are left alone
	for _, t := range calendar.DefaultTerms(calendar.DefaultYear(s.today()), calendar.DefaultYear(s.today())+1) {
		in := calendar.TermInput{SchoolYear: t.SchoolYear, Season: t.Season, StartsOn: t.StartsOn, EndsOn: t.EndsOn}
		if overlapsAny(cal.Terms(), in) {
			continue
		}
		if _, err := s.Terms.CreateTerm(c.Request().Context(), a, in); err != nil && !isConflict(err) {
			return err
		}
	}
	return s.redirect(c, backTo(c, "/admin/terms"), "created")
}

// ---- the pair page's management forms

func (s *Server) pairFormError(c echo.Context, pairID int64, err error, bad map[string]string, form string, values ...string) error {
	p, perr := s.newPage(c, "pair.title", "")
	if perr != nil {
		return perr
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, values...)
	p.Form.Values["form"] = form
	if strings.HasPrefix(form, "retire-") {
		p.Form.Values["retire"] = "1"
	} else if _, id, ok := strings.Cut(form, "-"); ok {
		p.Form.Values["ag"] = id // the agreement whose forms open with the errors
	}
	if !s.applyForm(p, err, bad, nil) {
		return err
	}
	return s.renderPair(c, formStatus(err), p, pairID)
}

func (s *Server) pairStatusSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	in := pairing.PairPatch{Status: patch.Of(c.FormValue("status")), Reason: patch.Of(strings.TrimSpace(c.FormValue("reason")))}
	if _, err = s.Pairs.UpdatePair(c.Request().Context(), a, id, in); err == nil {
		return s.redirect(c, "/pairs/"+strconv.FormatInt(id, 10), "created")
	}
	return s.pairFormError(c, id, err, nil, "status", "status", "reason")
}

// agreementPair is the pair of an agreement visible to the actor.
func (s *Server) agreementPair(c echo.Context, agreementID int64) (int64, error) {
	a, _ := pageActor(c)
	ag, err := s.Pairs.Agreement(c.Request().Context(), a, agreementID)
	return ag.PairID, err
}

func (s *Server) agreementEditSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	pairID, err := s.agreementPair(c, id)
	if err != nil {
		return err
	}
	f := view.NewForm()
	formValues(c, f, "title", "goals", "effective_to")
	bad := map[string]string{}
	in := pairing.AgreementPatch{Title: patch.Of(f.Values["title"]), Goals: patch.Of(strings.TrimSpace(f.Values["goals"])),
		EffectiveTo: patch.Of(formDate(f, "effective_to", bad))}
	if len(bad) == 0 {
		if _, err = s.Pairs.UpdateAgreement(c.Request().Context(), a, id, in); err == nil {
			return s.redirect(c, "/pairs/"+strconv.FormatInt(pairID, 10), "created")
		}
	}
	return s.pairFormError(c, pairID, err, bad, "agreement-"+strconv.FormatInt(id, 10), "title", "goals", "effective_to")
}

func (s *Server) commitmentAddSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	pairID, err := s.agreementPair(c, id)
	if err != nil {
		return err
	}
	form, _ := c.FormParams()
	in := pairing.CommitmentInput{Categories: form["categories"], Measure: c.FormValue("measure"), Period: c.FormValue("period"),
		Description: c.FormValue("description")}
	bad := map[string]string{}
	if m, key := parseQuantity(c.FormValue("minimum")); key == "" {
		in.Minimum = m
	} else {
		bad["minimum"] = key
	}
	if len(bad) == 0 {
		if _, err = s.Pairs.AddCommitment(c.Request().Context(), a, id, in); err == nil {
			return s.redirect(c, "/pairs/"+strconv.FormatInt(pairID, 10), "created")
		}
	}
	return s.pairFormError(c, pairID, err, bad, "commitment-"+strconv.FormatInt(id, 10), "measure", "period", "minimum", "description")
}

func (s *Server) commitmentRetireSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	pairID, err := strconv.ParseInt(c.FormValue("pair"), 10, 64)
	if err != nil {
		pairID = 0
	}
	f := view.NewForm()
	formValues(c, f, "ends_on")
	bad := map[string]string{}
	in := pairing.CommitmentPatch{EndsOn: patch.Of(formDate(f, "ends_on", bad))}
	if len(bad) == 0 {
		if _, err = s.Pairs.UpdateCommitment(c.Request().Context(), a, id, in); err == nil {
			return s.redirect(c, "/pairs/"+strconv.FormatInt(pairID, 10), "created")
		}
	}
	if pairID == 0 {
		return err
	}
	return s.pairFormError(c, pairID, err, bad, "retire-"+strconv.FormatInt(id, 10), "ends_on")
}

func (s *Server) documentSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	pairID, err := s.agreementPair(c, id)
	if err != nil {
		return err
	}
	fh, f, err := s.uploaded(c)
	if err == nil {
		defer f.Close()
		if _, err = s.Documents.Attach(c.Request().Context(), a, id, fh.Filename, f); err == nil {
			return s.redirect(c, "/pairs/"+strconv.FormatInt(pairID, 10), "created")
		}
	}
	return s.pairFormError(c, pairID, err, nil, "document-"+strconv.FormatInt(id, 10))
}

// evidenceRemoveSubmit removes a file from the logger's own open activity.
func (s *Server) evidenceRemoveSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	act, err := strconv.ParseInt(c.FormValue("activity"), 10, 64)
	if err != nil {
		act = 0
	}
	if err := s.Activities.RemoveEvidence(c.Request().Context(), a, id); err != nil {
		return err
	}
	if act == 0 {
		return s.redirect(c, "/", "deleted")
	}
	return s.redirect(c, "/activities/"+strconv.FormatInt(act, 10), "deleted")
}

// canRemoveEvidence: the logger, while the activity is open.
func canRemoveEvidence(isLogger bool, status string) bool {
	return isLogger && (status == activity.Pending || status == activity.Disputed)
}

func isConflict(err error) bool { return errs.Is(err, errs.KindConflict) }

// overlapsAny reports whether in overlaps, or has the label of, a term.
func overlapsAny(terms []calendar.Term, in calendar.TermInput) bool {
	for _, t := range terms {
		if calendar.Overlaps(t.StartsOn, t.EndsOn, in.StartsOn, in.EndsOn) || (t.SchoolYear == in.SchoolYear && t.Season == in.Season) {
			return true
		}
	}
	return false
}

// ---- pickers: matches as you type (search by name, code, pinyin)

// pickedSchools are the schools already chosen in a re-rendered form, by
// field, so a picker shows its choice without listing every school.
func (s *Server) pickedSchools(c echo.Context, a auth.Actor, p *view.Page, fields ...string) (map[string]*school.School, error) {
	out := map[string]*school.School{}
	if p.Form == nil {
		return out, nil
	}
	for _, f := range fields {
		id, err := strconv.ParseInt(p.Form.Val(f), 10, 64)
		if err != nil || id <= 0 {
			continue
		}
		sc, err := s.Schools.School(c.Request().Context(), a, id)
		if errs.Is(err, errs.KindNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[f] = &sc
	}
	return out, nil
}

// pickSchools answers a picker's query with up to 20 matching schools in
// the caller's scope, as <option>s (the first one chosen).
func (s *Server) pickSchools(c echo.Context) error {
	a, _ := pageActor(c)
	if err := requireManager(a); err != nil {
		return err
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	var items []school.School
	if q != "" {
		l, err := s.Schools.ListSchools(c.Request().Context(), a, school.SchoolFilter{Query: q}, page.Page{Limit: 20})
		if err != nil {
			return err
		}
		items = l.Items
	}
	p, err := s.newPage(c, "admin.title", "admin")
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Items": items, "Query": q}
	return s.renderBlock(c, http.StatusOK, "admin_pairs", "pickoptions", p)
}
