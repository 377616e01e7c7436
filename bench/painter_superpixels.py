"""The superpixel rows of bench/painter.py: superpixel clicks and strokes, snapped brush strokes.

The frame's fine superpixels are computed in this process with the service's own code (the
bench runs no worker) into the web server's storage; the painter then loads them as it does
for a user (POST answers "ready", GET, decode, per-superpixel index, edges layer).
"""

from pathlib import Path

from backend.config import Settings
from backend.db import make_engine, make_sessionmaker, session_scope
from backend.models import Frame
from backend.services.superpixels import ensure_superpixels
from backend.storage import make_storage

LOAD_JS = """
async () => {
  const P = window.segtunePainter;
  const t0 = performance.now();
  P.painter.setTool("superpixel");
  await P.superpixels.load();
  if (!P.superpixels.strokes.index) throw new Error("superpixels did not load");
  return [performance.now() - t0, P.superpixels.strokes.index.count];
}
"""

# Clicks with the superpixel tool on pixels spread over the frame, one per animation frame;
# returns the pointerdown handler time of each (the whole fill happens there).
CLICK_JS = """
async ({n}) => {
  const P = window.segtunePainter;
  P.painter.setTool("superpixel");
  document.querySelector('[data-testid="zoom-fit"]').click();
  const vp = document.querySelector('[data-testid="viewport"]');
  const v = P.view();
  const ev = (type, x, y, buttons) => new PointerEvent(type, {
    clientX: x, clientY: y, buttons, button: 0, pointerId: 1, pointerType: "mouse",
    isPrimary: true, bubbles: true, cancelable: true});
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const times = [];
  for (let i = 0; i < n; i++) {
    P.painter.setClass(1 + (i % 2));
    const px = ((i * 7919) % 1000) / 1000 * P.width, py = ((i * 104729) % 997) / 997 * P.height;
    const x = v.left + v.panX + px * v.zoom, y = v.top + v.panY + py * v.zoom;
    await frame();
    const t0 = performance.now();
    vp.dispatchEvent(ev("pointerdown", x, y, 1));
    times.push(performance.now() - t0);
    vp.dispatchEvent(ev("pointerup", x, y, 0));
  }
  await frame();
  return times;
}
"""

SNAP_JS = """
(on) => {
  const box = document.querySelector('[data-testid="superpixel-snap"]');
  box.checked = on;
  box.dispatchEvent(new Event("change"));
  return window.segtunePainter.superpixels.strokes.snap;
}
"""


def compute_superpixels(data_dir: Path, frame_id: int) -> None:
    """The frame's fine superpixels, written into the bench server's storage."""
    settings = Settings(data_dir=data_dir, database_url="", broker_url="")
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            frame = session.get(Frame, frame_id)
            ensure_superpixels(make_storage(settings), frame, "fine")
    finally:
        engine.dispose()


def bench_superpixels(page, stroke_js: str, n: int, row) -> None:
    """Adds the superpixel rows (row(name, samples, target)) for the open painter page."""
    load_ms, count = page.evaluate(LOAD_JS)
    row(f"superpixels load: GET + decode + index + edges ({count} superpixels)", [load_ms], False)
    row("superpixel tool: click (pointerdown, fill), fit", page.evaluate(CLICK_JS, {"n": 60}))
    cls = 1
    for tool, brush, step, per_frame in [
        ("superpixel", 9, 16, False),
        ("superpixel", 9, 16, True),
        ("brush", 40, 16, False),
        ("brush", 120, 16, False),
        ("brush", 120, 32, True),
    ]:
        page.evaluate(SNAP_JS, tool == "brush")
        args = {"n": n, "step": step, "size": brush, "cls": cls, "zoom": "fit", "tool": tool}
        times = page.evaluate(stroke_js, {**args, "perFrame": per_frame})
        cls = 3 - cls
        pace = "1/frame" if per_frame else "back-to-back"
        what = "superpixel stroke" if tool == "superpixel" else f"snapped brush {brush}px"
        row(f"pointermove, {what}, {step}px/event, fit, {pace}", times)
    page.evaluate(SNAP_JS, False)
