"""Model registry: base checkpoints users add and the models fine-tuning produces."""

import hashlib
import shutil
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import files_owned_by_rows
from backend.errors import Conflict, Invalid, NotFound
from backend.models import Job, SegModel, User
from backend.services.access import role_in
from backend.services.jobs import create_job
from backend.services.naming import checked_name, display_filename
from backend.services.projects import get_project
from backend.storage import LocalStorage, new_key
from worker.ml.presets import PRESET_LABELS, PRESETS

ARCHITECTURES = (
    "deeplabv3plus_mobilenet",
    "deeplabv3plus_resnet50",
    "deeplabv3plus_resnet101",
    "espnetv2",
)
OUTPUT_STRIDES = (8, 16)


def preset_labels() -> dict[str, str]:
    """The class presets a registration may name, with what each is."""
    return dict(PRESET_LABELS)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_options(architecture: str | None, output_stride: int | None, preset: str | None):
    if architecture is not None and architecture not in ARCHITECTURES:
        raise Invalid(f"architecture must be one of {', '.join(ARCHITECTURES)}.")
    if output_stride is not None and output_stride not in OUTPUT_STRIDES:
        raise Invalid("output_stride must be 8 or 16.")
    if preset is not None and preset not in PRESETS:
        raise Invalid(f"preset must be one of {', '.join(PRESETS)} (or none: detect it).")


def register_model(
    session: Session,
    storage: LocalStorage,
    settings: Settings,
    upload: Path,
    filename: str | None,
    *,
    name: str | None = None,
    project_id: int | None = None,
    architecture: str | None = None,
    output_stride: int | None = None,
    preset: str | None = None,
    expected_sha256: str | None = None,
) -> tuple[SegModel, Job]:
    """Keep a checkpoint file and queue the worker job that inspects it (the web has no torch)."""
    try:
        if project_id is not None:
            get_project(session, project_id)
        _check_options(architecture, output_stride, preset)
        size = upload.stat().st_size
        if size == 0:
            raise Invalid("The checkpoint file is empty.")
        digest = file_sha256(upload)
        if expected_sha256 and digest != expected_sha256.lower():
            raise Invalid(f"SHA-256 mismatch: expected {expected_sha256}, got {digest}.")
        label = display_filename(filename, "model.pth")
        key = new_key("models", ".pth")
        storage.put_file(upload, key)
    finally:
        upload.unlink(missing_ok=True)
    model = SegModel(
        project_id=project_id,
        name=(name or label).strip()[:200] or label,
        kind="base",
        status="pending",
        architecture=architecture,
        output_stride=output_stride,
        preset=preset,
        storage_key=key,
        filename=label,
        size_bytes=size,
        sha256=digest,
    )
    session.add(model)
    with files_owned_by_rows(session, storage, [key]):
        session.flush()
        job = create_job(session, "register_model", {"model_id": model.id}, project_id, "gpu")
        session.commit()  # here: the file must not outlive a failed commit
    return model, job


def _failed_registration(session: Session, model_id: int) -> SegModel:
    model = get_model(session, model_id)
    if model.kind != "base" or model.status != "failed":
        raise Conflict(
            f"Model {model_id} is {model.status if model.kind == 'base' else 'a fine-tune'}; "
            "only a failed registration can be retried."
        )
    return model


def retry_registration(
    session: Session,
    model_id: int,
    *,
    architecture: str | None = None,
    output_stride: int | None = None,
    preset: str | None = None,
) -> tuple[SegModel, Job]:
    """Check a failed registration's file again with other options (the caller enqueues)."""
    _check_options(architecture, output_stride, preset)
    model = _failed_registration(session, model_id)
    model.architecture, model.output_stride, model.preset = architecture, output_stride, preset
    model.status, model.error, model.classes = "pending", None, None
    job = create_job(session, "register_model", {"model_id": model.id}, model.project_id, "gpu")
    return model, job


def copy_in(storage: LocalStorage, path: Path) -> Path:
    """Copy a local checkpoint into the media temp area (for the CLI)."""
    if not path.is_file():
        raise Invalid(f"{path} is not a file.")
    tmp = storage.temp_path(".pth")
    shutil.copyfile(path, tmp)
    return tmp


def get_model(session: Session, model_id: int) -> SegModel:
    """A model by id, or NotFound."""
    model = session.get(SegModel, model_id)
    if model is None:
        raise NotFound(f"Model {model_id} does not exist.")
    return model


def list_models(
    session: Session, project_id: int | None = None, visible: set[int] | None = None
) -> list[SegModel]:
    """Models usable in a project (its own and shared ones), or all models the user may see."""
    query = select(SegModel).order_by(SegModel.id.desc())
    if visible is not None:
        query = query.where(or_(SegModel.project_id.in_(visible), SegModel.project_id.is_(None)))
    if project_id is not None:
        query = query.where(or_(SegModel.project_id == project_id, SegModel.project_id.is_(None)))
    return list(session.scalars(query))


def rename_model(session: Session, model_id: int, name: str) -> SegModel:
    """Give a model another name (e.g. "fine-tune of job 5" -> what it is for)."""
    model = get_model(session, model_id)
    model.name = checked_name(name, 200, "model")
    session.flush()
    return model


def readable_model(session: Session, model_id: int, reader: User | None) -> SegModel:
    """A model the reader may use: shared, or of a project they can read (admins: every one).

    reader None is a local operator (the CLI), who may use every model. Any other model is
    answered as missing, like a model that does not exist.
    """
    model = get_model(session, model_id)
    if reader is not None and model.project_id is not None:
        if role_in(session, reader, model.project_id) is None:
            raise NotFound(f"Model {model_id} does not exist.")
    return model


def _ready(model: SegModel) -> SegModel:
    if model.status != "ready":
        reason = f"Model {model.id} is not ready ({model.status}): {model.error or ''}"
        raise Invalid(reason.strip())
    return model


def ready_model(session: Session, model_id: int, reader: User | None) -> SegModel:
    """A readable model that finished registration, or a clear error (see readable_model)."""
    return _ready(readable_model(session, model_id, reader))


def request_onnx(session: Session, model_id: int) -> Job:
    """Queue an ONNX export of a ready model."""
    model = _ready(get_model(session, model_id))
    return create_job(session, "export_onnx", {"model_id": model.id}, model.project_id, "gpu")


def onnx_file(session: Session, model_id: int) -> tuple[str, str]:
    """Storage key and download name of a model's ONNX export."""
    model = get_model(session, model_id)
    if not model.onnx_key:
        raise NotFound(f"Model {model_id} has no ONNX export yet; POST .../onnx to make one.")
    return model.onnx_key, model.filename.rsplit(".", 1)[0] + ".onnx"
