// Zoom and pan for the graph: fit to the box on load, wheel to zoom (around the pointer), drag
// to pan, buttons (+, −, fit, 1:1), keyboard (+, -, 0) and a minimap on large graphs.
//
// attachView(frame, svg, viewport, bounds, {boxes, nodes, transform}) → {zoomBy(f), fit(),
// actual(), centerOn(box), transform(), recolor(id, state), destroy()}.

import { h, s } from "./dom.js";

const MIN_K = 0.04;
/** Below this zoom the graph is drawn without text (boxes, colours and edges only). */
const FAR_K = 0.45;
const MAX_K = 3;
const MINIMAP_W = 200;
const MINIMAP_H = 130;
/** Graphs with more tasks than this get a minimap (as do graphs fitted below half size). */
const MINIMAP_NODES = 40;

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

export function attachView(frame, svg, viewport, bounds, options = {}) {
  let t = options.transform ? { ...options.transform } : null;
  let touched = Boolean(options.transform); // the user zoomed or panned: no automatic refit
  const size = () => ({ w: svg.clientWidth || frame.clientWidth, h: svg.clientHeight || frame.clientHeight });

  const minimap = makeMinimap(bounds, options.boxes, options.nodes || [], (x, y) => {
    const { w, h: hh } = size();
    touched = true;
    apply({ k: t.k, x: w / 2 - x * t.k, y: hh / 2 - y * t.k });
  });
  const apply = (next) => {
    t = { k: clamp(next.k, MIN_K, MAX_K), x: next.x, y: next.y };
    viewport.setAttribute("transform", `translate(${t.x.toFixed(1)},${t.y.toFixed(1)}) scale(${t.k.toFixed(4)})`);
    frame.dataset.zoom = t.k.toFixed(3);
    // Level of detail: far out, labels are unreadable anyway and cost most of each repaint.
    frame.classList.toggle("far", t.k < FAR_K);
    if (minimap) minimap.show(t, size());
  };
  const fitted = () => {
    const { w, h: hh } = size();
    if (!w || !hh) return null;
    const k = clamp(Math.min((w - 8) / bounds.w, (hh - 8) / bounds.h, 1), MIN_K, MAX_K);
    return { k, x: (w - bounds.w * k) / 2 - bounds.x * k, y: Math.max(4, (hh - bounds.h * k) / 2) - bounds.y * k };
  };
  const fit = () => {
    const next = fitted();
    if (!next) return;
    touched = false;
    apply(next);
    if (minimap) minimap.toggle(options.nodes.length > MINIMAP_NODES || next.k < 0.5);
  };
  const zoomAt = (factor, cx, cy) => {
    touched = true;
    const k = clamp(t.k * factor, MIN_K, MAX_K);
    const ratio = k / t.k;
    apply({ k, x: cx - (cx - t.x) * ratio, y: cy - (cy - t.y) * ratio });
  };
  const zoomBy = (factor) => {
    const { w, h: hh } = size();
    zoomAt(factor, w / 2, hh / 2);
  };
  const actual = () => {
    const { w } = size();
    touched = true;
    apply({ k: 1, x: Math.min(16, w / 2 - (bounds.x + bounds.w / 2)), y: -bounds.y });
  };

  // Wheel: zoom around the pointer (a trackpad's two-finger scroll pans with shift).
  const onWheel = (event) => {
    event.preventDefault();
    const rect = svg.getBoundingClientRect();
    if (event.shiftKey) {
      touched = true;
      apply({ ...t, x: t.x - event.deltaY, y: t.y });
      return;
    }
    zoomAt(Math.exp(-clamp(event.deltaY, -200, 200) * 0.0025), event.clientX - rect.left, event.clientY - rect.top);
  };
  svg.addEventListener("wheel", onWheel, { passive: false });

  // Drag the background (or anything, once the pointer has moved) to pan.
  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, t: { ...t }, moved: false, id: event.pointerId };
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    if (!drag.moved) {
      drag.moved = true;
      svg.setPointerCapture(drag.id);
      frame.classList.add("panning");
    }
    touched = true;
    apply({ k: drag.t.k, x: drag.t.x + dx, y: drag.t.y + dy });
  });
  const endDrag = (event) => {
    if (drag && drag.moved) {
      // A pan must not also click the node under the pointer.
      const swallow = (e) => e.stopPropagation();
      svg.addEventListener("click", swallow, { capture: true, once: true });
      setTimeout(() => svg.removeEventListener("click", swallow, { capture: true }), 0);
      if (svg.hasPointerCapture(event.pointerId)) svg.releasePointerCapture(event.pointerId);
    }
    frame.classList.remove("panning");
    drag = null;
  };
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);

  const button = (label, title, action) => h("button", { type: "button", title, "aria-label": title, onClick: action }, label);
  const tools = h("div", { class: "graph-tools" },
    button("+", "Zoom in", () => zoomBy(1.25)),
    button("−", "Zoom out", () => zoomBy(0.8)),
    button("Fit", "Fit to the box", fit),
    button("1:1", "Actual size", actual));
  frame.append(tools);
  if (minimap) frame.append(minimap.element);
  frame.tabIndex = -1;
  frame.addEventListener("keydown", (event) => {
    if (event.target.closest && event.target.closest("input, textarea, select")) return;
    if (event.key === "+" || event.key === "=") zoomBy(1.25);
    else if (event.key === "-") zoomBy(0.8);
    else if (event.key === "0") fit();
    else return;
    event.preventDefault();
  });

  // Fit once the box has a size, and again when it changes until the user takes over.
  const observer = new ResizeObserver(() => {
    if (!t || !touched) fit();
    else if (minimap) minimap.show(t, size());
  });
  observer.observe(frame);
  if (t) apply(t);
  else fit();

  return {
    zoomBy,
    fit,
    actual,
    centerOn(box) {
      const { w, h: hh } = size();
      if (!t || !w) return;
      const inside = (px, py) => px >= 0 && py >= 0 && px <= w && py <= hh;
      const x0 = t.x + box.x * t.k, y0 = t.y + box.y * t.k;
      if (inside(x0, y0) && inside(x0 + box.w * t.k, y0 + box.h * t.k)) return;
      const k = Math.max(t.k, 0.6);
      touched = true;
      apply({ k, x: w / 2 - (box.x + box.w / 2) * k, y: hh / 2 - (box.y + box.h / 2) * k });
    },
    transform: () => (touched && t ? { ...t } : null),
    recolor(id, state) {
      if (minimap) minimap.recolor(id, state);
    },
    destroy() {
      observer.disconnect();
    },
  };
}

function makeMinimap(bounds, boxes, nodes, moveTo) {
  if (!boxes) return null;
  const scale = Math.min(MINIMAP_W / bounds.w, MINIMAP_H / bounds.h);
  const w = bounds.w * scale;
  const hh = bounds.h * scale;
  const rects = new Map();
  const layer = s("g", { transform: `scale(${scale.toFixed(5)}) translate(${-bounds.x},${-bounds.y})` });
  for (const node of nodes) {
    const box = boxes.get(node.id);
    if (!box || node.kind === "group") continue;
    const rect = s("rect", { x: box.x, y: box.y, width: box.w, height: box.h, class: `mini-node state-${String(node.state || "").toLowerCase()}` });
    rects.set(node.id, rect);
    layer.appendChild(rect);
  }
  const lens = s("rect", { class: "mini-lens", x: 0, y: 0, width: w, height: hh });
  const svg = s("svg", { class: "minimap", width: w, height: hh, viewBox: `0 0 ${w} ${hh}`, role: "img", "aria-label": "minimap" }, layer, lens);
  const element = h("div", { class: "minimap-box hidden" }, svg);
  let dragging = false;
  const point = (event) => {
    const r = svg.getBoundingClientRect();
    moveTo((event.clientX - r.left) / scale + bounds.x, (event.clientY - r.top) / scale + bounds.y);
  };
  svg.addEventListener("pointerdown", (event) => {
    dragging = true;
    svg.setPointerCapture(event.pointerId);
    point(event);
    event.stopPropagation();
  });
  svg.addEventListener("pointermove", (event) => dragging && point(event));
  svg.addEventListener("pointerup", () => { dragging = false; });
  svg.addEventListener("wheel", (event) => event.stopPropagation());
  return {
    element,
    toggle(on) {
      element.classList.toggle("hidden", !on);
    },
    show(t, view) {
      // The part of the graph the box shows, in graph units, on the minimap.
      const x = (-t.x / t.k - bounds.x) * scale;
      const y = (-t.y / t.k - bounds.y) * scale;
      lens.setAttribute("x", x.toFixed(1));
      lens.setAttribute("y", y.toFixed(1));
      lens.setAttribute("width", Math.max(2, (view.w / t.k) * scale).toFixed(1));
      lens.setAttribute("height", Math.max(2, (view.h / t.k) * scale).toFixed(1));
    },
    recolor(id, state) {
      const rect = rects.get(id);
      if (rect) rect.setAttribute("class", `mini-node state-${String(state || "").toLowerCase()}`);
    },
  };
}
