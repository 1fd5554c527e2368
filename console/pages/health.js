// imagegate console: health (#/health).
//
// Anyone: /healthz (the process runs) and /readyz (the database answers, not draining).
// With the admin token: GET /admin/v1/status: version, uptime, queue depth, running tasks,
// tasks by state and each provider route's circuit-breaker state. Refreshes every 5 seconds
// while the page is shown (a checkbox stops it).

import { request, call, ApiError } from '../api.js';
import { h, clear, errorBox, field, fmtTime, loading, stateBadge } from '../ui.js';
import { dataTable } from './charts.js';

const REFRESH_MS = 5000;

export function fmtUptime(sec) {
  const n = Math.floor(Number(sec));
  if (!isFinite(n) || n < 0) return '—';
  const d = Math.floor(n / 86400), hh = Math.floor((n % 86400) / 3600), m = Math.floor((n % 3600) / 60), s = n % 60;
  if (d) return `${d} d ${hh} h ${m} min`;
  if (hh) return `${hh} h ${m} min`;
  if (m) return `${m} min ${s} s`;
  return `${s} s`;
}

async function probe(path, signal) {
  const t0 = performance.now();
  try {
    const res = await request('GET', path, { as: 'none', signal });
    const text = (await res.text()).trim();
    return { ok: true, status: res.status, text, ms: performance.now() - t0 };
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    return { ok: false, status: e instanceof ApiError ? e.status : 0, text: e.message, ms: performance.now() - t0 };
  }
}

function stat(label, value, testid, note) {
  return h('div', { class: 'stat card' },
    h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value', 'data-testid': testid, id: testid }, value),
    note ? h('div', { class: 'stat-note' }, note) : null);
}

export async function render(root, ctx) {
  const s = ctx.secrets || {};
  const signal = ctx.signal;
  const alive = () => root.isConnected && !(signal && signal.aborted);

  const auto = h('input', { type: 'checkbox', id: 'health-auto', 'data-testid': 'health-auto', checked: true });
  const refreshBtn = h('button', { type: 'button', id: 'health-refresh', 'data-testid': 'health-refresh', onClick: () => load() }, 'Refresh now');
  const stamp = h('span', { class: 'muted', id: 'health-updated', 'aria-live': 'off' });
  root.append(h('div', { class: 'page-head' }, h('h1', null, 'Health'),
    h('div', { class: 'actions' }, refreshBtn,
      h('span', { class: 'field-inline' }, auto, h('label', { for: 'health-auto' }, 'refresh every 5 s')), stamp)));

  const probes = h('section', { class: 'card', id: 'health-probes', 'data-testid': 'health-probes', 'aria-labelledby': 'health-h-probes' },
    h('h2', { id: 'health-h-probes' }, 'Probes'), loading());
  const status = h('section', { id: 'health-status', 'data-testid': 'health-status', 'aria-labelledby': 'health-h-status' });
  root.append(probes, status);
  if (!s.admin) {
    status.append(h('p', { class: 'muted' }, 'Sign in with the admin token to see the version, the queue, running tasks and each provider\'s state.'));
  }

  let loadingNow = false;
  async function load() {
    if (loadingNow || !alive()) return;
    loadingNow = true;
    try {
      const [hz, rz, st] = await Promise.all([
        probe('/healthz', signal),
        probe('/readyz', signal),
        s.admin ? call('GET', '/admin/v1/status', { as: 'admin', signal }).catch((e) => { if (e && e.name === 'AbortError') throw e; return { error: e }; }) : null,
      ]);
      if (!alive()) return;
      drawProbes(hz, rz);
      if (s.admin) drawStatus(st);
      stamp.textContent = 'updated ' + fmtTime(Date.now()).slice(11);
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      throw e;
    } finally { loadingNow = false; }
  }

  function drawProbes(hz, rz) {
    clear(probes).append(h('h2', { id: 'health-h-probes' }, 'Probes'),
      dataTable({
        caption: 'The probes a load balancer would ask', testid: 'health-probes-table',
        rowAttrs: (r) => ({ 'data-testid': r.testid, 'data-ok': String(r.p.ok) }),
        columns: [
          { label: 'probe', value: (r) => h('code', null, r.name) },
          { label: 'means', value: (r) => r.what },
          { label: 'state', value: (r) => h('span', { 'data-testid': r.testid + '-state', 'data-ok': String(r.p.ok) }, stateBadge(r.p.ok ? 'ok' : 'failed')) },
          { label: 'status', value: (r) => (r.p.status ? 'HTTP ' + r.p.status : 'no answer'), num: true, nowrap: true },
          { label: 'answer', value: (r) => h('span', { class: 'wrap' }, r.p.text || '') },
          { label: 'took', value: (r) => Math.round(r.p.ms) + ' ms', num: true, nowrap: true },
        ],
        rows: [
          { name: '/healthz', what: 'the process runs', p: hz, testid: 'health-healthz' },
          { name: '/readyz', what: 'the database answers and the server is not draining', p: rz, testid: 'health-readyz' },
        ],
      }));
  }

  function drawStatus(st) {
    clear(status);
    if (!st || st.error) {
      status.append(h('h2', { id: 'health-h-status' }, 'Server'), errorBox(st && st.error));
      return;
    }
    const tasks = st.tasks || {};
    status.append(h('h2', { id: 'health-h-status' }, 'Server'),
      h('div', { class: 'stat-row' },
        stat('version', st.version || '—', 'health-version'),
        stat('uptime', fmtUptime(st.uptime_s), 'health-uptime', st.started_at ? 'since ' + fmtTime(st.started_at) : null),
        stat('queue depth', String(st.queue_depth ?? tasks.queued ?? '—'), 'health-queue'),
        stat('running tasks', String(st.running ?? tasks.running ?? '—'), 'health-running')));
    const stateNames = Object.keys(tasks);
    if (stateNames.length) {
      status.append(h('section', { class: 'card', 'aria-labelledby': 'health-h-tasks' },
        h('h3', { id: 'health-h-tasks' }, 'Tasks by state'),
        h('ul', { class: 'state-counts', 'data-testid': 'health-tasks' }, stateNames.map((k) =>
          h('li', null, h('a', { href: `#/tasks?state=${encodeURIComponent(k)}` }, stateBadge(k)), ' ', h('strong', { 'data-state': k }, String(tasks[k])))))));
    }
    const provs = Array.isArray(st.providers) ? st.providers : [];
    const known = ['route', 'kind', 'state', 'families'];
    const extra = [...new Set(provs.flatMap((p) => Object.keys(p)))].filter((k) => !known.includes(k) && provs.every((p) => p[k] === undefined || typeof p[k] !== 'object'));
    status.append(h('section', { class: 'card', 'aria-labelledby': 'health-h-providers' },
      h('h3', { id: 'health-h-providers' }, 'Providers'),
      h('p', { class: 'muted' }, 'Circuit breaker: closed = calls go through; open = the route is skipped after failures; half open = a trial call decides.'),
      dataTable({
        caption: 'Each provider route and its breaker', testid: 'health-providers', empty: 'No provider routes configured (the built-in sandbox serves every task).',
        rowAttrs: (p) => ({ 'data-testid': 'health-provider', 'data-route': p.route, 'data-state': p.state }),
        columns: [
          { label: 'route', value: (p) => h('strong', null, p.route || '—') },
          { label: 'kind', value: (p) => p.kind || '—' },
          { label: 'breaker', value: (p) => stateBadge(String(p.state || '—').replace('_', ' ')) },
          { label: 'models', value: (p) => (Array.isArray(p.families) && p.families.length ? p.families.join(', ') : '—') },
          ...extra.map((k) => ({ label: k.replace(/_/g, ' '), value: (p) => (p[k] === undefined || p[k] === null ? '—' : /(_at|_ms_at)$/.test(k) ? fmtTime(p[k]) : String(p[k])) })),
        ],
        rows: provs,
      })));
  }

  await load();
  (async () => {
    while (alive()) {
      await new Promise((r) => setTimeout(r, REFRESH_MS));
      if (!alive()) return;
      if (auto.checked && !document.hidden) await load().catch(() => {});
    }
  })();
}
