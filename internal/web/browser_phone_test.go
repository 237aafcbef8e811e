package web_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestBrowserPhone (issue 10), on a 390 px phone in real Chromium: choosing
// a date whose period's books are closed warns before submission; what is
// typed survives leaving the form (a draft on the phone) and is restored
// when the form opens again; submitting drops the draft; a dispute rings
// the logger's bell.
func TestBrowserPhone(t *testing.T) {
	bin := chromium()
	_, err := os.Stat(bin)
	testutil.Require(t, err == nil, "Chromium at "+bin+" (apt-get install -y chromium)")
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true), chromedp.Flag("lang", "zh-CN"))
	defer cancel()
	ctx, cancel := context.WithTimeout(alloc, 3*time.Minute)
	defer cancel()
	browser, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
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
		phone.checkConsole()
	})
}
