// imagegate console: the mask painter. Paint over the first reference image with a brush and
// an eraser; the mask it makes is a PNG of the image's exact pixel size whose painted areas are
// transparent (alpha 0: the area to regenerate, as OpenAI's edits API reads a mask) and whose
// other pixels are opaque. Strokes are kept as vectors, so undo redraws them (no pixel copies).
import { h, clear } from '../ui.js';

const MIN_SIZE = 2, MAX_SIZE = 300, DEFAULT_SIZE = 40;   // brush diameter in screen pixels

// Loads an image (File/Blob) and returns { img, url, width, height }.
export function loadImage(blob) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(blob);
    const img = new Image();
    img.onload = () => resolve({ img, url, width: img.naturalWidth, height: img.naturalHeight });
    img.onerror = () => { URL.revokeObjectURL(url); reject(new Error('the image could not be read')); };
    img.src = url;
  });
}

// createMaskPainter({ onChange }) -> { element, setImage(blob), toBlob(), hasPaint(), clear(),
// undo(), width, height, destroy() }. onChange({ strokes, painted }) after every change.
export function createMaskPainter({ onChange } = {}) {
  let strokes = [];            // { tool: 'brush'|'eraser', size (image px), points: [[x,y]…] }
  let live = null;             // the stroke being drawn
  let width = 0, height = 0, imageUrl = null;
  let tool = 'brush';
  let brush = DEFAULT_SIZE;
  let cursor = { x: 0.5, y: 0.5 };   // keyboard cursor, as fractions of the image
  let penDown = false;               // keyboard painting

  const base = h('img', { class: 'mask-base', id: 'mask-image', 'data-testid': 'mask-image', alt: 'The first reference image' });
  const overlay = h('canvas', {
    class: 'mask-overlay', id: 'mask-canvas', 'data-testid': 'mask-canvas', tabindex: '0', role: 'application',
    'aria-label': 'Mask canvas: drag to paint the area to regenerate. Keyboard: arrow keys move, Space starts and stops painting, B brush, E eraser, [ and ] brush size, Ctrl+Z undo.',
    'aria-describedby': 'mask-keys',
  });
  const ring = h('div', { class: 'mask-cursor', 'aria-hidden': 'true', hidden: true });
  const stage = h('div', { class: 'mask-stage', 'data-testid': 'mask-stage' }, base, overlay, ring);
  const info = h('p', { class: 'mask-info', id: 'mask-info', 'data-testid': 'mask-info', 'aria-live': 'polite' }, '');

  const toolBrush = h('input', { type: 'radio', name: 'mask-tool', id: 'mask-tool-brush', 'data-testid': 'mask-tool-brush', value: 'brush', checked: true, onChange: () => setTool('brush') });
  const toolEraser = h('input', { type: 'radio', name: 'mask-tool', id: 'mask-tool-eraser', 'data-testid': 'mask-tool-eraser', value: 'eraser', onChange: () => setTool('eraser') });
  const sizeInput = h('input', { type: 'range', id: 'mask-brush-size', 'data-testid': 'mask-brush-size', min: String(MIN_SIZE), max: String(MAX_SIZE), step: '1', value: String(DEFAULT_SIZE),
    onInput: () => { brush = Number(sizeInput.value); showSize(); drawRing(); } });
  const sizeOut = h('output', { for: 'mask-brush-size', id: 'mask-brush-size-value', class: 'mono' }, String(DEFAULT_SIZE));
  const undoBtn = h('button', { type: 'button', id: 'mask-undo', 'data-testid': 'mask-undo', onClick: () => undo() }, 'Undo');
  const clearBtn = h('button', { type: 'button', id: 'mask-clear', 'data-testid': 'mask-clear', onClick: () => clearAll() }, 'Clear');
  const fillBtn = h('button', { type: 'button', id: 'mask-fill', 'data-testid': 'mask-fill', onClick: () => fillAll() }, 'Paint all');
  const dlBtn = h('button', { type: 'button', id: 'mask-download', 'data-testid': 'mask-download', onClick: () => download() }, 'Download mask PNG');

  const tools = h('div', { class: 'mask-tools', role: 'group', 'aria-label': 'Mask tools' },
    h('fieldset', { class: 'tool-choice' }, h('legend', { class: 'offscreen' }, 'Tool'),
      h('label', { for: 'mask-tool-brush' }, toolBrush, 'Brush'),
      h('label', { for: 'mask-tool-eraser' }, toolEraser, 'Eraser')),
    h('span', { class: 'field field-inline' }, h('label', { for: 'mask-brush-size' }, 'Brush size'), sizeInput, sizeOut),
    undoBtn, clearBtn, fillBtn, dlBtn);
  const keys = h('p', { id: 'mask-keys', class: 'hint' },
    'Paint the area to change: painted pixels become transparent in the mask and are regenerated; the rest is kept. ',
    'Keyboard: focus the image, arrow keys move the cursor (Shift: faster), Space or Enter starts/stops painting, B brush, E eraser, [ ] size, Ctrl+Z undo.');
  const element = h('div', { class: 'mask-painter', id: 'mask-painter', 'data-testid': 'mask-painter' }, tools, stage, info, keys);

  const ctx = overlay.getContext('2d');

  function setTool(t) {
    tool = t;
    toolBrush.checked = t === 'brush';
    toolEraser.checked = t === 'eraser';
    overlay.classList.toggle('erasing', t === 'eraser');
  }
  // Screen px -> image px.
  function scale() {
    const r = overlay.getBoundingClientRect();
    return r.width > 0 ? width / r.width : 1;
  }
  function showSize() {
    sizeOut.textContent = String(brush);
    const s = scale();
    sizeOut.title = `about ${Math.max(1, Math.round(brush * s))} px of the image`;
  }

  function paintStroke(s) {
    ctx.save();
    ctx.globalCompositeOperation = s.tool === 'eraser' ? 'destination-out' : 'source-over';
    ctx.strokeStyle = ctx.fillStyle = '#ff2d55';
    ctx.lineWidth = s.size;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    if (s.fill) { ctx.fillRect(0, 0, width, height); ctx.restore(); return; }
    const p = s.points;
    if (p.length === 1) {
      ctx.beginPath();
      ctx.arc(p[0][0], p[0][1], s.size / 2, 0, Math.PI * 2);
      ctx.fill();
    } else {
      ctx.beginPath();
      ctx.moveTo(p[0][0], p[0][1]);
      for (let i = 1; i < p.length; i++) ctx.lineTo(p[i][0], p[i][1]);
      ctx.stroke();
    }
    ctx.restore();
  }
  // The newest segment of the live stroke only (drawing the whole path again would be slow).
  function paintSegment(s) {
    const p = s.points;
    if (p.length < 2) { paintStroke(s); return; }
    paintStroke({ tool: s.tool, size: s.size, points: [p[p.length - 2], p[p.length - 1]] });
  }
  function redraw() {
    ctx.clearRect(0, 0, width, height);
    for (const s of strokes) paintStroke(s);
  }

  // The painted share of the image, measured on a small copy (0..1).
  function paintedShare() {
    if (!width || !strokes.length) return 0;
    const w = Math.min(256, width), hh = Math.max(1, Math.round(height * w / width));
    const c = document.createElement('canvas');
    c.width = w; c.height = hh;
    const x = c.getContext('2d', { willReadFrequently: true });
    x.drawImage(overlay, 0, 0, w, hh);
    const d = x.getImageData(0, 0, w, hh).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n / (w * hh);
  }
  let share = 0;
  function changed() {
    share = paintedShare();
    undoBtn.disabled = strokes.length === 0;
    clearBtn.disabled = strokes.length === 0;
    dlBtn.disabled = share === 0;
    info.textContent = width
      ? `Mask ${width} × ${height} px (the image's size) · ${share === 0 ? 'nothing painted yet: no mask is sent' : Math.max(1, Math.round(share * 100)) + '% painted (to regenerate)'}`
      : '';
    element.dataset.painted = String(Math.round(share * 1000) / 1000);
    if (onChange) onChange({ strokes: strokes.length, painted: share });
  }

  function undo() { if (strokes.length) { strokes.pop(); redraw(); changed(); } }
  function clearAll() { strokes = []; redraw(); changed(); }
  function fillAll() { strokes.push({ tool: 'brush', size: 1, points: [], fill: true }); redraw(); changed(); }

  function pointAt(ev) {
    const r = overlay.getBoundingClientRect();
    return [(ev.clientX - r.left) * width / r.width, (ev.clientY - r.top) * height / r.height];
  }
  overlay.addEventListener('pointerdown', (ev) => {
    if (!width || (ev.button !== undefined && ev.button !== 0)) return;
    ev.preventDefault();
    overlay.focus({ preventScroll: true });
    try { overlay.setPointerCapture(ev.pointerId); } catch { /* synthetic events */ }
    live = { tool, size: Math.max(1, brush * scale()), points: [pointAt(ev)] };
    paintStroke(live);
  });
  overlay.addEventListener('pointermove', (ev) => {
    if (!live) return;
    ev.preventDefault();
    const evs = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
    for (const e of (evs.length ? evs : [ev])) { live.points.push(pointAt(e)); paintSegment(live); }
  });
  const end = () => {
    if (!live) return;
    strokes.push(live);
    live = null;
    redraw();
    changed();
  };
  overlay.addEventListener('pointerup', end);
  overlay.addEventListener('pointercancel', end);
  overlay.addEventListener('lostpointercapture', end);

  // Keyboard painting.
  function drawRing() {
    const r = overlay.getBoundingClientRect();
    const d = r.width ? brush / r.width * 100 : 5;
    ring.style.left = (cursor.x * 100) + '%';
    ring.style.top = (cursor.y * 100) + '%';
    ring.style.width = d + '%';
    ring.style.height = (r.height ? brush / r.height * 100 : 5) + '%';
    ring.classList.toggle('pen-down', penDown);
  }
  function keyPoint() { return [cursor.x * width, cursor.y * height]; }
  overlay.addEventListener('focus', () => { if (width) { ring.hidden = false; drawRing(); } });
  overlay.addEventListener('blur', () => { ring.hidden = true; if (penDown) { penDown = false; end(); } });
  overlay.addEventListener('keydown', (ev) => {
    if (!width) return;
    const r = overlay.getBoundingClientRect();
    const step = Math.max(4, brush / 2) * (ev.shiftKey ? 4 : 1);
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (moves[ev.key]) {
      ev.preventDefault();
      cursor.x = Math.min(1, Math.max(0, cursor.x + moves[ev.key][0] * step / (r.width || 1)));
      cursor.y = Math.min(1, Math.max(0, cursor.y + moves[ev.key][1] * step / (r.height || 1)));
      if (penDown && live) { live.points.push(keyPoint()); paintSegment(live); }
      drawRing();
    } else if (ev.key === ' ' || ev.key === 'Enter') {
      ev.preventDefault();
      if (!penDown) { penDown = true; live = { tool, size: Math.max(1, brush * scale()), points: [keyPoint()] }; paintStroke(live); }
      else { penDown = false; end(); }
      drawRing();
    } else if (ev.key === 'Escape') {
      if (penDown) { penDown = false; end(); drawRing(); }
    } else if (ev.key === 'b' || ev.key === 'B') { setTool('brush');
    } else if (ev.key === 'e' || ev.key === 'E') { setTool('eraser');
    } else if (ev.key === '[' || ev.key === ']') {
      brush = Math.min(MAX_SIZE, Math.max(MIN_SIZE, brush + (ev.key === ']' ? 4 : -4)));
      sizeInput.value = String(brush); showSize(); drawRing();
    } else if ((ev.ctrlKey || ev.metaKey) && (ev.key === 'z' || ev.key === 'Z')) {
      ev.preventDefault(); undo();
    }
  });

  async function setImage(blob) {
    const loaded = await loadImage(blob);
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = loaded.url;
    width = loaded.width; height = loaded.height;
    overlay.width = width; overlay.height = height;
    base.src = imageUrl;
    base.width = width; base.height = height;
    // Never wider than the image itself, nor than the column.
    stage.style.maxWidth = width + 'px';
    strokes = []; live = null; penDown = false;
    cursor = { x: 0.5, y: 0.5 };
    element.dataset.width = String(width);
    element.dataset.height = String(height);
    redraw(); changed(); showSize();
    return { width, height };
  }

  // The mask PNG (a Blob), or null when nothing is painted.
  function toBlob() {
    if (!width || paintedShare() === 0) return Promise.resolve(null);
    const c = document.createElement('canvas');
    c.width = width; c.height = height;
    const x = c.getContext('2d');
    x.fillStyle = '#000000';
    x.fillRect(0, 0, width, height);          // opaque: keep
    x.globalCompositeOperation = 'destination-out';
    x.drawImage(overlay, 0, 0);               // painted: alpha 0, regenerate
    return new Promise((resolve) => c.toBlob((b) => resolve(b), 'image/png'));
  }

  async function download() {
    const b = await toBlob();
    if (!b) return;
    const url = URL.createObjectURL(b);
    const a = h('a', { href: url, download: 'mask.png', class: 'offscreen' }, 'mask.png');
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function destroy() {
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = null;
    clear(element);
  }

  changed();
  return {
    element, setImage, toBlob, clear: clearAll, undo, destroy,
    hasPaint: () => share > 0,
    get width() { return width; }, get height() { return height; },
  };
}
