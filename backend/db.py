"""Database engine and session factories (nothing is connected at import time)."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the web process read while a worker writes; the busy timeout makes
    # concurrent writers wait instead of failing with "database is locked".
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class _WriterQueue:
    """Serialises one process's SQLite writers on a lock instead of SQLite's busy-sleep.

    SQLite allows one writer; its busy handler makes waiting writers sleep with growing
    back-off, which turns a burst of concurrent saves into multi-second tail latencies.
    Taking a process-wide lock before the first write of a transaction (and releasing it at
    commit or rollback) hands the write lock over in order, without sleeping. Reads never
    wait. Other processes (workers) still meet SQLite's busy timeout.
    """

    def __init__(self, timeout: float):
        # A plain Lock, not an RLock: a transaction may commit on another thread than the one
        # that wrote (FastAPI runs dependencies and routes on pool threads).
        self.lock, self.timeout = threading.Lock(), timeout

    def before_execute(self, conn, _cursor, statement, _params, _context, _many) -> None:
        if not conn.info.get("writer") and not statement.lstrip()[:6].upper().startswith(
            ("SELECT", "PRAGMA")
        ):
            if not self.lock.acquire(timeout=self.timeout):
                raise TimeoutError("another writer held the database for too long")
            conn.info["writer"] = True

    def end(self, conn) -> None:
        if conn.info.pop("writer", False):
            self.lock.release()


def make_engine(url: str) -> Engine:
    """Create an engine for a database URL, tuned for SQLite or PostgreSQL."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        writers = _WriterQueue(timeout=30)
        event.listen(engine, "before_cursor_execute", writers.before_execute)
        event.listen(engine, "commit", writers.end)
        event.listen(engine, "rollback", writers.end)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str):
    """Alembic configuration pointing at the repository's migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """Apply migrations up to a revision."""
    from alembic import command

    command.upgrade(alembic_config(settings.effective_database_url), revision)
