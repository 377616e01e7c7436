"""Local media storage: atomic writes and the sweep of temporary files left by a kill."""

import os
import time

import pytest

from backend.storage import LocalStorage


def test_failed_stream_leaves_neither_key_nor_temp(tmp_path):
    storage = LocalStorage(tmp_path)
    with pytest.raises(RuntimeError), storage.open_write("a/b.png") as fh:
        fh.write(b"half")
        raise RuntimeError("client went away")
    assert not storage.path("a/b.png").exists()
    assert list(storage.tmp_dir.iterdir()) == []


def test_sweep_removes_only_stale_temp_files(tmp_path):
    storage = LocalStorage(tmp_path)
    stale, fresh = storage.temp_path(), storage.temp_path()
    hour_ago = time.time() - 3700
    os.utime(stale, (hour_ago, hour_ago))
    storage.put_bytes("k/v.png", b"kept")
    assert storage.sweep_temp() == 1
    assert not stale.exists() and fresh.exists()  # a fresh one may belong to a live upload
    assert storage.path("k/v.png").read_bytes() == b"kept"
