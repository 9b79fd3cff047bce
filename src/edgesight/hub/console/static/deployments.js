// Deployments page (read-only): every model deployment, newest first, with each device's state in it.
import { get } from "./api.js";
import { ago, esc, num } from "./html.js";

function target(t) {
  const parts = [];
  if (t.devices?.length) parts.push(`devices ${t.devices.join(", ")}`);
  if (t.tags?.length) parts.push(`tags ${t.tags.join(", ")}`);
  if (t.site) parts.push(`site ${t.site}`);
  return parts.join(" · ") || "–";
}

function deviceRow(r) {
  return `<tr data-device="${esc(r.device_id)}"><td><a href="#/device/${encodeURIComponent(r.device_id)}">${esc(r.device_id)}</a></td>
    <td>${r.canary ? "canary" : ""}</td><td class="state">${esc(r.state)}</td><td>${esc(r.detail ?? "")}</td>
    <td>${esc(r.running ?? "–")}</td><td>${num(r.fps)}</td><td>${ago(r.updated_at)}</td></tr>`;
}

function card(d) {
  return `<section class="card deployment" data-deployment="${esc(d.id)}">
    <h2>${esc(d.model_id)}@${esc(d.model_version)} <span class="status ${esc(d.status)}">${esc(d.status)}</span></h2>
    <p class="muted">deployment ${esc(d.id)} · ${esc(target(d.target))} · started ${ago(d.created_at)} · report timeout ${num(d.report_timeout_s, 0)} s${d.detail ? ` · ${esc(d.detail)}` : ""}</p>
    <div class="table-wrap"><table><thead><tr><th>Device</th><th></th><th>State</th><th>Detail</th><th>Running</th><th>FPS</th>
    <th>Updated</th></tr></thead><tbody>${d.devices.map(deviceRow).join("")}</tbody></table></div></section>`;
}

export async function showDeployments(view) {
  const all = await get("/console/api/deployments");
  all.sort((a, b) => b.created_at - a.created_at);
  view.innerHTML = `<section class="card"><h1>Deployments</h1><p class="muted">Created with
    <code>edgesight model deploy</code> or <code>POST /api/v1/deployments</code>; see docs/rollout.md.</p></section>`
    + (all.map(card).join("") || `<section class="card"><p class="muted">No deployments yet.</p></section>`);
  return () => {};
}
