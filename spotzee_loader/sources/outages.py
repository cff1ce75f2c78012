"""Database errors a retry can fix, and the wait between tries while a source is away.

Managed databases fail over, cut idle connections and restart for maintenance: a long load reconnects and
resumes after the last key it read, inside the same ``--retry-budget`` the API uses. Authentication, a missing
table or a refused permission are not outages: they stop the run at once with one sentence.
"""

from __future__ import annotations

import logging
import random
import time

from ..errors import SourceUnavailableError

log = logging.getLogger(__name__)

# SQLSTATEs of errors a reconnect or a retry can fix: class 08 (connection exceptions), an administrator's or a
# crash's shutdown (57P01-57P03), serialization failure and deadlock (40001, 40P01), too many connections (53300).
_SQLSTATES = {"57P01", "57P02", "57P03", "40001", "40P01", "53300"}
# MySQL / MariaDB error numbers of the same kinds: server gone away, connection lost, cannot connect, too many
# connections, server shutdown, lock wait timeout, deadlock, interactive timeout.
_MYSQL_CODES = {2003, 2006, 2013, 1040, 1053, 1205, 1213, 4031}
_LOST = ("connection is lost", "connection is closed", "server closed the connection", "terminating connection",
         "connection reset", "broken pipe", "lost connection", "gone away")  # fmt: skip


class TransientSourceError(Exception):
    """A read the source dropped; the reader reconnects and reads again from the last key (internal)."""


def is_transient(exc: BaseException) -> bool:
    """Whether a driver or SQLAlchemy error is an outage (retry) rather than a fault a person must fix."""
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
    return any(fragment in text for fragment in _LOST)


class Outage:
    """Backoff while a source is unreachable: 0.5 s doubling to 30 s with jitter, until ``budget_s`` has passed
    since the first failure without a successful read in between."""

    def __init__(self, budget_s: float, what: str) -> None:
        self.budget_s, self.what = budget_s, what
        self.reconnects = 0
        self._since: float | None = None
        self._delay = 0.5

    def failed(self, reason: str) -> None:
        """Wait before the next try, or raise SourceUnavailableError when the budget is spent."""
        now = time.monotonic()
        if self._since is None:
            self._since = now
        waited = now - self._since
        if waited >= self.budget_s:
            raise SourceUnavailableError(
                f"{self.what} stayed unreachable for {waited:.0f} s, past the retry budget ({reason}); every "
                "acknowledged chunk is checkpointed: re-run the same command to resume."
            )
        delay = min(self._delay, max(0.0, self.budget_s - waited)) * random.uniform(0.8, 1.2)
        self.reconnects += 1
        log.warning(
            "%s dropped the read (%s); reconnecting in %.1f s and reading on after the last key read.",
            self.what,
            reason,
            delay,
        )
        time.sleep(delay)
        self._delay = min(self._delay * 2, 30.0)

    def recovered(self) -> None:
        self._since, self._delay = None, 0.5
