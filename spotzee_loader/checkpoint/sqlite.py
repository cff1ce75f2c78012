"""The embedded checkpoint store: one SQLite file per user, or ``:memory:`` for dry runs.

WAL journal: a killed writer never corrupts it. A job is locked with ``flock`` on a file beside the store,
which the OS releases even after ``kill -9``; the file is removed by whoever finds it unlocked, so none pile up.
The store holds rejected rows: it is 0600 (SQLite gives its -wal and -shm files the same mode) in a 0700 folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..config import RetrySettings, default_checkpoint_path
from ..errors import ConfigError, JobLockedError
from ..files import open_private, private_folder
from .base import DDL, CheckpointStore
from .records import lock_id


def open_sqlite(path: str, timeout_s: float) -> sqlite3.Connection:
    """A connection to the store file in WAL mode, its tables made if missing.

    Loads starting together on one fresh file (two CLI runs, parallel slices) race to switch it to WAL and make
    the tables: the DDL takes the write lock up front (BEGIN IMMEDIATE waits; a statement upgrading a read lock
    gets "database is locked" at once), and a still-locked open is tried again until ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        db = sqlite3.connect(path, isolation_level=None, timeout=timeout_s, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives any process kill; only power loss may drop the last
            # acks, which then resend under the same idempotency keys.
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(f"BEGIN IMMEDIATE;\n{DDL}\nCOMMIT;")
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class SQLiteCheckpointStore(CheckpointStore):
    """The embedded store: one SQLite file (``:memory:`` for dry runs)."""

    def __init__(self, path: str, retry_budget_s: float = RetrySettings.budget_s) -> None:
        self.held = set()
        self.location = path
        self._watch_outages(retry_budget_s)
        self._lock_file: int | None = None
        self._lock_name = ""
        if path != ":memory:":
            try:
                private_folder(Path(path).parent, own=Path(path).parent == default_checkpoint_path().parent)
                os.close(open_private(Path(path), os.O_RDWR | os.O_CREAT))
            except OSError as exc:
                raise ConfigError(f"cannot create the checkpoint store {path} ({exc.strerror}).") from None
        try:
            self._db = open_sqlite(path, timeout_s=30)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the checkpoint store {path} ({exc}).") from None

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def _reconnect(self) -> None:
        pass  # a busy file needs no new connection: the lock holder lets go, the same connection goes on

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, tuple(params)).fetchall()

    def _run_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._db.executemany(sql, rows)

    def _transaction(self) -> AbstractContextManager[None]:
        return _SQLiteTransaction(self._db)

    def _lock(self, job: str) -> None:
        if self.location == ":memory:":
            return
        path = self._lock_path(job)
        while True:
            fd = open_private(Path(path), os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise JobLockedError(
                    f"job {job!r} is being run by another process right now; wait for it to finish "
                    "(or stop it) before running it again."
                ) from None
            if _still_named(fd, path):
                self._lock_file, self._lock_name = fd, path
                return
            os.close(fd)  # locked a file its holder removed on release: lock the one now at that name

    def _lock_path(self, job: str) -> str:
        return f"{self.location}.{lock_id(job) & 0xFFFFFFFFFFFF:012x}.lock"

    def is_running(self, job: str) -> bool:
        try:
            fd = os.open(self._lock_path(job), os.O_RDONLY)
        except OSError:
            return False  # never locked on this machine
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing releases a lock taken just to look
        return False

    def rejects(self, job: str) -> Iterator[bytes]:
        cursor = self._db.execute("SELECT record FROM spotzee_rejects WHERE job = ? ORDER BY row_no, seq", (job,))
        for (record,) in cursor:
            yield record.encode()

    def close(self) -> None:
        self._db.close()
        if self._lock_file is not None:
            # Removed while still locked: a runner that opened it meanwhile sees the name gone and tries again.
            with contextlib.suppress(OSError):
                os.unlink(self._lock_name)
            os.close(self._lock_file)
            self._lock_file = None
        if self.location != ":memory:":
            _remove_unlocked(self.location)


def _still_named(fd: int, path: str) -> bool:
    """Whether the file ``fd`` locks is still the one at ``path`` (its holder unlinks it when done)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _remove_unlocked(store: str) -> None:
    """Remove the lock files of this store that no process holds: left by runs killed before their release."""
    for path in glob.glob(glob.escape(store) + ".*.lock"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _still_named(fd, path):
                os.unlink(path)
        except OSError:
            pass  # held by a running load, or gone already
        finally:
            os.close(fd)


class _SQLiteTransaction(AbstractContextManager[None]):
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:  # a failed COMMIT of a full disk has already rolled back
            self._db.execute("ROLLBACK")
