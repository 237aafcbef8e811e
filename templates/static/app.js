// Twinning pages: small progressive enhancements; every page works
// without this file. No inline scripts (the CSP is default-src 'self').
(function () {
  "use strict";

  // confirm before irreversible posts (withdraw)
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (f && f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) {
      ev.preventDefault();
    }
  }, true);

  // refuse a too-large evidence file before uploading it
  document.addEventListener("change", function (ev) {
    var input = ev.target;
    if (!input || input.type !== "file" || !input.dataset.maxBytes || input.dataset.stage) return; // staged: checked after shrinking
    var max = parseInt(input.dataset.maxBytes, 10);
    var file = null; // the first file over the limit (several may be chosen)
    for (var i = 0; input.files && i < input.files.length; i++) {
      if (max && input.files[i].size > max) { file = input.files[i]; break; }
    }
    var msgId = input.id + "-client-error";
    var old = document.getElementById(msgId);
    if (old) old.remove();
    if (file) {
      var p = document.createElement("p");
      p.className = "field-error";
      p.id = msgId;
      p.textContent = input.dataset.tooLarge;
      input.setAttribute("aria-invalid", "true");
      input.insertAdjacentElement("afterend", p);
      input.value = "";
    } else {
      input.removeAttribute("aria-invalid");
    }
  });

  // htmx sends the CSRF token of the page's forms as a header too
  document.addEventListener("htmx:configRequest", function (ev) {
    var t = document.querySelector('input[name="_csrf"]');
    if (t) ev.detail.headers["X-CSRF-Token"] = t.value;
  });

  // dashboard charts: data from <script type="application/json" class="chart-data">
  // in the page, or in a fragment htmx swaps in (the trend)
  var made = [];
  function charts(root) {
    if (!window.echarts) return;
    var data = {};
    root.querySelectorAll("script.chart-data").forEach(function (holder) {
      try { Object.assign(data, JSON.parse(holder.textContent)); } catch (e) { /* no charts */ }
    });
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.ready) return;
      el.dataset.ready = "1";
      var c = data[el.dataset.chart];
      if (!c || !c.labels || c.labels.length === 0) { el.hidden = true; return; }
      if (c.kind === "bar") el.style.height = Math.max(200, c.labels.length * 30 + 70) + "px";
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(options(c));
      if (c.links) {
        chart.on("click", function (p) {
          var link = c.links[p.dataIndex];
          if (link) window.location.href = link;
        });
      }
      made.push(chart);
    });
  }
  window.addEventListener("resize", function () { made.forEach(function (m) { m.resize(); }); });
  document.addEventListener("htmx:load", function (ev) { charts(ev.detail.elt); });

  function options(c) {
    var base = {
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0, type: "scroll" },
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
    };
    if (c.kind === "line") {
      base.grid = { left: 40, right: 16, top: 40, bottom: 30, containLabel: true };
      base.xAxis = { type: "category", data: c.labels };
      base.yAxis = { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } };
      base.series = c.series.map(function (s) {
        return { name: s.name, type: "line", data: s.data, color: s.color, symbolSize: 8, label: { show: true, formatter: "{c}%" } };
      });
      return base;
    }
    base.grid = { left: 8, right: 16, top: 40, bottom: 8, containLabel: true };
    base.xAxis = { type: "value", minInterval: 1 };
    base.yAxis = { type: "category", data: c.labels, inverse: true, axisLabel: { width: 110, overflow: "truncate" } };
    base.tooltip.axisPointer = { type: "shadow" };
    base.series = c.series.map(function (s) {
      return { name: s.name, type: "bar", stack: "all", data: s.data, color: s.color, cursor: c.links ? "pointer" : "default" };
    });
    return base;
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { charts(document); });
  } else {
    charts(document);
  }
  // phone (issue 10): staged uploads. Each chosen file is shrunk (resize
  // below) and uploaded at once to /uploads with its own progress bar; the
  // form then sends the files' ids (upload_id), not the files, so a refused
  // form, a reload or signing in again keeps them (the draft holds the
  // ids). Without XMLHttpRequest the files go with the form as before.
  var stagedList = document.getElementById("staged-files");
  var uploading = 0, waiting = null; // uploads under way; a form sent meanwhile
  function csrfToken() {
    var t = document.querySelector('input[name="_csrf"]');
    return t ? t.value : "";
  }
  function kb(n) { return Math.max(1, Math.round(n / 1024)) + " KB"; }
  function stagedFiles() {
    if (!stagedList) return [];
    var ticked = Array.prototype.filter.call(stagedList.querySelectorAll("li[data-upload]"), function (li) {
      var box = li.querySelector('input[name="upload_id"]');
      return box && box.checked;
    });
    return ticked.map(function (li) {
      return { id: li.dataset.upload, name: li.dataset.name, size: parseInt(li.dataset.size, 10) || 0 };
    });
  }
  function touched() { // the draft follows the list
    var f = stagedList && stagedList.closest("form");
    if (f) f.dispatchEvent(new Event("change"));
  }
  function chip(up) {
    var li = document.createElement("li");
    li.className = "staged-file";
    li.dataset.name = up.name;
    li.dataset.size = up.size || 0;
    var label = document.createElement("label");
    var box = document.createElement("input");
    box.type = "checkbox"; box.name = "upload_id"; box.checked = true;
    if (up.id) { box.value = up.id; li.dataset.upload = up.id; } else { box.disabled = true; }
    var name = document.createElement("span");
    name.className = "file-name"; name.textContent = up.name;
    var size = document.createElement("span");
    size.className = "muted"; size.textContent = up.size ? kb(up.size) : "";
    label.append(box, " ", name, " ", size);
    li.appendChild(label);
    stagedList.appendChild(li);
    removable(li);
    return li;
  }
  function removable(li) { // a remove button per chip, the server's too
    var b = document.createElement("button");
    b.type = "button"; b.className = "file-remove"; b.textContent = "×";
    b.setAttribute("aria-label", stagedList.dataset.remove + " " + li.dataset.name);
    b.addEventListener("click", function () {
      var id = li.dataset.upload;
      if (li.xhr) li.xhr.abort();
      li.remove();
      touched();
      if (id) { // the staged file goes too (the daily clean-up would take it)
        var x = new XMLHttpRequest();
        x.open("POST", "/uploads/" + encodeURIComponent(id) + "/delete");
        x.setRequestHeader("X-CSRF-Token", csrfToken());
        x.send();
      }
    });
    li.appendChild(b);
  }
  // keepWithForm leaves files in the input, to be sent with the form (the
  // server stages them) or kept by the offline queue (offline.js reads the
  // input), when they cannot be uploaded now.
  function keepWithForm(input, files) {
    if (!window.DataTransfer) return;
    input.kept = (input.kept || []).concat(files);
    var dt = new DataTransfer();
    input.kept.forEach(function (f) { dt.items.add(f); });
    input.files = dt.files;
    var status = document.getElementById(input.id + "-status");
    if (status) {
      var total = input.kept.reduce(function (n, f) { return n + f.size; }, 0);
      status.hidden = false;
      status.textContent = status.dataset.ready.replace("{n}", input.kept.length).replace("{kb}", Math.round(total / 1024));
    }
  }
  function stage(input, file) {
    var li = chip({ name: file.name, size: file.size });
    li.classList.add("uploading");
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    var note = document.createElement("span");
    note.className = "file-note"; note.textContent = stagedList.dataset.uploading;
    li.append(bar, note);
    uploading++;
    var done = false;
    function finish() {
      if (done) return;
      done = true; li.xhr = null; uploading--;
      if (uploading === 0 && waiting) {
        var f = waiting; waiting = null;
        if (f.requestSubmit) f.requestSubmit(); else f.submit();
      }
    }
    function fail(msg) {
      li.classList.remove("uploading"); li.classList.add("failed");
      bar.remove(); note.textContent = msg;
      finish();
    }
    resize(file).then(function (f) {
      if (!li.isConnected) return finish();
      var max = parseInt(input.dataset.maxBytes, 10);
      if (max && f.size > max) return fail(input.dataset.tooLarge); // never leaves the phone
      li.dataset.name = f.name; li.dataset.size = f.size;
      li.querySelector(".file-name").textContent = f.name;
      li.querySelector(".muted").textContent = kb(f.size);
      var fd = new FormData();
      fd.append("file", f, f.name);
      var xhr = new XMLHttpRequest();
      li.xhr = xhr;
      xhr.open("POST", input.dataset.stage);
      xhr.setRequestHeader("X-CSRF-Token", csrfToken());
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
      xhr.onload = function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* an HTML page: signed out */ }
        if (xhr.status === 201 && body && body.id) {
          li.dataset.upload = body.id;
          var box = li.querySelector("input");
          box.value = body.id; box.disabled = false;
          li.classList.remove("uploading");
          bar.remove(); note.remove();
          touched();
          return finish();
        }
        if (xhr.status === 401 || xhr.status === 403 || /\/login/.test(xhr.responseURL || "")) return fail(stagedList.dataset.signedOut);
        if (xhr.status === 413) return fail(input.dataset.tooLarge);
        if (xhr.status === 422) return fail(stagedList.dataset.badType);
        fail(stagedList.dataset.failed);
      };
      xhr.onerror = function () { // no network: the file goes with the form (or its offline queue)
        li.remove();
        keepWithForm(input, [f]);
        finish();
      };
      xhr.onabort = finish;
      xhr.send(fd);
    });
  }
  if (stagedList) {
    Array.prototype.forEach.call(stagedList.querySelectorAll("li[data-upload]"), removable);
    document.addEventListener("change", function (ev) {
      var input = ev.target;
      if (!input || input.type !== "file" || !input.dataset.stage || !window.FormData || !window.XMLHttpRequest) return;
      var files = Array.prototype.slice.call(input.files || []);
      if (navigator.onLine === false && window.DataTransfer) {
        // offline: shrunk and kept in the input, for the offline queue
        input.files = new DataTransfer().files;
        // a form sent while they shrink waits for them, as for an upload
        uploading++;
        Promise.all(files.map(resize)).then(function (out) {
          keepWithForm(input, out);
          uploading--;
          if (uploading === 0 && waiting) {
            var f = waiting; waiting = null;
            if (f.requestSubmit) f.requestSubmit(); else f.submit();
          }
        });
        return;
      }
      input.value = ""; // the files go now, not with the form
      (input.kept || []).forEach(function (f) { stage(input, f); }); // kept while offline
      input.kept = [];
      files.forEach(function (f) { stage(input, f); });
    });
    // a form sent while files are still uploading waits for them
    document.addEventListener("submit", function (ev) {
      if (ev.defaultPrevented || uploading === 0 || !ev.target.contains(stagedList)) return;
      ev.preventDefault();
      ev.stopPropagation();
      waiting = ev.target;
      var st = document.getElementById("evidence-hint");
      if (st) st.textContent = stagedList.dataset.waiting;
    }, true);
  }

  // phone (issue 10): the log and amend forms keep a draft on the phone as
  // the user types (localStorage, per form action), restore it when the
  // form opens empty (after a session expiry and sign-in, a reload, a lost
  // network), and drop it once the form is submitted.
  (function () {
    var form = document.querySelector("form[data-draft]");
    if (!form || !window.localStorage) return;
    var key = "twinning.draft." + form.dataset.draft;
    var fields = ["pair_id", "category", "occurred_on", "title", "hours", "persons", "location", "description"];
    function save() {
      var d = {};
      fields.forEach(function (n) { var el = form.elements[n]; if (el) d[n] = el.value; });
      d.uploads = stagedFiles(); // the staged files' ids, names and sizes
      try { localStorage.setItem(key, JSON.stringify(d)); } catch (e) { /* full or private mode */ }
    }
    var raw = null;
    try { raw = localStorage.getItem(key); } catch (e) { /* private mode */ }
    // restore only into an untouched form: a 422 re-render holds what was sent
    var fresh = form.dataset.fresh === "true";
    if (raw && fresh) {
      try {
        var d = JSON.parse(raw);
        fields.forEach(function (n) {
          var el = form.elements[n];
          if (el && d[n] !== undefined && d[n] !== "") el.value = d[n];
        });
        (d.uploads || []).forEach(function (u) { if (u.id && stagedList && !stagedList.querySelector('[data-upload="' + u.id + '"]')) chip(u); });
        var note = document.getElementById("draft-restored");
        if (note) note.hidden = false;
      } catch (e) { /* a damaged draft is ignored */ }
    }
    if (!fresh) save(); // a refused form holds what was sent: keep it across a reload
    form.addEventListener("input", save);
    form.addEventListener("change", save);
    form.addEventListener("submit", function () {
      try { localStorage.removeItem(key); } catch (e) { /* nothing kept */ }
    });
  })();
  // phone (issue 10): photos are resized on the phone before they leave
  // it (longest side 1600 px, JPEG), so a 4000×3000 photo sends a few
  // hundred KB instead of several MB; PDFs and small images go as they are.
  // Without canvas or DataTransfer the originals are sent (the server's
  // limit still applies).
  var MAX_SIDE = 1600;
  function resize(file) {
    return new Promise(function (done) {
      if (!/^image\/(jpeg|png|webp)$/.test(file.type) || !window.createImageBitmap) return done(file);
      createImageBitmap(file).then(function (img) {
        var w = img.width, h = img.height;
        if (Math.max(w, h) <= MAX_SIDE && file.size < 400 * 1024) return done(file);
        var k = Math.min(1, MAX_SIDE / Math.max(w, h));
        var c = document.createElement("canvas");
        c.width = Math.round(w * k); c.height = Math.round(h * k);
        c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
        c.toBlob(function (blob) {
          if (!blob) return done(file);
          var name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
          done(new File([blob], name, { type: "image/jpeg", lastModified: file.lastModified }));
        }, "image/jpeg", 0.82);
      }, function () { done(file); });
    });
  }
  // phone (issue 10): a form with files is sent with a progress bar
  // (XMLHttpRequest reports upload progress; fetch does not), then the
  // answer replaces the page as a normal submission would.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (ev.defaultPrevented || !form || !form.dataset.progress || !window.FormData || !window.XMLHttpRequest) return;
    var bar = document.getElementById(form.dataset.progress);
    if (!bar) return;
    ev.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    bar.hidden = false; bar.value = 0;
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
    xhr.onload = function () {
      var url = xhr.responseURL || form.action;
      if (xhr.status < 400 || xhr.status === 422) {
        if (url !== location.href) history.replaceState(null, "", url);
        document.open(); document.write(xhr.responseText); document.close();
      } else {
        form.submit(); // let the browser show the server's error page
      }
    };
    xhr.onerror = function () { bar.hidden = true; form.submit(); };
    xhr.send(new FormData(form));
  });
})();
