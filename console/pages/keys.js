// imagegate console: API keys (#/keys, admin).
//
// Lists keys (GET /admin/v1/keys; never secrets: the prefix only), creates one
// (POST /admin/v1/keys; the secret is shown once, with a copy button), disables and enables
// (PATCH {disabled}), rotates (POST …/rotate; the new secret shown once) and edits the name,
// limits and the IP allowlist (PATCH).

import { call } from '../api.js';
import { h, clear, errorBox, field, fmtTime, fmtCredits, copyButton, loading, pager } from '../ui.js';
import { dataTable } from './charts.js';

const PAGE_SIZE = 50;

function num(id, value, { min = '0', step = '1', placeholder = 'none' } = {}) {
  return h('input', { type: 'number', id, name: id, 'data-testid': id, min, step, inputmode: step === '1' ? 'numeric' : 'decimal', placeholder, value: value ?? '' });
}

function creditsInput(id, value, placeholder = 'none') {
  return h('input', { type: 'text', id, name: id, 'data-testid': id, inputmode: 'decimal', pattern: '-?[0-9]*[.]?[0-9]*', placeholder, autocomplete: 'off', value: value ?? '' });
}

function splitIps(text) {
  return String(text || '').split(/[\s,;]+/).map((x) => x.trim()).filter(Boolean);
}

const isCredits = (v) => /^\d+(\.\d{1,6})?$|^\.\d{1,6}$/.test(v);

// Reads a limits form (create or edit) into an API body; throws an Error naming the field.
function readLimits(els, { forPatch }) {
  const body = {};
  const whole = (el, name) => {
    const v = el.value.trim();
    if (v === '') { if (forPatch) body[name] = 0; return; }
    if (!/^\d+$/.test(v) || Number(v) > 1_000_000) throw Object.assign(new Error(`${name} must be a whole number from 0 to 1000000`), { code: 'invalid_request', param: name });
    body[name] = Number(v);
  };
  whole(els.rpm, 'rpm');
  whole(els.maxActive, 'max_active');
  const spend = {};
  for (const w of ['hourly', 'daily', 'total']) {
    const v = els.spend[w].value.trim();
    if (v === '') { if (forPatch) spend[w] = null; continue; }
    if (!isCredits(v)) throw Object.assign(new Error(`spend limit (${w}) must be a number of credits, up to six decimals`), { code: 'invalid_request', param: 'spend_limits.' + w });
    spend[w] = v;
  }
  if (Object.keys(spend).length) body.spend_limits = spend;
  const ips = splitIps(els.ips.value);
  if (ips.length || forPatch) body.ip_allowlist = ips;
  return body;
}

function limitFields(prefix, key) {
  const sl = (key && key.spend_limits) || {};
  const els = {
    rpm: num(prefix + '-rpm', key && key.rpm ? key.rpm : ''),
    maxActive: num(prefix + '-max-active', key && key.max_active ? key.max_active : ''),
    spend: {
      hourly: creditsInput(prefix + '-spend-hourly', sl.hourly ?? ''),
      daily: creditsInput(prefix + '-spend-daily', sl.daily ?? ''),
      total: creditsInput(prefix + '-spend-total', sl.total ?? ''),
    },
    ips: h('textarea', { id: prefix + '-ips', name: prefix + '-ips', 'data-testid': prefix + '-ips', rows: '3', spellcheck: 'false', placeholder: 'e.g. 10.0.0.0/8, 2001:db8::/32' }),
  };
  els.ips.value = key && key.ip_allowlist ? key.ip_allowlist.join('\n') : '';
  const nodes = [
    h('div', { class: 'filter-grid' },
      field('Requests per minute', els.rpm, { hint: 'Empty or 0: no limit' }),
      field('Active tasks at once', els.maxActive, { hint: 'Empty or 0: no limit' }),
      field('Spend per hour (credits)', els.spend.hourly),
      field('Spend per day (credits)', els.spend.daily),
      field('Spend in total (credits)', els.spend.total)),
    field('IP allowlist', els.ips, { hint: 'CIDRs or addresses, one a line (or separated by commas). Empty: any address.' }),
  ];
  return { els, nodes };
}

function limitsSummary(k) {
  const bits = [];
  if (k.rpm) bits.push(`${k.rpm}/min`);
  if (k.max_active) bits.push(`${k.max_active} active`);
  const sl = k.spend_limits || {};
  for (const [w, label] of [['hourly', 'h'], ['daily', 'day'], ['total', 'total']]) {
    if (sl[w] !== null && sl[w] !== undefined) bits.push(`${fmtCredits(sl[w])}/${label}`);
  }
  return bits.length ? bits.join(', ') : 'none';
}

function secretBox(key, what, onDone) {
  const box = h('section', { class: 'card secret-once', id: 'key-secret-box', 'data-testid': 'secret-once', tabindex: '-1', role: 'alert', 'aria-labelledby': 'key-secret-title' },
    h('h2', { id: 'key-secret-title' }, what === 'rotated' ? `New secret of key #${key.id} (${key.name})` : `Key #${key.id} created (${key.name})`),
    h('p', null, h('strong', null, 'This is the only time the secret is shown.'), ' Copy it now and give it to its owner; the server keeps only its hash.'),
    h('div', { class: 'secret-line' },
      h('code', { id: 'key-secret', 'data-testid': 'key-secret', class: 'secret' }, key.key),
      copyButton(key.key, 'Copy secret', { id: 'key-secret-copy', 'data-testid': 'key-secret-copy' })),
    h('p', { class: 'muted' }, `Prefix ${key.prefix}, account #${key.account_id}.`),
    h('div', { class: 'actions' },
      h('button', { type: 'button', id: 'key-secret-dismiss', 'data-testid': 'key-secret-dismiss', onClick: onDone }, 'I have stored it: hide the secret')));
  return box;
}

export async function render(root, ctx) {
  const q = ctx.query || {};
  const signal = ctx.signal;
  const alive = () => root.isConnected && !(signal && signal.aborted);
  let keys = [];
  let serverTotal = null;   // when the server pages the list
  let editing = null;       // id of the key being edited
  let confirmRotate = null; // id whose rotation awaits confirmation
  let page = Math.max(1, Number.parseInt(q.page, 10) || 1);
  let search = q.q || '';

  const secretSlot = h('div', { id: 'key-secret-slot', 'aria-live': 'polite' });
  const listError = h('div', { id: 'keys-error' });
  const editSlot = h('div', { id: 'key-edit-slot' });
  const listSlot = h('div', { id: 'keys-list', 'data-testid': 'keys-list' }, loading('Loading keys…'));

  root.append(h('div', { class: 'page-head' }, h('h1', null, 'API keys')));
  root.append(secretSlot);

  function showSecret(key, what) {
    clear(secretSlot).append(secretBox(key, what, () => {
      clear(secretSlot);
      const back = document.getElementById(what === 'rotated' ? `key-rotate-${key.id}` : 'key-name');
      if (back) back.focus();
    }));
    const box = document.getElementById('key-secret-box');
    if (box) { box.scrollIntoView({ block: 'nearest' }); box.focus({ preventScroll: true }); }
  }

  // ---- create ----
  const name = h('input', { type: 'text', id: 'key-name', name: 'key-name', 'data-testid': 'key-name', required: true, maxlength: '200', autocomplete: 'off' });
  const account = h('input', { type: 'number', id: 'key-account', name: 'key-account', 'data-testid': 'key-account', min: '1', step: '1', inputmode: 'numeric', placeholder: 'a new account' });
  const credits = creditsInput('key-credits', '', 'unmetered');
  const lim = limitFields('key', null);
  const createError = h('div', { id: 'key-create-error', 'data-testid': 'key-create-error' });
  const createBtn = h('button', { type: 'submit', class: 'primary', id: 'key-create-submit', 'data-testid': 'key-create-submit' }, 'Create key');
  const form = h('form', { class: 'card', id: 'key-create-form', 'data-testid': 'key-create-form', novalidate: true, 'aria-labelledby': 'key-create-title' },
    h('h2', { id: 'key-create-title' }, 'Create a key'),
    h('div', { class: 'filter-grid' },
      field('Name', name, { hint: 'Who or what the key is for' }),
      field('Account id (optional)', account, { hint: 'Share an existing account\'s balance; empty: a new account' }),
      field('Initial credits (optional)', credits, { hint: 'With credits (even 0) the account is metered; empty: unmetered' })),
    ...lim.nodes,
    createError,
    h('div', { class: 'actions' }, createBtn));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(createError);
    let body;
    try {
      if (!name.value.trim()) throw Object.assign(new Error('a name is required'), { code: 'invalid_request', param: 'name' });
      body = { name: name.value.trim(), ...readLimits(lim.els, { forPatch: false }) };
      const acc = account.value.trim();
      if (acc) {
        if (!/^\d+$/.test(acc) || acc === '0') throw Object.assign(new Error('account id must be an account\'s id'), { code: 'invalid_request', param: 'account_id' });
        body.account_id = Number(acc);
      }
      const c = credits.value.trim();
      if (c) {
        if (!isCredits(c)) throw Object.assign(new Error('credits must be a number of credits, up to six decimals'), { code: 'invalid_request', param: 'credits' });
        body.credits = c;
      }
    } catch (e) {
      createError.append(errorBox(e));
      const bad = e.param === 'name' ? name : e.param === 'account_id' ? account : e.param === 'credits' ? credits : null;
      if (bad) bad.focus();
      return;
    }
    createBtn.disabled = true;
    createBtn.textContent = 'Creating…';
    try {
      const key = await call('POST', '/admin/v1/keys', { as: 'admin', json: body, signal });
      if (!alive()) return;
      form.reset();
      lim.els.ips.value = '';
      const { key: _secret, ...listed } = key;
      keys = [listed, ...keys.filter((k) => k.id !== key.id)];
      if (serverTotal !== null) serverTotal++;
      drawList();
      showSecret(key, 'created');
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      createError.append(errorBox(e));
    } finally {
      createBtn.disabled = false;
      createBtn.textContent = 'Create key';
    }
  });

  root.append(form);

  // ---- list ----
  const searchBox = h('input', { type: 'search', id: 'keys-search', 'data-testid': 'keys-search', value: search, placeholder: 'name, prefix or id', autocomplete: 'off' });
  let searchTimer = null;
  // The server searches (id, a part of the name, the start of the prefix) when it pages; an
  // older server's whole list is searched here.
  searchBox.addEventListener('input', () => {
    search = searchBox.value;
    page = 1;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => (serverTotal !== null ? load() : drawList()), 250);
  });
  root.append(h('section', { 'aria-labelledby': 'keys-list-title', class: 'card' },
    h('div', { class: 'page-head' }, h('h2', { id: 'keys-list-title' }, 'Keys'),
      h('div', { class: 'inline-field' }, field('Find a key', searchBox))),
    listError, editSlot, listSlot));

  async function patchKey(id, body, { focusId } = {}) {
    clear(listError);
    try {
      const k = await call('PATCH', `/admin/v1/keys/${id}`, { as: 'admin', json: body, signal });
      keys = keys.map((x) => (x.id === k.id ? k : x));
      return k;
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      listError.append(errorBox(e));
      return null;
    } finally {
      if (alive()) {
        drawList();
        const again = focusId && document.getElementById(focusId);
        if (again) again.focus();
      }
    }
  }

  async function rotate(id) {
    clear(listError);
    confirmRotate = null;
    try {
      const k = await call('POST', `/admin/v1/keys/${id}/rotate`, { as: 'admin', signal });
      const { key: _s, ...listed } = k;
      keys = keys.map((x) => (x.id === k.id ? listed : x));
      drawList();
      showSecret(k, 'rotated');
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      listError.append(errorBox(e));
      drawList();
    }
  }

  function editPanel(k) {
    const ename = h('input', { type: 'text', id: 'edit-name', 'data-testid': 'edit-name', maxlength: '200', value: k.name });
    const lim2 = limitFields('edit', k);
    const err = h('div', { id: 'key-edit-error' });
    const save = h('button', { type: 'submit', class: 'primary', id: 'key-edit-save', 'data-testid': 'key-edit-save' }, 'Save');
    const f = h('form', { class: 'card edit-panel', id: 'key-edit-form', 'data-testid': 'key-edit-form', novalidate: true, 'aria-labelledby': 'key-edit-title' },
      h('h3', { id: 'key-edit-title' }, `Edit key #${k.id} (${k.prefix})`),
      field('Name', ename),
      ...lim2.nodes,
      err,
      h('div', { class: 'actions' }, save,
        h('button', { type: 'button', id: 'key-edit-cancel', 'data-testid': 'key-edit-cancel', onClick: () => { editing = null; drawList(); focus(`key-edit-${k.id}`); } }, 'Cancel')));
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clear(err);
      let body;
      try {
        if (!ename.value.trim()) throw Object.assign(new Error('a name is required'), { code: 'invalid_request', param: 'name' });
        body = { name: ename.value.trim(), ...readLimits(lim2.els, { forPatch: true }) };
      } catch (e) { err.append(errorBox(e)); return; }
      save.disabled = true;
      try {
        const updated = await call('PATCH', `/admin/v1/keys/${k.id}`, { as: 'admin', json: body, signal });
        keys = keys.map((x) => (x.id === updated.id ? updated : x));
        editing = null;
        drawList();
        focus(`key-edit-${k.id}`);
        const row = listSlot.querySelector(`tr[data-key-id="${k.id}"]`);
        if (row) row.classList.add('flash');
      } catch (e) {
        if (e && e.name === 'AbortError') return;
        save.disabled = false;
        err.append(errorBox(e));
      }
    });
    return f;
  }

  function focus(id) {
    const el = document.getElementById(id);
    if (el) el.focus();
  }

  function actions(k) {
    const toggle = k.disabled
      ? h('button', { type: 'button', id: `key-enable-${k.id}`, 'data-testid': 'key-enable', onClick: () => patchKey(k.id, { disabled: false }, { focusId: `key-disable-${k.id}` }) }, 'Enable')
      : h('button', { type: 'button', class: 'danger', id: `key-disable-${k.id}`, 'data-testid': 'key-disable', onClick: () => patchKey(k.id, { disabled: true }, { focusId: `key-enable-${k.id}` }) }, 'Disable');
    const edit = h('button', { type: 'button', id: `key-edit-${k.id}`, 'data-testid': 'key-edit', 'aria-expanded': editing === k.id ? 'true' : 'false', onClick: () => { editing = k.id; confirmRotate = null; drawList(); focus('edit-name'); } }, 'Edit');
    let rot;
    if (confirmRotate === k.id) {
      rot = h('span', { class: 'confirm', role: 'group', 'aria-label': 'Confirm rotation' },
        h('span', null, 'The old secret stops working. '),
        h('button', { type: 'button', class: 'danger', id: `key-rotate-confirm-${k.id}`, 'data-testid': 'key-rotate-confirm', onClick: () => rotate(k.id) }, 'Rotate now'),
        h('button', { type: 'button', id: `key-rotate-keep-${k.id}`, 'data-testid': 'key-rotate-keep', onClick: () => { confirmRotate = null; drawList(); focus(`key-rotate-${k.id}`); } }, 'Keep'));
    } else {
      rot = h('button', { type: 'button', id: `key-rotate-${k.id}`, 'data-testid': 'key-rotate', onClick: () => { confirmRotate = k.id; drawList(); focus(`key-rotate-confirm-${k.id}`); } }, 'Rotate');
    }
    return h('div', { class: 'row-actions' }, edit, toggle, rot);
  }

  function drawList() {
    if (!alive()) return;
    const term = search.trim().toLowerCase();
    const match = (k) => !term || String(k.id) === term.replace(/^#/, '') || (k.name || '').toLowerCase().includes(term) || (k.prefix || '').toLowerCase().startsWith(term);
    const serverPaged = serverTotal !== null;
    const shown = serverPaged ? keys : keys.filter(match);
    const total = serverPaged ? serverTotal : shown.length;
    const pageRows = serverPaged ? shown : shown.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
    clear(editSlot);
    const ek = editing !== null && keys.find((k) => k.id === editing);
    if (ek) editSlot.append(editPanel(ek));
    clear(listSlot).append(
      h('p', { class: 'list-summary' }, h('strong', { 'data-testid': 'keys-total' }, String(total)), total === 1 ? ' key' : ' keys', term ? ` matching “${search.trim()}”` : ''),
      dataTable({
        caption: 'Keys (secrets are never shown again: only their first 10 characters)',
        testid: 'keys-table', empty: term ? 'No key matches.' : 'No keys yet. Create one above.',
        rowAttrs: (k) => ({ 'data-testid': 'key-row', 'data-key-id': k.id, 'data-prefix': k.prefix, class: k.disabled ? 'is-disabled' : null }),
        columns: [
          { label: 'id', value: (k) => '#' + k.id, num: true },
          { label: 'name', value: (k) => h('strong', null, k.name) },
          { label: 'prefix', value: (k) => h('code', { 'data-testid': 'key-prefix' }, k.prefix + '…'), nowrap: true },
          { label: 'account', value: (k) => h('a', { href: `#/accounts/${k.account_id}`, 'data-testid': 'key-account-link' }, '#' + k.account_id) },
          { label: 'status', value: (k) => h('span', { 'data-testid': 'key-status', 'data-disabled': String(!!k.disabled), class: ['badge', k.disabled ? 'badge-bad' : 'badge-ok'] }, k.disabled ? 'disabled' : 'active') },
          { label: 'limits', value: (k) => h('span', { 'data-testid': 'key-limits' }, limitsSummary(k)) },
          { label: 'IP allowlist', value: (k) => (k.ip_allowlist && k.ip_allowlist.length ? h('span', { class: 'wrap mono small', 'data-testid': 'key-ips' }, k.ip_allowlist.join(', ')) : 'any') },
          { label: 'created', value: (k) => fmtTime(k.created_at), nowrap: true },
          { label: 'tasks', value: (k) => h('a', { href: `#/tasks?key_id=${k.id}`, 'aria-label': `Tasks of key ${k.id}` }, 'tasks') },
          { label: 'actions', value: actions },
        ],
        rows: pageRows,
      }));
    if (total > PAGE_SIZE) {
      listSlot.append(pager({ page, pageSize: PAGE_SIZE, total, onPage: async (p) => {
        page = p;
        if (serverTotal !== null) await load();
        else drawList();
      } }));
    }
  }

  let loads = 0;
  async function load() {
    const mine = ++loads;
    try {
      const r = await call('GET', '/admin/v1/keys', { as: 'admin', query: { page, page_size: PAGE_SIZE, q: search.trim().replace(/^#(?=\d+$)/, '') }, signal });
      if (mine !== loads) return;  // a newer search or page was asked for meanwhile
      keys = r.data || [];
      serverTotal = typeof r.total === 'number' ? r.total : null;
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      if (!alive()) return;
      clear(listSlot).append(errorBox(e));
      return;
    }
    drawList();
  }
  await load();
}
