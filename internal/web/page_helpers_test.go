package web_test

import (
	"bytes"
	"context"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/page"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/seed"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// demoToday is the date of the page tests: DESIGN §3's worked example,
// early in the spring 2026 term of the demo programme, with the autumn
// term's history (and its breaches) behind it.
const demoToday = "2026-02-15"

// Demo passwords (internal/seed/demo-programme.yaml).
const (
	demoAdminPW  = "demo-admin-2025"
	demoBureauPW = "demo-bureau-2025"
	demoSchoolPW = "demo-school-2025"
)

// demo is the demo programme loaded into a test database.
type demo struct {
	t     *testing.T
	app   *app.App
	api   *testutil.API
	clock *testutil.Clock
	db    *database.DB
	// pairs by "supporting school key → supported school key" as in the
	// YAML: wh6-mc5, sx_sr-zz_sr, sx_kg1-zz_kg1 ...
	pairs   map[string]int64
	regions map[string]int64 // by name
}

func newDemo(t *testing.T, db *database.DB) *demo {
	t.Helper()
	return newDemoWith(t, db, testutil.NewApp(t, db, testutil.NewClock(testutil.At(demoToday))))
}

func newDemoWith(t *testing.T, db *database.DB, a *app.App) *demo {
	t.Helper()
	prog, err := seed.Demo()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := seed.Load(ctx, seed.Services{DB: a.DB, Auth: a.Auth, Schools: a.Schools, Terms: a.Terms, Pairs: a.Pairs, Activities: a.Activities}, prog); err != nil {
		t.Fatal(err)
	}
	d := &demo{t: t, app: a, api: testutil.NewAPI(t, a), db: db, pairs: map[string]int64{}, regions: map[string]int64{}}
	names := map[string]string{}
	for _, s := range prog.Schools {
		names[s.Name] = s.Key
	}
	l, err := a.Pairs.ListPairs(ctx, auth.SystemActor(), pairing.PairFilter{}, page.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l.Items {
		d.pairs[names[p.SupportingSchoolName]+"-"+names[p.SupportedSchoolName]] = p.ID
	}
	var regions []struct {
		ID   int64
		Name string
	}
	if err := a.DB.Conn(ctx).Table("regions").Select("id, name").Find(&regions).Error; err != nil {
		t.Fatal(err)
	}
	for _, r := range regions {
		d.regions[r.Name] = r.ID
	}
	return d
}

// web is a browser-like client of the pages: it keeps cookies, picks up
// the CSRF token of each page, and sends forms.
type web struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]*http.Cookie
	csrf    string
	headers map[string]string
}

func (d *demo) web() *web {
	return &web{t: d.t, h: d.app.HTTP.Handler(), cookies: map[string]*http.Cookie{}, headers: map[string]string{}}
}

// as signs in a new client.
func (d *demo) as(email, password string) *web {
	d.t.Helper()
	w := d.web()
	w.login(email, password)
	return w
}

type resp struct {
	Status int
	Header http.Header
	Body   string
	raw    []byte
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

func (w *web) send(req *http.Request) resp {
	w.t.Helper()
	for _, c := range w.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	for k, v := range w.headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	res := rec.Result()
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(w.cookies, c.Name)
		} else {
			w.cookies[c.Name] = c
		}
	}
	body, _ := io.ReadAll(res.Body)
	r := resp{Status: res.StatusCode, Header: res.Header, Body: string(body), raw: body}
	if m := csrfField.FindStringSubmatch(r.Body); m != nil && m[1] != "" {
		w.csrf = m[1]
	}
	return r
}

func (w *web) get(path string) resp {
	w.t.Helper()
	return w.send(httptest.NewRequest(http.MethodGet, path, nil))
}

// post sends a form with the page's CSRF token.
func (w *web) post(path string, form url.Values) resp {
	w.t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if f.Get("_csrf") == "" && w.csrf != "" {
		f.Set("_csrf", w.csrf)
	}
	return w.postRaw(path, f)
}

// postRaw sends a form as is (without adding a CSRF token).
func (w *web) postRaw(path string, form url.Values) resp {
	w.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return w.send(req)
}

// upload sends a multipart form with one file (skipped when name is "").
func (w *web) upload(path string, form url.Values, field, name string, content []byte) resp {
	w.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if form.Get("_csrf") == "" {
		_ = mw.WriteField("_csrf", w.csrf)
	}
	for k, vs := range form {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	if name != "" {
		fw, err := mw.CreateFormFile(field, name)
		if err != nil {
			w.t.Fatal(err)
		}
		_, _ = fw.Write(content)
	}
	_ = mw.Close()
	req := httptest.NewRequest(http.MethodPost, path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return w.send(req)
}

func (w *web) login(email, password string) {
	w.t.Helper()
	w.must(200, w.get("/login"))
	r := w.post("/login", url.Values{"email": {email}, "password": {password}})
	if r.Status != http.StatusSeeOther {
		w.t.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	if w.cookies["twinning_session"] == nil && w.cookies["__Host-twinning_session"] == nil {
		w.t.Fatalf("login %s: no session cookie", email)
	}
	// the start page (following its redirect) gives a fresh CSRF token, as
	// the browser would get on its next page
	for r, path := w.get("/"), "/"; r.Status == http.StatusSeeOther && path != r.location(); r = w.get(path) {
		path = r.location()
	}
}

func (w *web) must(status int, r resp) resp {
	w.t.Helper()
	if r.Status != status {
		body := r.Body
		if len(body) > 3000 {
			body = body[:3000] + "…"
		}
		w.t.Fatalf("status %d, want %d: %s", r.Status, status, body)
	}
	return r
}

// text is the body without tags, entities decoded, whitespace squeezed.
func (r resp) text() string {
	s := regexp.MustCompile(`(?s)<script.*?</script>|<[^>]*>`).ReplaceAllString(r.Body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// has fails unless the visible text contains every string.
func (r resp) has(t *testing.T, want ...string) {
	t.Helper()
	txt := r.text()
	for _, s := range want {
		if !strings.Contains(txt, s) {
			if len(txt) > 4000 {
				txt = txt[:4000] + "…"
			}
			t.Errorf("page lacks %q; text: %s", s, txt)
		}
	}
}

// lacks fails if the visible text contains any of the strings.
func (r resp) lacks(t *testing.T, bad ...string) {
	t.Helper()
	txt := r.text()
	for _, s := range bad {
		if strings.Contains(txt, s) {
			t.Errorf("page shows %q", s)
		}
	}
}

func (r resp) location() string { return r.Header.Get("Location") }

// activityCount counts activities in the database.
func (d *demo) activityCount(where string, args ...any) int64 {
	d.t.Helper()
	var n int64
	if err := d.db.Conn(context.Background()).Table("activities").Where(where, args...).Count(&n).Error; err != nil {
		d.t.Fatal(err)
	}
	return n
}

// activityID finds an activity by title.
func (d *demo) activityID(title string) int64 {
	d.t.Helper()
	var id int64
	if err := d.db.Conn(context.Background()).Table("activities").Select("id").Where("title = ?", title).Order("id DESC").Limit(1).Scan(&id).Error; err != nil || id == 0 {
		d.t.Fatalf("no activity %q (%v)", title, err)
	}
	return id
}

// activityStatus reads an activity's status.
func (d *demo) activityStatus(id int64) string {
	d.t.Helper()
	var s string
	if err := d.db.Conn(context.Background()).Table("activities").Select("status").Where("id = ?", id).Scan(&s).Error; err != nil {
		d.t.Fatal(err)
	}
	return s
}

// pngImage is a w×h picture (a gradient with a sun), a stand-in for a
// phone photo.
func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{R: uint8(90 + 100*y/h), G: uint8(140 + 80*x/w), B: 200, A: 255}
			if dx, dy := x-w*3/4, y-h/4; dx*dx+dy*dy < (h/8)*(h/8) {
				c = color.RGBA{R: 250, G: 200, B: 60, A: 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// regexp1 is the first group of the first match of pattern in s, with
// HTML entities decoded ("" when none).
func regexp1(s, pattern string) string {
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if len(m) < 2 {
		return ""
	}
	return html.UnescapeString(m[1])
}
