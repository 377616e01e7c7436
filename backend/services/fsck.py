"""fsck: stored files no row refers to, rows whose file is gone, leftovers of dead processes.

Files that may belong to work in progress are left alone: those younger than min_age_s (a
request writes its file just before its row) and those a running job may still be writing
(its project's and its own folders; models/ while a fine-tune or ONNX export runs).
"""

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.db import session_scope
from backend.models import Job
from backend.services.fsck_repair import repair
from backend.services.references import (
    Ref,
    all_refs,
    derived_source,
    refs_to,
    stem,
    unreferenced,
)
from backend.storage import LocalStorage

DEFAULT_MIN_AGE_S = 600.0
# Jobs that make files under models/ (a checkpoint, an ONNX export) just before their row.
MODEL_WRITERS = ("train", "export_onnx")
# A run folder (training checkpoints) is worth keeping while its job may run or be retried.
RUN_KEPT = ("queued", "running", "failed")


@dataclass
class Problem:
    """One thing fsck found, and what --delete does (or did) about it."""

    kind: str  # orphan file, missing file, stale temporary file, stale cache copy, orphan run
    path: str
    row: str
    action: str


@dataclass
class FsckReport:
    """What one fsck run found and whether it fixed it."""

    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    refs: int = 0
    left_alone: int = 0
    deleted: bool = False

    def counts(self) -> dict[str, int]:
        """Problems per kind."""
        out: dict[str, int] = {}
        for problem in self.problems:
            out[problem.kind] = out.get(problem.kind, 0) + 1
        return out


def _in_use(session: Session) -> Callable[[str], bool]:
    """Whether a key may belong to a running job that has not written its row yet."""
    running = session.execute(
        select(Job.id, Job.project_id, Job.kind).where(Job.status == "running")
    ).all()
    prefixes = [f"jobs/{job_id}/" for job_id, _, _ in running]
    prefixes += [f"projects/{pid}/" for _, pid, _ in running if pid is not None]
    if any(kind in MODEL_WRITERS for _, _, kind in running):
        prefixes.append("models/")
    return lambda key: key.startswith(tuple(prefixes))


def _confirm_missing(
    sessions: sessionmaker[Session], storage: LocalStorage, refs: list[Ref], stale: set[str]
) -> list[Ref]:
    """Of the references whose file was not listed, those still in the database, file still
    absent (the listing and the rows were read at different moments)."""
    if not refs:
        return []
    with session_scope(sessions) as session:
        now = {(r.table, r.row_id, r.field, r.key) for r in refs_to(session, {r.key for r in refs})}
    return [
        r
        for r in refs
        if (r.table, r.row_id, r.field, r.key) in now
        and (r.key in stale or not storage.exists(r.key))
    ]


def _orphans(
    sessions: sessionmaker[Session],
    listing: dict[str, float],
    used: set[str],
    prefixes: list[str],
    min_age_s: float,
) -> tuple[list[str], int]:
    """Stored keys no row refers to, and how many more were left alone as possibly in use."""
    cutoff = time.time() - min_age_s
    with session_scope(sessions) as session:
        in_use = _in_use(session)
        # A cache file lives as long as the frame or mask it was made from.
        sources = {stem(key) for key in used}
        candidates = [
            key
            for key in listing
            if key not in used
            and not key.startswith(tuple(prefixes))
            and derived_source(key) not in sources
        ]
        fresh = [k for k in candidates if listing[k] > cutoff or in_use(k)]
        # Rows committed since the first read may have claimed some: ask again.
        orphans = unreferenced(session, set(candidates) - set(fresh))
    return orphans, len(fresh)


def _runs(sessions: sessionmaker[Session], settings: Settings) -> list[Path]:
    """Training run folders whose job is gone or can no longer resume from them."""
    root = settings.data_path / "runs"
    folders = {}
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.is_dir() and path.name.startswith("job") and path.name[3:].isdigit():
            folders[int(path.name[3:])] = path
    if not folders:
        return []
    with session_scope(sessions) as session:
        query = select(Job.id, Job.status).where(Job.id.in_(folders))
        status = dict(session.execute(query).all())
    return [path for job_id, path in folders.items() if status.get(job_id) not in RUN_KEPT]


def check_storage(
    sessions: sessionmaker[Session],
    storage: LocalStorage,
    settings: Settings,
    delete: bool = False,
    min_age_s: float = DEFAULT_MIN_AGE_S,
) -> FsckReport:
    """Compare storage with the database; with delete, fix what was found (see fsck_repair)."""
    report = FsckReport(deleted=delete)
    with session_scope(sessions) as session:
        refs, prefixes = all_refs(session)
    listing = dict(storage.listing())
    report.files, report.refs = len(listing), len(refs)
    cutoff = time.time() - min_age_s
    stale_cache = [p for p in storage.stale_cache(set(listing)) if p.stat().st_mtime < cutoff]
    for path in stale_cache:
        action = "delete the local copy"
        report.problems.append(Problem("stale cache copy", str(path), "", action))
        if delete:
            path.unlink(missing_ok=True)
    stale = {p.relative_to(storage.cache).as_posix() for p in stale_cache} if stale_cache else set()
    absent = [r for r in refs if r.required and r.key not in listing]
    missing = _confirm_missing(sessions, storage, absent, stale)
    doomed: list[str] = []
    with session_scope(sessions) as session:
        for ref, action in repair(session, missing, delete, doomed):
            report.problems.append(Problem("missing file", ref.key, ref.what, action))
    for key in doomed:
        storage.delete(key)
    used = {r.key for r in refs}
    orphans, report.left_alone = _orphans(sessions, listing, used, prefixes, min_age_s)
    for key in orphans:
        report.problems.append(Problem("orphan file", key, "", "delete the file"))
        if delete:
            storage.delete(key)
    for path in storage.stale_temp(remove=delete):
        row = "its process is gone"
        report.problems.append(Problem("stale temporary file", str(path), row, "delete the file"))
    for path in _runs(sessions, settings):
        row = f"job {path.name[3:]} is gone or finished"
        action = "delete the folder (training checkpoints)"
        report.problems.append(Problem("orphan run folder", str(path), row, action))
        if delete:
            shutil.rmtree(path, ignore_errors=True)
    return report
