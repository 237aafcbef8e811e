package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/view"
)

// trendTerms is how many terms the trend line shows.
const trendTerms = 8

// chooseTerm is the term of ?term=, else the one running today, else the
// last one started, else the first.
func chooseTerm(terms []calendar.Term, key string, today date.Date) (calendar.Term, bool, error) {
	if len(terms) == 0 {
		return calendar.Term{}, false, nil
	}
	if key != "" {
		for _, t := range terms {
			if t.Key() == key {
				return t, true, nil
			}
		}
		return calendar.Term{}, false, errs.Field("term", "no term "+key)
	}
	chosen := terms[0]
	for _, t := range terms {
		if !t.StartsOn.After(today) {
			chosen = t
		}
	}
	return chosen, true, nil
}

// dashboardPage: for the bureau's region (or a sub-region it drills into)
// and a term: KPI cards, compliance by category and by sub-region, a
// pairs × categories heat map and the breaches, on one evaluation of the
// scope (compliance.Reader: a fixed number of queries whatever the number
// of pairs). The trend across terms reads the history of every term shown,
// so it comes in a second request (dashboardTrend, loaded by htmx): the
// page itself stays fast for a province.
func (s *Server) dashboardPage(c echo.Context) error { return s.dashboard(c, false) }

// dashboardTrend is the trend section of the dashboard, as a fragment.
func (s *Server) dashboardTrend(c echo.Context) error { return s.dashboard(c, true) }

func (s *Server) dashboard(c echo.Context, trendOnly bool) error {
	a, _ := pageActor(c)
	if !a.IsAdmin() && !a.IsBureau() {
		return errs.Forbidden("only a bureau or an admin sees the dashboard")
	}
	ctx := c.Request().Context()
	today := s.today()
	cal, err := s.Terms.Calendar(ctx)
	if err != nil {
		return err
	}
	terms := cal.Terms()
	term, haveTerm, err := chooseTerm(terms, c.QueryParam("term"), today)
	if err != nil {
		return err
	}
	regionID, err := queryInt(c, "region")
	if err != nil {
		return err
	}
	if regionID == 0 && a.IsBureau() {
		regionID = a.RegionID
	}
	var region *school.Region
	if regionID != 0 {
		r, err := s.Schools.Region(ctx, regionID)
		if err != nil {
			return err
		}
		if !a.CoversPath(r.Path) {
			return errs.NotFound("region") // outside the scope: not visible at all
		}
		region = &r
	}
	p, err := s.newPage(c, "dash.title", "dashboard")
	if err != nil {
		return err
	}

	// the pairs of the scope, in that region
	cond, args := pairing.ScopeSQL(a)
	if region != nil {
		rc, rargs := pairing.RegionSQL(region.Path)
		cond, args = cond+" AND "+rc, append(args, rargs...)
	}
	// (the region lies in the actor's scope: its pairs are the scope's,
	// found by indexed lookups rather than cond's scan of every pair)
	path := ""
	if region != nil {
		path = region.Path
	}
	scopeID := int64(0)
	if region != nil {
		scopeID = region.ID
	}
	npairs, err := s.Compliance.PairsIn(ctx, scopeID)
	if err != nil {
		return err
	}
	full := s.DashboardFullScope
	if full == 0 {
		full = defaultDashboardFullScope
	}
	if full > 0 && npairs > full {
		// a large scope: counts from the status read model, in proportion
		// to the areas, categories and terms shown
		done, err := s.dashboardCounts(c, p, a, region, terms, term, haveTerm, today, npairs, trendOnly)
		if err != nil || done {
			return err
		}
	}
	if npairs <= 5000 {
		ids, err := s.Compliance.PairIDsUnder(ctx, path, 0, 0, -1)
		if err != nil {
			return err
		}
		cond, args = "pairs.id IN ?", []any{ids}
	}
	sc, err := s.Compliance.Load(ctx, cond, args...)
	if err != nil {
		return err
	}
	var reports []compliance.PairReport
	var trend []view.TrendInput
	trendQ := url.Values{}
	if haveTerm {
		trendQ.Set("term", term.Key())
	}
	if region != nil && (!a.IsBureau() || region.ID != a.RegionID) {
		trendQ.Set("region", strconv.FormatInt(region.ID, 10))
	}
	if trendOnly && !haveTerm {
		// no calendar yet: an empty trend, never the whole page (which
		// would load itself into itself again and again)
		p.Data = map[string]any{"Dash": view.BuildDashboard(view.DashboardInput{}), "NoTerms": true}
		return s.renderBlock(c, http.StatusOK, "dashboard", "trend", p)
	}
	if haveTerm && trendOnly {
		shown, from, to := trendSpan(terms, term, today)
		// one evaluation over all the terms shown, split per term
		all, err := s.Compliance.EvaluateScope(ctx, sc, compliance.Options{At: today, Mode: compliance.Window, From: from, To: to})
		if err != nil {
			return err
		}
		for _, t := range shown {
			trend = append(trend, view.TrendInput{Term: t.Key(), Reports: compliance.Within(all, t.StartsOn, t.EndsOn)})
		}
		dash := view.BuildDashboard(view.DashboardInput{Trend: trend})
		p.Data = map[string]any{"Dash": dash, "TrendCharts": map[string]view.Chart{"trend": view.TrendLines(p, dash.Trend)}}
		return s.renderBlock(c, http.StatusOK, "dashboard", "trend", p)
	}
	if haveTerm {
		if reports, err = s.Compliance.EvaluateScope(ctx, sc, compliance.Options{At: today, Mode: compliance.Window, From: term.StartsOn, To: term.EndsOn}); err != nil {
			return err
		}
	}

	// sub-regions: the pairs grouped by where their supported school sits
	areas, pairArea, err := s.dashboardAreas(c, a, region, sc)
	if err != nil {
		return err
	}
	own := p.T("dash.own_area")
	if region != nil {
		own = p.T("dash.directly_in", "Region", region.Name)
	}
	dash := view.BuildDashboard(view.DashboardInput{Reports: reports, PairArea: pairArea, Areas: areas, OwnArea: own, Trend: trend, MaxRows: 200})
	return s.renderDashboard(c, p, a, region, terms, term, haveTerm, dash)
}

// renderDashboard renders the page of a dashboard built either way.
func (s *Server) renderDashboard(c echo.Context, p *view.Page, a auth.Actor, region *school.Region, terms []calendar.Term,
	term calendar.Term, haveTerm bool, dash view.Dashboard) error {
	regionID := int64(0)
	if region != nil {
		regionID = region.ID
	}
	trendQ := url.Values{}
	if haveTerm {
		trendQ.Set("term", term.Key())
	}
	if region != nil && (!a.IsBureau() || region.ID != a.RegionID) {
		trendQ.Set("region", strconv.FormatInt(region.ID, 10))
	}
	catRows := make([]view.Row, len(dash.ByCategory))
	for i, r := range dash.ByCategory {
		r.Label = p.Category(r.Key)
		catRows[i] = r
	}
	areaRows := make([]view.Row, len(dash.ByArea))
	links := make([]string, len(dash.ByArea))
	for i, r := range dash.ByArea {
		if r.ID != 0 {
			q := url.Values{"region": {strconv.FormatInt(r.ID, 10)}}
			if haveTerm {
				q.Set("term", term.Key())
			}
			r.Link = "/dashboard?" + q.Encode()
		}
		links[i] = r.Link
		areaRows[i] = r
	}
	crumbs, err := s.regionCrumbs(c, a, region, p, term.Key())
	if err != nil {
		return err
	}
	exportQ := url.Values{}
	if haveTerm {
		exportQ.Set("term", term.Key())
	}
	if region != nil {
		exportQ.Set("region_id", strconv.FormatInt(region.ID, 10))
	}
	p.Data = map[string]any{
		"Dash": dash, "Terms": terms, "Term": term.Key(), "RegionID": regionID, "Crumbs": crumbs,
		"CategoryRows": catRows, "AreaRows": areaRows,
		"ExportXLSX": "/dashboard/export.xlsx?" + exportQ.Encode(), "ExportCSV": "/dashboard/export.csv?" + exportQ.Encode(),
		"TrendURL": "/dashboard/trend?" + trendQ.Encode(), "NoTerms": !haveTerm,
		"Charts": map[string]view.Chart{
			"category": view.StatusBars(p, catRows, nil),
			"area":     view.StatusBars(p, areaRows, links),
		},
	}
	return s.render(c, http.StatusOK, "dashboard", p)
}

// defaultDashboardFullScope is the most pairs a dashboard grades one by
// one; above it the dashboard reads the status read model.
const defaultDashboardFullScope = 300

// trendSpan is the terms the trend shows — started by today, up to the
// chosen one, at most trendTerms — and the span they cover.
func trendSpan(terms []calendar.Term, term calendar.Term, today date.Date) ([]calendar.Term, date.Date, date.Date) {
	var shown []calendar.Term
	for _, t := range terms {
		if !t.StartsOn.After(today) || t.Key() == term.Key() {
			shown = append(shown, t)
		}
	}
	if len(shown) > trendTerms {
		shown = shown[len(shown)-trendTerms:]
	}
	from, to := term.StartsOn, term.EndsOn
	for _, t := range shown {
		from, to = date.Min(from, t.StartsOn), date.Max(to, t.EndsOn)
	}
	return shown, from, to
}

// dashboardCounts renders the dashboard of a large scope (or its trend)
// from the status read model: KPI, categories, sub-regions, a heat map of
// sub-regions and the trend, with no pair loaded. done is false when the
// scope is not one the read model counts (the caller grades the pairs).
func (s *Server) dashboardCounts(c echo.Context, p *view.Page, a auth.Actor, region *school.Region, terms []calendar.Term,
	term calendar.Term, haveTerm bool, today date.Date, npairs int, trendOnly bool) (bool, error) {
	ctx := c.Request().Context()
	q := compliance.Query{At: today}
	if region != nil {
		q.RegionID = region.ID
	}
	if trendOnly {
		shown, from, to := trendSpan(terms, term, today)
		spans := make([]compliance.Span, len(shown))
		for i, t := range shown {
			spans[i] = compliance.Span{From: t.StartsOn, To: t.EndsOn}
		}
		v, ok, err := s.Compliance.ViewWindow(ctx, a, q, compliance.Options{At: today, Mode: compliance.Window, From: from, To: to}, spans)
		if err != nil || !ok {
			return false, err
		}
		in := view.CountsInput{}
		for i, t := range shown {
			in.Trend = append(in.Trend, view.TrendCounts{Term: t.Key(), Counts: v.Windows[i]})
		}
		dash := view.BuildDashboardCounts(in)
		p.Data = map[string]any{"Dash": dash, "TrendCharts": map[string]view.Chart{"trend": view.TrendLines(p, dash.Trend)}}
		return true, s.renderBlock(c, http.StatusOK, "dashboard", "trend", p)
	}
	in := view.CountsInput{Pairs: npairs, AreaLinks: map[int64]string{}}
	if haveTerm {
		q.Term = term.Key()
		v, ok, err := s.Compliance.View(ctx, a, q, nil)
		if err != nil || !ok {
			return false, err
		}
		in.Total, in.ByCategory, in.ByArea, in.Cells = v.Total, v.ByCategory, v.ByArea, v.Cells
	}
	areas, _, err := s.regionAreas(c, a, region)
	if err != nil {
		return false, err
	}
	in.Areas = areas
	for _, ar := range areas {
		lq := url.Values{"region": {strconv.FormatInt(ar.ID, 10)}}
		if haveTerm {
			lq.Set("term", term.Key())
		}
		in.AreaLinks[ar.ID] = "/dashboard?" + lq.Encode()
	}
	in.OwnArea = p.T("dash.own_area")
	if region != nil {
		in.OwnArea = p.T("dash.directly_in", "Region", region.Name)
	}
	return true, s.renderDashboard(c, p, a, region, terms, term, haveTerm, view.BuildDashboardCounts(in))
}

// regionAreas lists the sub-regions of region (the provinces when none).
func (s *Server) regionAreas(c echo.Context, a auth.Actor, region *school.Region) ([]view.Area, []school.Region, error) {
	f := school.RegionFilter{Level: school.Province}
	if region != nil {
		f = school.RegionFilter{ParentID: region.ID}
	}
	children, err := s.Schools.ListRegions(c.Request().Context(), a, f, page.Page{Limit: page.MaxLimit})
	if err != nil {
		return nil, nil, err
	}
	areas := make([]view.Area, 0, len(children.Items))
	for _, r := range children.Items {
		areas = append(areas, view.Area{ID: r.ID, Name: r.Name})
	}
	return areas, children.Items, nil
}

// dashboardAreas lists the sub-regions of region (the provinces when
// none) and places each pair in one: the sub-region of its supported
// school, or of its supporting school when only that one is in the region.
func (s *Server) dashboardAreas(c echo.Context, a auth.Actor, region *school.Region, sc compliance.Scope) ([]view.Area, map[int64]int64, error) {
	ctx := c.Request().Context()
	prefix := "/"
	if region != nil {
		prefix = region.Path
	}
	areas, children, err := s.regionAreas(c, a, region)
	if err != nil {
		return nil, nil, err
	}
	paths, err := s.Schools.RegionPaths(ctx)
	if err != nil {
		return nil, nil, err
	}
	pairArea := make(map[int64]int64, len(sc.Pairs))
	for _, p := range sc.Pairs {
		supported, supporting := sc.Regions(p.ID)
		path := paths[supported]
		if !strings.HasPrefix(path, prefix) {
			path = paths[supporting]
		}
		for _, r := range children {
			if strings.HasPrefix(path, r.Path) {
				pairArea[p.ID] = r.ID
				break
			}
		}
	}
	return areas, pairArea, nil
}

// regionCrumbs is the way back up from a drilled-down region, as far as
// the actor may see.
func (s *Server) regionCrumbs(c echo.Context, a auth.Actor, region *school.Region, p *view.Page, term string) ([]crumb, error) {
	link := func(id int64) string {
		q := url.Values{}
		if id != 0 {
			q.Set("region", strconv.FormatInt(id, 10))
		}
		if term != "" {
			q.Set("term", term)
		}
		return "/dashboard?" + q.Encode()
	}
	var out []crumb
	if a.IsAdmin() {
		out = append(out, crumb{Name: p.T("dash.all_regions"), Link: link(0)})
	}
	if region == nil {
		out[len(out)-1].Link = ""
		return out, nil
	}
	for _, part := range strings.Split(strings.Trim(region.Path, "/"), "/") {
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			continue
		}
		r := *region
		if id != region.ID {
			if r, err = s.Schools.Region(c.Request().Context(), id); err != nil {
				return nil, err
			}
		}
		if !a.CoversPath(r.Path) {
			continue
		}
		cr := crumb{Name: r.Name, Link: link(r.ID)}
		if r.ID == region.ID {
			cr.Link = ""
		}
		out = append(out, cr)
	}
	return out, nil
}
