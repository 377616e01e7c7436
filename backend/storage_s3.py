"""S3-compatible media storage, so workers on other machines need no shared filesystem."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from backend.storage import AtomicWrites

# Multipart transfers stream from and to disk in 16 MB parts: nothing is held whole in memory.
TRANSFER = TransferConfig(multipart_threshold=16 * 2**20, multipart_chunksize=16 * 2**20)


class S3Storage(AtomicWrites):
    """Objects in a bucket; reads go through a local cache because keys are write-once."""

    def __init__(
        self,
        bucket: str,
        cache_dir: Path,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "",
    ):
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region)
        self.cache = cache_dir.resolve()
        self.tmp_dir = self.cache / ".tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def _name(self, key: str) -> str:
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def path(self, key: str) -> Path:
        """A local copy of the object (downloaded once, streamed to disk)."""
        local = self.cache / key
        if not local.is_file():
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.temp_path()
            try:
                self.client.download_file(self.bucket, self._name(key), str(tmp), Config=TRANSFER)
            except ClientError as exc:
                tmp.unlink(missing_ok=True)
                raise FileNotFoundError(key) from exc
            os.replace(tmp, local)
        return local

    def put_file(self, src: Path, key: str) -> None:
        """Upload a finished local file (multipart, streamed) and keep it as the cached copy."""
        self.client.upload_file(str(src), self.bucket, self._name(key), Config=TRANSFER)
        local = self.cache / key
        local.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, local)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Upload bytes under a key."""
        tmp = self.temp_path()
        tmp.write_bytes(data)
        self.put_file(tmp, key)

    def open_read(self, key: str) -> BinaryIO:
        """Open the object for reading (through the local cache)."""
        return open(self.path(key), "rb")

    def exists(self, key: str) -> bool:
        """Whether the object exists."""
        if (self.cache / key).is_file():
            return True
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
            return True
        except ClientError:
            return False

    def delete(self, key: str) -> None:
        """Remove an object and its cached copy."""
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        (self.cache / key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        """Every stored key."""
        for key, _ in self.listing():
            yield key

    def listing(self) -> Iterator[tuple[str, float]]:
        """Every stored key with its modification time (seconds since the epoch)."""
        paginator = self.client.get_paginator("list_objects_v2")
        start = self.prefix + "/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
            for obj in page.get("Contents", []):
                yield obj["Key"][len(start) :], obj["LastModified"].timestamp()

    def delete_tree(self, prefix: str) -> None:
        """Remove every object under a prefix."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._name(prefix) + "/"):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
        shutil.rmtree(self.cache / prefix, ignore_errors=True)

    def stale_cache(self, live: set[str]) -> list[Path]:
        """Cached copies of objects deleted since (by another machine, or behind our back)."""
        stale = []
        for path in sorted(self.cache.rglob("*")):
            if path.is_file() and self.tmp_dir not in path.parents:
                if path.relative_to(self.cache).as_posix() not in live:
                    stale.append(path)
        return stale
