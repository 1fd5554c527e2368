// imagegate console: the one place that talks to the API.
// Every request goes through call(); secrets live in sessionStorage only and are sent
// only as `Authorization: Bearer …`.

const KEY_SLOT = 'imagegate.key';
const ADMIN_SLOT = 'imagegate.admin';

export class ApiError extends Error {
  // status: HTTP status (0 when the server could not be reached)
  // code: the API's code as a string (error.code, error_code, or the numeric `code` of the
  //       jobs envelope), or a client-side word such as 'network_error'
  // param: the field at fault when the API names one, else null
  constructor(message, { status = 0, code = null, param = null, body = null, type = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code == null ? null : String(code);
    this.param = param ?? null;
    this.type = type ?? null;
    this.body = body;
  }
}

function storage() {
  try { return window.sessionStorage; } catch { return null; }
}

export function secrets() {
  const s = storage();
  return {
    key: (s && s.getItem(KEY_SLOT)) || null,
    admin: (s && s.getItem(ADMIN_SLOT)) || null,
  };
}

export function setSecrets({ key, admin } = {}) {
  const s = storage();
  if (!s) return;
  if (key !== undefined) { if (key) s.setItem(KEY_SLOT, key); else s.removeItem(KEY_SLOT); }
  if (admin !== undefined) { if (admin) s.setItem(ADMIN_SLOT, admin); else s.removeItem(ADMIN_SLOT); }
}

export function signOut() {
  const s = storage();
  if (!s) return;
  s.removeItem(KEY_SLOT);
  s.removeItem(ADMIN_SLOT);
}

// The query object as a query string: undefined, null and '' values are dropped; arrays repeat.
export function queryString(query) {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) { for (const x of v) if (x !== undefined && x !== null && x !== '') p.append(k, String(x)); }
    else p.append(k, String(v));
  }
  const s = p.toString();
  return s ? '?' + s : '';
}

// Reads any of the API's error envelopes into an ApiError.
//   {error:{code,message,type,param}}            generations, unified, openai, admin, files
//   {code:N, msg, data:null}                      jobs
//   {code:N, message, data:null, error_code}      tasks
export function errorFrom(status, body, statusText = '') {
  let message = null, code = null, param = null, type = null;
  if (body && typeof body === 'object') {
    const e = body.error;
    if (e && typeof e === 'object') {
      message = e.message ?? null;
      code = e.code ?? null;
      param = e.param ?? null;
      type = e.type ?? null;
    } else if (typeof e === 'string') {
      message = e;
    }
    if (message == null && typeof body.msg === 'string') message = body.msg;
    if (message == null && typeof body.message === 'string') message = body.message;
    if (code == null && body.error_code != null) code = body.error_code;
    if (code == null && body.code != null && body.code !== 200) code = body.code;
  } else if (typeof body === 'string' && body.trim()) {
    message = body.trim().slice(0, 500);
  }
  if (code == null && type) code = type;           // openai answers code null for some errors
  if (code == null && status) code = String(status);
  if (!message) message = `HTTP ${status}${statusText ? ' ' + statusText : ''}`;
  return new ApiError(message, { status, code, param, type, body });
}

// True when a 200 answer still carries an error envelope (jobs/tasks put the status in `code`).
function envelopeFailed(body) {
  return body && typeof body === 'object' && typeof body.code === 'number' && body.code !== 200
    && body.data === null && (typeof body.msg === 'string' || typeof body.message === 'string');
}

function authHeader(as) {
  const s = secrets();
  const secret = as === 'admin' ? s.admin : as === 'none' ? null : s.key;
  return secret ? { Authorization: 'Bearer ' + secret } : {};
}

// Parses a Response: JSON when it says so (or looks like it), else text.
async function readBody(res) {
  const text = await res.text();
  const ct = res.headers.get('content-type') || '';
  if (ct.includes('json') || /^\s*[[{]/.test(text)) {
    try { return JSON.parse(text); } catch { /* fall through */ }
  }
  return text;
}

// Low-level: the Response itself (for streams). Throws ApiError on network failure or non-2xx.
export async function request(method, path, { as = 'key', json, form, query, signal, headers } = {}) {
  const h = { ...authHeader(as), ...(headers || {}) };
  let body;
  if (json !== undefined) { h['Content-Type'] = 'application/json'; body = JSON.stringify(json); }
  else if (form !== undefined) body = form;       // the browser sets the multipart boundary
  let res;
  try {
    res = await fetch(path + queryString(query), { method, headers: h, body, signal, cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError('could not reach the server: ' + (e && e.message ? e.message : String(e)), { status: 0, code: 'network_error' });
  }
  if (!res.ok) {
    const b = await readBody(res).catch(() => null);
    throw errorFrom(res.status, b, res.statusText);
  }
  return res;
}

export async function call(method, path, opts = {}) {
  const res = await request(method, path, opts);
  if (res.status === 204) return null;
  const body = await readBody(res);
  if (envelopeFailed(body)) throw errorFrom(body.code, body);
  return body;
}
