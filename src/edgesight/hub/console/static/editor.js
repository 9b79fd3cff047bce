// Zone and line editor: SVG shapes over an uploaded floor plan, or a grid with the occupancy heatmap (never a device picture).
// Coordinates are normalised 0..1 as in analytics.zones / analytics.lines; saving writes the desired twin.
import { ApiError, put } from "./api.js";
import { esc } from "./html.js";
import { heatCells } from "./panels.js";

const W = 1000, H = 750;
const r4 = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;

export function mountEditor(root, device, who) {
  const admin = who.role === "admin";
  const shapes = {
    zones: structuredClone(device.zones),
    lines: structuredClone(device.lines),
  };
  const changed = new Set(); // which lists were edited: only those are saved (the device keeps the others)
  let selected = null; // {kind: "zones"|"lines", index}
  let drawing = null;  // {kind, points: [[x, y]...]} while adding a shape
  let drag = null;     // {kind, index, vertex|null, from: [x, y], orig}
  const bgUrl = `/console/api/devices/${encodeURIComponent(device.id)}/background`;

  root.innerHTML = `<div class="toolbar">
      <button type="button" class="ghost admin-only" data-act="zone">Add zone</button>
      <button type="button" class="ghost admin-only" data-act="line">Add line</button>
      <button type="button" class="ghost admin-only" data-act="finish" hidden>Finish zone</button>
      <input class="admin-only" id="shape-name" placeholder="name of the selected shape" aria-label="Shape name" disabled>
      <button type="button" class="ghost admin-only" data-act="delete" disabled>Delete</button>
      <button type="button" class="admin-only" data-act="save">Save to device</button>
      <label class="admin-only ghost">Floor plan <input type="file" id="plan" accept="image/png,image/jpeg"></label>
    </div>
    <p id="editor-msg" class="muted" role="status">${admin ? "Add a zone (click its corners, then Finish) or a line (click its start, then its end); drag to move." : "View only."}</p>
    <svg id="canvas" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" aria-label="zone and line editor"></svg>`;
  if (!admin) root.querySelectorAll(".admin-only").forEach((el) => el.remove());
  const svg = root.querySelector("#canvas");
  const msg = root.querySelector("#editor-msg");
  const nameInput = root.querySelector("#shape-name");
  let hasBackground = device.has_background;
  let heat = ""; // heatmap cells under the grid, once the device page has them

  const point = (ev) => {
    const b = svg.getBoundingClientRect();
    return [r4((ev.clientX - b.left) / b.width), r4((ev.clientY - b.top) / b.height)];
  };
  const px = ([x, y]) => `${x * W},${y * H}`;

  function background() {
    if (hasBackground) return `<image href="${bgUrl}?v=${Date.now()}" x="0" y="0" width="${W}" height="${H}" preserveAspectRatio="none"/>`;
    let g = heat;
    for (let x = 50; x < W; x += 50) g += `<line class="gridline" x1="${x}" y1="0" x2="${x}" y2="${H}"/>`;
    for (let y = 50; y < H; y += 50) g += `<line class="gridline" x1="0" y1="${y}" x2="${W}" y2="${y}"/>`;
    return g;
  }
  let bg = background();

  function lineArrow(l) {
    // Looking from start to end, crossing from left to right is left_to_right ("in" by default).
    const [sx, sy] = [l.start[0] * W, l.start[1] * H], [ex, ey] = [l.end[0] * W, l.end[1] * H];
    const len = Math.hypot(ex - sx, ey - sy) || 1;
    const [nx, ny] = [-(ey - sy) / len, (ex - sx) / len];
    const [mx, my] = [(sx + ex) / 2, (sy + ey) / 2];
    const [tx, ty] = [mx + nx * 40, my + ny * 40];
    return `<line class="line" x1="${mx}" y1="${my}" x2="${tx}" y2="${ty}" stroke-width="2"/>`
      + `<circle cx="${tx}" cy="${ty}" r="5" fill="currentColor"/><text class="label" x="${tx + 6}" y="${ty}">${esc(l.left_to_right ?? "in")}</text>`;
  }

  function render() {
    let out = bg;
    shapes.zones.forEach((z, i) => {
      const sel = selected?.kind === "zones" && selected.index === i;
      out += `<polygon class="zone${sel ? " selected" : ""}" data-kind="zones" data-index="${i}" points="${z.polygon.map(px).join(" ")}"/>`;
      out += `<text class="label" x="${z.polygon[0][0] * W + 6}" y="${z.polygon[0][1] * H - 6}">${esc(z.name)}</text>`;
    });
    shapes.lines.forEach((l, i) => {
      const sel = selected?.kind === "lines" && selected.index === i;
      out += `<line class="line${sel ? " selected" : ""}" data-kind="lines" data-index="${i}" x1="${l.start[0] * W}" y1="${l.start[1] * H}" x2="${l.end[0] * W}" y2="${l.end[1] * H}"/>`;
      out += lineArrow(l) + `<text class="label" x="${l.start[0] * W + 6}" y="${l.start[1] * H - 8}">${esc(l.name)}</text>`;
    });
    if (admin && selected) {
      const s = shapes[selected.kind][selected.index];
      const verts = selected.kind === "zones" ? s.polygon : [s.start, s.end];
      verts.forEach((v, j) => { out += `<circle class="handle" data-vertex="${j}" cx="${v[0] * W}" cy="${v[1] * H}" r="10"/>`; });
    }
    if (drawing) {
      out += `<polyline class="${drawing.kind === "zones" ? "zone" : "line"}" fill="none" points="${drawing.points.map(px).join(" ")}"/>`;
      drawing.points.forEach((v) => { out += `<circle class="handle" cx="${v[0] * W}" cy="${v[1] * H}" r="6"/>`; });
    }
    svg.innerHTML = out;
    if (nameInput) {
      nameInput.disabled = !selected;
      nameInput.value = selected ? shapes[selected.kind][selected.index].name : "";
      root.querySelector('[data-act="delete"]').disabled = !selected;
      root.querySelector('[data-act="finish"]').hidden = drawing?.kind !== "zones";
    }
  }

  const freshName = (kind, base) => {
    const names = new Set(shapes[kind].map((s) => s.name));
    for (let n = 1; ; n++) if (!names.has(`${base}-${n}`)) return `${base}-${n}`;
  };

  function finish() {
    if (drawing?.kind === "zones" && drawing.points.length >= 3) {
      shapes.zones.push({ name: freshName("zones", "zone"), polygon: drawing.points });
      changed.add("zones");
      selected = { kind: "zones", index: shapes.zones.length - 1 };
    }
    drawing = null;
    render();
  }

  if (admin) {
    root.querySelector(".toolbar").addEventListener("click", async (ev) => {
      const act = ev.target.closest("button")?.dataset.act;
      if (act === "zone" || act === "line") { drawing = { kind: act === "zone" ? "zones" : "lines", points: [] }; selected = null; render(); }
      if (act === "finish") finish();
      if (act === "delete" && selected) { changed.add(selected.kind); shapes[selected.kind].splice(selected.index, 1); selected = null; render(); }
      if (act === "save") await save();
    });
    nameInput.addEventListener("input", () => {
      if (selected) { shapes[selected.kind][selected.index].name = nameInput.value; changed.add(selected.kind); }
    });
    nameInput.addEventListener("change", render);
    root.querySelector("#plan").addEventListener("change", async (ev) => {
      const file = ev.target.files[0];
      if (!file) return;
      try { await put(bgUrl, file); hasBackground = true; bg = background(); render(); msg.textContent = "Floor plan uploaded."; }
      catch (e) { msg.className = "error"; msg.textContent = e.message; }
    });
    svg.addEventListener("pointerdown", (ev) => {
      const p = point(ev);
      if (drawing) {
        drawing.points.push(p);
        if (drawing.kind === "lines" && drawing.points.length === 2) {
          const [start, end] = drawing.points;
          shapes.lines.push({ name: freshName("lines", "line"), start, end });
          changed.add("lines");
          selected = { kind: "lines", index: shapes.lines.length - 1 };
          drawing = null;
        }
        render();
        return;
      }
      const vertex = ev.target.dataset.vertex;
      if (vertex !== undefined && selected) {
        drag = { ...selected, vertex: Number(vertex), from: p };
      } else if (ev.target.dataset.kind) {
        selected = { kind: ev.target.dataset.kind, index: Number(ev.target.dataset.index) };
        drag = { ...selected, vertex: null, from: p, orig: structuredClone(shapes[selected.kind][selected.index]) };
      } else {
        selected = null;
      }
      svg.setPointerCapture(ev.pointerId);
      render();
    });
    svg.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      const p = point(ev);
      const s = shapes[drag.kind][drag.index];
      changed.add(drag.kind);
      if (drag.vertex !== null) {
        if (drag.kind === "zones") s.polygon[drag.vertex] = p; else s[drag.vertex ? "end" : "start"] = p;
      } else {
        const [dx, dy] = [p[0] - drag.from[0], p[1] - drag.from[1]];
        const move = ([x, y]) => [r4(x + dx), r4(y + dy)];
        if (drag.kind === "zones") s.polygon = drag.orig.polygon.map(move);
        else { s.start = move(drag.orig.start); s.end = move(drag.orig.end); }
      }
      render();
    });
    svg.addEventListener("pointerup", () => { drag = null; });
    svg.addEventListener("dblclick", finish);
  }

  async function save() {
    msg.className = "muted";
    msg.textContent = "Saving…";
    try {
      const body = Object.fromEntries([...changed].map((kind) => [kind, shapes[kind]]));
      const res = await put(`/console/api/devices/${encodeURIComponent(device.id)}/analytics`, body);
      msg.textContent = `Saved: desired version ${res.desired_version}; the device applies it when it receives the twin.`;
    } catch (e) {
      msg.className = "error";
      msg.textContent = e instanceof ApiError ? e.message : String(e);
    }
  }

  render();
  return {
    // The occupancy heatmap (from the device page's panels) under the grid: where people stood, no picture.
    setHeatmap(hm) {
      heat = hm.frames ? heatCells(hm, W, H) : "";
      if (!hasBackground) { bg = background(); render(); }
    },
  };
}
