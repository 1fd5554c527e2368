// The web console (/console/) in headless Chromium against a real imagegate with the sandbox
// provider: what a person does, clicked and typed, and what the server then holds, checked from
// node through the API and the data dir. Run by ctest (tests/browser/run.sh); see
// tests/browser/README.md.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  ROOT, Server, deadline, launchBrowser, openTab, signIn, go, tid, shootAllPages,
} from './harness.mjs';

const SHOTS = process.env.IG_SCREENSHOT_DIR || path.join(ROOT, 'build', 'browser-screenshots');
const t0 = Date.now();
const elapsed = () => ((Date.now() - t0) / 1000).toFixed(1) + ' s';

let server;       // sandbox.latency_ms 300: tasks end quickly
let browser;
let user;         // { id, account_id, key, ... }: the key the user scenarios sign in with
const failures = [];

// A hung page, server or browser ends the run (and kills both) well before ctest's timeout.
deadline(Number(process.env.IG_BROWSER_DEADLINE_MS || 170000), async () => {
  if (browser && server) await shootAllPages(browser, server, SHOTS, { key: user?.key, admin: server.adminToken, prefix: 'page-' });
});

before(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  server = new Server({ settings: { 'sandbox.latency_ms': '300' } });
  const [b] = await Promise.all([launchBrowser(), server.start()]);
  browser = b;
  user = await server.createKey('browser-user', { credits: 1000 });
});

after(async () => {
  try {
    if (failures.length && browser && server) {
      const written = await shootAllPages(browser, server, SHOTS, {
        key: user?.key, admin: server.adminToken, prefix: 'page-',
      });
      process.stderr.write(`failed: ${failures.join('; ')}\nscreenshots in ${SHOTS}: ${written.length} pages + the failing scenarios\n`);
      fs.writeFileSync(path.join(SHOTS, 'server.log'), server.logText());
    }
  } finally {
    if (browser) await browser.close();
    if (server) await server.cleanup();
    process.stderr.write(`browser tests: ${elapsed()} in all\n`);
  }
});

const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

/** One scenario in a tab of its own; on failure, a screenshot of that tab (and, after all, of
 *  every page) goes to SHOTS. An uncaught exception or a CSP violation in the tab fails it. */
function scenario(name, fn, { timeout = 45000 } = {}) {
  test(name, { timeout }, async () => {
    const page = await openTab(browser);
    try {
      await fn(page);
      assert.deepEqual(page.problems, [], 'the page reported problems');
    } catch (e) {
      failures.push(name);
      fs.mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, slug(name) + '.png'), fullPage: true }).catch(() => {});
      if (page.problems.length) e.message += '\npage problems: ' + page.problems.join('\n');
      throw e;
    } finally {
      await page.close().catch(() => {});
    }
  });
}

// ---------------------------------------------------------------------------------------------

test('/console/ is served with its security headers', async () => {
  const r = await fetch(server.consoleUrl);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy') || '';
  for (const part of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]) {
    assert.ok(csp.includes(part), `CSP lacks ${part}: ${csp}`);
  }
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('x-frame-options'), 'DENY');
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
  const redirect = await fetch(server.base + '/console', { redirect: 'manual' });
  assert.equal(redirect.status, 301);
  assert.match(redirect.headers.get('location'), /\/console\/$/);
  const js = await fetch(server.consoleUrl + 'app.js');
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /javascript/);
});

scenario('a wrong key or admin token gets the API\'s message', async (page) => {
  await page.goto(server.consoleUrl + '#/signin', { waitUntil: 'load' });
  await page.waitForSelector('#signin-key');
  await page.type('#signin-key', 'sk-this-key-does-not-exist-0000000000');
  await page.click('#signin-submit');
  const box = await page.waitForSelector(`#signin-error ${tid('error-box')}`);
  const text = await box.evaluate((el) => el.textContent);
  assert.match(text, /API key refused/);
  assert.match(text, /invalid API key/);
  assert.match(text, /invalid_api_key/);
  assert.match(text, /HTTP 401/);
  assert.match(await page.evaluate(() => location.hash), /^#\/signin/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('imagegate.key')), null);

  await page.$eval('#signin-key', (el) => { el.value = ''; });
  await page.type('#signin-admin', 'not-the-admin-token-at-all');
  await page.click('#signin-submit');
  await page.waitForFunction(() => /wrong admin token/.test(document.querySelector('#signin-error')?.textContent || ''));
  const adminText = await page.$eval('#signin-error', (el) => el.textContent);
  assert.match(adminText, /Admin token refused/);
  assert.match(adminText, /HTTP 401/);
});

scenario('sign in with a key: the key is kept in sessionStorage only', async (page) => {
  await signIn(page, server, { key: user.key });
  assert.equal(await page.evaluate(() => location.hash), '#/playground');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('imagegate.key')), user.key);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.equal(await page.evaluate(() => document.cookie), '');
  assert.ok(!page.url().includes(user.key), 'the key is not in the URL');
  await page.waitForFunction(() => /balance/.test(document.querySelector('#who-credits')?.textContent || ''));
  assert.match(await page.$eval('#who-credits', (el) => el.textContent), /1,?000/);
  assert.ok(await page.$('#nav-playground'));
  assert.equal(await page.$('#nav-keys'), null, 'a key-only user has no admin pages');
});
