// The web console (/console/) in headless Chromium against a real imagegate with the sandbox
// provider: what a person does, clicked and typed, and what the server then holds, checked from
// node through the API and the data dir. Run by ctest (tests/browser/run.sh); see
// tests/browser/README.md.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  ROOT, Server, deadline, launchBrowser, openTab, signIn, go, tid, shootAllPages, download, consolePages,
} from './harness.mjs';
import { decodePng, encodePngRgb, pixelAt } from './png.mjs';
import { loadDialects, offeredRequests, WITHHELD, send, accepted } from './combos.mjs';

const SHOTS = process.env.IG_SCREENSHOT_DIR || path.join(ROOT, 'build', 'browser-screenshots');
const t0 = Date.now();
const elapsed = () => ((Date.now() - t0) / 1000).toFixed(1) + ' s';

let server;       // sandbox.latency_ms 300: tasks end quickly
let slow;         // sandbox.latency_ms 120000: a task runs until it is cancelled
let combos;       // the same, and openai answers 503 after validation (sync_timeout_ms 50)
let browser;
let user;         // { id, account_id, key, ... }: the key the user scenarios sign in with
const failures = [];

// The run must finish in two minutes (it takes 20-40 s on 2 busy cores): past that, or when a
// page, the server or the browser hangs, it fails, and kills both, well before ctest's timeout.
deadline(Number(process.env.IG_BROWSER_DEADLINE_MS || 120000), async () => {
  if (browser && server) await shootAllPages(browser, server, SHOTS, { key: user?.key, admin: server.adminToken, prefix: 'page-' });
});

before(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  server = new Server({ settings: { 'sandbox.latency_ms': '300' } });
  slow = new Server({ settings: { 'sandbox.latency_ms': '120000', 'server.drain_timeout_ms': '500' } });
  combos = new Server({ settings: { 'sandbox.latency_ms': '600000', 'server.sync_timeout_ms': '50', 'server.drain_timeout_ms': '200' } });
  const [b] = await Promise.all([launchBrowser(), server.start(), slow.start(), combos.start()]);
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
    await Promise.all([server?.cleanup(), slow?.cleanup(), combos?.cleanup()]);
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

// ---- the playground --------------------------------------------------------------------------

/** Waits for the newest run of `dialect` to succeed with n images, all loaded; their
 *  natural sizes and sources. */
async function finishedRun(page, dialect, n, timeout = 30000) {
  await page.waitForFunction((d, count) => {
    const run = document.querySelector(`[data-testid=run][data-dialect="${d}"]`);
    if (!run) return false;
    if (run.dataset.state === 'failed' || run.dataset.state === 'refused' || run.dataset.state === 'error') return true;
    const imgs = [...run.querySelectorAll('[data-testid=result-image]')];
    return run.dataset.state === 'succeeded' && imgs.length === count && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, { timeout }, dialect, n);
  return page.$eval(`[data-testid=run][data-dialect="${dialect}"]`, (run) => ({
    state: run.dataset.state,
    taskId: run.dataset.taskId || null,
    error: run.querySelector('[data-testid=run-error]')?.textContent || '',
    images: [...run.querySelectorAll('[data-testid=result-image]')].map((i) => ({
      src: i.src, w: i.naturalWidth, h: i.naturalHeight, complete: i.complete,
      download: i.closest('figure').querySelector('[data-testid=result-download]')?.getAttribute('download'),
    })),
  }));
}

scenario('generate in two dialects (jobs, unified) and see the images in the gallery', async (page) => {
  const before = (await server.request('GET', '/v1/credits', { as: user.key })).body.data.balance;
  await signIn(page, server, { key: user.key });
  await page.waitForSelector('#pg-form');

  // jobs: 1:1 at 1K is 1024 x 1024.
  await page.click('#pg-dialect-jobs');
  await page.select('#pg-size', '1:1');
  await page.select('#pg-resolution', '1K');
  await page.type('#pg-prompt', 'a red fox in snow');
  await page.click('#pg-submit');
  const jobs = await finishedRun(page, 'jobs', 1);
  assert.equal(jobs.state, 'succeeded', jobs.error);
  assert.deepEqual(jobs.images.map((i) => [i.w, i.h]), [[1024, 1024]]);

  // unified: 16:9 at 1K is 1360 x 768, two images.
  await page.click('#pg-dialect-unified');
  await page.select('#pg-size', '16:9');
  await page.select('#pg-resolution', '1K');
  await page.select('#pg-n', '2');
  await page.$eval('#pg-prompt', (el) => { el.value = ''; });
  await page.type('#pg-prompt', 'a lighthouse at dusk');
  await page.click('#pg-submit');
  const unified = await finishedRun(page, 'unified', 2);
  assert.equal(unified.state, 'succeeded', unified.error);
  assert.deepEqual(unified.images.map((i) => [i.w, i.h]), [[1360, 768], [1360, 768]]);

  // The images are the server's signed result URLs, each with a download link.
  for (const img of [...jobs.images, ...unified.images]) {
    assert.ok(img.src.startsWith(server.base + '/'), img.src);
    assert.ok(img.download, 'a download name');
  }
  // The server agrees: both tasks succeeded for this key, with their images.
  for (const run of [jobs, unified]) {
    const t = await server.waitTaskState(user.id, run.taskId, ['succeeded'], 5000);
    assert.equal(t.images, run.images.length);
  }
  // And the header's balance follows the spending.
  const after = (await server.request('GET', '/v1/credits', { as: user.key })).body.data.balance;
  assert.ok(after < before, `balance ${before} -> ${after}`);
  await page.waitForFunction((b) => (document.querySelector('#who-credits')?.textContent || '').replace(/,/g, '').includes(String(b)), {}, after);
});

scenario('a refused create shows the API\'s error in words, with its code; the curl line has no secret', async (page) => {
  const poor = await server.createKey('browser-poor', { credits: 1 });
  await signIn(page, server, { key: poor.key });
  await page.waitForSelector('#pg-form');
  await page.click('#pg-dialect-jobs');
  await page.select('#pg-size', '1:1');
  await page.type('#pg-prompt', 'too expensive for this balance');
  await page.click('#pg-submit');
  await page.waitForSelector('[data-testid=run][data-state=refused]');
  const text = await page.$eval(`#pg-error ${tid('error-box')}`, (el) => el.textContent);
  assert.match(text, /insufficient credits/);
  assert.match(text, /HTTP 402/);
  const curl = await page.$eval(tid('run-curl'), (el) => el.textContent);
  assert.match(curl, /\/api\/v1\/jobs\/createTask/);
  assert.match(curl, /\$IMAGEGATE_KEY/);
  assert.ok(!curl.includes(poor.key), 'the key is not in the curl line');
  assert.equal((await server.adminTasks(poor.id)).length, 0, 'no task was made');
});

scenario('paint a mask on an uploaded reference, run an edit; the server stored exactly that mask', async (page) => {
  // A 320 x 240 reference with a gradient, uploaded through the file input.
  const W = 320, H = 240;
  const refBytes = encodePngRgb(W, H, (x, y) => [x * 255 / W | 0, y * 255 / H | 0, 96]);
  const refFile = path.join(fs.mkdtempSync(path.join(server.dataDir, 'ref-')), 'reference.png');
  fs.writeFileSync(refFile, refBytes);

  await signIn(page, server, { key: user.key });
  await page.waitForSelector('#pg-form');
  await page.click('#pg-dialect-openai');
  const input = await page.waitForSelector('#pg-ref-files');
  await input.uploadFile(refFile);
  await page.waitForSelector(tid('pg-ref-file'));
  await page.click('#pg-mask-enable');
  await page.waitForSelector(`#mask-painter[data-width="${W}"][data-height="${H}"]`);
  const canvas = await page.waitForSelector('#mask-canvas', { visible: true });
  await canvas.scrollIntoView();
  const box = await canvas.boundingBox();
  const at = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
  const setBrush = (size) => page.$eval('#mask-brush-size', (el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, size);
  const drag = async (from, to) => {
    await page.mouse.move(...at(...from));
    await page.mouse.down();
    await page.mouse.move(...at(...to), { steps: 12 });
    await page.mouse.up();
  };
  // The brush size is in screen pixels: 30 on screen is 30 * scale in the image.
  const scale = W / box.width;
  const radius = 15 * scale;
  await setBrush(30);
  await page.click('#mask-tool-brush');
  await drag([0.2, 0.5], [0.8, 0.5]);              // a horizontal band through the middle
  await drag([0.5, 0.1], [0.5, 0.3]);              // a vertical stroke above it...
  await page.click('#mask-undo');                  // ...taken back
  await page.click('#mask-tool-eraser');
  await page.mouse.click(...at(0.5, 0.5));         // a hole erased at the centre of the band
  await page.waitForFunction(() => Number(document.querySelector('#mask-painter').dataset.painted) > 0);

  await page.type('#pg-prompt', 'a blue door');
  await page.click('#pg-submit');
  const run = await finishedRun(page, 'openai', 1);
  assert.equal(run.state, 'succeeded', run.error);
  assert.deepEqual(run.images.map((i) => [i.w, i.h]), [[W, H]], 'with a mask the edit keeps the reference size');

  // The mask the page sent (the run links it, as a download) ...
  const downloads = path.join(server.dataDir, 'downloads');
  const sent = (await download(page, `[data-testid=run][data-dialect=openai] ${tid('run-mask-download')}`, downloads)).bytes;
  // ... is byte for byte the mask the server received and stored with the task
  // (results/uploads/<task>/mask in the data dir, what the provider reads).
  const task = (await server.adminTasks(user.id)).find((t) => t.dialect === 'openai');
  assert.ok(task, 'the edit made a task');
  const stored = path.join(server.dataDir, 'results', 'uploads', task.id);
  const received = fs.readFileSync(path.join(stored, 'mask'));
  assert.ok(received.equals(sent), `the stored mask (${received.length} bytes) differs from the one sent (${sent.length} bytes)`);
  assert.ok(fs.readFileSync(path.join(stored, 'image-1')).equals(refBytes), 'the stored reference is the uploaded file');

  // The mask: the reference's size, with alpha; painted pixels transparent, the rest opaque.
  const mask = decodePng(received);
  assert.equal(mask.width, W);
  assert.equal(mask.height, H);
  assert.equal(mask.colorType, 6, 'an RGBA PNG');
  const alpha = (fx, fy) => pixelAt(mask, Math.round(fx * W), Math.round(fy * H))[3];
  assert.equal(alpha(0.35, 0.5), 0, 'the band is painted');
  assert.equal(alpha(0.65, 0.5), 0, 'the band is painted');
  assert.equal(alpha(0.5, 0.5), 255, 'the eraser hole is kept');
  assert.equal(alpha(0.5, 0.2), 255, 'the undone stroke is gone');
  assert.equal(alpha(0.1, 0.5), 255, 'left of the band is kept');
  assert.equal(alpha(0.35, 0.5 + 2 * radius / H), 255, 'below the band is kept');
  let transparent = 0;
  for (let i = 3; i < mask.pixels.length; i += 4) if (mask.pixels[i] === 0) transparent++;
  const expected = (0.6 * W) * 2 * radius;        // the band's body, less and more at the ends
  assert.ok(transparent > 0.6 * expected && transparent < 1.4 * expected,
    `${transparent} transparent pixels, about ${Math.round(expected)} expected`);

  // The sandbox applied it: where the mask is opaque the result is the reference itself.
  const result = decodePng((await download(page, `[data-testid=run][data-dialect=openai] ${tid('result-download')}`, downloads)).bytes);
  const ref = decodePng(refBytes);
  const rgb = (img, fx, fy) => pixelAt(img, Math.round(fx * W), Math.round(fy * H)).slice(0, 3);
  assert.deepEqual(rgb(result, 0.1, 0.5), rgb(ref, 0.1, 0.5), 'kept where the mask is opaque');
  assert.deepEqual(rgb(result, 0.5, 0.5), rgb(ref, 0.5, 0.5), 'kept in the erased hole');
  assert.notDeepEqual(rgb(result, 0.35, 0.5), rgb(ref, 0.35, 0.5), 'regenerated where painted');
});

scenario('cancel a running task: in the playground, and on its task page', async (page) => {
  const key = await slow.createKey('browser-cancel', { credits: 100 });
  await signIn(page, slow, { key: key.key });
  await page.waitForSelector('#pg-form');
  await page.click('#pg-dialect-jobs');
  await page.type('#pg-prompt', 'a task that never ends by itself');
  await page.click('#pg-submit');
  await page.waitForSelector('[data-testid=run][data-state=running]', { timeout: 15000 });
  const taskId = await page.$eval('[data-testid=run]', (el) => el.dataset.taskId);
  const held = (await slow.request('GET', '/v1/credits', { as: key.key })).body.data.balance;
  assert.ok(held < 100, 'the price is held while the task runs');
  await page.click(tid('run-cancel'));
  await page.waitForSelector('[data-testid=run][data-state=cancelled]', { timeout: 10000 });
  assert.match(await page.$eval(tid('run-cancelled'), (el) => el.textContent), /cancel/i);
  const t = await slow.waitTaskState(key.id, taskId, ['cancelled'], 5000);
  assert.equal(t.fail_code, 'cancelled');
  assert.equal((await slow.request('GET', '/v1/credits', { as: key.key })).body.data.balance, 100, 'refunded');

  // A task made through the API, cancelled from its page.
  const r = await slow.request('POST', '/api/v1/jobs/createTask', { as: key.key, json: {
    model: 'gpt-image-2-text-to-image', input: { prompt: 'cancelled from its page', aspect_ratio: '1:1', resolution: '1K' },
  } });
  assert.equal(r.status, 200, r.text);
  const id2 = r.body.data.taskId;
  await slow.waitTaskState(key.id, id2, ['running'], 10000);
  await go(page, '#/tasks/' + encodeURIComponent(id2), '#task-cancel');
  // A key sees its dialect's word for a running task (jobs: waiting).
  assert.match(await page.$eval('#task-state', (el) => el.dataset.state), /^(running|waiting)$/);
  await page.click('#task-cancel');
  await page.waitForSelector('#task-state[data-state=cancelled]', { timeout: 10000 });
  assert.equal(await page.$('#task-cancel'), null, 'no cancel button once it ended');
  assert.equal((await slow.waitTaskState(key.id, id2, ['cancelled'], 5000)).state, 'cancelled');
});

// ---- admin -------------------------------------------------------------------------------------

scenario('admin: create a key (secret shown once), disable it (the API refuses it), top up its account', async (page) => {
  await signIn(page, server, { admin: server.adminToken });
  assert.equal(await page.evaluate(() => location.hash), '#/tasks');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('imagegate.key')), null);

  // Create: the secret appears once, with a copy button.
  await go(page, '#/keys', '#key-create-form');
  await page.type('#key-name', 'made-in-the-browser');
  await page.type('#key-credits', '5');
  await page.click('#key-create-submit');
  const secret = await (await page.waitForSelector('#key-secret')).evaluate((el) => el.textContent.trim());
  assert.match(secret, /^sk-/);
  assert.ok(await page.$('#key-secret-copy'), 'a copy button');
  const created = (await server.admin('GET', '/admin/v1/keys')).data.find((k) => k.name === 'made-in-the-browser');
  assert.ok(created, 'the server has the key');
  assert.ok(secret.startsWith(created.prefix));
  let credits = await server.request('GET', '/v1/credits', { as: secret });
  assert.equal(credits.status, 200, credits.text);
  assert.equal(credits.body.data.balance, 5);

  // Once: dismissed, or the page visited again, the secret is nowhere in the page.
  await page.click('#key-secret-dismiss');
  await page.waitForFunction(() => !document.querySelector('#key-secret'));
  await go(page, '#/tasks');
  await go(page, '#/keys', `tr[data-key-id="${created.id}"]`);
  assert.ok(!(await page.content()).includes(secret), 'the secret is not shown again');
  assert.match(await page.$eval(`tr[data-key-id="${created.id}"] ${tid('key-prefix')}`, (el) => el.textContent), new RegExp('^' + created.prefix));

  // Disable: the row says so and the API refuses the key at once.
  await page.click(`tr[data-key-id="${created.id}"] ${tid('key-disable')}`);
  await page.waitForSelector(`tr[data-key-id="${created.id}"] ${tid('key-status')}[data-disabled="true"]`);
  credits = await server.request('GET', '/v1/credits', { as: secret });
  assert.equal(credits.status, 401, credits.text);
  const create = await server.request('POST', '/api/v1/jobs/createTask', { as: secret, json: {
    model: 'gpt-image-2-text-to-image', input: { prompt: 'x', aspect_ratio: '1:1', resolution: '1K' },
  } });
  assert.equal(create.status, 401, create.text);

  // Top up its account: the balance changes on the page and on the server.
  await page.click(`tr[data-key-id="${created.id}"] ${tid('key-account-link')}`);
  await page.waitForSelector('#account-balance[data-value="5"]');
  await page.type('#credits-amount', '12.5');
  await page.type('#credits-reason', 'browser test top-up');
  await page.click('#credits-submit');
  await page.waitForSelector(tid('credits-done'));
  await page.waitForSelector('#account-balance[data-value="17.5"]');
  const account = await server.admin('GET', `/admin/v1/accounts/${created.account_id}`);
  assert.equal(account.balance, 17.5);
  assert.equal(account.total_purchased, 17.5);
});

scenario('admin: open a task from the list and see its attempts and timeline; a key sees the task without them', async (page) => {
  const r = await server.request('POST', '/api/v1/jobs/createTask', { as: user.key, json: {
    model: 'gpt-image-2-text-to-image', input: { prompt: 'a task for the admin to open', aspect_ratio: '4:3', resolution: '1K' },
  } });
  assert.equal(r.status, 200, r.text);
  const id = r.body.data.taskId;
  await server.waitTaskState(user.id, id, ['succeeded']);

  await signIn(page, server, { admin: server.adminToken });
  await page.waitForSelector(`${tid('task-link')}[href="#/tasks/${encodeURIComponent(id)}"]`);
  await page.click(`${tid('task-link')}[href="#/tasks/${encodeURIComponent(id)}"]`);
  await page.waitForSelector('#task-state[data-state=succeeded]');
  assert.equal(await page.$eval('#task-id', (el) => el.textContent), id);

  // Its upstream attempts: one, on the sandbox.
  const attempts = await page.$$eval(tid('task-attempt'), (rows) => rows.map((r) => ({ route: r.dataset.route, text: r.textContent })));
  assert.equal(attempts.length, 1, JSON.stringify(attempts));
  assert.equal(attempts[0].route, 'sandbox');
  // Its timeline: created first, the attempt, and its success.
  const events = await page.$$eval(tid('task-event'), (li) => li.map((e) => e.dataset.what || e.textContent));
  assert.ok(events.length >= 3, JSON.stringify(events));
  assert.match(events[0], /creat/, JSON.stringify(events));
  assert.ok(events.some((e) => /call|attempt/.test(e)), JSON.stringify(events));
  assert.ok(events.some((e) => /succeed|complet/.test(e)), JSON.stringify(events));
  // Its result, at its natural size (4:3 at 1K is 1184 x 880).
  const img = await page.waitForSelector(tid('task-result-img'));
  await img.scrollIntoView();
  await page.waitForFunction(() => { const i = document.querySelector('[data-testid=task-result-img]'); return i.complete && i.naturalWidth > 0; });
  assert.deepEqual(await img.evaluate((i) => [i.naturalWidth, i.naturalHeight]), [1184, 880]);

  // The same task with its key only: its request and result, but no upstream route or attempt
  // (operator information: a reseller's customers must not see where tasks go).
  const mine = await openTab(browser);
  try {
    await signIn(mine, server, { key: user.key });
    await go(mine, '#/tasks/' + encodeURIComponent(id), '#task-state[data-state=succeeded]');
    await mine.waitForSelector(tid('task-result-img'));
    assert.equal(await mine.$(tid('task-attempt')), null, 'no upstream attempts for a key');
    assert.equal(await mine.$('#task-h-calls'), null);
    const text = await mine.$eval('main', (el) => el.textContent + (el.querySelector('[data-testid=task-raw]')?.textContent || ''));
    assert.ok(!/sandbox|upstream_route|"calls"/.test(text), 'the route is not shown to a key');
  } finally {
    await mine.close();
  }
});

// ---- every page ----------------------------------------------------------------------------------

scenario('every page renders without an error, on a desktop and a phone-width screen, with a label on every control', async (page) => {
  const r = await server.request('POST', '/api/v1/jobs/createTask', { as: user.key, json: {
    model: 'gpt-image-2-text-to-image', input: { prompt: 'a task for the tour', aspect_ratio: '1:1', resolution: '1K' },
  } });
  assert.equal(r.status, 200, r.text);
  const taskId = r.body.data.taskId;
  await server.waitTaskState(user.id, taskId, ['succeeded']);
  await signIn(page, server, { key: user.key, admin: server.adminToken });
  const problems = [];
  for (const [width, height] of [[1280, 860], [390, 844]]) {
    await page.setViewport({ width, height });
    for (const [name, hash] of consolePages({ taskId, accountId: user.account_id })) {
      if (name === 'signin') continue;
      await go(page, hash);
      await page.waitForNetworkIdle({ idleTime: 250, timeout: 4000 }).catch(() => {});
      const found = await page.evaluate(() => {
        const out = [];
        const main = document.querySelector('main');
        if (main.querySelector('[data-testid=page-unavailable], [data-testid=page-not-found]')) out.push('page not available');
        for (const e of main.querySelectorAll('[data-testid=error-box]:not([hidden])')) out.push('error: ' + e.textContent.trim());
        const labelled = (el) => (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) || el.closest('label')
          || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.getAttribute('title');
        for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
          if (!labelled(el)) out.push(`no label: <${el.tagName.toLowerCase()} id="${el.id}" name="${el.name || ''}">`);
        }
        const overflow = document.documentElement.scrollWidth - window.innerWidth;
        if (overflow > 1) out.push(`${overflow}px wider than the screen`);
        return out;
      });
      for (const p of found) problems.push(`${name} at ${width}px: ${p}`);
    }
  }
  assert.deepEqual(problems, []);
});

// ---- the playground's option tables against the server ---------------------------------------

test('every combination the playground offers is accepted by the server; the ones it withholds are refused', async () => {
  const D = await loadDialects();
  const png = encodePngRgb(608, 400, (x, y) => [x % 256, y % 256, 128]);
  const upload = { name: 'ref.png', size: png.length, type: 'image/png', width: 608, height: 400 };
  const offered = offeredRequests(D, upload);
  assert.ok(offered.length > 500, `${offered.length} combinations`);
  const key = (await combos.createKey('combos')).key;   // unmetered: never refused for credits
  const bad = offered.filter((o) => o.problems.length).map((o) => `${o.what}: the page objects to a combination it offers: ${o.problems}`);
  let next = 0;
  const worker = async () => {
    while (next < offered.length) {
      const o = offered[next++];
      if (o.problems.length) continue;
      const r = await send(combos.base, key, o.req, png);
      if (!accepted(r)) bad.push(`${o.what}: ${JSON.stringify(o.req.json || o.req.form.map((f) => f[0] + '=' + (f[2] ? '@' + f[2] : f[1])))} -> ${r.status} ${r.text.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  for (const req of WITHHELD) {
    const r = await send(combos.base, key, req, png);
    if (accepted(r)) bad.push(`withheld but accepted: ${req.path} ${JSON.stringify(req.json)}`);
  }
  assert.deepEqual(bad.slice(0, 20), [], `${bad.length} of ${offered.length + WITHHELD.length}`);
});
