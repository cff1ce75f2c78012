"""Leases on a shared API budget, kept in the checkpoint store every load already opens.

Each sending load holds one row per budget (``spotzee_budget_leases``) and renews it every few seconds;
a row not renewed before ``expires_at`` belongs to a load that is gone (killed, lost worker) and stops
counting. ``renew`` returns how many loads hold the budget right now, which is how each load computes
its share. SQLite serves the loads of one host, PostgreSQL those of many (its clock is the only clock,
so hosts with skewed clocks still agree on who is alive).

A lease book has its own connection: it is renewed from a background thread while the load's own
connection commits checkpoints.
"""

from __future__ import annotations

import abc
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..redaction import redact
from .sqlite import open_sqlite


class LeaseBook(abc.ABC):
    """Who holds which budget, and until when."""

    location: str

    @abc.abstractmethod
    def renew(self, budget: str, holder: str, ttl_s: float, blocked_s: float = 0.0) -> tuple[int, float]:
        """Hold ``budget`` for ``ttl_s`` more seconds, telling the others the IP is blocked for ``blocked_s`` more
        seconds (0: not that this load knows); ``(live holders, this one included; seconds the IP is blocked)``."""

    @abc.abstractmethod
    def holders(self, budget: str) -> list[str]:
        """Every holder of a lease on ``budget``, expired or not."""

    @abc.abstractmethod
    def release(self, budget: str, holder: str) -> None:
        """Give the lease back (a clean end: the others' shares grow at their next renewal)."""

    @abc.abstractmethod
    def close(self) -> None: ...


_UPSERT = (
    "INSERT INTO spotzee_budget_leases (budget, holder, expires_at) VALUES ({p}, {p}, {expires}) "
    "ON CONFLICT (budget, holder) DO UPDATE SET expires_at = excluded.expires_at"
)
_EXPIRE = "DELETE FROM spotzee_budget_leases WHERE expires_at < {now}"
_COUNT = "SELECT count(*) FROM spotzee_budget_leases WHERE budget = {p} AND expires_at >= {now}"
_RELEASE = "DELETE FROM spotzee_budget_leases WHERE budget = {p} AND holder = {p}"
_HOLDERS = "SELECT holder FROM spotzee_budget_leases WHERE budget = {p}"
_BLOCK = (
    "INSERT INTO spotzee_budget_blocks (budget, blocked_until) VALUES ({p}, {until}) "
    "ON CONFLICT (budget) DO UPDATE SET blocked_until = {greatest}(spotzee_budget_blocks.blocked_until, "
    "excluded.blocked_until)"
)
_BLOCKED = "SELECT blocked_until - {now} FROM spotzee_budget_blocks WHERE budget = {p}"


def _blocked_for(row: Any) -> float:
    return max(0.0, float(row[0])) if row else 0.0


class SQLiteLeaseBook(LeaseBook):
    """Leases in the embedded store's file: every load on this host sees them."""

    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        self.location = path
        self._clock = clock
        try:
            self._db = open_sqlite(path, timeout_s=10)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot keep budget leases in {path} ({exc}).") from None

    def renew(self, budget: str, holder: str, ttl_s: float, blocked_s: float = 0.0) -> tuple[int, float]:
        now = self._clock()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(_UPSERT.format(p="?", expires="?"), (budget, holder, now + ttl_s))
            self._db.execute(_EXPIRE.format(now="?"), (now,))
            (count,) = self._db.execute(_COUNT.format(p="?", now="?"), (budget, now)).fetchone()
            if blocked_s > 0:
                self._db.execute(_BLOCK.format(p="?", until="?", greatest="MAX"), (budget, now + blocked_s))
            blocked = self._db.execute(_BLOCKED.format(p="?", now="?"), (now, budget)).fetchone()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return int(count), _blocked_for(blocked)

    def holders(self, budget: str) -> list[str]:
        return [row[0] for row in self._db.execute(_HOLDERS.format(p="?"), (budget,))]

    def release(self, budget: str, holder: str) -> None:
        self._db.execute(_RELEASE.format(p="?"), (budget, holder))

    def close(self) -> None:
        self._db.close()


class PostgresLeaseBook(LeaseBook):
    """Leases in the shared PostgreSQL store, timed by the server's clock.

    A renewal that fails (the store restarting, a failover) drops the connection; the next one opens a new one,
    so the lease is back as soon as the store is.
    """

    _NOW = "extract(epoch from clock_timestamp())"

    def __init__(self, url: str, connect: Callable[[str], Any]) -> None:
        self.location = redact(url)
        self._url, self._connect = url, connect
        self._db: Any = connect(url)

    def renew(self, budget: str, holder: str, ttl_s: float, blocked_s: float = 0.0) -> tuple[int, float]:
        if self._db is None:
            self._db = self._connect(self._url)
        try:
            with self._db.transaction():
                self._db.execute(_UPSERT.format(p="%s", expires=f"{self._NOW} + %s"), (budget, holder, ttl_s))
                self._db.execute(_EXPIRE.format(now=self._NOW))
                (count,) = self._db.execute(_COUNT.format(p="%s", now=self._NOW), (budget,)).fetchone()
                if blocked_s > 0:
                    until = f"{self._NOW} + %s"
                    self._db.execute(_BLOCK.format(p="%s", until=until, greatest="GREATEST"), (budget, blocked_s))
                blocked = self._db.execute(_BLOCKED.format(p="%s", now=self._NOW), (budget,)).fetchone()
        except Exception:
            self.close()
            raise
        return int(count), _blocked_for(blocked)

    def holders(self, budget: str) -> list[str]:
        if self._db is None:
            self._db = self._connect(self._url)
        return [row[0] for row in self._db.execute(_HOLDERS.format(p="%s"), (budget,)).fetchall()]

    def release(self, budget: str, holder: str) -> None:
        if self._db is not None:
            self._db.execute(_RELEASE.format(p="%s"), (budget, holder))

    def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            db.close()
