"""Dataset sources: a checked zip archive or a server-side folder, read entry by entry.

Nothing is ever extracted to a path built from an entry name: entries are read into memory by
name, so a hostile name can only be refused, never written. The checks still refuse absolute
paths, `..`, backslashes, symlinks, encrypted entries and duplicates, because such an archive
was not made for us and the user should hear about it rather than get a partial import.
"""

import os
import re
import stat
import zipfile
import zlib
from pathlib import Path
from typing import Protocol

from backend.errors import Invalid

MAX_ENTRIES = 100_000
MAX_ENTRY_BYTES = 512 * 2**20
# A zip may unpack to at most this many times the upload limit (zip bombs).
UNPACK_FACTOR = 8
_DRIVE = re.compile(r"^[A-Za-z]:")


class Source(Protocol):
    """Files of a dataset: relative '/'-separated names and their bytes."""

    names: list[str]

    def read(self, name: str) -> bytes:
        """The bytes of one listed file."""

    def close(self) -> None:
        """Release the underlying file handles."""


def ignored(name: str) -> bool:
    """Whether a listed file is operating-system clutter (macOS forks, .DS_Store, Thumbs.db)."""
    parts = name.split("/")
    return "__MACOSX" in parts or parts[-1].startswith(".") or parts[-1] == "Thumbs.db"


def unsafe_reason(name: str) -> str | None:
    """Why an entry name cannot be accepted, or None."""
    if not name:
        return "has an empty name"
    if "\\" in name:
        return "uses backslashes as path separators"
    if name.startswith("/") or _DRIVE.match(name):
        return "is an absolute path"
    if ".." in name.split("/"):
        return "points outside the archive (..)"
    if any(ord(ch) < 32 for ch in name):
        return "contains control characters"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    # Unix zips keep st_mode in the high 16 bits of external_attr.
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


class ZipSource:
    """A zip whose central directory passed every safety check."""

    def __init__(self, path: Path, max_upload_bytes: int):
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise Invalid("The upload is not a readable zip archive.") from exc
        try:
            self.infos = self._checked(self.zf.infolist(), max_upload_bytes * UNPACK_FACTOR)
        except BaseException:
            self.zf.close()
            raise
        self.names = sorted(self.infos)

    @staticmethod
    def _checked(infos: list[zipfile.ZipInfo], max_total: int) -> dict[str, zipfile.ZipInfo]:
        if len(infos) > MAX_ENTRIES:
            raise Invalid(f"The zip has {len(infos)} entries; at most {MAX_ENTRIES} are allowed.")
        files: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            reason = unsafe_reason(name)
            if reason is None and _is_symlink(info):
                reason = "is a symbolic link"
            if reason is None and info.flag_bits & 0x1:
                reason = "is encrypted"
            if reason is None and info.file_size > MAX_ENTRY_BYTES:
                reason = f"would unpack to {info.file_size // 2**20} MB (limit 512 MB)"
            if reason is None and name in files:
                reason = "appears twice"
            if reason is not None:
                raise Invalid(f"Zip entry {name!r} {reason}.", entry=name)
            total += info.file_size
            if total > max_total:
                raise Invalid(
                    f"The zip would unpack to more than {max_total // 2**20} MB "
                    f"(at entry {name!r}); refusing it as a possible zip bomb.",
                    entry=name,
                )
            if not info.is_dir() and not ignored(name):
                files[name] = info
        return files

    def read(self, name: str) -> bytes:
        """The bytes of one entry; a damaged entry is reported by name."""
        try:
            # zipfile stops at the declared size and checks the CRC, so the size checks hold.
            with self.zf.open(self.infos[name]) as fh:
                return fh.read()
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            raise Invalid(f"Zip entry {name!r} cannot be read: {exc}.", entry=name) from exc

    def close(self) -> None:
        """Close the archive."""
        self.zf.close()


class FolderSource:
    """The regular files under a server-side directory (for the command line)."""

    def __init__(self, root: Path):
        self.root = root.expanduser().resolve()
        if not self.root.is_dir():
            raise Invalid(f"{root} is not a directory.")
        names = []
        for dirpath, _dirs, filenames in os.walk(self.root):
            for filename in filenames:
                rel = (Path(dirpath) / filename).relative_to(self.root).as_posix()
                if not ignored(rel):
                    names.append(rel)
            if len(names) > MAX_ENTRIES:
                raise Invalid(f"{root} has more than {MAX_ENTRIES} files.")
        self.names = sorted(names)
        self._listed = set(names)

    def read(self, name: str) -> bytes:
        """The bytes of one listed file."""
        if name not in self._listed:
            raise Invalid(f"{name!r} is not a file of {self.root}.", entry=name)
        path = self.root / name
        try:
            if path.stat().st_size > MAX_ENTRY_BYTES:
                raise Invalid(f"{name!r} is larger than 512 MB.", entry=name)
            return path.read_bytes()
        except OSError as exc:
            raise Invalid(f"{name!r} cannot be read: {exc.strerror}.", entry=name) from exc

    def close(self) -> None:
        """Nothing to release."""
