// Twinning offline (issue 10): the queue of activities logged without a
// network, and the page side of the installable app. Loaded by every page
// (defer) and by the service worker (importScripts), which shares the
// queue part: IndexedDB is the same for both.
//
// A queued activity is the log form's own fields plus its idempotency key
// (the form's hidden "idem"); it is sent to POST /activities/queued, which
// reads it exactly as the form's submission, so a submission that reached
// the server before the network dropped and its queued retry are one
// activity. 201 (new or replayed) removes it; 422/409 keeps it, marked for
// correction, never retried on its own; a network error or a 5xx is retried
// with backoff (page load, the online event, a timer, Background Sync).
(function (self) {
  "use strict";
  var DB = "twinning-offline", STORE = "queue", META = "meta";

  function open() {
    return new Promise(function (done, fail) {
      var req = self.indexedDB.open(DB, 1);
      req.onupgradeneeded = function () {
        var db = req.result;
        db.createObjectStore(STORE, { keyPath: "key" });
        db.createObjectStore(META);
      };
      req.onsuccess = function () { done(req.result); };
      req.onerror = function () { fail(req.error); };
    });
  }
  // tx runs fn on a store and resolves with what fn's last request gave
  function tx(store, mode, fn) {
    return open().then(function (db) {
      return new Promise(function (done, fail) {
        var t = db.transaction(store, mode), out;
        var r = fn(t.objectStore(store));
        if (r) r.onsuccess = function () { out = r.result; };
        t.oncomplete = function () { db.close(); done(out); };
        t.onerror = t.onabort = function () { db.close(); fail(t.error); };
      });
    });
  }
  function all() { return tx(STORE, "readonly", function (s) { return s.getAll(); }).then(function (l) { return l || []; }); }
  function put(item) { return tx(STORE, "readwrite", function (s) { return s.put(item); }); }
  function remove(key) { return tx(STORE, "readwrite", function (s) { return s.delete(key); }); }
  function getMeta() { return tx(META, "readonly", function (s) { return s.get("session"); }).then(function (m) { return m || {}; }); }
  function setMeta(m) { return tx(META, "readwrite", function (s) { return s.put(m, "session"); }); }

  function newKey() {
    if (self.crypto && self.crypto.randomUUID) return self.crypto.randomUUID();
    var b = new Uint8Array(16);
    self.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  var FIELDS = ["pair_id", "category", "occurred_on", "title", "hours", "persons", "location", "description"];

  // enqueue keeps one activity: fields as the form holds them (strings)
  // and, optionally, its chosen files (File objects: IndexedDB stores
  // them as they are; photos are already shrunk by app.js)
  // and the staged uploads it claims (upload_id tokens of files sent
  // before the network went)
  function enqueue(user, key, fields, label, files, uploads) {
    var f = {};
    FIELDS.forEach(function (n) { f[n] = fields[n] == null ? "" : String(fields[n]); });
    files = (files || []).filter(function (x) { return x && typeof x !== "string" && x.size > 0; });
    uploads = (uploads || []).filter(function (x) { return typeof x === "string" && x !== ""; });
    return put({ key: key, user: String(user), fields: f, files: files, uploads: uploads, label: label || "", created: Date.now(), attempts: 0, next: 0, state: "waiting" });
  }

  // flush sends the user's waiting activities, oldest first, and stops at
  // the first network failure (the network is still down). It resolves
  // with {sent, failed, signin, retryIn}. Concurrent flushes (two tabs, the
  // worker) are harmless: the idempotency key makes a duplicate a replay;
  // a lock only saves the requests.
  function flush(session, force) {
    if (!session || !session.user || !session.token) return Promise.resolve({ sent: 0 });
    var run = function () { return flushNow(session, force); };
    if (self.navigator && self.navigator.locks) return self.navigator.locks.request("twinning-queue", run);
    return run();
  }
  function backoff(n) { return Math.min(600000, 5000 * Math.pow(2, Math.min(n, 7))); }
  function flushNow(session, force) {
    var out = { sent: 0, failed: 0, signin: false, retryIn: 0 };
    return all().then(function (items) {
      items = items.filter(function (i) { return i.user === String(session.user) && i.state === "waiting"; })
        .sort(function (a, b) { return a.created - b.created; });
      var now = Date.now();
      var step = function (k) {
        if (k >= items.length) return out;
        var item = items[k];
        if (!force && item.next > now) { out.retryIn = out.retryIn ? Math.min(out.retryIn, item.next - now) : item.next - now; return step(k + 1); }
        // the form's fields (url-encoded, or multipart with its files)
        var files = item.files || [];
        var body = files.length ? new FormData() : new URLSearchParams();
        FIELDS.forEach(function (n) { body.append(n, item.fields[n]); });
        body.append("idem", item.key);
        (item.uploads || []).forEach(function (u) { body.append("upload_id", u); });
        files.forEach(function (f) { body.append("evidence", f, f.name); });
        return fetch("/activities/queued", {
          method: "POST", body: body, credentials: "same-origin", redirect: "manual", cache: "no-store",
          headers: { "X-CSRF-Token": session.token, "Idempotency-Key": item.key, "Accept": "application/json" },
        }).then(function (res) {
          if (res.status === 201) { out.sent++; return remove(item.key).then(function () { return step(k + 1); }); }
          // refused (bad input, a used key, a file too large): kept for
          // the user to correct, never sent again on its own
          if (res.status === 422 || res.status === 409 || res.status === 400 || res.status === 413) {
            return res.json().catch(function () { return {}; }).then(function (ans) {
              // (a 413 from the body limit is an error page, not JSON)
              item.state = "invalid"; item.error = { message: ans.message || "HTTP " + res.status, fields: ans.fields || {} };
              out.failed++;
              return put(item).then(function () { return step(k + 1); });
            });
          }
          // signed out (the session expired, the stale form's redirect to
          // the sign-in page) or a stale token: wait for a signed-in page
          if (res.type === "opaqueredirect" || res.status === 401 || res.status === 403) { out.signin = true; return out; }
          throw new Error("status " + res.status); // 5xx, 408, 429: try later
        });
      };
      return Promise.resolve(step(0)).catch(function () {
        // the network failed (or the server): try again later, the same key
        return all().then(function (now2) {
          var waiting = now2.filter(function (i) { return i.user === String(session.user) && i.state === "waiting"; });
          return Promise.all(waiting.map(function (i) { i.attempts++; i.next = Date.now() + backoff(i.attempts); return put(i); }));
        }).then(function () { out.retryIn = backoff(1); out.error = true; return out; });
      });
    });
  }

  self.TwinningQueue = { all: all, put: put, remove: remove, enqueue: enqueue, flush: flush, getMeta: getMeta, setMeta: setMeta, newKey: newKey, FIELDS: FIELDS };

  if (typeof document === "undefined") return; // in the service worker: the queue is all it needs

  // ---- the page side ----
  var userMeta = document.querySelector('meta[name="twinning-user"]');
  var user = userMeta ? userMeta.content : "";
  var csrf = document.querySelector('input[name="_csrf"]');
  var session = { user: user, token: csrf ? csrf.value : "" };
  var idb = !!self.indexedDB;

  // the worker: registered from every page; it forgets the cached log
  // form when no one is signed in (a shared phone)
  if ("serviceWorker" in navigator && self.isSecureContext) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () {
      return navigator.serviceWorker.ready.then(function (r) {
        var w = r.active;
        if (!w) return;
        // a coordinator's page keeps the log form in the cache, so it
        // opens offline even if it was never opened online
        if (!user) w.postMessage({ type: "forget" });
        else if (document.querySelector('a[href="/activities/new"]')) w.postMessage({ type: "warm" });
      });
    }).catch(function () { /* no worker: the pages work as before */ });
  }
  if (!idb) return;
  // the worker's Background Sync sends with the newest page's session
  setMeta(session).catch(function () {});

  var status = document.getElementById("queue-status");
  var badge = document.getElementById("queue-count");
  var form = document.querySelector('form[data-draft="/activities/new"]');

  function say(el, tmpl, n) { if (el) el.textContent = (tmpl || "").replace("{n}", n); }

  function show() {
    return all().then(function (items) {
      var mine = items.filter(function (i) { return i.user === String(user); });
      var waiting = mine.filter(function (i) { return i.state === "waiting"; });
      var invalid = mine.filter(function (i) { return i.state === "invalid"; });
      if (badge) {
        badge.hidden = mine.length === 0;
        badge.textContent = String(mine.length);
      }
      // "kept on the phone" is true only while something waits
      var kept = document.getElementById("queue-kept");
      if (kept && !waiting.length) kept.hidden = true;
      if (!status) return;
      status.hidden = mine.length === 0 && !status.dataset.sentCount;
      var p = status.querySelector(".queue-waiting");
      if (p) { p.hidden = waiting.length === 0; say(p, status.dataset.waiting, waiting.length); }
      var s = status.querySelector(".queue-sent");
      if (s) { s.hidden = !status.dataset.sentCount; say(s, status.dataset.sent, status.dataset.sentCount || 0); }
      var list = status.querySelector(".queue-invalid");
      if (!list) return;
      list.textContent = "";
      invalid.forEach(function (i) {
        var li = document.createElement("li");
        var t = document.createElement("strong");
        t.textContent = (i.fields.occurred_on || "") + " " + (i.fields.title || "");
        li.appendChild(t);
        var why = document.createElement("p");
        why.className = "field-error";
        var msgs = [i.error && i.error.message].concat(Object.keys((i.error && i.error.fields) || {}).map(function (k) { return i.error.fields[k]; }));
        why.textContent = msgs.filter(Boolean).join(" ");
        li.appendChild(why);
        var fix = document.createElement("button");
        fix.type = "button"; fix.className = "quiet"; fix.textContent = status.dataset.fix;
        fix.addEventListener("click", function () { correct(i); });
        var drop = document.createElement("button");
        drop.type = "button"; drop.className = "quiet"; drop.textContent = status.dataset.drop;
        drop.addEventListener("click", function () { remove(i.key).then(show); });
        li.appendChild(fix); li.appendChild(drop);
        list.appendChild(li);
      });
    }).catch(function () {});
  }

  // correct puts a refused activity back into the form (it was never
  // recorded, so it leaves the queue; the form sends it afresh)
  function correct(item) {
    if (!form) return;
    FIELDS.forEach(function (n) { var el = form.elements[n]; if (el) el.value = item.fields[n]; });
    if (form.elements.idem) form.elements.idem.value = newKey();
    var input = form.elements.evidence;
    // staged files it claimed go back as the form's upload ids
    (item.uploads || []).forEach(function (u) {
      var h = document.createElement("input");
      h.type = "hidden"; h.name = "upload_id"; h.value = u;
      form.appendChild(h);
    });
    if (input && item.files && item.files.length && window.DataTransfer) {
      var dt = new DataTransfer();
      item.files.forEach(function (f) { dt.items.add(f); });
      input.files = dt.files;
    }
    remove(item.key).then(show);
    form.scrollIntoView();
  }

  var timer = 0;
  function send(force) {
    if (!user || !session.token) return Promise.resolve();
    return flush(session, force).then(function (r) {
      if (r.sent && status) status.dataset.sentCount = String((parseInt(status.dataset.sentCount || "0", 10)) + r.sent);
      clearTimeout(timer);
      if (r.retryIn) timer = setTimeout(function () { send(false); }, r.retryIn);
      return show();
    }, function () { return show(); });
  }

  if (form) {
    // a fresh form gets a key of its own (a form served from the cache
    // would otherwise carry the cached copy's key) and today's date as its
    // limit
    if (form.dataset.fresh === "true" && form.elements.idem) form.elements.idem.value = newKey();
    // without a network the activity waits on the phone
    document.addEventListener("submit", function (ev) {
      // (a form app.js holds back while its photos shrink or upload is
      // sent again by it when they are ready)
      if (ev.target !== form || ev.defaultPrevented) return;
      if (navigator.onLine === false) {
        ev.preventDefault();
        ev.stopImmediatePropagation();
        keep();
        return;
      }
      // online: a submission with files goes past the worker (which would
      // hide its upload progress; if its answer is lost, app.js sends the
      // form again with the same key); one without files is kept by the
      // worker if its answer is lost
      var input = form.elements.evidence;
      var u = new URL(form.getAttribute("action"), location.href);
      if (input && input.files && input.files.length) u.searchParams.set("files", "1");
      else u.searchParams.delete("files");
      form.setAttribute("action", u.pathname + u.search);
    }, true);
  }
  function keep() {
    var f = {};
    FIELDS.forEach(function (n) { var el = form.elements[n]; f[n] = el ? el.value : ""; });
    var pair = form.elements.pair_id;
    var label = pair && pair.selectedIndex >= 0 ? pair.options[pair.selectedIndex].text : "";
    var key = (form.elements.idem && form.elements.idem.value) || newKey();
    var input = form.elements.evidence;
    var files = input && input.files ? Array.prototype.slice.call(input.files) : [];
    var uploads = Array.prototype.map.call(form.querySelectorAll('input[name="upload_id"]:checked, input[type="hidden"][name="upload_id"]'), function (el) { return el.value; });
    return enqueue(user, key, f, label, files, uploads).then(function () {
      try { localStorage.removeItem("twinning.draft./activities/new"); } catch (e) { /* nothing kept */ }
      form.reset();
      // the staged files now belong to the kept activity
      Array.prototype.forEach.call(form.querySelectorAll('input[name="upload_id"]'), function (el) {
        var li = el.closest("li.staged-file");
        (li || el).remove();
      });
      if (form.elements.idem) form.elements.idem.value = newKey();
      var note = document.getElementById("queue-kept");
      if (note) { note.hidden = false; note.focus && note.focus(); }
      if ("serviceWorker" in navigator && navigator.serviceWorker.ready) {
        navigator.serviceWorker.ready.then(function (r) { if (r.sync) return r.sync.register("twinning-queue"); }).catch(function () {});
      }
      return show();
    });
  }

  // the worker tells the pages when it queued or sent something
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", function (ev) {
      if (ev.data && ev.data.type === "queue") show();
    });
  }
  // without a network a chosen file is not staged: app.js shrinks it and
  // keeps it in the form's file input, where keep() above finds it
  // without a network, the log form's live notes are not asked for
  document.addEventListener("htmx:beforeRequest", function (ev) { if (navigator.onLine === false) ev.preventDefault(); });
  var q = /[?&]queued=1\b/.test(location.search);
  if (q) { var kept = document.getElementById("queue-kept"); if (kept) kept.hidden = false; }
  window.addEventListener("online", function () { send(true); });
  show().then(function () { if (navigator.onLine !== false) send(true); });
})(typeof self !== "undefined" ? self : this);
