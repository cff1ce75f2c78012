"""The checkpoint store's connection as the store's logic sees it: statements and transactions over DB-API, the
jobs' locks, and outages (a PostgreSQL restart or failover, a SQLite file locked past its busy timeout) tried
again after a reconnect inside the retry budget. The backends (``sqlite.py``, ``postgres.py``) implement it;
``base.py`` builds the store's logic on it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from ..errors import CheckpointStoreError, CheckpointUnavailableError, SpotzeeLoaderError
from ..outages import Outage, first_line, is_transient

T = TypeVar("T")


class StoreAwayError(Exception):
    """The store's connection dropped or the store is busy; the operation may be tried again (internal)."""


class StoreConnection(abc.ABC):
    """A store's connection as its logic uses it: statements, transactions, locks, and outages waited out."""

    location: str
    held: set[str]
    """Jobs this process holds the lock of: only their records may be written by it."""
    outage: Outage
    _broken = False
    """The connection was lost: reconnect (and take the held locks again) before the next statement."""
    _unsure = False
    """A commit failed without an answer: it may have landed, so the next one overwrites instead of adding."""

    def _watch_outages(self, budget_s: float) -> None:
        def give_up(waited: float, reason: str) -> Exception:
            return CheckpointUnavailableError(
                f"the checkpoint store {self.location} stayed unreachable for {waited:.0f} s, past the retry "
                f"budget ({reason}); re-run the same command once it is back to resume."
            )

        self.outage = Outage(budget_s, f"the checkpoint store {self.location}", give_up)

    @abc.abstractmethod
    def _driver_errors(self) -> tuple[type[BaseException], ...]: ...

    @abc.abstractmethod
    def _reconnect(self) -> None:
        """Open a new connection and take the held jobs' locks again."""

    def _check_locks(self) -> None:  # noqa: B027 - a hook: only a store whose locks live apart needs it
        """Make sure, now and then, that the held jobs' locks are still held (a store whose locks live on a
        connection of their own overrides it)."""

    def attempt(self, op: Callable[[], T]) -> T:
        """Run ``op`` (statements on this store) once: an outage raises ``StoreAwayError``, a fault a person must fix
        raises ``CheckpointStoreError`` naming the store."""
        try:
            if self._broken:
                self._reconnect()
                self._broken = False
            self._check_locks()
            return op()
        except SpotzeeLoaderError:
            raise
        except self._driver_errors() as exc:
            # PostgreSQL restarting or failing over, a SQLite file another process keeps locked past the busy timeout.
            if is_transient(exc):
                self._broken = True
                raise StoreAwayError(first_line(exc)) from exc
            raise CheckpointStoreError(
                f"the checkpoint store {self.location} refused a write or read ({first_line(exc)}); fix it (free "
                "space, permissions), then re-run the same command to resume."
            ) from None

    def retrying(self, op: Callable[[], T]) -> T:
        """Run ``op`` until it succeeds, waiting out outages inside the retry budget."""
        while True:
            try:
                result = self.attempt(op)
            except StoreAwayError as exc:
                self.outage.failed(str(exc))
                continue
            self.outage.recovered()
            return result

    @abc.abstractmethod
    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Execute one statement (``?`` placeholders) and return its rows (empty for writes)."""

    @abc.abstractmethod
    def _run_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None: ...

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[None]: ...

    @abc.abstractmethod
    def _lock(self, job: str) -> None:
        """Hold the job for this process, or raise JobLockedError."""

    @abc.abstractmethod
    def close(self) -> None: ...
