// A bar chart as inline SVG: one bar per time bucket, and optionally a narrower second series inside
// each bar (points' `second`, named by `secondName`; null where it has no value).
import { esc } from "./html.js";

export function barChart(points, { width = 600, height = 180, label = (t) => t, secondName = "" } = {}) {
  if (!points.length) return `<p class="muted">No counts in this period yet.</p>`;
  const pad = { l: 36, r: 8, t: 8, b: 22 };
  const max = Math.max(1, ...points.map((p) => Math.max(p.value, p.second ?? 0)));
  const w = (width - pad.l - pad.r) / points.length;
  const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - v / max);
  const bars = points.map((p, i) => {
    const x = pad.l + i * w;
    const title = `${esc(label(p.t))}: ${p.value}${p.second == null ? "" : ` · ${esc(secondName)} ${p.second}`}`;
    const second = p.second == null ? "" : `<rect class="bar second" x="${x + w * 0.3}" y="${y(p.second)}" width="${Math.max(1, w * 0.4)}" height="${y(0) - y(p.second)}"><title>${title}</title></rect>`;
    return `<rect class="bar" x="${x + 1}" y="${y(p.value)}" width="${Math.max(1, w - 2)}" height="${y(0) - y(p.value)}"><title>${title}</title></rect>${second}`;
  }).join("");
  const every = Math.ceil(points.length / 8);
  const ticks = points.map((p, i) => (i % every ? "" : `<text x="${pad.l + i * w}" y="${height - 6}">${esc(label(p.t))}</text>`)).join("");
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="counts per bucket">
    <text x="0" y="${pad.t + 10}">${max}</text><text x="0" y="${y(0)}">0</text>${bars}${ticks}</svg>`;
}
