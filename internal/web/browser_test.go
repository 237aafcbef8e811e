package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// chromium is the browser the tests drive (TWINNING_CHROMIUM overrides).
func chromium() string {
	if p := os.Getenv("TWINNING_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// TestBrowser drives a real Chromium through the demo programme: every
// role signs in; the coordinator logs an activity with a photo on a
// phone-sized screen (390×844); the principal confirms it; the bureau sees
// it counted on the dashboard. No page may log a console error or throw.
// With TWINNING_SCREENSHOTS=1 it saves the main pages to docs/screenshots.
// It skips without Chromium, except under CI=true, where it fails.
func TestBrowser(t *testing.T) {
	bin := chromium()
	_, err := os.Stat(bin)
	testutil.Require(t, err == nil, "Chromium at "+bin+" (apt-get install -y chromium)")
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true), chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("mute-audio", true),
		chromedp.Flag("font-render-hinting", "none"), chromedp.Flag("lang", "zh-CN"))
	defer cancel()
	ctx, cancel := context.WithTimeout(alloc, 8*time.Minute)
	defer cancel()
	browser, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	shots := ""
	if os.Getenv("TWINNING_SCREENSHOTS") == "1" {
		shots = filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		dir := shots
		if !strings.HasSuffix(t.Name(), "/sqlite") {
			dir = "" // one set of screenshots
		}
		browserScenario(t, browser, db, dir)
	})
}

// tab is one browser tab in a browser context of its own (own cookies and
// cache, as a separate person's browser), recording console errors and the
// bytes it transfers.
type tab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	name  string
	width int64

	mu     sync.Mutex
	errors []string
	bytes  float64
}

// startChromium starts the headless Chromium of a browser test, stopped
// when the test ends, with the whole test bounded by timeout. It skips
// without Chromium, except under CI=true, where it fails.
func startChromium(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	bin := chromium()
	_, err := os.Stat(bin)
	testutil.Require(t, err == nil, "Chromium at "+bin+" (apt-get install -y chromium)")
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true), chromedp.Flag("lang", "zh-CN"))
	ctx, cancelTimeout := context.WithTimeout(alloc, timeout)
	browser, cancelBrowser := chromedp.NewContext(ctx)
	t.Cleanup(func() { cancelBrowser(); cancelTimeout(); cancelAlloc() })
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	return browser
}

func openTab(t *testing.T, browser context.Context, base, name string, width, height int64, mobile bool) *tab {
	t.Helper()
	tb := &tab{t: t, base: base, name: name, width: width}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(tb.listen))
	t.Cleanup(cancel)
	tb.ctx = ctx
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	// the first action opens the tab: it must get the tab's own context
	// (a step's timeout would close the tab when the step ends)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...)); err != nil {
		t.Fatalf("%s: opening a tab: %v", name, err)
	}
	return tb
}

// listen runs in the tab's event loop: it only records.
func (tb *tab) listen(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			tb.errors = append(tb.errors, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		msg := ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
		tb.errors = append(tb.errors, "exception: "+msg+" at "+ev.ExceptionDetails.URL)
	case *cdplog.EventEntryAdded:
		// a form sent back with its errors answers 422 on purpose; the
		// browser logs that status as a failed load: not a page error
		if ev.Entry.Level == cdplog.EntryLevelError && !(ev.Entry.Source == cdplog.EntrySourceNetwork && strings.Contains(ev.Entry.Text, "status of 422")) {
			tb.errors = append(tb.errors, "log ("+string(ev.Entry.Source)+"): "+ev.Entry.Text+" "+ev.Entry.URL)
		}
	case *network.EventLoadingFinished:
		tb.bytes += ev.EncodedDataLength
	}
}

// stepTimeout bounds every step, so a page that never shows what a step
// waits for fails the test with the page's address and text.
const stepTimeout = 30 * time.Second

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.fail(err)
	}
}

func run[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.fail(err)
	}
	return v
}

// fail stops the test with where the tab is and what it shows.
func (tb *tab) fail(err error) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 1500) : ""`))
	tb.mu.Lock()
	errs := strings.Join(tb.errors, "; ")
	tb.mu.Unlock()
	tb.t.Fatalf("%s: %v\nat %s\nconsole: %s\npage: %s", tb.name, err, loc, errs, body)
}

func (tb *tab) open(path, waitFor string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base+path), chromedp.WaitVisible(chromedp.CSS(waitFor)))
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return strings.TrimSpace(run(tb, chromedp.Text(chromedp.CSS(sel))))
}

// login signs in on the form and waits for the role's start page.
func (tb *tab) login(email, password string) {
	tb.t.Helper()
	tb.open("/login", "#email")
	tb.do(chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS("form.form button.primary")),
		chromedp.WaitVisible(chromedp.CSS(`nav[aria-label] ul`)))
}

// set gives a form field a value, as typing or picking would (with the
// input and change events).
func (tb *tab) set(id, value string) {
	tb.t.Helper()
	js, _ := json.Marshal([]string{id, value})
	ok := run(tb, chromedp.Evaluate[bool](`(([id, v]) => { const e = document.getElementById(id); if (!e) return false;
		e.value = v; e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true}));
		return e.value === v; })(`+string(js)+`)`))
	if !ok {
		tb.t.Fatalf("%s: could not set #%s to %q", tb.name, id, value)
	}
}

// noSideways checks the page fits the screen's width (a phone would
// otherwise zoom out or scroll sideways), naming what sticks out.
func (tb *tab) noSideways(what string) {
	tb.t.Helper()
	js := fmt.Sprintf(`(() => { const w = %d; const out = [];
		for (const e of document.querySelectorAll("body *")) {
			const r = e.getBoundingClientRect();
			if (r.right > w + 1 && !e.closest(".scroll-x") && getComputedStyle(e).visibility !== "hidden")
				out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && e.className.baseVal === undefined ? "." + e.className.split(" ").join(".") : "") + " " + Math.round(r.right));
		}
		return [String(document.documentElement.scrollWidth)].concat(out.slice(0, 8)); })()`, tb.width)
	r := run(tb, chromedp.Evaluate[[]string](js))
	if sw, _ := strconv.ParseInt(r[0], 10, 64); sw > tb.width {
		tb.t.Errorf("%s: %s is %s px wide on a %d px screen; sticking out: %v", tb.name, what, r[0], tb.width, r[1:])
	}
}

// checkConsole fails on every error the tab has seen.
func (tb *tab) checkConsole() {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, e := range tb.errors {
		tb.t.Errorf("%s: %s", tb.name, e)
	}
	tb.errors = nil
}

// weigh loads a page and returns the bytes transferred for it, first with
// an empty cache, then again with its assets cached.
func (tb *tab) weigh(path, waitFor string) (cold, warm float64) {
	tb.t.Helper()
	// past the service worker (issue 10), whose cache would otherwise
	// answer for the network: this is the weight over the wire
	bypass := func(on bool) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, network.SetBypassServiceWorker, network.SetBypassServiceWorkerParams{Bypass: on})
			return err
		})
	}
	tb.do(bypass(true), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.ClearBrowserCache, cdp.Empty{})
		return err
	}))
	defer tb.do(bypass(false))
	for i := range 2 {
		tb.mu.Lock()
		tb.bytes = 0
		tb.mu.Unlock()
		tb.open(path, waitFor)
		tb.do(chromedp.Sleep(400 * time.Millisecond)) // lazy images, charts
		tb.mu.Lock()
		if i == 0 {
			cold = tb.bytes
		} else {
			warm = tb.bytes
		}
		tb.mu.Unlock()
	}
	return cold, warm
}

// screenshot saves the whole page as docs/screenshots/<name>.png.
func (tb *tab) screenshot(dir, name string) {
	tb.t.Helper()
	if dir == "" {
		return
	}
	png := run(tb, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
		if err != nil {
			return nil, err
		}
		w, h := m.CSSContentSize.Width, min(m.CSSContentSize.Height, 5000)
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format: page.CaptureScreenshotFormatPng, CaptureBeyondViewport: new(true), FromSurface: new(true),
			Clip: &page.Viewport{X: 0, Y: 0, Width: w, Height: h, Scale: 1}})
		if err != nil {
			return nil, err
		}
		return r.Data, nil
	})
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

func browserScenario(t *testing.T, browser context.Context, db *database.DB, shots string) {
	d := newDemo(t, db)
	// the day's sweep, so the pair page has notices to show
	if _, err := d.app.Sweeper.Sweep(context.Background(), date.MustParse(demoToday), d.app.Now(), false); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.app.HTTP.Handler())
	defer srv.Close()
	pair := d.pairs["wh6-mc5"]
	if pair == 0 {
		t.Fatalf("no demo pair wh6-mc5 in %v", d.pairs)
	}

	// the provincial bureau: the dashboard before
	bureau := openTab(t, browser, srv.URL, "bureau", 1280, 900, false)
	bureau.login("hubei@demo.local", demoBureauPW)
	dash := "/dashboard" // the running term: spring 2026
	bureau.open(dash, "#chart-trend canvas")
	metBefore := run(bureau, chromedp.Evaluate[string](`document.querySelector('[data-met]').dataset.met`))

	// the coordinator, on a phone
	phone := openTab(t, browser, srv.URL, "coordinator", 390, 844, true)
	phone.login("wh6.coord@demo.local", demoSchoolPW)
	if h := phone.text("main h1"); h != "我的结对" {
		t.Errorf("coordinator start page: %q", h)
	}
	phone.noSideways("the coordinator's start page")
	phone.screenshot(shots, "coordinator-home")

	phone.open("/activities/new", "#category")
	phone.noSideways("the log form")
	phone.screenshot(shots, "log-form")
	// inline validation: nothing filled in
	phone.set("occurred_on", "")
	phone.do(chromedp.Click(chromedp.CSS("form.form button.primary")),
		chromedp.WaitVisible(chromedp.CSS("#title-error")))
	if msg := phone.text("#title-error"); !strings.Contains(msg, "必填") {
		t.Errorf("title error: %q", msg)
	}
	if msg := phone.text("#occurred_on-error"); !strings.Contains(msg, "必填") {
		t.Errorf("date error: %q", msg)
	}
	phone.noSideways("the log form with errors")
	phone.screenshot(shots, "log-form-errors")
	// now properly, with a photo
	photo := filepath.Join(t.TempDir(), "现场照片.png")
	if err := os.WriteFile(photo, pngImage(t, 640, 480), 0o644); err != nil {
		t.Fatal(err)
	}
	title := "高一学生赴武汉六中参观交流"
	phone.set("pair_id", strconv.FormatInt(pair, 10))
	phone.set("category", "student_exchange")
	phone.set("occurred_on", "2026-02-12")
	phone.set("title", title)
	phone.set("persons", "45")
	phone.set("description", "麻城五中高一年级学生到武汉六中参观校园、旁听课堂。")
	phone.do(
		chromedp.SetUploadFiles(chromedp.ID("evidence"), []string{photo}),
		chromedp.Click(chromedp.CSS("form.form button.primary")),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if f := phone.text(".flash"); !strings.Contains(f, "活动已记录") {
		t.Errorf("after logging: flash %q", f)
	}
	id := d.activityID(title)
	if st := d.activityStatus(id); st != "pending" {
		t.Fatalf("logged activity is %s", st)
	}
	var evidence int64
	d.db.Conn(context.Background()).Table("evidence").Where("activity_id = ?", id).Count(&evidence)
	if evidence != 1 {
		t.Errorf("logged activity has %d evidence files, want 1", evidence)
	}
	phone.do(chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#activity-%d img", id))))
	phone.noSideways("the start page with a pending activity")
	phone.screenshot(shots, "coordinator-home")

	// the principal of the supported school confirms it, on a phone too
	head := openTab(t, browser, srv.URL, "principal", 390, 844, true)
	head.login("mc5.head@demo.local", demoSchoolPW)
	head.do(chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#row-%d", id))))
	if n := head.text("#inbox-count"); n != "2" {
		t.Errorf("inbox badge %q, want 2 (the demo's pending activity and the new one)", n)
	}
	head.noSideways("the inbox")
	head.screenshot(shots, "principal-inbox")
	head.do(chromedp.Click(chromedp.CSS(fmt.Sprintf("#row-%d button.primary", id))),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#row-%d.done", id))))
	if n := head.text("#inbox-count"); n != "1" {
		t.Errorf("inbox badge after confirming %q, want 1", n)
	}
	if st := d.activityStatus(id); st != "confirmed" {
		t.Fatalf("after the principal's click the activity is %s", st)
	}
	head.open("/history", fmt.Sprintf("#activity-%d", id))

	// the bureau sees it counted
	bureau.open(dash, "#chart-trend canvas")
	metAfter := run(bureau, chromedp.Evaluate[string](`document.querySelector('[data-met]').dataset.met`))
	before, _ := strconv.Atoi(metBefore)
	after, _ := strconv.Atoi(metAfter)
	if after != before+1 {
		t.Errorf("met commitments on the dashboard: %d before, %d after the confirmation; want one more", before, after)
	}
	bureau.do(chromedp.WaitVisible(chromedp.CSS("#chart-category canvas")), chromedp.WaitVisible(chromedp.CSS("#chart-area canvas")))
	bureau.noSideways("the dashboard")
	bureau.open("/dashboard?term=2025-2026-autumn", "#chart-area canvas") // a closed term, with its breaches
	// the trend arrives in a second request (htmx): its chart must draw too
	bureau.do(chromedp.WaitVisible(chromedp.CSS("#chart-category canvas")), chromedp.WaitVisible(chromedp.CSS("#chart-trend canvas")))
	bureau.screenshot(shots, "bureau-dashboard")
	// drill down: the sub-region, the pair, then the activity and its evidence
	bureau.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href^="/dashboard?region=%d"]`, d.regions["黄冈市"]))),
		chromedp.WaitVisible(chromedp.CSS(`.crumbs strong`)))
	if r := bureau.text(".crumbs strong"); r != "黄冈市" {
		t.Errorf("drilled down into %q, want 黄冈市", r)
	}
	bureau.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`table.heat a[href="/pairs/%d"]`, pair))),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#activity-%d", id))))
	bureau.screenshot(shots, "pair-page")
	bureau.do(chromedp.Click(chromedp.CSS(fmt.Sprintf("#activity-%d a.title", id))),
		chromedp.WaitVisible(chromedp.CSS(".files img")))
	// the thumbnail loads (lazily): a real image, not a broken one
	run(bureau, chromedp.Poll[bool](`(() => { const i = document.querySelector(".files img"); return !!i && i.complete && i.naturalWidth > 0; })()`,
		chromedp.WithPollingTimeout(20*time.Second)))

	// a phone-sized dashboard and pair page fit too
	small := openTab(t, browser, srv.URL, "bureau on a phone", 390, 844, true)
	small.login("macheng@demo.local", demoBureauPW)
	small.open(dash, "#chart-trend canvas")
	small.screenshot(shots, "bureau-dashboard-phone")
	small.noSideways("the dashboard on a phone")
	small.open(fmt.Sprintf("/pairs/%d", pair), "#timeline-h")
	small.noSideways("the pair page on a phone")

	// the admin
	admin := openTab(t, browser, srv.URL, "admin", 1280, 900, false)
	admin.login("admin@demo.local", demoAdminPW)
	admin.open("/admin", ".kpis")
	admin.open(fmt.Sprintf("/admin/pairs/%d/agreements", pair), "#title")
	admin.screenshot(shots, "admin-agreements")
	admin.open("/admin/users", "#email")
	admin.screenshot(shots, "admin-users")

	// the language switch, on the phone
	phone.open("/", "main h1")
	phone.do(chromedp.Click(chromedp.CSS(`button[name="locale"]`)), chromedp.WaitVisible(chromedp.CSS(`button[value="zh-CN"]`)))
	if h := phone.text("main h1"); h != "My pairs" {
		t.Errorf("after switching to English: %q", h)
	}
	phone.noSideways("the start page in English")

	// page weights, with the assets cached and without
	for _, w := range []struct {
		tb        *tab
		path, sel string
	}{
		{phone, "/activities/new", "#category"},
		{phone, "/", "main h1"},
		{head, "/inbox", "main h1"},
		{bureau, dash, "#chart-trend canvas"},
		{bureau, fmt.Sprintf("/pairs/%d", pair), "#timeline-h"},
	} {
		cold, warm := w.tb.weigh(w.path, w.sel)
		t.Logf("weight of %s: %.1f KB uncached, %.1f KB with cached assets", w.path, cold/1024, warm/1024)
		if warm > 500*1024 {
			t.Errorf("%s weighs %.0f KB with its assets cached; the budget is 500 KB", w.path, warm/1024)
		}
		if warm >= cold {
			t.Errorf("%s: %.0f bytes cached vs %.0f uncached: the assets are not cached", w.path, warm, cold)
		}
	}

	for _, tb := range []*tab{bureau, phone, head, small, admin} {
		tb.checkConsole()
	}
}
