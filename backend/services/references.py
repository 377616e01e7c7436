"""Which stored files the database refers to: shared by a failed job's clean-up and by fsck."""

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Frame, Job, Mask, SegModel, Video

CHUNK = 500  # keys per IN (...) query
JOB_KEY = re.compile(r"jobs/(\d+)/")
PROJECT_KEY = re.compile(r"projects/(\d+)/")
# An import's uploaded zip is needed while the job may still run or be retried: the job
# deletes it when it ends, but not when its worker was lost or it was cancelled before it began.
IMPORT_ZIP_NEEDED = ("queued", "running", "failed", "cancelled")


@dataclass(frozen=True)
class Ref:
    """One row's reference to a stored file."""

    key: str
    table: str  # videos, frames, masks, seg_models or jobs
    row_id: int
    field: str  # the column (or JSON column) holding the key
    what: str  # the row in words
    required: bool = True  # False: the file is kept alive, but the row works without it


def _column_refs(session: Session, keys: Collection[str] | None) -> Iterator[Ref]:
    columns = [
        (Video, Video.storage_key, "storage_key", "video {id}"),
        (Frame, Frame.storage_key, "storage_key", "frame {id}"),
        (Mask, Mask.storage_key, "storage_key", "mask version {version} of frame {frame_id}"),
        (SegModel, SegModel.storage_key, "storage_key", "model {id}"),
        (SegModel, SegModel.onnx_key, "onnx_key", "ONNX export of model {id}"),
    ]
    chunks: list[list[str] | None] = [None]
    if keys is not None:
        ordered = sorted(keys)
        chunks = [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]
    for model, column, field, what in columns:
        extra = (Mask.version, Mask.frame_id) if model is Mask else ()
        for chunk in chunks:
            query = select(model.id, column, *extra).where(column.is_not(None))
            if chunk is not None:
                query = query.where(column.in_(chunk))
            for row in session.execute(query):
                words = what.format(id=row[0], version=row[2] if extra else 0, frame_id=row[-1])
                yield Ref(row[1], model.__tablename__, row[0], field, words)


def scored_models(kind: str, result: dict) -> list[dict]:
    """The scored models in a fine-tune or evaluate job's result (each may hold predictions)."""
    if kind == "train":
        return [s for s in (result.get("test") or {}).values() if isinstance(s, dict)]
    if kind == "evaluate":
        return [s for s in result.get("models") or [] if isinstance(s, dict)]
    return []


def job_refs(job: Job) -> list[Ref]:
    """The files a job's params, result and detail point at."""
    refs = []
    result, detail, params = job.result or {}, job.detail or {}, job.params or {}
    if job.kind == "export" and result.get("storage_key"):
        refs.append(Ref(result["storage_key"], "jobs", job.id, "result", f"export job {job.id}"))
    if job.kind == "import" and params.get("zip_key") and job.status in IMPORT_ZIP_NEEDED:
        what = f"uploaded zip of import job {job.id}"
        refs.append(Ref(params["zip_key"], "jobs", job.id, "params", what, required=False))
    if job.kind == "predict":
        for what, key in (result.get("files") or {}).items():
            refs.append(Ref(key, "jobs", job.id, "result", f"{what} of prediction {job.id}"))
    for scored in scored_models(job.kind, result):
        for key in scored.get("prediction_keys") or []:
            if key:
                refs.append(Ref(key, "jobs", job.id, "result", f"prediction of job {job.id}"))
    for entry in detail.get("timeline") or []:
        for overlay in entry.get("overlays") or []:
            if overlay.get("key"):
                what = f"timeline overlay of job {job.id}"
                refs.append(Ref(overlay["key"], "jobs", job.id, "detail", what))
    return refs


def cache_prefix(job: Job) -> str | None:
    """The storage prefix of a finished job's cached report files (rebuilt when missing)."""
    if job.kind in ("train", "evaluate") and job.status == "succeeded":
        return f"jobs/{job.id}/report/"
    return None


def all_refs(session: Session) -> tuple[list[Ref], list[str]]:
    """Every file reference in the database, and the prefixes of cached report files."""
    refs = list(_column_refs(session, None))
    prefixes = []
    kinds = ("export", "import", "train", "evaluate", "predict")
    for job in session.scalars(select(Job).where(Job.kind.in_(kinds))):
        refs += job_refs(job)
        prefixes += [p for p in [cache_prefix(job)] if p]
    return refs, prefixes


def _jobs_for(session: Session, keys: Collection[str]) -> list[Job]:
    """The jobs that could refer to these keys: by job id in the key, or exports/imports of its
    project."""
    job_ids = {int(m.group(1)) for k in keys if (m := JOB_KEY.match(k))}
    project_ids = {int(m.group(1)) for k in keys if (m := PROJECT_KEY.match(k))}
    jobs = list(session.scalars(select(Job).where(Job.id.in_(job_ids)))) if job_ids else []
    if project_ids:
        query = select(Job).where(
            Job.kind.in_(("export", "import")), Job.project_id.in_(project_ids)
        )
        jobs += session.scalars(query)
    return jobs


# Caches made from one stored frame or mask (thumbnails, superpixels) are named after its key:
# "thumbs/<key stem>.jpg", "thumbs/<key stem>-<digest>.png", "superpixels/<key stem>-<kind>.png".
DERIVED_PREFIXES = ("thumbs/", "superpixels/")


def derived_source(key: str) -> str | None:
    """The key stem of the stored file a cache file was made from (None: not a cache file)."""
    prefix = next((p for p in DERIVED_PREFIXES if key.startswith(p)), None)
    if prefix is None:
        return None
    folder, _, name = key[len(prefix) :].rpartition("/")
    return f"{folder}/{name.split('.', 1)[0].split('-', 1)[0]}"


def stem(key: str) -> str:
    """A key without its extension."""
    folder, _, name = key.rpartition("/")
    return f"{folder}/{name.split('.', 1)[0]}"


def unreferenced(session: Session, keys: Collection[str]) -> list[str]:
    """Those of the keys that no row refers to (and that are not cached report files)."""
    keys = set(keys)
    used = {ref.key for ref in _column_refs(session, keys)}
    prefixes = []
    for job in _jobs_for(session, keys - used):
        used |= {ref.key for ref in job_refs(job)}
        prefixes += [p for p in [cache_prefix(job)] if p]
    return sorted(k for k in keys - used if not k.startswith(tuple(prefixes)))


def refs_to(session: Session, keys: Collection[str]) -> list[Ref]:
    """The rows that refer to these keys."""
    keys = set(keys)
    refs = list(_column_refs(session, keys))
    for job in _jobs_for(session, keys):
        refs += [ref for ref in job_refs(job) if ref.key in keys]
    return refs
