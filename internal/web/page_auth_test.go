package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/twinning-platform/twinning/internal/app"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
	"github.com/twinning-platform/twinning/templates"
)

// TestPageSignIn: the sign-in form, the session cookie, signing out, the
// language switch and the refusals without a CSRF token.
func TestPageSignIn(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)

		// signed out: every page leads to the sign-in form, which returns
		w := d.web()
		r := w.get("/activities/new?pair=1")
		if r.Status != http.StatusSeeOther || r.location() != "/login?next=%2Factivities%2Fnew%3Fpair%3D1" {
			t.Fatalf("signed out: %d %q", r.Status, r.location())
		}
		r = w.must(200, w.get("/login?next=%2Factivities%2Fnew%3Fpair%3D1"))
		r.has(t, "登录", "邮箱或手机号", "密码", "忘记密码？")
		if !strings.Contains(r.Body, `<label for="email">`) || !strings.Contains(r.Body, `<label for="password">`) {
			t.Error("the sign-in inputs have no labels")
		}
		if w.csrf == "" || w.cookies["_csrf"] == nil || !w.cookies["_csrf"].HttpOnly || w.cookies["_csrf"].SameSite != http.SameSiteLaxMode {
			t.Errorf("no HttpOnly SameSite=Lax CSRF cookie and field: %+v", w.cookies["_csrf"])
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("CSP %q", csp)
		}

		// no token, a wrong token, a cross-site post: refused, nobody signed in
		form := url.Values{"email": {"wh6.coord@demo.local"}, "password": {demoSchoolPW}}
		for name, res := range map[string]resp{
			"without a token": w.postRaw("/login", form),
			"with a wrong token": w.postRaw("/login", url.Values{"email": form["email"], "password": form["password"],
				"_csrf": {"forged-token-forged-token-forged1"}}),
		} {
			if res.Status != http.StatusForbidden || w.cookies["twinning_session"] != nil {
				t.Errorf("sign-in %s: %d, session %v", name, res.Status, w.cookies["twinning_session"])
			}
			res.has(t, "页面已过期")
		}
		w.headers["Sec-Fetch-Site"] = "cross-site"
		if res := w.post("/login", form); res.Status != http.StatusForbidden || w.cookies["twinning_session"] != nil {
			t.Errorf("cross-site sign-in with a token: %d", res.Status)
		}
		delete(w.headers, "Sec-Fetch-Site")

		// a wrong password: the form again, translated
		r = w.post("/login", url.Values{"email": form["email"], "password": {"wrong-password"}, "next": {"/pairs/1"}})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", r.Status)
		}
		r.has(t, "邮箱或密码不正确")
		if !strings.Contains(r.Body, `value="wh6.coord@demo.local"`) || !strings.Contains(r.Body, `name="next" value="/pairs/1"`) {
			t.Error("the form lost the email or the return path")
		}

		// the right one: a session cookie, back where the visitor was going
		w.headers["Sec-Fetch-Site"] = "same-origin" // a browser's own form: fetch metadata, and still the token
		r = w.post("/login", url.Values{"email": form["email"], "password": form["password"], "next": {"/activities/new?pair=1"}})
		delete(w.headers, "Sec-Fetch-Site")
		if r.Status != http.StatusSeeOther || r.location() != "/activities/new?pair=1" {
			t.Fatalf("sign-in: %d %q %s", r.Status, r.location(), r.Body)
		}
		ck := w.cookies["twinning_session"]
		if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure || ck.Path != "/" || ck.MaxAge <= 0 {
			t.Fatalf("session cookie %+v", ck)
		}
		if w.cookies["_csrf"] != nil {
			t.Error("signing in keeps the old CSRF token")
		}
		w.must(200, w.get("/activities/new?pair=1")).has(t, "记录活动")
		// the cookie is the API's token, but the API takes bearer tokens only
		// (so it needs no CSRF protection)
		if res := w.get("/api/v1/me"); res.Status != http.StatusUnauthorized {
			t.Errorf("the API with the session cookie: %d", res.Status)
		}
		if res := d.api.Do("GET", "/api/v1/me", ck.Value, nil); res.Status != 200 {
			t.Errorf("the session token as a bearer token: %d", res.Status)
		}
		// a redirect never leaves the site
		for _, next := range []string{"//evil.example", "https://evil.example/", "/\\evil.example"} {
			v := d.web()
			v.get("/login")
			res := v.post("/login", url.Values{"email": form["email"], "password": form["password"], "next": {next}})
			if res.location() != "/" {
				t.Errorf("next=%q redirects to %q", next, res.location())
			}
		}

		// the language switch: the user's own setting
		w.must(200, w.get("/"))
		r = w.post("/lang", url.Values{"locale": {"en"}, "next": {"/activities/new"}})
		if r.Status != http.StatusSeeOther || r.location() != "/activities/new" {
			t.Fatalf("language switch: %d %q", r.Status, r.location())
		}
		w.must(200, w.get("/activities/new")).has(t, "Log an activity", "Category", "Evidence (photo or PDF)", "中文")
		if me := d.api.Do("GET", "/api/v1/me", ck.Value, nil).JSON(); me["locale"] != "en" {
			t.Errorf("the user's locale is %v, want en", me["locale"])
		}
		if res := w.postRaw("/lang", url.Values{"locale": {"zh-CN"}}); res.Status != http.StatusForbidden {
			t.Errorf("language switch without a token: %d", res.Status)
		}
		if res := w.post("/lang", url.Values{"locale": {"fr"}}); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("language fr: %d", res.Status)
		}
		w.post("/lang", url.Values{"locale": {"zh-CN"}, "next": {"/"}})
		w.must(200, w.get("/")).has(t, "我的结对")

		// signing out clears the cookie; without a token it is refused
		if res := w.postRaw("/logout", url.Values{}); res.Status != http.StatusForbidden || w.cookies["twinning_session"] == nil {
			t.Errorf("sign-out without a token: %d", res.Status)
		}
		r = w.post("/logout", nil)
		if r.Status != http.StatusSeeOther || r.location() != "/login" || w.cookies["twinning_session"] != nil {
			t.Fatalf("sign-out: %d %q %v", r.Status, r.location(), w.cookies["twinning_session"])
		}
		w.must(200, w.get("/login")).has(t, "您已退出登录")
		if res := w.get("/"); res.Status != http.StatusSeeOther {
			t.Errorf("after signing out: %d", res.Status)
		}

		// a forged or stale cookie is dropped, the visitor is signed out
		v := d.web()
		v.cookies["twinning_session"] = &http.Cookie{Name: "twinning_session", Value: "not-a-token"}
		if res := v.get("/"); res.Status != http.StatusSeeOther || v.cookies["twinning_session"] != nil {
			t.Errorf("forged session: %d %v", res.Status, v.cookies["twinning_session"])
		}

		// signed out, the language follows the browser, then the switch
		v = d.web()
		v.headers["Accept-Language"] = "en-GB,en;q=0.9"
		v.must(200, v.get("/login")).has(t, "Sign in", "Email", "Password")
		v.headers["Accept-Language"] = "fr-FR"
		v.must(200, v.get("/login")).has(t, "登录")
		v.post("/lang", url.Values{"locale": {"en"}, "next": {"/login"}})
		v.must(200, v.get("/login")).has(t, "Sign in")

		// an unknown page: a translated 404 page, not JSON; the API keeps JSON
		r = v.get("/no-such-page")
		if r.Status != 404 || !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("unknown page: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
		r.has(t, "Not found")
		if res := v.get("/api/v1/no-such-route"); res.Status < 400 || !strings.Contains(res.Header.Get("Content-Type"), "json") {
			t.Errorf("unknown API route: %d %s", res.Status, res.Header.Get("Content-Type"))
		}
	})
}

// TestPageSecureCookies: served over TLS (base_url https://), the cookies
// are Secure.
func TestPageSecureCookies(t *testing.T) {
	db := testutil.SQLite(t)
	cfg := testutil.Config(t)
	cfg.BaseURL = "https://twinning.example.cn"
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
		app.Options{Now: testutil.NewClock(testutil.At(demoToday)).Now, BcryptCost: bcrypt.MinCost, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	d := newDemoWith(t, db, a)
	anon := d.web()
	anon.must(200, anon.get("/login"))
	if c := anon.cookies["_csrf"]; c == nil || !c.Secure {
		t.Errorf("cookie _csrf is not Secure: %+v", c)
	}
	w := d.as("wh6.coord@demo.local", demoSchoolPW)
	// the __Host- prefix: Secure, Path=/, no Domain, so no sibling domain
	// or plain-http page can set or shadow it
	if c := w.cookies["__Host-twinning_session"]; c == nil || !c.Secure || c.Path != "/" || c.Domain != "" {
		t.Errorf("session cookie is not a __Host- cookie: %+v", c)
	}
	if w.cookies["twinning_session"] != nil {
		t.Errorf("an unprefixed session cookie over https")
	}
}

// TestPageStatic: assets are embedded, versioned by content hash, cached
// for a year under their versioned URL, and gzipped.
func TestPageStatic(t *testing.T) {
	d := newDemo(t, testutil.SQLite(t))
	w := d.web()
	page := w.must(200, w.get("/login")).Body
	m := regexp.MustCompile(`href="(/static/app\.css\?v=([0-9a-f]+))"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no versioned stylesheet in %s", page)
	}
	for _, src := range []string{"vendor/htmx.min.js", "app.js"} {
		if !regexp.MustCompile(`src="/static/` + regexp.QuoteMeta(src) + `\?v=[0-9a-f]{12}" defer`).MatchString(page) {
			t.Errorf("%s is not loaded, versioned and deferred", src)
		}
	}
	if strings.Contains(page, "<script>") || regexp.MustCompile(`\son[a-z]+=`).MatchString(page) {
		t.Error("inline script or event handler (the CSP forbids them)")
	}
	w.headers["Accept-Encoding"] = "gzip"
	r := w.get(m[1])
	if r.Status != 200 || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || r.Header.Get("Content-Encoding") != "gzip" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("versioned asset: %d %v", r.Status, r.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.raw))
	if err != nil {
		t.Fatal(err)
	}
	css, _ := io.ReadAll(zr)
	want, _ := fs.ReadFile(templates.FS(), "static/app.css")
	if !bytes.Equal(css, want) {
		t.Error("the gzipped stylesheet differs from the embedded one")
	}
	// revalidation by ETag; an old or missing version is cached briefly
	req := httptest.NewRequest("GET", m[1], nil)
	req.Header.Set("If-None-Match", r.Header.Get("ETag"))
	if res := w.send(req); res.Status != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", res.Status)
	}
	if res := w.get("/static/app.css?v=old"); res.Status != 200 || res.Header.Get("Cache-Control") != "public, max-age=300" {
		t.Errorf("stale version: %d %q", res.Status, res.Header.Get("Cache-Control"))
	}
	js := w.get("/static/vendor/echarts.min.js")
	if js.Status != 200 || js.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || len(js.raw) > 300<<10 {
		t.Errorf("echarts: %d %s, %d bytes gzipped", js.Status, js.Header.Get("Content-Type"), len(js.raw))
	}
	for _, p := range []string{"/static/nope.js", "/static/../embed.go", "/static/"} {
		if res := w.get(p); res.Status != 404 {
			t.Errorf("%s: %d", p, res.Status)
		}
	}
	// pages are gzipped too, and never cached by shared caches
	r = w.get("/login")
	if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Cache-Control") != "private, no-cache" {
		t.Errorf("page headers %v", r.Header)
	}
	// the vendored files come with their licences
	for _, f := range []string{"static/vendor/htmx.LICENSE", "static/vendor/echarts.LICENSE", "static/vendor/echarts.NOTICE"} {
		if _, err := fs.Stat(templates.FS(), f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
