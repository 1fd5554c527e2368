// Every request the playground can build, from its own option tables
// (console/pages/playground-dialects.js, which has no DOM): for each dialect, text-to-image and
// with references, every size with each resolution allowed for it, each quality, format,
// background, compression, n, model, input fidelity, moderation, the NSFW switch and a few
// custom sizes. The playground offers nothing else, so if the server accepts all of these, no
// choice in the page makes a request the dialect refuses. And a few combinations the page
// withholds, which the server must refuse. (After the shell helper's check of 07:00.)
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { ROOT } from './harness.mjs';

export async function loadDialects() {
  return import(pathToFileURL(path.join(ROOT, 'console', 'pages', 'playground-dialects.js')).href);
}

/** [{ what, req, problems }]: every combination the form offers, as the page would send it
 *  (`problems` is what the page itself says against it: it must be empty). */
export function offeredRequests(D, upload) {
  const base = {
    prompt: 'a fox', refUrls: [], uploads: [], mask: null, maskUrl: '', size: 'auto', customW: 1024,
    customH: 1024, resolution: '1K', quality: '', format: '', n: 1, compression: '', background: '',
    model: '', nsfw: true, fidelity: '', moderation: '',
  };
  const out = [];
  for (const dialect of D.DIALECT_NAMES) {
    for (const i2i of [false, true]) {
      let refs = {};
      if (i2i && dialect === 'openai') refs = { uploads: [upload] };
      else if (i2i) refs = { refUrls: ['https://example.com/a.png'], maskUrl: dialect === 'unified' ? 'https://example.com/m.png' : '' };
      const s0 = D.normalize({ ...base, dialect, ...refs });
      const a = D.allowed(s0);
      const combos = [];
      for (const size of a.sizes) {
        const s1 = D.normalize({ ...s0, size });
        for (const r of D.allowed(s1).resolutions || ['']) combos.push(D.normalize({ ...s1, resolution: r }));
      }
      for (const q of a.qualities || []) combos.push(D.normalize({ ...s0, quality: q }));
      for (const f of a.formats || []) {
        const sf = D.normalize({ ...s0, format: f });
        combos.push(sf);
        const af = D.allowed(sf);
        for (const b of af.backgrounds || []) combos.push(D.normalize({ ...sf, background: b }));
        if (af.compression) for (const c of [0, 100]) combos.push(D.normalize({ ...sf, compression: c }));
      }
      if (a.nMax) for (const n of [1, 2, a.nMax]) combos.push(D.normalize({ ...s0, n }));
      for (const m of a.models || []) combos.push(D.normalize({ ...s0, model: m }));
      for (const f of a.fidelities || []) combos.push(D.normalize({ ...s0, fidelity: f }));
      for (const m of a.moderations || []) combos.push(D.normalize({ ...s0, moderation: m }));
      if (a.nsfw) combos.push(D.normalize({ ...s0, nsfw: false }));
      if (dialect === 'generations' && i2i) combos.push(D.normalize({ ...s0, prompt: '' }));
      if (a.sizes.includes('custom')) {
        for (const [w, h] of [[1024, 640], [3840, 2160], [2160, 3840], [1776, 592], [960, 688]]) {
          const c = D.normalize({ ...s0, size: 'custom', customW: w, customH: h });
          if (!D.problems(c).length) combos.push(c);   // a custom size the page rejects is not sent
        }
      }
      for (const c of combos) {
        out.push({ what: `${dialect} ${i2i ? 'with references' : 'text-to-image'}`, req: D.buildRequest(c), problems: D.problems(c) });
      }
    }
  }
  return out;
}

/** Requests the page never builds; the server refuses each. */
export const WITHHELD = [
  { path: '/api/v1/jobs/createTask', json: { model: 'gpt-image-2-image-to-image', input: { prompt: 'x', input_urls: ['https://example.com/a.png'], aspect_ratio: 'auto', resolution: '2K' } } },
  { path: '/api/v1/jobs/createTask', json: { model: 'gpt-image-2-image-to-image', input: { prompt: 'x', input_urls: ['https://example.com/a.png'], aspect_ratio: '1:1', resolution: '4K' } } },
  { path: '/api/v1/jobs/createTask', json: { model: 'gpt-image-2-text-to-image', input: { prompt: 'x', aspect_ratio: '2:1' } } },
  { path: '/v1/tasks', json: { model: 'gpt-image-2-text-to-image', input: { prompt: 'x', aspect_ratio: '1536x1024' } } },
  { path: '/v1/images/generations', json: { model: 'gpt-image-2', prompt: 'x', quality: 'auto' } },
  { path: '/v1/images/generations', json: { model: 'gpt-image-2', prompt: 'x', size: '1000x1000' } },
  { path: '/v1/images/generations', json: { model: 'gpt-image-2', prompt: 'x', n: 11 } },
  { path: '/openai/v1/images/generations', json: { prompt: 'x', output_format: 'jpeg', background: 'transparent' } },
  { path: '/openai/v1/images/generations', json: { prompt: 'x', output_compression: 50 } },
  { path: '/openai/v1/images/generations', json: { prompt: 'x', size: '2:1' } },
];

/** Sends a request built by the page (json or multipart form) with `key`; { status, text }. */
export async function send(base, key, req, png) {
  const headers = { Authorization: 'Bearer ' + key };
  let body;
  if (req.json) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(req.json);
  } else {
    body = new FormData();
    for (const [name, value, filename] of req.form) {
      if (filename !== undefined) body.append(name, new Blob([png], { type: 'image/png' }), filename);
      else body.append(name, value);
    }
  }
  const r = await fetch(base + req.path, { method: req.method || 'POST', headers, body, signal: AbortSignal.timeout(30000) });
  return { status: r.status, text: await r.text() };
}

/** Accepted: a create answered 2xx, or an openai request that passed validation and then ran
 *  out of server.sync_timeout_ms ("not ready in time"). */
export const accepted = (r) => (r.status >= 200 && r.status < 300) || (r.status === 503 && /not ready in time/.test(r.text));
