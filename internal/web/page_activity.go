package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/category"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/decimal"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/view"
)

// pager links the pages of a list.
type pager struct {
	Prev, Next string
	From, To   int
	Total      int64
}

// pageParam reads ?offset= with a fixed page size.
func pageParam(c echo.Context, limit int) page.Page {
	off, _ := strconv.Atoi(c.QueryParam("offset"))
	return page.Page{Limit: limit, Offset: max(off, 0)}.Normalize()
}

func makePager(c echo.Context, p page.Page, shown int, total int64) *pager {
	link := func(off int) string {
		q := c.Request().URL.Query()
		q.Set("offset", strconv.Itoa(off))
		return c.Request().URL.Path + "?" + q.Encode()
	}
	pg := &pager{From: p.Offset + 1, To: p.Offset + shown, Total: total}
	if shown == 0 {
		pg.From = 0
	}
	if p.Offset > 0 {
		pg.Prev = link(max(p.Offset-p.Limit, 0))
	}
	if int64(p.Offset+shown) < total {
		pg.Next = link(p.Offset + p.Limit)
	}
	return pg
}

// coordinatorHome: the coordinator's pairs with the current period of each
// commitment, and their pending and disputed activities.
func (s *Server) coordinatorHome(c echo.Context) error {
	a, _ := pageActor(c)
	ctx := c.Request().Context()
	p, err := s.newPage(c, "home.title", "home")
	if err != nil {
		return err
	}
	rep, err := s.Compliance.Scope(ctx, a, compliance.Query{At: s.today(), Page: page.Page{Limit: page.MaxLimit}})
	if err != nil {
		return err
	}
	mine := func(status string) (page.List[activity.Activity], error) {
		return s.Activities.List(ctx, a, activity.Filter{Mine: true, Status: status}, page.Page{Limit: 50})
	}
	pending, err := mine(activity.Pending)
	if err != nil {
		return err
	}
	disputed, err := mine(activity.Disputed)
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Pairs": rep.Items, "Pending": pending.Items, "PendingTotal": pending.Total,
		"Disputed": disputed.Items, "DisputedTotal": disputed.Total}
	if len(rep.Items) >= manyPairs {
		// 一对多: one line per pair instead of a card each (page_school.go)
		rows, totals, err := s.schoolOverview(c, a)
		if err != nil {
			return err
		}
		p.Data.(map[string]any)["Rows"], p.Data.(map[string]any)["Totals"] = rows, totals
	}
	return s.render(c, http.StatusOK, "home_coordinator", p)
}

// activityFields maps the service's field names to the form's.
var activityFields = map[string]string{
	"category": "category", "title": "title", "occurred_on": "occurred_on", "hours": "hours", "persons": "persons",
	"description": "description", "location": "location", "pair_id": "pair_id", "file": "evidence",
	"upload_ids": "evidence",
}

// activityFormData is what the log and amend forms show.
type activityFormData struct {
	Action     string
	Edit       *activity.Activity
	PairName   string
	Pairs      []pairing.Pair
	Categories []string
	MaxBytes   int64
	MaxMiB     int64
	// UploadIDs are the staged uploads the form carried; Staged those of
	// them still waiting, shown again when the form is refused (issue 10)
	UploadIDs []string
	Staged    []activity.Upload
}

func (s *Server) activityForm(c echo.Context, a auth.Actor, p *view.Page) (*activityFormData, error) {
	d := &activityFormData{Action: "/activities/new", Categories: category.All(), MaxBytes: s.EvidenceLimit, MaxMiB: s.EvidenceLimit >> 20}
	if a.Role != auth.RoleCoordinator {
		return nil, errs.Forbidden("only a coordinator logs activities")
	}
	pairs, err := s.Pairs.ListPairs(c.Request().Context(), a, pairing.PairFilter{SchoolID: a.SchoolID, Status: pairing.Active}, page.Page{Limit: page.MaxLimit})
	if err != nil {
		return nil, err
	}
	d.Pairs = pairs.Items
	p.Data = d
	return d, nil
}

func newIdemKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// logForm is the phone-first "log an activity" form.
func (s *Server) logForm(c echo.Context) error {
	a, _ := pageActor(c)
	p, err := s.newPage(c, "log.title", "log")
	if err != nil {
		return err
	}
	if _, err := s.activityForm(c, a, p); err != nil {
		return err
	}
	p.Form = view.NewForm()
	p.Form.Values["pair_id"] = c.QueryParam("pair")
	p.Form.Values["occurred_on"] = s.today().String()
	p.Form.Values["idem"] = newIdemKey()
	if err := s.resumedUploads(c, a, p); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "activity_form", p)
}

// resumedUploads lists the staged files of a form posted after its session
// expired (kept with its values across signing in again, render.go), so
// the user lands back on the form with them.
func (s *Server) resumedUploads(c echo.Context, a auth.Actor, p *view.Page) error {
	s.resumeForm(c, p) // render applies it again: the same values
	d, ok := p.Data.(*activityFormData)
	ids := p.Form.Values["upload_id"]
	if !ok || ids == "" {
		return nil
	}
	d.UploadIDs = strings.Split(ids, ",")
	staged, err := s.Activities.StagedList(c.Request().Context(), a, d.UploadIDs)
	d.Staged = staged
	return err
}

// readActivityForm reads the form's values; values that cannot be read at
// all are left out of the input and reported as field errors (catalogue
// ids) that win over the service's messages.
func readActivityForm(c echo.Context, f *view.Form) (activity.Input, map[string]string) {
	bad := map[string]string{}
	for _, k := range []string{"pair_id", "category", "title", "occurred_on", "hours", "persons", "description", "location", "idem"} {
		f.Values[k] = c.FormValue(k)
	}
	in := activity.Input{Category: f.Values["category"], Title: f.Values["title"],
		Description: f.Values["description"], Location: f.Values["location"]}
	if v := strings.TrimSpace(f.Values["occurred_on"]); v != "" {
		d, err := date.Parse(v)
		if err != nil {
			bad["occurred_on"] = "err.date"
		}
		in.OccurredOn = d
	} else {
		bad["occurred_on"] = "err.required"
	}
	if v := strings.TrimSpace(f.Values["hours"]); v != "" {
		h, key := parseQuantity(v)
		if key != "" {
			bad["hours"] = key
		} else {
			in.Hours = &h
		}
	}
	if v := strings.TrimSpace(f.Values["persons"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			bad["persons"] = "err.whole_number"
		} else {
			in.Persons = &n
		}
	}
	return in, bad
}

// parseQuantity reads a form's decimal field exactly; the second result is
// the message key of a mistake ("" when none).
func parseQuantity(v string) (decimal.D, string) {
	d, err := decimal.Parse(v)
	switch {
	case errors.Is(err, decimal.ErrPrecision):
		return 0, "err.two_decimals"
	case err != nil:
		return 0, "err.number"
	}
	return d, ""
}

// evidenceFile is the optional uploaded file of the form.
func evidenceFile(c echo.Context) ([]*multipart.FileHeader, error) {
	form, err := c.MultipartForm()
	if err == http.ErrNotMultipart {
		return nil, nil
	}
	if err != nil {
		return nil, errs.Malformed("file", "could not read the upload")
	}
	var out []*multipart.FileHeader
	for _, fh := range form.File["evidence"] {
		if fh.Filename == "" && fh.Size == 0 {
			continue // an empty file input
		}
		out = append(out, fh)
	}
	if len(out) > maxFormFiles {
		return nil, errs.Field("file", fmt.Sprintf("at most %d files at a time", maxFormFiles))
	}
	return out, nil
}

// maxFormFiles bounds the files of one activity form (issue 10: several
// photos per activity); the form's body limit allows that many.
const maxFormFiles = 5

// formUploads is what the form carries as files: the staged uploads it
// names (repeated field upload_id, the upload widget's and a refused
// form's), then its plain files (field evidence, sent without JavaScript),
// staged here with the checks of evidence. A refused plain file stops the
// staging (the ones before it are kept, and shown again with the form).
func (s *Server) formUploads(c echo.Context, a auth.Actor, d *activityFormData) error {
	fhs, err := evidenceFile(c)
	if err != nil {
		return err
	}
	if params, err := c.FormParams(); err == nil {
		d.UploadIDs = append(d.UploadIDs, params["upload_id"]...)
	}
	for _, fh := range fhs {
		if fh.Size > s.EvidenceLimit {
			return errs.TooLarge("file", "must be at most "+strconv.FormatInt(s.EvidenceLimit>>20, 10)+" MiB")
		}
		f, err := fh.Open()
		if err != nil {
			return err
		}
		up, err := s.Activities.Stage(c.Request().Context(), a, fh.Filename, f)
		f.Close()
		if err != nil {
			return err
		}
		d.UploadIDs = append(d.UploadIDs, up.Token)
	}
	return nil
}

// invalidForm re-renders an activity form with the error's messages
// beside their fields (422), or hands a non-input error to the error page.
func (s *Server) invalidForm(c echo.Context, p *view.Page, err error, bad map[string]string) error {
	if err != nil && !s.Views.ApplyError(p.Locale, p.Form, err, activityFields) {
		return err
	}
	if d, ok := p.Data.(*activityFormData); ok && len(d.UploadIDs) > 0 {
		// the files the form carried, those still waiting: chosen once,
		// kept across the refusal
		a, _ := pageActor(c)
		staged, serr := s.Activities.StagedList(c.Request().Context(), a, d.UploadIDs)
		if serr != nil {
			return serr
		}
		d.Staged = staged
	}
	for field, id := range bad {
		p.Form.Errors[field] = p.T(id)
	}
	if p.Form.Error == "" {
		p.Form.Error = p.T("err.validation")
	}
	return s.render(c, http.StatusUnprocessableEntity, "activity_form", p)
}

func (s *Server) logSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	p, err := s.newPage(c, "log.title", "log")
	if err != nil {
		return err
	}
	if _, err := s.activityForm(c, a, p); err != nil {
		return err
	}
	p.Form = view.NewForm()
	in, bad := readActivityForm(c, p.Form)
	d := p.Data.(*activityFormData)
	if err := s.formUploads(c, a, d); err != nil {
		return s.invalidForm(c, p, err, bad)
	}
	in.UploadIDs = d.UploadIDs
	pairID, perr := strconv.ParseInt(p.Form.Values["pair_id"], 10, 64)
	if perr != nil || pairID <= 0 {
		bad["pair_id"] = "err.required"
		return s.invalidForm(c, p, nil, bad)
	}
	if len(bad) > 0 {
		// without a date the service refuses the input whatever else it
		// holds, so it can be asked for the other fields' messages
		var err error
		if in.OccurredOn.IsZero() {
			_, _, err = s.Activities.Log(c.Request().Context(), a, pairID, in, "")
		}
		return s.invalidForm(c, p, err, bad)
	}
	act, _, err := s.Activities.Log(c.Request().Context(), a, pairID, in, p.Form.Values["idem"])
	if err != nil {
		return s.invalidForm(c, p, err, bad)
	}
	return s.redirect(c, "/", lateFlash(act, "logged"))
}

// amendData fills the amend form from a stored activity.
func (s *Server) amendData(c echo.Context, a auth.Actor, p *view.Page, act activity.Activity) error {
	if act.LoggedByUserID != a.UserID || a.Role != auth.RoleCoordinator {
		return errs.Forbidden("only the coordinator who logged this activity may change it")
	}
	if act.Status != activity.Pending && act.Status != activity.Disputed {
		return errs.Conflict("immutable", "status", "a confirmed activity cannot be changed")
	}
	pair, err := s.Pairs.Pair(c.Request().Context(), a, act.PairID)
	if err != nil {
		return err
	}
	d := &activityFormData{Action: "/activities/" + strconv.FormatInt(act.ID, 10) + "/edit", Edit: &act,
		PairName: pair.SupportingSchoolName + " → " + pair.SupportedSchoolName, Categories: category.All(),
		MaxBytes: s.EvidenceLimit, MaxMiB: s.EvidenceLimit >> 20}
	p.Data = d
	f := view.NewForm()
	f.Values = map[string]string{"category": act.Category, "title": act.Title, "occurred_on": act.OccurredOn.String(),
		"description": act.Description, "location": act.Location, "persons": strconv.Itoa(act.Persons)}
	if act.Hours > 0 {
		f.Values["hours"] = view.Num(act.Hours)
	}
	p.Form = f
	return nil
}

func (s *Server) amendForm(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "amend.title", "log")
	if err != nil {
		return err
	}
	act, err := s.Activities.Get(c.Request().Context(), a, id)
	if err != nil {
		return err
	}
	if err := s.amendData(c, a, p, act); err != nil {
		return err
	}
	if err := s.resumedUploads(c, a, p); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "activity_form", p)
}

func (s *Server) amendSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "amend.title", "log")
	if err != nil {
		return err
	}
	act, err := s.Activities.Get(c.Request().Context(), a, id)
	if err != nil {
		return err
	}
	if err := s.amendData(c, a, p, act); err != nil {
		return err
	}
	p.Form = view.NewForm()
	in, bad := readActivityForm(c, p.Form)
	d := p.Data.(*activityFormData)
	if err := s.formUploads(c, a, d); err != nil {
		return s.invalidForm(c, p, err, bad)
	}
	in.UploadIDs = d.UploadIDs
	if len(bad) > 0 {
		var err error
		if in.OccurredOn.IsZero() { // refused whatever else: ask for the other messages
			_, err = s.Activities.Amend(c.Request().Context(), a, id, in)
		}
		return s.invalidForm(c, p, err, bad)
	}
	act, err = s.Activities.Amend(c.Request().Context(), a, id, in)
	if err != nil {
		return s.invalidForm(c, p, err, bad)
	}
	return s.redirect(c, "/", lateFlash(act, "amended"))
}

func (s *Server) withdrawSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if _, err := s.Activities.Withdraw(c.Request().Context(), a, id); err != nil {
		return err
	}
	return s.redirect(c, "/", "withdrawn")
}

// activityPage shows one activity with its evidence; the counterpart's
// principal decides here too, and the logger amends or withdraws.
func (s *Server) activityPage(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	act, err := s.Activities.Get(ctx, a, id)
	if err != nil {
		return err
	}
	pair, err := s.Pairs.Pair(ctx, a, act.PairID)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "activity.title", "")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	return s.renderActivity(c, http.StatusOK, p, a, act, pair)
}

func (s *Server) renderActivity(c echo.Context, status int, p *view.Page, a auth.Actor, act activity.Activity, pair pairing.Pair) error {
	logger := pair.SupportingSchoolName
	if act.LoggedBySchoolID == pair.SupportedSchoolID {
		logger = pair.SupportedSchoolName
	}
	open := act.Status == activity.Pending || act.Status == activity.Disputed
	p.Data = map[string]any{
		"A": act, "PairName": pair.SupportingSchoolName + " → " + pair.SupportedSchoolName, "LoggedBy": logger,
		"CanDecide": a.Role == auth.RolePrincipal && act.Status == activity.Pending && pair.Counterpart(act.LoggedBySchoolID) == a.SchoolID,
		"CanAmend":  a.Role == auth.RoleCoordinator && open && act.LoggedByUserID == a.UserID,
	}
	return s.render(c, status, "activity", p)
}

// backTo is the local page a form returns to.
func backTo(c echo.Context, fallback string) string {
	if next := c.FormValue("next"); next != "" {
		if u, err := url.Parse(next); err == nil && u.Host == "" && u.Scheme == "" {
			return localPath(next)
		}
	}
	return fallback
}

// lateFlash is the flash after an activity is saved or confirmed: the
// "_late" variant when a period it belongs to had closed its books, so the
// message does not promise a count the records will not show.
func lateFlash(act activity.Activity, name string) string {
	if act.Late() {
		return name + "_late"
	}
	return name
}

// accountingFragment is the log form's live note (htmx, on a change of the
// pair, category or date): which commitment periods the activity would
// count toward, and a warning when a period's books are already closed.
// Incomplete or refused input gives an empty note, never an error page.
func (s *Server) accountingFragment(c echo.Context) error {
	a, _ := pageActor(c)
	p, err := s.newPage(c, "log.title", "log")
	if err != nil {
		return err
	}
	pairID, _ := strconv.ParseInt(c.QueryParam("pair_id"), 10, 64)
	day, derr := date.Parse(c.QueryParam("occurred_on"))
	cat := c.QueryParam("category")
	if pairID > 0 && derr == nil && cat != "" {
		if acc, err := s.Activities.Preview(c.Request().Context(), a, pairID, cat, day); err == nil {
			p.Data = map[string]any{"Accounting": acc}
		}
	}
	return s.renderBlock(c, http.StatusOK, "activity_form", "accounting", p)
}
