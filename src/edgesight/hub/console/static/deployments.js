// Deployments page: every model deployment, newest first, with each device's state in it. An admin creates one
// here (the hub's own deployment checks, through the console session); a viewer only reads.
import { ApiError, get, post } from "./api.js";
import { ago, esc, num } from "./html.js";

const IN_PROGRESS = new Set(["canary", "rolling"]);
const RELOAD_MS = 5000; // while a deployment is in progress its devices move on: the list reloads this often

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

// An admin may stop a deployment in progress: nothing more is sent; "and roll back" also returns
// the devices it reached to their previous model (the hub's POST /api/v1/deployments/{id}/halt).
function haltButtons(d, admin) {
  if (!admin || !IN_PROGRESS.has(d.status)) return "";
  return `<p class="actions"><button type="button" data-halt="${esc(d.id)}">Halt</button>
    <button type="button" data-halt="${esc(d.id)}" data-roll-back="1">Halt and roll back</button></p>`;
}

function card(d, admin) {
  return `<section class="card deployment" data-deployment="${esc(d.id)}">
    <h2>${esc(d.model_id)}@${esc(d.model_version)} <span class="status ${esc(d.status)}">${esc(d.status)}</span></h2>${haltButtons(d, admin)}
    <p class="muted">deployment ${esc(d.id)} · ${esc(target(d.target))} · started ${ago(d.created_at)} · report timeout ${num(d.report_timeout_s, 0)} s${d.detail ? ` · ${esc(d.detail)}` : ""}</p>
    <div class="table-wrap"><table><thead><tr><th>Device</th><th></th><th>State</th><th>Detail</th><th>Running</th><th>FPS</th>
    <th>Updated</th></tr></thead><tbody>${d.devices.map(deviceRow).join("")}</tbody></table></div></section>`;
}

// The form's inputs are named as the API's fields (but the model, one select for model_id and version);
// the numbers start at the API's defaults, and the hub alone checks the values (its 422 names the field).
function form(models, defaults) {
  if (!models.length) return `<p class="muted">No model registered: upload one with <code>edgesight model upload</code>.</p>`;
  const number = (name, label) => `<label>${label} <input name="${name}" type="number" step="any" value="${esc(defaults[name])}"></label>`;
  return `<form id="deploy-form" class="rule-form" novalidate>
    <label>Model <select name="model">${models.map((m, i) => `<option value="${i}">${esc(m.id)}@${esc(m.version)}</option>`).join("")}</select></label>
    <label>Tags <input name="tags" placeholder="any of these, space-separated"></label>
    <label>Site <input name="site" placeholder="none"></label>
    <label>Device ids <input name="devices" placeholder="space-separated"></label>
    <label>Canary device ids <input name="canaries" placeholder="none: the first targets by id"></label>
    ${number("canary_count", "Canary count (without ids)")}
    ${number("health_window_s", "Health window, s")}
    ${number("report_timeout_s", "Report timeout, s")}
    <div class="toolbar"><button type="submit" id="deploy-create">Deploy</button></div>
    <p id="deploy-msg" class="muted" role="status"></p></form>`;
}

const words = (text) => text.split(/[\s,]+/).filter(Boolean);

function body(f, models) {
  const m = models[Number(f.model.value)];
  const b = { model_id: m.id, version: m.version, tags: words(f.tags.value), site: f.site.value.trim() || null,
    devices: words(f.devices.value), canaries: words(f.canaries.value) };
  for (const name of ["canary_count", "health_window_s", "report_timeout_s"]) {
    const v = f[name].value.trim(); // "" (empty or not a number): the API's default
    if (v !== "") b[name] = Number(v);
  }
  return b;
}

// A 422's errors as "field: why", and the fields marked; any other refusal as the hub words it.
function showRefusal(formEl, msg, e) {
  msg.className = "error";
  if (!e.fields) { msg.textContent = e.status === 403 ? `Not allowed: ${e.message}` : e.message; return; }
  msg.textContent = e.fields.map((x) => {
    const field = x.loc.filter((p) => p !== "body").join(".");
    const input = formEl.elements[String(x.loc[1]).replace(/^(model_id|version)$/, "model")];
    if (input instanceof Element) input.setAttribute("aria-invalid", "true");
    return field ? `${field}: ${x.msg}` : x.msg;
  }).join("\n");
}

export async function showDeployments(view, who) {
  const admin = who.role === "admin";
  const setup = admin ? await get("/console/api/deployments/form") : null;
  view.innerHTML = `<section class="card"><h1>Deployments</h1><p class="muted">Also created with
    <code>edgesight model deploy</code> or <code>POST /api/v1/deployments</code>; see docs/rollout.md.</p>
    ${admin ? form(setup.models, setup.defaults) : `<p class="muted">View only: an admin creates deployments.</p>`}
    <p id="deployments-note" class="error" hidden></p></section><div id="deployments"></div>`;
  const list = view.querySelector("#deployments");
  const note = view.querySelector("#deployments-note");
  let timer = null;
  let left = false;
  const load = async () => {
    const all = await get("/console/api/deployments");
    if (left) return;
    all.sort((a, b) => b.created_at - a.created_at);
    list.innerHTML = all.map((d) => card(d, admin)).join("") || `<section class="card"><p class="muted">No deployments yet.</p></section>`;
    clearTimeout(timer);
    if (all.some((d) => IN_PROGRESS.has(d.status))) timer = setTimeout(reload, RELOAD_MS);
  };
  const reload = () => load().then(() => { note.hidden = true; }, (e) => {
    note.hidden = false;
    note.textContent = `Could not reload the deployments (${e.message}); retrying.`;
    timer = setTimeout(reload, RELOAD_MS);
  });
  await load();

  list.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-halt]");
    if (!button) return;
    const rollBack = button.dataset.rollBack === "1";
    const ask = rollBack ? "Halt this deployment and return its devices to their previous model?" : "Halt this deployment?";
    if (!window.confirm(ask)) return;
    try {
      await post(`/console/api/deployments/${encodeURIComponent(button.dataset.halt)}/halt`,
        { reason: `halted from the console by ${who.user}`, roll_back: rollBack });
      note.hidden = true;
      await load();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      note.hidden = false;
      note.textContent = e.message;
    }
  });

  const formEl = view.querySelector("#deploy-form");
  formEl?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = view.querySelector("#deploy-msg");
    for (const el of formEl.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    try {
      const d = await post("/console/api/deployments", body(formEl.elements, setup.models));
      msg.className = "muted";
      msg.textContent = `Deployment ${d.id} created: ${d.model_id}@${d.model_version} to ${d.devices.length} devices.`;
      await load();
      list.querySelector(`[data-deployment="${d.id}"]`)?.scrollIntoView({ block: "nearest" });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showRefusal(formEl, msg, e);
    }
  });
  return () => { left = true; clearTimeout(timer); };
}
