// graph.js: draws a workflow graph ({nodes, edges} from GET /v1/workflows/{id}/graph)
// as SVG (positions from layout.js), and maps run steps onto node paths to
// colour nodes by the status of their latest attempt.

import { h, s } from "./dom.js";
import { layout, nodeLines, textWidth, clip, CONTAINERS, LINE_H, PAD_Y } from "./layout.js";

let graphCounter = 0;

/* ---------- step statuses ---------- */

// Aggregation order: the first status present among a node's step instances wins.
const WORST = ["FAILED", "TIMED_OUT", "CANCELLED", "RUNNING", "WAITING_APPROVAL", "WAITING_SIGNAL",
  "PENDING", "SUCCEEDED"];
const SYMBOL = {
  SUCCEEDED: "✓", FAILED: "✗", TIMED_OUT: "✗", CANCELLED: "⊘", RUNNING: "▶",
  WAITING_APPROVAL: "◷", WAITING_SIGNAL: "◷", PENDING: "…",
};

/** A run step's path without foreach indices: `each[3]/check` → `each/check`. */
export function nodePath(stepPath) {
  return String(stepPath || "").replace(/\[\d+\]/g, "");
}

/**
 * Map node path → {status, counts, total}: the latest attempt of each step
 * instance (a raw path), then over instances (foreach items) the worst status.
 */
export function statusesByPath(steps) {
  const latest = new Map();
  (steps || []).forEach((st, index) => {
    if (!st || !st.path) return;
    const key = [st.started_at || "9999", Number(st.attempt) || 0, index];
    const cur = latest.get(st.path);
    if (!cur || compareKeys(key, cur.key) >= 0) latest.set(st.path, { key, st });
  });
  const out = new Map();
  for (const [raw, { st }] of latest) {
    const p = nodePath(raw);
    let agg = out.get(p);
    if (!agg) out.set(p, (agg = { status: null, counts: {}, total: 0 }));
    agg.counts[st.status] = (agg.counts[st.status] || 0) + 1;
    agg.total += 1;
  }
  for (const agg of out.values()) {
    agg.status = WORST.find((x) => agg.counts[x]) || Object.keys(agg.counts)[0] || null;
  }
  return out;
}

function compareKeys(a, b) {
  for (let i = 0; i < a.length; i++) {
    if (a[i] < b[i]) return -1;
    if (a[i] > b[i]) return 1;
  }
  return 0;
}

function statusLine(agg) {
  if (!agg) return "not started";
  if (agg.total <= 1) return `${SYMBOL[agg.status] || ""} ${agg.status}`.trim();
  const parts = WORST.filter((x) => agg.counts[x]).map((x) => `${agg.counts[x]}${SYMBOL[x] || ` ${x}`}`);
  for (const [k, v] of Object.entries(agg.counts)) if (!WORST.includes(k)) parts.push(`${v} ${k}`);
  return `${agg.status} · ${parts.join(" ")}`;
}

/* ---------- drawing ---------- */

function pathD(points, self) {
  if (self) {
    const [a, b] = points;
    return `M${a.x},${a.y} C${a.x + 40},${a.y - 10} ${b.x + 40},${b.y + 10} ${b.x},${b.y}`;
  }
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length; i++) {
    const p = points[i - 1];
    const q = points[i];
    const dy = (q.y - p.y) / 2;
    d += ` C${p.x},${p.y + dy} ${q.x},${q.y - dy} ${q.x},${q.y}`;
  }
  return d;
}

function shape(node, box) {
  const { w, h: ht } = box;
  switch (node.kind) {
    case "start":
    case "end":
      return s("rect", { class: "shape", x: 0, y: 0, width: w, height: ht, rx: ht / 2, ry: ht / 2 });
    case "switch":
      return s("polygon", { class: "shape", points: `12,0 ${w - 12},0 ${w},${ht / 2} ${w - 12},${ht} 12,${ht} 0,${ht / 2}` });
    case "inject":
    case "transform":
      return s("polygon", { class: "shape", points: `10,0 ${w},0 ${w - 10},${ht} 0,${ht}` });
    default:
      return s("rect", { class: "shape", x: 0, y: 0, width: w, height: ht, rx: CONTAINERS.has(node.kind) ? 8 : 5 });
  }
}

/**
 * Renders the graph. Options: withStatus (reserve a status line per node).
 * Returns {el, update(statusMap)}; update colours nodes from statusesByPath().
 */
export function renderGraph(graph, { withStatus = false, title = "Workflow graph" } = {}) {
  const n = ++graphCounter;
  const L = layout(graph, withStatus);
  const margin = 8;
  const W = L.w + 2 * margin + 40;
  const H = L.h + 2 * margin;
  const markerId = `arrow-${n}`;
  const markerCatch = `arrow-catch-${n}`;
  const svg = s("svg", {
    class: "graph", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "group",
    "aria-label": title, xmlns: "http://www.w3.org/2000/svg",
  },
  s("defs", {},
    s("marker", { id: markerId, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" })),
    s("marker", { id: markerCatch, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead catch" }))));
  const root = s("g", { transform: `translate(${margin},${margin})` });
  svg.appendChild(root);

  const nodeLayer = s("g", { class: "nodes" });
  const edgeLayer = s("g", { class: "edges" });
  const labelLayer = s("g", { class: "edge-labels" });
  const statusEls = [];

  // Containers first (outermost first) so their boxes sit under their content.
  const depth = (id) => { let d = 0; let cur = L.byId.get(id); while (cur && cur.parent && L.byId.has(cur.parent) && d < 100) { d++; cur = L.byId.get(cur.parent); } return d; };
  const ordered = [...L.boxes.keys()].sort((a, b) => depth(a) - depth(b));
  for (const id of ordered) {
    const node = L.byId.get(id);
    const box = L.boxes.get(id);
    const container = L.children.has(id);
    const lines = nodeLines(node);
    const g = s("g", {
      class: `gnode kind-${node.kind}${container ? " container" : ""}`,
      transform: `translate(${box.x},${box.y})`,
      testid: "graph-node", "data-id": node.id, "data-kind": node.kind,
      "data-path": node.path || "", "data-status": "NONE",
    });
    g.appendChild(s("title", {}, [...lines, node.path ? `path: ${node.path}` : null].filter(Boolean).join("\n")));
    g.appendChild(shape(node, box));
    const text = s("text", { class: "label" });
    if (node.kind === "start" || node.kind === "end") {
      text.appendChild(s("tspan", { x: box.w / 2, y: box.h / 2 + 4.5, "text-anchor": "middle" }, clip(lines[0] || node.kind)));
    } else if (container) {
      lines.forEach((l, i) => text.appendChild(s("tspan", { x: 10, y: 18 + i * LINE_H, class: i === 0 ? "title" : "sub" }, clip(l))));
    } else {
      lines.forEach((l, i) => text.appendChild(s("tspan", {
        x: box.w / 2, y: PAD_Y + 13 + i * LINE_H, "text-anchor": "middle", class: i === 0 ? "title" : "sub",
      }, clip(l))));
    }
    g.appendChild(text);
    if (withStatus && node.path) {
      const st = container
        ? s("text", { class: "status-text", x: 10, y: 18 + lines.length * LINE_H })
        : s("text", { class: "status-text", x: box.w / 2, y: PAD_Y + 13 + lines.length * LINE_H, "text-anchor": "middle" });
      st.textContent = "not started";
      g.appendChild(st);
      statusEls.push({ node, g, st });
    } else if (node.path) {
      statusEls.push({ node, g, st: null });
    }
    nodeLayer.appendChild(g);
  }

  const labelCount = new Map();
  for (const grp of L.groups) {
    for (const r of grp.routes) {
      const pts = r.points.map((p) => ({ x: p.x + grp.ox, y: p.y + grp.oy }));
      const cls = `edge${r.edge.catch ? " catch" : ""}${r.back ? " back" : ""}`;
      edgeLayer.appendChild(s("path", {
        class: cls, d: pathD(pts, r.self), "marker-end": `url(#${r.edge.catch ? markerCatch : markerId})`,
        "data-from": r.edge.orig.from, "data-to": r.edge.orig.to,
      }));
      if (r.edge.label) {
        const key = `${r.edge.from}>${r.edge.to}`;
        const k = labelCount.get(key) || 0;
        labelCount.set(key, k + 1);
        // Forward edges: near the source (switch conditions); back edges: mid-way.
        const mid = Math.floor((pts.length - 1) / 2);
        const a = r.back ? pts[mid] : pts[0];
        const b = r.back ? pts[mid + 1] || pts[mid] : pts[1] || pts[0];
        const text = clip(r.edge.label, 32);
        const tw = textWidth(text) * 0.92 + 8;
        const lx = (a.x + b.x) / 2;
        const ly = r.self ? a.y : (r.back ? (a.y + b.y) / 2 : a.y + Math.min(24, Math.abs(b.y - a.y) / 2)) + k * 16;
        labelLayer.appendChild(s("g", { class: `edge-label${r.edge.catch ? " catch" : ""}`, transform: `translate(${lx},${ly})` },
          s("title", {}, String(r.edge.label)),
          s("rect", { x: -tw / 2, y: -9, width: tw, height: 17, rx: 3 }),
          s("text", { x: 0, y: 4, "text-anchor": "middle" }, text)));
      }
    }
  }
  root.append(nodeLayer, edgeLayer, labelLayer);

  // Nodes drawn after containers but edges above all boxes: move leaf nodes above edges.
  for (const g of [...nodeLayer.children]) if (!g.classList.contains("container")) labelLayer.before(g);

  const wrap = h("div", { class: "graph-scroll", tabindex: 0, role: "region", "aria-label": `${title} (scrollable)` }, svg);
  const fit = h("button", { type: "button", class: "btn btn-small", "aria-pressed": "false" }, "Fit to width");
  fit.addEventListener("click", () => {
    const on = wrap.classList.toggle("fit");
    fit.setAttribute("aria-pressed", on ? "true" : "false");
    fit.textContent = on ? "Actual size" : "Fit to width";
  });
  const legend = withStatus ? h("p", { class: "legend" },
    ["SUCCEEDED", "RUNNING", "WAITING_APPROVAL", "FAILED", "CANCELLED", "PENDING"].map((x) =>
      h("span", { class: `legend-item status-${x}` }, `${SYMBOL[x]} ${x}`))) : null;
  const el = h("div", { class: "graph-box" }, h("div", { class: "graph-tools" }, fit, legend), wrap);

  return {
    el,
    update(statusMap) {
      for (const { node, g, st } of statusEls) {
        const agg = statusMap ? statusMap.get(node.path) : null;
        const status = agg ? agg.status : "NONE";
        g.setAttribute("data-status", status);
        g.setAttribute("class", g.getAttribute("class").replace(/\s*s-[A-Z_]+/g, "") + (agg ? ` s-${status}` : ""));
        if (agg && agg.total > 1) g.setAttribute("data-count", String(agg.total));
        if (st) st.textContent = statusLine(agg);
      }
    },
  };
}
