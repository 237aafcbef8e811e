package web_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestPWAEndpoints (issue 10): the manifest and the service worker are
// served where a browser looks for them, the worker with the versioned
// addresses of the files it precaches; every page links the manifest and
// loads offline.js.
func TestPWAEndpoints(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		w := d.web()
		r := w.must(200, w.get("/manifest.webmanifest"))
		if ct := r.Header.Get("Content-Type"); ct != "application/manifest+json" {
			t.Errorf("manifest content type %q", ct)
		}
		var m struct {
			Name, ShortName, StartURL, Display, Scope, ThemeColor string
			Icons                                                 []struct{ Src, Sizes, Type string }
		}
		raw := strings.NewReplacer(`"start_url"`, `"StartURL"`, `"short_name"`, `"ShortName"`, `"theme_color"`, `"ThemeColor"`).Replace(r.Body)
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Name, "结对帮扶") || m.ShortName != "结对帮扶" || m.StartURL != "/" || m.Display != "standalone" || m.Scope != "/" || m.ThemeColor == "" || len(m.Icons) != 2 {
			t.Errorf("manifest %+v", m)
		}
		for _, ic := range m.Icons {
			res := w.must(200, w.get(ic.Src))
			if res.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(res.Body, "\x89PNG") {
				t.Errorf("icon %s: %s", ic.Src, res.Header.Get("Content-Type"))
			}
		}
		sw := w.must(200, w.get("/sw.js"))
		if ct := sw.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("sw.js content type %q", ct)
		}
		if sw.Header.Get("Cache-Control") != "no-cache" || strings.Contains(sw.Body, "__PRECACHE__") || strings.Contains(sw.Body, "__VERSION__") ||
			!strings.Contains(sw.Body, `"/static/offline.js?v=`) || !strings.Contains(sw.Body, `"/static/app.css?v=`) {
			t.Errorf("sw.js: %s…", sw.Body[:min(len(sw.Body), 600)])
		}
		coord := d.as("wh6.coord@demo.local", demoSchoolPW)
		page := coord.must(200, coord.get("/activities/new")).Body
		for _, want := range []string{`<link rel="manifest" href="/manifest.webmanifest">`, `/static/offline.js?v=`, `id="queue-count"`, `id="queue-status"`, `name="twinning-user" content="`} {
			if !strings.Contains(page, want) {
				t.Errorf("log form lacks %s", want)
			}
		}
	})
}

// TestQueuedActivity (issue 10): POST /activities/queued, where the phone
// sends what it kept offline, records the form's fields once per key
// (a retry, or a retry of a form submission that reached the server, is
// answered 201 with the same activity), refuses bad input with the form's
// messages in the user's language (422, kept for correction), and needs the
// session's CSRF token and a coordinator.
func TestQueuedActivity(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		coord := d.as("wh6.coord@demo.local", demoSchoolPW)
		pair := strconv.FormatInt(d.pairs["wh6-mc5"], 10)
		form := url.Values{"pair_id": {pair}, "category": {"visit"}, "occurred_on": {"2026-02-12"}, "title": {"离线的到校指导"},
			"hours": {"1.5"}, "persons": {""}, "location": {""}, "description": {"听课两节"}}
		send := func(w *web, key string, f url.Values, token string) (int, map[string]any) {
			t.Helper()
			req := httptest.NewRequest(http.MethodPost, "/activities/queued", strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Idempotency-Key", key)
			req.Header.Set("X-CSRF-Token", token)
			r := w.send(req)
			var out map[string]any
			_ = json.Unmarshal(r.raw, &out)
			return r.Status, out
		}
		st, a := send(coord, "k-1", form, coord.csrf)
		if st != http.StatusCreated || a["id"] == nil || !strings.HasPrefix(a["url"].(string), "/activities/") {
			t.Fatalf("queued: %d %v", st, a)
		}
		// the same key again (the answer was lost): the same activity
		st, b := send(coord, "k-1", form, coord.csrf)
		if st != http.StatusCreated || b["id"] != a["id"] || b["replayed"] != true {
			t.Errorf("retry: %d %v, first %v", st, b, a)
		}
		if n := d.activityCount("title = ?", "离线的到校指导"); n != 1 {
			t.Errorf("%d recorded, want 1", n)
		}
		// the form's own submission and its queued retry are one activity
		f2 := url.Values{}
		for k, v := range form {
			f2[k] = v
		}
		f2.Set("title", "先提交后排队")
		f2.Set("idem", "k-form")
		if r := coord.post("/activities/new", f2); r.Status != http.StatusSeeOther {
			t.Fatalf("form: %d", r.Status)
		}
		f2.Del("idem")
		if st, c := send(coord, "k-form", f2, coord.csrf); st != http.StatusCreated || c["replayed"] != true {
			t.Errorf("queued retry of a form: %d %v", st, c)
		}
		if n := d.activityCount("title = ?", "先提交后排队"); n != 1 {
			t.Errorf("%d recorded, want 1", n)
		}
		// a different request under a used key: 409, kept for the user
		other := url.Values{}
		for k, v := range form {
			other[k] = v
		}
		other.Set("title", "另一条")
		if st, c := send(coord, "k-1", other, coord.csrf); st != http.StatusConflict || c["message"] == "" {
			t.Errorf("reused key: %d %v", st, c)
		}
		// bad input: 422 with the fields' messages in Chinese
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set("persons", "0")
		bad.Set("title", " ")
		st, c := send(coord, "k-2", bad, coord.csrf)
		fields, _ := c["fields"].(map[string]any)
		if st != http.StatusUnprocessableEntity || fields["persons"] == nil || fields["title"] == nil || !strings.Contains(c["message"].(string), "请") && !strings.Contains(c["message"].(string), "。") {
			t.Errorf("bad input: %d %v", st, c)
		}
		// with its photo (multipart, as the phone sends what it kept): the
		// photo is stored once, however often the request is retried
		var jpg bytes.Buffer
		_ = jpeg.Encode(&jpg, image.NewRGBA(image.Rect(0, 0, 64, 48)), nil)
		withPhoto := url.Values{}
		for k, v := range form {
			withPhoto[k] = v
		}
		withPhoto.Set("title", "离线带照片")
		withPhoto.Set("idem", "k-photo")
		for range 2 {
			r := coord.upload("/activities/queued", withPhoto, "evidence", "IMG_1.jpg", jpg.Bytes())
			if r.Status != http.StatusCreated {
				t.Fatalf("with a photo: %d %s", r.Status, r.Body)
			}
		}
		id := d.activityID("离线带照片")
		if n := countRows(t, db, "evidence", "activity_id = ?", id); n != 1 {
			t.Errorf("%d files stored, want 1", n)
		}
		// no CSRF token, a signed-out phone, a principal: refused
		if st, _ := send(coord, "k-3", form, ""); st != http.StatusForbidden {
			t.Errorf("without a CSRF token: %d", st)
		}
		if st, _ := send(d.web(), "k-4", form, coord.csrf); st != http.StatusForbidden && st != http.StatusUnauthorized {
			t.Errorf("signed out: %d", st)
		}
		head := d.as("mc5.head@demo.local", demoSchoolPW)
		if st, _ := send(head, "k-5", form, head.csrf); st != http.StatusForbidden {
			t.Errorf("a principal: %d", st)
		}
	})
}
