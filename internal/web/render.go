package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/view"
)

// Cookies of the web pages.
const (
	sessionCookie = "twinning_session" // the signed token of internal/auth
	langCookie    = "twinning_lang"    // the language chosen while signed out
	flashCookie   = "twinning_flash"   // a one-time message id after a redirect
	csrfCookie    = "_csrf"
	csrfKey       = "csrf"    // context key of the CSRF token
	sessionKey    = "session" // context key: the actor came from the cookie
	// context key: the id of a session cookie that no longer authenticates
	staleSessionKey = "stale_session"
	resumeCookie    = "twinning_resume" // a form's values kept across signing in again
)

// flashes are the one-time messages a redirect may carry (catalogue ids
// "flash.<name>"); anything else in the cookie is ignored.
var flashes = map[string]bool{
	"logged": true, "amended": true, "withdrawn": true, "confirmed": true, "disputed": true, "signed_out": true,
	"created": true, "retried": true, "language": true, "evidence_refused": true,
	"password_set": true, "password_changed": true, "session_expired": true, "invited": true, // accounts
	"saved": true, "published": true, // issue 11
	"logged_late": true, "amended_late": true, "confirmed_late": true, // phone: late records said to count nowhere late
}

// pageActor is the signed-in user of a page request.
func pageActor(c echo.Context) (auth.Actor, bool) {
	if signed, _ := c.Get(sessionKey).(bool); !signed {
		return auth.Actor{}, false
	}
	a, ok := c.Get(actorKey).(auth.Actor)
	return a, ok
}

// locale is the page language: the user's setting, else the language
// chosen on the sign-in page, else Accept-Language, else zh-CN.
func (s *Server) locale(c echo.Context) string {
	pref := ""
	if a, ok := pageActor(c); ok {
		pref = a.Locale
	} else if ck, err := c.Cookie(langCookie); err == nil {
		pref = ck.Value
	}
	return s.Views.Catalog().Locale(pref, c.Request().Header.Get("Accept-Language"))
}

// newPage starts a page's data: locale, user, CSRF token, flash and, for
// principals, the count of activities awaiting their decision.
func (s *Server) newPage(c echo.Context, title, nav string) (*view.Page, error) {
	p := s.Views.NewPage(s.locale(c))
	p.Title, p.Nav, p.Path, p.Today = title, nav, c.Request().URL.RequestURI(), s.today()
	p.CSRF, _ = c.Get(csrfKey).(string)
	p.Flash = s.takeFlash(c)
	if a, ok := pageActor(c); ok {
		p.User = &a
		if s.Notices != nil {
			n, err := s.Notices.Unread(c.Request().Context(), a.UserID)
			if err != nil {
				return nil, err
			}
			p.Unread = n
		}
		if a.Role == auth.RolePrincipal {
			n, err := s.toConfirm(c, a)
			if err != nil {
				return nil, err
			}
			p.ToConfirm = n
		}
	}
	return p, nil
}

// toConfirm counts the activities awaiting a principal's decision.
func (s *Server) toConfirm(c echo.Context, a auth.Actor) (int64, error) {
	l, err := s.Activities.List(c.Request().Context(), a, activity.Filter{ToConfirm: true}, page.Page{Limit: 1})
	return l.Total, err
}

// render writes a whole page with the status.
func (s *Server) render(c echo.Context, status int, name string, p *view.Page) error {
	s.resumeForm(c, p)
	var buf bytes.Buffer
	if err := s.Views.Render(&buf, name, p); err != nil {
		return err
	}
	return s.html(c, status, buf.Bytes())
}

// renderBlock writes one named template of a page (an htmx fragment).
func (s *Server) renderBlock(c echo.Context, status int, name, block string, p *view.Page) error {
	var buf bytes.Buffer
	if err := s.Views.RenderBlock(&buf, name, block, p); err != nil {
		return err
	}
	return s.html(c, status, buf.Bytes())
}

func (s *Server) html(c echo.Context, status int, body []byte) error {
	h := c.Response().Header()
	// pages carry personal data and a CSRF token: revalidate every time,
	// never keep them in shared caches
	h.Set("Cache-Control", "private, no-cache")
	if !slices.Contains(h.Values(echo.HeaderVary), "Cookie") {
		h.Add(echo.HeaderVary, "Cookie")
	}
	return c.HTMLBlob(status, body)
}

// setFlash leaves a one-time message for the next page.
func (s *Server) setFlash(c echo.Context, name string) {
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: name, Path: "/", MaxAge: 60, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(c)})
}

// takeFlash reads and clears the one-time message.
func (s *Server) takeFlash(c echo.Context) string {
	ck, err := c.Cookie(flashCookie)
	if err != nil || ck.Value == "" {
		return ""
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(c)})
	if !flashes[ck.Value] {
		return ""
	}
	return "flash." + ck.Value
}

// redirect answers a form post with 303 See Other and an optional flash.
func (s *Server) redirect(c echo.Context, to, flash string) error {
	if flash != "" {
		s.setFlash(c, flash)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

func (s *Server) secureCookies(c echo.Context) bool { return s.SecureTransport || c.IsTLS() }

// isPage tells a request for a web page (answered in HTML) from one for
// the API, the probes and the metrics (answered in JSON or text).
func isPage(c echo.Context) bool {
	p := c.Request().URL.Path
	return !strings.HasPrefix(p, "/api/") && p != "/api" && p != "/healthz" && p != "/readyz" && p != "/metrics"
}

// pageError renders an error page in the reader's language.
func (s *Server) pageError(c echo.Context, status int, code string) {
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	title := map[int]string{
		http.StatusBadRequest: "err.bad_request", http.StatusUnauthorized: "err.unauthorized", http.StatusForbidden: "err.forbidden",
		http.StatusNotFound: "err.not_found", http.StatusMethodNotAllowed: "err.bad_request", http.StatusConflict: "err.validation",
		http.StatusRequestEntityTooLarge: "err.too_large", http.StatusUnprocessableEntity: "err.validation",
		http.StatusServiceUnavailable: "err.timeout",
	}[status]
	if title == "" {
		title = "err.internal"
	}
	if code == "csrf_failed" {
		title = "err.csrf"
	}
	p := s.Views.NewPage(s.locale(c))
	p.Title, p.Path, p.Today = title, c.Request().URL.RequestURI(), s.today()
	p.CSRF, _ = c.Get(csrfKey).(string) // set before the check, so the page's own forms work
	if a, ok := pageActor(c); ok {
		p.User = &a
	}
	detail := ""
	switch code {
	case "", "validation_failed", "malformed_request", "not_found", "forbidden", "unauthorized", "csrf_failed", "bad_request":
	default: // a conflict says which: "only a failed message can be retried"
		detail, _ = s.Views.CodeMessage(p.Locale, code)
	}
	p.Data = map[string]any{"Status": status, "RequestID": c.Response().Header().Get(echo.HeaderXRequestID), "Detail": detail}
	if err := s.render(c, status, "error", p); err != nil {
		s.log.Error("error page failed", "err", err)
		_ = c.String(status, http.StatusText(status))
	}
}

// csrfFailed is the refusal of a form without a valid token.
var csrfFailed = &errs.Error{Kind: errs.KindForbidden, Code: "csrf_failed", Message: "the form's security token is missing or stale; reload the page and try again"}

// csrf protects the page routes. The token every form carries in _csrf
// (htmx may send it as X-CSRF-Token) is bound to the session: an HMAC of
// the page session's id once signed in, of a random pre-session id (the
// _csrf cookie) before. A token is worth nothing in another session, and
// signing in changes it. Browsers that send fetch metadata are also refused
// cross-site writes outright; the token is checked whatever that says.
func (s *Server) csrf() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			safe := req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions
			if site := req.Header.Get(echo.HeaderSecFetchSite); site == "cross-site" && !safe {
				return csrfFailed
			}
			var want string
			if a, ok := pageActor(c); ok && a.SessionID != "" {
				want = s.Auth.CSRFToken("s:" + a.SessionID)
			} else {
				anon := ""
				if ck, err := c.Cookie(csrfCookie); err == nil && len(ck.Value) == 32 {
					anon = ck.Value
				} else {
					anon = randomHex(16)
					c.SetCookie(&http.Cookie{Name: csrfCookie, Value: anon, Path: "/", MaxAge: 86400, HttpOnly: true,
						SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(c)})
				}
				want = s.Auth.CSRFToken("a:" + anon)
			}
			c.Set(csrfKey, want)
			if safe {
				return next(c)
			}
			got := req.Header.Get("X-CSRF-Token")
			if got == "" {
				got = c.FormValue("_csrf")
			}
			if hmac.Equal([]byte(got), []byte(want)) {
				return next(c)
			}
			// a form of a session that has since expired: keep what was
			// typed and bring the user back to it after signing in
			if stale, _ := c.Get(staleSessionKey).(string); stale != "" && got != "" &&
				hmac.Equal([]byte(got), []byte(s.Auth.CSRFToken("s:"+stale))) {
				// back to the page the form was on (the Referer, same site
				// only): a form may post to a route that has no page
				back := req.URL.RequestURI()
				if ref, err := url.Parse(req.Header.Get("Referer")); err == nil && ref.Host == req.Host && ref.Path != "" {
					back = localPath(ref.RequestURI())
				}
				s.keepForm(c, back)
				s.setFlash(c, "session_expired")
				return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(back))
			}
			return csrfFailed
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// resumed is a form's values kept across signing in again, for one path.
type resumed struct {
	Path   string            `json:"p"`
	Values map[string]string `json:"v"`
}

// secretFields never go into the resume cookie.
var secretFields = map[string]bool{"_csrf": true, "password": true, "current_password": true, "new_password": true}

// keepForm stores the posted form's text fields (no files, no passwords)
// in a short-lived signed cookie for the form's path. A form too big for a
// cookie is not kept.
func (s *Server) keepForm(c echo.Context, back string) {
	params, err := c.FormParams()
	if err != nil {
		return
	}
	path, _, _ := strings.Cut(back, "?")
	r := resumed{Path: path, Values: map[string]string{}}
	for k, v := range params {
		if !secretFields[k] && len(v) > 0 {
			r.Values[k] = v[0]
		}
	}
	if ids := params["upload_id"]; len(ids) > 0 {
		// all the staged files the form named (issue 10), not just the first
		r.Values["upload_id"] = strings.Join(ids, ",")
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return
	}
	val := base64.RawURLEncoding.EncodeToString(raw)
	val += "." + s.Auth.CSRFToken("resume:"+val)
	if len(val) > 3800 {
		return
	}
	c.SetCookie(&http.Cookie{Name: resumeCookie, Value: val, Path: "/", MaxAge: 1800, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(c)})
}

// resumeForm puts kept values into the page's form when it is the page the
// form was posted from, and drops the cookie.
func (s *Server) resumeForm(c echo.Context, p *view.Page) {
	if p.Form == nil || c.Request().Method != http.MethodGet {
		return
	}
	ck, err := c.Cookie(resumeCookie)
	if err != nil || ck.Value == "" {
		return
	}
	val, sig, ok := strings.Cut(ck.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.Auth.CSRFToken("resume:"+val))) {
		return
	}
	raw, err := base64.RawURLEncoding.DecodeString(val)
	var r resumed
	if err != nil || json.Unmarshal(raw, &r) != nil || r.Path != c.Request().URL.Path {
		return
	}
	for k, v := range r.Values {
		p.Form.Values[k] = v
	}
	c.SetCookie(&http.Cookie{Name: resumeCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(c)})
}

// static serves the embedded assets. A request naming the current
// content hash (?v=, as Page.Asset writes it) may be cached for a year.
func (s *Server) static(c echo.Context) error {
	name := path.Clean(strings.TrimPrefix(c.Param("*"), "/"))
	version, ok := s.Views.AssetVersion(name)
	if !ok || strings.HasPrefix(name, ".") {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	h := c.Response().Header()
	etag := `"` + version + `"`
	h.Set("ETag", etag) // Echo's Gzip middleware keeps it; a gzip body is the same content
	if c.QueryParam("v") == version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	if match := c.Request().Header.Get("If-None-Match"); match != "" && (match == etag || match == "W/"+etag) {
		return c.NoContent(http.StatusNotModified)
	}
	b, err := fs.ReadFile(s.Views.Static(), name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		return err
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	switch {
	case strings.HasSuffix(name, ".js"):
		ctype = "text/javascript; charset=utf-8"
	case ctype == "":
		ctype = "text/plain; charset=utf-8"
	}
	return c.Blob(http.StatusOK, ctype, b)
}
