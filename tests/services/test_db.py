"""The SQLite writer queue: writers take turns on a lock held until the database committed."""

import fcntl
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.exc import OperationalError

from backend.db import SQLITE_POOL, begin_write, make_engine, make_sessionmaker


def _lock_is_taken(path) -> bool:
    # flock locks belong to an open file description: a second open() contends like a stranger.
    with open(path, "rb+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def test_writer_lock_is_held_until_the_commit_has_happened(tmp_path, monkeypatch):
    held = []
    real_commit = SQLiteDialect_pysqlite.do_commit

    def spying_commit(self, connection):
        held.append(_lock_is_taken(tmp_path / "app.db-writer.lock"))
        real_commit(self, connection)

    monkeypatch.setattr(SQLiteDialect_pysqlite, "do_commit", spying_commit)
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    assert held == [True]
    assert not _lock_is_taken(tmp_path / "app.db-writer.lock")  # released afterwards
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))  # a read never takes the lock
    assert held == [True, False]


def test_begin_write_takes_the_writer_lock_before_anything_is_written(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    lock = tmp_path / "app.db-writer.lock"
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        session.execute(text("SELECT count(*) FROM t"))  # a read first is fine
        begin_write(session)
        assert _lock_is_taken(lock)
        session.execute(text("INSERT INTO t VALUES (1)"))
        begin_write(session)  # already the writer: nothing to do
        session.commit()
        assert not _lock_is_taken(lock)
        begin_write(session)
        session.rollback()
        assert not _lock_is_taken(lock)
        assert session.scalar(text("SELECT count(*) FROM t")) == 1
    engine.dispose()


def test_concurrent_writers_all_land(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))

    def write(start: int) -> None:
        for i in range(start, start + 25):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": i})

    threads = [threading.Thread(target=write, args=(n * 100,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM t")) == 200
    # A failed write releases the lock too (rollback), so the next writer is not stuck.
    with pytest.raises(OperationalError), engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        conn.execute(text("INSERT INTO missing VALUES (1)"))
    assert not _lock_is_taken(tmp_path / "app.db-writer.lock")


def test_more_sessions_than_the_pool_holds_never_wait(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    connections = [engine.connect() for _ in range(SQLITE_POOL + 5)]
    assert all(conn.scalar(text("SELECT 1")) == 1 for conn in connections)
    for conn in connections:
        conn.close()


def test_in_memory_database_works():
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert conn.scalar(text("SELECT count(*) FROM t")) == 1
