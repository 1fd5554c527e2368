// imagegate console: small SVG charts, drawn here (no chart library, no external service).
//
// Every chart is a <figure> holding an <svg role="img"> with a <title> and a <desc>, a legend
// when there are several series, and a <details> with the same numbers as a table (the
// accessible fallback, and what a screen reader or a copy-paste wants). Charts redraw to the
// width they are given (ResizeObserver), so text stays readable on a phone.
//
//   barChart({ title, labels, series: [{ name, values }], format, stacked })
//   lineChart({ title, labels, series: [{ name, values }], format })
//   hBarChart({ title, items: [{ label, value }], format })
//   dataTable({ caption, columns: [{ label, value(row), num }], rows })
//
// Colours come from admin.css (.chart-s0 … .chart-s7); nothing here sets a style attribute.

import { h } from '../ui.js';

const SVG = 'http://www.w3.org/2000/svg';
const SERIES_CLASSES = 8;
let chartSeq = 0;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function tip(text) {
  return s('title', {}, text);
}

// A "nice" axis: 0 … max in 3–6 steps of 1, 2, 2.5 or 5 × 10^k.
export function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { max: 1, step: 0.25 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  const step = (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
  return { max: Math.ceil(max / step - 1e-9) * step, step };
}

// Short numbers for axis ticks: 1200 -> 1.2k, 2500000 -> 2.5M, 0.25 -> 0.25.
export function shortNumber(v) {
  const a = Math.abs(v);
  const trim = (x) => String(Number(x.toFixed(2)));
  if (a >= 1e9) return trim(v / 1e9) + 'G';
  if (a >= 1e6) return trim(v / 1e6) + 'M';
  if (a >= 1e4) return trim(v / 1e3) + 'k';
  return trim(v);
}

function legend(series) {
  if (series.length < 2) return null;
  return h('ul', { class: 'chart-legend', 'aria-hidden': 'true' },
    series.map((se, i) => h('li', null,
      h('span', { class: ['chart-swatch', 'chart-s' + (i % SERIES_CLASSES)] }), se.name)));
}

// Wraps a drawing function in a responsive figure with a data-table fallback.
function figure({ title, desc, testid, draw, table, minWidth = 280 }) {
  const id = 'chart' + (++chartSeq);
  const box = h('div', { class: 'chart-box' });
  let lastWidth = 0;
  const render = (width) => {
    const w = Math.max(minWidth, Math.floor(width || 640));
    if (w === lastWidth) return;
    lastWidth = w;
    const svg = draw(w);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-labelledby', `${id}-t ${id}-d`);
    svg.setAttribute('class', 'chart-svg');
    svg.insertBefore(s('desc', { id: `${id}-d` }, desc || ''), svg.firstChild);
    svg.insertBefore(s('title', { id: `${id}-t` }, title), svg.firstChild);
    box.replaceChildren(svg);
  };
  render(640);
  if (typeof ResizeObserver === 'function') {
    const ro = new ResizeObserver((entries) => {
      if (!box.isConnected) { ro.disconnect(); return; }
      for (const e of entries) render(e.contentRect.width);
    });
    ro.observe(box);
  }
  return h('figure', { class: 'chart', 'data-testid': testid },
    h('figcaption', { class: 'chart-title' }, title),
    box,
    table ? h('details', { class: 'chart-data' }, h('summary', null, 'Show the numbers'), table) : null);
}

function axisLabelsEvery(count, plotWidth, minPx = 44) {
  const per = plotWidth / Math.max(1, count);
  return Math.max(1, Math.ceil(minPx / per));
}

// Vertical bars per label; several series are stacked (or side by side with stacked:false).
export function barChart({ title, labels, series, format = shortNumber, stacked = true,
  height = 220, testid, desc, unit = '', xLabel = 'day' }) {
  const totals = labels.map((_, i) => series.reduce((a, se) => a + (Number(se.values[i]) || 0), 0));
  const peak = stacked ? Math.max(0, ...totals)
    : Math.max(0, ...series.flatMap((se) => se.values.map((v) => Number(v) || 0)));
  const scale = niceScale(peak);
  const draw = (W) => {
    const m = { top: 10, right: 8, bottom: 28, left: 46 };
    const pw = W - m.left - m.right;
    const ph = height - m.top - m.bottom;
    const y = (v) => m.top + ph - (v / scale.max) * ph;
    const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, width: W, height });
    const grid = s('g', { class: 'chart-grid' });
    for (let v = 0; v <= scale.max + 1e-9; v += scale.step) {
      grid.append(
        s('line', { x1: m.left, x2: W - m.right, y1: y(v), y2: y(v) }),
        s('text', { x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'chart-tick' }, shortNumber(v)));
    }
    svg.append(grid);
    const band = pw / Math.max(1, labels.length);
    const barW = Math.max(1, Math.min(band * 0.72, stacked ? 56 : 40 * series.length));
    const bars = s('g', { class: 'chart-bars' });
    labels.forEach((label, i) => {
      const x0 = m.left + i * band + (band - barW) / 2;
      let acc = 0;
      series.forEach((se, k) => {
        const v = Number(se.values[i]) || 0;
        if (v <= 0) return;
        let x = x0, w = barW, top, bottom;
        if (stacked) {
          bottom = y(acc); acc += v; top = y(acc);
        } else {
          w = barW / series.length; x = x0 + k * w; bottom = y(0); top = y(v);
        }
        const name = series.length > 1 ? `${se.name}: ` : '';
        bars.append(s('rect', {
          x: x.toFixed(1), y: top.toFixed(1), width: Math.max(1, w - (stacked ? 0 : 1)).toFixed(1),
          height: Math.max(0.5, bottom - top).toFixed(1), class: 'chart-s' + (k % SERIES_CLASSES),
        }, tip(`${label} · ${name}${format(v)}${unit}`)));
      });
    });
    svg.append(bars);
    const every = axisLabelsEvery(labels.length, pw);
    const xa = s('g', { class: 'chart-axis' },
      s('line', { x1: m.left, x2: W - m.right, y1: y(0), y2: y(0) }));
    labels.forEach((label, i) => {
      if (i % every !== 0) return;
      xa.append(s('text', { x: (m.left + i * band + band / 2).toFixed(1), y: height - 8,
        'text-anchor': 'middle', class: 'chart-tick' }, fit(shortLabel(label), band * every), tip(String(label))));
    });
    svg.append(xa);
    return svg;
  };
  const fig = figure({ title, testid, draw, desc: desc || summary(labels, series, format, unit),
    table: seriesTable(title, labels, series, format, xLabel) });
  const lg = legend(series);
  if (lg) fig.insertBefore(lg, fig.querySelector('.chart-data'));
  return fig;
}

// One line per series, a dot per point (each with its value as a tooltip).
export function lineChart({ title, labels, series, format = shortNumber, height = 220, testid,
  desc, unit = '', xLabel = 'day' }) {
  const peak = Math.max(0, ...series.flatMap((se) => se.values.map((v) => Number(v) || 0)));
  const scale = niceScale(peak);
  const draw = (W) => {
    const m = { top: 10, right: 12, bottom: 28, left: 46 };
    const pw = W - m.left - m.right;
    const ph = height - m.top - m.bottom;
    const y = (v) => m.top + ph - (v / scale.max) * ph;
    const x = (i) => m.left + (labels.length < 2 ? pw / 2 : (i / (labels.length - 1)) * pw);
    const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, width: W, height });
    const grid = s('g', { class: 'chart-grid' });
    for (let v = 0; v <= scale.max + 1e-9; v += scale.step) {
      grid.append(
        s('line', { x1: m.left, x2: W - m.right, y1: y(v), y2: y(v) }),
        s('text', { x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'chart-tick' }, shortNumber(v)));
    }
    svg.append(grid);
    series.forEach((se, k) => {
      const cls = 'chart-s' + (k % SERIES_CLASSES);
      const pts = se.values.map((v, i) => `${x(i).toFixed(1)},${y(Number(v) || 0).toFixed(1)}`);
      const g = s('g', { class: 'chart-line ' + cls },
        s('polyline', { points: pts.join(' '), fill: 'none' }));
      se.values.forEach((v, i) => {
        g.append(s('circle', { cx: x(i).toFixed(1), cy: y(Number(v) || 0).toFixed(1), r: 3 },
          tip(`${labels[i]} · ${series.length > 1 ? se.name + ': ' : ''}${format(Number(v) || 0)}${unit}`)));
      });
      svg.append(g);
    });
    const every = axisLabelsEvery(labels.length, pw);
    const xa = s('g', { class: 'chart-axis' },
      s('line', { x1: m.left, x2: W - m.right, y1: y(0), y2: y(0) }));
    labels.forEach((label, i) => {
      if (i % every !== 0) return;
      xa.append(s('text', { x: x(i).toFixed(1), y: height - 8, 'text-anchor': 'middle',
        class: 'chart-tick' }, shortLabel(label)));
    });
    svg.append(xa);
    return svg;
  };
  const fig = figure({ title, testid, draw, desc: desc || summary(labels, series, format, unit),
    table: seriesTable(title, labels, series, format, xLabel) });
  const lg = legend(series);
  if (lg) fig.insertBefore(lg, fig.querySelector('.chart-data'));
  return fig;
}

// Horizontal bars, one per item, labelled with their value (for totals per key, model, route).
export function hBarChart({ title, items, format = shortNumber, testid, desc, unit = '',
  valueLabel = 'value' }) {
  const peak = Math.max(0, ...items.map((it) => Number(it.value) || 0));
  const scale = niceScale(peak);
  const row = 24;
  const draw = (W) => {
    const labelW = Math.min(180, Math.max(80, Math.floor(W * 0.3)));
    const m = { top: 6, right: 64, bottom: 6, left: labelW + 8 };
    const height = m.top + m.bottom + Math.max(1, items.length) * row;
    const pw = W - m.left - m.right;
    const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, width: W, height });
    items.forEach((it, i) => {
      const v = Number(it.value) || 0;
      const yy = m.top + i * row;
      const w = scale.max > 0 ? (v / scale.max) * pw : 0;
      const maxChars = Math.floor(labelW / 7);
      const lab = String(it.label);
      svg.append(
        s('text', { x: labelW, y: yy + row / 2 + 4, 'text-anchor': 'end', class: 'chart-label' },
          lab.length > maxChars ? lab.slice(0, maxChars - 1) + '…' : lab, tip(lab)),
        s('rect', { x: m.left, y: yy + 4, width: Math.max(v > 0 ? 1 : 0, w).toFixed(1), height: row - 8,
          class: 'chart-s' + ((it.series ?? 0) % SERIES_CLASSES) }, tip(`${lab}: ${format(v)}${unit}`)),
        s('text', { x: (m.left + w + 4).toFixed(1), y: yy + row / 2 + 4, class: 'chart-value' },
          format(v) + unit));
    });
    return svg;
  };
  const table = dataTable({
    caption: title,
    columns: [{ label: 'name', value: (r) => r.label }, { label: valueLabel, value: (r) => format(Number(r.value) || 0) + unit, num: true }],
    rows: items,
  });
  return figure({ title, testid, draw, table,
    desc: desc || items.map((it) => `${it.label}: ${format(Number(it.value) || 0)}${unit}`).join('; ') });
}

// A plain table; columns: [{ label, value(row) -> string|Node, num (right-aligned), nowrap }].
export function dataTable({ caption, columns, rows, testid, rowAttrs, empty = 'Nothing here.' }) {
  if (!rows.length) return h('p', { class: 'empty', 'data-testid': testid }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'data-table', 'data-testid': testid },
      caption ? h('caption', null, caption) : null,
      h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
      h('tbody', null, rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : null,
        columns.map((c) => h('td', { class: [c.num ? 'num' : null, c.nowrap ? 'nowrap' : null], 'data-label': c.label }, c.value(r))))))));
}

function seriesTable(caption, labels, series, format, xLabel = 'day') {
  const rows = labels.map((l, i) => ({ l, i }));
  const cols = [{ label: xLabel, value: (r) => r.l }];
  for (const se of series) cols.push({ label: se.name, value: (r) => format(Number(se.values[r.i]) || 0), num: true });
  if (series.length > 1) {
    cols.push({ label: 'total', num: true,
      value: (r) => format(series.reduce((a, se) => a + (Number(se.values[r.i]) || 0), 0)) });
  }
  return dataTable({ caption, columns: cols, rows });
}

function summary(labels, series, format, unit) {
  const total = series.reduce((a, se) => a + se.values.reduce((b, v) => b + (Number(v) || 0), 0), 0);
  let best = -1, bestV = -Infinity;
  labels.forEach((_, i) => {
    const v = series.reduce((a, se) => a + (Number(se.values[i]) || 0), 0);
    if (v > bestV) { bestV = v; best = i; }
  });
  if (!labels.length) return 'No data.';
  return `${labels.length} points from ${labels[0]} to ${labels[labels.length - 1]}; total ${format(total)}${unit}` +
    (best >= 0 ? `; highest ${format(bestV)}${unit} on ${labels[best]}` : '');
}

// Cuts a label to about the pixels it has (7 px a character at the tick size).
function fit(text, px) {
  const max = Math.max(3, Math.floor(px / 7));
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

// "2026-12-02" -> "12-02" on the axis (the table keeps the full day).
function shortLabel(label) {
  const m = /^\d{4}-(\d{2}-\d{2})$/.exec(String(label));
  return m ? m[1] : String(label);
}
