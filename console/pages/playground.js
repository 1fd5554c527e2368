// imagegate console: the playground. Pick a dialect, describe the image, submit, and watch the
// task live (SSE read with fetch, long-poll as the fallback); results land in a gallery.
// The option lists come from playground-dialects.js, one table per dialect, so only a valid
// combination can be chosen and sent.
import { call, request, ApiError } from '../api.js';
import { h, clear, errorBox, field, copyButton, stateBadge, fmtDuration } from '../ui.js';
import * as D from './playground-dialects.js';
import { createMaskPainter, loadImage } from './mask.js';

// ---- state kept across visits of the page (the page is rebuilt on every visit) ----

const saved = {
  state: D.normalize({
    dialect: 'jobs', model: '', prompt: '', refUrls: [''], uploads: [], mask: null, maskUrl: '',
    size: 'auto', customW: 1024, customH: 1024, resolution: '1K', quality: '', format: '',
    compression: '', background: '', n: 1, nsfw: true, fidelity: '', moderation: '',
  }),
  maskEnabled: false,
  runs: [],          // run objects, newest first; each has .el (its <article>)
};
const MAX_RUNS = 20;
const MAX_HELD = 4;  // SSE streams / long-polls held at once (browsers allow ~6 connections a host)
let held = 0;
let runSeq = 0;

const LABELS = {
  '': '(default)', auto: 'auto', low: 'low', medium: 'medium', high: 'high',
  png: 'png', jpeg: 'jpeg', webp: 'webp', opaque: 'opaque', transparent: 'transparent', custom: 'Custom size…',
};
const label = (v) => (v in LABELS ? LABELS[v] : v);

// Replaces a <select>'s options when the list changed; keeps the value when still offered.
function setOptions(select, values, current, labelOf = label) {
  const same = select.options.length === values.length && values.every((v, i) => select.options[i].value === v);
  if (!same) {
    clear(select);
    for (const v of values) select.appendChild(h('option', { value: v }, labelOf(v)));
  }
  select.value = values.includes(current) ? current : values[0];
}
// The size list, grouped: ratios, sizes, custom.
function setSizeOptions(select, values, current) {
  const key = values.join('|');
  if (select.dataset.key !== key) {
    clear(select);
    const ratios = values.filter((v) => v === 'auto' || D.isRatio(v));
    const sizes = values.filter(D.isExplicit);
    const g1 = h('optgroup', { label: 'Aspect ratio' }, ratios.map((v) => h('option', { value: v }, v)));
    select.appendChild(g1);
    if (sizes.length) select.appendChild(h('optgroup', { label: 'Size in pixels' }, sizes.map((v) => h('option', { value: v }, v.replace('x', ' × ')))));
    if (values.includes('custom')) select.appendChild(h('optgroup', { label: 'Other' }, h('option', { value: 'custom' }, 'Custom size…')));
    select.dataset.key = key;
  }
  select.value = values.includes(current) ? current : 'auto';
}

export async function render(root, ctx) {
  let state = saved.state;
  let ready = false;   // the painter reports a change while it is being built
  const set = (patch) => { state = D.normalize({ ...state, ...patch }); saved.state = state; sync(); };

  // ---- dialect ----
  const dialectRadios = D.DIALECT_NAMES.map((name) => h('input', {
    type: 'radio', name: 'pg-dialect', id: 'pg-dialect-' + name, 'data-testid': 'pg-dialect-' + name, value: name,
    checked: state.dialect === name, onChange: () => onDialect(name),
  }));
  const dialectNote = h('p', { class: 'dialect-note', id: 'pg-dialect-note', 'data-testid': 'pg-dialect-note' });
  const dialectSet = h('fieldset', { id: 'pg-dialect' }, h('legend', null, 'Dialect'),
    h('div', { class: 'dialect-choice' }, D.DIALECT_NAMES.map((name, i) =>
      h('label', { for: 'pg-dialect-' + name }, dialectRadios[i], D.DIALECTS[name].label))),
    dialectNote);

  // ---- model (openai) ----
  const model = h('select', { id: 'pg-model', 'data-testid': 'pg-model', onChange: () => set({ model: model.value }) });
  const modelField = field('Model', model);

  // ---- prompt ----
  const prompt = h('textarea', { id: 'pg-prompt', 'data-testid': 'pg-prompt', rows: '4', placeholder: 'a red fox in snow', spellcheck: 'true',
    onInput: () => { state = { ...state, prompt: prompt.value }; saved.state = state; syncChecks(); } });
  prompt.value = state.prompt;
  const promptCount = h('small', { class: 'hint', id: 'pg-prompt-count', 'aria-live': 'off' });
  const promptField = h('div', { class: 'field' }, h('label', { for: 'pg-prompt' }, 'Prompt'), prompt, promptCount);

  // ---- references by URL ----
  const refList = h('ol', { class: 'ref-list', id: 'pg-ref-urls', 'data-testid': 'pg-ref-urls' });
  const refAdd = h('button', { type: 'button', id: 'pg-ref-add', 'data-testid': 'pg-ref-add', onClick: () => {
    if (state.refUrls.length >= 16) return;
    set({ refUrls: [...state.refUrls, ''] });
    renderRefUrls();
    const inputs = refList.querySelectorAll('input');
    inputs[inputs.length - 1].focus();
  } }, 'Add a reference URL');
  const useUpload = h('button', { type: 'button', id: 'pg-use-upload', 'data-testid': 'pg-use-upload', class: 'linkish', onClick: () => { onDialect('openai'); files.focus(); } }, 'Upload files instead (openai edits route)');
  const maskUrl = h('input', { type: 'url', id: 'pg-mask-url', 'data-testid': 'pg-mask-url', placeholder: 'https://…/mask.png', spellcheck: 'false',
    onInput: () => { state = { ...state, maskUrl: maskUrl.value }; saved.state = state; syncChecks(); } });
  maskUrl.value = state.maskUrl;
  const maskUrlField = field('Mask URL (optional, PNG with alpha)', maskUrl, { hint: 'Transparent pixels of the mask are regenerated in the first reference.' });
  const urlRefs = h('div', { id: 'pg-refs-url' },
    refList, h('div', { class: 'actions' }, refAdd),
    h('p', { class: 'hint' }, 'https:// URLs the server can download (1–16). ', useUpload),
    maskUrlField);

  function renderRefUrls() {
    clear(refList);
    state.refUrls.forEach((u, i) => {
      const input = h('input', { type: 'url', id: 'pg-ref-url-' + i, 'data-testid': 'pg-ref-url-' + i, value: u, placeholder: 'https://example.com/photo.jpg', spellcheck: 'false',
        onInput: () => { const urls = [...state.refUrls]; urls[i] = input.value; const before = D.isImageToImage(state); state = { ...state, refUrls: urls }; if (D.isImageToImage(state) !== before) set({}); else { saved.state = state; syncChecks(); } },
      });
      const rm = h('button', { type: 'button', class: 'linkish', id: 'pg-ref-remove-' + i, 'data-testid': 'pg-ref-remove-' + i, 'aria-label': 'Remove reference URL ' + (i + 1),
        onClick: () => { const urls = state.refUrls.filter((_, j) => j !== i); set({ refUrls: urls.length ? urls : [''] }); renderRefUrls(); } }, 'Remove');
      refList.appendChild(h('li', null, field('Reference URL ' + (i + 1), input), rm));
    });
    refAdd.disabled = state.refUrls.length >= 16;
  }

  // ---- references by upload (openai edits) ----
  const files = h('input', { type: 'file', id: 'pg-ref-files', 'data-testid': 'pg-ref-files', multiple: true, accept: D.UPLOAD_TYPES.join(','),
    onChange: () => addFiles(files.files) });
  const thumbs = h('ul', { class: 'ref-thumbs', id: 'pg-ref-thumbs', 'data-testid': 'pg-ref-thumbs' });
  const maskEnable = h('input', { type: 'checkbox', id: 'pg-mask-enable', 'data-testid': 'pg-mask-enable', checked: saved.maskEnabled,
    onChange: () => { saved.maskEnabled = maskEnable.checked; syncMask(); } });
  const maskEnableField = h('div', { class: 'field field-inline' }, maskEnable, h('label', { for: 'pg-mask-enable' }, 'Paint a mask on the first image (inpainting)'));
  const painter = createMaskPainter({ onChange: () => syncChecks() });
  const maskBox = h('div', { id: 'pg-mask', 'data-testid': 'pg-mask', hidden: true }, painter.element);
  const uploadRefs = h('div', { id: 'pg-refs-upload' },
    field('Reference images (PNG, JPEG or WEBP; up to 16)', files, { hint: 'Uploaded with the request to /openai/v1/images/edits.' }),
    thumbs, maskEnableField, maskBox);

  let thumbUrls = [];
  async function addFiles(list) {
    const added = [];
    for (const f of list) {
      const meta = { file: f, name: f.name, size: f.size, type: f.type, width: 0, height: 0 };
      try { const im = await loadImage(f); meta.width = im.width; meta.height = im.height; URL.revokeObjectURL(im.url); }
      catch { /* problems() says it is not an image */ }
      added.push(meta);
    }
    files.value = '';
    const firstBefore = state.uploads[0];
    set({ uploads: [...state.uploads, ...added].slice(0, 16) });
    renderThumbs();
    if (state.uploads[0] !== firstBefore) await loadMaskImage();
  }
  function renderThumbs() {
    for (const u of thumbUrls) URL.revokeObjectURL(u);
    thumbUrls = [];
    clear(thumbs);
    state.uploads.forEach((u, i) => {
      const url = URL.createObjectURL(u.file);
      thumbUrls.push(url);
      thumbs.appendChild(h('li', { 'data-testid': 'pg-ref-file' },
        h('img', { src: url, alt: 'Reference ' + (i + 1) + ': ' + u.name }),
        h('span', { class: 'name' }, (i === 0 ? '1st · ' : (i + 1) + ' · ') + u.name + (u.width ? ` (${u.width}×${u.height})` : '')),
        h('button', { type: 'button', class: 'linkish', id: 'pg-ref-file-remove-' + i, 'data-testid': 'pg-ref-file-remove-' + i, 'aria-label': 'Remove image ' + (i + 1) + ' ' + u.name,
          onClick: async () => { const first = i === 0; set({ uploads: state.uploads.filter((_, j) => j !== i) }); renderThumbs(); if (first) await loadMaskImage(); } }, 'Remove')));
    });
  }
  async function loadMaskImage() {
    const first = state.uploads[0];
    if (!first) { syncMask(); return; }
    try { await painter.setImage(first.file); } catch { /* not an image: problems() says so */ }
    syncMask();
  }
  function syncMask() {
    const can = state.dialect === 'openai' && state.uploads.length > 0;
    maskEnableField.hidden = !can;
    maskBox.hidden = !(can && saved.maskEnabled && painter.width > 0);
    syncChecks();
  }

  const refsSet = h('fieldset', { id: 'pg-refs' }, h('legend', null, 'Reference images (optional)'), urlRefs, uploadRefs);

  // ---- output options ----
  const size = h('select', { id: 'pg-size', 'data-testid': 'pg-size', onChange: () => set({ size: size.value }) });
  const sizeLabel = h('label', { for: 'pg-size' }, 'Aspect ratio');
  const sizeField = h('div', { class: 'field' }, sizeLabel, size);
  const customW = h('input', { type: 'number', id: 'pg-size-w', 'data-testid': 'pg-size-w', min: '16', max: '3840', step: '16', inputmode: 'numeric',
    onInput: () => { state = { ...state, customW: customW.value }; saved.state = state; syncChecks(); } });
  const customH = h('input', { type: 'number', id: 'pg-size-h', 'data-testid': 'pg-size-h', min: '16', max: '3840', step: '16', inputmode: 'numeric',
    onInput: () => { state = { ...state, customH: customH.value }; saved.state = state; syncChecks(); } });
  customW.value = state.customW; customH.value = state.customH;
  const customBox = h('div', { class: 'grid', id: 'pg-size-custom' }, field('Width (px)', customW), field('Height (px)', customH),
    h('p', { class: 'hint' }, 'Multiples of 16, each edge 16–3840, 655,360 to 8,294,400 pixels, at most 3:1.'));
  const resolution = h('select', { id: 'pg-resolution', 'data-testid': 'pg-resolution', onChange: () => set({ resolution: resolution.value }) });
  const resolutionField = field('Resolution', resolution, { hint: ' ' });
  const resolutionHint = resolutionField.querySelector('.hint');
  const quality = h('select', { id: 'pg-quality', 'data-testid': 'pg-quality', onChange: () => set({ quality: quality.value }) });
  const qualityField = field('Quality', quality);
  const n = h('select', { id: 'pg-n', 'data-testid': 'pg-n', onChange: () => set({ n: Number(n.value) }) });
  const nField = field('Images (n)', n);
  const format = h('select', { id: 'pg-format', 'data-testid': 'pg-format', onChange: () => set({ format: format.value }) });
  const formatField = field('Output format', format);
  const compression = h('input', { type: 'number', id: 'pg-compression', 'data-testid': 'pg-compression', min: '0', max: '100', step: '1', inputmode: 'numeric', placeholder: '(default)',
    onInput: () => { state = { ...state, compression: compression.value }; saved.state = state; syncChecks(); } });
  const compressionField = field('Compression (0–100)', compression);
  const background = h('select', { id: 'pg-background', 'data-testid': 'pg-background', onChange: () => set({ background: background.value }) });
  const backgroundField = field('Background', background);
  const fidelity = h('select', { id: 'pg-fidelity', 'data-testid': 'pg-fidelity', onChange: () => set({ fidelity: fidelity.value }) });
  const fidelityField = field('Input fidelity', fidelity);
  const moderation = h('select', { id: 'pg-moderation', 'data-testid': 'pg-moderation', onChange: () => set({ moderation: moderation.value }) });
  const moderationField = field('Moderation', moderation);
  const nsfw = h('input', { type: 'checkbox', id: 'pg-nsfw', 'data-testid': 'pg-nsfw', checked: state.nsfw !== false, onChange: () => set({ nsfw: nsfw.checked }) });
  const nsfwField = h('div', { class: 'field field-inline' }, nsfw, h('label', { for: 'pg-nsfw' }, 'NSFW checker (nsfw_checker)'));
  const sizePreview = h('p', { class: 'size-preview', id: 'pg-size-preview', 'data-testid': 'pg-size-preview', 'aria-live': 'polite' });
  const outputSet = h('fieldset', { id: 'pg-output' }, h('legend', null, 'Output'),
    sizeField, customBox, sizePreview,
    h('div', { class: 'grid' }, resolutionField, qualityField, nField, formatField, compressionField, backgroundField, fidelityField, moderationField),
    nsfwField);

  // ---- submit ----
  const problemsBox = h('ul', { class: 'problems', id: 'pg-problems', 'data-testid': 'pg-problems', 'aria-live': 'polite', tabindex: '-1' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'pg-submit', 'data-testid': 'pg-submit' }, 'Generate');
  const errorArea = h('div', { id: 'pg-error', 'data-testid': 'pg-error' });
  const curlPreview = h('pre', { class: 'curl', id: 'pg-curl-preview', 'data-testid': 'pg-curl-preview' });
  const preview = h('details', { id: 'pg-request-preview' }, h('summary', null, 'The request as curl'), curlPreview,
    copyButton(() => curlPreview.textContent, 'Copy as curl', { id: 'pg-copy-curl', 'data-testid': 'pg-copy-curl' }));
  const form = h('form', { class: 'pg-form card', id: 'pg-form', 'data-testid': 'pg-form', novalidate: true },
    dialectSet, modelField, promptField, refsSet, outputSet, problemsBox,
    h('div', { class: 'actions' }, submit, h('span', { class: 'hint', id: 'pg-submit-note' })), errorArea, preview);
  form.addEventListener('submit', (ev) => { ev.preventDefault(); onSubmit(); });

  // ---- results ----
  const runsList = h('div', { id: 'pg-runs', 'data-testid': 'pg-runs', class: 'runs' });
  const emptyNote = h('p', { class: 'muted', id: 'pg-runs-empty' }, 'Results appear here: each task with its live progress, its images and its request as curl.');
  const results = h('section', { class: 'pg-results card', id: 'pg-results', 'data-testid': 'pg-results', 'aria-labelledby': 'pg-results-title' },
    h('h2', { id: 'pg-results-title' }, 'Results'), emptyNote, runsList);
  for (const r of saved.runs) runsList.appendChild(r.el);
  emptyNote.hidden = saved.runs.length > 0;

  root.append(h('h1', null, 'Playground'), h('div', { class: 'pg' }, form, results));

  // ---- sync the form with the state ----
  function onDialect(name) {
    set({ dialect: name });
    for (const r of dialectRadios) r.checked = r.value === name;
    if (name === 'openai' && state.uploads.length && !painter.width) loadMaskImage();
  }
  function sync() {
    const d = D.DIALECTS[state.dialect];
    const a = D.allowed(state);
    dialectNote.textContent = d.route + '. ' + d.note;
    modelField.hidden = !a.models;
    if (a.models) setOptions(model, a.models, state.model, (v) => v);
    urlRefs.hidden = d.refs !== 'url';
    uploadRefs.hidden = d.refs !== 'upload';
    maskUrlField.hidden = !a.maskUrl;
    sizeLabel.textContent = d.sizeLabel;
    setSizeOptions(size, a.sizes, state.size);
    customBox.hidden = state.size !== 'custom';
    resolutionField.hidden = !a.resolutions;
    if (a.resolutions) setOptions(resolution, a.resolutions, state.resolution, (v) => v);
    resolution.disabled = !a.resolutionApplies;
    resolutionHint.textContent = a.resolutionApplies ? '' : 'Not sent: ' + (state.dialect === 'unified' ? 'it applies only to a ratio.' : 'an explicit size is used as given.');
    qualityField.hidden = !a.qualities;
    if (a.qualities) setOptions(quality, a.qualities, state.quality);
    nField.hidden = !a.nMax;
    if (a.nMax) setOptions(n, Array.from({ length: a.nMax }, (_, i) => String(i + 1)), String(state.n), (v) => v);
    formatField.hidden = !a.formats;
    if (a.formats) setOptions(format, a.formats, state.format);
    compressionField.hidden = !a.compression;
    compression.value = state.compression ?? '';
    backgroundField.hidden = !a.backgrounds;
    if (a.backgrounds) setOptions(background, a.backgrounds, state.background);
    fidelityField.hidden = !a.fidelities;
    if (a.fidelities) setOptions(fidelity, a.fidelities, state.fidelity);
    moderationField.hidden = !a.moderations;
    if (a.moderations) setOptions(moderation, a.moderations, state.moderation);
    nsfwField.hidden = !a.nsfw;
    submit.textContent = d.async ? 'Create task' : 'Generate';
    syncMask();
  }
  // The checks, the counter, the size preview and the curl preview (cheap; on every keystroke).
  function currentState() {
    const maskOn = state.dialect === 'openai' && saved.maskEnabled && state.uploads.length > 0 && painter.hasPaint();
    // The mask Blob is made at submit; a placeholder of the right kind stands in for the checks.
    return { ...state, mask: maskOn ? { size: 1, placeholder: true } : null };
  }
  function syncChecks() {
    if (!ready) return;
    const s = currentState();
    const d = D.DIALECTS[s.dialect];
    const len = [...(s.prompt || '')].length;
    promptCount.textContent = `${len.toLocaleString('en-US')} / ${d.promptMax.toLocaleString('en-US')} characters` + (d.promptRequired ? '' : ' (optional with reference images)');
    const list = D.problems(s);
    clear(problemsBox);
    for (const p of list) problemsBox.appendChild(h('li', null, p));
    submit.disabled = list.length > 0;
    submit.setAttribute('aria-describedby', 'pg-problems');
    sizePreview.textContent = D.sizePreview(s) ? 'Output: ' + D.sizePreview(s) : '';
    const req = D.buildRequest(s.mask ? s : { ...s, mask: null });
    curlPreview.textContent = list.length ? '(fix the problems above first)' : D.curlFor(req, location.origin);
  }

  ready = true;
  renderRefUrls();
  renderThumbs();
  sync();
  if (state.dialect === 'openai' && state.uploads.length && !painter.width) loadMaskImage();

  // ---- submit and watch ----
  async function onSubmit() {
    clear(errorArea);
    const s = { ...state };
    if (s.dialect === 'openai' && saved.maskEnabled && s.uploads.length && painter.hasPaint()) {
      s.mask = await painter.toBlob();
    } else s.mask = null;
    const list = D.problems(s);
    if (list.length) { syncChecks(); problemsBox.focus(); return; }
    const req = D.buildRequest({ ...s, uploads: s.uploads.map((u) => u.file) });
    const curl = D.curlFor(req, location.origin);
    submit.disabled = true;
    const oldText = submit.textContent;
    submit.textContent = D.DIALECTS[s.dialect].async ? 'Creating…' : 'Generating…';
    const run = newRun(s, req, curl);
    try {
      let body;
      if (req.json) body = await call(req.method, req.path, { json: req.json, signal: run.abort.signal });
      else {
        const fd = new FormData();
        for (const [name, value, filename] of req.form) {
          if (filename !== undefined) fd.append(name, value, filename); else fd.append(name, value);
        }
        body = await call(req.method, req.path, { form: fd, signal: run.abort.signal });
      }
      if (D.DIALECTS[s.dialect].async) {
        const id = D.taskIdOf(s.dialect, body);
        if (!id) throw new ApiError('the create answer carries no task id', { code: 'bad_answer' });
        run.setTask(id);
        if (s.dialect === 'unified') run.update(D.taskView('unified', body));
        watch(run);
      } else {
        run.finishOpenai(body);
      }
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      run.refused(e);
    } finally {
      submit.textContent = oldText;
      syncChecks();
    }
  }

  // A run: one submitted request, shown as an <article> in the results.
  function newRun(s, req, curl) {
    const no = ++runSeq;
    const started = Date.now();
    const run = { no, dialect: s.dialect, taskId: null, done: false, abort: new AbortController(), blobUrls: [], view: null };
    const title = h('h3', { id: 'run-title-' + no }, `#${no} · ${s.dialect}`);
    const badge = h('span', { 'data-testid': 'run-state' }, stateBadge('sending'));
    const elapsed = h('span', { class: 'muted', 'data-testid': 'run-elapsed' }, '');
    const cancel = h('button', { type: 'button', class: 'danger', 'data-testid': 'run-cancel', id: 'run-cancel-' + no, hidden: true, onClick: () => doCancel() }, 'Cancel');
    const taskLink = h('a', { 'data-testid': 'run-task-link', hidden: true }, 'Task page');
    const progress = h('progress', { class: 'progress-bar', max: '100', 'data-testid': 'run-progress', 'aria-labelledby': 'run-title-' + no });
    const progressText = h('span', { class: 'muted', 'data-testid': 'run-progress-text', 'aria-live': 'polite' }, 'sending the request…');
    const transport = h('span', { class: 'muted', 'data-testid': 'run-transport' });
    const log = h('ol', { class: 'event-log', 'data-testid': 'run-log', 'aria-label': 'Events' });
    const errBox = h('div', { 'data-testid': 'run-error' });
    const gallery = h('ul', { class: 'gallery', 'data-testid': 'run-gallery' });
    const curlPre = h('pre', { class: 'curl', 'data-testid': 'run-curl' }, curl);
    let maskLink = null;
    if (s.mask) {
      const url = URL.createObjectURL(s.mask);
      run.blobUrls.push(url);
      maskLink = h('a', { href: url, download: 'mask.png', 'data-testid': 'run-mask-download' }, 'Download the mask sent (mask.png)');
    }
    const summary = h('p', { class: 'muted' }, req.method + ' ' + req.path + (s.prompt ? ' · “' + (s.prompt.length > 80 ? s.prompt.slice(0, 80) + '…' : s.prompt) + '”' : ''));
    const el = h('article', { class: 'run', 'data-testid': 'run', 'data-run': String(no), 'data-dialect': s.dialect, 'data-state': 'sending', 'aria-labelledby': 'run-title-' + no },
      h('div', { class: 'run-head' }, title, h('span', { class: 'actions' }, badge, elapsed, taskLink, cancel)),
      summary,
      h('div', { class: 'progress' }, progress, h('div', { class: 'progress-line' }, progressText, transport)),
      log, errBox, gallery,
      h('div', { class: 'actions' }, copyButton(curl, 'Copy as curl', { 'data-testid': 'run-copy-curl' }), maskLink),
      h('details', null, h('summary', null, 'Request (curl)'), curlPre));
    if (!D.DIALECTS[s.dialect].async) progress.removeAttribute('value');   // indeterminate
    else progress.value = 0;
    emptyNote.hidden = true;
    runsList.insertBefore(el, runsList.firstChild);
    saved.runs.unshift(Object.assign(run, { el }));
    while (saved.runs.length > MAX_RUNS) { const old = saved.runs.pop(); old.abort.abort(); for (const u of old.blobUrls) URL.revokeObjectURL(u); old.el.remove(); }
    const tick = setInterval(() => { elapsed.textContent = fmtDuration(Date.now() - started); if (run.done) clearInterval(tick); }, 250);

    const logLine = (text) => {
      const t = ((Date.now() - started) / 1000).toFixed(1);
      log.appendChild(h('li', null, `+${t}s ${text}`));
      log.scrollTop = log.scrollHeight;
    };
    const setState = (st) => { el.dataset.state = st; clear(badge).appendChild(stateBadge(st)); };

    run.setTask = (id) => {
      run.taskId = id;
      el.dataset.taskId = id;
      title.textContent = `#${no} · ${s.dialect} · `;
      title.appendChild(h('code', { 'data-testid': 'run-task-id' }, id));
      taskLink.href = '#/tasks/' + encodeURIComponent(id);
      taskLink.hidden = false;
      cancel.hidden = false;
      setState('queued');
      progressText.textContent = 'task created';
      logLine('created ' + id);
    };
    run.transport = (t) => { transport.textContent = '· ' + t; el.dataset.transport = t; };
    run.update = (view) => {
      if (run.done) return;            // the end is shown once (a cancel answer and its event race)
      const prev = run.view;
      run.view = view;
      if (!prev || prev.state !== view.state) logLine(view.state);
      setState(view.state);
      progress.value = view.progress;
      progressText.textContent = `${view.state} · ${view.progress}%`;
      if (view.done) {
        finish();
        if (view.error && view.state === 'cancelled') clear(errBox).appendChild(h('p', { class: 'notice', 'data-testid': 'run-cancelled' }, 'Cancelled: ' + (view.error.message || 'the task was cancelled') + ' (code ' + view.error.code + ')'));
        else if (view.error) showError(new ApiError(view.error.message || 'the task ' + view.state, { code: view.error.code }));
        showImages(view.urls.map((u, i) => ({ src: u, name: `${run.taskId}-${i + 1}${extOf(u)}` })));
        if (ctx.refreshCredits) ctx.refreshCredits();
      }
    };
    run.refused = (e) => {
      if (run.done) return;
      finish();
      setState(run.taskId ? 'error' : 'refused');
      progress.value = 0;
      progressText.textContent = run.taskId ? 'lost track of the task' : 'the request was refused';
      showError(e);
      if (!run.taskId) {
        clear(errorArea).appendChild(errorBox(e));
      }
    };
    run.finishOpenai = (body) => {
      finish();
      setState('succeeded');
      progress.value = 100;
      const fmt = (body && body.output_format) || 'png';
      const mime = fmt === 'jpeg' ? 'image/jpeg' : fmt === 'webp' ? 'image/webp' : 'image/png';
      const imgs = ((body && body.data) || []).map((d, i) => {
        const bin = atob(d.b64_json || '');
        const bytes = new Uint8Array(bin.length);
        for (let j = 0; j < bin.length; j++) bytes[j] = bin.charCodeAt(j);
        const url = URL.createObjectURL(new Blob([bytes], { type: mime }));
        run.blobUrls.push(url);
        return { src: url, name: `imagegate-${body.created || Date.now()}-${i + 1}.${fmt === 'jpeg' ? 'jpg' : fmt}` };
      });
      progressText.textContent = `succeeded · ${imgs.length} image${imgs.length === 1 ? '' : 's'}` + (body && body.size ? ' · ' + body.size : '') + (body && body.quality ? ' · ' + body.quality : '');
      logLine('answered with ' + imgs.length + ' image(s)');
      showImages(imgs);
      if (ctx.refreshCredits) ctx.refreshCredits();
    };
    function finish() {
      run.done = true;
      cancel.hidden = true;
      elapsed.textContent = fmtDuration(Date.now() - started);
      clearInterval(tick);
    }
    function showError(e) { clear(errBox).appendChild(errorBox(e)); }
    function showImages(list) {
      clear(gallery);
      list.forEach((it, i) => {
        const sizeText = h('span', { class: 'muted', 'data-testid': 'result-size' }, '');
        const img = h('img', { src: it.src, alt: `Result ${i + 1} of run ${no}`, 'data-testid': 'result-image' });
        img.addEventListener('load', () => {
          sizeText.textContent = `${img.naturalWidth} × ${img.naturalHeight}`;
          img.dataset.natural = `${img.naturalWidth}x${img.naturalHeight}`;
          img.width = img.naturalWidth; img.height = img.naturalHeight;
        });
        img.addEventListener('error', () => { sizeText.textContent = 'the image could not be loaded (expired?)'; img.dataset.failed = '1'; });
        gallery.appendChild(h('li', null, h('figure', null,
          h('a', { href: it.src, target: '_blank', rel: 'noopener', 'data-testid': 'result-open-image', 'aria-label': `Open result ${i + 1} full size` }, img),
          h('figcaption', null,
            h('a', { href: it.src, target: '_blank', rel: 'noopener', 'data-testid': 'result-open' }, 'Open full size'),
            h('a', { href: it.src, download: it.name, 'data-testid': 'result-download' }, 'Download'),
            sizeText))));
      });
    }
    async function doCancel() {
      if (!run.taskId || run.done) return;
      cancel.disabled = true;
      logLine('cancel requested');
      try {
        const body = await call('POST', '/v1/tasks/' + encodeURIComponent(run.taskId) + '/cancel');
        run.update(D.taskView(run.dialect, body));
      } catch (e) {
        showError(e);
      } finally { cancel.disabled = false; }
    }
    return Object.assign(run, { logLine });
  }

  // Watches a task: SSE read with fetch (EventSource cannot send Authorization), then
  // long-poll with ?wait=30 when the stream fails or ends early.
  async function watch(run) {
    const signal = run.abort.signal;
    if (held >= MAX_HELD) { run.transport('polling'); return poll(run, false); }
    held++;
    try {
      run.transport('live (Server-Sent Events)');
      let res;
      try {
        res = await request('GET', D.eventsPath(run.dialect, run.taskId), { headers: { Accept: 'text/event-stream' }, signal });
      } catch (e) {
        if (e && e.name === 'AbortError') return;
        if (e instanceof ApiError && (e.status === 401 || e.status === 404 || e.status === 403)) { run.refused(e); return; }
        run.logLine('event stream failed (' + (e.message || e) + '); long-polling');
        run.transport('long-poll');
        return await poll(run, true);
      }
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      const parser = D.sseParser();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const ev of parser.feed(dec.decode(value, { stream: true }))) {
            let body;
            try { body = JSON.parse(ev.data); } catch { continue; }
            run.update(D.taskView(run.dialect, body, ev.id));
          }
          if (run.done) { reader.cancel().catch(() => {}); return; }
        }
      } catch (e) {
        if (e && e.name === 'AbortError') return;
        run.logLine('event stream broke; long-polling');
      }
      if (!run.done) { run.transport('long-poll'); return await poll(run, true); }
    } finally { held--; }
  }

  async function poll(run, hold) {
    const signal = run.abort.signal;
    let failures = 0;
    while (!run.done && !signal.aborted) {
      try {
        const body = await call('GET', D.pollPath(run.dialect, run.taskId).split('?')[0],
          { query: { ...(run.dialect === 'jobs' ? { taskId: run.taskId } : {}), wait: hold ? 30 : undefined }, signal });
        failures = 0;
        run.update(D.taskView(run.dialect, body));
        if (!hold && !run.done) await sleep(2000, signal);
      } catch (e) {
        if (e && e.name === 'AbortError') return;
        if (e instanceof ApiError && e.status && e.status < 500 && e.status !== 429 && e.status !== 408) { run.refused(e); return; }
        if (++failures > 5) { run.refused(e); return; }
        run.logLine('polling failed (' + e.message + '); retrying');
        await sleep(1000 * failures, signal);
      }
    }
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

function extOf(url) {
  const m = /\.(png|jpe?g|webp)(\?|$)/i.exec(url || '');
  return m ? '.' + m[1].toLowerCase() : '';
}
