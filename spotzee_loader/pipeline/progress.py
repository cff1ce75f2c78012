"""Progress display: a bar on a terminal, a log line every few seconds elsewhere (Airflow logs)."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

log = logging.getLogger("spotzee_loader.progress")


class Progress(Protocol):
    """What the pipeline tells its caller while it runs (the CLI draws a bar or logs lines)."""

    def start(self, total_rows: int | None, done_rows: int) -> None: ...
    def advance(self, rows: int, events: int, rejected: int) -> None: ...
    def close(self) -> None: ...


class BarProgress:
    """tqdm bar: rows, events/s, rejects and ETA."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._events = 0
        self._rejected = 0

    def start(self, total_rows: int | None, done_rows: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total_rows, initial=done_rows, unit="row", unit_scale=True, dynamic_ncols=True, desc="loading"
        )

    def advance(self, rows: int, events: int, rejected: int) -> None:
        self._events += events
        self._rejected += rejected
        if self._bar is not None:
            self._bar.update(rows)
            self._bar.set_postfix(events=self._events, rejected=self._rejected, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class LogProgress:
    """One INFO line every ``every_s`` seconds with the same figures as the bar."""

    def __init__(self, every_s: float = 10.0) -> None:
        self._every = every_s
        self._total: int | None = None
        self._rows = 0
        self._events = 0
        self._rejected = 0
        self._started = time.monotonic()
        self._last = self._started

    def start(self, total_rows: int | None, done_rows: int) -> None:
        self._total, self._rows = total_rows, done_rows
        self._started = self._last = time.monotonic()

    def advance(self, rows: int, events: int, rejected: int) -> None:
        self._rows += rows
        self._events += events
        self._rejected += rejected
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            rate = self._events / max(now - self._started, 1e-9)
            share = f" ({100 * self._rows / self._total:.1f}%)" if self._total else ""
            log.info(
                "progress: %s rows%s, %s events sent (%.0f/s), %s rejected",
                f"{self._rows:,}",
                share,
                f"{self._events:,}",
                rate,
                f"{self._rejected:,}",
            )

    def close(self) -> None:
        pass
