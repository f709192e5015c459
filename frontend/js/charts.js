// Two small canvas charts (a line over time, a bar histogram): no chart library needed.

const INK = "#1f2937";
const GRID = "#e5e7eb";
const MUTED = "#6b7280";
const ACCENT = "#2563eb";

function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "12px system-ui, sans-serif";
  return { ctx, width, height };
}

function niceMax(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  // Four grid steps: maxima of 2, 4, 8 or 10 (times a power of ten) give round labels.
  for (const step of [1, 2, 4, 8, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

// A grid label as written: 0.25 stays 0.25 (one decimal showed it as 0.3), 12.5 stays 12.5.
export function axisLabel(value) {
  return String(Number(value.toPrecision(3)));
}

function axes(ctx, left, top, right, bottom, max) {
  ctx.strokeStyle = GRID;
  ctx.fillStyle = MUTED;
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = bottom - ((bottom - top) * i) / 4;
    ctx.beginPath();
    ctx.moveTo(left, y + 0.5);
    ctx.lineTo(right, y + 0.5);
    ctx.stroke();
    ctx.fillText(axisLabel((max * i) / 4), 4, y + 4);
  }
}

// points: [{t: milliseconds, v: number}], oldest first.
export function drawLine(canvas, points, { windowMs = 10 * 60 * 1000, empty = "Waiting for answers…" } = {}) {
  const { ctx, width, height } = prepare(canvas);
  const left = 40, right = width - 8, top = 10, bottom = height - 22;
  const now = points.length ? Math.max(Date.now(), points[points.length - 1].t) : Date.now();
  const visible = points.filter((p) => p.t >= now - windowMs);
  const max = niceMax(Math.max(0, ...visible.map((p) => p.v)));
  axes(ctx, left, top, right, bottom, max);
  ctx.fillStyle = MUTED;
  ctx.fillText(`last ${Math.round(windowMs / 60000)} min`, left, height - 6);
  ctx.fillText("now", right - 24, height - 6);
  if (visible.length === 0) {
    ctx.fillText(empty, left + 12, top + 24);
    return;
  }
  const x = (t) => left + ((t - (now - windowMs)) / windowMs) * (right - left);
  const y = (v) => bottom - (v / max) * (bottom - top);
  ctx.strokeStyle = ACCENT;
  ctx.lineWidth = 2;
  ctx.beginPath();
  visible.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p.v)) : ctx.moveTo(x(p.t), y(p.v))));
  ctx.stroke();
  const last = visible[visible.length - 1];
  ctx.fillStyle = ACCENT;
  ctx.beginPath();
  ctx.arc(x(last.t), y(last.v), 3, 0, Math.PI * 2);
  ctx.fill();
}

// values: counts per bin over [0, 1]; labels under the first, middle and last bins.
export function drawHistogram(canvas, values, { empty = "No results yet." } = {}) {
  const { ctx, width, height } = prepare(canvas);
  const left = 40, right = width - 8, top = 10, bottom = height - 22;
  const max = niceMax(Math.max(0, ...values));
  axes(ctx, left, top, right, bottom, max);
  const total = values.reduce((a, b) => a + b, 0);
  ctx.fillStyle = MUTED;
  const n = values.length;
  for (const [i, label] of [[0, "0"], [n / 2, "0.5"], [n, "1"]]) ctx.fillText(label, left + ((right - left) * i) / n - 6, height - 6);
  if (!total) {
    ctx.fillText(empty, left + 12, top + 24);
    return;
  }
  const slot = (right - left) / n;
  values.forEach((v, i) => {
    const h = (v / max) * (bottom - top);
    ctx.fillStyle = i >= n * 0.9 ? "#059669" : i >= n * 0.7 ? ACCENT : "#f59e0b";
    ctx.fillRect(left + i * slot + 2, bottom - h, slot - 4, h);
  });
  ctx.fillStyle = INK;
}
