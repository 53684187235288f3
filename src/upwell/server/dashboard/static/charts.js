/* Hand-drawn SVG plots for the audit dashboard: lines over time, bars, histograms.
 *
 * No library and no network: each function empties a container and draws one <svg>.
 * Every plot says what it drew in data attributes (data-points on the <svg> and on each
 * series' <path>, data-bars on bar charts), which the browser tests read.
 */
(function () {
  "use strict";

  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
  const MARGIN = { left: 58, right: 14, top: 22, bottom: 34 };

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) {
      node.setAttribute(key, String(value));
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, content, attrs) {
    const node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    node.textContent = content;
    return node;
  }

  function ticks(min, max, count) {
    if (!(max > min)) return [min];
    const raw = (max - min) / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(v);
    return out;
  }

  const HOUR = 3600000;
  const TIME_STEPS = [60000, 300000, 900000, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 168 * HOUR, 336 * HOUR, 720 * HOUR];

  /* Ticks on whole minutes, hours or UTC days. */
  function timeTicks(min, max, count) {
    const raw = (max - min) / count;
    const step = TIME_STEPS.find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(min / step) * step; v <= max; v += step) out.push(v);
    return out;
  }

  function formatNumber(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
    if (Number.isInteger(v)) return String(v);
    return v.toFixed(a >= 100 ? 0 : a >= 1 ? 2 : 3);
  }

  function formatTime(ms, spanMs) {
    const iso = new Date(ms).toISOString();
    return spanMs > 3 * 86400000 ? iso.slice(5, 10) : iso.slice(5, 16).replace("T", " ");
  }

  function frame(container, width, height, label) {
    container.textContent = "";
    return el("svg", {
      viewBox: `0 0 ${width} ${height}`, width: width, height: height,
      class: "plot", role: "img", "aria-label": label || "plot",
    }, container);
  }

  function empty(svg, width, height) {
    svg.dataset.points = "0";
    text(svg, width / 2, height / 2, "no data", { class: "empty", "text-anchor": "middle" });
    return svg;
  }

  /* Lines over x (epoch ms when options.time): series = [{name, points: [[x, y]], dashed}]. */
  function lineChart(container, options) {
    const width = options.width || 520;
    const height = options.height || 230;
    const svg = frame(container, width, height, options.label);
    const series = options.series.filter((s) => s.points.length);
    const present = series.flatMap((s) => s.points.filter((p) => p[1] !== null && Number.isFinite(p[1])));
    svg.dataset.series = String(series.length);
    if (!present.length) return empty(svg, width, height);
    svg.dataset.points = String(present.length);
    const xs = present.map((p) => p[0]);
    const ys = present.map((p) => p[1]);
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    let y0 = options.yMin !== undefined ? Math.min(options.yMin, ...ys) : Math.min(...ys);
    let y1 = options.yMax !== undefined ? Math.max(options.yMax, ...ys) : Math.max(...ys);
    if (options.threshold !== undefined) { y0 = Math.min(y0, options.threshold); y1 = Math.max(y1, options.threshold); }
    if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    const w = width - MARGIN.left - MARGIN.right;
    const h = height - MARGIN.top - MARGIN.bottom;
    const sx = (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * w;
    const sy = (y) => MARGIN.top + h - ((y - y0) / (y1 - y0)) * h;
    const axes = el("g", { class: "axes" }, svg);
    for (const t of ticks(y0, y1, 5)) {
      el("line", { x1: MARGIN.left, x2: MARGIN.left + w, y1: sy(t), y2: sy(t), class: "grid" }, axes);
      text(axes, MARGIN.left - 6, sy(t) + 4, formatNumber(t), { "text-anchor": "end" });
    }
    for (const t of options.time ? timeTicks(x0, x1, 5) : ticks(x0, x1, 5)) {
      el("line", { x1: sx(t), x2: sx(t), y1: MARGIN.top + h, y2: MARGIN.top + h + 4, class: "tick" }, axes);
      const label = options.time ? formatTime(t, x1 - x0) : formatNumber(t);
      text(axes, sx(t), MARGIN.top + h + 16, label, { "text-anchor": "middle" });
    }
    el("line", { x1: MARGIN.left, x2: MARGIN.left + w, y1: MARGIN.top + h, y2: MARGIN.top + h, class: "axis" }, axes);
    if (options.threshold !== undefined) {
      el("line", { x1: MARGIN.left, x2: MARGIN.left + w, y1: sy(options.threshold), y2: sy(options.threshold), class: "threshold" }, svg);
    }
    series.forEach((s, i) => drawSeries(svg, s, s.color || COLORS[i % COLORS.length], sx, sy, options));
    legend(svg, series);
    return svg;
  }

  function drawSeries(svg, s, color, sx, sy, options) {
    let d = "";
    let pen = false;
    let count = 0;
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y)) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
      pen = true;
      count += 1;
    }
    const group = el("g", { class: "series", "data-series": s.name }, svg);
    const path = el("path", { d: d, stroke: color, fill: "none", class: "line", "data-points": count }, group);
    if (s.dashed) path.setAttribute("stroke-dasharray", "5 4");
    if (s.markers === false || count > 160) return;
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y)) continue;
      const dot = el("circle", { cx: sx(x), cy: sy(y), r: s.radius || 2.6, fill: color, class: "point" }, group);
      const label = options.time ? new Date(x).toISOString().slice(0, 16).replace("T", " ") : formatNumber(x);
      el("title", {}, dot).textContent = `${s.name}: ${formatNumber(y)} at ${label}`;
    }
  }

  /* One row of named colours above the plot area (inside the top margin). */
  function legend(svg, series) {
    const named = series.filter((s) => s.name && !s.hideInLegend);
    if (named.length < 2) return;
    const group = el("g", { class: "legend" }, svg);
    let x = MARGIN.left;
    named.forEach((s) => {
      const color = s.color || COLORS[series.indexOf(s) % COLORS.length];
      const swatch = el("line", { x1: x, x2: x + 14, y1: 8, y2: 8, stroke: color, "stroke-width": 3 }, group);
      if (s.dashed) swatch.setAttribute("stroke-dasharray", "4 2");
      text(group, x + 18, 12, s.name);
      x += 26 + 6.2 * s.name.length;
    });
  }

  /* Horizontal bars from zero: [{label, value}], positive red, negative blue. */
  function barChart(container, options) {
    const bars = options.bars;
    const width = options.width || 520;
    const row = 18;
    const height = Math.max(60, bars.length * row + 30);
    const svg = frame(container, width, height, options.label);
    svg.dataset.bars = String(bars.length);
    if (!bars.length) return empty(svg, width, height);
    const left = 230;
    const w = width - left - 70;
    const lo = Math.min(0, ...bars.map((b) => b.value));
    const hi = Math.max(0, ...bars.map((b) => b.value));
    const span = hi - lo || 1;
    const sx = (v) => left + ((v - lo) / span) * w;
    el("line", { x1: sx(0), x2: sx(0), y1: 6, y2: height - 18, class: "axis" }, svg);
    bars.forEach((b, i) => {
      const y = 10 + i * row;
      text(svg, left - 6, y + 11, b.label, { "text-anchor": "end", class: "bar-label" });
      const x = Math.min(sx(0), sx(b.value));
      el("rect", {
        x: x, y: y, width: Math.max(1, Math.abs(sx(b.value) - sx(0))), height: row - 5,
        class: b.value >= 0 ? "bar up" : "bar down", "data-value": b.value,
      }, svg);
      text(svg, Math.max(sx(0), sx(b.value)) + 4, y + 11, formatNumber(b.value), { class: "bar-value" });
    });
    return svg;
  }

  /* Vertical bars of a histogram: edges (n + 1) and counts (n). */
  function histogram(container, options) {
    const width = options.width || 360;
    const height = options.height || 200;
    const svg = frame(container, width, height, options.label);
    const counts = options.counts || [];
    svg.dataset.bars = String(counts.length);
    if (!counts.length || !counts.some((c) => c > 0)) return empty(svg, width, height);
    const w = width - MARGIN.left - MARGIN.right;
    const h = height - MARGIN.top - MARGIN.bottom;
    const top = Math.max(...counts);
    const bw = w / counts.length;
    counts.forEach((c, i) => {
      const bh = (c / top) * h;
      const rect = el("rect", { x: MARGIN.left + i * bw + 1, y: MARGIN.top + h - bh, width: Math.max(1, bw - 2), height: bh, class: "bar hist" }, svg);
      el("title", {}, rect).textContent = `${formatNumber(options.edges[i])}–${formatNumber(options.edges[i + 1])}: ${c}`;
    });
    el("line", { x1: MARGIN.left, x2: MARGIN.left + w, y1: MARGIN.top + h, y2: MARGIN.top + h, class: "axis" }, svg);
    const edges = options.edges;
    [0, Math.floor(counts.length / 2), counts.length].forEach((i) => {
      text(svg, MARGIN.left + i * bw, MARGIN.top + h + 16, formatNumber(edges[i]), { "text-anchor": "middle" });
    });
    text(svg, MARGIN.left - 6, MARGIN.top + 10, formatNumber(top), { "text-anchor": "end" });
    return svg;
  }

  window.UpwellCharts = { lineChart, barChart, histogram, formatNumber, formatTime, COLORS };
})();
