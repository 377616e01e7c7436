"""The mask painter in Chromium: what is painted is, pixel for pixel, what the API stores.

Every expected label map is computed here with the painter's documented geometry:
- brush of diameter s centred on the pixel under the cursor covers offsets with 4(dx²+dy²) ≤ s²,
  stamped at every pixel of the Bresenham line between successive pointer positions;
- flood fill: the 4-connected region of equal ids under the cursor;
- polygon (vertices at the clicked pixels' centres): pixels whose centre is inside on the scanline
  (left edges in, right edges out) plus the Bresenham outline.
"""

import base64
import io
import math
import os
from collections import deque
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests import http

SCREENSHOT_DIR = Path(os.environ.get("SEGTUNE_SCREENSHOT_DIR", "/tmp"))
W, H = 200, 150
UNLABELED = 255


# ---- reference geometry ---------------------------------------------------------------------
def bresenham(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """The same integer line as the painter's."""
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err, points = dx + dy, []
    while True:
        points.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return points
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def stamp(lm: np.ndarray, x: int, y: int, size: int, value: int) -> None:
    reach = size // 2
    h, w = lm.shape
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if 4 * (dx * dx + dy * dy) <= size * size and 0 <= x + dx < w and 0 <= y + dy < h:
                lm[y + dy, x + dx] = value


def stroke(lm: np.ndarray, points: list[tuple[int, int]], size: int, value: int) -> None:
    stamp(lm, *points[0], size, value)
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for x, y in bresenham(x0, y0, x1, y1):
            stamp(lm, x, y, size, value)


def flood(lm: np.ndarray, x: int, y: int, value: int) -> None:
    h, w = lm.shape
    target = lm[y, x]
    if target == value:
        return
    queue = deque([(x, y)])
    lm[y, x] = value
    while queue:
        cx, cy = queue.popleft()
        for nx, ny in ((cx - 1, cy), (cx + 1, cy), (cx, cy - 1), (cx, cy + 1)):
            if 0 <= nx < w and 0 <= ny < h and lm[ny, nx] == target:
                lm[ny, nx] = value
                queue.append((nx, ny))


def polygon(lm: np.ndarray, points: list[tuple[int, int]], value: int) -> None:
    h, w = lm.shape
    verts = [(x + 0.5, y + 0.5) for x, y in points]
    ys = [y for _, y in verts]
    for j in range(max(0, math.floor(min(ys))), min(h - 1, math.ceil(max(ys))) + 1):
        yc = j + 0.5
        xs = []
        for k, (ax, ay) in enumerate(verts):
            bx, by = verts[(k + 1) % len(verts)]
            if ay <= yc < by or by <= yc < ay:
                xs.append(ax + ((yc - ay) * (bx - ax)) / (by - ay))
        xs.sort()
        for a, b in zip(xs[::2], xs[1::2], strict=False):
            ia, ib = max(0, math.ceil(a - 0.5)), min(w - 1, math.ceil(b - 0.5) - 1)
            lm[j, ia : ib + 1] = value
    for k, (x0, y0) in enumerate(points):
        x1, y1 = points[(k + 1) % len(points)]
        for x, y in bresenham(x0, y0, x1, y1):
            if 0 <= x < w and 0 <= y < h:
                lm[y, x] = value


# ---- fixtures through the API --------------------------------------------------------------
def frame_png(seed: int = 0) -> bytes:
    """A 200x150 street-ish test image: sky, road, a red "car", and a 1-px checkerboard patch."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:60] = (110, 160, 220)
    img[60:] = (70, 72, 78)
    img[80:120, 30 + seed * 10 : 90 + seed * 10] = (200, 30, 40)
    yy, xx = np.mgrid[0:20, 0:20]
    img[100:120, 150:170] = np.where(((xx + yy) % 2 == 0)[..., None], 255, 0)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def make_frames(url: str, count: int = 1, **project) -> tuple[dict, list[dict]]:
    proj = http.post(f"{url}/api/projects", json={"name": "painter", **project}).json()
    files = [("files", (f"f{i}.png", frame_png(i), "image/png")) for i in range(count)]
    response = http.post(f"{url}/api/projects/{proj['id']}/images", files=files, timeout=30)
    assert response.status_code == 201, response.text
    return proj, response.json()


def api_mask(url: str, frame_id: int) -> tuple[np.ndarray, str]:
    response = http.get(f"{url}/api/frames/{frame_id}/mask")
    assert response.status_code == 200
    image = Image.open(io.BytesIO(response.content))
    assert image.mode == "L"
    return np.array(image), response.headers["etag"].strip('"')


def put_mask(url: str, frame_id: int, mask: np.ndarray, version: str) -> dict:
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8), mode="L").save(buf, format="PNG")
    response = http.put(
        f"{url}/api/frames/{frame_id}/mask",
        content=buf.getvalue(),
        headers={"Content-Type": "image/png", "If-Match": f'"{version}"'},
    )
    assert response.status_code == 200, response.text
    return response.json()


# ---- page helpers ----------------------------------------------------------------------------
def open_painter(page: Page, frame_id: int) -> None:
    page.goto(f"/frames/{frame_id}")
    page.wait_for_function("() => window.segtunePainter !== undefined")
    page.evaluate("() => window.segtunePainter.ready.then(() => true)")
    expect(page.get_by_test_id("save-state")).to_have_text("saved")


def page_map(page: Page) -> np.ndarray:
    data = base64.b64decode(page.evaluate("() => segtunePainter.labelMapBase64()"))
    return np.frombuffer(data, np.uint8).reshape(H, W).copy()


def set_view(page: Page, zoom: float, pan_x: float, pan_y: float) -> dict:
    page.evaluate("v => segtunePainter.setView(v)", {"zoom": zoom, "panX": pan_x, "panY": pan_y})
    return page.evaluate("() => segtunePainter.view()")


def at(view: dict, x: int, y: int) -> tuple[float, float]:
    """Client coordinates of the centre of image pixel (x, y)."""
    return (
        view["left"] + view["panX"] + (x + 0.5) * view["zoom"],
        view["top"] + view["panY"] + (y + 0.5) * view["zoom"],
    )


def drag(page: Page, view: dict, points: list[tuple[int, int]], steps: int = 1) -> None:
    page.mouse.move(*at(view, *points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*at(view, *point), steps=steps)
    page.mouse.up()


def assert_same(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    diff = np.argwhere(actual != expected)
    assert diff.size == 0, (
        f"{what}: {len(diff)} pixels differ, first (y, x): {diff[:8].tolist()}, "
        f"got {[int(actual[tuple(p)]) for p in diff[:8]]}, "
        f"want {[int(expected[tuple(p)]) for p in diff[:8]]}"
    )


def save_now(page: Page) -> None:
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("save-state")).to_have_text("saved")
    page.wait_for_function("() => !segtunePainter.painter.sync.dirty")


# ---- tests -----------------------------------------------------------------------------------
def test_brush_fill_polygon_undo_redo_save_reload(page: Page, live_server):
    _, (frame,) = make_frames(live_server.url)
    open_painter(page, frame["id"])
    state = page.get_by_test_id("save-state")
    assert page.evaluate("() => segtunePainter.version()") == "0"
    expected = np.full((H, W), UNLABELED, np.uint8)
    assert_same(page_map(page), expected, "initial map")
    view = set_view(page, 3, 30, 20)

    # Brush: class "car" (key 2), size 5 via the slider then ] and [.
    page.keyboard.press("2")
    page.keyboard.press("b")
    page.get_by_test_id("brush-size").fill("5")
    page.keyboard.press("]")
    expect(page.get_by_test_id("brush-size-value")).to_have_text("6")
    page.keyboard.press("[")
    expect(page.get_by_test_id("brush-size-value")).to_have_text("5")
    drag(page, view, [(-3, 30), (203, 30)], steps=25)  # a band across the whole frame
    stroke(expected, [(-3, 30), (203, 30)], 5, 1)
    expect(state).not_to_have_text("saved")
    assert_same(page_map(page), expected, "after the brush stroke")
    assert (expected[28:33] == 1).all() and (expected[27] == UNLABELED).all()

    # Flood fill with "traffic sign" above the band: exactly rows 0..27.
    page.keyboard.press("3")
    page.keyboard.press("f")
    page.mouse.click(*at(view, 100, 10))
    flood(expected, 100, 10, 2)
    assert (expected[:28] == 2).all()
    assert_same(page_map(page), expected, "after the flood fill")

    # Polygon closed with Enter, then one closed with a double-click.
    page.keyboard.press("2")
    page.keyboard.press("p")
    for point in [(40, 60), (160, 75), (110, 140)]:
        page.mouse.click(*at(view, *point))
    page.keyboard.press("Enter")
    polygon(expected, [(40, 60), (160, 75), (110, 140)], 1)
    assert_same(page_map(page), expected, "after the first polygon")
    page.keyboard.press("1")
    page.mouse.click(*at(view, 10, 100))
    page.mouse.click(*at(view, 30, 100))
    page.mouse.dblclick(*at(view, 20, 125))
    polygon(expected, [(10, 100), (30, 100), (20, 125)], 0)
    after_second_polygon = expected.copy()
    assert_same(page_map(page), expected, "after the double-click polygon")
    page.keyboard.press("3")
    for point in [(170, 110), (196, 112), (185, 145), (171, 111)]:  # the last click closes it
        page.mouse.click(*at(view, *point))
    polygon(expected, [(170, 110), (196, 112), (185, 145)], 2)
    after_polygons = expected.copy()
    assert_same(page_map(page), expected, "after the polygon closed on its first point")

    # Esc cancels a polygon in progress: nothing changes.
    page.mouse.click(*at(view, 150, 100))
    page.mouse.click(*at(view, 180, 100))
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    assert_same(page_map(page), expected, "after a cancelled polygon")

    # Eraser back to unlabeled, diagonally.
    page.keyboard.press("e")
    drag(page, view, [(50, 20), (70, 36), (90, 24)])
    stroke(expected, [(50, 20), (70, 36), (90, 24)], 5, UNLABELED)
    after_eraser = expected.copy()
    assert_same(page_map(page), expected, "after the eraser")

    # Undo twice, redo with both shortcuts and the button.
    page.keyboard.press("Control+z")
    assert_same(page_map(page), after_polygons, "after one undo")
    page.keyboard.press("Control+z")
    assert_same(page_map(page), after_second_polygon, "after two undos")
    page.keyboard.press("Control+Shift+Z")
    assert_same(page_map(page), after_polygons, "after redo (Ctrl+Shift+Z)")
    page.keyboard.press("Control+y")
    assert_same(page_map(page), after_eraser, "after redo (Ctrl+Y)")
    page.get_by_test_id("undo").click()
    assert_same(page_map(page), after_polygons, "after the undo button")
    page.get_by_test_id("redo").click()
    expect(page.get_by_test_id("redo")).to_be_disabled()
    assert_same(page_map(page), after_eraser, "after the redo button")

    save_now(page)
    saved, version = api_mask(live_server.url, frame["id"])
    assert_same(saved, expected, "mask read back through the API")
    assert version == page.evaluate("() => segtunePainter.version()") and int(version) >= 1
    assert http.get(f"{live_server.url}/api/frames/{frame['id']}").json()["label_status"] == (
        "in_progress"
    )
    expect(page.get_by_test_id("label-status")).to_have_text("in progress")

    page.screenshot(path=str(SCREENSHOT_DIR / "painter-tools.png"))
    open_painter(page, frame["id"])
    assert_same(page_map(page), expected, "label map after reloading the page")
    assert page.evaluate("() => segtunePainter.version()") == version
    assert_same(api_mask(live_server.url, frame["id"])[0], expected, "API mask after reload")


def test_zoomed_panned_stroke_is_pixel_exact(page: Page, live_server):
    _, (frame,) = make_frames(live_server.url)
    open_painter(page, frame["id"])
    viewport = page.get_by_test_id("viewport").bounding_box()
    centre = (
        round(viewport["x"] + viewport["width"] / 2),
        round(viewport["y"] + viewport["height"] / 2),
    )

    # Wheel zoom keeps the image point under the cursor where it is.
    view = set_view(page, 2, 40, 30)
    page.mouse.move(*centre)
    before = ((centre[0] - view["left"] - view["panX"]) / 2, (centre[1] - view["top"] - 30) / 2)
    page.mouse.wheel(0, -300)
    page.wait_for_function("() => segtunePainter.view().zoom > 2.5")
    view = page.evaluate("() => segtunePainter.view()")
    after = (
        (centre[0] - view["left"] - view["panX"]) / view["zoom"],
        (centre[1] - view["top"] - view["panY"]) / view["zoom"],
    )
    assert abs(after[0] - before[0]) < 1e-6 and abs(after[1] - before[1]) < 1e-6

    # 400%, then pan with space + drag and with the middle button.
    view = set_view(page, 4, 0, 0)
    expect(page.get_by_test_id("zoom-value")).to_have_text("400%")
    start = (viewport["x"] + 700, viewport["y"] + 500)
    page.mouse.move(*start)
    page.keyboard.down("Space")
    page.mouse.down()
    page.mouse.move(start[0] - 250, start[1] - 150, steps=6)
    page.mouse.up()
    page.keyboard.up("Space")
    page.mouse.move(*start)
    page.mouse.down(button="middle")
    page.mouse.move(start[0] - 50, start[1] - 50, steps=3)
    page.mouse.up(button="middle")
    view = page.evaluate("() => segtunePainter.view()")
    assert (view["zoom"], view["panX"], view["panY"]) == (4, -300, -200)
    assert (page_map(page) == UNLABELED).all(), "panning must not paint"

    # Crisp pixels: each image pixel of the checkerboard is a uniform 4x4 block on screen.
    page.keyboard.press("o")
    expect(page.get_by_test_id("overlay")).to_be_hidden()
    page.mouse.move(viewport["x"] + 5, viewport["y"] + viewport["height"] - 5)
    shot = np.array(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(int)
    for x, y in [(152, 102), (153, 102), (160, 110), (161, 111), (160, 111)]:
        cx, cy = at(view, x, y)
        block = shot[round(cy) - 1 : round(cy) + 1, round(cx) - 1 : round(cx) + 1]
        want = 255 if (x - 150 + y - 100) % 2 == 0 else 0
        assert np.abs(block - want).max() <= 8, f"pixel ({x}, {y}) is not crisp: {block.tolist()}"
    page.keyboard.press("o")
    expect(page.get_by_test_id("overlay")).to_be_visible()

    # A size-3 stroke with diagonal segments at 400% on the panned view.
    page.keyboard.press("2")
    page.get_by_test_id("brush-size").fill("3")
    points = [(120, 90), (151, 109), (160, 70), (163, 71)]
    drag(page, view, points)
    expected = np.full((H, W), UNLABELED, np.uint8)
    stroke(expected, points, 3, 1)
    assert_same(page_map(page), expected, "zoomed stroke in the page")
    # A 1-px dot at the very corner pixel that is still on screen.
    page.get_by_test_id("brush-size").fill("1")
    corner = (75, 50)  # the top-left pixel on screen at pan (-300, -200)
    page.mouse.click(*at(view, *corner))
    expected[corner[1], corner[0]] = 1
    save_now(page)
    assert_same(api_mask(live_server.url, frame["id"])[0], expected, "zoomed stroke via the API")
    page.screenshot(path=str(SCREENSHOT_DIR / "painter-zoom400.png"))


def test_conflict_reload_then_overwrite(page: Page, live_server):
    _, (frame,) = make_frames(live_server.url)
    url, fid = live_server.url, frame["id"]
    open_painter(page, fid)
    view = set_view(page, 3, 20, 20)
    state = page.get_by_test_id("save-state")
    bar = page.get_by_test_id("conflict-bar")
    page.keyboard.press("2")
    drag(page, view, [(20, 20), (80, 20)])
    save_now(page)
    assert page.evaluate("() => segtunePainter.version()") == "1"
    expect(bar).to_be_hidden()

    # Someone else saves version 2; painting here then autosaves into a conflict.
    theirs = np.zeros((H, W), np.uint8)
    theirs[50:100, 60:140] = 2
    assert put_mask(url, fid, theirs, "1")["version"] == 2
    drag(page, view, [(20, 120), (80, 120)])
    expect(state).to_have_text("conflict", timeout=10_000)
    expect(bar).to_be_visible()
    expect(page.get_by_test_id("conflict-text")).to_contain_text("version 2")
    page.keyboard.press("Control+s")  # still a conflict: saving is refused until resolved
    expect(state).to_have_text("conflict")
    page.screenshot(path=str(SCREENSHOT_DIR / "painter-conflict.png"))

    page.get_by_test_id("conflict-reload").click()
    expect(state).to_have_text("saved")
    expect(bar).to_be_hidden()
    assert_same(page_map(page), theirs, "after Reload the page shows the API's mask")
    assert page.evaluate("() => segtunePainter.version()") == "2"
    assert api_mask(url, fid)[1] == "2"

    # Overwrite: another save elsewhere (v3), local edit, conflict, overwrite → v4 = ours.
    other = theirs.copy()
    other[:10] = 1
    put_mask(url, fid, other, "2")
    drag(page, view, [(100, 130), (190, 130)])
    ours = theirs.copy()
    stroke(ours, [(100, 130), (190, 130)], 9, 1)
    page.keyboard.press("Control+s")
    expect(state).to_have_text("conflict")
    page.get_by_test_id("conflict-overwrite").click()
    expect(state).to_have_text("saved")
    expect(bar).to_be_hidden()
    saved, version = api_mask(url, fid)
    assert version == "4" == page.evaluate("() => segtunePainter.version()")
    assert_same(saved, ours, "after Overwrite the API has the page's mask")
    assert_same(page_map(page), ours, "the page keeps its mask after Overwrite")


def test_copy_previous_fill_unlabeled_navigation_and_done(page: Page, live_server):
    url = live_server.url
    _, (first, second) = make_frames(url, count=2)
    open_painter(page, first["id"])
    view = set_view(page, 3, 20, 20)
    expect(page.get_by_test_id("prev-frame")).to_be_disabled()
    expect(page.get_by_test_id("copy-previous")).to_be_disabled()
    page.keyboard.press("2")
    drag(page, view, [(10, 10), (100, 100)])
    first_map = np.full((H, W), UNLABELED, np.uint8)
    stroke(first_map, [(10, 10), (100, 100)], 9, 1)

    # "Next" saves first, then navigates (no beforeunload prompt because it is saved).
    page.get_by_test_id("next-frame").click()
    page.wait_for_url(f"**/frames/{second['id']}")
    assert_same(api_mask(url, first["id"])[0], first_map, "first frame saved on navigation")
    page.wait_for_function("() => window.segtunePainter !== undefined")
    page.evaluate("() => segtunePainter.ready.then(() => true)")

    page.get_by_test_id("copy-previous").click()
    page.wait_for_function("() => segtunePainter.history.canUndo")
    assert_same(page_map(page), first_map, "copied from the previous frame")
    page.get_by_test_id("fill-unlabeled").click()
    filled = first_map.copy()
    filled[filled == UNLABELED] = 0  # the class named background
    assert_same(page_map(page), filled, "unlabeled filled with background")
    page.keyboard.press("Control+z")
    assert_same(page_map(page), first_map, "undo the fill")
    page.keyboard.press("Control+y")

    # Overlay controls.
    page.get_by_test_id("overlay-opacity").fill("20")
    assert page.get_by_test_id("overlay").evaluate("c => c.style.opacity") == "0.2"
    page.keyboard.press("o")
    expect(page.get_by_test_id("overlay-toggle")).not_to_be_checked()
    page.keyboard.press("o")
    expect(page.get_by_test_id("overlay")).to_be_visible()

    page.get_by_test_id("mark-done").click()
    expect(page.get_by_test_id("label-status")).to_have_text("done")
    expect(page.get_by_test_id("save-state")).to_have_text("saved")
    assert http.get(f"{url}/api/frames/{second['id']}").json()["label_status"] == "done"
    assert_same(api_mask(url, second["id"])[0], filled, "second frame saved before done")
    page.screenshot(path=str(SCREENSHOT_DIR / "painter-done.png"))

    # Keys go to the previous frame (saved: no prompt); leaving with unsaved changes asks first.
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**/frames/{first['id']}")
    open_painter(page, first["id"])
    assert_same(page_map(page), first_map, "first frame's mask after coming back")
    view = set_view(page, 3, 20, 20)
    drag(page, view, [(150, 120), (160, 120)])
    expect(page.get_by_test_id("save-state")).to_have_text("unsaved")
    with page.expect_event("dialog") as prompt:
        page.close(run_before_unload=True)
    assert prompt.value.type == "beforeunload"
    prompt.value.dismiss()
    assert not page.is_closed()
    save_now(page)  # staying on the page: the edit is saved, nothing is left in flight


def test_initial_mask_background(page: Page, live_server):
    _, (frame,) = make_frames(live_server.url, initial_mask="background")
    open_painter(page, frame["id"])
    assert page.evaluate("() => segtunePainter.version()") == "0"
    assert_same(page_map(page), np.zeros((H, W), np.uint8), "an all-background initial mask")
