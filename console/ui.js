// imagegate console: small DOM helpers shared by every page. No framework.

const BOOL_PROPS = new Set(['checked', 'disabled', 'selected', 'multiple', 'hidden', 'required', 'readOnly', 'open']);

// h('button', {class: 'primary', onClick: fn, 'data-testid': 'x'}, 'Save')
// attrs: class (string or array), id, for, type, value, on<Event> functions, aria-*, data-*,
// style (an object; set through element.style, which the CSP allows), boolean properties
// (checked, disabled, …: true sets, false/null omits), anything else as an attribute.
// Children: strings, numbers, Nodes, arrays of those; null/undefined/false are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  let value;
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class' || k === 'className') {
        const c = Array.isArray(v) ? v.filter(Boolean).join(' ') : String(v);
        if (c) el.className = c;
      } else if (k.length > 2 && k.startsWith('on') && typeof v === 'function') {
        el.addEventListener(k.slice(2).toLowerCase(), v);
      } else if (k === 'style' && typeof v === 'object') {
        Object.assign(el.style, v);
      } else if (k === 'value') {
        value = v;                     // after the children: a <select>'s options must exist first
      } else if (BOOL_PROPS.has(k)) {
        el[k] = !!v;
        if (v === true && k !== 'checked' && k !== 'selected') el.setAttribute(k.toLowerCase(), '');
      } else if (v === true) {
        el.setAttribute(k, '');
      } else {
        el.setAttribute(k, String(v));
      }
    }
  }
  append(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// Removes every child of el (and returns it).
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let fieldSeq = 0;
// A labelled control: field('Prompt', h('textarea', {id:'pg-prompt'}), {hint:'…'}).
// Gives the control an id when it has none, and ties the <label> to it.
export function field(label, control, { hint, testid, class: cls } = {}) {
  if (!control.id) control.id = 'f' + (++fieldSeq);
  const kids = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hid = control.id + '-hint';
    control.setAttribute('aria-describedby', hid);
    kids.push(h('small', { id: hid, class: 'hint' }, hint));
  }
  return h('div', { class: ['field', cls], 'data-testid': testid }, kids);
}

// An element showing an error in words, with the API's code and HTTP status.
export function errorBox(err) {
  if (!err) return h('div', { class: 'error-box', role: 'alert', 'data-testid': 'error-box', hidden: true });
  const message = (err && err.message) || String(err);
  const bits = [];
  if (err && err.code) bits.push('code ' + err.code);
  if (err && err.status) bits.push('HTTP ' + err.status);
  if (err && err.param) bits.push('field ' + err.param);
  return h('div', { class: 'error-box', role: 'alert', 'data-testid': 'error-box' },
    h('strong', null, 'Error: '),
    h('span', { class: 'error-message', 'data-testid': 'error-message' }, message),
    bits.length ? h('span', { class: 'error-code', 'data-testid': 'error-code' }, ' (' + bits.join(', ') + ')') : null);
}

const pad = (n) => String(n).padStart(2, '0');

// Unix seconds or milliseconds (or an ISO string) -> "2026-05-01 14:03:07" in local time.
export function fmtTime(t) {
  if (t === null || t === undefined || t === '' || t === 0) return '—';
  let d;
  if (typeof t === 'number' || /^\d+(\.\d+)?$/.test(String(t))) {
    const n = Number(t);
    d = new Date(n < 1e12 ? n * 1000 : n);
  } else {
    d = new Date(t);
  }
  if (isNaN(d.getTime())) return String(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Milliseconds -> "850 ms", "1.3 s", "2 min 5 s".
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || ms === '') return '—';
  const n = Number(ms);
  if (!isFinite(n)) return String(ms);
  if (n < 1000) return Math.round(n) + ' ms';
  if (n < 60000) return (n / 1000).toFixed(1) + ' s';
  return Math.floor(n / 60000) + ' min ' + Math.round((n % 60000) / 1000) + ' s';
}

// Credits, up to six decimals, trailing zeros trimmed, thousands grouped.
export function fmtCredits(n) {
  if (n === null || n === undefined || n === '') return '—';
  const v = Number(n);
  if (!isFinite(v)) return String(n);
  return v.toLocaleString('en-US', { minimumFractionDigits: 0, maximumFractionDigits: 6 });
}

// Copies text to the clipboard (falls back to a hidden textarea where the Clipboard API is absent).
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch { /* fall back */ }
  }
  const ta = h('textarea', { class: 'offscreen', 'aria-hidden': 'true', tabindex: '-1', readonly: true });
  ta.value = text;
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  ta.remove();
  return ok;
}

// A button that copies `text` (a string, or a function returning one) and says so.
export function copyButton(text, label = 'Copy', attrs = {}) {
  const status = h('span', { class: 'copy-status', role: 'status', 'aria-live': 'polite' });
  const btn = h('button', {
    type: 'button', class: 'copy-button', ...attrs,
    onClick: async () => {
      const ok = await copyText(typeof text === 'function' ? text() : text);
      status.textContent = ok ? 'Copied' : 'Copy failed: select the text and copy it';
      setTimeout(() => { status.textContent = ''; }, 2500);
    },
  }, label);
  return h('span', { class: 'copy-wrap' }, btn, status);
}

// Paging controls: « Previous · Page 2 of 7 (130) · Next ».  onPage(newPage) is called on click.
export function pager({ page = 1, pageSize = 20, total = 0, onPage }) {
  const pages = Math.max(1, Math.ceil((Number(total) || 0) / (Number(pageSize) || 20)));
  const prev = h('button', { type: 'button', class: 'pager-prev', 'data-testid': 'pager-prev', disabled: page <= 1, onClick: () => onPage(page - 1) }, '‹ Previous');
  const next = h('button', { type: 'button', class: 'pager-next', 'data-testid': 'pager-next', disabled: page >= pages, onClick: () => onPage(page + 1) }, 'Next ›');
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    prev,
    h('span', { class: 'pager-info', 'data-testid': 'pager-info' }, `Page ${page} of ${pages} · ${total} in all`),
    next);
}

// A small "loading…" placeholder with a live region.
export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status', 'aria-live': 'polite' }, text);
}

// A state word as a coloured badge (queued, running, succeeded, failed, cancelled, …).
export function stateBadge(state) {
  const s = String(state || '').toLowerCase();
  const cls = /succe|complet|^ok$|closed/.test(s) ? 'ok'
    : /fail|error|cancel|open$/.test(s) ? 'bad'
    : /run|process|handl|wait|queue|pend|half/.test(s) ? 'busy' : 'neutral';
  return h('span', { class: ['badge', 'badge-' + cls], 'data-state': s }, state || '—');
}
