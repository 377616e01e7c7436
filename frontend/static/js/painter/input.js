// Pointer, wheel and keyboard input for the painter.

const TEXT_INPUT = /^(text|number|search|email|url|password)$/;

/** Whether a key event goes to a text field (the painter's keys then stay out of the way). */
export function typing(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && TEXT_INPUT.test(target.type);
}

/**
 * painter: the Painter; view: the View; viewport: the element receiving pointer input;
 * actions: {save, prev, next, toggleOverlay, fit, zoomStep, onHover}; perf: {enabled, samples}.
 */
export function bindInput({ painter, view, viewport, actions, perf }) {
  let pan = null;
  let space = false;
  let hudQueued = false;

  const drawHud = () => {
    hudQueued = false;
    view.drawHud({ hover: painter.hover, tool: painter.tool, size: painter.brushSize, polygon: painter.polygon });
    actions.onHover?.(painter.hover);
  };
  const queueHud = () => {
    if (hudQueued) return;
    hudQueued = true;
    requestAnimationFrame(drawHud);
  };
  painter.queueHud = queueHud;

  const capture = (e) => {
    try {
      viewport.setPointerCapture(e.pointerId);
    } catch {
      /* synthetic events have no active pointer */
    }
  };

  /** A click within 8 screen pixels of the first vertex closes a polygon of 3+ points. */
  const nearFirstVertex = (e) => {
    if (painter.polygon.length < 3) return false;
    const [fx, fy] = view.toLocal(painter.polygon[0][0] + 0.5, painter.polygon[0][1] + 0.5);
    return Math.hypot(e.clientX - view.rect.left - fx, e.clientY - view.rect.top - fy) <= 8;
  };

  viewport.addEventListener("pointerdown", (e) => {
    view.measure();
    // Keys go to the painter, not to the last slider or button used.
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
    if (e.button === 1 || (e.button === 0 && space)) {
      pan = { x: e.clientX, y: e.clientY, panX: view.panX, panY: view.panY };
      viewport.classList.add("panning");
      capture(e);
      e.preventDefault();
      return;
    }
    if (e.button !== 0) return;
    e.preventDefault();
    const [x, y] = view.pixelAt(e.clientX, e.clientY);
    painter.hover = [x, y];
    if (painter.tool === "brush" || painter.tool === "eraser" || painter.tool === "superpixel") {
      capture(e);
      painter.beginStroke(x, y);
    } else if (painter.tool === "fill") {
      painter.flood(x, y);
    } else if (painter.tool === "polygon") {
      if (nearFirstVertex(e)) painter.closePolygon();
      else painter.addPolygonPoint(x, y);
    }
    queueHud();
  });

  viewport.addEventListener("pointermove", (e) => {
    const t0 = perf.enabled ? performance.now() : 0;
    if (pan) {
      view.setView({ panX: pan.panX + e.clientX - pan.x, panY: pan.panY + e.clientY - pan.y });
    } else if (painter.stroke) {
      const events = e.getCoalescedEvents?.() ?? [];
      const list = events.length ? events : [e];
      const points = list.map((ev) => view.pixelAt(ev.clientX, ev.clientY));
      painter.extendStroke(points);
      painter.hover = points[points.length - 1];
    } else {
      painter.hover = view.pixelAt(e.clientX, e.clientY);
    }
    queueHud();
    if (perf.enabled) perf.samples.push(performance.now() - t0);
  });

  const end = () => {
    if (pan) {
      pan = null;
      viewport.classList.remove("panning");
    }
    painter.endStroke();
  };
  viewport.addEventListener("pointerup", end);
  viewport.addEventListener("pointercancel", end);
  viewport.addEventListener("lostpointercapture", end);
  viewport.addEventListener("pointerleave", () => {
    if (painter.stroke || pan) return;
    painter.hover = null;
    queueHud();
  });
  viewport.addEventListener("dblclick", (e) => {
    if (painter.tool !== "polygon") return;
    e.preventDefault();
    painter.closePolygon();
    queueHud();
  });
  viewport.addEventListener("contextmenu", (e) => e.preventDefault());
  viewport.addEventListener("mousedown", (e) => e.button === 1 && e.preventDefault()); // no autoscroll
  viewport.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      if (e.ctrlKey || e.metaKey) {
        // Ctrl+wheel sizes the brush (about 1/8 of its size a notch) instead of zooming.
        if (e.deltaY) painter.nudgeBrush(e.deltaY < 0 ? 1 : -1);
        queueHud();
        return;
      }
      view.measure();
      const unit = e.deltaMode === 1 ? 0.05 : e.deltaMode === 2 ? 1 : 0.0015;
      view.zoomAt(e.clientX, e.clientY, view.zoom * Math.exp(-e.deltaY * unit));
      queueHud();
    },
    { passive: false },
  );

  document.addEventListener("keydown", (e) => {
    if (typing(e.target)) return;
    const key = e.key;
    const mod = e.ctrlKey || e.metaKey;
    if (mod) {
      const lower = key.toLowerCase();
      if (lower === "z" && !e.shiftKey) painter.undo();
      else if ((lower === "z" && e.shiftKey) || lower === "y") painter.redo();
      else if (lower === "s") actions.save();
      else return;
      e.preventDefault();
      queueHud();
      return;
    }
    if (e.altKey) return;
    if (key === " ") {
      space = true;
      viewport.classList.add("can-pan");
      e.preventDefault();
      return;
    }
    if (e.target instanceof HTMLInputElement && e.target.type === "range" && key.startsWith("Arrow")) return;
    const handled = handleKey(key);
    if (handled) {
      e.preventDefault();
      queueHud();
    }
  });
  document.addEventListener("keyup", (e) => {
    if (e.key !== " ") return;
    space = false;
    viewport.classList.remove("can-pan");
    if (!typing(e.target)) e.preventDefault();
  });
  window.addEventListener("blur", () => {
    space = false;
    viewport.classList.remove("can-pan");
  });

  function handleKey(key) {
    if (/^[1-9]$/.test(key)) {
      const c = painter.classes[Number(key) - 1];
      if (c) painter.setClass(c.index);
      return Boolean(c);
    }
    switch (key) {
      case "b": case "B": painter.setTool("brush"); return true;
      case "e": case "E": painter.setTool("eraser"); return true;
      case "f": case "F": case "g": case "G": painter.setTool("fill"); return true;
      case "p": case "P": painter.setTool("polygon"); return true;
      case "s": case "S": painter.setTool("superpixel"); return true;
      case "[": painter.nudgeBrush(-1); return true;
      case "]": painter.nudgeBrush(1); return true;
      case "o": case "O": actions.toggleOverlay(); return true;
      case "0": actions.fit(); return true;
      case "+": case "=": actions.zoomStep(1); return true;
      case "-": case "_": actions.zoomStep(-1); return true;
      case "Enter": return painter.tool === "polygon" && (painter.closePolygon(), true);
      case "Escape": return painter.cancelPolygon();
      case "Backspace": return painter.polygon.length > 0 && painter.undo();
      case "ArrowLeft": case "PageUp": actions.prev(); return true;
      case "ArrowRight": case "PageDown": actions.next(); return true;
      default: return false;
    }
  }
}
