// Harness of the browser tests: a real imagegate on port 0 (as tests/integration/harness.py
// starts it: `serve --listen 127.0.0.1:0 --set server.port_file=F`, the port read from F) and
// Debian's headless chromium driven by puppeteer-core. Whatever it starts it kills again: by
// PID in `cleanup()` (call it in a finally block), and synchronously on process exit, SIGINT,
// SIGTERM and at the run's deadline, so neither a server nor a browser outlives a failed run.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const BIN = process.env.IMAGEGATE_BIN || path.join(ROOT, 'build', 'imagegate');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- every process this run started, killed by PID whatever happens -------------------------

const owned = new Map();  // pid -> { group: bool, what }

function own(pid, what, group = false) { owned.set(pid, { what, group }); }
function disown(pid) { owned.delete(pid); }

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** SIGKILLs every process (or process group: chromium's renderers) still owned. Synchronous,
 *  so it also works in an 'exit' handler. */
export function killOwned() {
  for (const [pid, { group }] of owned) {
    try { process.kill(group ? -pid : pid, 'SIGKILL'); } catch { /* already gone */ }
    if (group) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }
  owned.clear();
}

const tempDirs = new Set();
function removeTempDirs() {
  if (process.env.IG_KEEP_DATA) return;
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

process.on('exit', () => { killOwned(); removeTempDirs(); });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`browser tests: ${sig}, killing ${owned.size} owned process(es)\n`);
    killOwned();
    removeTempDirs();
    process.exit(128 + os.constants.signals[sig]);
  });
}

/** Ends the whole run with status 1 after `ms` (whatever hangs: a page, the server, chromium);
 *  every owned process is killed on the way out. Call once at the start of a run. */
export function deadline(ms, onExpire = async () => {}) {
  const t = setTimeout(async () => {
    process.stderr.write(`browser tests: still running after ${ms / 1000} s; giving up\n`);
    try { await Promise.race([onExpire(), sleep(10000)]); } catch { /* best effort */ }
    killOwned();
    process.exit(1);
  }, ms);
  t.unref();
  return t;
}

// ---- chromium ------------------------------------------------------------------------------

/** The chromium executable: IG_CHROMIUM, else `chromium` (Debian's package) or
 *  `chromium-browser` on PATH; null when there is none. */
export function findChromium() {
  if (process.env.IG_CHROMIUM) return process.env.IG_CHROMIUM;
  for (const name of ['chromium', 'chromium-browser']) {
    for (const dir of (process.env.PATH || '').split(':')) {
      const p = path.join(dir || '.', name);
      try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
    }
  }
  return null;
}

export async function launchBrowser() {
  const { default: puppeteer } = await import('puppeteer-core');
  const executablePath = findChromium();
  if (!executablePath) throw new Error('chromium is not installed (apt-get install chromium, or `make deps`)');
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    // The harness kills the browser itself (by PID, as a process group) on every way out.
    handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
    protocolTimeout: 60000,
    args: [
      // Chromium's sandbox needs user namespaces, which root and most CI containers lack; the
      // browser here opens only the local server's console.
      '--no-sandbox',
      '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
      '--disable-extensions', '--disable-background-networking', '--disable-sync',
      '--mute-audio', '--hide-scrollbars', '--font-render-hinting=none',
    ],
    defaultViewport: { width: 1280, height: 860 },
  });
  const pid = browser.process()?.pid;
  // puppeteer starts chromium detached, in its own process group (renderers included).
  if (pid) own(pid, 'chromium', true);
  const close = browser.close.bind(browser);
  browser.close = async () => {
    try { await Promise.race([close(), sleep(5000)]); } catch { /* killed below */ }
    if (pid) {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      disown(pid);
    }
  };
  return browser;
}

// ---- imagegate -----------------------------------------------------------------------------

function waitForFile(file, proc, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      try {
        const s = fs.readFileSync(file, 'utf8').trim();
        if (s) return resolve(s);
      } catch { /* not yet */ }
      if (proc.exitCode !== null || proc.signalCode !== null) {
        return reject(new Error(`imagegate exited (${proc.exitCode ?? proc.signalCode}) before writing ${file}`));
      }
      if (Date.now() - t0 > timeoutMs) return reject(new Error('timed out waiting for ' + file));
      setTimeout(tick, 20);
    };
    tick();
  });
}

export class ApiAnswer {
  constructor(status, headers, text) {
    this.status = status;
    this.headers = headers;
    this.text = text;
    try { this.body = JSON.parse(text); } catch { this.body = null; }
  }
}

/** One imagegate process on its own temporary data dir, with an admin token. */
export class Server {
  /** settings: extra `--set k=v`; consoleDir: serve the console from this directory
   *  (`console.dir`) instead of the files embedded in the binary (IG_CONSOLE_DIR does the same
   *  for every server of a run). */
  constructor({ settings = {}, consoleDir = process.env.IG_CONSOLE_DIR || '' } = {}) {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-browser-'));
    tempDirs.add(this.dataDir);
    this.settings = settings;
    this.consoleDir = consoleDir;
    this.adminToken = 'adm-' + randomBytes(16).toString('hex');
    this.logPath = path.join(this.dataDir, 'server.log');
    this.proc = null;
    this.port = null;
  }

  get base() { return `http://127.0.0.1:${this.port}`; }
  get consoleUrl() { return this.base + '/console/'; }

  async start() {
    if (!fs.existsSync(BIN)) throw new Error(`no imagegate binary at ${BIN} (build first, or set IMAGEGATE_BIN)`);
    const portFile = path.join(this.dataDir, 'port');
    const defaults = { 'sandbox.latency_ms': '100', 'dispatcher.poll_ms': '50', 'log.level': 'info' };
    const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', this.dataDir,
      '--set', 'server.port_file=' + portFile];
    for (const [k, v] of Object.entries({ ...defaults, ...this.settings })) args.push('--set', `${k}=${v}`);
    if (this.consoleDir) args.push('--set', 'console.dir=' + path.resolve(this.consoleDir));
    // Like harness.py: none of the caller's IMAGEGATE_* variables reach the server.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IMAGEGATE_')));
    env.IMAGEGATE_ADMIN_TOKEN = this.adminToken;
    const log = fs.openSync(this.logPath, 'a');
    this.proc = spawn(BIN, args, { env, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    own(this.proc.pid, 'imagegate');
    this.port = Number(await waitForFile(portFile, this.proc));
    return this;
  }

  logText() {
    try { return fs.readFileSync(this.logPath, 'utf8'); } catch { return ''; }
  }

  /** SIGTERM, then SIGKILL after 5 s. */
  async stop() {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    if (p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      try { p.kill('SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { p.kill('SIGKILL'); } catch { /* gone */ } }, 5000);
      await exited;
      clearTimeout(t);
    }
    disown(p.pid);
  }

  async cleanup() {
    await this.stop();
    if (!process.env.IG_KEEP_DATA) {
      fs.rmSync(this.dataDir, { recursive: true, force: true });
      tempDirs.delete(this.dataDir);
    } else {
      process.stderr.write(`kept ${this.dataDir} (IG_KEEP_DATA)\n`);
    }
  }

  /** A request from node (not from the browser): `as` is 'admin', a key, or null. */
  async request(method, p, { as = null, json, headers = {} } = {}) {
    const h = { ...headers };
    if (as === 'admin') h.Authorization = 'Bearer ' + this.adminToken;
    else if (as) h.Authorization = 'Bearer ' + as;
    let body;
    if (json !== undefined) { body = JSON.stringify(json); h['Content-Type'] = 'application/json'; }
    const r = await fetch(this.base + p, { method, headers: h, body, signal: AbortSignal.timeout(30000) });
    return new ApiAnswer(r.status, r.headers, await r.text());
  }

  async admin(method, p, json) {
    const r = await this.request(method, p, { as: 'admin', json });
    if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
    return r.body;
  }

  /** A new key through the admin API: { id, account_id, key, ... }. */
  async createKey(name, fields = {}) {
    return this.admin('POST', '/admin/v1/keys', { name, ...fields });
  }

  /** A task as the admin list shows it (`GET /admin/v1/tasks?key_id=`), or undefined. */
  async adminTask(keyId, id) {
    const r = await this.admin('GET', `/admin/v1/tasks?key_id=${keyId}&page_size=500`);
    return (r.data || []).find((t) => t.id === id);
  }

  /** The key's tasks, newest first, from the admin list. */
  async adminTasks(keyId) {
    return (await this.admin('GET', `/admin/v1/tasks?key_id=${keyId}&page_size=500`)).data || [];
  }

  /** Waits until the admin list says the task is in one of `states`; the task. */
  async waitTaskState(keyId, id, states = ['succeeded', 'failed', 'cancelled'], timeoutMs = 30000) {
    const t0 = Date.now();
    for (;;) {
      const t = await this.adminTask(keyId, id);
      if (t && states.includes(t.state)) return t;
      if (Date.now() - t0 > timeoutMs) throw new Error(`task ${id} not ${states.join('/')}: ${JSON.stringify(t)}`);
      await sleep(100);
    }
  }
}


// ---- the console in a page -------------------------------------------------------------------

export const tid = (id) => `[data-testid="${id}"]`;

/** A new tab that records what goes wrong in it: uncaught exceptions and Content-Security-
 *  Policy violations (the console must need no inline script or style). */
export async function openTab(browser) {
  const page = await browser.newPage();
  page.setDefaultTimeout(15000);
  page.setDefaultNavigationTimeout(15000);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push('uncaught: ' + (e && e.message ? e.message : e)));
  page.on('console', (m) => {
    const text = m.text();
    if (m.type() === 'error' && /Content Security Policy|Refused to (execute|apply|load)/i.test(text)) {
      page.problems.push((/Content Security Policy/i.test(text) ? 'CSP: ' : 'refused: ') + text);
    }
  });
  return page;
}

/** Opens the console's sign-in page and signs in; resolves once the console left #/signin. */
export async function signIn(page, server, { key = '', admin = '' } = {}) {
  await page.goto(server.consoleUrl + '#/signin', { waitUntil: 'load' });
  await page.waitForSelector('#signin-key');
  await page.$eval('#signin-key', (el, v) => { el.value = v; }, key);
  await page.$eval('#signin-admin', (el, v) => { el.value = v; }, admin);
  await page.click('#signin-submit');
  await page.waitForFunction(() => !location.hash.startsWith('#/signin'), { timeout: 10000 });
}

/** Goes to a console page by its hash and waits for selector (or the page's h1). */
export async function go(page, hash, selector = 'main h1') {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForSelector(selector);
}

/** Every console page, in the order of the nav. `task` needs a task id, `account` an id. */
export function consolePages({ taskId, accountId } = {}) {
  return [
    ['signin', '#/signin'],
    ['playground', '#/playground'],
    ['tasks', '#/tasks'],
    ...(taskId ? [['task', '#/tasks/' + encodeURIComponent(taskId)]] : []),
    ['keys', '#/keys'],
    ['accounts', '#/accounts'],
    ...(accountId ? [['account', '#/accounts/' + accountId]] : []),
    ['usage', '#/usage'],
    ['health', '#/health'],
  ];
}

/** A screenshot of every console page into dir (`<prefix><page>.png`), signed in with the
 *  given secrets: for a failed run, and for `make screenshots`. Errors are reported, not thrown. */
export async function shootAllPages(browser, server, dir, { key, admin, taskId, accountId, prefix = '', settle = 600, skip = [] } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const page = await openTab(browser);
  const written = [];
  try {
    await page.goto(server.consoleUrl + '#/signin', { waitUntil: 'load' });
    await page.evaluate((k, a) => {
      if (k) sessionStorage.setItem('imagegate.key', k);
      if (a) sessionStorage.setItem('imagegate.admin', a);
    }, key || '', admin || '');
    for (const [name, hash] of consolePages({ taskId, accountId })) {
      if (skip.includes(name)) continue;
      try {
        if (name === 'signin') {
          await page.evaluate(() => sessionStorage.clear());
        }
        await page.evaluate((h) => { location.hash = h; }, hash);
        await page.waitForSelector('main h1', { timeout: 5000 }).catch(() => {});
        await new Promise((r) => setTimeout(r, settle));
        const file = path.join(dir, prefix + name + '.png');
        await page.screenshot({ path: file, fullPage: true });
        written.push(file);
        if (name === 'signin') {
          await page.evaluate((k, a) => {
            if (k) sessionStorage.setItem('imagegate.key', k);
            if (a) sessionStorage.setItem('imagegate.admin', a);
          }, key || '', admin || '');
        }
      } catch (e) {
        process.stderr.write(`screenshot of ${name} failed: ${e.message}\n`);
      }
    }
  } finally {
    await page.close().catch(() => {});
  }
  return written;
}

/** Clicks a download link (`selector`) the way a person does and returns the bytes of the file
 *  the browser saved. (The console's CSP has no `connect-src blob:`, so a page cannot fetch
 *  its own blob: URLs; a download is not a fetch.) */
export async function download(page, selector, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const cdp = await page.browser().target().createCDPSession();
  try {
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dir, eventsEnabled: true });
    const done = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no download from ' + selector)), 10000);
      let name = null;
      cdp.on('Browser.downloadWillBegin', (e) => { name = e.suggestedFilename; });
      cdp.on('Browser.downloadProgress', (e) => {
        if (e.state === 'completed') { clearTimeout(t); resolve(name); }
        if (e.state === 'canceled') { clearTimeout(t); reject(new Error('download canceled')); }
      });
    });
    await page.click(selector);
    const name = await done;
    return { name, bytes: fs.readFileSync(path.join(dir, name)) };
  } finally {
    await cdp.detach().catch(() => {});
  }
}
