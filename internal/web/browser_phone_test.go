package web_test

import (
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestBrowserPhone (issue 10), on a 390 px phone in real Chromium: choosing
// a date whose period's books are closed warns before submission; what is
// typed survives leaving the form (a draft on the phone) and is restored
// when the form opens again; submitting drops the draft; a dispute rings
// the logger's bell.
func TestBrowserPhone(t *testing.T) {
	browser := startChromium(t, 3*time.Minute)
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		srv := httptest.NewServer(d.app.HTTP.Handler())
		defer srv.Close()
		phone := openTab(t, browser, srv.URL, "coordinator", 390, 844, true)
		phone.login("wh6.coord@demo.local", demoSchoolPW)

		// the late-logging warning, before submission
		phone.open("/activities/new", "#category")
		phone.set("category", "visit")
		phone.set("occurred_on", "2026-01-20")
		phone.do(chromedp.WaitVisible(chromedp.CSS("#accounting .alert.late")))
		if got := phone.text("#accounting .alert.late"); !strings.Contains(got, "2026-02-07 关账") || !strings.Contains(got, "本活动不计入完成情况") {
			t.Errorf("warning %q", got)
		}
		phone.set("occurred_on", "2026-02-10")
		phone.do(chromedp.WaitNotPresent(chromedp.CSS("#accounting .alert.late")), chromedp.WaitVisible(chromedp.CSS("#accounting .hint")))

		// the draft: typed, left, restored
		phone.set("title", "二月到校指导（草稿）")
		phone.set("description", "听课两节，座谈一次")
		phone.open("/", "main h1")
		phone.open("/activities/new", "#category")
		phone.do(chromedp.WaitVisible(chromedp.ID("draft-restored")))
		if v := run(phone, chromedp.Evaluate[string](`document.getElementById("title").value`)); v != "二月到校指导（草稿）" {
			t.Errorf("restored title %q", v)
		}
		if v := run(phone, chromedp.Evaluate[string](`document.getElementById("occurred_on").value + "|" + document.getElementById("category").value`)); v != "2026-02-10|visit" {
			t.Errorf("restored date and category %q", v)
		}
		phone.do(chromedp.Click(chromedp.CSS("form.form button.primary")), chromedp.WaitVisible(chromedp.CSS(".flash")))
		if n := d.activityCount("title = ?", "二月到校指导（草稿）"); n != 1 {
			t.Errorf("%d activities from the draft, want 1", n)
		}
		phone.open("/activities/new", "#category")
		if v := run(phone, chromedp.Evaluate[string](`(localStorage.getItem("twinning.draft./activities/new") || "") + "|" + document.getElementById("title").value`)); v != "|" {
			t.Errorf("the draft outlived its submission: %q", v)
		}
		// a 4000×3000 photo is shrunk on the phone to 1600 px JPEG and
		// uploaded with its progress bar
		photo := filepath.Join(t.TempDir(), "IMG_20260210.jpg")
		writePhoto(t, photo, 4000, 3000)
		st, _ := os.Stat(photo)
		phone.open("/activities/new", "#category")
		phone.set("category", "visit")
		phone.set("occurred_on", "2026-02-11")
		phone.set("title", "带照片的到校指导")
		phone.do(chromedp.SetUploadFiles(chromedp.ID("evidence"), []string{photo}))
		phone.stagedID() // uploaded as soon as chosen (browser_uploads_test.go)
		phone.do(chromedp.Click(chromedp.CSS("form.form button.primary")), chromedp.WaitVisible(chromedp.CSS(".flash")))
		id := d.activityID("带照片的到校指导")
		var ev struct {
			ID          int64
			FileName    string
			ContentType string
			Size        int64
		}
		if err := d.app.DB.Conn(context.Background()).Table("evidence").Where("activity_id = ?", id).Take(&ev).Error; err != nil {
			t.Fatal(err)
		}
		if ev.ContentType != "image/jpeg" || ev.FileName != "IMG_20260210.jpg" || ev.Size > st.Size()/8 {
			t.Errorf("stored %+v from a %d-byte original", ev, st.Size())
		}
		_, f, err := d.app.Activities.OpenEvidence(context.Background(), auth.SystemActor(), ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _, err := image.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != 1600 || cfg.Height != 1200 {
			t.Errorf("stored photo %dx%d (%v), want 1600x1200", cfg.Width, cfg.Height, err)
		}
		t.Logf("a %d×%d photo of %d bytes was sent as %d bytes", 4000, 3000, st.Size(), ev.Size)
		// at 0.5 Mbit/s (62.5 kB/s) that is the time to record it
		t.Logf("at 0.5 Mbit/s: %.1f s for the resized photo, %.1f s for the original", float64(ev.Size)/62500, float64(st.Size())/62500)
		cold, warm := phone.weigh("/activities/new", "#category")
		t.Logf("log form page weight: %.0f bytes uncached, %.0f bytes cached", cold, warm)
		phone.checkConsole()
	})
}

// writePhoto writes a JPEG of w×h with detail enough to weigh like a phone
// photo (a few MB at quality 95; busier than most, so it shrinks less).
func writePhoto(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8((x*7 + y*13 + (x*y)%251) % 256)
			img.Set(x, y, color.RGBA{v, uint8(x % 256), uint8(y % 256), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
}
