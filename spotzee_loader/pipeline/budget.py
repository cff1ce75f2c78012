"""This load's live share of an API budget: the budget's rate divided by the loads holding it right now.

Spotzee allows 8,000 requests a minute per egress IP, whoever sends them, and blocks the IP for 120 s past that.
Every sending load (a CLI run, an Airflow slice) holds a lease on its budget in the checkpoint store and renews it
every ``renew_s``; each renewal counts the live leases and sets this load's rate limiter to ``rate / count``. A
block met by any load (a 429) goes into the store with the renewal, and every other load of the budget holds its
senders until it lifts, from its next renewal on. One load alone gets
the whole budget; when a second starts, both are at half before it sends; when one ends (or dies and its
lease expires after ``ttl_s``), the other takes it all back. A lease of a process of this host (and PID namespace)
that is gone — a load killed with ``kill -9`` — is dropped at the next renewal, not left to expire: a re-run right
after the kill gets the whole budget at once. Where the store cannot hold leases, a static
``fallback_share`` of the budget is used instead, and the log says so.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from ..api import RateLimiter
from ..checkpoint import LeaseBook, open_lease_book
from ..config import BudgetSettings

log = logging.getLogger(__name__)


def _pid_namespace() -> str:
    """This process's PID namespace (Linux), so a container sharing the host name is not taken for this host."""
    try:
        return "".join(c for c in os.readlink("/proc/self/ns/pid") if c.isdigit())
    except OSError:
        return ""


_HOST = f"{socket.gethostname()}/{_pid_namespace()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


class SharedBudget:
    """Keeps ``limiter`` at this load's share of ``rate`` while the load runs (a daemon thread renews)."""

    def __init__(self, book: LeaseBook, settings: BudgetSettings, rate: float, limiter: RateLimiter) -> None:
        self._book, self._settings, self._rate, self._limiter = book, settings, rate, limiter
        self.holder = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.loads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spotzee-budget", daemon=True)

    def start(self) -> SharedBudget:
        """Take the first lease (so the first request already goes at the right pace), then keep renewing.

        A load joining others waits two renewal periods before its first request: by then each of them has
        renewed (a renewal can itself take a while on a busy store) and slowed to its new share, so the loads
        together do not run over the budget.
        """
        self._renew()
        if self.loads > 1:
            self._limiter.pause_until(self._limiter.clock() + 2 * self._settings.renew_s)
        log.info(
            "API budget %r (%.0f requests/s for every load sending from this egress) is shared live through the "
            "checkpoint store %s: %d load(s) running, this one sends at %.1f requests/s.",
            self._settings.name,
            self._rate,
            self._book.location,
            self.loads,
            self._limiter.rate,
        )
        self._thread.start()
        return self

    def _renew(self) -> None:
        self._drop_gone()
        limiter = self._limiter
        known = max(0.0, limiter.blocked_until - limiter.clock())
        count, blocked_s = self._book.renew(self._settings.name, self.holder, self._settings.ttl_s, known)
        if blocked_s > known + 1.0:
            limiter.block(
                blocked_s, f"Another load of API budget {self._settings.name!r} met a block of the egress IP (429)"
            )
        loads = max(1, count)
        if loads != self.loads:
            self._limiter.set_rate(self._rate / loads)
            if self.loads:
                log.info(
                    "API budget %r: %d load(s) running now, this one sends at %.1f requests/s.",
                    self._settings.name,
                    loads,
                    self._rate / loads,
                )
            self.loads = loads

    def _drop_gone(self) -> None:
        """Release the leases of this host's processes that no longer run (killed before they could)."""
        for holder in self._book.holders(self._settings.name):
            parts = holder.rsplit(":", 2)  # host/namespace:pid:nonce
            host, pid = (parts[0], parts[1]) if len(parts) == 3 else ("", "")
            if holder != self.holder and host == _HOST and pid.isdigit() and not _alive(int(pid)):
                self._book.release(self._settings.name, holder)
                log.info("API budget %r: the lease of process %s, gone, is dropped.", self._settings.name, pid)

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._settings.renew_s):
            try:
                self._renew()
            except Exception as exc:  # noqa: BLE001 - a blip keeps the last share; the lease outlives a few
                # Said once per outage: a store away for minutes would otherwise warn every renewal.
                (log.debug if failing else log.warning)(
                    "could not renew the lease on API budget %r (%s); keeping the last share until it can.",
                    self._settings.name,
                    type(exc).__name__,
                )
                failing = True
                continue
            if failing:
                log.info("the lease on API budget %r is renewed again.", self._settings.name)
                failing = False

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            self._book.release(self._settings.name, self.holder)
        except Exception as exc:  # noqa: BLE001 - the lease expires by itself
            log.debug("could not release the budget lease (%s); it expires in %.0fs", exc, self._settings.ttl_s)
        finally:
            self._book.close()


def static_share(settings: BudgetSettings, rate: float, limiter: RateLimiter, location: str, why: str) -> None:
    """The fallback: a fixed fraction of the budget, said in the log."""
    limiter.set_rate(rate * settings.fallback_share)
    log.warning(
        "API budget %r cannot be shared live through %s (%s); this load takes a static %.0f%% of it: %.1f requests/s.",
        settings.name,
        location,
        why,
        settings.fallback_share * 100,
        limiter.rate,
    )


def share_budget(
    checkpoint: str, settings: BudgetSettings, rate: float, limiter: RateLimiter, location: str
) -> SharedBudget | None:
    """This load's live share of ``rate`` through the store at ``checkpoint`` (``close()`` it at the end), else the
    static share, said in the log; ``None`` then, and when ``rate`` is 0 (unthrottled on purpose: nothing to share)."""
    if rate <= 0:
        return None
    try:
        book = open_lease_book(checkpoint)
    except Exception as exc:  # noqa: BLE001 - any failure falls back to the static share, said in the log
        static_share(settings, rate, limiter, location, str(exc))
        return None
    try:
        return SharedBudget(book, settings, rate, limiter).start()
    except Exception as exc:  # noqa: BLE001 - as above
        book.close()
        static_share(settings, rate, limiter, location, f"{type(exc).__name__}: {exc}")
        return None
