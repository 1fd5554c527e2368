// imagegate console: one task (#/tasks/<id>).
//
// With the admin token the task is read from the admin API (GET /admin/v1/tasks/{id}): request,
// results, cost, the timeline, every upstream attempt and the callback deliveries (with a
// Redeliver button). With a key only, it is read from GET /v1/tasks/{id}/detail (the same
// shape without the operator's information), or, from a server without that route, from
// GET /v1/tasks/{id} (the creating dialect's shape, normalised here). Upstream attempts and
// callbacks are operator information and never asked for with a key. Cancel while queued or running. While the task runs the page refreshes
// itself: a long-poll (?wait=) with a key, a short interval as admin.

import { call, ApiError } from '../api.js';
import { h, clear, errorBox, fmtTime, fmtDuration, fmtCredits, copyButton, loading, stateBadge } from '../ui.js';
import { dataTable } from './charts.js';

const ACTIVE = new Set(['queued', 'running']);

// ---- normalising the dialects' task shapes ----

function dialectOfId(id) {
  if (/^task-unified-/.test(id)) return 'unified';
  if (/^tk-/.test(id)) return 'tasks';
  return null;
}

function secondsOf(t) {
  if (t === null || t === undefined || t === '' || t === 0) return null;
  const n = Number(t);
  if (!isFinite(n)) return null;
  return n > 1e12 ? n / 1000 : n;
}

function stateFrom(status, errCode) {
  const s = String(status || '').toLowerCase();
  if (s === 'queued' || s === 'pending') return 'queued';
  if (s === 'running' || s === 'handling' || s === 'processing') return 'running';
  if (s === 'waiting') return 'waiting';
  if (s === 'success' || s === 'succeeded' || s === 'completed') return 'succeeded';
  if (s === 'fail' || s === 'failed' || s === 'cancelled') {
    return s === 'cancelled' || errCode === 'cancelled' || errCode === 'request_cancelled' ? 'cancelled' : 'failed';
  }
  return s || 'unknown';
}

function tryJson(text) {
  if (typeof text !== 'string') return text ?? null;
  try { return JSON.parse(text); } catch { return null; }
}

// Any of: an admin task, a jobs record, a tasks object (also the list's items), a generations
// task or a unified task (with or without their envelopes) -> one shape.
export function normalizeTask(body, idHint = '') {
  if (!body || typeof body !== 'object') return null;
  // The admin shape: it has `state` and `dialect`.
  if (typeof body.state === 'string' && ('dialect' in body || 'key_id' in body)) {
    return {
      id: body.id, source: 'full', dialect: body.dialect, model: body.model,
      state: body.state, key_id: body.key_id, attempt: body.attempt,
      created: secondsOf(body.created_at), started: secondsOf(body.started_at),
      completed: secondsOf(body.completed_at), price: body.price, charged: body.charged,
      settlement: body.settlement, param: body.param ?? null, callbackSummary: body.callback,
      images: body.images, upstream_route: body.upstream_route, upstream_id: body.upstream_id,
      fail_code: body.fail_code || null, fail_msg: body.fail_msg || null,
      request: body.request ?? null,
      results: (body.results || []).map((r) => (typeof r === 'string' ? { url: r } : { ...r })),
      calls: body.calls || null, events: body.events || null, raw: body,
    };
  }
  const d = body.data && typeof body.data === 'object' && !Array.isArray(body.data) ? body.data : body;
  // jobs record: state waiting|success|fail, times in ms, param and resultJson as strings.
  if ('param' in d || 'resultJson' in d || ('state' in d && 'createTime' in d)) {
    const result = tryJson(d.resultJson);
    return {
      id: d.taskId, source: 'key', dialect: 'jobs', model: d.model,
      state: stateFrom(d.state, d.failCode), created: secondsOf(d.createTime),
      completed: secondsOf(d.completeTime), duration_ms: d.costTime ?? null,
      fail_code: d.failCode || null, fail_msg: d.failMsg || null,
      request: tryJson(d.param),
      results: ((result && result.resultUrls) || []).map((url) => ({ url })), raw: body,
    };
  }
  // tasks (HiAPI): taskId, status queued|handling|success|fail, output [{url, expireAt}].
  if ('taskId' in d) {
    return {
      id: d.taskId, source: 'key', dialect: dialectOfId(d.taskId || idHint), model: d.model,
      state: stateFrom(d.status, d.error && d.error.code),
      created: secondsOf(d.created), completed: secondsOf(d.completed),
      fail_code: (d.error && d.error.code) || null, fail_msg: (d.error && d.error.message) || null,
      results: (d.output || []).map((o) => ({ url: o.url, expires_at: o.expireAt })), raw: body,
    };
  }
  // unified (EvoLink): object image.generation.task, results [url], usage.credits_reserved.
  if (d.object === 'image.generation.task' || Array.isArray(d.results) || 'task_info' in d) {
    return {
      id: d.id, source: 'key', dialect: 'unified', model: d.model,
      state: stateFrom(d.status, d.error && d.error.code), created: secondsOf(d.created),
      completed: null, progress: d.progress,
      fail_code: (d.error && d.error.code) || null, fail_msg: (d.error && d.error.message) || null,
      price: d.usage ? d.usage.credits_reserved : undefined,
      results: (d.results || []).map((url) => ({ url })), raw: body,
    };
  }
  // generations (aivideoapi): status pending|processing|completed|failed, output.urls.
  return {
    id: d.id, source: 'key', dialect: dialectOfId(d.id || idHint) || 'generations', model: d.model,
    state: stateFrom(d.status, d.error && d.error.code), created: secondsOf(d.created_at),
    completed: secondsOf(d.completed_at),
    duration_ms: d.output && d.output.metadata ? d.output.metadata.costTime : null,
    fail_code: (d.error && d.error.code) || null, fail_msg: (d.error && d.error.message) || null,
    results: ((d.output && d.output.urls) || []).map((url) => ({ url })), raw: body,
  };
}

// A result URL as the console may load it: the server signs absolute URLs with its public base
// URL; when that is another origin than the console's (a proxy, 0.0.0.0, …) the same /files/
// path is asked of the console's own origin, which the CSP allows (img-src 'self').
export function fileUrl(u) {
  if (!u) return u;
  try {
    const url = new URL(u, location.href);
    if (url.origin === location.origin) return url.href;
    const i = url.pathname.indexOf('/files/');
    if (i >= 0) return new URL('../' + url.pathname.slice(i + 1) + url.search, location.href).href;
    return url.href;
  } catch { return u; }
}

function isSameOrigin(u) {
  try { return new URL(u, location.href).origin === location.origin; } catch { return false; }
}

function fileName(u, fallback) {
  try {
    const p = new URL(u, location.href).pathname.split('/').filter(Boolean);
    return p.length >= 2 ? `${p[p.length - 2]}-${p[p.length - 1]}` : fallback;
  } catch { return fallback; }
}

// ---- rendering ----

function factList(rows) {
  return h('dl', { class: 'facts' }, rows.filter(Boolean).map(([k, v, attrs]) => [
    h('dt', null, k), h('dd', attrs || null, v === null || v === undefined || v === '' ? '—' : v)]));
}

let lightbox = null;
function openLightbox(src, alt, href) {
  if (!lightbox) {
    const img = h('img', { alt: '', class: 'lightbox-img', 'data-testid': 'lightbox-img' });
    const close = h('button', { type: 'button', class: 'lightbox-close', 'data-testid': 'lightbox-close', onClick: () => lightbox.close() }, 'Close');
    const link = h('a', { class: 'lightbox-link', target: '_blank', rel: 'noopener noreferrer' }, 'Open in a new tab');
    lightbox = h('dialog', { class: 'lightbox', id: 'task-lightbox', 'data-testid': 'lightbox', 'aria-label': 'Image at full size' },
      h('div', { class: 'lightbox-bar' }, link, close), img);
    lightbox.addEventListener('click', (ev) => { if (ev.target === lightbox) lightbox.close(); });
    document.body.appendChild(lightbox);
  }
  const img = lightbox.querySelector('img');
  img.src = src; img.alt = alt;
  lightbox.querySelector('a').href = href;
  if (typeof lightbox.showModal === 'function') lightbox.showModal();
  else window.open(href, '_blank', 'noopener');
}

function gallery(task) {
  if (!task.results.length) {
    const why = task.state === 'succeeded' ? 'The task succeeded but lists no images (their URLs may have expired).'
      : ACTIVE.has(task.state) || task.state === 'waiting' ? 'No images yet: the task has not finished.'
        : 'No images: the task did not succeed.';
    return h('p', { class: 'muted', 'data-testid': 'task-no-results' }, why);
  }
  return h('ul', { class: 'gallery task-gallery', 'data-testid': 'task-results' }, task.results.map((r, i) => {
    const src = fileUrl(r.url);
    const alt = `Result ${i + 1} of ${task.results.length} of task ${task.id}`;
    const img = h('img', { src, alt, loading: 'lazy', decoding: 'async', 'data-testid': 'task-result-img' });
    const thumb = h('button', { type: 'button', class: 'thumb-button', 'aria-label': `Open result ${i + 1} at full size`,
      onClick: () => openLightbox(src, alt, src) }, img);
    return h('li', null, h('figure', { 'data-testid': 'task-result' },
      thumb,
      h('figcaption', null,
        h('span', null, `#${i + 1}`),
        h('a', { href: src, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'task-result-open' }, 'Full size'),
        h('a', { href: src, download: fileName(r.url, `image-${i + 1}`), 'data-testid': 'task-result-download' }, 'Download'),
        r.width && r.height ? h('span', { class: 'muted', 'data-testid': 'task-result-size' }, `${r.width}×${r.height}`) : null,
        r.expires_at ? h('span', { class: 'muted' }, 'link expires ' + fmtTime(r.expires_at)) : null)));
  }));
}

function urlList(urls) {
  return h('ul', { class: 'url-list' }, urls.map((u) => h('li', null,
    isSameOrigin(u) || /\/files\//.test(u)
      ? h('a', { href: fileUrl(u), target: '_blank', rel: 'noopener noreferrer' }, u)
      : h('a', { href: u, target: '_blank', rel: 'noopener noreferrer' }, u))));
}

const PROMPT_KEYS = ['prompt'];

function pretty(text) {
  if (typeof text !== 'string' || !text) return null;
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

// The stored request, shown generically (its fields differ between dialects): the prompt
// first, URLs as links, other values as text; the whole as JSON underneath.
function requestView(task) {
  const req = task.request;
  if (!req || typeof req !== 'object') {
    return h('p', { class: 'muted', 'data-testid': 'task-request-none' },
      task.source === 'full' ? 'The server did not return the request.'
        : 'This dialect does not show the request to its key; the admin API does.');
  }
  const flat = [];
  const walk = (obj, prefix) => {
    for (const [k, v] of Object.entries(obj)) {
      const name = prefix ? `${prefix}.${k}` : k;
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v, name);
      else flat.push([name, v]);
    }
  };
  walk(req, '');
  const prompt = flat.find(([k]) => PROMPT_KEYS.includes(k.split('.').pop()));
  // Fields the request left empty are not listed (the JSON below has them all).
  const rest = flat.filter((e) => e !== prompt && e[1] !== null && e[1] !== undefined && e[1] !== ''
    && !(Array.isArray(e[1]) && !e[1].length));
  const value = (k, v) => {
    if (Array.isArray(v)) {
      if (v.length && v.every((x) => typeof x === 'string' && /^(https?:|\/)/.test(x))) return urlList(v);
      return v.length ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') : '—';
    }
    if (typeof v === 'string' && /^https?:\/\//.test(v)) return urlList([v]);
    if (v === null || v === undefined || v === '') return '—';
    return String(v);
  };
  // Reference images and the mask: thumbnails when the server serves them (/files/, uploads
  // included); other hosts as links (the console loads images from its own origin only).
  const refs = [];
  for (const [k, v] of flat) {
    const leaf = k.split('.').pop();
    const urls = Array.isArray(v) ? v : [v];
    if (!/(input_urls|image_urls|image_input|mask_url)$/.test(leaf)) continue;
    urls.forEach((u, i) => {
      if (typeof u === 'string' && u) refs.push({ url: u, label: leaf === 'mask_url' ? 'mask' : `reference ${i + 1}`, mask: leaf === 'mask_url' });
    });
  }
  const refView = refs.length ? h('ul', { class: 'ref-thumbs task-refs', 'data-testid': 'task-references' }, refs.map((r) => {
    const local = /\/files\//.test(r.url);
    const src = local ? fileUrl(r.url) : r.url;
    return h('li', { 'data-testid': r.mask ? 'task-mask' : 'task-reference' },
      local ? h('a', { href: src, target: '_blank', rel: 'noopener noreferrer', 'aria-label': `Open the ${r.label} at full size` },
        h('img', { src, alt: `The task's ${r.label}`, loading: 'lazy', class: r.mask ? 'mask-thumb' : null }))
        : h('a', { href: src, target: '_blank', rel: 'noopener noreferrer', class: 'wrap' }, src),
      h('span', { class: 'name' }, r.label));
  })) : null;
  return h('div', { 'data-testid': 'task-request' },
    prompt ? h('div', { class: 'prompt-box' }, h('div', { class: 'facts-label' }, 'Prompt'),
      h('p', { class: 'prompt', 'data-testid': 'task-prompt' }, String(prompt[1] ?? ''))) : null,
    refView,
    factList(rest.map(([k, v]) => [k, value(k, v)])),
    h('details', { class: 'raw' }, h('summary', null, task.param ? 'The request as the client sent it' : 'Request as JSON'),
      h('pre', { 'data-testid': 'task-request-json' }, pretty(task.param) || JSON.stringify(req, null, 2)),
      copyButton(task.param || JSON.stringify(req), 'Copy JSON')));
}

function toMs(t) {
  if (t === null || t === undefined || t === '') return null;
  const n = Number(t);
  if (!isFinite(n)) return null;
  return n < 1e12 ? n * 1000 : n;
}

const EVENT_WORDS = {
  created: 'created', claimed: 'claimed by a worker', call: 'upstream call', captured: 'price captured',
  refunded: 'price refunded', callback: 'callback', succeeded: 'succeeded', failed: 'failed', cancelled: 'cancelled',
};

function callLine(c) {
  if (!c) return null;
  const bits = [c.route || '?'];
  if (c.http_status) bits.push('HTTP ' + c.http_status);
  if (c.class && c.class !== 'ok') bits.push(c.class);
  if (c.code) bits.push(c.code);
  bits.push(c.duration_ms === null || c.duration_ms === undefined ? 'in flight' : fmtDuration(c.duration_ms));
  return bits.join(' · ');
}

// events: [{at_ms, what, detail, call}] from the admin API (call: an index into calls[]).
function timeline(task) {
  const calls = task.calls || [];
  let events = Array.isArray(task.events) ? task.events.slice() : [];
  if (!events.length) {
    // Built from the task's own times when the server gives no events.
    if (task.created) events.push({ at: task.created, what: 'created' });
    if (task.started) events.push({ at: task.started, what: 'claimed' });
    calls.forEach((c, i) => events.push({ at_ms: c.started_at_ms ?? c.started_at, what: 'call', call: i }));
    if (task.completed) events.push({ at: task.completed, what: task.state });
  }
  events = events.map((e, i) => ({ ...e, i, ms: toMs(e.at_ms ?? e.at) }))
    .sort((a, b) => (a.ms ?? 0) - (b.ms ?? 0) || a.i - b.i);
  const t0 = events.length ? events[0].ms : null;
  return h('ol', { class: 'timeline', 'data-testid': 'task-timeline' }, events.map((e) => {
    const what = typeof e.what === 'string' ? e.what : e.what ? JSON.stringify(e.what) : '';
    const call = Number.isInteger(e.call) ? calls[e.call] : null;
    const detail = e.detail === null || e.detail === undefined || e.detail === '' ? null
      : typeof e.detail === 'object' ? JSON.stringify(e.detail) : String(e.detail);
    return h('li', { 'data-testid': 'task-event', 'data-what': what, class: 'ev-' + what },
      h('time', { datetime: e.ms ? new Date(e.ms).toISOString() : null }, fmtTime(e.ms)),
      t0 !== null && e.ms !== null ? h('span', { class: 'offset' }, '+' + fmtDuration(e.ms - t0)) : null,
      h('span', { class: 'what' }, call ? `attempt ${call.attempt ?? ''}: call ${e.call + 1}` : (EVENT_WORDS[what] || what)),
      detail ? h('span', { class: 'ev-detail muted wrap' }, detail)
        : call ? h('span', { class: 'ev-detail' }, callLine(call)) : null);
  }));
}

function callsTable(calls) {
  if (!calls) return h('p', { class: 'muted' }, 'The server did not list the upstream attempts.');
  const outcome = (c) => {
    const bits = [];
    if (c.class) bits.push(c.class);
    if (c.code) bits.push(c.code);
    return bits.join(' · ') || (c.http_status >= 200 && c.http_status < 300 ? 'ok' : '—');
  };
  return dataTable({
    testid: 'task-attempts', empty: 'No upstream attempt yet.',
    caption: 'Every call to an upstream provider, in order',
    rowAttrs: (c) => ({ 'data-testid': 'task-attempt', 'data-route': c.route || '' }),
    columns: [
      { label: 'attempt', value: (c) => String(c.attempt ?? '—'), num: true },
      { label: 'provider', value: (c) => h('span', null, h('strong', null, c.route || '—'), c.kind ? h('span', { class: 'muted' }, ' ' + c.kind) : null) },
      { label: 'HTTP', value: (c) => (c.http_status ? String(c.http_status) : '—'), num: true },
      { label: 'started', value: (c) => fmtTime(c.started_at_ms ?? c.started_at), nowrap: true },
      { label: 'duration', value: (c) => (c.duration_ms === null || c.duration_ms === undefined ? 'in flight' : fmtDuration(c.duration_ms)), num: true, nowrap: true },
      { label: 'outcome', value: (c) => h('span', { class: ['outcome', 'outcome-' + (c.class || 'none')], 'data-testid': 'task-attempt-class' }, outcome(c)) },
      { label: 'message', value: (c) => h('span', { class: 'wrap' }, c.message || '') },
      { label: 'upstream id', value: (c) => (c.upstream_id ? h('code', null, c.upstream_id) : '—') },
    ],
    rows: calls,
  });
}

function callbackView(cb, onRedeliver) {
  const rows = dataTable({
    testid: 'callback-attempts', empty: 'No delivery attempt yet.',
    caption: 'Delivery attempts, oldest first',
    rowAttrs: () => ({ 'data-testid': 'callback-attempt' }),
    columns: [
      { label: 'at', value: (a) => fmtTime(a.at_ms) },
      { label: 'HTTP', value: (a) => (a.http_status ? String(a.http_status) : 'no answer'), num: true },
      { label: 'latency', value: (a) => fmtDuration(a.latency_ms), num: true },
      { label: 'error', value: (a) => a.error || 'delivered' },
    ],
    rows: cb.attempts || [],
  });
  const btn = h('button', { type: 'button', id: 'callback-redeliver', 'data-testid': 'callback-redeliver', onClick: onRedeliver }, 'Redeliver');
  return h('div', { 'data-testid': 'task-callback' },
    factList([
      ['state', stateBadge(cb.state), { 'data-testid': 'callback-state' }],
      ['URL', cb.url ? h('code', { class: 'wrap' }, cb.url) : '—'],
      ['webhook id', cb.webhook_id ? h('code', null, cb.webhook_id) : '—'],
      cb.next_at_ms ? ['next attempt', fmtTime(cb.next_at_ms)] : null,
    ]),
    rows,
    h('div', { class: 'actions' }, btn,
      h('span', { class: 'hint' }, 'Sends the callback again now, with a fresh schedule; the receiver sees the same webhook id.')));
}

const SETTLEMENT_WORDS = {
  held: 'held from the balance; settled when the task ends',
  captured: 'captured: the task succeeded and is paid',
  refunded: 'refunded: the price went back to the balance',
  none: 'nothing held',
};

function costView(task) {
  const unknown = task.source === 'full' ? '—' : 'not shown in this dialect\'s answer';
  const rows = [['price', task.price === undefined || task.price === null ? unknown : fmtCredits(task.price) + ' credits', { 'data-testid': 'task-price' }]];
  if (task.source === 'full') {
    const c = task.charged;
    rows.push(['charged', c === null || c === undefined ? (ACTIVE.has(task.state) ? 'nothing yet (held)' : '—') : fmtCredits(c) + ' credits', { 'data-testid': 'task-charged' }]);
    if (task.settlement) rows.push(['ledger', SETTLEMENT_WORDS[task.settlement] || task.settlement, { 'data-testid': 'task-settlement', 'data-settlement': task.settlement }]);
  }
  return factList(rows);
}

// ---- the page ----

export async function render(root, ctx) {
  const id = ctx.params[0] || '';
  const s = ctx.secrets || {};
  const asAdmin = !!s.admin && (ctx.query.as !== 'key' || !s.key);
  const signal = ctx.signal;
  const alive = () => root.isConnected && !(signal && signal.aborted);
  const enc = encodeURIComponent(id);

  root.append(loading('Loading task…'));
  let task = null;
  let loadError = null;
  let callback = null;       // admin: the callback object, or { none: message } when absent
  let lastSig = '';
  let busy = false;
  let polling = false;

  // A key reads GET /v1/tasks/{id}/detail (request, results, times, price, settlement: the
  // admin shape without the operator's information); a server without that route answers an
  // error, and then the dialect's GET /v1/tasks/{id} is shown instead.
  let detailRoute = true;
  async function fetchTask() {
    if (asAdmin) return normalizeTask(await call('GET', `/admin/v1/tasks/${enc}`, { as: 'admin', signal }), id);
    if (detailRoute) {
      try {
        return normalizeTask(await call('GET', `/v1/tasks/${enc}/detail`, { signal }), id);
      } catch (e) {
        if (e && e.name === 'AbortError') throw e;
        detailRoute = false;
      }
    }
    return normalizeTask(await call('GET', `/v1/tasks/${enc}`, { signal }), id);
  }

  // With a key: the dialect's long-poll (?wait=) says when the task changed; then the
  // detail is read again.
  async function waitForChange(seconds) {
    const t = normalizeTask(await call('GET', `/v1/tasks/${enc}`, { query: { wait: seconds }, signal }), id);
    if (!t || !task || t.state !== task.state || t.results.length !== task.results.length) return fetchTask();
    return task;
  }

  async function fetchCallback() {
    if (!asAdmin || !task || ACTIVE.has(task.state)) { callback = null; return; }
    if (task.callbackSummary === null) { callback = { none: 'the task did not ask for one.' }; return; }
    try {
      callback = await call('GET', `/admin/v1/tasks/${enc}/callback`, { as: 'admin', signal });
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      callback = e instanceof ApiError && e.status === 404 ? { none: e.message } : { error: e };
    }
  }

  const signature = () => JSON.stringify([task && task.state, task && task.results.length,
    task && task.calls && task.calls.length, task && task.events && task.events.length,
    callback && (callback.state || callback.none || 'e'), callback && callback.attempts && callback.attempts.length,
    loadError && loadError.message]);

  function draw(actionError) {
    if (!alive()) return;
    const focusedId = document.activeElement && root.contains(document.activeElement) ? document.activeElement.id : null;
    clear(root);
    const head = h('div', { class: 'page-head' },
      h('h1', { id: 'task-title', tabindex: '-1' }, 'Task ', h('code', { class: 'task-id', id: 'task-id', 'data-testid': 'task-id' }, id)),
      copyButton(id, 'Copy id'));
    root.append(h('p', { class: 'crumbs' }, h('a', { href: '#/tasks', id: 'task-back' }, '‹ All tasks')), head);
    if (!task) {
      root.append(errorBox(loadError || new Error('task not found')));
      return;
    }
    const canCancel = ACTIVE.has(task.state) || task.state === 'waiting';
    const cancel = canCancel ? h('button', { type: 'button', class: 'danger', id: 'task-cancel', 'data-testid': 'task-cancel', onClick: onCancel }, 'Cancel task') : null;
    const live = canCancel ? h('span', { class: 'live', role: 'status', 'data-testid': 'task-live' }, 'updating live') : null;
    root.append(h('div', { class: 'task-status' },
      h('span', { id: 'task-state', 'data-testid': 'task-state', 'data-state': task.state }, stateBadge(task.state)),
      task.dialect ? h('span', { class: 'pill', 'data-testid': 'task-dialect' }, task.dialect) : null,
      task.model ? h('span', { class: 'pill', 'data-testid': 'task-model' }, task.model) : null,
      live, cancel));
    if (actionError) root.append(errorBox(actionError));
    if (loadError) root.append(errorBox(loadError));
    if (task.fail_code || task.fail_msg) {
      root.append(h('div', { class: 'fail-box', role: 'note', 'data-testid': 'task-failure' },
        h('strong', null, task.state === 'cancelled' ? 'Cancelled' : 'Failed'), ': ',
        task.fail_msg || '', task.fail_code ? h('span', { class: 'error-code' }, ` (code ${task.fail_code})`) : null));
    }
    const duration = task.duration_ms ?? (task.created && task.completed ? (task.completed - task.created) * 1000 : null);
    root.append(h('section', { class: 'card', 'aria-labelledby': 'task-h-facts' },
      h('h2', { id: 'task-h-facts' }, 'Summary'),
      factList([
        ['created', fmtTime(task.created), { 'data-testid': 'task-created' }],
        task.source === 'full' ? ['claimed', fmtTime(task.started)] : null,
        ['completed', fmtTime(task.completed), { 'data-testid': 'task-completed' }],
        ['took (created to completed)', duration !== null ? fmtDuration(duration) : '—'],
        asAdmin && task.key_id !== undefined && task.key_id !== null ? ['key', h('a', { href: `#/tasks?key_id=${task.key_id}` }, '#' + task.key_id)] : null,
        task.attempt ? ['runs (attempt)', String(task.attempt)] : null,
        task.upstream_route ? ['provider', task.upstream_route] : null,
        task.upstream_id ? ['upstream id', h('code', null, task.upstream_id)] : null,
        task.progress !== undefined && task.progress !== null ? ['progress', task.progress + ' %'] : null,
      ])));
    root.append(h('section', { class: 'card', 'aria-labelledby': 'task-h-results' },
      h('h2', { id: 'task-h-results' }, 'Results'), gallery(task)));
    root.append(h('section', { class: 'card', 'aria-labelledby': 'task-h-request' },
      h('h2', { id: 'task-h-request' }, 'Request'), requestView(task)));
    root.append(h('section', { class: 'card', 'aria-labelledby': 'task-h-cost' },
      h('h2', { id: 'task-h-cost' }, 'Cost'), costView(task)));
    if (asAdmin || (Array.isArray(task.events) && task.events.length)) {
      root.append(h('section', { class: 'card', 'aria-labelledby': 'task-h-timeline' },
        h('h2', { id: 'task-h-timeline' }, 'Timeline'), timeline(task)));
    }
    if (asAdmin) {
      root.append(h('section', { class: 'card', 'aria-labelledby': 'task-h-calls' },
        h('h2', { id: 'task-h-calls' }, 'Upstream attempts'), callsTable(task.calls)));
      let cbBody;
      if (ACTIVE.has(task.state)) {
        const url = task.callbackSummary && task.callbackSummary.url;
        cbBody = h('p', { class: 'muted' }, url ? ['A callback will be sent to ', h('code', { class: 'wrap' }, url), ' when the task ends.']
          : task.callbackSummary === null ? 'The task did not ask for a callback.' : 'A callback, if the task asked for one, is sent when it ends.');
      }
      else if (!callback || callback.none) cbBody = h('p', { class: 'muted', 'data-testid': 'task-no-callback' }, 'No callback: ' + ((callback && callback.none) || 'the task did not ask for one.'));
      else if (callback.error) cbBody = errorBox(callback.error);
      else cbBody = callbackView(callback, onRedeliver);
      root.append(h('section', { class: 'card', 'aria-labelledby': 'task-h-callback' },
        h('h2', { id: 'task-h-callback' }, 'Callback deliveries'), cbBody));
    } else if (s.admin) {
      root.append(h('p', { class: 'muted' }, h('a', { href: `#/tasks/${enc}` }, 'Show as admin'), ' (timeline, upstream attempts, callbacks).'));
    }
    root.append(h('details', { class: 'raw card' }, h('summary', null, 'The API\'s answer'),
      h('pre', { 'data-testid': 'task-raw' }, JSON.stringify(task.raw, null, 2))));
    if (focusedId) {
      const again = document.getElementById(focusedId);
      if (again && root.contains(again)) again.focus({ preventScroll: true });
    }
    lastSig = signature();
  }

  async function onCancel(ev) {
    if (busy) return;
    busy = true;
    const btn = ev.currentTarget;
    btn.disabled = true;
    btn.textContent = 'Cancelling…';
    let err = null;
    try {
      const body = asAdmin
        ? await call('POST', `/admin/v1/tasks/${enc}/cancel`, { as: 'admin', signal })
        : await call('POST', `/v1/tasks/${enc}/cancel`, { signal });
      const t = normalizeTask(body, id);
      // The admin answer is the whole task; a dialect's answer lacks what the detail adds.
      if (t && t.source === 'full') task = t;
      else task = await fetchTask();
      await fetchCallback();
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      err = e;
      try { task = await fetchTask(); } catch { /* keep what we had */ }
    } finally { busy = false; }
    draw(err);
    if (!err) {
      const st = document.getElementById('task-state');
      if (st) st.setAttribute('aria-live', 'polite');
    }
  }

  async function onRedeliver(ev) {
    const btn = ev.currentTarget;
    btn.disabled = true;
    btn.textContent = 'Redelivering…';
    let err = null;
    try {
      callback = await call('POST', `/admin/v1/tasks/${enc}/callback/redeliver`, { as: 'admin', signal });
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      err = e;
    }
    draw(err);
    const again = document.getElementById('callback-redeliver');
    if (again) again.focus({ preventScroll: true });
    if (!err) poll(true);
  }

  try {
    task = await fetchTask();
    await fetchCallback();
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    loadError = e;
  }
  if (!alive()) return;
  draw();
  poll(false);

  // While the task runs (and while its callback is pending) the page follows it.
  async function poll(forCallback) {
    if (polling) return;
    polling = true;
    try {
      let failures = 0;
      while (alive() && task) {
        const running = ACTIVE.has(task.state) || task.state === 'waiting';
        const cbPending = asAdmin && callback && callback.state === 'pending';
        if (!running && !cbPending && !forCallback) break;
        forCallback = false;
        try {
          if (running) {
            let next;
            if (asAdmin) { await sleep(1500, signal); next = await fetchTask(); }
            else next = await waitForChange(25);
            if (next) task = next;
            if (!ACTIVE.has(task.state) && task.state !== 'waiting') await fetchCallback();
          } else {
            await sleep(2000, signal);
            await fetchCallback();
            const next = await fetchTask();   // the timeline lists each delivery attempt too
            if (next) task = next;
          }
          loadError = null;
          failures = 0;
        } catch (e) {
          if (e && e.name === 'AbortError') return;
          loadError = e;
          failures++;
          if (failures > 5) { draw(); return; }
          await sleep(2000 * failures, signal).catch(() => {});
        }
        if (!alive()) return;
        if (signature() !== lastSig) draw();
      }
    } finally { polling = false; }
  }
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(t); reject(new DOMException('aborted', 'AbortError')); }, { once: true });
  });
}
