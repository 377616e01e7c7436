"""Fetching checkpoints from a URL with a SHA-256 check (where the machine has internet)."""

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx

from backend.errors import Invalid, Unavailable

CHUNK = 1 << 20


def download(
    url: str,
    dest: Path,
    expected_sha256: str | None,
    on_progress: Callable[[int, int | None], None] = lambda done, total: None,
    timeout: float = 60.0,
) -> str:
    """Stream url into dest, verifying the digest; on any failure dest is removed."""
    if not url.startswith(("http://", "https://")):
        raise Invalid("Only http(s) URLs can be downloaded.")
    digest = hashlib.sha256()
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise Invalid(f"Download failed: {url} answered HTTP {response.status_code}.")
            total = int(response.headers.get("content-length", 0)) or None
            done = 0
            with open(dest, "wb") as fh:
                for chunk in response.iter_bytes(CHUNK):
                    fh.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    on_progress(done, total)
    except httpx.HTTPError as exc:
        dest.unlink(missing_ok=True)
        raise Unavailable(f"Download failed: {exc}") from exc
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    found = digest.hexdigest()
    if expected_sha256 and found != expected_sha256.lower():
        dest.unlink(missing_ok=True)
        raise Invalid(f"SHA-256 mismatch: expected {expected_sha256}, got {found}.")
    return found
