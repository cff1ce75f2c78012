"""Errors a retry can fix, and the wait between tries while a dependency is away.

Managed databases fail over, cut idle connections and restart for maintenance; object stores answer 503 and reset
connections. A long load waits for them inside the same ``--retry-budget`` the API uses: the source database
reconnects and reads on after its last key, the checkpoint store reconnects and commits what Spotzee acknowledged
meanwhile, a file in object storage is opened again at the row group that failed. Authentication, a missing table,
a refused permission or a full disk are not outages: they stop the run at once with one sentence.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# SQLSTATEs of errors a reconnect or a retry can fix: class 08 (connection exceptions), an administrator's or a
# crash's shutdown (57P01-57P03), a session ended as idle (57P05 idle_session_timeout, 25P03 in a transaction: a
# connection unused through a long API outage), serialization failure and deadlock (40001, 40P01), too many
# connections (53300). (25006, read-only after a failover, is not one: it needs the new primary.)
_SQLSTATES = {"57P01", "57P02", "57P03", "57P05", "25P03", "40001", "40P01", "53300"}
# MySQL / MariaDB error numbers of the same kinds: server gone away, connection lost, cannot connect, too many
# connections, server shutdown, lock wait timeout, deadlock, interactive timeout.
_MYSQL_CODES = {2003, 2006, 2013, 1040, 1053, 1205, 1213, 4031}
_LOST = ("connection is lost", "connection is closed", "server closed the connection", "terminating connection",
         "connection reset", "broken pipe", "lost connection", "gone away", "connection refused",
         "the database system is starting up", "the database system is shutting down", "is locked",
         "the database system is not yet accepting connections", "the database system is in recovery mode",
         "timed out", "timeout was reached", "couldn't connect", "could not connect", "network_connection",
         "failure when receiving data", "slow down", "slowdown", "service unavailable")  # fmt: skip
# Texts of faults a person must fix, even where a driver puts them next to a connection failure.
_PERMANENT = ("authentication", "password", "no pg_hba.conf entry", "permission denied", "access denied",
              "does not exist", "no such file", "disk is full", "no space left", "certificate",
              "read-only")  # fmt: skip


def is_transient(exc: BaseException) -> bool:
    """Whether a driver, SQLAlchemy or storage error is an outage (retry) rather than a fault a person must fix."""
    if getattr(exc, "connection_invalidated", False):
        return True
    orig = getattr(exc, "orig", None) or exc
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate.startswith("08") or sqlstate in _SQLSTATES
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and not isinstance(args[0], bool):
        return args[0] in _MYSQL_CODES
    text = str(orig).lower()
    if any(fragment in text for fragment in _PERMANENT):
        return False
    return any(fragment in text for fragment in _LOST)


def first_line(exc: BaseException) -> str:
    """A driver's message without its context lines (SQL, hints) and the trailing period."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0].rstrip(".")


class Outage:
    """Backoff while a dependency is away: 0.5 s doubling to 30 s with jitter, until ``budget_s`` has passed since
    the first failure without a success in between; then ``give_up(seconds_waited, reason)`` is raised."""

    def __init__(
        self,
        budget_s: float,
        what: str,
        give_up: Callable[[float, str], Exception],
        *,
        failing: str = "is away",
        doing: str = "retrying",
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.budget_s, self.what, self.failing, self.doing = budget_s, what, failing, doing
        self.blips = 0
        self._give_up, self._sleep = give_up, sleep
        self._since: float | None = None
        self._delay = 0.5

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def next_try_in(self, reason: str) -> float:
        """Seconds until the next try after a failure (logged), or raise ``give_up`` when the budget is spent."""
        now = time.monotonic()
        if self._since is None:
            self._since = now
            self.blips += 1
        waited = now - self._since
        if waited >= self.budget_s:
            raise self._give_up(waited, reason)
        delay = min(self._delay, max(0.0, self.budget_s - waited)) * random.uniform(0.8, 1.2)
        log.warning("%s %s: %s; %s in %.1f s.", self.what, self.failing, reason, self.doing, delay)
        self._delay = min(self._delay * 2, 30.0)
        return delay

    def failed(self, reason: str) -> None:
        """Wait before the next try, or raise ``give_up`` when the budget is spent."""
        self._sleep(self.next_try_in(reason))

    def recovered(self) -> None:
        if self._since is not None:
            log.info("%s is back after %.1f s.", self.what, time.monotonic() - self._since)
        self._since, self._delay = None, 0.5


START_PATIENCE_S = 30.0
"""How long a dependency that is unreachable when the run starts is tried: a restart or a failover is over by then,
and a wrong port is told within a minute. Past it the run stops with exit 1, which Airflow retries, not with the
configuration error (exit 2, never retried) a typo in a URL is."""


def first_contact(
    open_: Callable[[], T],
    what: str,
    budget_s: float,
    errors: tuple[type[BaseException], ...],
    unreachable: tuple[Callable[[str], Exception], str, str],
    *,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """``open_()``, tried again while it fails with an outage for up to ``START_PATIENCE_S`` (or ``budget_s`` when
    shorter); a fault a person must fix propagates at once. Past the patience, ``unreachable`` = ``(error class,
    subject, undone)`` is raised: "<subject> is unreachable (<why>), tried for N s; nothing was <undone>: run again
    once it is back (Airflow retries the task)." N is floored: a try overshoots the patience by its jitter."""
    error, subject, undone = unreachable

    def give_up(waited: float, reason: str) -> Exception:
        return error(
            f"{subject} is unreachable ({reason}), tried for {int(waited)} s; nothing was {undone}: run again once "
            "it is back (Airflow retries the task)."
        )

    patience = min(budget_s, START_PATIENCE_S)
    outage = Outage(patience, what, give_up, failing="is unreachable", doing="trying again", sleep=sleep)
    while True:
        try:
            result = open_()
        except errors as exc:
            if not is_transient(exc):
                raise
            outage.failed(first_line(exc))
            continue
        outage.recovered()
        return result
