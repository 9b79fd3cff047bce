// Text into HTML safely: every value shown goes through esc().
const ENT = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ENT[c]);
export const num = (v, digits = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
export function ago(ts) {
  if (!ts) return "never";
  const s = Math.max(0, Date.now() / 1000 - ts);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return new Date(ts * 1000).toLocaleString();
}
