package web

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/channel"
	"github.com/twinning-platform/twinning/internal/circular"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/view"
)

// Pages of the bureau's instruments (issue 11): circulars, rectification,
// assessments and robots.

type periodOption struct{ Key, Label string }

// periodOptions are the terms and school years of the calendar, newest
// first, in words.
func (s *Server) periodOptions(c echo.Context, locale string) ([]periodOption, []string, error) {
	cal, err := s.Terms.Calendar(c.Request().Context())
	if err != nil {
		return nil, nil, err
	}
	var out []periodOption
	var years []string
	terms := cal.Terms()
	for i := len(terms) - 1; i >= 0; i-- {
		t := terms[i]
		if !slices.Contains(years, t.SchoolYear) {
			years = append(years, t.SchoolYear)
			out = append(out, periodOption{t.SchoolYear, calendar.KeyWords(t.SchoolYear, locale)})
		}
		out = append(out, periodOption{t.Key(), calendar.KeyWords(t.Key(), locale)})
	}
	return out, years, nil
}

func requireIssuer(a auth.Actor) error {
	if !a.IsAdmin() && !a.IsBureau() {
		return errs.Forbidden("only a bureau or an admin may issue circulars")
	}
	return nil
}

// circularsPage lists circulars and, for bureaus, offers a draft.
func (s *Server) circularsPage(c echo.Context) error {
	p, err := s.newPage(c, "circular.list", "circulars")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	return s.renderCirculars(c, http.StatusOK, p)
}

func (s *Server) renderCirculars(c echo.Context, status int, p *view.Page) error {
	a, _ := pageActor(c)
	pg := pageParam(c, 20)
	l, err := s.Circulars.List(c.Request().Context(), a, circular.Filter{}, pg)
	if err != nil {
		return err
	}
	periods, _, err := s.periodOptions(c, p.Locale)
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Items": l.Items, "Periods": periods, "CanIssue": a.IsAdmin() || a.IsBureau(),
		"Pager": makePager(c, pg, len(l.Items), l.Total)}
	return s.render(c, status, "circulars", p)
}

func (s *Server) circularDraftSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	if err := requireIssuer(a); err != nil {
		return err
	}
	p, err := s.newPage(c, "circular.list", "circulars")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "period_key", "title", "number", "preamble", "requirements", "rectify_by")
	bad := map[string]string{}
	in := circular.DraftInput{PeriodKey: p.Form.Values["period_key"], Title: p.Form.Values["title"], Number: p.Form.Values["number"],
		Preamble: p.Form.Values["preamble"], Requirements: p.Form.Values["requirements"]}
	if d := formDate(p.Form, "rectify_by", bad); !d.IsZero() {
		in.RectifyBy = &d
	}
	if len(bad) == 0 {
		out, err := s.Circulars.Draft(c.Request().Context(), a, in)
		if err == nil {
			return s.redirect(c, fmt.Sprintf("/circulars/%d", out.ID), "created")
		}
		if !s.applyForm(p, err, bad, nil) {
			return err
		}
	} else {
		s.applyForm(p, nil, bad, nil)
	}
	return s.renderCirculars(c, http.StatusUnprocessableEntity, p)
}

// circularPage shows one circular: the draft's form, or the published
// document with its rectifications.
func (s *Server) circularPage(c echo.Context) error {
	p, err := s.newPage(c, "circular.title", "circulars")
	if err != nil {
		return err
	}
	return s.renderCircular(c, http.StatusOK, p)
}

func (s *Server) renderCircular(c echo.Context, status int, p *view.Page) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	circ, err := s.Circulars.Get(ctx, a, id)
	if err != nil {
		return err
	}
	if p.Form == nil {
		p.Form = view.NewForm()
		p.Form.Values = map[string]string{"title": circ.Title, "number": circ.Number, "preamble": circ.Preamble, "requirements": circ.Requirements}
		if circ.RectifyBy != nil {
			p.Form.Values["rectify_by"] = circ.RectifyBy.String()
		}
	}
	var rects []circular.Rectification
	if circ.Status == circular.Published {
		l, err := s.Circulars.ListRectifications(ctx, a, circular.RectFilter{CircularID: id}, page.Page{Limit: page.MaxLimit})
		if err != nil {
			return err
		}
		rects = l.Items
	}
	p.Data = map[string]any{"C": circ, "Rects": rects, "CanEdit": circ.Status == circular.Draft && (a.IsAdmin() || a.IsBureau()),
		"Period": calendar.KeyWords(circ.PeriodKey, p.Locale)}
	return s.render(c, status, "circular", p)
}

func (s *Server) circularEditSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "circular.title", "circulars")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "title", "number", "preamble", "requirements", "rectify_by")
	bad := map[string]string{}
	patch := circular.Patch{}
	for name, o := range map[string]*circular.Opt[string]{"title": &patch.Title, "number": &patch.Number, "preamble": &patch.Preamble, "requirements": &patch.Requirements} {
		o.Set, o.V = true, p.Form.Values[name]
	}
	patch.RectifyBy.Set = true
	if d := formDate(p.Form, "rectify_by", bad); d.IsZero() {
		patch.RectifyBy.Null = len(bad) == 0
	} else {
		patch.RectifyBy.V = d
	}
	if len(bad) == 0 {
		_, err = s.Circulars.Update(c.Request().Context(), a, id, patch)
		if err == nil {
			if c.FormValue("publish") != "" {
				return s.circularPublish(c, a, id, p)
			}
			return s.redirect(c, fmt.Sprintf("/circulars/%d", id), "saved")
		}
	}
	if !s.applyForm(p, err, bad, nil) {
		return err
	}
	return s.renderCircular(c, http.StatusUnprocessableEntity, p)
}

// circularPublish publishes after the draft's last edit.
func (s *Server) circularPublish(c echo.Context, a auth.Actor, id int64, p *view.Page) error {
	_, err := s.Circulars.Publish(c.Request().Context(), a, id)
	if err == nil {
		return s.redirect(c, fmt.Sprintf("/circulars/%d", id), "published")
	}
	if !s.applyForm(p, err, nil, nil) {
		return err
	}
	return s.renderCircular(c, http.StatusUnprocessableEntity, p)
}

// circularPrint is the A4 page with the red header, for printing.
func (s *Server) circularPrint(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	circ, err := s.Circulars.Get(c.Request().Context(), a, id)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "circular.title", "circulars")
	if err != nil {
		return err
	}
	header := circ.Issuer
	if header == "" {
		header = "教育局"
	}
	p.Data = map[string]any{"C": circ, "Header": header + "文件"}
	var buf bytes.Buffer
	if err := s.Views.RenderBlock(&buf, "circular_print", "print", p); err != nil {
		return err
	}
	return s.html(c, http.StatusOK, buf.Bytes())
}

// rectificationsPage lists rectifications: a school its own, a bureau
// those of its circulars, overdue first.
func (s *Server) rectificationsPage(c echo.Context) error {
	a, _ := pageActor(c)
	p, err := s.newPage(c, "rect.list", "rectifications")
	if err != nil {
		return err
	}
	pg := pageParam(c, 50)
	l, err := s.Circulars.ListRectifications(c.Request().Context(), a, circular.RectFilter{}, pg)
	if err != nil {
		return err
	}
	p.Data = map[string]any{"Items": l.Items, "Pager": makePager(c, pg, len(l.Items), l.Total)}
	if isHTMX(c) || c.QueryParam("fragment") == "open" {
		ol, err := s.Circulars.ListRectifications(c.Request().Context(), a, circular.RectFilter{Open: true}, page.Page{Limit: 10})
		if err != nil {
			return err
		}
		p.Data = map[string]any{"Items": ol.Items, "Total": ol.Total}
		return s.renderBlock(c, http.StatusOK, "rectifications", "openlist", p)
	}
	return s.render(c, http.StatusOK, "rectifications", p)
}

func (s *Server) rectificationPage(c echo.Context) error {
	p, err := s.newPage(c, "rect.title", "rectifications")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	return s.renderRectification(c, http.StatusOK, p)
}

func (s *Server) renderRectification(c echo.Context, status int, p *view.Page) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	r, err := s.Circulars.GetRectification(c.Request().Context(), a, id)
	if err != nil {
		return err
	}
	if p.Form.Values["report"] == "" {
		p.Form.Values["report"] = r.Report
	}
	mine := a.IsSchoolUser() && a.SchoolID == r.SchoolID
	decider := a.IsAdmin() || a.IsBureau() && r.CircularRegionID != nil && *r.CircularRegionID == a.RegionID
	p.Data = map[string]any{"R": r, "Mine": mine, "Decider": decider,
		"CanAck": mine && r.Status == circular.AwaitingAck, "CanReport": mine && (r.Status == circular.Acknowledged || r.Status == circular.Returned),
		"CanDecide": decider && r.Status == circular.Submitted}
	return s.render(c, status, "rectification", p)
}

// rectificationAction runs a form's transition and comes back.
func (s *Server) rectificationAction(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := s.newPage(c, "rect.title", "rectifications")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "report", "reason")
	action := c.Param("action")
	if action == "" { // POST /rectifications/:id/files (its own route, for the upload limit)
		action = "files"
	}
	switch action {
	case "acknowledge":
		_, err = s.Circulars.Acknowledge(ctx, a, id)
	case "submit":
		_, err = s.Circulars.Submit(ctx, a, id, p.Form.Values["report"])
	case "accept":
		_, err = s.Circulars.Accept(ctx, a, id)
	case "return":
		_, err = s.Circulars.Return(ctx, a, id, p.Form.Values["reason"])
	case "files":
		fh, ferr := c.FormFile("file")
		if ferr != nil {
			err = errs.Field("file", "choose a photo or a PDF")
			break
		}
		f, ferr := fh.Open()
		if ferr != nil {
			return ferr
		}
		_, err = s.Circulars.AddFile(ctx, a, id, fh.Filename, f)
		_ = f.Close()
	default:
		return errs.NotFound(action)
	}
	if err == nil {
		return s.redirect(c, fmt.Sprintf("/rectifications/%d", id), "saved")
	}
	if !s.applyForm(p, err, nil, nil) {
		return err
	}
	return s.renderRectification(c, http.StatusUnprocessableEntity, p)
}

// rectificationFile serves an attachment to a page session.
func (s *Server) rectificationFile(c echo.Context) error { return s.getRectificationFile(c) }

// assessmentsPage: the ranked table of a school year and region.
func (s *Server) assessmentsPage(c echo.Context) error {
	a, _ := pageActor(c)
	if !a.IsAdmin() && !a.IsBureau() {
		return errs.Forbidden("assessments are for bureaus and admins")
	}
	p, err := s.newPage(c, "assess.title", "assessments")
	if err != nil {
		return err
	}
	_, years, err := s.periodOptions(c, p.Locale)
	if err != nil {
		return err
	}
	year := c.QueryParam("school_year")
	if year == "" && len(years) > 0 {
		year = years[0]
		for _, y := range years { // the school year of today, when the calendar has it
			if t, ok := s.termOn(c, s.today()); ok && t.SchoolYear == y {
				year = y
			}
		}
	}
	regions, _, err := s.regionOptions(c, a)
	if err != nil {
		return err
	}
	region, err := queryInt(c, "region_id")
	if err != nil {
		return err
	}
	data := map[string]any{"Years": years, "Year": year, "Regions": regions, "Region": region, "Print": c.QueryParam("print") != ""}
	if year != "" {
		res, err := s.Assessments.Compute(c.Request().Context(), a, year, region, date.Date{})
		if err != nil {
			return err
		}
		data["Result"] = res
		data["YearWords"] = calendar.KeyWords(year, p.Locale)
		data["Query"] = fmt.Sprintf("school_year=%s&region_id=%d", year, region)
	}
	p.Data = data
	if c.QueryParam("print") != "" {
		var buf bytes.Buffer
		if err := s.Views.RenderBlock(&buf, "assessments", "print", p); err != nil {
			return err
		}
		return s.html(c, http.StatusOK, buf.Bytes())
	}
	return s.render(c, http.StatusOK, "assessments", p)
}

func (s *Server) termOn(c echo.Context, d date.Date) (calendar.Term, bool) {
	cal, err := s.Terms.Calendar(c.Request().Context())
	if err != nil {
		return calendar.Term{}, false
	}
	return cal.TermOn(d)
}

// robotsPage: the robots of a region (admins and bureaus).
func (s *Server) robotsPage(c echo.Context) error {
	p, err := s.newPage(c, "robots.title", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	return s.renderRobots(c, http.StatusOK, p)
}

func (s *Server) renderRobots(c echo.Context, status int, p *view.Page) error {
	a, _ := pageActor(c)
	if !a.IsAdmin() && !a.IsBureau() {
		return errs.Forbidden("only an admin or a bureau configures robots")
	}
	regions, _, err := s.regionOptions(c, a)
	if err != nil {
		return err
	}
	region, err := queryInt(c, "region_id")
	if err != nil {
		return err
	}
	if region == 0 {
		if v := strings.TrimSpace(c.FormValue("region_id")); v != "" {
			fmt.Sscan(v, &region)
		}
	}
	if region == 0 && a.IsBureau() {
		region = a.RegionID
	}
	if region == 0 && len(regions) > 0 {
		region = regions[0].ID
	}
	data := map[string]any{"Regions": regions, "Region": region}
	if region != 0 {
		rs, err := s.Channels.List(c.Request().Context(), a, region)
		if err != nil {
			return err
		}
		ids := make([]int64, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
		}
		stats, err := s.Channels.StatsOf(c.Request().Context(), ids)
		if err != nil {
			return err
		}
		data["Robots"], data["Stats"] = rs, stats
	}
	p.Data = data
	return s.render(c, status, "robots", p)
}

func (s *Server) robotCreateSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	p, err := s.newPage(c, "robots.title", "admin")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	formValues(c, p.Form, "region_id", "kind", "name", "webhook", "secret")
	var region int64
	fmt.Sscan(p.Form.Values["region_id"], &region)
	_, err = s.Channels.Create(c.Request().Context(), a, region, channelInput(p.Form))
	if err == nil {
		return s.redirect(c, fmt.Sprintf("/robots?region_id=%d", region), "created")
	}
	if !s.applyForm(p, err, nil, nil) {
		return err
	}
	return s.renderRobots(c, http.StatusUnprocessableEntity, p)
}

func (s *Server) robotDeleteSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.Channels.Delete(c.Request().Context(), a, id); err != nil {
		return err
	}
	return s.redirect(c, "/robots?region_id="+c.FormValue("region_id"), "saved")
}

func channelInput(f *view.Form) channel.RobotInput {
	return channel.RobotInput{Kind: f.Values["kind"], Name: f.Values["name"], Webhook: f.Values["webhook"], Secret: f.Values["secret"]}
}
