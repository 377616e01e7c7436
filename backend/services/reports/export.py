"""Downloads of a report: a self-contained HTML page and a CSV of every figure."""

import base64
import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from backend.services.reports import mapping, stats
from backend.services.reports.source import ReportSource

TEMPLATES = Path(__file__).resolve().parents[3] / "frontend" / "templates"
TEMPLATE = "report_standalone.html"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
SUMMARY_TITLES = {
    "confusion": "Confusion matrices (rows = ground truth, row-normalised, pixel counts)",
    "loss": "Train and validation loss",
    "miou": "Validation mean IoU (the kept iteration is starred)",
}
CSV_COLUMNS = (
    "metric", "class", "test_frames", "labeled_pixels",
    "before", "before_ci_low", "before_ci_high",
    "after", "after_ci_low", "after_ci_high",
    "change", "change_ci_low", "change_ci_high",
    "verdict", "blocks", "block_seconds", "set",
)  # fmt: skip


def data_uri(data: bytes, mime: str) -> str:
    """A base64 data: URI that embeds a picture in the page."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _cell(value: float | None, ci: list[float] | None, signed: bool = False) -> dict:
    span = f"{stats.fmt(ci[0], signed)} to {stats.fmt(ci[1], signed)}" if ci else ""
    return {"value": stats.fmt(value, signed), "ci": span}


def verdict(change: float | None, ci: list[float] | None, n_blocks: int) -> str:
    """A change's word for the tables: clear when the 95% interval excludes zero (enough blocks)."""
    if change is None:
        return "n/a"
    if n_blocks < stats.MIN_BLOCKS:
        return "too few blocks"
    if ci is None:
        return "n/a"
    if ci[0] > 0:
        return "clear improvement"
    if ci[1] < 0:
        return "clear decline"
    return "not distinguishable"


# A comparison's words for the same verdicts (B is the "after" side, A the "before").
COMPARE_VERDICTS = {"clear improvement": "B clearly better", "clear decline": "B clearly worse"}


def _row(fig: stats.Figure, report: dict) -> dict:
    ci = report["ci"]
    word = verdict(fig.pick(report["change"]), fig.pick(ci["change"]), report["n_blocks"])
    return {
        "label": fig.label,
        "name": fig.class_name,
        "frames": report["class_frames"].get(fig.class_name, ""),
        "pixels": f"{report['class_pixels'].get(fig.class_name, 0):,}",
        "before": _cell(fig.pick(report["before"]), fig.pick(ci["before"])),
        "after": _cell(fig.pick(report["after"]), fig.pick(ci["after"])),
        "change": _cell(fig.pick(report["change"]), fig.pick(ci["change"]), signed=True),
        "verdict": COMPARE_VERDICTS.get(word, word) if report.get("labels") else word,
        "verdict_class": word.replace(" ", "-"),
    }


def _sets(source: ReportSource, report: dict) -> list[dict]:
    """The held-out and reference sets, each with its sentences and one table of every figure."""
    return [
        {
            "role": found["role"],
            "title": found["title"],
            "sentences": found["sentences"],
            "rows": [_row(fig, found) for fig in stats.figures(source.class_names)],
        }
        for found in (report.get("sets") or {}).values()
    ]


def _split_counts(result: dict, n_test: int) -> str:
    parts = (result.get("n_train_frames"), result.get("n_val_frames"), n_test)
    return " / ".join("n/a" if n is None else str(n) for n in parts)


def _blocks(report: dict) -> str:
    seconds = report["block_seconds"]
    rule = f"blocks of {seconds:g} s" if seconds > 0 else "single frames"
    return f"{report['n_blocks']} ({rule})"


def _summary(source: ReportSource, report: dict) -> list[tuple[str, object]]:
    result = source.result
    if source.is_comparison:
        labels, ids = source.labels, source.model_ids
        flip = source.params.get("flip_tta")
        return [
            ("Model A", f"{labels['before']} (model {ids['before']})"),
            ("Model B", f"{labels['after']} (model {ids['after']})"),
            ("Test frames", report["n_test_frames"]),
            ("Independent blocks of test frames", _blocks(report)),
            ("Horizontal-flip test-time augmentation", "yes" if flip else "no"),
        ]
    return [
        ("Iterations", result.get("iterations")),
        ("Kept iteration (best validation mean IoU)", report["best_iteration"]),
        ("Best validation mean IoU", stats.fmt(result.get("best_val_miou"))),
        ("Training time (s)", result.get("train_seconds")),
        ("Frames: train / val / test", _split_counts(result, report["n_test_frames"])),
        ("Independent blocks of test frames", _blocks(report)),
    ]


def html(
    source: ReportSource, report: dict, pictures: dict[str, bytes], animation: bytes | None
) -> str:
    """Render the standalone report (every value escaped by the template engine)."""
    rows = [_row(fig, report) for fig in stats.figures(source.class_names)]
    frame_names = source.after.get("frame_names") or []
    context = {
        "job_id": source.job_id,
        "model_id": report["model_id"],
        "before_name": (source.before or {}).get("name"),
        "has_before": report["before"] is not None,
        "start": report.get("start"),
        "comparison": source.is_comparison,
        "labels": source.labels,
        "model_ids": source.model_ids,
        "summary": _summary(source, report),
        "mappings": mapping.html_context(source, report),
        "table1": rows[:2],
        "table2": rows[2:],
        "sets": _sets(source, report),
        "sentences": report["sentences"],
        "resamples": stats.RESAMPLES,
        "n_test_frames": report["n_test_frames"],
        "n_blocks": report["n_blocks"],
        "block_rule": report["block_rule"],
        "min_blocks": stats.MIN_BLOCKS,
        "figures": [
            {"title": SUMMARY_TITLES[name], "uri": data_uri(pictures[name], "image/png")}
            for name in SUMMARY_TITLES
            if name in pictures
        ],
        "frames": [
            {
                "title": frame_names[k] if k < len(frame_names) else f"test frame {k + 1}",
                "uri": data_uri(pictures[f"frame_{k}"], "image/png"),
            }
            for k in range(report["n_test_frames"])
            if f"frame_{k}" in pictures
        ],
        "animation": data_uri(animation, "image/gif") if animation else None,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return _ENV.get_template(TEMPLATE).render(**context)


def _spreadsheet_safe(text: str) -> str:
    # A cell starting with = + - @ is run as a formula by spreadsheet programs.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _number(value) -> str:
    return "" if value is None else repr(float(value))


def csv_text(report: dict) -> str:
    """CSV, one row per figure and set (test split, then held-out and reference sets):
    before/after/change, their 95% bounds, verdict and blocks."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    names = list(report["after"]["class_iou"])
    parts = [("test", report)] + [(s["role"], s) for s in (report.get("sets") or {}).values()]
    for set_name, part in parts:
        for fig in stats.figures(names):
            writer.writerow(_csv_row(fig, part, set_name, bool(report.get("labels"))))
    return buf.getvalue()


def _csv_row(fig, part: dict, set_name: str, compare: bool) -> list:
    row = [
        "iou" if fig.class_name is not None else fig.metric,
        _spreadsheet_safe(fig.class_name or ""),
        part["class_frames"][fig.class_name] if fig.class_name else part["n_test_frames"],
        part["class_pixels"][fig.class_name]
        if fig.class_name
        else sum(part["class_pixels"].values()),
    ]
    for key in ("before", "after", "change"):
        value = part[key] and fig.pick(part[key])  # a set scored without "before" has none
        ci = (part["ci"].get(key) and fig.pick(part["ci"][key])) or [None, None]
        row += [_number(value), _number(ci[0]), _number(ci[1])]
    change = part["change"] and fig.pick(part["change"])
    word = verdict(
        change, part["ci"].get("change") and fig.pick(part["ci"]["change"]), part["n_blocks"]
    )
    word = COMPARE_VERDICTS.get(word, word) if compare else word
    return row + [word, part["n_blocks"], part["block_seconds"], set_name]
