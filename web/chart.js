// A small latency chart on a canvas: p50 and p99 per second over the last
// minute. The y axis is logarithmic and the same in every panel, so 0.5 ms
// (a pushed tick) and 900 ms (a short poll's wait) fit one picture, and two
// panels compare at a glance. Drawn once a second, not per tick.

const MIN_MS = 0.1;
const MAX_MS = 10000;
const SLOTS = 60; // one point per second
const DECADES = [[0.1, '0.1 ms'], [1, '1 ms'], [10, '10 ms'], [100, '100 ms'], [1000, '1 s'], [10000, '10 s']];
const SERIES = [['p99', '#e8590c'], ['p50', '#1c64d9']];
const INK = '#6b7280';
const GRID = '#e5e7eb';

// drawLatency draws points ({p50, p99} per second, oldest first, null for a
// second without ticks) into canvas, at the size CSS gives it.
export function drawLatency(canvas, points) {
  const ctx = fit(canvas);
  if (ctx === null) return;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  const left = 44;
  const right = w - 6;
  const top = 8;
  const bottom = h - 8;
  const span = Math.log10(MAX_MS / MIN_MS);
  const y = (v) => bottom - (Math.log10(Math.min(MAX_MS, Math.max(MIN_MS, v)) / MIN_MS) / span) * (bottom - top);
  const x = (slot) => left + (slot / (SLOTS - 1)) * (right - left);

  ctx.clearRect(0, 0, w, h);
  ctx.font = '10px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  ctx.lineWidth = 1;
  for (const [value, label] of DECADES) {
    const gy = Math.round(y(value)) + 0.5;
    ctx.strokeStyle = GRID;
    ctx.beginPath();
    ctx.moveTo(left, gy);
    ctx.lineTo(right, gy);
    ctx.stroke();
    ctx.fillStyle = INK;
    ctx.textAlign = 'right';
    ctx.fillText(label, left - 5, gy);
  }
  ctx.textAlign = 'left';
  ctx.fillText('−60 s', left + 2, bottom - 6);
  ctx.textAlign = 'right';
  ctx.fillText('now', right, bottom - 6);

  const first = SLOTS - points.length; // the newest point is at the right edge
  if (!points.some((p) => p !== null)) {
    ctx.textAlign = 'center';
    ctx.fillText('waiting for ticks…', (left + right) / 2, (top + bottom) / 2);
    return;
  }
  ctx.lineWidth = 1.5;
  for (const [key, color] of SERIES) {
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.beginPath();
    let drawing = false;
    points.forEach((p, i) => {
      if (p === null || p[key] === null) {
        drawing = false; // a second without ticks breaks the line
        return;
      }
      const px = x(first + i);
      const py = y(p[key]);
      if (drawing) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
      drawing = true;
      ctx.fillRect(px - 1, py - 1, 2, 2); // a lone second still shows
    });
    ctx.stroke();
  }
  legend(ctx, right, top);
}

function legend(ctx, right, top) {
  ctx.textAlign = 'right';
  ctx.textBaseline = 'top';
  let at = right;
  for (const [key, color] of SERIES) {
    ctx.fillStyle = color;
    ctx.fillText(key, at, top);
    at -= ctx.measureText(key).width + 4;
    ctx.fillRect(at - 10, top + 5, 10, 2);
    at -= 18;
  }
}

// fit sizes the canvas's pixels to its CSS box and the screen's pixel ratio,
// so lines stay sharp; null when it is not laid out (hidden, zero size).
function fit(canvas) {
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (w === 0 || h === 0) return null;
  const ratio = window.devicePixelRatio || 1;
  const pw = Math.round(w * ratio);
  const ph = Math.round(h * ratio);
  if (canvas.width !== pw || canvas.height !== ph) {
    canvas.width = pw;
    canvas.height = ph;
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}
