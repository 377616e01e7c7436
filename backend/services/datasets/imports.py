"""Dataset import: queue a zip upload as a job, or import a server folder; one body for both.

Nothing is half-imported: every frame and mask PNG is written to storage first, then all rows
go in one transaction, and any failure (a bad entry, a cancel, a crash) deletes every file
written. The uploaded zip is removed when its job ends.
"""

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.db import files_owned_by_rows, session_scope
from backend.errors import Invalid
from backend.models import Frame, Job, Mask
from backend.models.frame import SPLITS
from backend.services.datasets.archive import FolderSource, Source, ZipSource
from backend.services.datasets.classmap import ClassMap, ProjectClass, parse_mapping, resolve
from backend.services.datasets.convert import convert_pair
from backend.services.datasets.layouts import LAYOUTS, Dataset, Pair, detect_layout, find_pairs
from backend.services.jobs import JobContext, create_job
from backend.services.naming import display_filename
from backend.services.projects import get_project
from backend.storage import LocalStorage, new_key

SPLIT_CHOICES = ("auto", "none", *SPLITS)
WORKERS = min(4, os.cpu_count() or 1)  # decoding and zlib partly release the GIL


@dataclass
class Plan:
    """What an import will do: the pairs found and how their mask values map."""

    dataset: Dataset
    classmap: ClassMap


def project_classes(session: Session, project_id: int) -> list[ProjectClass]:
    """The classes of a project, as a mapping sees them."""
    project = get_project(session, project_id)
    return [ProjectClass(c.index, c.name, c.color) for c in project.classes]


def make_plan(
    source: Source, layout: str, mapping: dict[str, Any] | None, classes: list[ProjectClass]
) -> Plan:
    """Detect the layout, pair the files and check the mapping against the project."""
    if layout not in LAYOUTS:
        raise Invalid(f"layout must be one of {', '.join(LAYOUTS)}.")
    if layout == "auto":
        colour_keys = bool(mapping) and any(k.startswith("#") for k in mapping)
        layout = detect_layout(source.names, colour_keys)
    dataset = find_pairs(source, layout)
    classmap = resolve(mapping, classes, layout == "color", dataset.classes)
    return Plan(dataset, classmap)


def _check_split(split: str) -> None:
    if split not in SPLIT_CHOICES:
        raise Invalid(f"split must be one of {', '.join(SPLIT_CHOICES)}.")


def _queue(
    session: Session,
    project_id: int,
    source: Source,
    layout: str,
    mapping: str | dict | None,
    split: str,
    where: dict[str, Any],
) -> Job:
    classes = project_classes(session, project_id)
    _check_split(split)
    parsed = parse_mapping(mapping)
    plan = make_plan(source, layout, parsed, classes)
    params = {
        "project_id": project_id,
        **where,
        "layout": plan.dataset.layout,
        "mapping": parsed,
        "split": split,
        "images": len(plan.dataset.pairs),
    }
    return create_job(session, "import", params, project_id, queue="cpu")


def request_import(
    session: Session,
    storage: LocalStorage,
    settings: Settings,
    project_id: int,
    zip_path: Path,
    filename: str | None,
    layout: str = "auto",
    mapping: str | dict | None = None,
    split: str = "auto",
) -> Job:
    """Check an uploaded zip and the options, keep the zip and queue an import job."""
    try:
        key = new_key(f"projects/{project_id}/imports", ".zip")
        where = {"zip_key": key, "filename": display_filename(filename, "dataset.zip")}
        source = ZipSource(zip_path, settings.max_upload_bytes)
        try:
            job = _queue(session, project_id, source, layout, mapping, split, where)
        finally:
            source.close()
        storage.put_file(zip_path, key)
        with files_owned_by_rows(session, storage, [key]):
            session.commit()  # here: the zip must not outlive a failed commit
        return job
    finally:
        zip_path.unlink(missing_ok=True)


def request_folder_import(
    session: Session,
    project_id: int,
    folder: Path,
    layout: str = "auto",
    mapping: str | dict | None = None,
    split: str = "auto",
) -> Job:
    """Check a server-side folder and the options and queue an import job that reads it."""
    source = FolderSource(Path(folder))
    where = {"folder": str(source.root)}
    return _queue(session, project_id, source, layout, mapping, split, where)


@dataclass
class _LocalRun:
    """A JobContext for running the import body in-process (the command line)."""

    params: dict[str, Any]
    sessions: sessionmaker[Session]
    storage: LocalStorage
    settings: Settings
    report: Callable[[float, str], None]
    job_id: int = 0

    def progress(self, fraction: float, message: str) -> None:
        """Pass progress on to the caller."""
        self.report(fraction, message)


def import_folder(
    sessions: sessionmaker[Session],
    storage: LocalStorage,
    settings: Settings,
    project_id: int,
    folder: Path,
    layout: str = "auto",
    mapping: str | dict | None = None,
    split: str = "auto",
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Import a server-side folder in one of the layouts, in this process; returns the summary."""
    params = {
        "project_id": project_id,
        "folder": str(Path(folder).expanduser().resolve()),
        "layout": layout,
        "mapping": parse_mapping(mapping),
        "split": split,
    }
    ctx = _LocalRun(params, sessions, storage, settings, progress or (lambda f, m: None))
    return run_import(ctx)


def run_import(ctx: JobContext) -> dict[str, Any]:
    """Job body: convert every pair, store the PNGs, then insert all rows in one transaction."""
    params = ctx.params
    project_id = params["project_id"]
    try:
        _check_split(params.get("split", "auto"))
        with session_scope(ctx.sessions) as session:
            classes = project_classes(session, project_id)
        ctx.progress(0.0, "reading the archive")
        if params.get("zip_key") and not ctx.storage.exists(params["zip_key"]):
            raise Invalid(
                "The uploaded zip is gone (it is removed when its import ends); upload it again."
            )
        if params.get("zip_key"):
            source = ZipSource(ctx.storage.path(params["zip_key"]), ctx.settings.max_upload_bytes)
        else:
            source = FolderSource(Path(params["folder"]))
        try:
            plan = make_plan(source, params["layout"], params.get("mapping"), classes)
            return _import(ctx, source, plan, project_id, params.get("split", "auto"))
        finally:
            source.close()
    finally:
        if params.get("zip_key"):
            ctx.storage.delete(params["zip_key"])


def _import(ctx: JobContext, source: Source, plan: Plan, project_id: int, split: str) -> dict:
    pairs = plan.dataset.pairs
    written: list[str] = []
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    pending: list[tuple[Pair, Future]] = []
    done: list[tuple[Pair, dict[str, Any]]] = []
    last = 0.0
    try:
        for pair in pairs:
            image_key = new_key(f"projects/{project_id}/frames", ".png")
            mask_key = new_key(f"projects/{project_id}/masks", ".png") if pair.mask else None
            written += [k for k in (image_key, mask_key) if k]
            image = source.read(pair.image)
            mask = source.read(pair.mask) if pair.mask else None
            job = (ctx.storage, ctx.settings, plan.classmap, pair, image, mask, image_key, mask_key)
            pending.append((pair, pool.submit(convert_pair, *job)))
            # Bounded look-ahead keeps memory flat however large the archive is.
            while len(pending) > 2 * WORKERS or (pending and pending[0][1].done()):
                done.append((pending[0][0], pending.pop(0)[1].result()))
            if time.monotonic() - last > 0.3:
                last = time.monotonic()
                ctx.progress(0.95 * len(done) / len(pairs), f"{len(done)}/{len(pairs)} images")
        for pair, future in pending:
            done.append((pair, future.result()))
        ctx.progress(0.95, f"saving {len(done)} frames")
        os.sync()  # one flush for all files, before any row refers to them
        counts = _insert(ctx, project_id, done, split)
    except BaseException:
        # Let in-flight writes land before deleting, so no file outlives the failure.
        pool.shutdown(wait=True, cancel_futures=True)
        for key in written:
            ctx.storage.delete(key)
        raise
    pool.shutdown()
    return {
        "layout": plan.dataset.layout,
        "frames_added": len(done),
        "masks_added": sum(1 for pair, _ in done if pair.mask),
        "splits": counts,
    }


def _source_name(pair: Pair, split: str | None) -> str:
    """The frame's name from the dataset; says so when the dataset gave it another split."""
    name = pair.meta.get("source_name") or pair.image
    if pair.split and pair.split != split:
        # "train/x.png" imported as test must not read as a training frame.
        note = f" (imported as {split})" if split else " (imported without a split)"
        return name[-(255 - len(note)) :] + note
    return name[-255:]


def _insert(
    ctx: JobContext, project_id: int, done: list[tuple[Pair, dict[str, Any]]], split: str
) -> dict[str, int]:
    counts = dict.fromkeys((*SPLITS, "none"), 0)
    with session_scope(ctx.sessions) as session:
        get_project(session, project_id)
        frames = []
        for pair, out in done:
            chosen = pair.split if split == "auto" else None if split == "none" else split
            # Splits from the dataset are deliberate, so later automatic splits keep them.
            locked = chosen is not None and (split != "auto" or pair.meta.get("split_locked", True))
            has_mask = pair.mask is not None
            frames.append(
                Frame(
                    project_id=project_id,
                    source_name=_source_name(pair, chosen),
                    storage_key=out["image_key"],
                    width=out["width"],
                    height=out["height"],
                    timestamp_s=pair.meta.get("timestamp_s"),
                    split=chosen,
                    split_locked=locked,
                    label_status=pair.meta.get("label_status")
                    or ("done" if has_mask else "unlabeled"),
                    mask_version=1 if has_mask else 0,
                )
            )
            counts[chosen or "none"] += 1
        session.add_all(frames)
        session.flush()
        session.add_all(
            Mask(
                frame_id=frame.id,
                version=1,
                storage_key=out["mask_key"],
                class_pixel_counts=out["counts"],
                source="import",
            )
            for frame, (pair, out) in zip(frames, done, strict=True)
            if pair.mask is not None
        )
    return counts
