"""Proactive pacing, so the loader stays under Spotzee's limits instead of collecting 429s: its own pace (the
per-IP limit) and, where Spotzee announces one, the key's window (``X-RateLimit-Remaining`` / ``-Reset``)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping

from ..config import PUBLISHED_BLOCK_S

log = logging.getLogger(__name__)

_EPOCH_FROM = 1e9
"""A Reset above this is a Unix time rather than seconds from now (the contract does not say which it sends)."""


def announced_window(
    headers: Mapping[str, str], wall_clock: Callable[[], float] = time.time
) -> tuple[int, float] | None:
    """``(requests remaining, seconds until the window resets)`` when an answer announces the key's window
    (``headers`` with lower-case names), else ``None``: the headers are absent, partial or not numbers."""
    remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
    if remaining is None or reset is None:
        return None
    try:
        left, seconds = int(remaining), float(reset)
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    if seconds > _EPOCH_FROM:
        seconds -= wall_clock()
    return max(0, left), max(0.0, seconds)


class RateLimiter:
    """Spaces requests ``1/rate`` seconds apart across all threads, with a small burst allowance, keeps every
    sender inside the key's window when Spotzee announces one, and holds them all while the address is blocked.

    A sender that falls behind may catch up by ``burst`` requests at once; any window of ``w`` seconds
    then sees at most ``rate × w + burst`` requests. Spotzee counts 8,000 per sliding minute per egress IP (and
    4,000 per 10 s): at the default 125/s a minute holds at most 7,503, a 10-s window 1,253.

    A block (a 429 met by any sender, or published by another load of the same budget) holds every sender until
    it lifts; it is logged once, however many senders meet it.

    The announced window: each answer says how many requests the key has left until the reset. The
    allowance is that count less the requests still in flight (the server may not have counted them yet),
    lowered by every later answer of the same window and by each request sent; at zero every sender waits
    for the reset. The first answer of a window fixes its end: later answers round the same end up
    differently, and moving it would hold the senders into the next window.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = clock()
        self._paused_until = 0.0
        self._in_flight = 0
        self._allowance: int | None = None
        """Requests the key's announced window still allows (``None``: no window known)."""
        self._window_end = 0.0
        self._told_window_end = 0.0
        self.blocked_until = 0.0
        """Until when (``clock``) the address is blocked; the shared budget publishes it to the other loads."""
        self.blocks = 0
        """Blocks met (or heard of) during this run."""
        self.set_rate(rate)

    def set_rate(self, rate: float) -> None:
        """Change the pace (a shared budget's share moved); the next slot follows the new spacing."""
        with self._lock:
            self.rate = rate
            self._interval = 1.0 / rate if rate > 0 else 0.0
            self._burst = max(1.0, rate / 50.0) * self._interval

    def acquire(self) -> float:
        """Block until this caller may send; returns the seconds it waited. Pair with ``answered``."""
        with self._lock:
            now = self.clock()
            slot = max(self._next, now - self._burst, self._paused_until)
            if self._allowance is not None and max(now, slot) >= self._window_end:
                self._allowance = None  # the window is over; the next answer announces the new one
            if self._allowance is not None:
                if self._allowance > 0:
                    self._allowance -= 1
                else:
                    slot = self._window_end
                    if self._told_window_end != self._window_end:
                        self._told_window_end = self._window_end
                        log.info(
                            "Spotzee's window for this API key is used up (X-RateLimit-Remaining): every sender "
                            "waits %.1fs for its reset",
                            slot - now,
                        )
            self._next = slot + self._interval
            self._in_flight += 1
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
            return wait
        return 0.0

    def answered(self, window: tuple[int, float] | None) -> None:
        """A request that ``acquire`` let through has ended; ``window`` is what its answer announced, if any."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if window is None:
                return
            remaining, reset_in = window
            now = self.clock()
            allowance = remaining - self._in_flight
            if self._allowance is None or now >= self._window_end:
                self._allowance, self._window_end = allowance, now + reset_in
            else:
                self._allowance = min(self._allowance, allowance)

    def blocked_by_429(self, retry_after: float | None, request_id: str | None, what: str = "a request") -> float:
        """A 429 came: every sender holds for ``Retry-After`` or, without it, the published block. The wait."""
        seconds = retry_after if retry_after is not None else PUBLISHED_BLOCK_S
        self.block(seconds, f"Spotzee answered {what} with 429 rate_limited (request {request_id})")
        return seconds

    def block(self, seconds: float, why: str) -> None:
        """Hold every sender for ``seconds``: the address is blocked. Said once per block: senders meeting the same
        block (or hearing of it) within a second of its end add nothing."""
        with self._lock:
            until = self.clock() + seconds
            news = until > self.blocked_until + 1.0
            self.blocked_until = max(self.blocked_until, until)
            self._paused_until = max(self._paused_until, until)
            self.blocks += news
        if news:
            log.warning("%s: every sender of this load waits %.0f s for the block to lift.", why, seconds)

    def pause_until(self, when: float) -> None:
        """Hold every sender until ``when``."""
        with self._lock:
            self._paused_until = max(self._paused_until, when)
