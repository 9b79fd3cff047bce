// Alerts page: the hub's alert rules (an admin creates, edits, mutes them) and the alerts they fired, newest first.
import { ApiError, del, get, post, put } from "./api.js";
import { ago, esc } from "./html.js";

const EVENT_TYPES = ["zone_count", "zone_enter", "zone_exit", "dwell", "line_crossing", "distance_violation", "speed",
  "queue_advice", "restock", "hazard", "defect", "inspection"];
const OPS = [">=", ">", "<=", "<", "==", "!="];

function condition(c) {
  const parts = [];
  if (c.rule) parts.push(`rule ${c.rule}`);
  if (c.property) parts.push(`${c.property} ${c.op ?? ">="} ${JSON.stringify(c.value)}`);
  return parts.join(" and ") || "every event";
}

const MUTES = [["1h", "1 h"], ["8h", "8 h"], ["24h", "24 h"], ["unmuted", "until unmuted"]];

function muteState(r) {
  if (!r.muted) return "active";
  return r.muted_until === null ? "muted until unmuted" : `muted until ${new Date(r.muted_until * 1000).toLocaleString()}`;
}

function muteControl(r) {
  if (r.muted) return `<button type="button" class="ghost" data-unmute="${r.id}">Unmute</button>`;
  return `<select data-mute-for="${r.id}" aria-label="Mute ${esc(r.name)} for">${MUTES.map(([v, t]) =>
    `<option value="${v}">${t}</option>`).join("")}</select><button type="button" class="ghost" data-mute="${r.id}">Mute</button>`;
}

function ruleRow(r, admin) {
  const targets = [r.webhook_url, r.mqtt_topic && `mqtt ${r.mqtt_topic}`].filter(Boolean).join(", ");
  return `<tr data-rule="${esc(r.name)}"><td>${esc(r.name)}</td><td>${esc(r.event_type)}</td><td>${esc(condition(r.condition))}</td>
    <td>${esc(targets)}</td><td class="n">${r.alerts}</td><td>${ago(r.last_alert_at)}</td><td class="mute-state">${esc(muteState(r))}</td>
    ${admin ? `<td><button type="button" class="ghost" data-edit="${r.id}">Edit</button> ${muteControl(r)}</td>` : ""}</tr>`;
}

function alertRow(a) {
  const e = a.detail.event || {};
  return `<tr data-alert="${a.id}"><td>${new Date(a.created_at * 1000).toLocaleString()}</td><td>${esc(a.detail.rule)}</td>
    <td><a href="#/device/${encodeURIComponent(a.device_id)}">${esc(a.device_id)}</a></td>
    <td>${esc(e.type)} · ${esc(e.rule)}</td><td>${esc(a.delivered)}</td></tr>`;
}

// A typed value from the form: numbers and true/false as such, anything else a string.
function typed(text) {
  const t = text.trim();
  if (t === "") return null;
  if (t === "true" || t === "false") return t === "true";
  return Number.isFinite(Number(t)) ? Number(t) : t;
}

const FORM = `<form id="rule-form" class="rule-form">
  <input type="hidden" name="id">
  <label>Name <input name="name" required maxlength="128"></label>
  <label>Event type <select name="event_type">${EVENT_TYPES.map((t) => `<option>${t}</option>`).join("")}</select></label>
  <label>Zone, line or app rule <input name="rule" placeholder="any"></label>
  <label>Property <input name="property" placeholder="none: every event"></label>
  <label>Compare <select name="op">${OPS.map((o) => `<option>${esc(o)}</option>`).join("")}</select></label>
  <label>Value <input name="value"></label>
  <label>Webhook URL <input name="webhook_url" type="url" placeholder="https://…"></label>
  <label>MQTT topic <input name="mqtt_topic"></label>
  <div class="toolbar"><button type="submit" id="rule-save">Create rule</button>
    <button type="button" class="ghost" id="rule-cancel" hidden>Cancel edit</button></div>
  <p id="rule-msg" class="muted" role="status"></p></form>`;

export async function showAlerts(view, who) {
  const admin = who.role === "admin";
  view.innerHTML = `<section class="card"><h1>Alert rules</h1><div class="table-wrap"><table id="rules"><thead><tr>
      <th>Name</th><th>Event</th><th>Condition</th><th>Sent to</th><th>Alerts</th><th>Last</th><th>State</th>${admin ? "<th></th>" : ""}</tr></thead>
      <tbody></tbody></table></div>${admin ? FORM : `<p class="muted">View only: an admin creates and edits rules.</p>`}</section>
    <section class="card"><h2>Fired alerts</h2><div class="table-wrap"><table id="alerts"><thead><tr><th>When</th><th>Rule</th>
      <th>Device</th><th>Event</th><th>Delivery</th></tr></thead><tbody></tbody></table></div></section>`;
  let rules = [];
  const load = async () => {
    const [r, a] = await Promise.all([get("/console/api/rules"), get("/console/api/alerts?limit=100")]);
    rules = r;
    view.querySelector("#rules tbody").innerHTML = r.map((x) => ruleRow(x, admin)).join("")
      || `<tr><td colspan="8" class="muted">No rules yet.</td></tr>`;
    view.querySelector("#alerts tbody").innerHTML = a.map(alertRow).join("")
      || `<tr><td colspan="5" class="muted">No alerts fired.</td></tr>`;
  };
  await load();
  if (!admin) return () => {};

  const form = view.querySelector("#rule-form");
  const msg = view.querySelector("#rule-msg");
  const reset = () => {
    form.reset();
    form.elements.id.value = "";
    view.querySelector("#rule-save").textContent = "Create rule";
    view.querySelector("#rule-cancel").hidden = true;
  };
  view.querySelector("#rules").addEventListener("click", async (ev) => {
    const mute = ev.target.closest("[data-mute]")?.dataset.mute;
    const unmute = ev.target.closest("[data-unmute]")?.dataset.unmute;
    if (mute || unmute) {
      try {
        const until = mute && view.querySelector(`[data-mute-for="${mute}"]`).value;
        const saved = mute ? await put(`/console/api/rules/${mute}/mute`, { until }) : await del(`/console/api/rules/${unmute}/mute`);
        msg.className = "muted";
        msg.textContent = `Rule ${saved.name}: ${muteState(saved)}.`;
        await load();
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        msg.className = "error";
        msg.textContent = e.message;
      }
      return;
    }
    const id = ev.target.closest("[data-edit]")?.dataset.edit;
    const r = rules.find((x) => String(x.id) === id);
    if (!r) return;
    const f = form.elements;
    f.id.value = r.id; f.name.value = r.name; f.event_type.value = r.event_type;
    f.rule.value = r.condition.rule ?? ""; f.property.value = r.condition.property ?? "";
    f.op.value = r.condition.op ?? ">="; f.value.value = r.condition.value ?? "";
    f.webhook_url.value = r.webhook_url ?? ""; f.mqtt_topic.value = r.mqtt_topic ?? "";
    view.querySelector("#rule-save").textContent = `Save rule ${r.name}`;
    view.querySelector("#rule-cancel").hidden = false;
    f.name.focus();
  });
  view.querySelector("#rule-cancel").addEventListener("click", reset);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const cond = { rule: f.rule.value.trim() || null, property: f.property.value.trim() || null };
    if (cond.property) { cond.op = f.op.value; cond.value = typed(f.value.value); }
    const body = { name: f.name.value.trim(), event_type: f.event_type.value, condition: cond,
      webhook_url: f.webhook_url.value.trim() || null, mqtt_topic: f.mqtt_topic.value.trim() || null };
    try {
      const saved = f.id.value ? await put(`/console/api/rules/${f.id.value}`, body) : await post("/console/api/rules", body);
      msg.className = "muted";
      msg.textContent = `Saved rule ${saved.name}.`;
      reset();
      await load();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      msg.className = "error";
      msg.textContent = e.message;
    }
  });
  return () => {};
}
