"""Media storage behind one interface; keys are generated, never taken from user input."""

import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

# Temporary files are named "<owner token>-<random><suffix>"; the owner token's lock file
# "owner-<token>.lock" is flocked by its process for as long as it lives, so a sweeper in any
# process (or container sharing the volume) can tell a live upload from a killed one.
OWNER_LOCK = "owner-{}.lock"
TOKEN_CHARS = frozenset("0123456789abcdef")
TOKEN_LEN = 16
LEGACY_AGE_S = 3600.0  # temp files without an owner token (older versions) are junk after this
_owners: dict[tuple[Path, int], "_Owner"] = {}
_owners_lock = threading.Lock()


def new_key(prefix: str, suffix: str) -> str:
    """A fresh storage key such as 'frames/3f/3f2a....png'."""
    token = uuid.uuid4().hex
    return f"{prefix}/{token[:2]}/{token}{suffix}"


class _Owner:
    """One process's claim on a temp folder: an exclusive flock held until the process ends."""

    def __init__(self, tmp_dir: Path):
        while True:
            token = uuid.uuid4().hex[:TOKEN_LEN]
            path = tmp_dir / OWNER_LOCK.format(token)
            # Readable by all: a sweeper running as another user (a container) must lock it.
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o644)
            # A sweeper may have taken the fresh file for a dead owner's and unlinked it before
            # this lock: then the lock holds an unlinked inode, and a new token is drawn.
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.path, self.token, self.fd = path, token, fd
            if self.valid():
                return
            os.close(fd)

    def valid(self) -> bool:
        """Whether the lock file this process holds is still the one in the folder."""
        try:
            return os.stat(self.path).st_ino == os.fstat(self.fd).st_ino
        except FileNotFoundError:
            return False


def _owner(tmp_dir: Path) -> "_Owner":
    # Per process: a forked child must not pass off its files as its parent's. A lock file
    # removed by hand (or a wiped folder) is replaced rather than trusted.
    with _owners_lock:
        key = (tmp_dir, os.getpid())
        owner = _owners.get(key)
        if owner is None or not owner.valid():
            if owner is not None:
                os.close(owner.fd)
            owner = _owners[key] = _Owner(tmp_dir)
        return owner


def _forget_inherited_owners() -> None:
    global _owners_lock
    _owners_lock = threading.Lock()  # another thread may have held it at the fork
    for key in [k for k in _owners if k[1] != os.getpid()]:
        os.close(_owners.pop(key).fd)  # the parent still holds its lock through its own copy


os.register_at_fork(after_in_child=_forget_inherited_owners)


def is_owner_lock(name: str) -> bool:
    """Whether a file name in the temp folder is a process's owner lock, not a temp file."""
    return name.startswith("owner-") and name.endswith(".lock")


def _token(name: str) -> str | None:
    token = name.split("-", 1)[0]
    if "-" in name and len(token) == TOKEN_LEN and set(token) <= TOKEN_CHARS:
        return token
    return None


class AtomicWrites:
    """Streaming writes on top of temp_path() + put_file(): a key appears whole or not at all."""

    tmp_dir: Path

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh local temporary file, owned by this process (see sweep_temp)."""
        prefix = f"{_owner(self.tmp_dir).token}-"
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix=prefix, suffix=suffix)
        os.close(fd)
        return Path(name)

    def put_file(self, src: Path, key: str) -> None:
        """Move a finished temporary file into place under a key."""
        raise NotImplementedError

    def _owner_gone(self, token: str, seen: dict[str, bool], remove: bool) -> bool:
        if token not in seen:
            seen[token] = True  # no lock file: its owner is gone (or never got this far)
            lock = self.tmp_dir / OWNER_LOCK.format(token)
            try:
                fd = os.open(lock, os.O_RDONLY)
            except FileNotFoundError:
                return True
            except PermissionError:  # cannot tell: keep its files
                seen[token] = False
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if remove:  # while holding it, so no new owner can adopt the file
                    with contextlib.suppress(PermissionError):
                        lock.unlink()
            except BlockingIOError:
                seen[token] = False
            finally:
                os.close(fd)
        return seen[token]

    def stale_temp(self, remove: bool = False) -> list[Path]:
        """Temporary files whose process is gone, whatever their age (deleted if remove)."""
        seen: dict[str, bool] = {}
        stale = []
        for path in sorted(self.tmp_dir.iterdir()):
            name = path.name
            is_lock = is_owner_lock(name)
            token = name[len("owner-") : -len(".lock")] if is_lock else _token(name)
            with contextlib.suppress(FileNotFoundError):
                if token is not None:
                    gone = self._owner_gone(token, seen, remove)
                else:
                    gone = path.is_file() and path.stat().st_mtime < time.time() - LEGACY_AGE_S
                if gone and not is_lock:
                    if remove:
                        try:
                            path.unlink()
                        except PermissionError:  # another user's, in a shared folder: stays
                            continue
                    stale.append(path)
        return stale

    def temp_files(self) -> list[Path]:
        """Every temporary file in the folder, live or stale (owner locks left out)."""
        return sorted(p for p in self.tmp_dir.iterdir() if not is_owner_lock(p.name))

    def sweep_temp(self) -> int:
        """Delete the temporary files of processes that are gone; returns how many."""
        return len(self.stale_temp(remove=True))

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

    def stale_cache(self, live: set[str]) -> list[Path]:
        """Local copies of keys that are no longer stored (only a caching storage has any)."""
        return []


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

    def put_file(self, src: Path, key: str) -> None:
        """Move a finished temporary file into place under a key."""
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write bytes under a key atomically (durable before the key appears)."""
        tmp = self.temp_path()
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            self.put_file(tmp, key)
        except BaseException:
            tmp.unlink(missing_ok=True)
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
        for key, _ in self.listing():
            yield key

    def listing(self) -> Iterator[tuple[str, float]]:
        """Every stored key with its modification time (seconds since the epoch)."""
        for path in sorted(self.root.rglob("*")):
            with contextlib.suppress(FileNotFoundError):
                if path.is_file() and self.tmp_dir not in path.parents:
                    yield path.relative_to(self.root).as_posix(), path.stat().st_mtime


class RecordingStorage:
    """A storage that remembers the keys and temporary files written through it.

    A job's body gets one, so that when the job fails or is cancelled the runner can delete
    what this run wrote and no row refers to. Everything else passes straight through.
    """

    def __init__(self, inner: LocalStorage):
        self.inner = inner
        self.written: list[str] = []
        self.temps: list[Path] = []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh temporary file, removed when the job ends if it is still there."""
        path = self.inner.temp_path(suffix)
        self.temps.append(path)
        return path

    def put_file(self, src: Path, key: str) -> None:
        """Move a finished temporary file into place under a key (recorded first)."""
        self.written.append(key)
        self.inner.put_file(src, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write bytes under a key (recorded first)."""
        self.written.append(key)
        self.inner.put_bytes(key, data)

    @contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        """Stream into a key (recorded first)."""
        self.written.append(key)
        with self.inner.open_write(key) as fh:
            yield fh


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
