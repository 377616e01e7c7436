"""The training timeline: validation overlays after each iteration, as URLs and as a GIF."""

import io

from PIL import Image, ImageDraw, ImageFont

from backend.errors import NotFound
from backend.storage import LocalStorage

GRID_MAX = 4  # overlays per iteration shown in the animation (2 x 2)
GIF_WIDTH = 960
FRAME_MS = 600
LAST_FRAME_MS = 2000  # hold the final state before the animation loops


def entries(detail: dict) -> list[dict]:
    """The timeline recorded by the job: [{iteration, overlays: [{key, frame}]}] in order."""
    timeline = [t for t in detail.get("timeline") or [] if t.get("overlays")]
    return sorted(timeline, key=lambda t: t["iteration"])


def urls(job_id: int, detail: dict) -> list[dict]:
    """[{iteration, urls}] pointing at the overlay PNG route, for the page to animate."""
    return [
        {
            "iteration": t["iteration"],
            "urls": [
                f"/api/jobs/{job_id}/timeline/{t['iteration']}/{k}.png"
                for k in range(len(t["overlays"]))
            ],
        }
        for t in entries(detail)
    ]


def overlay_key(detail: dict, iteration: int, k: int) -> str:
    """Storage key of the k-th overlay recorded after an iteration, or NotFound."""
    for t in entries(detail):
        if t["iteration"] == iteration and 0 <= k < len(t["overlays"]):
            return t["overlays"][k]["key"]
    raise NotFound(f"No validation overlay {k} was recorded after iteration {iteration}.")


def _grid(pictures: list[Image.Image]) -> Image.Image:
    """Up to four overlays, one per cell of a 1x1, 2x1 or 2x2 grid, scaled to GIF_WIDTH."""
    cols = 1 if len(pictures) == 1 else 2
    rows = (len(pictures) + cols - 1) // cols
    cell_w = GIF_WIDTH // cols
    first = pictures[0]
    cell_h = max(1, round(first.height * cell_w / first.width))
    sheet = Image.new("RGB", (cell_w * cols, cell_h * rows), (255, 255, 255))
    for i, picture in enumerate(pictures):
        cell = picture.convert("RGB").resize((cell_w, cell_h), Image.Resampling.BILINEAR)
        sheet.paste(cell, ((i % cols) * cell_w, (i // cols) * cell_h))
    return sheet


def _label(sheet: Image.Image, text: str) -> None:
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(14, sheet.width // 40))
    box = draw.textbbox((10, 8), text, font=font)
    draw.rectangle((box[0] - 6, box[1] - 4, box[2] + 6, box[3] + 4), fill=(0, 0, 0))
    draw.text((10, 8), text, font=font, fill=(255, 255, 255))


def gif(storage: LocalStorage, detail: dict) -> bytes:
    """Animated GIF: a grid of up to four validation overlays per iteration, numbered."""
    timeline = entries(detail)
    total = max((h.get("total") or 0 for h in detail.get("history") or []), default=0)
    sheets = []
    for t in timeline:
        pictures = []
        for overlay in t["overlays"][:GRID_MAX]:
            if storage.exists(overlay["key"]):
                with storage.open_read(overlay["key"]) as fh:
                    pictures.append(Image.open(io.BytesIO(fh.read())).convert("RGB"))
        if pictures:
            sheet = _grid(pictures)
            of = f"/{total}" if total else ""
            _label(sheet, f"iteration {t['iteration']}{of}")
            sheets.append(sheet)
    if not sheets:
        raise NotFound("This job recorded no validation overlays to animate.")
    durations = [FRAME_MS] * (len(sheets) - 1) + [LAST_FRAME_MS]
    buf = io.BytesIO()
    sheets[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=sheets[1:],
        duration=durations,
        loop=0,
        optimize=False,
    )
    return buf.getvalue()
