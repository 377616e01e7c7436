"""Backup and restore of database rows plus media, portable between SQLite and PostgreSQL."""

import json
import tarfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, func, insert, inspect, select, text

from backend.errors import Conflict, Invalid
from backend.models import Base
from backend.models.base import UTCDateTime

FORMAT = 1
Progress = Callable[[str, int, int], None]


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.scalar(text("SELECT version_num FROM alembic_version"))


def _jsonable(row: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def create_backup(engine: Engine, storage, dest: Path, on_progress: Progress) -> dict:
    """Write a .tar.gz with every table as JSON lines and every media file."""
    tables = Base.metadata.sorted_tables
    keys = list(storage.keys())
    counts = {}
    with tarfile.open(dest, "w:gz") as tar, engine.connect() as conn:
        for i, table in enumerate(tables):
            rows = [_jsonable(dict(r._mapping)) for r in conn.execute(select(table))]
            counts[table.name] = len(rows)
            _add_bytes(tar, f"db/{table.name}.jsonl", "\n".join(json.dumps(r) for r in rows))
            on_progress("tables", i + 1, len(tables))
        for i, key in enumerate(keys):
            tar.add(storage.path(key), arcname=f"media/{key}")
            on_progress("media", i + 1, len(keys))
        manifest = {
            "format": FORMAT,
            "revision": _revision(engine),
            "rows": counts,
            "media": len(keys),
        }
        _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1))
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, content: str) -> None:
    import io

    data = content.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def restore_backup(engine: Engine, storage, source: Path, on_progress: Progress) -> dict:
    """Load a backup into an empty, migrated database and its media storage."""
    with tarfile.open(source, "r:gz") as tar:
        try:
            manifest = json.loads(tar.extractfile("manifest.json").read())
        except KeyError as exc:
            raise Invalid(f"{source} is not a SegTune backup (no manifest.json).") from exc
        if manifest.get("format") != FORMAT:
            raise Invalid(f"Unsupported backup format {manifest.get('format')}.")
        if manifest["revision"] != _revision(engine):
            raise Conflict(
                f"The backup is of schema {manifest['revision']}; the database is at "
                f"{_revision(engine)}. Restore with the SegTune version that made it."
            )
        tables = Base.metadata.sorted_tables
        with engine.begin() as conn:
            if any(conn.scalar(select(func.count()).select_from(t)) for t in tables):
                raise Conflict("The database is not empty; restore needs a fresh one.")
            for i, table in enumerate(tables):
                raw = tar.extractfile(f"db/{table.name}.jsonl").read().decode()
                rows = [_typed(table, json.loads(line)) for line in raw.splitlines() if line]
                if rows:
                    conn.execute(insert(table), rows)
                on_progress("tables", i + 1, len(tables))
            if conn.dialect.name == "postgresql":
                _reset_sequences(conn, tables)
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("media/")]
        for i, member in enumerate(members):
            key = member.name.removeprefix("media/")
            with storage.open_write(key) as fh, tar.extractfile(member) as src:
                while chunk := src.read(1 << 20):
                    fh.write(chunk)
            on_progress("media", i + 1, len(members))
    return manifest


def _typed(table, row: dict) -> dict:
    """Turn ISO strings back into datetimes for timestamp columns."""
    for column in table.columns:
        value = row.get(column.name)
        if value is not None and isinstance(column.type, UTCDateTime):
            row[column.name] = datetime.fromisoformat(value)
    return row


def _reset_sequences(conn, tables) -> None:
    # Restored ids were inserted explicitly; move each id sequence past the largest one.
    for table in tables:
        if "id" in table.columns:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                )
            )
