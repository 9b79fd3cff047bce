// Insights page: counters advised per store over the day (from the queue apps) against the counters
// open (where the queues declare counters), and the shelves to refill.
import { get } from "./api.js";
import { barChart } from "./chart.js";
import { ago, esc, num } from "./html.js";

const hour = (t) => new Date(t * 1000).getHours() + ":00";
const secs = (v) => (v === null || v === undefined ? "–" : v >= 90 ? `${Math.round(v / 60)} min` : `${Math.round(v)} s`);

function store(s) {
  const now = s.hours.filter((h) => h.advised !== null).at(-1);
  const peak = Math.max(0, ...s.hours.map((h) => h.advised ?? 0));
  const measured = s.hours.some((h) => h.open !== null);
  const points = s.hours.map((h) => ({ t: h.start, value: h.advised ?? 0, second: h.open }));
  const nowOpen = s.hours.filter((h) => h.open !== null).at(-1);
  const gap = nowOpen && nowOpen.gap !== null ? (nowOpen.gap > 0 ? `${nowOpen.gap} short` : nowOpen.gap < 0 ? `${-nowOpen.gap} more than advised` : "as advised") : "–";
  const openText = measured
    ? ` · <span class="key-open">open now <b data-k="open">${nowOpen ? nowOpen.open : "–"}</b></span> (<span data-k="gap">${gap}</span>)`
    : ` · open counters not measured`;
  return `<section class="card chart store" data-site="${esc(s.site)}"><h2>${esc(s.site)}</h2>
    <p class="muted">${s.queues.length} queue${s.queues.length === 1 ? "" : "s"} (${esc(s.queues.join(", "))}) ·
      <span class="key-advised">counters advised now <b data-k="now">${now ? now.advised : "–"}</b></span>${openText} · peak <b data-k="peak">${peak}</b>
      · longest queue ${num(Math.max(0, ...s.hours.map((h) => h.queue_max ?? 0)), 0)} · longest wait
      ${secs(Math.max(0, ...s.hours.map((h) => h.wait_max_s ?? 0)))}</p>
    ${barChart(points, { height: 140, label: hour, secondName: "open" })}</section>`;
}

function shelfRow(s) {
  return `<tr data-shelf="${esc(s.shelf)}"><td>${esc(s.site)}</td><td><a href="#/device/${encodeURIComponent(s.device_id)}">${esc(s.device_id)}</a></td>
    <td>${esc(s.shelf)}</td><td>${num((s.level ?? 0) * 100, 0)} %</td><td>${secs(s.time_to_empty_s)}</td><td>${ago(s.timestamp)}</td></tr>`;
}

export async function showInsights(view) {
  const [staffing, restock] = await Promise.all([get("/console/api/insights/staffing"), get("/console/api/insights/restock")]);
  view.innerHTML = `<section class="card"><h1>Staffing advice per store (24 h)</h1>
      <p class="muted">Counters the queue apps advised (<span class="key-advised">wide bars</span>) and counters open
      (<span class="key-open">narrow bars</span>, staff present at a queue's declared counters), hour by hour: the most in force
      in each hour, summed over a store's queues.</p></section>
    <div class="grid">${staffing.map(store).join("") || `<section class="card muted">No queue advice in 24 h.</section>`}</div>
    <section class="card"><h2>Restock list</h2><div class="table-wrap"><table id="restock"><thead><tr><th>Store</th><th>Device</th>
      <th>Shelf</th><th>Level</th><th>Empty in</th><th>Read</th></tr></thead><tbody>
      ${restock.map(shelfRow).join("") || `<tr><td colspan="6" class="muted">No shelf needs refilling.</td></tr>`}</tbody></table></div></section>`;
  return () => {};
}
