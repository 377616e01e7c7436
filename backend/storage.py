"""Media storage behind one interface; keys are generated, never taken from user input."""

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def new_key(prefix: str, suffix: str) -> str:
    """A fresh storage key such as 'frames/3f/3f2a....png'."""
    token = uuid.uuid4().hex
    return f"{prefix}/{token[:2]}/{token}{suffix}"


class AtomicWrites:
    """Streaming writes on top of temp_path() + put_file(): a key appears whole or not at all."""

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh local temporary file."""
        raise NotImplementedError

    def put_file(self, src: Path, key: str) -> None:
        """Move a finished temporary file into place under a key."""
        raise NotImplementedError

    def sweep_temp(self, older_than_s: float = 3600.0) -> int:
        """Delete temporary files a killed process left behind; returns how many."""
        cutoff, removed = time.time() - older_than_s, 0
        for path in self.tmp_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    @contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        """Stream into a key; the key appears only if the block finishes without error."""
        tmp = self.temp_path()
        try:
            with open(tmp, "wb") as fh:
                yield fh
            self.put_file(tmp, key)
        finally:
            tmp.unlink(missing_ok=True)


class LocalStorage(AtomicWrites):
    """Media files in a directory; every write lands atomically via rename."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = self.root / ".tmp"
        self.tmp_dir.mkdir(exist_ok=True)

    def path(self, key: str) -> Path:
        """Local path of a key (keys never contain '..')."""
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / key

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh temporary file path on the same filesystem as the media."""
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, suffix=suffix)
        os.close(fd)
        return Path(name)

    def put_file(self, src: Path, key: str) -> None:
        """Move a finished temporary file into place under a key."""
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write bytes under a key atomically (durable before the key appears)."""
        fd, name = tempfile.mkstemp(dir=self.tmp_dir)
        try:
            with open(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            self.put_file(Path(name), key)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    def open_read(self, key: str) -> BinaryIO:
        """Open a stored file for reading."""
        return open(self.path(key), "rb")

    def exists(self, key: str) -> bool:
        """Whether a key is stored."""
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove a key if present."""
        self.path(key).unlink(missing_ok=True)

    def delete_tree(self, prefix: str) -> None:
        """Remove every key under a prefix."""
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def keys(self) -> Iterator[str]:
        """Every stored key (temporary files excluded)."""
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and self.tmp_dir not in path.parents:
                yield path.relative_to(self.root).as_posix()


def make_storage(settings) -> LocalStorage:
    """The media storage the settings name: a local directory, or an S3-compatible bucket."""
    if settings.s3_bucket:
        from backend.storage_s3 import S3Storage

        return S3Storage(
            settings.s3_bucket,
            settings.data_path / "media-cache",
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            prefix=settings.s3_prefix,
        )
    return LocalStorage(settings.data_path / "media")
