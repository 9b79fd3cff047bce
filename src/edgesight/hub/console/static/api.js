// Calls to the hub's console API: the session cookie goes along by itself (same origin),
// and every change carries the session's CSRF token.
let csrf = null;

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function call(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (method !== "GET") init.headers["X-CSRF-Token"] = csrf ?? "";
  if (body !== undefined) {
    if (body instanceof Blob) { init.body = body; init.headers["Content-Type"] = body.type; }
    else { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  }
  const res = await fetch(path, init);
  if (!res.ok) {
    let detail = res.statusText;
    try { const j = await res.json(); detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  return res.status === 204 ? null : res.json();
}

export async function me() {
  const who = await call("GET", "/console/api/me");
  csrf = who.csrf;
  return who;
}

export const get = (path) => call("GET", path);
export const put = (path, body) => call("PUT", path, body);
export const post = (path, body) => call("POST", path, body);
export const del = (path) => call("DELETE", path);
