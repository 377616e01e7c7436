"""Streaming multipart parsing: file parts go straight to temporary files, never into memory."""

import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from backend.api.limits import MULTIPART, refusal
from backend.config import Settings
from backend.errors import Invalid, TooLarge, is_disk_full
from backend.storage import LocalStorage


@dataclass
class UploadedFile:
    """One received file part: where it was spooled and the client's file name."""

    field: str
    filename: str | None
    path: Path
    size: int = 0
    sha256: str = ""  # of the received bytes, hashed as they stream in


MAX_FIELD_BYTES = 64 * 1024
# Text fields are kept in memory: together at most this much (however many the form holds).
MAX_TEXT_BYTES = 2**20
BINARY = {"type": "string", "format": "binary"}


def multipart_body(properties: dict, required: list[str]) -> dict:
    """OpenAPI `openapi_extra` for a route that parses its multipart body itself (streamed)."""
    schema = {"type": "object", "properties": properties, "required": required}
    return {
        "requestBody": {"content": {"multipart/form-data": {"schema": schema}}, "required": True}
    }


@dataclass
class _State:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytes = b""
    header_value: bytes = b""
    current: UploadedFile | None = None
    handle: object = None
    hasher: object = None
    text_field: str | None = None
    parts: int = 0
    total: int = 0
    text_total: int = 0


async def receive_files(
    request: Request,
    storage: LocalStorage,
    fields: set[str],
    settings: Settings,
    texts: dict[str, str] | None = None,
) -> list[UploadedFile]:
    """Spool the named file fields of a multipart request to disk, enforcing the upload limits.

    Every part counts against MAX_UPLOAD_MB and MAX_FORM_FIELDS, text fields included; small
    non-file fields are collected into `texts` when a dict is given.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise Invalid("Send the file as multipart/form-data.")
    limit_bytes, max_parts = settings.max_upload_bytes, settings.max_form_fields
    files: list[UploadedFile] = []
    state = _State()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        if state.header_value:
            state.headers[state.header_field.lower()] = state.header_value
            state.header_field, state.header_value = b"", b""
        state.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.header_value += data[start:end]

    def on_headers_finished() -> None:
        state.parts += 1
        if state.parts > max_parts:
            raise TooLarge(f"The form has more than {max_parts} fields (SEGTUNE_MAX_FORM_FIELDS).")
        state.headers[state.header_field.lower()] = state.header_value
        _, disp = parse_options_header(state.headers.get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        raw = disp.get(b"filename")
        if name in fields and raw is not None:
            state.current = UploadedFile(name, raw.decode("utf-8", "replace"), storage.temp_path())
            files.append(state.current)  # before opening: a failed open leaves no temp file
            state.handle = open(state.current.path, "wb")
            state.hasher = hashlib.sha256()
        elif texts is not None and raw is None:
            if name in texts:  # which copy counts would be a guess (a project_id, say)
                raise Invalid(f"The form field {name!r} was sent more than once.")
            state.text_field = name
            texts[name] = ""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        # Every part's bytes count, also those of fields nobody keeps.
        state.total += end - start
        if state.total > limit_bytes:
            raise TooLarge(refusal(settings, MULTIPART))
        if state.text_field is not None and texts is not None:
            state.text_total += end - start
            if state.text_total > MAX_TEXT_BYTES:
                held = MAX_TEXT_BYTES // 2**20
                raise TooLarge(f"The form's text fields hold more than {held} MB together.")
            texts[state.text_field] += data[start:end].decode("utf-8", "replace")
            if len(texts[state.text_field]) > MAX_FIELD_BYTES:
                raise Invalid(f"The form field {state.text_field!r} is too long.")
        if state.current is not None:
            chunk = data[start:end]
            state.handle.write(chunk)
            state.hasher.update(chunk)
            state.current.size += end - start

    def on_part_end() -> None:
        if state.handle is not None:
            state.handle.close()
            state.current.sha256 = state.hasher.hexdigest()
        state.current, state.handle, state.hasher, state.text_field = None, None, None, None
        state.headers, state.header_field, state.header_value = {}, b"", b""

    parser = MultipartParser(
        options[b"boundary"],
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except BaseException as exc:
        if state.handle is not None:
            # Closing flushes, which fails again on a full disk; the file goes either way.
            with contextlib.suppress(OSError):
                state.handle.close()
        discard(files)
        # A full disk is not the client's fault: the app answers 507 for it.
        if isinstance(exc, TooLarge | Invalid) or is_disk_full(exc):
            raise
        if isinstance(exc, Exception):
            raise Invalid("The multipart body is malformed.") from exc
        raise
    return files


def discard(files: list[UploadedFile]) -> None:
    """Delete spooled files that will not be used."""
    for item in files:
        item.path.unlink(missing_ok=True)
