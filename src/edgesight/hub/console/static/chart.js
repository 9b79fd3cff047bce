// A bar chart as inline SVG: one bar per time bucket.
import { esc } from "./html.js";

export function barChart(points, { width = 600, height = 180, label = (t) => t } = {}) {
  if (!points.length) return `<p class="muted">No counts in this period yet.</p>`;
  const pad = { l: 36, r: 8, t: 8, b: 22 };
  const max = Math.max(1, ...points.map((p) => p.value));
  const w = (width - pad.l - pad.r) / points.length;
  const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - v / max);
  const bars = points.map((p, i) => {
    const x = pad.l + i * w;
    return `<rect class="bar" x="${x + 1}" y="${y(p.value)}" width="${Math.max(1, w - 2)}" height="${y(0) - y(p.value)}"><title>${esc(label(p.t))}: ${p.value}</title></rect>`;
  }).join("");
  const every = Math.ceil(points.length / 8);
  const ticks = points.map((p, i) => (i % every ? "" : `<text x="${pad.l + i * w}" y="${height - 6}">${esc(label(p.t))}</text>`)).join("");
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="counts per bucket">
    <text x="0" y="${pad.t + 10}">${max}</text><text x="0" y="${y(0)}">0</text>${bars}${ticks}</svg>`;
}
