/* The audit dashboard: reads /v1/audit/* and draws it (see charts.js for the plots).
 *
 * Filters (model, version, span, window) apply to every section. The page marks its
 * state on <body>: data-loading is "true" while a refresh runs, data-loads counts the
 * refreshes finished, and data-error holds the last error.
 */
(function () {
  "use strict";

  const C = window.UpwellCharts;
  const $ = (id) => document.getElementById(id);
  const state = { summary: null, quality: null, drift: null, predictions: [], loads: 0 };
  const DRIFT_WARN = { psi: [0.1, 0.25], ks_statistic: [0.1, 0.2], js_distance: [0.1, 0.2], missing_rate: [0.01, 0.05], out_of_range_rate: [0.01, 0.05] };

  function apiKey() {
    return sessionStorage.getItem("upwell-api-key") || "";
  }

  async function get(path, params) {
    const url = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== "" && v !== null && v !== undefined) url.searchParams.set(k, v);
    }
    const headers = apiKey() ? { "X-API-Key": apiKey() } : {};
    const response = await fetch(url, { headers: headers });
    if (response.status === 401 || response.status === 403) {
      $("key-label").hidden = false;
      throw new Error("this server needs an API key with the features:read scope");
    }
    const body = await response.json();
    if (!response.ok) {
      const e = body.error || {};
      throw new Error(`${e.what || response.statusText}${e.fix ? " — " + e.fix : ""}`);
    }
    return body;
  }

  function cell(row, content, className) {
    const td = document.createElement(row.parentElement && row.parentElement.tagName === "THEAD" ? "th" : "td");
    td.textContent = content === null || content === undefined ? "–" : String(content);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function table(node, headers, rows) {
    node.textContent = "";
    const head = node.createTHead().insertRow();
    headers.forEach((h) => cell(head, h));
    const body = node.createTBody();
    rows.forEach((values) => {
      const tr = body.insertRow();
      values.forEach((v) => cell(tr, v));
    });
    return body;
  }

  const num = (v) => C.formatNumber(v);
  const when = (ms) => (ms === null || ms === undefined ? "–" : new Date(ms).toISOString().slice(0, 19).replace("T", " "));

  function filters() {
    return { model: $("model-filter").value, version: $("version-filter").value, span: $("span-filter").value };
  }

  function fillFilters(summary) {
    const models = [...new Set(summary.versions.map((v) => v.model))];
    const modelSelect = $("model-filter");
    const keepModel = modelSelect.value;
    modelSelect.innerHTML = "";
    models.forEach((m) => modelSelect.add(new Option(m, m)));
    if (models.includes(keepModel)) modelSelect.value = keepModel;
    const versionSelect = $("version-filter");
    const keepVersion = versionSelect.value;
    versionSelect.innerHTML = "";
    versionSelect.add(new Option("all", ""));
    summary.versions.filter((v) => v.model === modelSelect.value).forEach((v) => {
      versionSelect.add(new Option(`version ${v.version}`, String(v.version)));
    });
    if ([...versionSelect.options].some((o) => o.value === keepVersion)) versionSelect.value = keepVersion;
  }

  function renderStats(summary) {
    const s = summary.stats;
    const items = [
      ["accepted", s.accepted], ["written", s.written], ["buffered", s.buffered],
      ["dropped (buffer full)", s.dropped], ["failed", s.failed], ["recovered on open", s.recovered],
      ["buffer capacity", s.capacity], ["labels from", summary.labels || "–"], ["alerts firing", summary.firing],
    ];
    const dl = $("log-stats");
    dl.textContent = "";
    for (const [name, value] of items) {
      const box = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = name;
      dd.textContent = typeof value === "number" ? value.toLocaleString("en") : value;
      dd.dataset.stat = name.split(" ")[0];
      box.append(dt, dd);
      dl.appendChild(box);
    }
  }

  function renderTraffic(traffic) {
    const label = (s) => `${s.model} v${s.version}`;
    C.lineChart($("throughput-chart"), {
      time: true, yMin: 0, label: "predictions per window",
      series: traffic.series.map((s) => ({ name: label(s), points: s.points.map((p) => [p.end_ms, p.predictions]) })),
    });
    const latency = [];
    traffic.series.forEach((s, i) => {
      const color = C.COLORS[i % C.COLORS.length];
      latency.push({ name: `${label(s)} p50`, color: color, points: s.points.map((p) => [p.end_ms, p.latency_p50_us]) });
      latency.push({ name: `${label(s)} p99`, color: color, dashed: true, points: s.points.map((p) => [p.end_ms, p.latency_p99_us]) });
    });
    C.lineChart($("latency-chart"), { time: true, yMin: 0, series: latency, label: "latency" });
  }

  function metricOf(report, metric) {
    if (metric === "card_precision") return report.card_precision ? report.card_precision.mean : null;
    if (metric === "ece") return report.calibration ? report.calibration.ece : null;
    if (metric === "score_mean") return report.scores ? report.scores.mean : null;
    return report[metric];
  }

  function byVersion(reports) {
    const groups = new Map();
    reports.forEach((r) => {
      if (!groups.has(r.version)) groups.set(r.version, []);
      groups.get(r.version).push(r);
    });
    return groups;
  }

  function renderQuality() {
    const q = state.quality;
    const counts = new Map((state.summary ? state.summary.versions : []).map((v) => [`${v.model}/${v.version}`, v.predictions]));
    table($("versions-table"),
      ["version", "logged", "in span", "labelled", "positives", "AUC ROC", "avg precision", "card precision@k", "Brier", "ECE"],
      q.overall.map((r) => [r.version, counts.get(`${q.model}/${r.version}`), r.predictions, r.labelled, r.positives,
        num(r.auc_roc), num(r.average_precision), num(r.card_precision ? r.card_precision.mean : null), num(r.brier),
        num(r.calibration ? r.calibration.ece : null)]));
    const metric = $("quality-metric").value;
    $("quality-caption").textContent = `${$("quality-metric").selectedOptions[0].text} per window (labels known now)`;
    const series = [...byVersion(q.reports)].map(([version, reports]) => ({
      name: `v${version}`, points: reports.map((r) => [r.window.end_ms, metricOf(r, metric)]),
    }));
    C.lineChart($("quality-chart"), { time: true, series: series, label: "quality" });
    const calibration = [{ name: "ideal", dashed: true, markers: false, hideInLegend: true, color: "#9ca3af", points: [[0, 0], [1, 1]] }];
    q.overall.forEach((r, i) => {
      if (!r.calibration) return;
      const c = r.calibration;
      const points = c.counts.map((n, j) => [c.mean_score[j], n > 0 ? c.positive_rate[j] : null]).filter((p) => p[0] !== null);
      calibration.push({ name: `v${r.version}`, color: C.COLORS[i % C.COLORS.length], points: points });
    });
    C.lineChart($("calibration-chart"), { series: calibration, yMin: 0, yMax: 1, width: 360, label: "calibration" });
    const scored = q.overall.find((r) => r.scores) || { scores: { edges: [], counts: [] } };
    C.histogram($("score-chart"), { edges: scored.scores.edges, counts: scored.scores.counts, label: "scores" });
  }

  function latestDrift(reports) {
    const last = Math.max(...reports.map((r) => r.window.end_ms));
    return reports.filter((r) => r.window.end_ms === last);
  }

  function renderDrift() {
    const d = state.drift;
    const metric = $("drift-metric").value;
    $("drift-note").textContent = d.without_reference.length
      ? `No training reference for version(s) ${d.without_reference.join(", ")}: register them with training_set= to watch drift.`
      : "";
    const latest = d.reports.length ? latestDrift(d.reports) : [];
    const body = table($("drift-table"),
      ["feature", "version", "values", "PSI", "KS", "JS", "missing", "out of range", "freshness (s)"],
      latest.map((r) => [r.column, r.version, r.n, num(r.psi), num(r.ks_statistic), num(r.js_distance),
        num(r.missing_rate), num(r.out_of_range_rate), r.freshness_ms === null ? "–" : num(r.freshness_ms / 1000)]));
    latest.forEach((r, i) => {
      const row = body.rows[i];
      row.dataset.column = r.column;
      [["psi", 3], ["ks_statistic", 4], ["js_distance", 5], ["missing_rate", 6], ["out_of_range_rate", 7]].forEach(([m, at]) => {
        const [warn, bad] = DRIFT_WARN[m];
        if (r[m] !== null && r[m] > bad) row.cells[at].className = "bad";
        else if (r[m] !== null && r[m] > warn) row.cells[at].className = "warn";
      });
    });
    const box = $("drift-charts");
    box.textContent = "";
    const columns = [...new Set(d.reports.map((r) => r.column))];
    columns.forEach((column) => {
      const figure = document.createElement("figure");
      figure.dataset.column = column;
      const caption = document.createElement("figcaption");
      caption.textContent = column;
      const plot = document.createElement("div");
      plot.className = "chart small";
      figure.append(caption, plot);
      box.appendChild(figure);
      const series = [...byVersion(d.reports.filter((r) => r.column === column))].map(([version, rs]) => ({
        name: `v${version}`, points: rs.map((r) => [r.window.end_ms, r[metric]]),
      }));
      C.lineChart(plot, { time: true, yMin: 0, width: 300, height: 150, series: series, threshold: DRIFT_WARN[metric][1], label: `${metric} of ${column}` });
    });
  }

  function renderAlerts(alerts) {
    $("firing").textContent = alerts.firing.length
      ? `Firing now: ${alerts.firing.map((a) => `${a.rule} (${a.model} v${a.version}${a.column ? ", " + a.column : ""})`).join("; ")}`
      : "No alert is firing.";
    const body = table($("alerts-table"),
      ["window end", "rule", "event", "metric", "model", "version", "column", "value", "threshold"],
      alerts.events.slice(0, 200).map((a) => [when(a.ts_ms), a.rule, a.kind, a.metric, a.model, a.version, a.column, num(a.value), num(a.threshold)]));
    [...body.rows].forEach((row, i) => { row.className = alerts.events[i].kind; });
  }

  function renderPredictions(answer) {
    state.predictions = answer.predictions;
    const body = table($("predictions-table"),
      ["time", "request", "version", "route", "score", "decision", "latency (µs)"],
      answer.predictions.map((p) => [when(p.ts_ms), p.request_id, p.version, p.route, p.score.toFixed(4), p.decision, num(p.latency_us)]));
    [...body.rows].forEach((row, i) => {
      row.dataset.version = String(answer.predictions[i].version);
      row.dataset.requestId = answer.predictions[i].request_id;
      row.tabIndex = 0;
      row.addEventListener("click", () => explain(i));
    });
    if (answer.predictions.length) explain(0);
  }

  function explain(index) {
    const p = state.predictions[index];
    [...$("predictions-table").tBodies[0].rows].forEach((row, i) => row.classList.toggle("selected", i === index));
    const entries = Object.entries(p.explanation || {});
    const shown = entries.length ? entries : Object.entries(p.features || {});
    $("explanation-caption").textContent = entries.length
      ? `Feature contributions of ${p.request_id} (score ${num(p.score)})`
      : `Features of ${p.request_id} (no explanation stored: score with explain=true)`;
    const bars = shown.filter(([, v]) => v !== null).map(([label, value]) => ({ label: label, value: value }));
    bars.sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
    C.barChart($("explanation-chart"), { bars: bars, label: "explanation" });
    $("explanation").dataset.kind = entries.length ? "contributions" : "features";
  }

  async function refresh() {
    document.body.dataset.loading = "true";
    $("status").textContent = "Loading…";
    try {
      state.summary = await get("/v1/audit/summary");
      fillFilters(state.summary);
      renderStats(state.summary);
      const f = filters();
      const window = $("window-filter").value;
      const [traffic, quality, drift, alerts, predictions] = await Promise.all([
        get("/v1/audit/traffic", Object.assign({ bucket: window }, f)),
        get("/v1/audit/quality", Object.assign({ window: window }, f)),
        get("/v1/audit/drift", Object.assign({ window: window }, f)),
        get("/v1/audit/alerts"),
        get("/v1/audit/predictions", Object.assign({ limit: 50 }, f)),
      ]);
      renderTraffic(traffic);
      state.quality = quality;
      renderQuality();
      state.drift = drift;
      renderDrift();
      renderAlerts(alerts);
      renderPredictions(predictions);
      $("status").textContent = `Event time ${when(quality.start_ms)} to ${when(quality.end_ms)} UTC`;
      delete document.body.dataset.error;
    } catch (error) {
      $("status").textContent = `Error: ${error.message}`;
      document.body.dataset.error = error.message;
    } finally {
      state.loads += 1;
      document.body.dataset.loads = String(state.loads);
      document.body.dataset.loading = "false";
    }
  }

  $("api-key").addEventListener("change", (e) => { sessionStorage.setItem("upwell-api-key", e.target.value); refresh(); });
  ["model-filter", "version-filter", "span-filter", "window-filter"].forEach((id) => $(id).addEventListener("change", refresh));
  $("quality-metric").addEventListener("change", () => state.quality && renderQuality());
  $("drift-metric").addEventListener("change", () => state.drift && renderDrift());
  $("refresh").addEventListener("click", refresh);
  refresh();
})();
