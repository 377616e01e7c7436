"""Database engine and session factories (nothing is connected at import time)."""

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_POOL = 40  # anyio's default thread-pool size: every request thread can hold one


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
    """Serialises SQLite writers on locks instead of SQLite's busy-sleep.

    SQLite allows one writer; its busy handler makes waiting writers sleep with growing
    back-off, which turns a burst of concurrent saves into multi-second tail latencies.
    Taking a lock before the first write of a transaction (and releasing it at commit or
    rollback) hands the write lock over in order, without sleeping. Reads never wait. Threads
    queue on a thread lock; processes (several web workers, job workers) on an flock of a file
    beside the database, which the kernel releases if its holder dies.
    """

    def __init__(self, timeout: float, lock_path: Path | None):
        # A plain Lock, not an RLock: a transaction may commit on another thread than the one
        # that wrote (FastAPI runs dependencies and routes on pool threads).
        self.lock, self.timeout, self.lock_path = threading.Lock(), timeout, lock_path
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        # A forked child must open its own file: an inherited descriptor shares the lock.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def _lock_file(self, deadline: float) -> None:
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError("another process held the database for too long") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.0005)

    def before_execute(self, conn, _cursor, statement, _params, _context, _many) -> None:
        if not conn.info.get("writer") and not statement.lstrip()[:6].upper().startswith(
            ("SELECT", "PRAGMA")
        ):
            deadline = time.monotonic() + self.timeout
            if not self.lock.acquire(timeout=self.timeout):
                raise TimeoutError("another writer held the database for too long")
            if self.lock_path is not None:
                try:
                    self._lock_file(deadline)
                except BaseException:
                    self.lock.release()
                    raise
            conn.info["writer"] = True

    def end(self, proxied_connection) -> None:
        try:
            info = proxied_connection.info
        except NotImplementedError:  # the dialect's first-connect probe: never a writer
            return
        if info.pop("writer", False):
            if self.lock_path is not None:
                fcntl.flock(self._file(), fcntl.LOCK_UN)
            self.lock.release()

    def wrap(self, dialect) -> None:
        """Release the lock once the database has committed or rolled back, not before.

        SQLAlchemy's commit/rollback events fire before the DBAPI call; a lock released there
        let the next writer meet SQLite's own lock and its busy back-off sleeps (tens of ms).
        """
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(proxied_connection) -> None:
            try:
                commit(proxied_connection)
            finally:
                self.end(proxied_connection)

        def do_rollback(proxied_connection) -> None:
            try:
                rollback(proxied_connection)
            finally:
                self.end(proxied_connection)

        dialect.do_commit, dialect.do_rollback = do_commit, do_rollback


def make_engine(url: str) -> Engine:
    """Create an engine for a database URL, tuned for SQLite or PostgreSQL."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        database = make_url(url).database
        in_memory = not database or database == ":memory:"
        # A pool as large as the thread pool: a request beyond pool_size would otherwise open
        # (and run the pragmas on) a fresh connection and close it again afterwards. It never
        # makes anyone wait: a session waiting for the event loop may hold a connection while
        # every thread waits for one, so extra connections are opened (and closed) instead.
        pool = {} if in_memory else {"pool_size": SQLITE_POOL, "max_overflow": -1}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        lock_path = None if in_memory else Path(database + "-writer.lock")
        writers = _WriterQueue(timeout=30, lock_path=lock_path)
        event.listen(engine, "before_cursor_execute", writers.before_execute)
        writers.wrap(engine.dialect)
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


@contextmanager
def files_owned_by_rows(session: Session, storage, keys: list[str]) -> Iterator[None]:
    """Run a block that writes rows owning stored files; on failure roll back, delete the files.

    A database that fails (e.g. full) must not leave files no row will ever refer to.
    """
    try:
        yield
    except BaseException:
        session.rollback()
        for key in keys:
            storage.delete(key)
        raise


def begin_write(session: Session) -> None:
    """On SQLite, make this transaction the database's writer now, before it reads.

    Reads that follow then see every committed write, and no other writer (thread or process)
    comes in between until the commit: a check-then-write is atomic. PostgreSQL has row locks
    (SELECT ... FOR UPDATE) for that; there this does nothing.
    """
    conn = session.connection()
    # A transaction that has written already holds the writer lock, and SQLite began its
    # transaction only then (reads before a first write run outside one), so it is up to date.
    if conn.dialect.name == "sqlite" and not conn.info.get("writer"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the writer queue takes its locks first


def _lock_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:id)")


def lock_names(session: Session, names: list[str]) -> None:
    """Serialise this transaction, until it ends, against every other one locking these names.

    For a check-then-write on rows that may not exist yet. PostgreSQL: transaction-scoped
    advisory locks, taken in one fixed order so that two callers never deadlock. SQLite: the
    writer lock (begin_write), which serialises everything.
    """
    if session.get_bind().dialect.name == "sqlite":
        begin_write(session)
        return
    for lock_id in sorted({_lock_id(name) for name in names}):
        session.execute(_ADVISORY_LOCK, {"id": lock_id})


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
