// Dashboard on a phone and on paper (issue 10). Loaded only by the
// dashboard, after echarts; app.js draws the charts, this adjusts them:
// - the trend's term names wrap under their points on a narrow screen
//   (every one shown, none rotated or overlapping);
// - the heat map's scroll hint shows only while the table is wider than
//   its card;
// - before printing, charts are redrawn at the paper's width, and after it
//   at the screen's.
(function () {
  "use strict";
  function each(fn) {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) fn(chart, el);
    });
  }
  function fitLabels() {
    each(function (chart, el) {
      if (el.dataset.chart !== "trend") return;
      var opt = chart.getOption();
      var n = (opt.xAxis && opt.xAxis[0] && opt.xAxis[0].data || []).length;
      if (!n) return;
      // a phone: every term named, wrapped to its share of the plot's width
      var slot = (el.clientWidth - 70) / n;
      var narrow = el.clientWidth < 640;
      chart.setOption({
        xAxis: { axisLabel: narrow ? { interval: 0, width: Math.max(40, slot - 6), overflow: "break", lineHeight: 15, hideOverlap: false } : { interval: "auto", width: null, overflow: "none" } },
        grid: { bottom: narrow ? 44 : 30 },
      });
    });
  }
  function hints() {
    document.querySelectorAll("[data-scroll-hint]").forEach(function (hint) {
      var box = document.getElementById(hint.dataset.scrollHint);
      if (box) hint.hidden = box.scrollWidth <= box.clientWidth + 1;
    });
  }
  function later() { setTimeout(function () { fitLabels(); hints(); }, 0); }
  document.addEventListener("htmx:load", later);
  window.addEventListener("resize", later);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", later);
  else later();
  window.addEventListener("load", later);

  // paper: A4 less the page margins (app.css, print) and a card's
  // padding, at 96 px to the inch
  var PAPER = 660;
  window.addEventListener("beforeprint", function () {
    each(function (chart) { chart.resize({ width: PAPER, height: 280 }); });
    fitLabels();
  });
  window.addEventListener("afterprint", function () { each(function (chart) { chart.resize(); }); fitLabels(); });
})();
