package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/jpeg"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestEvidenceRendition: a tap on a photo opens a JPEG whose longest side
// is 1280 px, not the original; the original is one link away.
func TestEvidenceRendition(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		pair := d.pairs["wh6-mc5"]
		w := d.as("wh6.coord@demo.local", demoSchoolPW)
		res := w.upload("/activities/new", url.Values{"pair_id": {fmt.Sprint(pair)}, "category": {"visit"}, "title": {"二月到校指导"},
			"occurred_on": {"2026-02-10"}}, "evidence", "site.png", pngImage(t, 2600, 1400))
		if res.Status != http.StatusSeeOther {
			t.Fatalf("log: %d", res.Status)
		}
		id := d.activityID("二月到校指导")
		page := w.must(200, w.get(fmt.Sprintf("/activities/%d", id)))
		ev := regexp1(page.Body, `href="/evidence/(\d+)/view"`)
		if ev == "" || !strings.Contains(page.Body, `href="/evidence/`+ev+`" target="_blank" rel="noopener">查看原图`) {
			t.Fatalf("the photo does not open its rendition with the original beside: %s", page.Body)
		}
		r := w.get("/evidence/" + ev + "/view")
		if r.Status != 200 || r.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("rendition: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(r.raw))
		if err != nil || format != "jpeg" || cfg.Width != 1280 || cfg.Height != 689 {
			t.Errorf("rendition %s %dx%d (%v), want jpeg 1280x689", format, cfg.Width, cfg.Height, err)
		}
		if orig := w.get("/evidence/" + ev); orig.Status != 200 || orig.Header.Get("Content-Type") != "image/png" {
			t.Errorf("original: %d %s", orig.Status, orig.Header.Get("Content-Type"))
		}
	})
}

// TestSeveralFilesPerActivity: the log form takes several files at once
// (a photo, another photo, a PDF), all kept in order; more than five is a
// message beside the picker.
func TestSeveralFilesPerActivity(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		pair := d.pairs["wh6-mc5"]
		w := d.as("wh6.coord@demo.local", demoSchoolPW)
		w.must(200, w.get("/activities/new"))
		post := func(title string, n int) resp {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			for k, v := range map[string]string{"_csrf": w.csrf, "pair_id": fmt.Sprint(pair), "category": "visit", "title": title, "occurred_on": "2026-02-10"} {
				_ = mw.WriteField(k, v)
			}
			for i := 0; i < n; i++ {
				name, content := fmt.Sprintf("photo-%d.png", i), pngImage(t, 40, 30)
				if i == n-1 {
					name, content = "sign-in.pdf", pdfBytes()
				}
				fw, _ := mw.CreateFormFile("evidence", name)
				_, _ = fw.Write(content)
			}
			_ = mw.Close()
			req := httptest.NewRequest(http.MethodPost, "/activities/new", &buf)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			return w.send(req)
		}
		if r := post("三张佐证", 3); r.Status != http.StatusSeeOther {
			t.Fatalf("three files: %d %s", r.Status, r.Body)
		}
		id := d.activityID("三张佐证")
		var names []string
		if err := d.app.DB.Conn(context.Background()).Table("evidence").Where("activity_id = ?", id).Order("id").Pluck("file_name", &names).Error; err != nil {
			t.Fatal(err)
		}
		if strings.Join(names, ",") != "photo-0.png,photo-1.png,sign-in.pdf" {
			t.Errorf("evidence %v", names)
		}
		w.must(200, w.get("/activities/new"))
		r := post("六张佐证", 6)
		if r.Status != http.StatusUnprocessableEntity || d.activityCount("title = ?", "六张佐证") != 0 {
			t.Errorf("six files: %d, %d activities", r.Status, d.activityCount("title = ?", "六张佐证"))
		}
	})
}
