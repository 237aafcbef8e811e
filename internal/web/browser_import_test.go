package web_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/importer"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// TestBrowserImport drives the import page in Chromium on a phone-sized
// screen: a workbook with a mistake shows the table of errors in place
// (the chosen file stays chosen, for the annotated download), the fixed
// workbook imports and shows the counts. No console errors; nothing wider
// than the screen.
func TestBrowserImport(t *testing.T) {
	bin := chromium()
	_, err := os.Stat(bin)
	testutil.Require(t, err == nil, "Chromium at "+bin+" (apt-get install -y chromium)")
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true), chromedp.Flag("lang", "zh-CN"))
	defer cancel()
	ctx, cancel := context.WithTimeout(alloc, 4*time.Minute)
	defer cancel()
	browser, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}

	d := newDemo(t, testutil.SQLite(t))
	srv := httptest.NewServer(d.app.HTTP.Handler())
	defer srv.Close()
	// the demo's own workbook, and a copy with a bad stage
	var good bytes.Buffer
	if err := d.app.Importer.Export(context.Background(), auth.SystemActor(), importer.LangZH, &good); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(good.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	_ = f.SetCellValue("学校", "D2", "大学")
	dir := t.TempDir()
	goodPath, badPath := filepath.Join(dir, "good.xlsx"), filepath.Join(dir, "bad.xlsx")
	if err := f.SaveAs(badPath); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goodPath, good.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	tb := openTab(t, browser, srv.URL, "admin", 390, 844, true)
	tb.login("admin@demo.local", demoAdminPW)
	tb.open("/admin", "main h1")
	tb.do(chromedp.Click(chromedp.CSS(`main a[href="/admin/import"]`)), chromedp.WaitVisible(chromedp.ID("file")))
	tb.noSideways("the import page")

	// the bad workbook, checked: the errors appear in place
	tb.do(chromedp.SetUploadFiles(chromedp.ID("file"), []string{badPath}),
		chromedp.Click(chromedp.ID("import-submit")),
		chromedp.WaitVisible(chromedp.ID("import-failed")))
	table := tb.text("table.import-errors")
	if !strings.Contains(table, "学校") || !strings.Contains(table, "学段") {
		t.Errorf("error table: %q", table)
	}
	if n := run(tb, chromedp.Evaluate[int](`document.getElementById("file").files.length`)); n != 1 {
		t.Errorf("the chosen file was dropped after the check (%d files): the annotated download needs it", n)
	}
	if checked := run(tb, chromedp.Evaluate[bool](`document.getElementById("dry_run").checked`)); !checked {
		t.Error("check only should be ticked by default")
	}
	tb.noSideways("the error table")

	// the good one, imported
	tb.do(chromedp.SetUploadFiles(chromedp.ID("file"), []string{goodPath}),
		chromedp.Click(chromedp.ID("dry_run")),
		chromedp.Click(chromedp.ID("import-submit")),
		chromedp.WaitVisible(chromedp.CSS("table.import-counts")))
	if h := tb.text("#import-result h2"); h != "导入完成" {
		t.Errorf("result heading %q", h)
	}
	if n := countRows(t, d.db, "audit_log", "action = ?", "import.workbook"); n != 1 {
		t.Errorf("%d import audit rows", n)
	}
	tb.noSideways("the result")
	tb.checkConsole()
}
