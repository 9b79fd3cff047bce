// Calls to the hub's console API: the session cookie goes along by itself (same origin),
// and every change carries the session's CSRF token.
let csrf = null;

// status: the HTTP status; fields: a 422's list of {loc, msg} (which field, what is wrong), else null.
export class ApiError extends Error {
  constructor(status, detail, fields = null) { super(detail); this.status = status; this.fields = fields; }
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
    let fields = null;
    try {
      const j = await res.json();
      detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail);
      if (Array.isArray(j.detail)) fields = j.detail;
    } catch { /* not JSON */ }
    throw new ApiError(res.status, detail, fields);
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
