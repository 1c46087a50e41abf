// The DAG view: layered layout (longest-path layers, barycentric ordering), groups as boxes, SVG.
//
// renderGraph(container, {nodes, edges}, {onSelect, selected, fit}) → a handle:
//   {update(nodes), select(id), reveal(id), view (zoom/pan/fit, see graph_view.js), destroy()}
// graphFromSpec(pipelineSpec) → {nodes, edges} (ids are task paths: "outer/inner").
// Nodes: {id, label, kind: task|group|artifact, parent, state, duration, title, group}.

import { s, stateIcon } from "./dom.js";
import { attachView } from "./graph_view.js";

const NODE_W = 200;
const NODE_H = 44;
const GAP_X = 28;
const GAP_Y = 44;
const PAD = 14; // inside a group box
const HEAD = 22; // a group box's label strip
const MAX_CHARS = 25;
const ART_W = 168;
const ART_H = 30;
/** Containers with at least this many children and several unconnected parts get packed. */
const PACK_MIN = 12;
/** The packed block's width : height. */
const ASPECT = 1.6;

function stateClass(state) {
  const name = String(state || "").toLowerCase();
  return name ? `state-${name}` : "";
}

function clip(label, max = MAX_CHARS) {
  const text = String(label);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The children of each container ("" = the top level), in input order. */
function containers(nodes) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const children = new Map([["", []]]);
  for (const node of nodes) {
    const parent = node.parent && byId.has(node.parent) ? node.parent : "";
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(node.id);
  }
  return { byId, children };
}

function ancestry(id, byId) {
  const chain = [id];
  const seen = new Set(chain);
  let node = byId.get(id);
  while (node && node.parent && byId.has(node.parent) && !seen.has(node.parent)) {
    chain.unshift(node.parent);
    seen.add(node.parent);
    node = byId.get(node.parent);
  }
  return chain; // top-level ancestor first
}

/** Edges lifted to the level where both ends are siblings: container → [[a, b]]. */
function liftEdges(edges, byId) {
  const lifted = new Map();
  const seen = new Set();
  for (const [from, to] of edges) {
    if (!byId.has(from) || !byId.has(to) || from === to) continue;
    const a = ancestry(from, byId);
    const b = ancestry(to, byId);
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    if (i >= a.length || i >= b.length) continue; // one contains the other
    const container = i === 0 ? "" : a[i - 1];
    const key = `${a[i]}\u0000${b[i]}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (!lifted.has(container)) lifted.set(container, []);
    lifted.get(container).push([a[i], b[i]]);
  }
  return lifted;
}

/** Longest-path layers (cycles, which a DAG never has, are broken by input order). */
function layers(ids, edges) {
  const preds = new Map(ids.map((id) => [id, []]));
  const succs = new Map(ids.map((id) => [id, []]));
  for (const [a, b] of edges) {
    preds.get(b).push(a);
    succs.get(a).push(b);
  }
  const indegree = new Map(ids.map((id) => [id, preds.get(id).length]));
  const layer = new Map();
  const queue = ids.filter((id) => indegree.get(id) === 0);
  const done = new Set();
  while (done.size < ids.length) {
    if (!queue.length) queue.push(ids.find((id) => !done.has(id))); // a cycle
    const id = queue.shift();
    if (done.has(id)) continue;
    done.add(id);
    const level = Math.max(-1, ...preds.get(id).filter((p) => done.has(p)).map((p) => layer.get(p)));
    layer.set(id, level + 1);
    for (const next of succs.get(id)) {
      indegree.set(next, indegree.get(next) - 1);
      if (indegree.get(next) === 0) queue.push(next);
    }
  }
  const rows = [];
  for (const id of ids) {
    const level = layer.get(id);
    while (rows.length <= level) rows.push([]);
    rows[level].push(id);
  }
  return { rows: rows.filter((r) => r.length), preds, succs };
}

/** Barycentric ordering: a few down and up sweeps. */
function order(rows, preds, succs) {
  const pos = new Map();
  const index = () => rows.forEach((row) => row.forEach((id, i) => pos.set(id, i)));
  index();
  const sweep = (row, neighbours) => {
    const centre = new Map();
    row.forEach((id, i) => {
      const ns = neighbours.get(id).filter((n) => pos.has(n));
      centre.set(id, ns.length ? ns.reduce((t, n) => t + pos.get(n), 0) / ns.length : i);
    });
    row.sort((x, y) => centre.get(x) - centre.get(y));
    row.forEach((id, i) => pos.set(id, i));
  };
  for (let pass = 0; pass < 4; pass++) {
    for (let r = 1; r < rows.length; r++) sweep(rows[r], preds);
    for (let r = rows.length - 2; r >= 0; r--) sweep(rows[r], succs);
  }
  return rows;
}

/** Lay out one container's children; sizes of groups come from their own layouts (recursion). */
function layoutContainer(container, ctx) {
  const ids = ctx.children.get(container) || [];
  for (const id of ids) {
    const node = ctx.byId.get(id);
    if (node.kind === "group" || ctx.children.has(id)) {
      const inner = layoutContainer(id, ctx);
      ctx.size.set(id, {
        w: Math.max(inner.w + 2 * PAD, NODE_W),
        h: inner.h + 2 * PAD + HEAD,
      });
    } else if (node.kind === "artifact") {
      ctx.size.set(id, { w: ART_W, h: ART_H });
    } else {
      ctx.size.set(id, { w: NODE_W, h: NODE_H });
    }
  }
  const edges = ctx.lifted.get(container) || [];
  const parts = components(ids, edges);
  if (parts.length < 2 || ids.length < PACK_MIN) return layoutRows(ids, edges, ctx);
  // Many independent parts (chains, fan-outs): shelf-pack them into a block about as wide as
  // it is tall, instead of one row thousands of pixels wide.
  const sized = parts.map((part) => {
    const local = new Map();
    const inner = { ...ctx, local };
    const size = layoutRows(part, edges, inner);
    return { part, local, size };
  });
  const area = sized.reduce((t, p) => t + (p.size.w + GAP_X) * (p.size.h + GAP_Y), 0);
  const target = Math.max(Math.sqrt(area * ASPECT), ...sized.map((p) => p.size.w));
  let x = 0;
  let y = 0;
  let shelf = 0;
  let width = 0;
  for (const p of sized) {
    if (x > 0 && x + p.size.w > target) {
      y += shelf + GAP_Y;
      x = 0;
      shelf = 0;
    }
    for (const id of p.part) {
      const at = p.local.get(id);
      ctx.local.set(id, { x: at.x + x, y: at.y + y });
    }
    x += p.size.w + GAP_X;
    shelf = Math.max(shelf, p.size.h);
    width = Math.max(width, x - GAP_X);
  }
  return { w: width, h: y + shelf };
}

/** Connected parts of a container's children (edges both ways), in input order. */
function components(ids, edges) {
  const root = new Map(ids.map((id) => [id, id]));
  const find = (id) => {
    while (root.get(id) !== id) {
      root.set(id, root.get(root.get(id)));
      id = root.get(id);
    }
    return id;
  };
  for (const [a, b] of edges) {
    if (root.has(a) && root.has(b)) root.set(find(a), find(b));
  }
  const parts = new Map();
  for (const id of ids) {
    const key = find(id);
    if (!parts.has(key)) parts.set(key, []);
    parts.get(key).push(id);
  }
  return [...parts.values()];
}

/** Longest-path layers as rows, each row centred; positions go to ctx.local. */
function layoutRows(ids, allEdges, ctx) {
  const member = new Set(ids);
  const edges = allEdges.filter(([a, b]) => member.has(a) && member.has(b));
  const { rows, preds, succs } = layers(ids, edges);
  order(rows, preds, succs);
  const widths = rows.map(
    (row) => row.reduce((t, id) => t + ctx.size.get(id).w, 0) + GAP_X * (row.length - 1),
  );
  const width = Math.max(0, ...widths);
  let y = 0;
  rows.forEach((row, r) => {
    const height = Math.max(...row.map((id) => ctx.size.get(id).h));
    let x = (width - widths[r]) / 2;
    for (const id of row) {
      const size = ctx.size.get(id);
      ctx.local.set(id, { x, y: y + (height - size.h) / 2 });
      x += size.w + GAP_X;
    }
    y += height + GAP_Y;
  });
  return { w: width, h: Math.max(0, y - GAP_Y) };
}

/** Absolute boxes {x, y, w, h} of every node, and the total size. */
export function layout(graph) {
  const { byId, children } = containers(graph.nodes);
  const ctx = { byId, children, lifted: liftEdges(graph.edges || [], byId), size: new Map(), local: new Map() };
  const total = layoutContainer("", ctx);
  const boxes = new Map();
  const place = (container, ox, oy) => {
    for (const id of children.get(container) || []) {
      const at = ctx.local.get(id);
      const size = ctx.size.get(id);
      const box = { x: ox + at.x, y: oy + at.y, w: size.w, h: size.h };
      boxes.set(id, box);
      if (children.has(id)) {
        const innerWidth = box.w - 2 * PAD;
        const used = Math.max(0, ...(children.get(id) || []).map((c) => ctx.local.get(c).x + ctx.size.get(c).w));
        place(id, box.x + PAD + (innerWidth - used) / 2, box.y + PAD + HEAD);
      }
    }
  };
  place("", 0, 0);
  return { boxes, width: total.w, height: total.h };
}

function edgePath(a, b) {
  const x1 = a.x + a.w / 2;
  const y1 = a.y + a.h;
  const x2 = b.x + b.w / 2;
  const y2 = b.y;
  const dy = Math.max(20, (y2 - y1) / 2);
  if (y2 - y1 > 2 * GAP_Y + NODE_H / 2) {
    // The edge skips a layer: bend it around the side instead of through the nodes between.
    // It leaves and enters on the right-hand sides.
    const ax = a.x + a.w, ay = a.y + a.h / 2, bx = b.x + b.w, by = b.y + b.h / 2;
    const side = Math.max(ax, bx) + GAP_X;
    return `M${ax},${ay} C${side},${ay} ${side},${by} ${bx + 2},${by}`;
  }
  return `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2}`;
}

function drawNode(node, box) {
  const kind = node.kind === "group" ? "group" : node.kind === "artifact" ? "artifact" : "node";
  const label = node.label ?? node.id;
  const full = node.title && node.title !== label ? `${label} (${node.title})` : String(label);
  const children = [s("title", null, full)];
  if (kind === "artifact") {
    children.push(
      s("rect", { x: box.x, y: box.y, width: box.w, height: box.h, rx: box.h / 2 }),
      s("text", { x: box.x + 12, y: box.y + 19, class: "label" }, clip(`▤ ${label}`, 22)),
    );
  } else if (kind === "group") {
    children.push(
      s("rect", { x: box.x, y: box.y, width: box.w, height: box.h, rx: 8 }),
      s("text", { x: box.x + 10, y: box.y + 16, class: "label" }, clip(label, Math.max(12, Math.floor(box.w / 7.2) - 8))),
    );
  } else {
    // A pipeline's graph has no states (nothing ran): no icon there.
    const icon = node.state ? s("text", { x: box.x + 10, y: box.y + 18, class: "icon" }, stateIcon(node.state)) : null;
    children.push(
      s("rect", { x: box.x, y: box.y, width: box.w, height: box.h, rx: 6 }),
      icon,
      s("text", { x: box.x + (icon ? 26 : 12), y: box.y + 18, class: "label" }, clip(label)),
    );
  }
  const duration = s("text", {
    // Under the label on tasks, so a long name never runs into it.
    x: box.x + box.w - 8,
    y: kind === "group" ? box.y + 16 : box.y + 36,
    class: "duration",
    "text-anchor": "end",
  }, kind === "artifact" ? "" : node.duration ?? "");
  children.push(duration);
  const g = s("g", {
    class: [kind, stateClass(node.state), node.group ? `group-${node.group}` : ""].filter(Boolean).join(" "),
    "data-id": node.id,
    tabindex: 0,
    role: "button",
    "aria-label": String(label),
  }, children);
  return { g, duration, kind, state: node.state };
}

/** Draw `graph` into `container`; see the module comment for the returned handle. */
export function renderGraph(container, graph, options = {}) {
  const { onSelect, selected } = options;
  const { boxes, width, height } = layout(graph);
  const margin = 16;
  const svg = s("svg", { class: "graph", role: "group", "aria-label": "pipeline graph" });
  const defs = s(
    "defs",
    null,
    s(
      "marker",
      { id: "graph-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "edge-arrow" }),
    ),
  );
  const viewport = s("g", { class: "viewport" });
  const groupLayer = s("g", { class: "groups" });
  const edgeLayer = s("g", { class: "edges" });
  const nodeLayer = s("g", { class: "nodes" });
  viewport.append(groupLayer, edgeLayer, nodeLayer);
  svg.append(defs, viewport);
  const elements = new Map();
  let current = selected || null;

  const select = (id) => {
    if (current && elements.has(current)) elements.get(current).g.classList.remove("selected");
    current = id;
    if (id && elements.has(id)) elements.get(id).g.classList.add("selected");
  };
  const choose = (id) => {
    select(id);
    if (onSelect) onSelect(id);
  };

  // Outer groups first, so inner boxes paint over them.
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const depth = (node) => ancestry(node.id, byId).length;
  const ordered = [...graph.nodes].sort((a, b) => depth(a) - depth(b));
  for (const node of ordered) {
    const box = boxes.get(node.id);
    if (!box) continue;
    const el = drawNode(node, box);
    (el.kind === "group" ? groupLayer : nodeLayer).appendChild(el.g);
    elements.set(node.id, el);
  }
  for (const [from, to] of graph.edges || []) {
    const a = boxes.get(from);
    const b = boxes.get(to);
    if (!a || !b || from === to) continue;
    edgeLayer.appendChild(
      s("path", { d: edgePath(a, b), class: "edge", "marker-end": "url(#graph-arrow)", "data-from": from, "data-to": to }),
    );
  }
  // One listener for every node (hundreds of nodes, not hundreds of listeners).
  const target = (event) => {
    const g = event.target.closest && event.target.closest("g[data-id]");
    return g && elements.has(g.dataset.id) ? g.dataset.id : null;
  };
  svg.addEventListener("click", (event) => {
    const id = target(event);
    if (id) choose(id);
  });
  svg.addEventListener("keydown", (event) => {
    const id = target(event);
    if (id && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      choose(id);
    }
  });
  select(current);
  const frame = container.appendChild(document.createElement("div"));
  frame.className = "graph-view";
  frame.appendChild(svg);
  // Room on the right for edges that bend around skipped layers.
  const bounds = { x: -margin, y: -margin, w: width + 2 * margin + GAP_X, h: height + 2 * margin };
  const view = attachView(frame, svg, viewport, bounds, { boxes, nodes: graph.nodes, transform: options.transform });

  return {
    /** Change states/durations (and task labels) in place; no re-layout. */
    update(nodes) {
      for (const node of nodes || []) {
        const el = elements.get(node.id);
        if (!el) continue;
        if ("state" in node && node.state !== el.state) {
          const old = stateClass(el.state);
          if (old) el.g.classList.remove(old);
          const next = stateClass(node.state);
          if (next) el.g.classList.add(next);
          el.state = node.state;
          const icon = el.g.querySelector("text.icon");
          if (icon) icon.textContent = stateIcon(node.state);
          view.recolor(node.id, node.state);
        }
        if ("duration" in node && el.kind !== "artifact") el.duration.textContent = node.duration ?? "";
        // Group labels are computed by the server (conditions, loop items); the event stream
        // sends raw names, so only a task's label follows it.
        if ("label" in node && node.label != null && el.kind === "node") {
          el.g.querySelector("text.label").textContent = clip(node.label);
          el.g.querySelector("title").textContent = String(node.label);
        }
      }
    },
    select,
    /** Select `id` and bring it into view. */
    reveal(id) {
      select(id);
      const box = boxes.get(id);
      if (box) view.centerOn(box);
    },
    view,
    element: svg,
    destroy() {
      view.destroy();
      frame.remove();
      elements.clear();
    },
  };
}

/** The pipeline spec inside a stored version (it may be wrapped with a platform spec). */
export function unwrapSpec(spec) {
  if (spec && spec.pipeline_spec && !spec.root) return spec.pipeline_spec;
  if (spec && spec.pipelineSpec && !spec.root) return spec.pipelineSpec;
  return spec || {};
}

/** The graph of a pipeline spec: the root DAG's tasks; nested DAG components become groups. */
export function graphFromSpec(pipelineSpec) {
  const spec = unwrapSpec(pipelineSpec);
  const components = spec.components || {};
  const nodes = [];
  const edges = [];
  const walk = (dag, prefix, parent, seen) => {
    const tasks = (dag && dag.tasks) || {};
    for (const [name, task] of Object.entries(tasks)) {
      const id = prefix ? `${prefix}/${name}` : name;
      const ref = task.componentRef && task.componentRef.name;
      const component = components[ref] || {};
      const label = (task.taskInfo && task.taskInfo.name) || name;
      const isGroup = Boolean(component.dag) && !seen.has(ref);
      nodes.push({ id, label, kind: isGroup ? "group" : "task", parent: parent || undefined, task: name, component: ref });
      for (const dep of task.dependentTasks || []) {
        if (tasks[dep]) edges.push([prefix ? `${prefix}/${dep}` : dep, id]);
      }
      if (isGroup) walk(component.dag, id, id, new Set([...seen, ref]));
    }
  };
  walk(spec.root && spec.root.dag, "", null, new Set());
  return { nodes, edges };
}
