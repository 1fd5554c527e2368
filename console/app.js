// imagegate console: router, navigation and sign-in.
import { call, secrets, setSecrets, signOut, ApiError } from './api.js';
import { h, clear, errorBox, field, fmtCredits } from './ui.js';

// Every page: its label, who may see it ('key', 'admin', 'any' = key or admin), its module.
// `#/tasks/<id>` goes to task.js; other pages get the parts after their name as ctx.params.
const PAGES = [
  { name: 'playground', label: 'Playground', needs: 'key', module: './pages/playground.js' },
  { name: 'tasks', label: 'Tasks', needs: 'any', module: './pages/tasks.js', detail: './pages/task.js' },
  { name: 'keys', label: 'Keys', needs: 'admin', module: './pages/keys.js' },
  { name: 'accounts', label: 'Accounts', needs: 'admin', module: './pages/accounts.js' },
  { name: 'usage', label: 'Usage', needs: 'any', module: './pages/usage.js' },
  { name: 'health', label: 'Health', needs: 'any', module: './pages/health.js' },
];

function allowed(page, s = secrets()) {
  if (page.needs === 'key') return !!s.key;
  if (page.needs === 'admin') return !!s.admin;
  return !!(s.key || s.admin);
}

function homeHash(s = secrets()) {
  if (s.key) return '#/playground';
  if (s.admin) return '#/tasks';
  return '#/signin';
}

export function navigate(hash) {
  if (!hash.startsWith('#')) hash = '#' + hash;
  if (location.hash === hash) route();
  else location.hash = hash;
}

// '#/tasks/abc?state=failed' -> { name:'tasks', params:['abc'], query:{state:'failed'} }
export function parseHash(hash) {
  let s = (hash || '').replace(/^#/, '');
  if (s === '') s = '/';
  if (!s.startsWith('/')) return null;
  let q = '';
  const qi = s.indexOf('?');
  if (qi >= 0) { q = s.slice(qi + 1); s = s.slice(0, qi); }
  const parts = s.split('/').filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  const query = {};
  for (const [k, v] of new URLSearchParams(q)) query[k] = v;
  return { name: parts[0] || '', params: parts.slice(1), query };
}

// ---- header: navigation and who is signed in ----

function renderNav(current) {
  const nav = document.getElementById('nav');
  const s = secrets();
  const items = PAGES.filter((p) => allowed(p, s)).map((p) =>
    h('li', null, h('a', {
      href: '#/' + p.name, id: 'nav-' + p.name, 'data-testid': 'nav-' + p.name,
      'aria-current': p.name === current ? 'page' : null,
    }, p.label)));
  if (!s.key && !s.admin) {
    items.push(h('li', null, h('a', { href: '#/signin', id: 'nav-signin', 'data-testid': 'nav-signin', 'aria-current': current === 'signin' ? 'page' : null }, 'Sign in')));
  }
  clear(nav).appendChild(h('ul', null, items));
}

let creditsShown = null;

function renderWhoami() {
  const box = clear(document.getElementById('whoami'));
  const s = secrets();
  if (!s.key && !s.admin) return;
  const who = [];
  if (s.key) who.push(h('span', { class: 'who-key', 'data-testid': 'who-key', title: 'Signed in with an API key' }, 'key ' + s.key.slice(0, 7) + '…'));
  if (s.admin) who.push(h('span', { class: 'who-admin', 'data-testid': 'who-admin' }, 'admin'));
  const credits = h('span', { class: 'who-credits', id: 'who-credits', 'data-testid': 'who-credits' }, creditsShown == null ? '' : 'balance ' + fmtCredits(creditsShown));
  box.append(...who, credits,
    h('button', { type: 'button', id: 'signout', 'data-testid': 'signout', class: 'linkish', onClick: () => { signOut(); creditsShown = null; navigate('#/signin'); } }, 'Sign out'));
}

// Refreshes the balance in the header (called after sign-in and after a task is created).
export async function refreshCredits() {
  if (!secrets().key) { creditsShown = null; return; }
  try {
    const r = await call('GET', '/v1/credits');
    creditsShown = r && r.data ? r.data.balance : null;
  } catch { creditsShown = null; }
  const el = document.getElementById('who-credits');
  if (el) el.textContent = creditsShown == null ? '' : 'balance ' + fmtCredits(creditsShown);
}

// ---- sign-in ----

async function check(path, secret) {
  return call('GET', path, { as: 'none', headers: { Authorization: 'Bearer ' + secret } });
}

function renderSignin(root, ctx) {
  const s = secrets();
  const key = h('input', { id: 'signin-key', 'data-testid': 'signin-key', type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'sk-…', value: s.key || '' });
  const admin = h('input', { id: 'signin-admin', 'data-testid': 'signin-admin', type: 'password', autocomplete: 'off', spellcheck: 'false', value: s.admin || '' });
  const show = h('input', { id: 'signin-show', type: 'checkbox', onChange: () => { key.type = admin.type = show.checked ? 'text' : 'password'; } });
  const errors = h('div', { id: 'signin-error', 'data-testid': 'signin-error', 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', id: 'signin-submit', 'data-testid': 'signin-submit', class: 'primary' }, 'Sign in');
  const form = h('form', { id: 'signin-form', 'data-testid': 'signin-form', class: 'card signin', novalidate: true },
    h('h1', null, 'Sign in'),
    h('p', null, 'Give an API key to use the playground and see your own tasks and credits; give the admin token to see the admin pages. Either or both. They are kept in this tab only (sessionStorage) and sent only as the Authorization header.'),
    field('API key', key, { hint: 'Starts with sk-. Leave empty to sign in as admin only.' }),
    field('Admin token (optional)', admin),
    h('div', { class: 'field field-inline' }, show, h('label', { for: 'signin-show' }, 'Show what I type')),
    errors,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(errors);
    const k = key.value.trim();
    const a = admin.value.trim();
    if (!k && !a) {
      errors.appendChild(errorBox(new ApiError('Give an API key, an admin token, or both.', { code: 'missing_secret' })));
      key.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Checking…';
    const problems = [];
    let balance = null;
    if (k) {
      if (!k.startsWith('sk-')) problems.push(['API key', new ApiError('an API key starts with sk-', { code: 'malformed_key' })]);
      else {
        try { const r = await check('/v1/credits', k); balance = r && r.data ? r.data.balance : null; }
        catch (e) { problems.push(['API key', e]); }
      }
    }
    if (a) {
      try { await check('/admin/v1/status', a); }
      catch (e) {
        // A wrong token is refused (401/403) before any routing; a 404 means the token was
        // accepted by a server without the status route.
        if (!(e instanceof ApiError && e.status === 404)) problems.push(['Admin token', e]);
      }
    }
    submit.disabled = false;
    submit.textContent = 'Sign in';
    if (problems.length) {
      for (const [what, e] of problems) {
        const box = errorBox(e);
        box.insertBefore(h('span', null, what + ' refused. '), box.firstChild.nextSibling);
        errors.appendChild(box);
      }
      (problems[0][0] === 'API key' ? key : admin).focus();
      return;
    }
    setSecrets({ key: k || null, admin: a || null });
    creditsShown = balance;
    const back = ctx.query.next && ctx.query.next.startsWith('#/') && !ctx.query.next.startsWith('#/signin') ? ctx.query.next : null;
    navigate(back || homeHash());
  });
  root.appendChild(form);
  if (ctx.query.why) root.insertBefore(h('p', { class: 'notice', role: 'status' }, ctx.query.why), form);
  setTimeout(() => key.focus(), 0);
}

// ---- router ----

let leaving = null;   // AbortController of the page on screen
let seq = 0;

function freshMain() {
  const old = document.getElementById('main');
  const main = h('main', { id: 'main', tabindex: '-1', 'data-testid': 'main' });
  old.replaceWith(main);
  return main;
}

function notAvailable(root, page, err) {
  root.appendChild(h('section', { class: 'card', 'data-testid': 'page-unavailable' },
    h('h1', null, page.label),
    h('p', null, 'This page is not available in this build of the console.'),
    err ? h('p', { class: 'muted' }, String(err.message || err)) : null));
}

export async function route() {
  const r = parseHash(location.hash);
  if (!r) return;                      // '#main' from the skip link and the like
  const s = secrets();
  if (!r.name) { navigate(homeHash(s)); return; }
  const my = ++seq;
  if (leaving) leaving.abort();
  leaving = new AbortController();
  const ctx = { params: r.params, query: r.query, secrets: s, navigate, signal: leaving.signal, refreshCredits };
  renderNav(r.name);
  renderWhoami();
  const root = freshMain();
  if (r.name === 'signin') {
    document.title = 'Sign in · imagegate';
    renderSignin(root, ctx);
    return;
  }
  const page = PAGES.find((p) => p.name === r.name);
  if (!page) {
    document.title = 'Not found · imagegate';
    root.appendChild(h('section', { class: 'card', 'data-testid': 'page-not-found' }, h('h1', null, 'Not found'),
      h('p', null, 'No page ', h('code', null, '#/' + r.name), '. ', h('a', { href: homeHash(s) }, 'Go home'), '.')));
    return;
  }
  if (!allowed(page, s)) {
    const why = page.needs === 'admin' ? 'The ' + page.label + ' page needs the admin token.' : page.needs === 'key' ? 'The ' + page.label + ' page needs an API key.' : 'Sign in first.';
    navigate('#/signin?' + new URLSearchParams({ why, next: location.hash }).toString());
    return;
  }
  document.title = page.label + ' · imagegate';
  const modPath = r.params.length && page.detail ? page.detail : page.module;
  let mod;
  try { mod = await import(modPath); }
  catch (e) { if (my === seq) notAvailable(root, page, null); console.warn('page module', modPath, e); return; }
  if (my !== seq) return;
  if (typeof mod.render !== 'function') { notAvailable(root, page, null); return; }
  try {
    await mod.render(root, ctx);
  } catch (e) {
    if (my !== seq || (e && e.name === 'AbortError')) return;
    console.error(e);
    if (e instanceof ApiError && e.status === 401) {
      root.appendChild(errorBox(e));
      root.appendChild(h('p', null, h('a', { href: '#/signin' }, 'Sign in again'), '.'));
    } else {
      root.appendChild(errorBox(e instanceof Error ? e : new Error(String(e))));
    }
  }
  if (my === seq && document.activeElement === document.body) {
    const heading = root.querySelector('h1');
    if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
  }
}

function start() {
  document.getElementById('skip-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    const m = document.getElementById('main');
    if (m) m.focus();
  });
  window.addEventListener('hashchange', route);
  route();
  if (secrets().key) refreshCredits();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
