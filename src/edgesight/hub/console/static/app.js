// The console's entry: who is signed in, then the page named by the URL hash (#/, #/device/ID, #/alerts, #/insights, #/deployments).
import { ApiError, me, post } from "./api.js";
import { showFleet } from "./fleet.js";
import { showDevice } from "./device.js";
import { showAlerts } from "./alerts.js";
import { showInsights } from "./insights.js";
import { showDeployments } from "./deployments.js";

const $ = (id) => document.getElementById(id);
let leave = null; // the current page's clean-up (closes its live stream)

async function route(who) {
  if (leave) { leave(); leave = null; }
  const view = $("view");
  const m = location.hash.match(/^#\/device\/(.+)$/);
  if (m) leave = await showDevice(view, decodeURIComponent(m[1]), who);
  else if (location.hash === "#/alerts") leave = await showAlerts(view, who);
  else if (location.hash === "#/insights") leave = await showInsights(view, who);
  else if (location.hash === "#/deployments") leave = await showDeployments(view, who);
  else leave = await showFleet(view, who);
}

async function start() {
  let who;
  try {
    who = await me();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
    $("login").hidden = false;
    const outcome = new URLSearchParams(location.search).get("login");
    $("login-error").hidden = outcome !== "failed";
    $("login-wait").hidden = outcome !== "wait";
    return;
  }
  document.body.dataset.role = who.role;
  $("who").textContent = `${who.user} (${who.role})`;
  $("nav").hidden = false;
  $("logout").hidden = false;
  $("logout").addEventListener("click", async () => { await post("/console/api/logout"); location.replace("/"); });
  window.addEventListener("hashchange", () => route(who));
  await route(who);
}

start();
