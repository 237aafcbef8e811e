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
    if (!input || input.type !== "file" || !input.dataset.maxBytes) return;
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
        var note = document.getElementById("draft-restored");
        if (note) note.hidden = false;
      } catch (e) { /* a damaged draft is ignored */ }
    }
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
  document.addEventListener("change", function (ev) {
    var input = ev.target;
    if (!input || input.type !== "file" || !input.dataset.resize || !window.DataTransfer || input.dataset.resizing) return;
    if (input.dataset.resized) { delete input.dataset.resized; return; } // our own change event below
    var files = Array.prototype.slice.call(input.files || []);
    if (!files.length) return;
    input.dataset.resizing = "1";
    var status = document.getElementById(input.id + "-status");
    if (status) { status.hidden = false; status.textContent = status.dataset.working; }
    Promise.all(files.map(resize)).then(function (out) {
      var dt = new DataTransfer();
      out.forEach(function (f) { dt.items.add(f); });
      input.files = dt.files;
      delete input.dataset.resizing;
      var total = out.reduce(function (n, f) { return n + f.size; }, 0);
      if (status) status.textContent = status.dataset.ready.replace("{n}", out.length).replace("{kb}", Math.round(total / 1024));
      input.dataset.resized = "1";
      input.dispatchEvent(new Event("change", { bubbles: true })); // the size check sees the resized files
    });
  });

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
