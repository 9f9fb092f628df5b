// layout.js: the layered layout of a workflow graph, with no library: per
// container, cycle breaking (DFS), longest-path layers, dummy nodes for long
// edges, barycentre ordering and neighbour-pulled x positions; containers are
// sized recursively as titled boxes. Used by graph.js, which draws the result.

export const FONT = "13px system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
export const LINE_H = 17;
const PAD_X = 12;
export const PAD_Y = 8;
const GAP_X = 28;
const GAP_Y = 40;
const LABEL_GAP_Y = 58;
const BOX_PAD = 14;
const MAX_CHARS = 42;
export const CONTAINERS = new Set(["parallel", "branch", "foreach", "dag"]);
let canvasCtx = null;
export function textWidth(text) {
  if (!canvasCtx) {
    canvasCtx = document.createElement("canvas").getContext("2d");
    if (canvasCtx) canvasCtx.font = FONT;
  }
  return canvasCtx ? canvasCtx.measureText(text).width : text.length * 7.2;
}

export function clip(text, max = MAX_CHARS) {
  const t = String(text ?? "");
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/* ---------- layout ---------- */

export function nodeLines(node) {
  const label = Array.isArray(node.label) ? node.label : [node.label ?? node.id];
  return label.map((l) => String(l ?? ""));
}

/** Sizes a leaf node: width from its text, height from its line count. */
function leafSize(node, withStatus) {
  const lines = nodeLines(node).map((l) => clip(l));
  if (node.kind === "start" || node.kind === "end") {
    return { w: Math.max(56, textWidth(lines[0] || node.kind) + 28), h: 30 };
  }
  const count = lines.length + (withStatus ? 1 : 0);
  let w = Math.max(...lines.map(textWidth), withStatus ? 150 : 60) + 2 * PAD_X;
  if (node.kind === "inject" || node.kind === "transform") w += 16;
  if (node.kind === "switch") w += 24;
  return { w: Math.ceil(w), h: count * LINE_H + 2 * PAD_Y };
}

/** Breaks cycles (DFS, start nodes first): returns a Set of reversed edge indexes. */
function backEdges(ids, edges, kinds) {
  const out = new Map(ids.map((id) => [id, []]));
  edges.forEach((e, i) => { if (e.from !== e.to) out.get(e.from).push([e.to, i]); });
  const state = new Map();
  const reversed = new Set();
  const order = [...ids].sort((a, b) => (kinds.get(a) === "start" ? -1 : 0) - (kinds.get(b) === "start" ? -1 : 0));
  for (const root of order) {
    if (state.has(root)) continue;
    const stack = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const succ = out.get(top[0]);
      if (top[1] >= succ.length) {
        state.set(top[0], 2);
        stack.pop();
        continue;
      }
      const [next, ei] = succ[top[1]++];
      const st = state.get(next);
      if (st === 1) reversed.add(ei);
      else if (!st) {
        state.set(next, 1);
        stack.push([next, 0]);
      }
    }
  }
  return reversed;
}

/**
 * Lays out one group of sibling boxes (sizes known) and the edges among them.
 * Returns {w, h, pos: Map id → {x, y, w, h}, routes: [{edge, points, back}]}.
 */
function layoutGroup(ids, sizes, edges, kinds) {
  if (ids.length === 0) return { w: 0, h: 0, pos: new Map(), routes: [] };
  const reversed = backEdges(ids, edges, kinds);
  const dag = edges.map((e, i) => (reversed.has(i) ? { from: e.to, to: e.from } : { from: e.from, to: e.to }));
  // Longest-path layering in topological order.
  const indeg = new Map(ids.map((id) => [id, 0]));
  const succ = new Map(ids.map((id) => [id, []]));
  dag.forEach((e) => {
    if (e.from === e.to) return;
    succ.get(e.from).push(e.to);
    indeg.set(e.to, indeg.get(e.to) + 1);
  });
  const layer = new Map(ids.map((id) => [id, 0]));
  const queue = ids.filter((id) => indeg.get(id) === 0);
  while (queue.length) {
    const u = queue.shift();
    for (const v of succ.get(u)) {
      layer.set(v, Math.max(layer.get(v), layer.get(u) + 1));
      indeg.set(v, indeg.get(v) - 1);
      if (indeg.get(v) === 0) queue.push(v);
    }
  }
  let maxLayer = Math.max(...layer.values());
  for (const id of ids) if (kinds.get(id) === "end" && succ.get(id).length === 0) layer.set(id, maxLayer);
  maxLayer = Math.max(...layer.values());

  // Layers with dummy nodes for edges that span several layers.
  const layers = Array.from({ length: maxLayer + 1 }, () => []);
  const seen = new Set();
  const visit = (id) => { if (!seen.has(id)) { seen.add(id); layers[layer.get(id)].push(id); } };
  ids.forEach(visit);
  const width = new Map(ids.map((id) => [id, sizes.get(id).w]));
  const preds = new Map(ids.map((id) => [id, []]));
  const succs = new Map(ids.map((id) => [id, []]));
  const chains = [];
  dag.forEach((e, i) => {
    if (e.from === e.to) { chains.push([e.from]); return; }
    const chain = [e.from];
    for (let l = layer.get(e.from) + 1; l < layer.get(e.to); l++) {
      const d = `\u0000d${i}_${l}`;
      layers[l].push(d);
      width.set(d, 10);
      preds.set(d, []);
      succs.set(d, []);
      chain.push(d);
    }
    chain.push(e.to);
    for (let k = 1; k < chain.length; k++) {
      succs.get(chain[k - 1]).push(chain[k]);
      preds.get(chain[k]).push(chain[k - 1]);
    }
    chains.push(chain);
  });

  // Barycentre ordering sweeps.
  const index = new Map();
  const reindex = () => layers.forEach((L) => L.forEach((id, i) => index.set(id, i)));
  reindex();
  for (let sweep = 0; sweep < 6; sweep++) {
    const down = sweep % 2 === 0;
    const range = down ? layers.map((_, i) => i).slice(1) : layers.map((_, i) => i).reverse().slice(1);
    for (const l of range) {
      const nb = down ? preds : succs;
      const bc = new Map(layers[l].map((id) => {
        const ns = nb.get(id);
        return [id, ns.length ? ns.reduce((a, n) => a + index.get(n), 0) / ns.length : index.get(id)];
      }));
      layers[l].sort((a, b) => bc.get(a) - bc.get(b) || index.get(a) - index.get(b));
      layers[l].forEach((id, i) => index.set(id, i));
    }
  }

  // Horizontal placement: centres pulled towards neighbours, order and gaps kept.
  const cx = new Map();
  const place = (L, desired) => {
    const n = L.length;
    const left = new Array(n);
    const right = new Array(n);
    for (let i = 0; i < n; i++) {
      const d = desired[i];
      left[i] = i === 0 ? d : Math.max(d, left[i - 1] + (width.get(L[i - 1]) + width.get(L[i])) / 2 + GAP_X);
    }
    for (let i = n - 1; i >= 0; i--) {
      const d = desired[i];
      right[i] = i === n - 1 ? d : Math.min(d, right[i + 1] - (width.get(L[i + 1]) + width.get(L[i])) / 2 - GAP_X);
    }
    L.forEach((id, i) => cx.set(id, (left[i] + right[i]) / 2));
  };
  for (const L of layers) {
    let x = 0;
    L.forEach((id) => { cx.set(id, x + width.get(id) / 2); x += width.get(id) + GAP_X; });
    const shift = -(x - GAP_X) / 2;
    L.forEach((id) => cx.set(id, cx.get(id) + shift));
  }
  for (let iter = 0; iter < 9; iter++) {
    // Alternate down/up sweeps, both neighbours in the middle ones, and end
    // with a down sweep on predecessors only, which straightens chains.
    const down = iter % 2 === 0;
    const both = iter > 3 && iter < 8;
    const order = down ? layers.map((_, i) => i) : layers.map((_, i) => i).reverse();
    for (const l of order) {
      const L = layers[l];
      const desired = L.map((id) => {
        const ns = [...(down ? preds : succs).get(id), ...(both ? (down ? succs : preds).get(id) : [])];
        return ns.length ? ns.reduce((a, n) => a + cx.get(n), 0) / ns.length : cx.get(id);
      });
      place(L, desired);
    }
  }

  // Vertical placement.
  const labelled = new Set(edges.filter((e) => e.label).map((e) => layer.get(e.from)));
  const top = [];
  const layerH = layers.map((L) => Math.max(0, ...L.filter((id) => sizes.has(id)).map((id) => sizes.get(id).h)));
  let y = 0;
  layers.forEach((_, l) => {
    top[l] = y;
    y += layerH[l] + (labelled.has(l) ? LABEL_GAP_Y : GAP_Y);
  });
  const totalH = y - (labelled.has(maxLayer) ? LABEL_GAP_Y : GAP_Y);
  let minX = Infinity;
  let maxX = -Infinity;
  for (const L of layers) for (const id of L) {
    minX = Math.min(minX, cx.get(id) - width.get(id) / 2);
    maxX = Math.max(maxX, cx.get(id) + width.get(id) / 2);
  }
  const pos = new Map();
  const point = new Map();
  layers.forEach((L, l) => L.forEach((id) => {
    const x = cx.get(id) - minX;
    if (sizes.has(id)) {
      const sz = sizes.get(id);
      const dy = CONTAINERS.has(kinds.get(id)) ? 0 : (layerH[l] - sz.h) / 2;
      pos.set(id, { x: x - sz.w / 2, y: top[l] + dy, w: sz.w, h: sz.h });
    } else {
      point.set(id, { x, y0: top[l], y1: top[l] + layerH[l] });
    }
  }));

  // Routes through the dummy points.
  const routes = edges.map((edge, i) => {
    const chain = chains[i];
    if (chain.length === 1) {
      const p = pos.get(chain[0]);
      return { edge, self: true, points: [{ x: p.x + p.w, y: p.y + p.h * 0.35 }, { x: p.x + p.w, y: p.y + p.h * 0.7 }] };
    }
    const back = reversed.has(i);
    const a = pos.get(chain[0]);
    const b = pos.get(chain[chain.length - 1]);
    const off = back ? 10 : 0;
    const pts = [{ x: a.x + a.w / 2 + off, y: a.y + a.h }];
    // A dummy crosses its whole layer vertically, so curves only bend between layers.
    for (let k = 1; k < chain.length - 1; k++) {
      const d = point.get(chain[k]);
      pts.push({ x: d.x + off, y: d.y0 }, { x: d.x + off, y: d.y1 });
    }
    pts.push({ x: b.x + b.w / 2 + off, y: b.y });
    if (back) pts.reverse();
    return { edge, back, points: pts };
  });
  return { w: maxX - minX, h: totalH, pos, routes };
}

/**
 * Lays out the whole graph: returns {root, boxes: Map id → {x, y, w, h} absolute,
 * groups: [{ox, oy, routes}]} ready to draw.
 */
export function layout(graph, withStatus) {
  const nodes = graph.nodes || [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const children = new Map();
  const parentOf = (n) => (n.parent && byId.has(n.parent) && n.parent !== n.id ? n.parent : null);
  for (const n of nodes) {
    const p = parentOf(n);
    if (!children.has(p)) children.set(p, []);
    children.get(p).push(n.id);
  }
  const kinds = new Map(nodes.map((n) => [n.id, n.kind]));
  // Ancestor chain of each node, for mapping edges to the siblings they join.
  const chainOf = (id) => {
    const chain = [];
    let cur = id;
    const guard = new Set();
    while (cur !== null && !guard.has(cur)) {
      guard.add(cur);
      chain.unshift(cur);
      cur = parentOf(byId.get(cur));
    }
    return chain;
  };
  const groupEdges = new Map();
  for (const e of graph.edges || []) {
    if (!byId.has(e.from) || !byId.has(e.to)) continue;
    const a = chainOf(e.from);
    const b = chainOf(e.to);
    let k = 0;
    while (k < a.length && k < b.length && a[k] === b[k]) k++;
    if (k === a.length || k === b.length) {
      if (e.from !== e.to) continue; // an edge between a container and its own content
      k = a.length - 1;
    }
    const parent = k === 0 ? null : a[k - 1];
    if (!groupEdges.has(parent)) groupEdges.set(parent, []);
    groupEdges.get(parent).push({ from: a[k], to: b[k], label: e.label, catch: !!e.catch, orig: e });
  }

  const sizes = new Map();
  const inner = new Map();
  const titleH = (n) => (nodeLines(n).length + (withStatus && n.path ? 1 : 0)) * LINE_H + 6;
  const visiting = new Set();
  const measure = (parent) => {
    const ids = children.get(parent) || [];
    for (const id of ids) {
      const n = byId.get(id);
      if (CONTAINERS.has(n.kind) || children.has(id)) {
        if (visiting.has(id)) continue;
        visiting.add(id);
        const g = measure(id);
        const titleW = Math.max(...nodeLines(n).map((l) => textWidth(clip(l))), withStatus && n.path ? 160 : 0);
        sizes.set(id, { w: Math.ceil(Math.max(g.w, titleW) + 2 * BOX_PAD), h: Math.ceil(titleH(n) + g.h + 2 * BOX_PAD) });
      } else {
        sizes.set(id, leafSize(n, withStatus));
      }
    }
    const g = layoutGroup(ids, sizes, groupEdges.get(parent) || [], kinds);
    inner.set(parent, g);
    return g;
  };
  const root = measure(null);

  const boxes = new Map();
  const groups = [];
  const place = (parent, ox, oy) => {
    const g = inner.get(parent);
    if (!g) return;
    groups.push({ ox, oy, routes: g.routes });
    for (const [id, p] of g.pos) {
      const box = { x: ox + p.x, y: oy + p.y, w: p.w, h: p.h };
      boxes.set(id, box);
      const n = byId.get(id);
      if (inner.has(id)) {
        const cg = inner.get(id);
        place(id, box.x + (box.w - cg.w) / 2, box.y + BOX_PAD + titleH(n));
      }
    }
  };
  place(null, 0, 0);
  return { w: Math.ceil(root.w), h: Math.ceil(root.h), boxes, groups, byId, children };
}
