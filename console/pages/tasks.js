// imagegate console: the task list (#/tasks).
//
// With the admin token: everyone's tasks (GET /admin/v1/tasks). With a key: the key's own
// (GET /v1/tasks). Both are paged on the server; filters (state, dialect, model, key, time
// range) and the page live in the hash's query, so a reload or a shared link keeps them.
// When both secrets are given, a switch chooses between everyone's and one's own (as=key).

import { call } from '../api.js';
import { h, clear, errorBox, field, fmtTime, fmtDuration, fmtCredits, loading, pager, stateBadge } from '../ui.js';
import { dataTable } from './charts.js';
import { normalizeTask } from './task.js';

const STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
const DIALECTS = ['jobs', 'tasks', 'generations', 'unified', 'openai'];
const FILTER_KEYS = ['as', 'state', 'dialect', 'model', 'key_id', 'since', 'until', 'page_size'];

// '#/tasks?…' from a query object (empty values dropped, keys in a stable order).
export function tasksHash(q) {
  const p = new URLSearchParams();
  for (const k of [...FILTER_KEYS, 'page']) {
    const v = q[k];
    if (v === undefined || v === null || v === '') continue;
    if (k === 'page' && String(v) === '1') continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return '#/tasks' + (s ? '?' + s : '');
}

// A UTC day 'YYYY-MM-DD' plus n days.
export function addDays(day, n) {
  const d = new Date(day + 'T00:00:00Z');
  if (isNaN(d.getTime())) return day;
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

const isDay = (v) => /^\d{4}-\d{2}-\d{2}$/.test(v || '');
const posInt = (v, dflt, max) => {
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) && n >= 1 ? Math.min(n, max) : dflt;
};

function dialectGuess(id) {
  if (/^task-unified-/.test(id)) return 'unified';
  if (/^tk-/.test(id)) return 'tasks';
  return '';
}

function select(id, options, value, testid) {
  return h('select', { id, name: id, 'data-testid': testid || id },
    options.map(([v, label]) => h('option', { value: v, selected: v === (value || '') }, label)));
}

export async function render(root, ctx) {
  const s = ctx.secrets || {};
  const q = ctx.query || {};
  const asAdmin = !!s.admin && !(q.as === 'key' && s.key);
  const maxSize = asAdmin ? 500 : 100;
  const page = posInt(q.page, 1, 1_000_000);
  const pageSize = posInt(q.page_size, 20, maxSize);
  const f = {
    state: STATES.includes(q.state) ? q.state : '',
    dialect: DIALECTS.includes(q.dialect) ? q.dialect : '',
    model: (q.model || '').trim(),
    key_id: asAdmin && /^\d+$/.test(q.key_id || '') ? q.key_id : '',
    since: isDay(q.since) ? q.since : '',
    until: isDay(q.until) ? q.until : '',
  };
  const go = (changes) => ctx.navigate(tasksHash({ ...q, ...changes }));

  root.append(h('div', { class: 'page-head' },
    h('h1', null, asAdmin ? 'Tasks (every key)' : 'My tasks'),
    h('button', { type: 'button', id: 'tasks-refresh', 'data-testid': 'tasks-refresh', onClick: () => ctx.navigate(location.hash) }, 'Refresh')));

  if (s.admin && s.key) {
    const scope = h('div', { class: 'scope', role: 'radiogroup', 'aria-label': 'Whose tasks' },
      h('label', null, h('input', { type: 'radio', name: 'tasks-scope', id: 'tasks-scope-all', 'data-testid': 'tasks-scope-all', checked: asAdmin, onChange: () => go({ as: '', key_id: '', page: 1 }) }), ' Every key (admin)'),
      h('label', null, h('input', { type: 'radio', name: 'tasks-scope', id: 'tasks-scope-mine', 'data-testid': 'tasks-scope-mine', checked: !asAdmin, onChange: () => go({ as: 'key', key_id: '', page: 1 }) }), ' My key only'));
    root.append(scope);
  }

  // ---- filters ----
  const stateSel = select('tasks-state', [['', 'any state'], ...STATES.map((x) => [x, x])], f.state);
  const dialectSel = select('tasks-dialect', [['', 'any dialect'], ...DIALECTS.map((x) => [x, x])], f.dialect);
  const model = h('input', { type: 'text', id: 'tasks-model', 'data-testid': 'tasks-model', value: f.model, placeholder: 'e.g. gpt-image-2', spellcheck: 'false', autocomplete: 'off' });
  const keyId = asAdmin ? h('input', { type: 'number', id: 'tasks-key', 'data-testid': 'tasks-key', min: '1', step: '1', inputmode: 'numeric', value: f.key_id, placeholder: 'any' }) : null;
  const since = h('input', { type: 'date', id: 'tasks-since', 'data-testid': 'tasks-since', value: f.since });
  const until = h('input', { type: 'date', id: 'tasks-until', 'data-testid': 'tasks-until', value: f.until });
  const size = select('tasks-page-size', [20, 50, 100, ...(asAdmin ? [200, 500] : [])].map((n) => [String(n), String(n)]), String(pageSize));
  const form = h('form', { class: 'card filters', id: 'tasks-filter', 'data-testid': 'tasks-filter', role: 'search', 'aria-label': 'Filter tasks' },
    h('div', { class: 'filter-grid' },
      field('State', stateSel),
      field('Dialect', dialectSel),
      field('Model', model),
      keyId ? field('Key id', keyId) : null,
      field('Created from (UTC day)', since),
      field('Created to (UTC day, inclusive)', until),
      field('Per page', size)),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', id: 'tasks-apply', 'data-testid': 'tasks-apply' }, 'Apply filters'),
      h('button', { type: 'button', id: 'tasks-reset', 'data-testid': 'tasks-reset', onClick: () => ctx.navigate(tasksHash({ as: q.as })) }, 'Clear')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go({
      state: stateSel.value, dialect: dialectSel.value, model: model.value.trim(),
      key_id: keyId ? keyId.value.trim() : '', since: since.value, until: until.value,
      page_size: size.value === '20' ? '' : size.value, page: 1,
    });
  });
  root.append(form);

  const out = h('section', { 'aria-label': 'Task list', 'aria-live': 'polite', 'aria-busy': 'true', id: 'tasks-list', 'data-testid': 'tasks-list' }, loading('Loading tasks…'));
  root.append(out);

  if (f.since && f.until && f.until < f.since) {
    clear(out).append(errorBox(new Error('"Created to" is before "Created from".')));
    out.setAttribute('aria-busy', 'false');
    return;
  }

  const query = {
    page, page_size: pageSize,
    state: f.state || undefined, dialect: f.dialect || undefined, model: f.model || undefined,
    since: f.since || undefined,
    until: f.until ? addDays(f.until, 1) : undefined,   // the API's `until` is exclusive
  };
  let rows, total;
  try {
    if (asAdmin) {
      const r = await call('GET', '/admin/v1/tasks', { as: 'admin', query: { ...query, key_id: f.key_id || undefined }, signal: ctx.signal });
      rows = (r.data || []).map((t) => normalizeTask(t));
      total = r.total ?? rows.length;
    } else {
      const r = await call('GET', '/v1/tasks', { query, signal: ctx.signal });
      const d = r.data || r;
      rows = (d.tasks || d.data || []).map((t) => normalizeTask(t));
      total = d.total ?? rows.length;
    }
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    if (!root.isConnected) return;
    clear(out).append(errorBox(e));
    out.setAttribute('aria-busy', 'false');
    return;
  }
  if (!root.isConnected) return;

  // A server that ignores a filter would answer unfiltered rows: say so, rather than show them
  // as if they matched.
  const ignored = [];
  const sinceS = f.since ? Date.parse(f.since + 'T00:00:00Z') / 1000 : null;
  const untilS = f.until ? Date.parse(addDays(f.until, 1) + 'T00:00:00Z') / 1000 : null;
  if (f.state && rows.some((t) => t.state !== f.state)) ignored.push('state');
  if (f.dialect && rows.some((t) => t.dialect && t.dialect !== f.dialect)) ignored.push('dialect');
  if (f.model && rows.some((t) => t.model && t.model !== f.model)) ignored.push('model');
  if ((sinceS && rows.some((t) => t.created && t.created < sinceS)) || (untilS && rows.some((t) => t.created && t.created >= untilS))) ignored.push('time range');

  const active = [];
  for (const [k, label] of [['state', 'state'], ['dialect', 'dialect'], ['model', 'model'], ['key_id', 'key'], ['since', 'from'], ['until', 'to']]) {
    if (f[k]) active.push(`${label} ${f[k]}`);
  }
  clear(out);
  out.append(h('p', { class: 'list-summary' },
    h('strong', { 'data-testid': 'tasks-total', id: 'tasks-total' }, String(total)),
    total === 1 ? ' task' : ' tasks', active.length ? ' matching ' + active.join(', ') : ''));
  if (ignored.length) {
    out.append(h('p', { class: 'notice', role: 'status', 'data-testid': 'tasks-filter-ignored' },
      `This server did not apply the ${ignored.join(', ')} filter${ignored.length > 1 ? 's' : ''} to this list; the rows below are not filtered by ${ignored.length > 1 ? 'them' : 'it'}.`));
  }
  const link = (t) => h('a', { href: '#/tasks/' + encodeURIComponent(t.id), class: 'task-link mono', 'data-testid': 'task-link' }, t.id);
  const took = (t) => (t.created && t.completed ? fmtDuration((t.completed - t.created) * 1000) : '—');
  const columns = [
    { label: 'task', value: link },
    { label: 'state', value: (t) => h('span', null, stateBadge(t.state), t.fail_code && t.state !== 'cancelled' ? h('span', { class: 'muted small' }, ' ' + t.fail_code) : null) },
    { label: 'dialect', value: (t) => t.dialect || dialectGuess(t.id) || '—' },
    { label: 'model', value: (t) => t.model || '—' },
    asAdmin ? { label: 'key', value: (t) => (t.key_id ? h('a', { href: tasksHash({ ...q, key_id: t.key_id, page: 1 }), 'aria-label': `Only key ${t.key_id}` }, '#' + t.key_id) : '—'), num: true } : null,
    { label: 'created', value: (t) => fmtTime(t.created), nowrap: true },
    { label: 'took', value: took, num: true, nowrap: true },
    { label: 'images', value: (t) => String(t.images ?? t.results.length), num: true },
    asAdmin ? { label: 'price', value: (t) => (t.price === undefined ? '—' : fmtCredits(t.price)), num: true } : null,
  ].filter(Boolean);
  out.append(dataTable({
    caption: asAdmin ? 'Tasks of every key, newest first' : 'Your tasks, newest first',
    columns, rows, testid: 'tasks-table',
    empty: total > 0 ? 'No tasks on this page.' : active.length ? 'No task matches these filters.' : 'No tasks yet.',
    rowAttrs: (t) => ({ 'data-testid': 'task-row', 'data-task-id': t.id, 'data-state': t.state }),
  }));
  if (total > pageSize || page > 1) {
    out.append(pager({ page, pageSize, total, onPage: (p) => go({ page: p }) }));
  }
  out.setAttribute('aria-busy', 'false');
}
