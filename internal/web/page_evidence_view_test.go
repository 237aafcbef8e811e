package web_test

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg"
	"net/http"
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
