package web

import (
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/category"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/view"
)

// commitmentProgress is one commitment on the pair page: its current
// period (the running one, or the last one started) and the earlier ones.
type commitmentProgress struct {
	Current *compliance.Item
	Past    []compliance.Item
}

// progressByCommitment splits a pair's report (every started period) per
// commitment into the current period and the earlier ones, latest first.
func progressByCommitment(items []compliance.Item) map[int64]commitmentProgress {
	out := map[int64]commitmentProgress{}
	for i := range items {
		it := items[i]
		cp := out[it.CommitmentID]
		if cp.Current == nil || it.PeriodStart.After(cp.Current.PeriodStart) {
			if cp.Current != nil {
				cp.Past = append(cp.Past, *cp.Current)
			}
			cp.Current = &it
		} else {
			cp.Past = append(cp.Past, it)
		}
		out[it.CommitmentID] = cp
	}
	for k, cp := range out {
		past := cp.Past
		for i := 1; i < len(past); i++ { // latest first
			for j := i; j > 0 && past[j].PeriodStart.After(past[j-1].PeriodStart); j-- {
				past[j], past[j-1] = past[j-1], past[j]
			}
		}
		out[k] = cp
	}
	return out
}

type crumb struct{ Name, Link string }

// pairPage: the agreement and its commitments with progress, the activity
// timeline with evidence, and the notices sent.
func (s *Server) pairPage(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := s.newPage(c, "pair.title", "")
	if err != nil {
		return err
	}
	p.Form = view.NewForm()
	return s.renderPair(c, http.StatusOK, p, id)
}

// renderPair renders the pair page, with p.Form carrying the errors of a
// refused management form (lifecycle) if any.
func (s *Server) renderPair(c echo.Context, status int, p *view.Page, id int64) error {
	a, _ := pageActor(c)
	ctx := c.Request().Context()
	pair, err := s.Pairs.Pair(ctx, a, id)
	if err != nil {
		return err
	}
	ags, err := s.Pairs.ListAgreements(ctx, a, id, page.Page{Limit: 50})
	if err != nil {
		return err
	}
	rep, err := s.Compliance.Pair(ctx, a, id, s.today())
	if err != nil {
		return err
	}
	pg := pageParam(c, 20)
	acts, err := s.Activities.List(ctx, a, activity.Filter{PairID: id}, pg)
	if err != nil {
		return err
	}
	notices, err := s.Notices.ListNotices(ctx, a, notify.NoticeFilter{PairID: id}, page.Page{Limit: 20})
	if err != nil {
		return err
	}
	docs, err := s.Documents.OfPair(ctx, a, id)
	if err != nil {
		return err
	}
	var crumbs []crumb
	if a.IsAdmin() || a.IsBureau() {
		crumbs = append(crumbs, crumb{Name: p.T("nav.dashboard"), Link: "/dashboard"})
	}
	p.Data = map[string]any{"Pair": pair, "Agreements": ags.Items, "Progress": progressByCommitment(rep.Items),
		"Activities": acts, "Notices": notices, "Pager": makePager(c, pg, len(acts.Items), acts.Total), "Crumbs": crumbs,
		"Documents": docs, "CanManage": s.Pairs.CanManage(ctx, a, pair) == nil, "Categories": category.All(), "Today": s.today()}
	return s.render(c, status, "pair", p)
}

// evidenceThumb is a small JPEG of a photo (so a timeline of phone photos
// stays light); other files get an icon.
func (s *Server) evidenceThumb(c echo.Context) error { return s.evidenceImage(c, 240) }

// evidenceView is the phone-sized rendition of a photo (longest side
// 1280 px), what a tap on a thumbnail opens instead of a 7 MB original;
// the original stays one link away (/evidence/:id).
func (s *Server) evidenceView(c echo.Context) error { return s.evidenceImage(c, 1280) }

func (s *Server) evidenceImage(c echo.Context, size int) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ev, f, err := s.Activities.OpenEvidence(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	defer f.Close()
	h := c.Response().Header()
	h.Set("Cache-Control", "private, max-age=86400") // evidence never changes under its id
	b, err := view.Thumbnail(f, size)
	if errors.Is(err, view.ErrNoThumbnail) || !strings.HasPrefix(ev.ContentType, "image/") {
		icon, ierr := fs.ReadFile(s.Views.Static(), "file.svg")
		if ierr != nil {
			return ierr
		}
		return c.Blob(http.StatusOK, "image/svg+xml", icon)
	}
	if err != nil {
		return err
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	return c.Blob(http.StatusOK, "image/jpeg", b)
}
