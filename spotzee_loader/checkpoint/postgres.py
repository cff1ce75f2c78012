"""The shared checkpoint store in PostgreSQL, for Airflow workers on different machines.

Same tables and semantics as the embedded store (``checkpoint_store.sql``, ``base.py``). A job is held with a
session-level advisory lock on a dedicated connection: a second runner of the same job is refused,
and a killed runner's lock disappears with its connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..config import RetrySettings
from ..errors import CheckpointUnavailableError, ConfigError, JobLockedError
from ..outages import first_contact
from ..redaction import redact
from .base import DDL, CheckpointStore
from .records import lock_id

log = logging.getLogger(__name__)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "a PostgreSQL checkpoint store needs psycopg: pip install 'spotzee-loader[postgres]'."
        ) from None
    return psycopg


def plain_url(url: str) -> str:
    """A libpq URL from a SQLAlchemy-style one (``postgresql+psycopg://`` -> ``postgresql://``)."""
    scheme, _, rest = url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgres") else url


LOCK_CHECK_S = 30.0
"""How often a thread asks the lock connection whether it is still there (more often when the server cuts idle
sessions sooner: a third of its ``idle_session_timeout``)."""
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 60, "keepalives_interval": 10, "keepalives_count": 6}


class PostgresCheckpointStore(CheckpointStore):
    """Checkpoints in PostgreSQL tables; one connection for data, one for the job's advisory lock."""

    _lock_check_s = LOCK_CHECK_S

    def __init__(self, url: str, retry_budget_s: float = RetrySettings.budget_s) -> None:
        psycopg = _psycopg()
        self.held = set()
        self.location = redact(url)
        self._url = plain_url(url)
        self._watch_outages(retry_budget_s)
        self._lock_conn: Any = None
        self._lock_guard = threading.RLock()
        """Held by whoever uses the lock connection: the run, and the thread keeping the connection alive."""
        self._lock_lost = False
        self._closing = threading.Event()
        self._keeper: threading.Thread | None = None

        try:
            self._db = first_contact(
                lambda: _with_tables(self._connect("data")),
                f"the checkpoint store {self.location}",
                retry_budget_s,
                (psycopg.Error,),
                (CheckpointUnavailableError, f"the checkpoint store {self.location}", "done"),
            )
        except psycopg.Error as exc:
            raise ConfigError(
                f"cannot open the PostgreSQL checkpoint store {self.location} ({str(exc).strip()})."
            ) from None

    def _connect(self, purpose: str) -> Any:
        return _open(self._url, purpose)

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (_psycopg().Error,)

    def _reconnect(self) -> None:
        """A new data connection; the job locks again if their connection went too (a restart, a failover).

        A lock that could not be taken back belongs to another worker now: this run stops rather than send the
        same job twice.
        """
        self._db.close()
        self._db = self._connect("data")
        with self._lock_guard:
            if self._lock_conn is not None and (self._lock_lost or not self._locks_answer()):
                self._lock_again("while the checkpoint store was away")

    def _check_locks(self) -> None:
        """Before each use of the store: if the keeper found the lock connection cut, take the locks back (or stop,
        when another worker took the job meanwhile)."""
        if self._lock_lost:
            with self._lock_guard:
                self._lock_again("after this run's lock connection was cut")

    def _keep_locks(self) -> None:
        """The keeper thread: the lock connection answers a query every ``_lock_check_s``, the run sending or not
        (a long API outage commits nothing), so a server's idle timeout, a pooler or a NAT never sees it idle; a
        connection cut all the same is marked for the run's next use of the store."""
        while not self._closing.wait(self._lock_check_s):
            with self._lock_guard:
                if self._lock_conn is not None and not self._lock_lost and not self._locks_answer():
                    log.warning(
                        "the connection holding the job lock(s) on the checkpoint store %s was cut; taking the "
                        "lock(s) back",
                        self.location,
                    )

    def _locks_answer(self) -> bool:
        try:
            self._lock_conn.execute("SELECT 1")
            return True
        except _psycopg().Error:
            self._lock_conn.close()
            self._lock_lost = True
            return False

    def _lock_again(self, when: str) -> None:
        """Take every held job's lock on a new connection, or stop: the job belongs to another worker now."""
        if self._lock_conn is not None:
            self._lock_conn.close()
        self._lock_conn = self._open_lock_connection()
        self._lock_lost = False
        for job in self.held:
            if not self._lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_id(job),)).fetchone()[0]:
                raise JobLockedError(
                    f"job {job!r} was taken by another worker {when}; this run stops so that the job is never "
                    "sent twice at once."
                )
        log.info("the job lock(s) on the checkpoint store %s were taken again %s", self.location, when)

    def _open_lock_connection(self) -> Any:
        """The connection the locks live on; checked often enough that a server's idle timeout never cuts it."""
        conn = self._connect("lock")
        row = conn.execute("SELECT setting FROM pg_settings WHERE name = 'idle_session_timeout'").fetchone()
        idle_ms = int(row[0]) if row and str(row[0]).isdigit() else 0
        self._lock_check_s = min(LOCK_CHECK_S, idle_ms / 3000) if idle_ms else LOCK_CHECK_S
        if self._keeper is None:
            self._keeper = threading.Thread(target=self._keep_locks, name="spotzee-lock-keeper", daemon=True)
            self._keeper.start()
        return conn

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._db.execute(sql.replace("?", "%s"), tuple(params))
        return cursor.fetchall() if cursor.description else []

    def _run_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)

    def _transaction(self) -> AbstractContextManager[None]:
        return self._db.transaction()  # type: ignore[no-any-return]

    def _lock(self, job: str) -> None:
        with self._lock_guard:
            if self._lock_conn is None:
                self._lock_conn = self._open_lock_connection()
            held = self._lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_id(job),)).fetchone()[0]
            if not held and not self.held:
                self._lock_conn.close()
                self._lock_conn, self._lock_lost = None, False
        if not held:
            raise JobLockedError(
                f"job {job!r} is being run by another worker right now (PostgreSQL advisory lock held); "
                "wait for it to finish before running it again."
            )

    def is_running(self, job: str) -> bool:
        key = lock_id(job)
        with self._db.transaction():
            held = self._db.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()
        return not (held and held[0])

    def rejects(self, job: str) -> Iterator[bytes]:
        # A named (server-side) cursor: a job with millions of rejects streams instead of loading.
        with self._db.transaction(), self._db.cursor(name="spotzee_rejects_export") as cursor:
            cursor.execute("SELECT record FROM spotzee_rejects WHERE job = %s ORDER BY row_no, seq", (job,))
            for (record,) in cursor:
                yield record.encode()

    def close(self) -> None:
        self._closing.set()
        self._db.close()
        with self._lock_guard:
            if self._lock_conn is not None:
                self._lock_conn.close()
                self._lock_conn = None


def _with_tables(db: Any) -> Any:
    """``db``, once the store's tables exist; closed if making them failed."""
    try:
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(7331)")  # concurrent first runs create the tables one at a time
            db.execute(DDL)
    except BaseException:
        db.close()
        raise
    return db


def _open(url: str, purpose: str) -> Any:
    """An autocommit connection. The purpose names it in pg_stat_activity (an operator, or a test, can find it);
    TCP keepalives every minute, as a NAT or firewall forgets a connection idle for a few minutes (the lock's is)."""
    return _psycopg().connect(
        plain_url(url), autocommit=True, application_name=f"spotzee-loader-{purpose}", **_KEEPALIVES
    )


def connect(url: str, purpose: str) -> Any:
    """An autocommit connection to the store at ``url``, its tables made if missing (``purpose`` names it in
    ``pg_stat_activity``)."""
    psycopg = _psycopg()
    try:
        return _with_tables(_open(url, purpose))
    except psycopg.Error as exc:
        raise ConfigError(f"cannot open the PostgreSQL checkpoint store {redact(url)} ({str(exc).strip()}).") from None
