package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/view"
)

// The installable app (issue 10): the manifest, the service worker and the
// offline queue's endpoint. The worker and the queue live in
// templates/static/sw.js and templates/static/offline.js.

// precached are the static files the log form needs, cached by the
// service worker when it installs so the form opens without a network.
// (echarts is left out: only the dashboard uses it.)
var precached = []string{"app.css", "app.js", "offline.js", "vendor/htmx.min.js", "favicon.svg", "icon-192.png", "icon-512.png", "offline.html"}

// serviceWorker serves static/sw.js at /sw.js (a worker controls only the
// pages under its own path, and the app is all of /), with the versioned
// addresses of the precached files and a cache name that changes whenever
// one of them (or the worker) does, so a deployment replaces the old cache.
func (s *Server) serviceWorker(c echo.Context) error {
	b, err := fs.ReadFile(s.Views.Static(), "sw.js")
	if err != nil {
		return err
	}
	urls := make([]string, 0, len(precached))
	sum := sha256.New()
	sum.Write(b)
	for _, name := range precached {
		v, ok := s.Views.AssetVersion(name)
		if !ok {
			continue
		}
		u := "/static/" + name + "?v=" + v
		urls = append(urls, u)
		sum.Write([]byte(u))
	}
	list, err := json.Marshal(urls)
	if err != nil {
		return err
	}
	version := hex.EncodeToString(sum.Sum(nil)[:6])
	js := strings.Replace(string(b), `["__PRECACHE__"]`, string(list), 1)
	js = strings.Replace(js, "__VERSION__", version, 1)
	h := c.Response().Header()
	// the browser checks for a new worker on navigations; never keep an
	// old one in the HTTP cache
	h.Set("Cache-Control", "no-cache")
	h.Set("Service-Worker-Allowed", "/")
	return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", []byte(js))
}

// manifest is the web app manifest: installable from the browser's menu,
// opening on the signed-in user's start page, full screen without the
// browser's bar.
func (s *Server) manifest(c echo.Context) error {
	p := s.Views.NewPage(s.locale(c))
	icon := func(name, size string) map[string]string {
		return map[string]string{"src": p.Asset(name), "sizes": size, "type": "image/png", "purpose": "any maskable"}
	}
	m := map[string]any{
		"name":             p.T("app.name"),
		"short_name":       p.T("app.short_name"), // under the icon on a home screen
		"lang":             p.Locale,
		"start_url":        "/",
		"scope":            "/",
		"display":          "standalone",
		"background_color": "#f5f7fa",
		"theme_color":      "#1f5fa8",
		"icons":            []map[string]string{icon("icon-192.png", "192x192"), icon("icon-512.png", "512x512")},
		"shortcuts":        []map[string]string{{"name": p.T("nav.log"), "url": "/activities/new"}},
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "application/manifest+json", b)
}

// queuedAnswer is what the offline queue reads back: the recorded
// activity, or the form's errors in the user's language.
type queuedAnswer struct {
	ID       int64  `json:"id,omitempty"`
	URL      string `json:"url,omitempty"`
	Replayed bool   `json:"replayed,omitempty"`
	Message  string `json:"message"`
	Late     bool   `json:"late,omitempty"`
	// Fields names the form's fields with their messages (a 422 or 409).
	Fields map[string]string `json:"fields,omitempty"`
}

// queuedSubmit records an activity the phone kept while it was offline
// (static/offline.js). The body is the log form's own fields, url-encoded,
// read exactly as the form's submission is (readActivityForm), so the
// request's fingerprint is the same and the form's idempotency key — sent
// as Idempotency-Key — makes a submission that reached the server before
// the network dropped and its queued retry one activity. The answer is
// JSON: 201 (recorded now or earlier), 422/409 with the fields' messages
// (kept on the phone for correction), anything else an error page's
// status (401 sign in again, 403 a stale CSRF token).
func (s *Server) queuedSubmit(c echo.Context) error {
	a, _ := pageActor(c)
	if a.Role != auth.RoleCoordinator {
		return errs.Forbidden("only a coordinator logs activities")
	}
	p := s.Views.NewPage(s.locale(c))
	p.Form = view.NewForm()
	in, bad := readActivityForm(c, p.Form)
	key := c.Request().Header.Get("Idempotency-Key")
	if key == "" {
		key = p.Form.Values["idem"]
	}
	pairID, perr := strconv.ParseInt(p.Form.Values["pair_id"], 10, 64)
	if perr != nil || pairID <= 0 {
		bad["pair_id"] = "err.required"
	}
	status := http.StatusUnprocessableEntity
	// the phone's files are staged first, like a plain form's, so the
	// activity claims them in its own transaction: a retry whose first
	// attempt was recorded replays it and its files stay stored once
	var d activityFormData
	carried := 0
	if params, err := c.FormParams(); err == nil {
		carried = len(params["upload_id"])
	}
	ferr := s.formUploads(c, a, &d)
	if ferr != nil && !s.Views.ApplyError(p.Locale, p.Form, ferr, activityFields) {
		return ferr
	}
	in.UploadIDs = d.UploadIDs
	if len(bad) == 0 && ferr == nil {
		act, replayed, err := s.Activities.Log(c.Request().Context(), a, pairID, in, key)
		if err == nil {
			if replayed {
				// the files staged by this retry are not needed: the first
				// attempt claimed its own (left alone, the daily clean-up
				// would remove them; removing them now frees the quota)
				for _, tok := range d.UploadIDs[carried:] {
					if uerr := s.Activities.Unstage(c.Request().Context(), a, tok); uerr != nil && !errs.Is(uerr, errs.KindNotFound) {
						return uerr
					}
				}
			}
			ans := queuedAnswer{ID: act.ID, URL: "/activities/" + strconv.FormatInt(act.ID, 10),
				Replayed: replayed, Late: act.Late(), Message: p.T("flash." + lateFlash(act, "logged"))}
			return c.JSON(http.StatusCreated, ans)
		}
		if !s.Views.ApplyError(p.Locale, p.Form, err, activityFields) {
			return err
		}
		status, _ = s.classify(err)
	}
	for field, id := range bad {
		p.Form.Errors[field] = p.T(id)
	}
	if p.Form.Error == "" {
		p.Form.Error = p.T("err.validation")
	}
	return c.JSON(status, queuedAnswer{Message: p.Form.Error, Fields: p.Form.Errors})
}
