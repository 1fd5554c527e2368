// `make screenshots`: a screenshot of every console page, from a real imagegate with the
// sandbox provider and a little history (keys, credits, tasks made through the API), into the
// directory given (docs/img for the docs). Usage: node screenshots.mjs OUT_DIR
import fs from 'node:fs';
import path from 'node:path';

import { Server, deadline, launchBrowser, openTab, signIn, go, shootAllPages } from './harness.mjs';

const out = path.resolve(process.argv[2] || 'screenshots');
const PREFIX = 'console-';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

deadline(170000);

const server = new Server({ settings: { 'sandbox.latency_ms': '700' } });
let browser;
try {
  [browser] = await Promise.all([launchBrowser(), server.start()]);
  fs.mkdirSync(out, { recursive: true });

  // A little history: two customers, a top-up, tasks in three dialects, one cancelled.
  const acme = await server.createKey('acme-shop', { credits: 500, rpm: 120 });
  const studio = await server.createKey('studio-7', { credits: 80 });
  await server.admin('POST', `/admin/v1/accounts/${acme.account_id}/credits`, { amount: 250, reason: 'invoice 2026-0042' });
  const create = async (key, p, json) => {
    const r = await server.request('POST', p, { as: key, json });
    if (r.status >= 300) throw new Error(`${p}: ${r.status} ${r.text}`);
    return r.body;
  };
  const jobs = (prompt, ratio) => create(acme.key, '/api/v1/jobs/createTask', {
    model: 'gpt-image-2-text-to-image', input: { prompt, aspect_ratio: ratio, resolution: '1K' },
  });
  await jobs('a lighthouse at dusk, long exposure', '16:9');
  const ramen = await jobs('a bowl of ramen, top view', '1:1');
  await create(studio.key, '/v1/images/generations', { model: 'gpt-image-2', prompt: 'isometric city block', size: '4:3', resolution: '1K', n: 2 });
  const doomed = await jobs('a task that is cancelled', '3:2');
  await sleep(200);
  await create(acme.key, '/v1/tasks/' + doomed.data.taskId + '/cancel', undefined).catch(() => {});

  // The playground: a unified task with two images, made in the page, then its task page.
  const page = await openTab(browser);
  await page.setViewport({ width: 1280, height: 900 });
  await signIn(page, server, { key: acme.key, admin: server.adminToken });
  await go(page, '#/playground', '#pg-form');
  await page.click('#pg-dialect-unified');
  await page.select('#pg-size', '16:9');
  await page.select('#pg-resolution', '1K');
  await page.select('#pg-n', '2');
  await page.type('#pg-prompt', 'a watercolor fox in fresh snow, morning light');
  await page.click('#pg-submit');
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('[data-testid=run] [data-testid=result-image]')];
    return imgs.length === 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, { timeout: 30000 });
  await sleep(300);
  await page.screenshot({ path: path.join(out, PREFIX + 'playground.png'), fullPage: true });
  const taskId = await page.$eval('[data-testid=run]', (el) => el.dataset.taskId);
  await go(page, '#/tasks/' + encodeURIComponent(taskId), '#task-state');
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=task-result-img]')].every((i) => i.complete), { timeout: 10000 }).catch(() => {});
  await sleep(300);
  await page.screenshot({ path: path.join(out, PREFIX + 'task.png'), fullPage: true });
  await page.close();

  // The mask painter: a sandbox image (the ramen) uploaded as the reference, a painted area,
  // and the edit's result.
  const record = await server.request('GET', '/api/v1/jobs/recordInfo?taskId=' + ramen.data.taskId, { as: acme.key });
  const refUrl = JSON.parse(record.body.data.resultJson).resultUrls[0];
  const refFile = path.join(server.dataDir, 'reference.png');
  fs.writeFileSync(refFile, Buffer.from(await (await fetch(refUrl)).arrayBuffer()));
  const edit = await openTab(browser);
  await edit.setViewport({ width: 1280, height: 900 });
  await signIn(edit, server, { key: acme.key, admin: server.adminToken });
  await go(edit, '#/playground', '#pg-form');
  await edit.click('#pg-dialect-openai');
  await (await edit.waitForSelector('#pg-ref-files')).uploadFile(refFile);
  await edit.waitForSelector('[data-testid=pg-ref-file]');
  await edit.click('#pg-mask-enable');
  const canvas = await edit.waitForSelector('#mask-canvas', { visible: true });
  await canvas.scrollIntoView();
  const box = await canvas.boundingBox();
  const at = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
  await edit.$eval('#mask-brush-size', (el) => { el.value = '70'; el.dispatchEvent(new Event('input', { bubbles: true })); });
  for (const [from, to] of [[[0.3, 0.35], [0.7, 0.35]], [[0.25, 0.5], [0.75, 0.5]], [[0.3, 0.65], [0.7, 0.65]]]) {
    await edit.mouse.move(...at(...from));
    await edit.mouse.down();
    await edit.mouse.move(...at(...to), { steps: 10 });
    await edit.mouse.up();
  }
  await edit.type('#pg-prompt', 'replace the bowl with a teapot');
  await edit.click('#pg-submit');
  await edit.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('[data-testid=run] [data-testid=result-image]')];
    return imgs.length === 1 && imgs[0].complete && imgs[0].naturalWidth > 0;
  }, { timeout: 30000 });
  await sleep(300);
  await edit.screenshot({ path: path.join(out, PREFIX + 'mask.png'), fullPage: true });

  // Keys, just after a key was made in the page: its secret shown once.
  await go(edit, '#/keys', '#key-create-form');
  await edit.type('#key-name', 'reseller-bot');
  await edit.type('#key-credits', '50');
  await edit.type('#key-rpm', '60');
  await edit.click('#key-create-submit');
  await edit.waitForSelector('#key-secret');
  await edit.evaluate(() => window.scrollTo(0, 0));
  await sleep(300);
  await edit.screenshot({ path: path.join(out, PREFIX + 'keys.png'), fullPage: true });
  await edit.close();

  const written = await shootAllPages(browser, server, out, {
    key: acme.key, admin: server.adminToken, taskId, accountId: acme.account_id, prefix: PREFIX,
    skip: ['playground', 'task', 'keys'],
  });
  console.log(['playground', 'task', 'mask', 'keys'].map((n) => path.join(out, PREFIX + n + '.png')).concat(written).join('\n'));
} finally {
  if (browser) await browser.close();
  await server.cleanup();
}
