package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// mailedToken reads the newest one-time link mailed to addr from the
// outbox (the .eml sender of these tests keeps the body in the row).
func mailedToken(t *testing.T, db *database.DB, addr string) string {
	t.Helper()
	var body string
	if err := db.Gorm().Raw("SELECT body_text FROM outbox_messages WHERE to_addr LIKE ? ORDER BY id DESC LIMIT 1", "%"+addr+"%").Scan(&body).Error; err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`/reset\?token=([A-Za-z0-9_-]+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link mailed to %s: %q", addr, body)
	}
	return m[1]
}

// TestPageAccounts: forgotten password, the reset page, one's own account
// page, and a session that ends while a form is open.
func TestPageAccounts(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		clock := testutil.NewClock(testutil.At(demoToday))
		d := newDemoWith(t, db, testutil.NewApp(t, db, clock))
		d.clock = clock
		coord := "wh6.coord@demo.local"

		// forgot: the same answer for an account and for nobody
		v := d.web()
		v.must(200, v.get("/forgot"))
		a := v.post("/forgot", url.Values{"email": {"nobody@demo.local"}})
		b := v.post("/forgot", url.Values{"email": {coord}})
		if a.Status != http.StatusAccepted || b.Status != a.Status || a.text() != b.text() {
			t.Errorf("forgot answers differ: %d / %d", a.Status, b.Status)
		}
		tok := mailedToken(t, db, coord)
		v.must(200, v.get("/reset?token="+tok)).has(t, "设置密码")
		r := v.post("/reset", url.Values{"token": {tok}, "new_password": {"password1234"}})
		if r.Status != http.StatusUnprocessableEntity || fieldError(r.Body, "new_password") != "这是常见密码，请换一个。" {
			t.Errorf("weak password on the page: %d %q", r.Status, fieldError(r.Body, "new_password"))
		}
		r = v.post("/reset", url.Values{"token": {tok}, "new_password": {"晚风吹过田野的那条小路很长"}})
		if r.Status != http.StatusSeeOther || r.location() != "/login" {
			t.Fatalf("reset: %d %s", r.Status, r.Body)
		}
		r = v.post("/reset", url.Values{"token": {tok}, "new_password": {"晚风吹过田野的那条小路很长"}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "链接已失效") {
			t.Errorf("a used link: %d", r.Status)
		}
		w := d.as(coord, "晚风吹过田野的那条小路很长")

		// own account: name, phone, language
		w.must(200, w.get("/account")).has(t, "我的账号", coord)
		r = w.post("/account", url.Values{"name": {"刘老师"}, "phone": {"13812345678"}, "locale": {"en"}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("account: %d %s", r.Status, r.Body)
		}
		if body := w.must(200, w.get("/account")).Body; !strings.Contains(body, `value="13812345678"`) || !strings.Contains(body, "刘老师") || !strings.Contains(body, "My account") {
			t.Errorf("account page after saving: %s", body)
		}
		r = w.post("/account", url.Values{"name": {"刘老师"}, "phone": {"12"}, "locale": {"en"}})
		if r.Status != http.StatusUnprocessableEntity || fieldError(r.Body, "phone") != "Must be an 11-digit mainland mobile number." {
			t.Errorf("bad phone: %d %q", r.Status, fieldError(r.Body, "phone"))
		}
		// sign in with the mobile number on the page
		other := d.as("13812345678", "晚风吹过田野的那条小路很长")
		// change the password: the other session ends, this one stays
		r = w.post("/account/password", url.Values{"current_password": {"晚风吹过田野的那条小路很长"}, "new_password": {"月光照在湖面上-morning-bell"}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("password change: %d %q %q", r.Status, fieldError(r.Body, "current_password"), fieldError(r.Body, "new_password"))
		}
		w.must(200, w.get("/account"))
		if res := other.get("/account"); res.Status != http.StatusSeeOther {
			t.Errorf("the other session after a password change: %d", res.Status)
		}

		// CSRF tokens are bound to the session: another session's token is refused
		other = d.as(coord, "月光照在湖面上-morning-bell")
		other.must(200, other.get("/account"))
		if res := other.post("/account", url.Values{"_csrf": {w.csrf}, "name": {"x"}, "locale": {"en"}}); res.Status != http.StatusForbidden {
			t.Errorf("a token of another session: %d", res.Status)
		}
		if w.csrf == other.csrf {
			t.Errorf("two sessions share a CSRF token")
		}

		// idle for more than 2 hours: the form comes back after signing in,
		// with what was typed
		d.clock.Set(d.clock.Now().Add(2*time.Hour + time.Minute))
		r = w.post("/account", url.Values{"name": {"刘荣华老师"}, "phone": {"13812345678"}, "locale": {"en"}})
		if r.Status != http.StatusSeeOther || r.location() != "/login?next=%2Faccount" {
			t.Fatalf("post after expiry: %d %q", r.Status, r.location())
		}
		w.must(200, w.get("/login?next=%2Faccount"))
		r = w.post("/login", url.Values{"email": {coord}, "password": {"月光照在湖面上-morning-bell"}, "next": {"/account"}})
		if r.location() != "/account" {
			t.Fatalf("sign-in again: %d %q", r.Status, r.location())
		}
		if body := w.must(200, w.get("/account")).Body; !strings.Contains(body, `value="刘荣华老师"`) {
			t.Errorf("the form did not come back with what was typed")
		}
		if body := w.must(200, w.get("/account")).Body; strings.Contains(body, `value="刘荣华老师"`) {
			t.Errorf("the kept form came back twice")
		}

		// a form that posts to a route without a page: back to the page it
		// was on (the Referer)
		d.clock.Set(d.clock.Now().Add(2*time.Hour + time.Minute))
		w.headers["Referer"] = "http://example.com/account"
		r = w.post("/account/password", url.Values{"current_password": {"x"}, "new_password": {"y"}})
		delete(w.headers, "Referer")
		if r.Status != http.StatusSeeOther || r.location() != "/login?next=%2Faccount" {
			t.Errorf("post to a route without a page after expiry: %d %q", r.Status, r.location())
		}
		w.login(coord, "月光照在湖面上-morning-bell")

		// redirects stay on this site
		for _, next := range []string{"/%09/evil.example", "/\t/evil.example", "//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)"} {
			if res := w.get("/login?next=" + url.QueryEscape(next)); res.location() != "/" {
				t.Errorf("GET /login?next=%q → %q", next, res.location())
			}
			if res := w.post("/lang", url.Values{"locale": {"en"}, "next": {next}}); res.location() != "/" {
				t.Errorf("POST /lang next=%q → %q", next, res.location())
			}
		}
		if res := w.get("/login?next=%2Fpairs%2F1%3Fat%3D2026-01-01"); res.location() != "/pairs/1?at=2026-01-01" {
			t.Errorf("a local next: %q", res.location())
		}

		// sign-out ends the session for good: the cookie's token is 401 afterwards
		ck := w.cookies["twinning_session"].Value
		w.post("/logout", nil)
		if res := d.api.Do("GET", "/api/v1/me", ck, nil); res.Status != http.StatusUnauthorized {
			t.Errorf("the page session's token after sign-out: %d", res.Status)
		}
	})
}

// TestPageAdminUsers: search, edit, switch off (the person's session ends)
// and re-invite, as the admin and as a bureau.
func TestPageAdminUsers(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		admin := d.as("admin@demo.local", demoAdminPW)
		r := admin.must(200, admin.get("/admin/users?q=mc5"))
		if !strings.Contains(r.Body, "mc5.coord@demo.local") || strings.Contains(r.Body, "wh6.coord@demo.local") {
			t.Errorf("search mc5 lists the wrong users")
		}
		var id int64
		if err := db.Gorm().Raw("SELECT id FROM users WHERE email = ?", "mc5.coord@demo.local").Scan(&id).Error; err != nil || id == 0 {
			t.Fatal(err)
		}
		path := "/admin/users/" + strconv.FormatInt(id, 10)
		admin.must(200, admin.get(path)).has(t, "麻城五中联络员", "编辑账号")
		person := d.as("mc5.coord@demo.local", demoSchoolPW)

		// a bureau of the school's region edits the name and the mobile number
		bureau := d.as("macheng@demo.local", demoBureauPW)
		bureau.must(200, bureau.get(path))
		r = bureau.post(path, url.Values{"name": {"麻城五中王老师"}, "email": {"mc5.coord@demo.local"}, "phone": {"13900001111"}, "locale": {""}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("bureau edit: %d %s", r.Status, r.Body)
		}
		r = bureau.post(path, url.Values{"name": {""}, "email": {"mc5.coord@demo.local"}})
		if r.Status != http.StatusUnprocessableEntity {
			t.Errorf("empty name: %d", r.Status)
		}
		// another county's bureau cannot
		other := d.as("zizhou@demo.local", demoBureauPW)
		if res := other.get(path); res.Status != http.StatusNotFound {
			t.Errorf("another bureau opens the account: %d", res.Status)
		}
		// switch off: the person's page session ends at once
		if res := admin.post(path+"/active", url.Values{"active": {"false"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("switch off: %d", res.Status)
		}
		if res := person.get("/"); res.Status != http.StatusSeeOther || !strings.HasPrefix(res.location(), "/login") {
			t.Errorf("the switched-off person's page: %d %q", res.Status, res.location())
		}
		admin.must(200, admin.get(path)).has(t, "已停用")
		admin.post(path+"/active", url.Values{"active": {"true"}})
		if res := admin.post(path+"/invite", url.Values{}); res.Status != http.StatusSeeOther {
			t.Errorf("re-invite: %d", res.Status)
		}
		if n := countRows(t, db, "outbox_messages", "kind = ? AND to_addr LIKE ?", "invite", "%mc5.coord@demo.local%"); n != 1 {
			t.Errorf("%d invitations queued", n)
		}
	})
}
