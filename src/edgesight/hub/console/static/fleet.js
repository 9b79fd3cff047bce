// Fleet page: every device in one table; filtering (text, site, tag) and sorting happen here, in one innerHTML pass.
// Status, fps and the rest change without a reload: the hub pushes changed rows by server-sent events.
import { get } from "./api.js";
import { ago, esc, num } from "./html.js";

const COLUMNS = [
  ["id", "Device"], ["status", "Status"], ["site", "Site"], ["fps", "FPS"], ["dnn_ms", "DNN ms"],
  ["model", "Model"], ["version", "Version"], ["tags", "Tags"], ["last_seen", "Last seen"],
];

export const tagList = (tags) => (tags ?? []).map((t) => `<span class="tag">${esc(t)}</span>`).join(" ");

// The <option>s of a filter select: "any" then every distinct value, sorted; the current choice kept.
function options(values, chosen, any) {
  const all = [...new Set(values)].sort();
  return `<option value="">${any}</option>` + all.map((v) => `<option${v === chosen ? " selected" : ""}>${esc(v)}</option>`).join("");
}

function row(d) {
  return `<tr><td><a href="#/device/${encodeURIComponent(d.id)}">${esc(d.id)}</a></td>`
    + `<td class="status ${esc(d.status)}">${esc(d.status)}</td><td>${esc(d.site)}</td>`
    + `<td>${num(d.fps)}</td><td>${num(d.dnn_ms)}</td><td>${esc(d.model)}</td><td>${esc(d.version)}</td><td class="tags">${tagList(d.tags)}</td>`
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
    <div class="toolbar"><input id="filter" type="search" placeholder="Filter: id, site, model, status, tag" aria-label="Filter devices">
    <select id="site-filter" aria-label="Site"></select><select id="tag-filter" aria-label="Tag"></select>
    <span id="fleet-count" class="muted"></span><span id="fleet-live" class="muted"></span>
    <button id="refresh" class="ghost" type="button">Refresh</button></div>
    <div class="table-wrap"><table id="fleet"><thead><tr>${COLUMNS.map(([k, t]) => `<th data-key="${k}">${t}</th>`).join("")}</tr></thead>
    <tbody></tbody></table></div></section>`;
  const body = view.querySelector("tbody");
  const filter = view.querySelector("#filter");
  const siteFilter = view.querySelector("#site-filter");
  const tagFilter = view.querySelector("#tag-filter");
  let devices = [];
  let sort = { key: "id", dir: 1 };

  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const site = siteFilter.value, tag = tagFilter.value;
    // rebuilt only when the choices change: a live update must not close a select the user has open
    const sites = options(devices.map((d) => d.site).filter(Boolean), site, "All sites");
    const tags = options(devices.flatMap((d) => d.tags ?? []), tag, "All tags");
    if (sites !== siteFilter.dataset.html) { siteFilter.innerHTML = sites; siteFilter.dataset.html = sites; }
    if (tags !== tagFilter.dataset.html) { tagFilter.innerHTML = tags; tagFilter.dataset.html = tags; }
    const shown = devices.filter((d) => (!site || d.site === site) && (!tag || (d.tags ?? []).includes(tag))
      && (!q || [d.id, d.site, d.model, d.status, ...(d.tags ?? [])].some((v) => String(v ?? "").toLowerCase().includes(q))));
    shown.sort(compare(sort.key, sort.dir));
    body.innerHTML = shown.map(row).join("");
    view.querySelector("#fleet-count").textContent = `${shown.length} of ${devices.length} devices`;
    for (const th of view.querySelectorAll("th")) {
      th.setAttribute("aria-sort", th.dataset.key === sort.key ? (sort.dir > 0 ? "ascending" : "descending") : "none");
    }
  };
  const load = async () => { devices = await get("/console/api/fleet"); render(); };

  filter.addEventListener("input", render);
  siteFilter.addEventListener("change", render);
  tagFilter.addEventListener("change", render);
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
