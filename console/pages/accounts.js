// imagegate console: accounts and credits (#/accounts, #/accounts/<id>, admin).
//
// The list is paged on the server (GET /admin/v1/accounts). An account's page shows its
// balance (GET /admin/v1/accounts/{id}), its keys, a form to top up or adjust with a reason
// (POST /admin/v1/accounts/{id}/credits), and its ledger with the running balance, newest
// first, paged on the server (GET /admin/v1/accounts/{id}/ledger).

import { call } from '../api.js';
import { h, clear, errorBox, field, fmtTime, fmtCredits, loading, pager } from '../ui.js';
import { dataTable } from './charts.js';

const posInt = (v, dflt, max) => {
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) && n >= 1 ? Math.min(n, max) : dflt;
};

function hashWith(base, q) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '' && !(k === 'page' && String(v) === '1')) p.set(k, String(v));
  const s = p.toString();
  return base + (s ? '?' + s : '');
}

function signedCredits(v) {
  const n = Number(v);
  if (!isFinite(n)) return String(v ?? '—');
  return (n > 0 ? '+' : n < 0 ? '−' : '') + fmtCredits(Math.abs(n));
}

export async function render(root, ctx) {
  const id = ctx.params[0];
  if (id !== undefined) return renderAccount(root, ctx, id);
  return renderList(root, ctx);
}

// ---- the list ----

async function renderList(root, ctx) {
  const q = ctx.query || {};
  const page = posInt(q.page, 1, 1_000_000);
  const pageSize = posInt(q.page_size, 50, 500);
  const go = (changes) => ctx.navigate(hashWith('#/accounts', { ...q, ...changes }));

  const jump = h('input', { type: 'number', id: 'accounts-go-id', 'data-testid': 'accounts-go-id', min: '1', step: '1', inputmode: 'numeric' });
  const jumpForm = h('form', { class: 'inline-form', id: 'accounts-go', 'aria-label': 'Open an account by id' },
    field('Account id', jump),
    h('button', { type: 'submit', id: 'accounts-go-submit' }, 'Open'));
  jumpForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = jump.value.trim();
    if (/^\d+$/.test(v)) ctx.navigate('#/accounts/' + v);
  });
  root.append(h('div', { class: 'page-head' }, h('h1', null, 'Accounts'), jumpForm));
  root.append(h('p', { class: 'muted' }, 'An account holds the balance its keys share. Open one to top it up, adjust it, or read its ledger.'));
  const out = h('section', { class: 'card', id: 'accounts-list', 'data-testid': 'accounts-list', 'aria-busy': 'true' }, loading('Loading accounts…'));
  root.append(out);
  let r;
  try {
    r = await call('GET', '/admin/v1/accounts', { as: 'admin', query: { page, page_size: pageSize }, signal: ctx.signal });
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    if (root.isConnected) { clear(out).append(errorBox(e)); out.setAttribute('aria-busy', 'false'); }
    return;
  }
  if (!root.isConnected) return;
  const rows = r.data || [];
  const total = r.total ?? rows.length;
  clear(out).append(
    h('p', { class: 'list-summary' }, h('strong', { 'data-testid': 'accounts-total' }, String(total)), total === 1 ? ' account' : ' accounts'),
    dataTable({
      caption: 'Accounts', testid: 'accounts-table', empty: 'No accounts yet: creating a key creates its account.',
      rowAttrs: (a) => ({ 'data-testid': 'account-row', 'data-account-id': a.id }),
      columns: [
        { label: 'id', value: (a) => h('a', { href: '#/accounts/' + a.id, 'data-testid': 'account-link' }, '#' + a.id), num: true },
        { label: 'name', value: (a) => h('a', { href: '#/accounts/' + a.id }, a.name || '(no name)') },
        { label: 'metered', value: (a) => (a.metered ? 'metered' : 'unmetered') },
        { label: 'balance', value: (a) => h('span', { class: Number(a.balance) < 0 ? 'negative' : null }, fmtCredits(a.balance)), num: true },
        { label: 'purchased', value: (a) => fmtCredits(a.total_purchased), num: true },
        { label: 'consumed', value: (a) => fmtCredits(a.total_consumed), num: true },
        { label: 'created', value: (a) => fmtTime(a.created_at) },
      ],
      rows,
    }));
  if (total > pageSize || page > 1) out.append(pager({ page, pageSize, total, onPage: (p) => go({ page: p }) }));
  out.setAttribute('aria-busy', 'false');
}

// ---- one account ----

async function renderAccount(root, ctx, idText) {
  const q = ctx.query || {};
  const signal = ctx.signal;
  const alive = () => root.isConnected && !(signal && signal.aborted);
  if (!/^\d+$/.test(idText)) {
    root.append(h('h1', null, 'Account'), errorBox(Object.assign(new Error('not an account id: ' + idText), { code: 'invalid_request' })));
    return;
  }
  const id = Number(idText);
  const page = posInt(q.page, 1, 1_000_000);
  const pageSize = posInt(q.page_size, 50, 500);

  root.append(h('p', { class: 'crumbs' }, h('a', { href: '#/accounts', id: 'account-back' }, '‹ All accounts')));
  const title = h('h1', null, `Account #${id}`);
  root.append(h('div', { class: 'page-head' }, title));

  const summary = h('section', { class: 'card', id: 'account-summary', 'data-testid': 'account-summary', 'aria-labelledby': 'account-h-balance' },
    loading('Loading the account…'));
  root.append(summary);

  // Top-up / adjust.
  const amount = h('input', { type: 'text', id: 'credits-amount', name: 'credits-amount', 'data-testid': 'credits-amount', inputmode: 'decimal', autocomplete: 'off', required: true, placeholder: 'e.g. 100 or -0.5' });
  const kind = h('select', { id: 'credits-kind', name: 'credits-kind', 'data-testid': 'credits-kind' },
    h('option', { value: '' }, 'by the sign'),
    h('option', { value: 'topup' }, 'top-up'),
    h('option', { value: 'adjust' }, 'adjustment'));
  const reason = h('input', { type: 'text', id: 'credits-reason', name: 'credits-reason', 'data-testid': 'credits-reason', maxlength: '500', autocomplete: 'off', placeholder: 'e.g. invoice 2026-0042' });
  const creditsMsg = h('div', { id: 'credits-message', 'data-testid': 'credits-message', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'credits-submit', 'data-testid': 'credits-submit' }, 'Add credits');
  const form = h('form', { class: 'card', id: 'credits-form', 'data-testid': 'credits-form', novalidate: true, 'aria-labelledby': 'credits-title' },
    h('h2', { id: 'credits-title' }, 'Top up or adjust'),
    h('div', { class: 'filter-grid' },
      field('Amount (credits)', amount, { hint: 'Up to six decimals; negative to take credits away' }),
      field('Kind', kind, { hint: 'A top-up adds credits and makes the account metered; an adjustment corrects, either sign. By the sign: positive is a top-up, negative an adjustment.' }),
      field('Reason', reason, { hint: 'Kept on the ledger row (at most 500 characters)' })),
    creditsMsg,
    h('div', { class: 'actions' }, submit));
  root.append(form);

  const keysBox = h('section', { class: 'card', id: 'account-keys', 'data-testid': 'account-keys', 'aria-labelledby': 'account-h-keys' },
    h('h2', { id: 'account-h-keys' }, 'Keys of this account'), loading('Loading keys…'));
  const ledgerBox = h('section', { class: 'card', id: 'account-ledger', 'data-testid': 'account-ledger', 'aria-labelledby': 'account-h-ledger', 'aria-busy': 'true' },
    h('h2', { id: 'account-h-ledger' }, 'Ledger'), loading('Loading the ledger…'));
  root.append(ledgerBox, keysBox);

  function drawSummary(a) {
    title.textContent = `Account #${a.id}: ${a.name || '(no name)'}`;
    clear(summary).append(
      h('h2', { id: 'account-h-balance' }, 'Balance'),
      h('p', { class: 'big-number' },
        h('span', { id: 'account-balance', 'data-testid': 'account-balance', 'data-value': String(a.balance), class: Number(a.balance) < 0 ? 'negative' : null }, fmtCredits(a.balance)),
        ' credits'),
      h('dl', { class: 'facts' },
        h('dt', null, 'metered'), h('dd', { 'data-testid': 'account-metered' }, a.metered ? 'yes: a task above the balance is refused' : 'no: tasks are never refused for the balance'),
        h('dt', null, 'purchased'), h('dd', { 'data-testid': 'account-purchased' }, fmtCredits(a.total_purchased)),
        h('dt', null, 'consumed'), h('dd', { 'data-testid': 'account-consumed' }, fmtCredits(a.total_consumed)),
        h('dt', null, 'created'), h('dd', null, fmtTime(a.created_at))));
  }

  async function loadAccount() {
    try {
      const a = await call('GET', `/admin/v1/accounts/${id}`, { as: 'admin', signal });
      if (alive()) drawSummary(a);
      return a;
    } catch (e) {
      if (e && e.name === 'AbortError') return null;
      if (alive()) clear(summary).append(h('h2', { id: 'account-h-balance' }, 'Balance'), errorBox(e));
      return null;
    }
  }

  let ledgerPage = page;
  async function loadLedger() {
    ledgerBox.setAttribute('aria-busy', 'true');
    let r;
    try {
      r = await call('GET', `/admin/v1/accounts/${id}/ledger`, { as: 'admin', query: { page: ledgerPage, page_size: pageSize }, signal });
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      if (alive()) { clear(ledgerBox).append(h('h2', { id: 'account-h-ledger' }, 'Ledger'), errorBox(e)); ledgerBox.setAttribute('aria-busy', 'false'); }
      return;
    }
    if (!alive()) return;
    const rows = Array.isArray(r) ? r : (r.data || []);
    const total = r.total ?? rows.length;
    clear(ledgerBox).append(
      h('h2', { id: 'account-h-ledger' }, 'Ledger'),
      h('p', { class: 'muted' }, `Every movement of the balance, newest first (${total} in all). A task's price is held when it is created, then captured (0) or refunded.`),
      dataTable({
        caption: 'Ledger rows with the balance after each', testid: 'ledger-table', empty: 'No ledger rows.',
        rowAttrs: (x) => ({ 'data-testid': 'ledger-row', 'data-kind': x.kind, 'data-ledger-id': x.id }),
        columns: [
          { label: 'id', value: (x) => String(x.id), num: true },
          { label: 'at', value: (x) => fmtTime(x.at ?? x.created_at) },
          { label: 'kind', value: (x) => h('span', { class: 'pill kind-' + x.kind }, x.kind) },
          { label: 'price', value: (x) => (Number(x.price) ? fmtCredits(x.price) : '—'), num: true },
          { label: 'amount', value: (x) => h('span', { class: Number(x.amount) < 0 ? 'negative' : Number(x.amount) > 0 ? 'positive' : null }, signedCredits(x.amount)), num: true },
          { label: 'balance after', value: (x) => h('span', { 'data-testid': 'ledger-balance-after' }, fmtCredits(x.balance_after)), num: true },
          { label: 'key', value: (x) => (x.key_id ? h('a', { href: `#/tasks?key_id=${x.key_id}` }, '#' + x.key_id) : '—'), num: true },
          { label: 'reason / task', value: (x) => x.task_id ? h('a', { href: '#/tasks/' + encodeURIComponent(x.task_id), class: 'mono small' }, x.task_id) : h('span', { class: 'wrap' }, x.reason || '—') },
        ],
        rows,
      }));
    if (total > pageSize || ledgerPage > 1) {
      ledgerBox.append(pager({ page: ledgerPage, pageSize, total, onPage: (p) => {
        ledgerPage = p;
        history.replaceState(null, '', hashWith(`#/accounts/${id}`, { ...q, page: p }));
        loadLedger().then(() => { const h2 = document.getElementById('account-h-ledger'); if (h2) { h2.tabIndex = -1; h2.focus(); } });
      } }));
    }
    ledgerBox.setAttribute('aria-busy', 'false');
  }

  async function loadKeys() {
    try {
      const r = await call('GET', '/admin/v1/keys', { as: 'admin', query: { account_id: id }, signal });
      if (!alive()) return;
      const rows = (r.data || []).filter((k) => k.account_id === id);
      clear(keysBox).append(h('h2', { id: 'account-h-keys' }, 'Keys of this account'),
        dataTable({
          caption: 'Keys that share this balance', testid: 'account-keys-table', empty: 'No key uses this account.',
          columns: [
            { label: 'id', value: (k) => '#' + k.id, num: true },
            { label: 'name', value: (k) => k.name },
            { label: 'prefix', value: (k) => h('code', null, k.prefix + '…') },
            { label: 'status', value: (k) => h('span', { class: ['badge', k.disabled ? 'badge-bad' : 'badge-ok'] }, k.disabled ? 'disabled' : 'active') },
            { label: 'tasks', value: (k) => h('a', { href: `#/tasks?key_id=${k.id}` }, 'tasks') },
            { label: 'usage', value: (k) => h('a', { href: `#/usage?key_id=${k.id}` }, 'usage') },
          ],
          rows,
        }),
        h('p', null, h('a', { href: '#/keys' }, 'Manage keys')));
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      if (alive()) clear(keysBox).append(h('h2', { id: 'account-h-keys' }, 'Keys of this account'), errorBox(e));
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(creditsMsg);
    const v = amount.value.trim().replace(/^\+/, '').replace(/^−/, '-');
    if (!/^-?(\d+(\.\d{1,6})?|\.\d{1,6})$/.test(v) || Number(v) === 0) {
      creditsMsg.append(errorBox(Object.assign(new Error('the amount must be a number of credits other than 0, with up to six decimals'), { code: 'invalid_request', param: 'amount' })));
      amount.focus();
      return;
    }
    const body = { amount: v };
    if (reason.value.trim()) body.reason = reason.value.trim();
    if (kind.value) body.kind = kind.value;
    submit.disabled = true;
    submit.textContent = 'Saving…';
    try {
      const a = await call('POST', `/admin/v1/accounts/${id}/credits`, { as: 'admin', json: body, signal });
      if (!alive()) return;
      drawSummary(a);
      form.reset();
      creditsMsg.append(h('p', { class: 'ok-box', role: 'status', 'data-testid': 'credits-done' },
        `${Number(v) > 0 ? 'Added' : 'Took'} ${fmtCredits(Math.abs(Number(v)))} credits; the balance is now ${fmtCredits(a.balance)}.`));
      ledgerPage = 1;
      loadLedger();
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      creditsMsg.append(errorBox(e));
    } finally {
      submit.disabled = false;
      submit.textContent = 'Add credits';
    }
  });

  await Promise.all([loadAccount(), loadLedger(), loadKeys()]);
}
