"""The shared checkpoint store in PostgreSQL, for Airflow workers on different machines.

Same tables and semantics as the embedded store (``checkpoint_store.sql``, ``base.py``). A job is held with a
session-level advisory lock on a dedicated connection: a second runner of the same job is refused,
and a killed runner's lock disappears with its connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..errors import CheckpointUnavailableError, ConfigError, JobLockedError
from ..outages import first_contact
from ..redaction import redact
from .base import DDL, CheckpointStore, lock_id


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


class PostgresCheckpointStore(CheckpointStore):
    """Checkpoints in PostgreSQL tables; one connection for data, one for the job's advisory lock."""

    def __init__(self, url: str, retry_budget_s: float = 600.0) -> None:
        psycopg = _psycopg()
        self.held = set()
        self.location = redact(url)
        self._url = plain_url(url)
        self._watch_outages(retry_budget_s)
        self._lock_conn: Any = None

        def unreachable(waited: float, reason: str) -> CheckpointUnavailableError:
            return CheckpointUnavailableError(
                f"the checkpoint store {self.location} is unreachable ({reason}), tried for {waited:.0f} s; nothing "
                "was sent: run again once it is back (Airflow retries the task)."
            )

        try:
            self._db = first_contact(
                lambda: _with_tables(self._connect("data")),
                f"the checkpoint store {self.location}",
                retry_budget_s,
                (psycopg.Error,),
                unreachable,
            )
        except psycopg.Error as exc:
            raise ConfigError(
                f"cannot open the PostgreSQL checkpoint store {self.location} ({str(exc).strip()})."
            ) from None

    def _connect(self, purpose: str) -> Any:
        # The purpose names the connection in pg_stat_activity (an operator, or a test, can find it).
        return _psycopg().connect(self._url, autocommit=True, application_name=f"spotzee-loader-{purpose}")

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (_psycopg().Error,)

    def _reconnect(self) -> None:
        """A new data connection; the job locks again if their connection went too (a restart, a failover).

        A lock that could not be taken back belongs to another worker now: this run stops rather than send the
        same job twice.
        """
        psycopg = _psycopg()
        self._db.close()
        self._db = self._connect("data")
        if self._lock_conn is not None:
            try:
                self._lock_conn.execute("SELECT 1")
                return  # only the data connection was cut: the locks are still ours
            except psycopg.Error:
                self._lock_conn.close()
            self._lock_conn = self._connect("lock")
            for job in self.held:
                if not self._lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_id(job),)).fetchone()[0]:
                    raise JobLockedError(
                        f"job {job!r} was taken by another worker while the checkpoint store was away; this run "
                        "stops so that the job is never sent twice at once."
                    )

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._db.execute(sql.replace("?", "%s"), tuple(params))
        return cursor.fetchall() if cursor.description else []

    def _run_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)

    def _transaction(self) -> AbstractContextManager[None]:
        return self._db.transaction()  # type: ignore[no-any-return]

    def _lock(self, job: str) -> None:
        if self._lock_conn is None:
            self._lock_conn = self._connect("lock")
        held = self._lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_id(job),)).fetchone()[0]
        if not held:
            if not self.held:
                self._lock_conn.close()
                self._lock_conn = None
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
        self._db.close()
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


def connect(url: str, purpose: str) -> Any:
    """An autocommit connection to the store at ``url``, its tables made if missing (``purpose`` names it in
    ``pg_stat_activity``)."""
    psycopg = _psycopg()
    try:
        return _with_tables(
            psycopg.connect(plain_url(url), autocommit=True, application_name=f"spotzee-loader-{purpose}")
        )
    except psycopg.Error as exc:
        raise ConfigError(f"cannot open the PostgreSQL checkpoint store {redact(url)} ({str(exc).strip()}).") from None
