"""Reports of two models on the same test frames, computed once and cached in storage.

A fine-tune job reports before (base) / after (fine-tuned) with its training curves and
timeline; an evaluate job of two models reports A (before) / B (after) side by side, with the
same tables and per-frame figures and no training figures.
"""

import hashlib
import json
import re
from collections.abc import Callable

import numpy as np
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import NotFound
from backend.services.jobs import get_job
from backend.services.reports import blocks, export, figures, mapping, sets, stats, timeline
from backend.services.reports.source import (
    ReportSource,
    frame_facts,
    load_source,
    load_test_frame,
)
from backend.services.reports.start import start_note
from backend.storage import LocalStorage

FIGURES = ("confusion", "loss", "miou")
COMPARE_FIGURES = ("confusion",)
FRAME_FIGURE = re.compile(r"frame_(\d{1,6})")
# Part of the cached report's name: a report computed by an older method (v1 resampled single
# frames) is never served again, it is recomputed.
METHOD = "v2-blocks"


def _key(source: ReportSource, name: str) -> str:
    # The fingerprint of the job's result is part of the path: a different job that reuses this
    # id (SQLite may reuse ids after deletions) never sees these files.
    return f"{source.prefix()}/{source.fingerprint}/{name}"


def _cached(storage: LocalStorage, key: str, make: Callable[[], bytes]) -> bytes:
    if storage.exists(key):
        with storage.open_read(key) as fh:
            return fh.read()
    data = make()
    storage.put_bytes(key, data)
    return data


def _class_pixels(source: ReportSource, frame_cms: np.ndarray) -> dict[str, int]:
    counts = source.class_pixels
    if counts is None:
        counts = frame_cms.sum(axis=(0, 2)).tolist()
    return {name: int(n) for name, n in zip(source.class_names, counts, strict=True)}


def block_seconds(source: ReportSource, settings: Settings) -> float:
    """The block length of a job's report: the job's own choice, else the setting."""
    chosen = source.params.get("block_seconds")
    return float(chosen) if chosen is not None else settings.report_block_seconds


def frame_blocks(session: Session, source: ReportSource, settings: Settings) -> list[int]:
    """Block id of each test frame of the report."""
    seconds = block_seconds(source, settings)
    facts = frame_facts(session, source)
    return blocks.assign_blocks(facts, seconds, settings.report_frame_rate)


def compute(
    source: ReportSource,
    block_ids: list[int],
    seconds: float,
    set_blocks: dict[str, list[int]] | None = None,
) -> dict:
    """The report JSON: scores, paired block-bootstrap intervals, sentences, curves, timeline.

    block_ids holds each test frame's block (frame_blocks), seconds the block length; set_blocks
    the same for each held-out or reference set (sets.set_blocks). A
    comparison has the same keys (no curves, timeline or fine-tuned model: empty or None)
    plus labels and model_ids: {"before": <model A>, "after": <model B>}.
    """
    names = source.class_names
    after_frames = np.asarray(source.after["frame_confusions"], dtype=np.int64)
    before = source.before
    before_frames = (
        np.asarray(before["frame_confusions"], dtype=np.int64) if before is not None else None
    )
    # Point estimates come from the same per-frame matrices the bootstrap resamples.
    after_scores = stats.scores(after_frames.sum(axis=0), names)
    before_scores = stats.scores(before_frames.sum(axis=0), names) if before else None
    report = {
        "before": before_scores,
        "after": after_scores,
        "change": stats.difference(after_scores, before_scores) if before else None,
        "ci": stats.bootstrap(after_frames, before_frames, names, block_ids),
        "n_test_frames": len(after_frames),
        "n_blocks": blocks.count_blocks(block_ids),
        "block_seconds": seconds,
        "block_rule": blocks.describe(seconds),
        "frame_blocks": list(block_ids),
        "min_blocks": stats.MIN_BLOCKS,
        "class_pixels": _class_pixels(source, after_frames),
        "class_frames": sets.class_frames(after_frames, names),
        "sentences": [],
        "history": source.detail.get("history") or [],
        "best_iteration": source.result.get("best_iteration"),
        "model_id": source.result.get("model_id"),
        "timeline": timeline.urls(source.job_id, source.detail),
        "mappings": mapping.report_mappings(source),
        "sets": sets.sections(source, set_blocks, seconds),
    }
    if source.is_comparison:
        report.update(labels=source.labels, model_ids=source.model_ids)
    report["sentences"] = stats.sentences(report)
    return report


def _report(
    session: Session, storage: LocalStorage, settings: Settings, source: ReportSource
) -> dict:
    seconds = block_seconds(source, settings)
    ids = frame_blocks(session, source, settings)
    set_ids = sets.set_blocks(session, source, seconds, settings.report_frame_rate)
    # The blocks come from frame rows, which may change after the job (a frame deleted): they
    # are part of the name, so a report is recomputed when its blocks would differ.
    named = [METHOD, seconds, ids, set_ids] if set_ids else [METHOD, seconds, ids]
    digest = hashlib.sha256(json.dumps(named).encode()).hexdigest()[:12]
    key = _key(source, f"report-{METHOD}-{digest}.json")
    report = json.loads(
        _cached(storage, key, lambda: json.dumps(compute(source, ids, seconds, set_ids)).encode())
    )
    # From the job's parameters, outside the cached scores: reports cached before it have it.
    if not source.is_comparison:
        report["start"] = start_note(source)
    return report


def get_report(session: Session, storage: LocalStorage, settings: Settings, job_id: int) -> dict:
    """The report of a fine-tune or two-model evaluation (the bootstrap runs once, then cached)."""
    return _report(session, storage, settings, load_source(session, job_id))


def _confusion(source: ReportSource) -> bytes:
    before, labels = source.before, source.labels
    if source.is_comparison:
        titles = (f"A: {labels['before']}", f"B: {labels['after']}")
    else:
        titles = (f"Before: {labels['before']}" if before else "", f"After: {labels['after']}")
    cm_before = np.asarray(before["confusion"]) if before else None
    cm_after = np.asarray(source.after["confusion"])
    return figures.confusion_png(cm_after, cm_before, source.class_names, titles)


def _drawer(session: Session, storage: LocalStorage, source: ReportSource, name: str):
    """The function that draws a named figure; NotFound for names the report does not have."""
    history = source.detail.get("history") or []
    if name == "confusion":
        return lambda: _confusion(source)
    if name == "loss" and not source.is_comparison:
        return lambda: figures.loss_png(history)
    if name == "miou" and not source.is_comparison:
        return lambda: figures.miou_png(history, source.result.get("best_iteration"))
    match = FRAME_FIGURE.fullmatch(name)
    if match and int(match.group(1)) < source.n_frames:
        k = int(match.group(1))
        labels = source.labels
        sides = (f"A: {labels['before']}", f"B: {labels['after']}")
        return lambda: figures.frame_png(
            load_test_frame(session, storage, source, k),
            source.class_names,
            source.colors,
            sides if source.is_comparison else None,
        )
    raise NotFound(f"The report has no figure {name!r}.")


def figure_names(source: ReportSource) -> list[str]:
    """Every figure of a report: the summary figures, then one per test frame."""
    summary = COMPARE_FIGURES if source.is_comparison else FIGURES
    return [*summary, *(f"frame_{k}" for k in range(source.n_frames))]


def _figure(session: Session, storage: LocalStorage, source: ReportSource, name: str) -> bytes:
    draw = _drawer(session, storage, source, name)
    return _cached(storage, _key(source, f"{name}.png"), draw)


def get_figure(session: Session, storage: LocalStorage, job_id: int, name: str) -> bytes:
    """PNG bytes of one report figure (drawn once, then cached)."""
    return _figure(session, storage, load_source(session, job_id), name)


def get_timeline_gif(session: Session, storage: LocalStorage, job_id: int) -> bytes:
    """The animated GIF of validation overlays over iterations (built once, then cached)."""
    source = load_source(session, job_id)
    if source.is_comparison:
        raise NotFound(f"Job {job_id} compares two models; it has no training timeline.")
    return _cached(
        storage, _key(source, "timeline.gif"), lambda: timeline.gif(storage, source.detail)
    )


def get_timeline_overlay(
    session: Session, storage: LocalStorage, job_id: int, iteration: int, k: int
) -> bytes:
    """The k-th validation overlay PNG recorded after an iteration (also while training runs)."""
    job = get_job(session, job_id)
    key = timeline.overlay_key(job.detail or {}, iteration, k)
    if not storage.exists(key):
        raise NotFound(f"The overlay of iteration {iteration} is no longer stored.")
    with storage.open_read(key) as fh:
        return fh.read()


def get_html(session: Session, storage: LocalStorage, settings: Settings, job_id: int) -> str:
    """The self-contained HTML report: tables, sentences and every figure embedded."""
    source = load_source(session, job_id)
    report = _report(session, storage, settings, source)
    pictures = {}
    for name in figure_names(source):
        try:
            pictures[name] = _figure(session, storage, source, name)
        except NotFound:
            continue  # a test frame whose predictions were deleted: the rest is still worth having
    try:
        animation = get_timeline_gif(session, storage, job_id)
    except NotFound:
        animation = None
    return export.html(source, report, pictures, animation)


def get_csv(session: Session, storage: LocalStorage, settings: Settings, job_id: int) -> str:
    """One CSV row per reported figure with before, after, change and their intervals."""
    return export.csv_text(get_report(session, storage, settings, job_id))
