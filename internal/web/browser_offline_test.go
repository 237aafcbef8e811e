package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// flakyNet stands between the browser and the server as a bad network
// would: while down, every connection is closed before an answer; with
// drops > 0, a POST to dropPath reaches the server (which records it and
// commits) and then the connection is closed before the answer leaves.
type flakyNet struct {
	h        http.Handler
	down     atomic.Bool
	drops    atomic.Int32
	dropped  atomic.Int32
	dropPath atomic.Value // string
}

func (f *flakyNet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		cut(w)
		return
	}
	if p, _ := f.dropPath.Load().(string); r.Method == http.MethodPost && r.URL.Path == p && f.drops.Add(-1) >= 0 {
		f.h.ServeHTTP(httptest.NewRecorder(), r) // the server does its work
		f.dropped.Add(1)
		cut(w) // and the answer is lost
		return
	}
	f.h.ServeHTTP(w, r)
}

// cut closes the connection without an answer.
func cut(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// offline switches the tab's network (DevTools emulation, the page and its
// service worker) and navigator.onLine.
func (tb *tab) offline(off bool) {
	tb.t.Helper()
	tb.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			EmulateOfflineServiceWorker: &off,
			MatchedNetworkConditions:    []*network.Conditions{{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}},
		}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: off, DownloadThroughput: -1, UploadThroughput: -1})
		return err
	}))
}

// eventually polls a script (a promise of a boolean) until it is true.
func (tb *tab) eventually(what, js string, limit time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok := run(tb, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise))
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.fail(errString("never: " + what))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestBrowserOffline (issue 10), on a 390 px phone in real Chromium: the
// service worker keeps the log form, which opens without a network; two
// activities logged offline wait on the phone (the count on the form and in
// the navigation) and are sent when the network returns, each recorded
// once although the first answer is lost after the server recorded it; a
// form submitted online whose answer is lost the same way is queued by the
// worker with the form's key and recorded once.
func TestBrowserOffline(t *testing.T) {
	browser := startChromium(t, 4*time.Minute)
	// SQLite only: what is proved here happens in the browser; the
	// endpoint's once-per-key rule is proved on both databases by
	// TestQueuedActivity (and the package's time under -race is bounded)
	func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		net := &flakyNet{h: d.app.HTTP.Handler()}
		// 127.0.0.1 over http is a secure context: service workers run
		srv := httptest.NewServer(net)
		defer srv.Close()
		phone := openTab(t, browser, srv.URL, "coordinator", 390, 844, true)
		phone.login("wh6.coord@demo.local", demoSchoolPW)

		// the worker installs and keeps the log form
		phone.open("/activities/new", "#category")
		phone.eventually("the worker controls the page", `Promise.resolve(navigator.serviceWorker.controller !== null)`, 20*time.Second)
		phone.eventually("the log form is cached", `caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => c.match("/activities/new"))))).then(r => r.some(Boolean))`, 20*time.Second)
		// the page's weight over the network (past the worker): with an
		// empty HTTP cache, then with the static files cached
		cold, warm := phone.weigh("/activities/new", "#category")
		t.Logf("log form page weight: %.0f bytes uncached, %.0f bytes cached; offline it comes whole from the worker's cache", cold, warm)

		// a photo staged while online; then the network goes: the activity
		// kept on the phone claims the staged photo
		staged := filepath.Join(t.TempDir(), "IMG_20260211.jpg")
		writePhoto(t, staged, 1200, 900)
		phone.open("/activities/new", "#category")
		phone.do(chromedp.SetUploadFiles(chromedp.ID("evidence"), []string{staged}),
			chromedp.WaitVisible(chromedp.CSS("#staged-files li[data-upload]")))
		net.down.Store(true)
		phone.offline(true)
		phone.set("category", "visit")
		phone.set("occurred_on", "2026-02-11")
		phone.set("title", "离线记录零")
		phone.do(chromedp.Click(chromedp.CSS("form.form button.primary")), chromedp.WaitVisible(chromedp.ID("queue-kept")))
		phone.eventually("the count shows 1", `Promise.resolve(document.getElementById("queue-count").textContent === "1")`, 5*time.Second)

		// offline: the form opens from the worker's cache
		phone.open("/", "main h1")
		if h := phone.text("main h1"); !strings.Contains(h, "没有网络") {
			t.Errorf("offline page %q", h)
		}
		phone.open("/activities/new", "#category")
		photo := filepath.Join(t.TempDir(), "IMG_20260212.jpg")
		writePhoto(t, photo, 2000, 1500)
		for i, title := range []string{"离线记录一", "离线记录二"} {
			phone.set("category", "visit")
			phone.set("occurred_on", "2026-02-12")
			phone.set("title", title)
			phone.set("hours", "1.5")
			if i == 0 { // a photo waits with it (offline it is not staged)
				phone.do(chromedp.SetUploadFiles(chromedp.ID("evidence"), []string{photo}))
				// shrunk on the phone, then kept in the file input
				phone.eventually("the chosen photo stays in the file input", `Promise.resolve(document.getElementById("evidence").files.length === 1)`, 10*time.Second)
			}
			phone.do(chromedp.Click(chromedp.CSS("form.form button.primary")), chromedp.WaitVisible(chromedp.ID("queue-kept")))
			want := string(rune('2' + i))
			phone.eventually("the count shows "+want, `Promise.resolve(document.getElementById("queue-count").textContent === "`+want+`" && !document.getElementById("queue-count").hidden)`, 5*time.Second)
			if got := phone.text("#queue-status .queue-waiting"); !strings.Contains(got, want+" 条活动保存在手机上") {
				t.Errorf("waiting note %q", got)
			}
		}
		if n := d.activityCount("title LIKE ?", "离线记录%"); n != 0 {
			t.Fatalf("%d recorded while offline", n)
		}

		// back online; the first answer is lost after the server recorded it
		net.dropPath.Store("/activities/queued")
		net.drops.Store(1)
		net.down.Store(false)
		phone.offline(false)
		phone.eventually("the queue is sent", `Promise.resolve(document.getElementById("queue-count").hidden)`, 45*time.Second)
		if net.dropped.Load() < 1 {
			t.Error("no answer was dropped")
		}
		for _, title := range []string{"离线记录零", "离线记录一", "离线记录二"} {
			if n := d.activityCount("title = ?", title); n != 1 {
				t.Errorf("%q recorded %d times, want once", title, n)
			}
		}
		for _, title := range []string{"离线记录零", "离线记录一"} {
			if n := countRows(t, db, "evidence", "activity_id = ?", d.activityID(title)); n != 1 {
				t.Errorf("%s: its photo stored %d times, want once", title, n)
			}
		}
		if got := phone.text("#queue-status .queue-sent"); !strings.Contains(got, "已发送 3 条") {
			t.Errorf("sent note %q", got)
		}

		// online, the form's own answer is lost after the server recorded
		// it: the worker keeps it with the form's key; sent again, it is
		// the same activity
		// (Chromium itself resends a request whose reused connection
		// closed without an answer, once or, with more idle connections
		// in its pool, more often: every attempt at the form's own path
		// loses its answer until the step ends, or a resend that got
		// through would land on the home page and the worker never queue)
		net.dropPath.Store("/activities/new")
		net.drops.Store(1 << 20)
		net.dropped.Store(0)
		phone.open("/activities/new", "#category")
		phone.set("category", "visit")
		phone.set("occurred_on", "2026-02-13")
		phone.set("title", "答复丢失的记录")
		phone.do(chromedp.Click(chromedp.CSS("form.form button.primary")))
		phone.eventually("the lost answer's activity is sent", `Promise.resolve(location.search.includes("queued=1") && !!document.getElementById("queue-count") && document.getElementById("queue-count").hidden)`, 45*time.Second)
		if net.dropped.Load() < 1 {
			t.Error("no answer was dropped")
		}
		net.drops.Store(0)
		if n := d.activityCount("title = ?", "答复丢失的记录"); n != 1 {
			t.Errorf("recorded %d times, want once", n)
		}
		// a refused activity stays on the phone for correction
		net.down.Store(true)
		phone.offline(true)
		phone.open("/activities/new", "#category")
		phone.set("category", "visit")
		phone.set("occurred_on", "2026-02-14")
		phone.set("title", "人数写错的记录")
		phone.set("persons", "0")
		phone.do(chromedp.Click(chromedp.CSS("form.form button.primary")), chromedp.WaitVisible(chromedp.ID("queue-kept")))
		net.down.Store(false)
		phone.offline(false)
		phone.eventually("the refusal is shown", `Promise.resolve(document.querySelectorAll("#queue-status .queue-invalid li").length === 1)`, 30*time.Second)
		if got := phone.text("#queue-status .queue-invalid li"); !strings.Contains(got, "人数写错的记录") {
			t.Errorf("refused item %q", got)
		}
		if got := phone.text("#queue-count"); got != "1" {
			t.Errorf("count %q with one refused", got)
		}
		phone.do(chromedp.Click(chromedp.CSS("#queue-status .queue-invalid li button")))
		if v := run(phone, chromedp.Evaluate[string](`document.getElementById("title").value + "|" + document.getElementById("persons").value`)); v != "人数写错的记录|0" {
			t.Errorf("correction form %q", v)
		}
		phone.set("persons", "3")
		phone.do(chromedp.Click(chromedp.CSS("form.form button.primary")), chromedp.WaitVisible(chromedp.CSS(".flash:not(#queue-kept)")))
		if n := d.activityCount("title = ? AND persons = ?", "人数写错的记录", 3); n != 1 {
			t.Errorf("corrected activity recorded %d times", n)
		}
	}(t, testutil.SQLite(t))
}
