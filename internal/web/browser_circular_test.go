package web_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestBrowserCircular walks a county bureau through draft → publish of a
// circular in a real Chromium, the named school's principal through
// acknowledgement and report on a phone, and the bureau through
// acceptance. No page may log a console error.
func TestBrowserCircular(t *testing.T) {
	browser := startChromium(t, 4*time.Minute)
	shotsDir := ""
	if os.Getenv("TWINNING_SCREENSHOTS") == "1" {
		shotsDir = filepath.Join("..", "..", "docs", "screenshots")
	}
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		shots := shotsDir
		if !strings.HasSuffix(t.Name(), "/sqlite") {
			shots = "" // one set of screenshots
		}
		d := newDemo(t, db)
		if _, err := d.app.Check(context.Background(), date.MustParse(demoToday), d.app.Now(), false); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(d.app.HTTP.Handler())
		defer srv.Close()

		bureau := openTab(t, browser, srv.URL, "bureau", 1280, 900, false)
		bureau.login("macheng@demo.local", demoBureauPW)
		bureau.open("/circulars", "details.card summary")
		bureau.do(chromedp.Click(chromedp.CSS("details.card summary")), chromedp.WaitVisible(chromedp.ID("title")))
		bureau.set("period_key", "2025-2026-autumn")
		bureau.set("title", "关于2025—2026学年秋季学期结对帮扶工作情况的通报")
		bureau.do(chromedp.Click(chromedp.CSS("#draft-form button.primary")), chromedp.WaitVisible(chromedp.ID("edit-form")))
		if txt := bureau.text("table.circular-table"); !strings.Contains(txt, "麻城市第五中学") || !strings.Contains(txt, "2025—2026学年秋季学期") {
			t.Fatalf("draft table: %q", txt)
		}
		bureau.set("number", "麻教通〔2026〕3号")
		bureau.set("rectify_by", "2026-03-01")
		bureau.set("requirements", "请被通报学校认真整改。")
		bureau.screenshot(shots, "circular-draft")
		bureau.do(chromedp.Click(chromedp.ID("publish")), chromedp.WaitVisible(chromedp.ID("docx-link")))
		if f := bureau.text(".flash"); !strings.Contains(f, "通报已发布") {
			t.Errorf("flash after publishing: %q", f)
		}
		circularURL := run(bureau, chromedp.Location())

		// the principal, on a phone: the open rectification is on the inbox
		head := openTab(t, browser, srv.URL, "principal", 390, 844, true)
		head.login("mc5.head@demo.local", demoSchoolPW)
		head.open("/inbox", "#open-rects a[href^='/rectifications/']")
		head.do(chromedp.Click(chromedp.CSS("#open-rects a[href^='/rectifications/']")), chromedp.WaitVisible(chromedp.ID("acknowledge")))
		head.noSideways("the rectification page")
		head.do(chromedp.Click(chromedp.ID("acknowledge")), chromedp.WaitVisible(chromedp.ID("report-form")))
		head.screenshot(shots, "rectification-phone")
		head.set("report", "已补开两次管理交流活动，并建立月度交流机制。")
		head.do(chromedp.Click(chromedp.ID("submit-report")), chromedp.WaitVisible(chromedp.ID("report-text")))
		if s := head.text("#rect-status"); !strings.Contains(s, "已提交") {
			t.Errorf("status after submitting: %q", s)
		}
		rectURL := run(head, chromedp.Location())
		head.noSideways("the submitted rectification")

		// the bureau accepts
		bureau.open(strings.TrimPrefix(rectURL, srv.URL), "#accept")
		bureau.do(chromedp.Click(chromedp.ID("accept")), chromedp.WaitVisible(chromedp.CSS(".flash")))
		if s := bureau.text("#rect-status"); !strings.Contains(s, "已通过") {
			t.Errorf("status after accepting: %q", s)
		}
		// the printable page
		bureau.open(strings.TrimPrefix(circularURL, srv.URL)+"/print", ".red-head .issuer")
		if s := bureau.text(".red-head .issuer"); s != "麻城市教育局文件" {
			t.Errorf("red header: %q", s)
		}
		bureau.screenshot(shots, "circular-print")
		color := run(bureau, chromedp.Evaluate[string](`getComputedStyle(document.querySelector(".red-head .issuer")).color`))
		if color != "rgb(230, 0, 18)" {
			t.Errorf("the header is %s, not red", color)
		}
		bureau.checkConsole()
		head.checkConsole()
	})
}
