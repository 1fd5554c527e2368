// imagegate console: what each dialect accepts, as data, and the requests built from it.
// No DOM here (tested with node). One table per dialect: its option lists come from
// docs/api.md and src/api/dialects/*.cpp, and `allowed()` narrows them for the current
// choices, so the playground can only offer (and send) a valid combination.

// ---- sizes (docs/api.md "Output sizes") ----

// EvoLink's table (jobs, tasks, unified): landscape sizes; portrait ratios swap them.
const EVOLINK = {
  '1:1': [[1024, 1024], [2048, 2048], [2880, 2880]],
  '2:1': [[1456, 720], [2896, 1456], [3840, 1920]],
  '3:1': [[1776, 592], [3552, 1184], [3840, 1280]],
  '3:2': [[1248, 832], [2512, 1680], [3520, 2352]],
  '4:3': [[1184, 880], [2368, 1776], [3312, 2480]],
  '5:4': [[1152, 912], [2288, 1824], [3216, 2576]],
  '16:9': [[1360, 768], [2736, 1536], [3840, 2160]],
  '21:9': [[1568, 672], [3136, 1344], [3840, 1632]],
};
// aivideoapi's table (generations), exactly as printed (first size of each cell).
const AIVIDEO = {
  '1:1': [[1024, 1024], [2048, 2048], [2880, 2880]],
  '3:2': [[1536, 1024], [2048, 1360], [3520, 2336]],
  '2:3': [[1024, 1536], [1360, 2048], [2336, 3520]],
  '4:3': [[1024, 768], [2048, 1536], [3312, 2480]],
  '3:4': [[768, 1024], [1536, 2048], [2480, 3312]],
  '5:4': [[1280, 1024], [2560, 2048], [3216, 2576]],
  '4:5': [[1024, 1280], [2048, 2560], [2576, 3216]],
  '16:9': [[1536, 864], [2048, 1152], [3840, 2160]],
  '9:16': [[864, 1536], [1152, 2048], [2160, 3840]],
  '2:1': [[2048, 1024], [2688, 1344], [3840, 1920]],
  '1:2': [[1024, 2048], [1344, 2688], [1920, 3840]],
  '3:1': [[1881, 836], [3072, 1024], [3840, 1280]],
  '1:3': [[887, 1774], [1024, 3072], [1280, 3840]],
  '21:9': [[2016, 864], [2688, 1152], [3840, 1648]],
  '9:21': [[864, 2016], [1152, 2688], [1648, 3840]],
};
// The second sizes of aivideoapi's 1k cells, also accepted as explicit sizes.
const AIVIDEO_ALT = [[1254, 1254], [1448, 1086], [1122, 1402], [1672, 941], [941, 1672], [1774, 887],
  [887, 1774], [1536, 512], [512, 1536], [1915, 821], [821, 1915]];

const TIERS = ['1K', '2K', '4K'];
const tierIndex = (t) => TIERS.indexOf(String(t).toUpperCase());

export function evolinkSize(ratio, tier) {
  const [a, b] = ratio.split(':').map(Number);
  const i = tierIndex(tier);
  if (i < 0) return null;
  if (EVOLINK[ratio]) return EVOLINK[ratio][i];
  const swapped = EVOLINK[`${b}:${a}`];
  return swapped ? [swapped[i][1], swapped[i][0]] : null;
}
export function aivideoSize(ratio, tier) {
  const i = tierIndex(tier);
  return AIVIDEO[ratio] && i >= 0 ? AIVIDEO[ratio][i] : null;
}

// EvoLink's explicit-size rules (generations outside its table, unified, openai). Returns a
// problem in words, or null when the size is valid.
export function explicitSizeProblem(w, h) {
  if (!Number.isInteger(w) || !Number.isInteger(h)) return 'width and height must be whole numbers';
  if (w < 16 || h < 16 || w > 3840 || h > 3840) return 'each edge must be between 16 and 3840 pixels';
  if (w % 16 || h % 16) return 'width and height must be multiples of 16';
  const px = w * h;
  if (px < 655360 || px > 8294400) return `width × height is ${px.toLocaleString('en-US')} pixels; it must be between 655,360 and 8,294,400`;
  if (Math.max(w, h) > 3 * Math.min(w, h)) return 'the aspect ratio must be at most 3:1';
  return null;
}

const sizeText = ([w, h]) => `${w}x${h}`;
const uniq = (list) => [...new Set(list)];

// Explicit size presets offered in the size list (all valid for their dialect).
function evolinkPresets() {
  const out = [];
  for (const ratio of ['1:1', '3:2', '2:3', '4:3', '3:4', '5:4', '4:5', '16:9', '9:16', '2:1', '1:2', '3:1', '1:3', '21:9', '9:21'])
    for (const t of TIERS) out.push(sizeText(evolinkSize(ratio, t)));
  return uniq(out);
}
function aivideoPresets() {
  const out = [];
  for (const cells of Object.values(AIVIDEO)) for (const s of cells) out.push(sizeText(s));
  for (const s of AIVIDEO_ALT) out.push(sizeText(s));
  return uniq(out);
}
const AIVIDEO_TABLE_SIZES = new Set(aivideoPresets());
const OPENAI_PRESETS = uniq(['1024x1024', '1536x1024', '1024x1536', ...evolinkPresets()]);

// ---- the dialects ----

const JOBS_RATIOS = ['auto', '1:1', '5:4', '4:5', '4:3', '3:4', '3:2', '2:3', '16:9', '9:16', '21:9'];
const SIXTEEN_RATIOS = ['auto', '1:1', '3:2', '2:3', '4:3', '3:4', '5:4', '4:5', '16:9', '9:16', '2:1', '1:2', '3:1', '1:3', '21:9', '9:21'];
const UNIFIED_RATIOS = ['auto', '1:1', '1:2', '2:1', '1:3', '3:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '9:21', '21:9'];
export const OPENAI_MODELS = ['gpt-image-2', 'gpt-image-2-2026-04-21', 'gpt-image-1', 'gpt-image-1.5', 'gpt-image-1-mini', 'chatgpt-image-latest'];

// Fields of each dialect. `ratios`: the size list's ratios; `presets`: explicit sizes offered;
// `custom`: a free W×H allowed (checked with explicitSizeProblem); `resolutions`: null when the
// dialect has none; `qualities`/`formats`: null when it has none ('' = not sent: the default);
// `nMax`: null when it makes one image per task.
export const DIALECTS = {
  jobs: {
    label: 'jobs (Kie jobs API)', route: 'POST /api/v1/jobs/createTask', async: true,
    refs: 'url', maxRefs: 16, promptMax: 20000, promptRequired: true,
    sizeLabel: 'Aspect ratio', ratios: JOBS_RATIOS, presets: [], custom: false,
    resolutions: ['1K', '2K', '4K'], qualities: ['', 'low', 'medium', 'high', 'auto'],
    formats: ['', 'png', 'jpeg', 'webp'], nMax: null, maskUrl: false,
    note: 'Image-to-image (with reference URLs) allows only 1K with auto, and no 4K with 1:1.',
  },
  tasks: {
    label: 'tasks (HiAPI)', route: 'POST /v1/tasks', async: true,
    refs: 'url', maxRefs: 16, promptMax: 20000, promptRequired: true,
    sizeLabel: 'Aspect ratio', ratios: SIXTEEN_RATIOS, presets: [], custom: false,
    resolutions: ['1K', '2K', '4K'], qualities: null, formats: null, nMax: null, maskUrl: false,
    note: 'HiAPI takes no quality, output format or n.',
  },
  generations: {
    label: 'generations (aivideoapi)', route: 'POST /v1/images/generations (input object)', async: true,
    refs: 'url', maxRefs: 16, promptMax: 20000, promptRequired: false,
    sizeLabel: 'Aspect ratio or size', ratios: SIXTEEN_RATIOS, presets: aivideoPresets(), custom: true,
    resolutions: ['1k', '2k', '4k'], qualities: null, formats: null, nMax: null, maskUrl: false, nsfw: true,
    note: 'auto is 1:1. A prompt or reference images (or both) are required. An explicit size ignores the resolution.',
  },
  unified: {
    label: 'unified (EvoLink)', route: 'POST /v1/images/generations (flat body)', async: true,
    refs: 'url', maxRefs: 16, promptMax: 32000, promptRequired: true,
    sizeLabel: 'Size', ratios: UNIFIED_RATIOS, presets: evolinkPresets(), custom: true,
    resolutions: ['1K', '2K', '4K'], qualities: ['low', 'medium', 'high'], qualityDefault: 'medium',
    formats: null, nMax: 10, maskUrl: true,
    note: 'The resolution applies only to a ratio; auto is 1024×1024 (or the first reference\'s shape).',
  },
  openai: {
    label: 'openai (synchronous)', route: 'POST /openai/v1/images/generations, or /edits with uploads', async: false,
    refs: 'upload', maxRefs: 16, promptMax: 32000, promptRequired: true,
    sizeLabel: 'Size', ratios: ['auto'], presets: OPENAI_PRESETS, custom: true,
    resolutions: null, qualities: ['', 'low', 'medium', 'high', 'auto'], formats: ['', 'png', 'jpeg', 'webp'],
    nMax: 10, maskUrl: false, models: OPENAI_MODELS, backgrounds: ['', 'auto', 'opaque', 'transparent'],
    fidelities: ['', 'high', 'low'], moderations: ['', 'auto', 'low'], compression: true,
    note: 'Answers when the images are made. Reference images are uploaded (the edits route); a mask can be painted on the first one.',
  },
};
export const DIALECT_NAMES = Object.keys(DIALECTS);

export const UPLOAD_TYPES = ['image/png', 'image/jpeg', 'image/webp'];
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;      // each image < 50 MiB
export const MAX_MASK_BYTES = 4 * 1024 * 1024;         // mask < 4 MiB
export const MAX_BODY_BYTES = 64 * 1024 * 1024;        // server.max_upload_bytes
export const MAX_PIXELS = 50 * 1000 * 1000;            // media.input_max_pixels

// ---- the form's state -> what may be chosen ----

// state: { dialect, model, prompt, refUrls: [string], uploads: [{name,size,type,width,height}],
//          mask: Blob|null, maskUrl, size ('auto' | a ratio | 'WxH' | 'custom'), customW, customH,
//          resolution, quality, format, compression, background, n, nsfw, fidelity, moderation }

const filled = (urls) => (urls || []).map((u) => String(u).trim()).filter(Boolean);
export function isImageToImage(state) {
  const d = DIALECTS[state.dialect];
  return d.refs === 'url' ? filled(state.refUrls).length > 0 : (state.uploads || []).length > 0;
}
export const isRatio = (v) => /^\d+:\d+$/.test(v);
export const isExplicit = (v) => /^\d+x\d+$/.test(v);

// The option lists for the current state (only valid choices).
export function allowed(state) {
  const d = DIALECTS[state.dialect];
  const i2i = isImageToImage(state);
  const sizes = [...d.ratios, ...d.presets, ...(d.custom ? ['custom'] : [])];
  let resolutions = d.resolutions ? [...d.resolutions] : null;
  const size = state.size;
  if (resolutions) {
    if (state.dialect === 'jobs' && i2i) {
      if (size === 'auto') resolutions = ['1K'];
      else if (size === '1:1') resolutions = ['1K', '2K'];
    }
  }
  // Whether the resolution is sent with this size at all.
  let resolutionApplies = !!resolutions;
  if (state.dialect === 'unified' && !isRatio(size)) resolutionApplies = false;
  if (state.dialect === 'generations' && (isExplicit(size) || size === 'custom')) resolutionApplies = false;
  const formats = d.formats;
  let backgrounds = d.backgrounds || null;
  let compression = !!d.compression;
  if (state.dialect === 'openai') {
    const f = state.format || 'png';
    if (f === 'jpeg') backgrounds = backgrounds.filter((b) => b !== 'transparent');
    compression = f === 'jpeg' || f === 'webp';
  }
  return {
    sizes, resolutions, resolutionApplies, qualities: d.qualities, formats, backgrounds, compression,
    nMax: d.nMax, models: d.models || null,
    fidelities: state.dialect === 'openai' && i2i ? d.fidelities : null,
    moderations: state.dialect === 'openai' && !i2i ? d.moderations : null,
    maskUrl: d.maskUrl && i2i, nsfw: !!d.nsfw,
  };
}

// Brings the state back inside the allowed lists (after a change of dialect or references).
export function normalize(state) {
  const a = allowed(state);
  const s = { ...state };
  if (!a.sizes.includes(s.size)) s.size = 'auto';
  const b = allowed(s);
  if (b.resolutions) {
    const match = b.resolutions.find((r) => r.toLowerCase() === String(s.resolution || '').toLowerCase());
    s.resolution = match || b.resolutions[0];
  } else s.resolution = '';
  if (b.qualities) { if (!b.qualities.includes(s.quality)) s.quality = DIALECTS[s.dialect].qualityDefault || b.qualities[0]; } else s.quality = '';
  if (b.formats) { if (!b.formats.includes(s.format)) s.format = b.formats[0]; } else s.format = '';
  if (b.backgrounds) { if (!b.backgrounds.includes(s.background)) s.background = ''; } else s.background = '';
  if (!b.compression) s.compression = '';
  if (b.models) { if (!b.models.includes(s.model)) s.model = b.models[0]; } else s.model = '';
  if (!b.fidelities || !b.fidelities.includes(s.fidelity)) s.fidelity = '';
  if (!b.moderations || !b.moderations.includes(s.moderation)) s.moderation = '';
  if (b.nMax) { const n = Number(s.n); s.n = Number.isInteger(n) && n >= 1 && n <= b.nMax ? n : 1; } else s.n = 1;
  if (!b.maskUrl) s.maskUrl = '';
  if (s.dialect !== 'openai') s.mask = null;
  return s;
}

const codePoints = (s) => [...(s || '')].length;

// A reference URL's problem in words, or null (the create-time rules of docs/api.md).
export function urlProblem(u) {
  if (u.length > 2048) return 'is longer than 2048 characters';
  if (/^data:/i.test(u)) return 'data: URLs are not supported; host the image and pass its https:// URL';
  let p;
  try { p = new URL(u); } catch { return 'is not a URL'; }
  if (p.protocol !== 'https:') return 'must be an https:// URL';
  if (!p.hostname) return 'has no host';
  if (p.username || p.password) return 'must not carry user credentials';
  return null;
}

// The chosen size as text ('auto', a ratio or 'WxH'), or null when custom is incomplete.
export function sizeValue(state) {
  if (state.size !== 'custom') return state.size;
  const w = Number(state.customW), h = Number(state.customH);
  return w && h ? `${w}x${h}` : null;
}

// Everything that stops the request from being valid, in words (empty when it can be sent).
export function problems(state) {
  const d = DIALECTS[state.dialect];
  const out = [];
  const prompt = state.prompt || '';
  const blank = !prompt.trim();
  const i2i = isImageToImage(state);
  if (blank && (d.promptRequired || !i2i)) out.push(d.promptRequired ? 'Write a prompt.' : 'Write a prompt or give reference images.');
  if (codePoints(prompt) > d.promptMax) out.push(`The prompt is ${codePoints(prompt)} characters; ${state.dialect} takes at most ${d.promptMax}.`);
  if (d.refs === 'url') {
    const urls = filled(state.refUrls);
    if (urls.length > d.maxRefs) out.push(`At most ${d.maxRefs} reference URLs.`);
    urls.forEach((u, i) => { const p = urlProblem(u); if (p) out.push(`Reference URL ${i + 1} ${p}.`); });
    if (state.maskUrl && state.maskUrl.trim()) { const p = urlProblem(state.maskUrl.trim()); if (p) out.push(`The mask URL ${p}.`); }
  } else {
    const ups = state.uploads || [];
    if (ups.length > d.maxRefs) out.push(`At most ${d.maxRefs} images.`);
    let total = 0;
    ups.forEach((f, i) => {
      total += f.size || 0;
      if (!UPLOAD_TYPES.includes(f.type)) out.push(`Image ${i + 1} (${f.name}) is not a PNG, JPEG or WEBP.`);
      if (f.size === 0) out.push(`Image ${i + 1} (${f.name}) is empty.`);
      if (f.size >= MAX_UPLOAD_BYTES) out.push(`Image ${i + 1} (${f.name}) is 50 MiB or more.`);
      if (f.width && f.height && f.width * f.height > MAX_PIXELS) out.push(`Image ${i + 1} (${f.name}) has more than 50 megapixels.`);
    });
    if (state.mask) {
      total += state.mask.size || 0;
      if (!ups.length) out.push('A mask needs an image to paint on.');
      if (state.mask.size >= MAX_MASK_BYTES) out.push('The mask PNG is 4 MiB or more.');
    }
    if (total > MAX_BODY_BYTES - 65536) out.push('The uploads are larger than the server takes in one request (64 MiB).');
  }
  const a = allowed(state);
  if (!a.sizes.includes(state.size)) out.push(`${d.sizeLabel} ${state.size} is not offered by ${state.dialect}.`);
  if (state.size === 'custom') {
    const w = Number(state.customW), h = Number(state.customH);
    if (!w || !h) out.push('Give the custom width and height.');
    else if (!(state.dialect === 'generations' && AIVIDEO_TABLE_SIZES.has(`${w}x${h}`))) {
      const p = explicitSizeProblem(w, h);
      if (p) out.push(`Size ${w}x${h}: ${p}.`);
    }
  }
  if (a.resolutions && !a.resolutions.includes(state.resolution)) out.push(`Resolution ${state.resolution} is not allowed with ${state.size}${i2i ? ' for image-to-image' : ''}.`);
  if (a.nMax) { const n = Number(state.n); if (!Number.isInteger(n) || n < 1 || n > a.nMax) out.push(`n must be a whole number from 1 to ${a.nMax}.`); }
  if (a.compression && state.compression !== '' && state.compression !== undefined && state.compression !== null) {
    const c = Number(state.compression);
    if (!Number.isInteger(c) || c < 0 || c > 100) out.push('Compression must be a whole number from 0 to 100.');
  }
  if (state.dialect === 'openai' && state.background === 'transparent' && (state.format || 'png') === 'jpeg') out.push('A transparent background needs png or webp.');
  return out;
}

// The output size the request will give, in words (for the preview), or ''.
export function sizePreview(state) {
  const s = sizeValue(state);
  if (!s) return '';
  const i2i = isImageToImage(state);
  if (state.dialect === 'openai' && state.mask) return 'the first image\'s size (a mask is painted)';
  if (isExplicit(s)) return s.replace('x', ' × ') + ' px';
  const d = state.dialect;
  if (s === 'auto') {
    if (d === 'openai') return i2i ? 'the first image\'s shape at about 1 MP' : '1024 × 1024 px';
    if (d === 'generations') { const z = aivideoSize('1:1', state.resolution); return z ? `${z[0]} × ${z[1]} px (1:1)` : ''; }
    if (d === 'unified') return i2i ? 'the first reference\'s shape at about 1 MP' : '1024 × 1024 px';
    if (i2i) return 'the first reference\'s shape at ' + String(state.resolution).toUpperCase();
    const z = evolinkSize('1:1', state.resolution);
    return z ? `${z[0]} × ${z[1]} px (1:1)` : '';
  }
  const z = d === 'generations' ? aivideoSize(s, state.resolution) : evolinkSize(s, state.resolution);
  return z ? `${z[0]} × ${z[1]} px` : '';
}

// ---- requests ----

// The request for the state: { method, path, json } or { method, path, form: [[name, value,
// filename?]] } (the playground turns `form` into FormData; a value is a string or a Blob).
export function buildRequest(state) {
  const d = state.dialect;
  const prompt = state.prompt || '';
  const urls = filled(state.refUrls);
  const i2i = isImageToImage(state);
  const a = allowed(state);
  const size = sizeValue(state);
  if (d === 'jobs' || d === 'tasks') {
    const input = { prompt };
    if (i2i) input.input_urls = urls;
    input.aspect_ratio = size;
    input.resolution = state.resolution;
    if (d === 'jobs') {
      if (state.quality) input.quality = state.quality;
      if (state.format) input.output_format = state.format;
    }
    const model = i2i ? 'gpt-image-2-image-to-image' : 'gpt-image-2-text-to-image';
    return { method: 'POST', path: d === 'jobs' ? '/api/v1/jobs/createTask' : '/v1/tasks', json: { model, input } };
  }
  if (d === 'generations') {
    const input = {};
    if (prompt.trim()) input.prompt = prompt;
    if (i2i) input.image_urls = urls;
    input.aspect_ratio = size;
    if (a.resolutionApplies) input.resolution = state.resolution;
    if (state.nsfw === false) input.nsfw_checker = false;
    return { method: 'POST', path: '/v1/images/generations', json: { model: 'gpt-image-2', input } };
  }
  if (d === 'unified') {
    const body = { model: 'gpt-image-2', prompt };
    if (i2i) body.image_urls = urls;
    if (a.maskUrl && state.maskUrl && state.maskUrl.trim()) body.mask_url = state.maskUrl.trim();
    body.size = size;
    if (a.resolutionApplies) body.resolution = state.resolution;
    body.quality = state.quality || 'medium';
    body.n = Number(state.n) || 1;
    return { method: 'POST', path: '/v1/images/generations', json: body };
  }
  // openai
  const fields = { prompt };
  if (state.model) fields.model = state.model;
  if (a.nMax && Number(state.n) > 1) fields.n = Number(state.n);
  if (state.quality) fields.quality = state.quality;
  if (size && size !== 'auto') fields.size = size;
  if (state.format) fields.output_format = state.format;
  if (a.compression && state.compression !== '' && state.compression != null) fields.output_compression = Number(state.compression);
  if (state.background) fields.background = state.background;
  if (!i2i) {
    if (state.moderation) fields.moderation = state.moderation;
    return { method: 'POST', path: '/openai/v1/images/generations', json: fields };
  }
  if (state.fidelity) fields.input_fidelity = state.fidelity;
  const form = [];
  const ups = state.uploads || [];
  const imgName = ups.length > 1 ? 'image[]' : 'image';
  for (const f of ups) form.push([imgName, f, f.name || 'image.png']);
  if (state.mask) form.push(['mask', state.mask, 'mask.png']);
  for (const [k, v] of Object.entries(fields)) form.push([k, String(v)]);
  return { method: 'POST', path: '/openai/v1/images/edits', form };
}

// ---- copy as curl ----

export function shellQuote(s) {
  s = String(s);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

// The request as one curl line; the key is shown as $IMAGEGATE_KEY, never the secret.
export function curlFor(req, origin) {
  const parts = ['curl', '-sS', shellQuote(origin + req.path), '-H', '"Authorization: Bearer $IMAGEGATE_KEY"'];
  if (req.json) {
    parts.push('-H', shellQuote('Content-Type: application/json'), '-d', shellQuote(JSON.stringify(req.json)));
  } else if (req.form) {
    for (const [name, value, filename] of req.form) {
      if (filename !== undefined) parts.push('-F', shellQuote(`${name}=@${filename}`));
      else parts.push('--form-string', shellQuote(`${name}=${value}`));
    }
  }
  return parts.join(' ');
}

// ---- answers ----

// The task id in a create answer.
export function taskIdOf(dialect, body) {
  if (!body || typeof body !== 'object') return null;
  if (dialect === 'unified') return body.id || null;
  return (body.data && body.data.taskId) || body.id || null;
}

export function eventsPath(dialect, id) {
  return dialect === 'jobs' ? '/api/v1/jobs/recordInfo/events?taskId=' + encodeURIComponent(id) : '/v1/tasks/' + encodeURIComponent(id) + '/events';
}
export function pollPath(dialect, id) {
  return dialect === 'jobs' ? '/api/v1/jobs/recordInfo?taskId=' + encodeURIComponent(id) : '/v1/tasks/' + encodeURIComponent(id);
}

// A result URL as a same-origin path (the console's CSP allows images from 'self' only).
export function sameOrigin(url) {
  try {
    const u = new URL(url, 'http://x.invalid');
    if (u.pathname.startsWith('/files/')) return u.pathname + u.search;
  } catch { /* keep it */ }
  return url;
}

// A task body in its creating dialect's shape -> { state, progress, urls, error:{code,message}|null, done }.
// state: queued | running | succeeded | failed | cancelled. `eventId` is the SSE id when known.
export function taskView(dialect, body, eventId) {
  let state = 'running', progress = null, urls = [], error = null;
  const ev = eventId && ['queued', 'running', 'succeeded', 'failed', 'cancelled'].includes(eventId) ? eventId : null;
  if (dialect === 'jobs') {
    const t = (body && body.data) || {};
    state = t.state === 'success' ? 'succeeded' : t.state === 'fail' ? (t.failCode === 'cancelled' ? 'cancelled' : 'failed') : (ev || 'running');
    if (t.resultJson) { try { urls = JSON.parse(t.resultJson).resultUrls || []; } catch { urls = []; } }
    if (state === 'failed' || state === 'cancelled') error = { code: t.failCode, message: t.failMsg };
  } else if (dialect === 'tasks') {
    const t = (body && body.data) || {};
    state = { queued: 'queued', handling: 'running', success: 'succeeded' }[t.status] || (t.status === 'fail' ? ((t.error && t.error.code) === 'cancelled' ? 'cancelled' : 'failed') : 'running');
    urls = (t.output || []).map((o) => o.url).filter(Boolean);
    if (t.error) error = { code: t.error.code, message: t.error.message };
  } else {
    const t = body || {};
    state = { pending: 'queued', processing: 'running', completed: 'succeeded' }[t.status] || (t.status === 'failed' ? (['cancelled', 'request_cancelled'].includes(t.error && t.error.code) ? 'cancelled' : 'failed') : 'running');
    if (dialect === 'generations') urls = (t.output && t.output.urls) || [];
    else urls = t.results || [];
    if (typeof t.progress === 'number') progress = t.progress;
    if (t.error) error = { code: t.error.code, message: t.error.message };
  }
  if (ev && (ev === 'cancelled' || ev === 'failed') && state !== 'cancelled' && state !== 'failed') state = ev;
  if (progress === null) progress = state === 'queued' ? 0 : state === 'running' ? 50 : 100;
  const done = state === 'succeeded' || state === 'failed' || state === 'cancelled';
  return { state, progress, urls: urls.map(sameOrigin), error, done };
}

// Parses Server-Sent Events out of text chunks. feed(chunk) returns the complete events
// [{id, event, data}] seen so far; a partial event waits for the next chunk.
export function sseParser() {
  let buf = '';
  let cur = { id: null, event: null, data: [] };
  let lastId = null;
  return {
    feed(chunk) {
      buf += chunk;
      const out = [];
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        if (buf[nl] === '\r' && nl === buf.length - 1) break;   // maybe the \r of a \r\n split across chunks
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          if (cur.data.length) out.push({ id: cur.id ?? lastId, event: cur.event || 'message', data: cur.data.join('\n') });
          if (cur.id !== null) lastId = cur.id;
          cur = { id: null, event: null, data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let value = c < 0 ? '' : line.slice(c + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') cur.data.push(value);
        else if (field === 'id') cur.id = value;
        else if (field === 'event') cur.event = value;
      }
      return out;
    },
    lastId() { return lastId; },
  };
}
