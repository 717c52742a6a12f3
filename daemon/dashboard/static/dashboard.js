// The dashboard's own script: the alerts banner (GET /v1/alerts) on every page, and on the
// overview the figures and the uPlot charts of GET /v1/analytics. No build step: plain ES2017.
(function () {
  "use strict";

  var REFRESH_MS = 10000;

  function text(el, value) { if (el) { el.textContent = value; } }
  function pct(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(1) + " %"; }
  function secs(x) {
    if (x === null || x === undefined) { return "–"; }
    return x < 1 ? (1000 * x).toFixed(0) + " ms" : x < 120 ? x.toFixed(1) + " s" : (x / 60).toFixed(1) + " min";
  }

  // -- alerts banner -----------------------------------------------------------------
  function showAlerts(box, answer) {
    box.replaceChildren();
    if (answer.state !== "ok") {
      box.dataset.state = "unavailable";
      var note = document.createElement("p");
      note.className = "alerts-note";
      note.textContent = answer.state === "missing"
        ? "Alerts unavailable: this daemon does not serve /v1/alerts."
        : "Alerts unavailable: " + answer.detail;
      box.appendChild(note);
      return;
    }
    var items = answer.body.items || [];
    box.dataset.state = items.length ? "firing" : "quiet";
    items.forEach(function (a) {
      var p = document.createElement("p");
      p.className = "alert alert-" + a.severity;
      p.dataset.alert = a.name;
      var strong = document.createElement("strong");
      strong.textContent = a.severity + ": " + a.name;
      p.appendChild(strong);
      p.appendChild(document.createTextNode(" " + a.summary + ", since " +
        new Date(a.since * 1000).toLocaleTimeString()));
      box.appendChild(p);
    });
  }

  async function getJson(url) {
    try {
      var response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.status === 404) { return { state: "missing" }; }
      var body = await response.json().catch(function () { return null; });
      if (!response.ok) {
        return { state: "error", detail: (body && body.detail) || response.status + " " + response.statusText };
      }
      return { state: "ok", body: body };
    } catch (err) {
      return { state: "error", detail: String(err) };
    }
  }

  function watchAlerts() {
    var box = document.getElementById("alerts");
    if (!box) { return; }
    var tick = async function () { showAlerts(box, await getJson("/v1/alerts")); };
    tick();
    setInterval(tick, REFRESH_MS);
  }

  // -- overview: figures and charts ---------------------------------------------------
  var PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2"];
  var charts = {};

  function sumSeries(map, length) {
    var out = new Array(length).fill(0);
    Object.keys(map || {}).forEach(function (k) {
      (map[k] || []).forEach(function (v, i) { out[i] += v || 0; });
    });
    return out;
  }

  function cumulative(values) {
    var total = 0;
    return values.map(function (v) { total += v || 0; return total; });
  }

  // gaps: a series with nulls (a latency in a bucket without handler calls) is drawn
  // across them, with its points shown, so that a lone measured bucket is visible.
  function draw(id, labels, data, gaps) {
    var el = document.getElementById(id);
    if (!el || typeof uPlot === "undefined") { return; }
    if (charts[id]) { charts[id].setData(data); return; }
    var series = [{}].concat(labels.map(function (label, i) {
      var line = { label: label, stroke: PALETTE[i % PALETTE.length], width: 1.5 };
      if (gaps) { line.spanGaps = true; line.points = { show: true, size: 5 }; }
      return line;
    }));
    charts[id] = new uPlot({
      width: Math.max(280, el.clientWidth || 480),
      height: 200,
      series: series,
      scales: { x: { time: true } },
      axes: [{}, { size: 56 }],
      legend: { live: false }
    }, data, el);
  }

  function fillFigures(f) {
    var q = function (name) { return document.querySelector('[data-figure="' + name + '"]'); };
    text(q("retry_rate"), pct(f.retry_rate));
    text(q("attempts"), f.retries + " retries of " + f.attempts + " attempts");
    text(q("early"), pct(f.early.rate));
    text(q("early_n"), f.early.succeeded + " of " + f.early.attempts);
    text(q("revise"), pct(f.revise.rate));
    text(q("revise_n"), f.revise.succeeded + " of " + f.revise.attempts);
    var t = f.time_to_success;
    text(q("tts"), secs(t.p50) + " / " + secs(t.p90) + " / " + secs(t.p99));
    text(q("tts_n"), t.count + " recovered");
    text(q("dead"), String(f.dead_letters.filed));
    text(q("dead_rate"), f.dead_letters.per_hour.toFixed(1) + " per hour");
    var list = q("top_errors");
    if (list) {
      list.replaceChildren();
      (f.top_errors || []).forEach(function (e) {
        var li = document.createElement("li");
        li.textContent = e.error_type + " × " + e.count;
        list.appendChild(li);
      });
      if (!f.top_errors || !f.top_errors.length) { text(list, "none"); }
    }
  }

  function showReport(section, report) {
    var xs = report.buckets;
    var t = report.total;
    var n = xs.length;
    var published = t.published.reduce(function (a, b) { return a + b; }, 0);
    text(document.getElementById("analytics-note"),
      published > 0 ? "" : "No messages in this range yet.");
    fillFigures(report.figures);
    draw("chart-rates", ["published", "handled", "failed"], [xs, t.published, t.handled, t.failed]);
    draw("chart-retries", ["base", "early", "revise"],
      [xs, t.retries.base || [], t.retries.early || [], t.retries.revise || []]);
    draw("chart-dead", ["dead letters"], [xs, cumulative(sumSeries(t.dead_letters, n))]);
    draw("chart-latency", ["p99", "p50"], [xs,
      t.latency_p99.map(function (v) { return v === null ? null : 1000 * v; }),
      t.latency_p50.map(function (v) { return v === null ? null : 1000 * v; })], true);
    // Last, so that a test waiting for "ready" finds the figures and charts drawn.
    section.dataset.points = String(n);
    section.dataset.published = String(published);
    section.dataset.state = published > 0 ? "ready" : "empty";
  }

  function watchAnalytics() {
    var section = document.getElementById("analytics");
    if (!section) { return; }
    var range = Number(section.dataset.rangeSeconds || 3600);
    var tick = async function () {
      var until = Date.now() / 1000;
      var answer = await getJson("/v1/analytics?since=" + (until - range).toFixed(0) + "&until=" + until.toFixed(3));
      if (answer.state === "ok") {
        showReport(section, answer.body);
        return;
      }
      section.dataset.state = answer.state === "missing" ? "unavailable" : "error";
      text(document.getElementById("analytics-note"), answer.state === "missing"
        ? "No data: this daemon does not serve /v1/analytics."
        : "No data: " + answer.detail);
    };
    tick();
    setInterval(tick, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    watchAlerts();
    watchAnalytics();
  });
})();
