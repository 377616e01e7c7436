"""Local media storage: atomic writes and the sweep of temporary files left by a kill."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.storage import LocalStorage


def test_failed_stream_leaves_neither_key_nor_temp(tmp_path):
    storage = LocalStorage(tmp_path)
    with pytest.raises(RuntimeError), storage.open_write("a/b.png") as fh:
        fh.write(b"half")
        raise RuntimeError("client went away")
    assert not storage.path("a/b.png").exists()
    assert storage.temp_files() == []


def _owner_process(root) -> tuple[subprocess.Popen, list[Path]]:
    """Another process holding two temporary files of the storage (like an upload in flight)."""
    code = (
        "import sys, time; from pathlib import Path; from backend.storage import LocalStorage; "
        "s = LocalStorage(Path(sys.argv[1])); "
        "print(s.temp_path(), s.temp_path('.mp4'), flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE)
    return proc, [Path(p) for p in proc.stdout.readline().decode().split()]


def test_sweep_removes_temp_files_of_dead_processes_whatever_their_age(tmp_path):
    storage = LocalStorage(tmp_path)
    other, theirs = _owner_process(tmp_path)
    try:
        mine = storage.temp_path(".zip")
        legacy_old, legacy_new = storage.tmp_dir / "tmpold", storage.tmp_dir / "tmpnew"
        legacy_old.write_bytes(b"x")
        legacy_new.write_bytes(b"x")
        hour_ago = time.time() - 3700
        for path in (*theirs, mine, legacy_old):
            os.utime(path, (hour_ago, hour_ago))  # old, but their processes live
        storage.put_bytes("k/v.png", b"kept")
        assert storage.sweep_temp() == 1  # only the old file of a version without owners
        assert all(p.exists() for p in (*theirs, mine, legacy_new)) and not legacy_old.exists()
        os.kill(other.pid, signal.SIGKILL)
        other.wait()
        assert sorted(storage.stale_temp()) == sorted(theirs)  # listing deletes nothing
        assert all(p.exists() for p in theirs)
        assert storage.sweep_temp() == 2
        assert not any(p.exists() for p in theirs) and mine.exists()
        # The dead process's lock file went with its files; this process's stays.
        locks = [p.name for p in storage.tmp_dir.iterdir() if p.name.startswith("owner-")]
        assert locks == [f"owner-{mine.name.split('-')[0]}.lock"]
        assert storage.path("k/v.png").read_bytes() == b"kept"
    finally:
        other.kill()
        other.wait()


def test_a_forked_child_owns_its_own_temp_files(tmp_path):
    storage = LocalStorage(tmp_path)
    parent_file = storage.temp_path()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one temp file under its own token, then it dies at once
        os.write(write, str(storage.temp_path()).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_file = Path(os.read(read, 4096).decode())
    assert child_file.name.split("-")[0] != parent_file.name.split("-")[0]
    assert storage.stale_temp() == [child_file]
