"""Proactive pacing, so the loader stays under Spotzee's per-IP limit instead of collecting 429s."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Spaces requests ``1/rate`` seconds apart across all threads, with a small burst allowance.

    A sender that falls behind may catch up by ``burst`` requests at once; any window of ``w`` seconds
    then sees at most ``rate × w + burst`` requests. Spotzee counts 1,000 per 10 s, and edges may count
    per second: at 95/s a burst of 2 stays under 100 in every 1-s window, with room for jitter.
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
        self.set_rate(rate)

    def set_rate(self, rate: float) -> None:
        """Change the pace (a shared budget's share moved); the next slot follows the new spacing."""
        with self._lock:
            self.rate = rate
            self._interval = 1.0 / rate if rate > 0 else 0.0
            self._burst = max(1.0, rate / 50.0) * self._interval

    def acquire(self) -> float:
        """Block until this caller may send; returns the seconds it waited."""
        if self._interval == 0.0 and self._paused_until == 0.0:
            return 0.0
        with self._lock:
            now = self.clock()
            slot = max(self._next, now - self._burst, self._paused_until)
            self._next = slot + self._interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
            return wait
        return 0.0

    def pause_until(self, when: float) -> None:
        """Hold every sender until ``when`` (the server said the window is spent)."""
        with self._lock:
            self._paused_until = max(self._paused_until, when)
