// Twinning service worker (issue 10), served at /sw.js (scope /) by
// internal/web/pwa.go, which fills in the versioned addresses of the
// precached files and the version of the caches.
//
// - Static files the log form needs are precached when the worker
//   installs; versioned addresses never change content, so cache first.
// - Pages: network first. Only the log form is kept (the shell that must
//   open without a network); other pages, the API, fragments and files are
//   never stored. Without a network a page falls back to the cached log
//   form (for /activities/new) or to a small offline page.
// - A log form sent while the network fails (before an answer arrived) is
//   put in the offline queue with the form's idempotency key, so if it did
//   reach the server the queued retry is the same activity.
// - Caches of older versions are deleted on activation.
"use strict";
var VERSION = "__VERSION__";
var PRECACHE = ["__PRECACHE__"];
var STATIC = "twinning-static-" + VERSION;
var PAGES = "twinning-pages-" + VERSION;
var FORM = "/activities/new";

importScripts(PRECACHE.filter(function (u) { return u.indexOf("/static/offline.js") === 0; })[0] || "/static/offline.js");

self.addEventListener("install", function (ev) {
  ev.waitUntil(caches.open(STATIC).then(function (c) { return c.addAll(PRECACHE); }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (ev) {
  ev.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("twinning-") === 0 && k !== STATIC && k !== PAGES; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function offlinePage() {
  var u = PRECACHE.filter(function (x) { return x.indexOf("/static/offline.html") === 0; })[0];
  return caches.match(u).then(function (r) { return r || new Response("offline", { status: 503, headers: { "Content-Type": "text/plain" } }); });
}

// keep stores the log form's page: a full 200 page, not a redirect to the
// sign-in page
function keep(res) {
  if (!res || res.status !== 200 || res.redirected || res.type !== "basic") return Promise.resolve();
  return caches.open(PAGES).then(function (c) { return c.put(FORM, res); });
}

var lastWarm = 0;
function warm() {
  if (Date.now() - lastWarm < 5 * 60 * 1000) return Promise.resolve();
  lastWarm = Date.now();
  return fetch(FORM, { credentials: "same-origin", redirect: "follow" }).then(keep, function () { lastWarm = 0; });
}

function tellPages() {
  return self.clients.matchAll({ type: "window" }).then(function (cs) { cs.forEach(function (c) { c.postMessage({ type: "queue" }); }); });
}

self.addEventListener("message", function (ev) {
  var d = ev.data || {};
  if (d.type === "warm") ev.waitUntil(warm());
  if (d.type === "forget") { lastWarm = 0; ev.waitUntil(caches.delete(PAGES)); }
});

// the form's submission failed on the network: queue it, show the form
function queueForm(req) {
  return req.clone().formData().then(function (fd) {
    return self.TwinningQueue.getMeta().then(function (m) {
      if (!m.user) throw new Error("no user");
      var f = {};
      self.TwinningQueue.FIELDS.forEach(function (n) { f[n] = fd.get(n) || ""; });
      return self.TwinningQueue.enqueue(m.user, fd.get("idem") || self.TwinningQueue.newKey(), f, "", fd.getAll("evidence"));
    });
  }).then(function () {
    tellPages();
    if (self.registration.sync) self.registration.sync.register("twinning-queue").catch(function () {});
    return Response.redirect(FORM + "?queued=1", 303);
  });
}

self.addEventListener("fetch", function (ev) {
  var req = ev.request;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.method === "POST" && url.pathname === FORM) {
    ev.respondWith(fetch(req.clone()).catch(function (err) {
      return queueForm(req).catch(function () { throw err; });
    }));
    return;
  }
  if (req.method !== "GET") return;
  if (url.pathname.indexOf("/static/") === 0) {
    // an address without its version (offline.html's stylesheet) falls
    // back to the cached version when the network fails
    ev.respondWith(caches.match(req).then(function (hit) {
      return hit || fetch(req).catch(function (err) {
        return caches.match(req, { ignoreSearch: true }).then(function (old) { if (old) return old; throw err; });
      });
    }));
    return;
  }
  if (req.mode !== "navigate") return; // the API, fragments, files: the network only
  ev.respondWith(fetch(req).then(function (res) {
    if (url.pathname === FORM && !url.search) ev.waitUntil(keep(res.clone()));
    return res;
  }, function () {
    if (url.pathname === FORM) {
      return caches.open(PAGES).then(function (c) { return c.match(FORM); }).then(function (hit) { return hit || offlinePage(); });
    }
    return offlinePage();
  }));
});

// Background Sync: send the queue when the network returns, even with
// no page open
self.addEventListener("sync", function (ev) {
  if (ev.tag !== "twinning-queue") return;
  ev.waitUntil(self.TwinningQueue.getMeta().then(function (m) {
    return self.TwinningQueue.flush(m, true);
  }).then(function (r) {
    tellPages();
    if (r && r.error) throw new Error("retry later"); // the browser retries the sync
  }));
});
