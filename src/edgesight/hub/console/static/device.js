// Device page: live counts and events by server-sent events, counts per hour as a chart, the zone/line editor,
// its tags (an admin edits them) and where it is with a model rollout.
import { ApiError, get, put } from "./api.js";
import { barChart } from "./chart.js";
import { ago, esc, num } from "./html.js";
import { mountEditor } from "./editor.js";
import { renderPanels } from "./panels.js";
import { tagList } from "./fleet.js";

const PANEL_EVENTS = new Set(["queue_advice", "restock", "hazard"]);

function countCards(counts) {
  const cards = [];
  for (const [line, dirs] of Object.entries(counts.lines)) {
    for (const [dir, n] of Object.entries(dirs)) {
      cards.push(`<div class="count" data-line="${esc(line)}" data-direction="${esc(dir)}"><small>line ${esc(line)} · ${esc(dir)}</small><b>${n}</b></div>`);
    }
  }
  for (const [zone, n] of Object.entries(counts.zones)) {
    cards.push(`<div class="count" data-zone="${esc(zone)}"><small>zone ${esc(zone)} · now</small><b>${n}</b></div>`);
  }
  return cards.join("") || `<p class="muted">No crossings or zone counts this hour yet.</p>`;
}

function describe(e) {
  const p = e.properties || {};
  const extra = p.direction ? ` ${p.direction}` : p.count !== undefined ? ` count ${p.count}` : "";
  return `${new Date(e.timestamp * 1000).toLocaleTimeString()} · ${e.type} · ${e.rule}${extra}${e.class_name ? ` · ${e.class_name}` : ""}`;
}

// The chart's two views: the last 24 hours by hour, the last 30 days by (UTC) day, as the hub buckets them.
const SPANS = {
  hour: { seconds: 3600, buckets: 24, label: (t) => new Date(t * 1000).getHours() + ":00" },
  day: { seconds: 86_400, buckets: 30, label: (t) => new Date(t * 1000).toISOString().slice(5, 10) },
};

function bucketed(rows, { seconds, buckets }) {
  // Every bucket of the span gets a bar, one without crossings a zero one.
  const per = new Map();
  for (const r of rows) if (r.metric === "line_crossing") per.set(r.bucket, (per.get(r.bucket) || 0) + r.count);
  if (!per.size) return [];
  const now = Math.floor(Date.now() / 1000 / seconds) * seconds;
  return Array.from({ length: buckets }, (_, i) => {
    const t = now - (buckets - 1 - i) * seconds;
    return { t, value: per.get(t) || 0 };
  });
}

// The device's model report: downloading, verifying, loading, running, healthy, refused (check), rolled_back (reason).
function rolloutText(r) {
  if (!r) return "no model rollout reported";
  const why = r.state === "refused" ? ` (${r.check ?? "?"})` : r.state === "rolled_back" ? ` (${r.reason ?? "?"})` : "";
  const target = r.target ? ` ${r.target}` : "";
  const dep = r.deployment ? ` · deployment ${r.deployment}` : "";
  return `${r.state}${why}${target}${dep} · running ${r.running ?? "?"}${r.detail ? ` · ${r.detail}` : ""}`;
}

function showRollout(view, r) {
  const el = view.querySelector("#rollout");
  el.textContent = rolloutText(r);
  el.dataset.state = r?.state ?? "none";
  el.classList.toggle("failed", r?.state === "refused" || r?.state === "rolled_back" || r?.state === "unreadable");
}

function mountTags(view, d, who) {
  const box = view.querySelector("#tags");
  box.innerHTML = `<div id="tag-list">${tagList(d.tags) || `<span class="muted">no tags</span>`}</div>`
    + (who.role === "admin" ? `<form id="tags-form" class="tags-form"><input name="tags" aria-label="Tags"
      value="${esc((d.tags ?? []).join(" "))}" placeholder="tags, separated by spaces"><button type="submit">Save tags</button></form>
      <p id="tags-msg" class="muted" role="status"></p>` : "");
  box.querySelector("#tags-form")?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = box.querySelector("#tags-msg");
    const tags = ev.target.elements.tags.value.split(/[\s,]+/).filter(Boolean);
    try {
      const saved = await put(`/console/api/devices/${encodeURIComponent(d.id)}/tags`, { tags });
      box.querySelector("#tag-list").innerHTML = tagList(saved.tags) || `<span class="muted">no tags</span>`;
      msg.className = "muted";
      msg.textContent = `Saved ${saved.tags.length} tags.`;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      msg.className = "error";
      msg.textContent = e.status === 422 ? "A tag may hold letters, digits and . _ : - (up to 64), no spaces." : e.message;
    }
  });
}

function head(d, twin) {
  return `<h1>${esc(d.id)} <span class="status ${esc(d.status)}">${esc(d.status)}</span></h1>
    <p class="muted">site ${esc(d.site ?? "–")} · <span id="twin">${esc(twin)}</span></p>
    <p class="muted">${esc(d.model ?? "no model reported")} ${esc(d.version ?? "")} · ${num(d.fps)} fps · DNN ${num(d.dnn_ms)} ms · last seen ${ago(d.last_seen)}</p>`;
}

export async function showDevice(view, id, who) {
  const d = await get(`/console/api/devices/${encodeURIComponent(id)}`);
  view.innerHTML = `<section class="card" id="head"></section>
    <div class="grid">
      <section class="card"><h2>Tags</h2><div id="tags"></div></section>
      <section class="card"><h2>Model rollout</h2><p id="rollout"></p></section>
    </div>
    <div class="grid">
      <section class="card"><h2>This hour</h2><div id="counts" class="counts"><p class="muted">Connecting…</p></div></section>
      <section class="card"><h2>Live events</h2><ul id="feed" class="feed"></ul></section>
    </div>
    <section class="card chart"><h2>Line crossings
      <select id="chart-span" aria-label="chart period">
        <option value="hour">per hour, last 24 h</option><option value="day">per day, last 30 days</option>
      </select></h2><div id="chart"></div></section>
    <div class="grid">
      <section class="card chart"><h2>Queue and staffing advice</h2><div id="queue"></div></section>
      <section class="card"><h2>Shelves</h2><div id="shelves"></div></section>
      <section class="card"><h2>Hazards</h2><div id="hazards"></div></section>
      <section class="card"><h2>Occupancy heatmap</h2><div id="heatmap"></div></section>
    </div>
    <section class="card editor"><h2>Zones and lines</h2><div id="editor"></div></section>`;

  let twinText = `twin v${d.desired_version}`;
  view.querySelector("#head").innerHTML = head(d, twinText);
  mountTags(view, d, who);
  showRollout(view, d.rollout);
  const chart = view.querySelector("#chart");
  let chartAt = 0;
  const spanSelect = view.querySelector("#chart-span");
  const drawChart = async () => {
    chartAt = Date.now();
    const bucket = spanSelect.value;
    const span = SPANS[bucket];
    const spanH = (span.seconds * span.buckets) / 3600;
    const rows = await get(`/console/api/devices/${encodeURIComponent(id)}/series?bucket=${bucket}&span_h=${spanH}`);
    if (spanSelect.value !== bucket) return; // switched while loading: the newer request draws
    chart.innerHTML = barChart(bucketed(rows, span), { label: span.label });
    chart.dataset.bucket = bucket;
  };
  spanSelect.addEventListener("change", drawChart);
  let panelsAt = 0;
  let panelTimer = null;
  let editor = null;
  const drawPanels = async () => {
    panelsAt = Date.now();
    const p = await get(`/console/api/devices/${encodeURIComponent(id)}/panels`);
    renderPanels(view, p, d);
    editor?.setHeatmap(p.heatmap);
  };
  // The chart and panels load side by side; the live stream opens at once (the counts need no wait).
  const loading = Promise.all([drawChart(), drawPanels()]);
  editor = mountEditor(view.querySelector("#editor"), d, who);

  const feed = view.querySelector("#feed");
  const source = new EventSource(`/console/api/devices/${encodeURIComponent(id)}/live`);
  source.addEventListener("counts", (m) => {
    view.querySelector("#counts").innerHTML = countCards(JSON.parse(m.data));
    // New counts: redraw the chart now and then (its hourly bars move slowly), at once while it is empty.
    if (Date.now() - chartAt > 60_000 || (chart.querySelector("svg") === null && Date.now() - chartAt > 3000)) drawChart();
  });
  source.addEventListener("twin", (m) => {
    const t = JSON.parse(m.data);
    const state = t.reported >= t.desired ? "applied by the device" : `device at v${t.reported}, waiting`;
    twinText = `twin v${t.desired}: ${state}${t.error ? ` (refused: ${t.error})` : ""}`;
    view.querySelector("#twin").textContent = twinText;
    showRollout(view, t.model);
  });
  source.addEventListener("health", (m) => { view.querySelector("#head").innerHTML = head(JSON.parse(m.data), twinText); });
  source.addEventListener("event", (m) => {
    const e = JSON.parse(m.data);
    // a queue, shelf or hazard event changes a panel: reload them (at most every 2 s, and once more after a
    // burst so its last event shows); with any other event, every 30 s (the heatmap)
    if (PANEL_EVENTS.has(e.type) || Date.now() - panelsAt > 30_000) {
      const wait = Math.max(0, panelsAt + 2000 - Date.now());
      if (!panelTimer) panelTimer = setTimeout(() => { panelTimer = null; drawPanels(); }, wait);
    }
    const li = document.createElement("li");
    li.textContent = describe(e);
    feed.prepend(li);
    while (feed.children.length > 100) feed.lastChild.remove();
  });
  loading.catch((e) => { view.querySelector("#chart").textContent = `Could not load: ${e.message}`; });
  return () => { source.close(); clearTimeout(panelTimer); };
}
