// imagegate console: usage (#/usage).
//
// Charts per UTC day of tasks created, images and credits (of the tasks that succeeded), from
// GET /admin/v1/usage (admin: all keys or one, grouped by key or model) or GET /v1/usage (a
// key: its own, grouped by model). For admins also each provider route's requests, errors,
// p50/p95 latency and breaker state (GET /admin/v1/providers). Charts: ./charts.js (SVG).

import { call } from '../api.js';
import { h, clear, errorBox, field, fmtCredits, fmtTime, loading, stateBadge } from '../ui.js';
import { barChart, lineChart, hBarChart, dataTable, shortNumber } from './charts.js';
import { addDays } from './tasks.js';

const METRICS = [
  { key: 'tasks', label: 'Tasks created', unit: '', fmt: shortNumber },
  { key: 'images', label: 'Images (succeeded tasks)', unit: '', fmt: shortNumber },
  { key: 'credits', label: 'Credits (succeeded tasks)', unit: '', fmt: (v) => fmtCredits(Math.round(v * 1e6) / 1e6) },
];
const MAX_SERIES = 7;      // the rest is summed as "other"
const MAX_DAYS = 366;
const WINDOWS = [['3600', 'last hour'], ['86400', 'last 24 hours'], ['604800', 'last 7 days'], ['2592000', 'last 30 days']];

const isDay = (v) => /^\d{4}-\d{2}-\d{2}$/.test(v || '');
const todayUtc = () => new Date().toISOString().slice(0, 10);

function hashWith(q) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return '#/usage' + (s ? '?' + s : '');
}

function daysBetween(from, toIncl) {
  const out = [];
  for (let d = from; d <= toIncl && out.length < MAX_DAYS; d = addDays(d, 1)) out.push(d);
  return out;
}

function rowsOf(r) {
  if (Array.isArray(r)) return r;
  if (r && Array.isArray(r.data)) return r.data;
  if (r && r.data && Array.isArray(r.data.data)) return r.data.data;
  if (r && r.data && Array.isArray(r.data.days)) return r.data.days;
  return [];
}

export async function render(root, ctx) {
  const s = ctx.secrets || {};
  const q = ctx.query || {};
  const signal = ctx.signal;
  const alive = () => root.isConnected && !(signal && signal.aborted);
  const asAdmin = !!s.admin && !(q.as === 'key' && s.key);
  const to = isDay(q.to) ? q.to : todayUtc();
  const from = isDay(q.from) ? q.from : addDays(to, -29);
  const group = asAdmin ? (['key', 'model'].includes(q.group) ? q.group : '') : (q.group === 'model' ? 'model' : '');
  const keyId = asAdmin && /^\d+$/.test(q.key_id || '') ? q.key_id : '';
  const model = (q.model || '').trim();
  const win = WINDOWS.some(([v]) => v === q.window) ? q.window : '86400';
  const go = (changes) => ctx.navigate(hashWith({ ...q, ...changes }));

  root.append(h('div', { class: 'page-head' }, h('h1', null, asAdmin ? 'Usage (every key)' : 'My usage')));
  if (s.admin && s.key) {
    root.append(h('div', { class: 'scope', role: 'radiogroup', 'aria-label': 'Whose usage' },
      h('label', null, h('input', { type: 'radio', name: 'usage-scope', id: 'usage-scope-all', 'data-testid': 'usage-scope-all', checked: asAdmin, onChange: () => go({ as: '', key_id: '', model: '', group: '' }) }), ' Every key (admin)'),
      h('label', null, h('input', { type: 'radio', name: 'usage-scope', id: 'usage-scope-mine', 'data-testid': 'usage-scope-mine', checked: !asAdmin, onChange: () => go({ as: 'key', key_id: '', model: '', group: '' }) }), ' My key only')));
  }

  // ---- filters ----
  const fromIn = h('input', { type: 'date', id: 'usage-from', 'data-testid': 'usage-from', value: from });
  const toIn = h('input', { type: 'date', id: 'usage-to', 'data-testid': 'usage-to', value: to });
  const groupSel = h('select', { id: 'usage-group', 'data-testid': 'usage-group' },
    [['', 'nothing (totals)'], ...(asAdmin ? [['key', 'key']] : []), ['model', 'model']]
      .map(([v, l]) => h('option', { value: v, selected: v === group }, l)));
  const keyIn = asAdmin ? h('input', { type: 'number', id: 'usage-key', 'data-testid': 'usage-key', min: '1', step: '1', inputmode: 'numeric', value: keyId, placeholder: 'every key' }) : null;
  const modelIn = h('input', { type: 'text', id: 'usage-model', 'data-testid': 'usage-model', value: model, placeholder: 'every model', spellcheck: 'false' });
  const form = h('form', { class: 'card filters', id: 'usage-filter', 'data-testid': 'usage-filter', role: 'search', 'aria-label': 'Usage filters' },
    h('div', { class: 'filter-grid' },
      field('From (UTC day)', fromIn),
      field('To (UTC day, inclusive)', toIn),
      field('Split by', groupSel),
      keyIn ? field('Key id', keyIn) : null,
      modelIn ? field('Model', modelIn) : null),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', id: 'usage-apply', 'data-testid': 'usage-apply' }, 'Show'),
      h('button', { type: 'button', id: 'usage-last7', onClick: () => go({ from: addDays(todayUtc(), -6), to: todayUtc() }) }, 'Last 7 days'),
      h('button', { type: 'button', id: 'usage-last30', onClick: () => go({ from: addDays(todayUtc(), -29), to: todayUtc() }) }, 'Last 30 days'),
      h('button', { type: 'button', id: 'usage-last90', onClick: () => go({ from: addDays(todayUtc(), -89), to: todayUtc() }) }, 'Last 90 days')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go({ from: fromIn.value, to: toIn.value, group: groupSel.value, key_id: keyIn ? keyIn.value.trim() : '', model: modelIn ? modelIn.value.trim() : '' });
  });
  root.append(form);

  const charts = h('section', { id: 'usage-charts', 'data-testid': 'usage-charts', 'aria-labelledby': 'usage-h-days', 'aria-busy': 'true' },
    h('h2', { id: 'usage-h-days' }, 'Per day'), loading('Loading usage…'));
  root.append(charts);
  const providers = asAdmin ? h('section', { id: 'usage-providers', 'data-testid': 'usage-providers', 'aria-labelledby': 'usage-h-providers' },
    h('h2', { id: 'usage-h-providers' }, 'Upstream providers'), loading('Loading providers…')) : null;
  if (providers) root.append(providers);

  const jobs = [loadDays()];
  if (providers) jobs.push(loadProviders());
  await Promise.all(jobs);

  async function loadDays() {
    if (from > to) {
      clear(charts).append(h('h2', { id: 'usage-h-days' }, 'Per day'), errorBox(new Error('"From" is after "To".')));
      charts.setAttribute('aria-busy', 'false');
      return;
    }
    const days = daysBetween(from, to);
    const query = { from, to: addDays(to, 1), group_by: group || undefined };
    query.model = model || undefined;
    if (asAdmin) query.key_id = keyId || undefined;
    let rows, keyNames = null;
    try {
      const [r, k] = await Promise.all([
        asAdmin ? call('GET', '/admin/v1/usage', { as: 'admin', query, signal }) : call('GET', '/v1/usage', { query, signal }),
        asAdmin && group === 'key' ? call('GET', '/admin/v1/keys', { as: 'admin', signal }).catch(() => null) : null,
      ]);
      rows = rowsOf(r);
      if (k && Array.isArray(k.data)) keyNames = new Map(k.data.map((x) => [String(x.id), x.name]));
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      if (alive()) { clear(charts).append(h('h2', { id: 'usage-h-days' }, 'Per day'), errorBox(e)); charts.setAttribute('aria-busy', 'false'); }
      return;
    }
    if (!alive()) return;

    const groupOf = (r) => {
      if (group === 'key') return r.key_id !== undefined && r.key_id !== null ? String(r.key_id) : '?';
      if (group === 'model') return r.model || '?';
      return 'all';
    };
    const groupLabel = (g) => {
      if (group === 'key') return keyNames && keyNames.has(g) ? `#${g} ${keyNames.get(g)}` : `key #${g}`;
      return g;
    };
    // Totals per group decide which groups get their own series.
    const totals = new Map();
    for (const r of rows) {
      const g = groupOf(r);
      const t = totals.get(g) || { tasks: 0, images: 0, credits: 0 };
      t.tasks += Number(r.tasks) || 0; t.images += Number(r.images) || 0; t.credits += Number(r.credits) || 0;
      totals.set(g, t);
    }
    const ranked = [...totals.entries()].sort((a, b) => b[1].tasks - a[1].tasks || b[1].credits - a[1].credits);
    const own = new Set(ranked.slice(0, ranked.length > MAX_SERIES + 1 ? MAX_SERIES : MAX_SERIES + 1).map(([g]) => g));
    const seriesNames = [...own];
    const hasOther = ranked.length > own.size;
    const dayIndex = new Map(days.map((d, i) => [d, i]));
    const grand = { tasks: 0, images: 0, credits: 0 };
    const series = {};
    for (const m of METRICS) {
      const list = seriesNames.map((g) => ({ name: groupLabel(g), key: g, values: days.map(() => 0) }));
      if (hasOther) list.push({ name: 'other', key: '\u0000other', values: days.map(() => 0) });
      series[m.key] = list;
    }
    let outside = 0;
    for (const r of rows) {
      const i = dayIndex.get(String(r.day).slice(0, 10));
      if (i === undefined) { outside++; continue; }
      const g = groupOf(r);
      const k = own.has(g) ? seriesNames.indexOf(g) : seriesNames.length;
      for (const m of METRICS) {
        const v = Number(r[m.key]) || 0;
        series[m.key][k].values[i] += v;
        grand[m.key] += v;
      }
    }

    clear(charts).append(h('h2', { id: 'usage-h-days' }, 'Per day'));
    charts.append(h('div', { class: 'stat-row', 'data-testid': 'usage-totals' },
      METRICS.map((m) => h('div', { class: 'stat card' },
        h('div', { class: 'stat-label' }, m.label.replace(/ \(.*\)/, '')),
        h('div', { class: 'stat-value', 'data-testid': 'usage-total-' + m.key }, m.key === 'credits' ? fmtCredits(grand[m.key]) : String(grand[m.key]))))));
    if (!rows.length) charts.append(h('p', { class: 'notice', 'data-testid': 'usage-empty' }, `No tasks from ${from} to ${to}.`));
    if (outside) charts.append(h('p', { class: 'muted' }, `${outside} rows fell outside the days shown.`));
    const grid = h('div', { class: 'chart-grid-wrap' });
    for (const m of METRICS) {
      // Totals: bars for counts, a line for credits; split: stacked bars, one colour a group.
      const draw = !group && m.key === 'credits' ? lineChart : barChart;
      grid.append(h('div', { class: 'card' }, draw({
        title: `${m.label} per day${group ? ' by ' + group : ''}`,
        labels: days, series: series[m.key], format: m.fmt, testid: 'usage-chart-' + m.key,
      })));
    }
    charts.append(grid);
    if (group) {
      const list = ranked.map(([g, t]) => ({ g, label: groupLabel(g), ...t }));
      charts.append(h('section', { class: 'card', 'aria-labelledby': 'usage-h-groups' },
        h('h2', { id: 'usage-h-groups' }, `Totals by ${group}`),
        hBarChart({ title: `Credits by ${group}`, items: list.slice(0, 20).map((x, i) => ({ label: x.label, value: x.credits, series: i < MAX_SERIES ? i : MAX_SERIES })), format: METRICS[2].fmt, valueLabel: 'credits', testid: 'usage-chart-groups' }),
        dataTable({
          caption: `Every ${group} from ${from} to ${to}`, testid: 'usage-groups-table',
          columns: [
            { label: group, value: (x) => (group === 'key' && /^\d+$/.test(x.g) ? h('a', { href: hashWith({ ...q, key_id: x.g, group: 'model' }) }, x.label) : x.label) },
            { label: 'tasks', value: (x) => String(x.tasks), num: true },
            { label: 'images', value: (x) => String(x.images), num: true },
            { label: 'credits', value: (x) => fmtCredits(x.credits), num: true },
          ],
          rows: list,
        })));
    }
    charts.setAttribute('aria-busy', 'false');
  }

  async function loadProviders() {
    const winSel = h('select', { id: 'usage-window', 'data-testid': 'usage-window' },
      WINDOWS.map(([v, l]) => h('option', { value: v, selected: v === win }, l)));
    winSel.addEventListener('change', () => go({ window: winSel.value }));
    const head = [h('div', { class: 'page-head' }, h('h2', { id: 'usage-h-providers' }, 'Upstream providers'), h('div', { class: 'inline-field' }, field('Window', winSel)))];
    let r;
    try {
      r = await call('GET', '/admin/v1/providers', { as: 'admin', query: { since: Math.floor(Date.now() / 1000) - Number(win) }, signal });
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      if (alive()) clear(providers).append(...head, errorBox(e));
      return;
    }
    if (!alive()) return;
    const list = rowsOf(r).length ? rowsOf(r) : (r && Array.isArray(r.providers) ? r.providers : []);
    const rate = (p) => (Number(p.requests) > 0 ? (Number(p.errors) || 0) / Number(p.requests) : 0);
    clear(providers).append(...head);
    if (!list.length) {
      providers.append(h('p', { class: 'muted', 'data-testid': 'providers-empty' }, 'No provider has been called in this window.'));
      return;
    }
    providers.append(
      h('div', { class: 'card' }, dataTable({
        caption: 'Each provider route: calls, errors, latency and circuit breaker', testid: 'providers-table',
        rowAttrs: (p) => ({ 'data-testid': 'provider-row', 'data-route': p.route }),
        columns: [
          { label: 'route', value: (p) => h('strong', null, p.route) },
          { label: 'kind', value: (p) => p.kind || '—' },
          { label: 'breaker', value: (p) => h('span', { 'data-testid': 'provider-state' }, p.state ? stateBadge(String(p.state).replace('_', ' ')) : (p.configured === false ? 'no longer configured' : '—')) },
          { label: 'running', value: (p) => (p.running === undefined ? '—' : `${p.running}${p.concurrency ? ' / ' + p.concurrency : ''}`), num: true },
          { label: 'requests', value: (p) => String(p.requests ?? 0), num: true },
          { label: 'succeeded', value: (p) => (p.succeeded === undefined ? '—' : String(p.succeeded)), num: true },
          { label: 'errors', value: (p) => String(p.errors ?? 0), num: true },
          { label: 'error rate', value: (p) => (Number(p.requests) > 0 ? (rate(p) * 100).toFixed(1) + ' %' : '—'), num: true },
          { label: 'p50', value: (p) => (p.p50_ms === null || p.p50_ms === undefined ? '—' : Math.round(p.p50_ms) + ' ms'), num: true },
          { label: 'p95', value: (p) => (p.p95_ms === null || p.p95_ms === undefined ? '—' : Math.round(p.p95_ms) + ' ms'), num: true },
          { label: 'last call', value: (p) => fmtTime(p.last_call_at), nowrap: true },
        ],
        rows: list,
      })),
      h('div', { class: 'chart-grid-wrap' },
        h('div', { class: 'card' }, barChart({
          title: 'Latency per provider (ms)', labels: list.map((p) => p.route), stacked: false, xLabel: 'route',
          series: [{ name: 'p50', values: list.map((p) => Number(p.p50_ms) || 0) }, { name: 'p95', values: list.map((p) => Number(p.p95_ms) || 0) }],
          unit: ' ms', testid: 'providers-chart-latency',
        })),
        h('div', { class: 'card' }, barChart({
          title: 'Requests and errors per provider', labels: list.map((p) => p.route), stacked: false, xLabel: 'route',
          series: [{ name: 'requests', values: list.map((p) => Number(p.requests) || 0) }, { name: 'errors', values: list.map((p) => Number(p.errors) || 0) }],
          testid: 'providers-chart-requests',
        }))));
  }
}
