// Fleet page: every device in one table; filtering and sorting happen here, rendered in one innerHTML pass.
// Status, fps and the rest change without a reload: the hub pushes changed rows by server-sent events.
import { get } from "./api.js";
import { ago, esc, num } from "./html.js";

const COLUMNS = [
  ["id", "Device"], ["status", "Status"], ["site", "Site"], ["fps", "FPS"], ["dnn_ms", "DNN ms"],
  ["model", "Model"], ["version", "Version"], ["last_seen", "Last seen"],
];

function row(d) {
  return `<tr><td><a href="#/device/${encodeURIComponent(d.id)}">${esc(d.id)}</a></td>`
    + `<td class="status ${esc(d.status)}">${esc(d.status)}</td><td>${esc(d.site)}</td>`
    + `<td>${num(d.fps)}</td><td>${num(d.dnn_ms)}</td><td>${esc(d.model)}</td><td>${esc(d.version)}</td>`
    + `<td title="${d.last_seen ? new Date(d.last_seen * 1000).toISOString() : ""}">${ago(d.last_seen)}</td></tr>`;
}

function compare(key, dir) {
  return (a, b) => {
    const x = a[key], y = b[key];
    if (x === y) return 0;
    if (x === null || x === undefined) return 1; // missing values last, either direction
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * dir;
  };
}

export async function showFleet(view) {
  view.innerHTML = `<section class="card"><h1>Fleet</h1>
    <div class="toolbar"><input id="filter" type="search" placeholder="Filter: id, site, model, status" aria-label="Filter devices">
    <span id="fleet-count" class="muted"></span><span id="fleet-live" class="muted"></span>
    <button id="refresh" class="ghost" type="button">Refresh</button></div>
    <div class="table-wrap"><table id="fleet"><thead><tr>${COLUMNS.map(([k, t]) => `<th data-key="${k}">${t}</th>`).join("")}</tr></thead>
    <tbody></tbody></table></div></section>`;
  const body = view.querySelector("tbody");
  const filter = view.querySelector("#filter");
  let devices = [];
  let sort = { key: "id", dir: 1 };

  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = devices.filter((d) => !q || [d.id, d.site, d.model, d.status].some((v) => String(v ?? "").toLowerCase().includes(q)));
    shown.sort(compare(sort.key, sort.dir));
    body.innerHTML = shown.map(row).join("");
    view.querySelector("#fleet-count").textContent = `${shown.length} of ${devices.length} devices`;
    for (const th of view.querySelectorAll("th")) {
      th.setAttribute("aria-sort", th.dataset.key === sort.key ? (sort.dir > 0 ? "ascending" : "descending") : "none");
    }
  };
  const load = async () => { devices = await get("/console/api/fleet"); render(); };

  filter.addEventListener("input", render);
  view.querySelector("thead").addEventListener("click", (e) => {
    const key = e.target.closest("th")?.dataset.key;
    if (!key) return;
    sort = { key, dir: sort.key === key ? -sort.dir : 1 };
    render();
  });
  view.querySelector("#refresh").addEventListener("click", load);
  await load();
  // Live: the whole fleet when the stream (re)connects, then only the rows that changed; one render per message.
  const source = new EventSource("/console/api/fleet/live");
  const live = view.querySelector("#fleet-live");
  source.addEventListener("fleet", (m) => { devices = JSON.parse(m.data); render(); live.textContent = "· live"; });
  source.addEventListener("rows", (m) => {
    const byId = new Map(JSON.parse(m.data).map((d) => [d.id, d]));
    devices = devices.map((d) => byId.get(d.id) ?? d);
    for (const d of byId.values()) if (!devices.some((x) => x.id === d.id)) devices.push(d);
    render();
  });
  source.onerror = () => { live.textContent = "· reconnecting"; };
  return () => source.close();
}
