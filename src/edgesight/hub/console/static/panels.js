// Device page panels: queue and staffing advice, shelves, hazards, and the occupancy heatmap (SVG cells, no image).
import { barChart } from "./chart.js";
import { ago, esc, num } from "./html.js";

const hour = (t) => new Date(t * 1000).getHours() + ":00";
const secs = (v) => (v === null || v === undefined ? "–" : v >= 90 ? `${Math.round(v / 60)} min` : `${Math.round(v)} s`);

function queuePanel(p) {
  if (!p.queues.length) return `<p class="muted">No queue app reported on this device today.</p>`;
  return p.queues.map((q) => {
    const points = q.advised_per_hour.map((v, i) => ({ t: p.hours_start + i * 3600, value: v ?? 0 }));
    return `<div class="queue" data-queue="${esc(q.rule)}"><h3>${esc(q.rule)}</h3>
      <div class="counts">
        <div class="count"><small>in queue</small><b data-k="queue_length">${esc(q.queue_length)}</b></div>
        <div class="count"><small>live wait</small><b data-k="wait_s">${secs(q.wait_s)}</b></div>
        <div class="count"><small>counters advised</small><b data-k="counters">${esc(q.counters)}</b></div>
        ${q.open_counters == null ? "" : `<div class="count"><small>counters open</small><b data-k="open_counters" title="${esc((q.open_counter_names ?? []).join(", "))}">${esc(q.open_counters)}</b></div>`}
      </div>
      <p class="muted">${num(q.arrivals_per_min)} arrivals/min · Erlang C wait with ${esc(q.counters)} open ${secs(q.mean_wait_s)}
        · target ${q.target_met ? "met" : "not met"} · ${ago(q.timestamp)}</p>
      ${barChart(points, { height: 120, label: hour })}</div>`;
  }).join("");
}

function shelfPanel(p) {
  if (!p.shelves.length) return `<p class="muted">No shelf app reported on this device today.</p>`;
  const rows = p.shelves.map((s) => `<tr data-shelf="${esc(s.rule)}"><td>${esc(s.rule)}</td>
    <td class="state ${esc(s.state)}">${esc(s.state)}</td>
    <td title="${s.item_count ?? "–"}${s.capacity ? ` of ${s.capacity}` : ""} items, read ${ago(s.timestamp)}">${num((s.level ?? 0) * 100, 0)} %</td>
    <td>${secs(s.time_to_empty_s)}</td></tr>`);
  return `<div class="table-wrap"><table class="shelves"><thead><tr><th>Shelf</th><th>State</th><th>Level</th>
    <th>Empty in</th></tr></thead><tbody>${rows.join("")}</tbody></table></div>`;
}

function hazardPanel(p) {
  const h = p.hazards;
  const items = h.recent.map((e) => `<li class="${esc(e.state)}">${new Date(e.timestamp * 1000).toLocaleTimeString()} · ${esc(e.rule)}
    · ${esc(e.kind)} · ${esc(e.severity)} · ${esc(e.state)}${e.class_name ? ` · ${esc(e.class_name)}` : ""}</li>`);
  return `<p><b id="hazards-open" class="${h.open ? "bad" : ""}">${h.open}</b> open · ${h.today} raised in 24 h</p>
    <ul class="feed hazards">${items.join("") || `<li class="muted">No hazards in 24 h.</li>`}</ul>`;
}

// The heatmap's non-empty cells as SVG rects in a W x H drawing (also the editor's background without a floor plan).
export function heatCells({ cols, rows, counts }, W, H) {
  const peak = Math.max(0, ...counts.flat());
  const cw = W / cols, ch = H / rows;
  let cells = "";
  counts.forEach((row, y) => row.forEach((n, x) => {
    if (n) cells += `<rect class="cell" x="${x * cw}" y="${y * ch}" width="${cw}" height="${ch}" fill-opacity="${(0.15 + 0.8 * n / peak).toFixed(2)}"><title>${n}</title></rect>`;
  }));
  return cells;
}

function heatmapSvg(hm, shapes) {
  const W = 1000, H = 750;
  const cells = heatCells(hm, W, H);
  const zones = shapes.zones.map((z) => `<polygon class="zone" points="${z.polygon.map(([x, y]) => `${x * W},${y * H}`).join(" ")}"/>`).join("");
  const lines = shapes.lines.map((l) => `<line class="line" x1="${l.start[0] * W}" y1="${l.start[1] * H}" x2="${l.end[0] * W}" y2="${l.end[1] * H}"/>`).join("");
  return `<svg class="heatmap" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="occupancy heatmap">${cells}${zones}${lines}</svg>`;
}

function heatmapPanel(p, device) {
  const hm = p.heatmap;
  if (!hm.frames) return `<p class="muted">No frames stored in the last ${Math.round(hm.window_s / 60)} min.</p>`;
  return `${heatmapSvg(hm, device)}<p class="muted">Where detections stood (box bottom centres) in ${hm.frames} stored frames of the last
    ${Math.round(hm.window_s / 60)} min; counted on the hub from the boxes, no picture.</p>`;
}

export function renderPanels(root, p, device) {
  root.querySelector("#queue").innerHTML = queuePanel(p);
  root.querySelector("#shelves").innerHTML = shelfPanel(p);
  root.querySelector("#hazards").innerHTML = hazardPanel(p);
  root.querySelector("#heatmap").innerHTML = heatmapPanel(p, device);
}
