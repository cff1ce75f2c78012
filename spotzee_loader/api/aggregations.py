"""Spotzee's read-back of what it recorded: ``GET /events/aggregations``, counts per event name and UTC day.

Follows the published contract (``shared/spotzee-api.md``, "Reading back"): ``from`` and ``to`` are RFC 3339
date-times, ``to`` exclusive, at most 366 days apart, so a migration of many years is read window by window, each
paged to its end; at least one filter (the event names, always sent); pages of at most 100 groups. Paging, pacing
and retries are ``reads.Reader``'s. Knows the API, nothing of sources or checkpoints.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..config import ApiSettings
from .ratelimit import RateLimiter
from .reads import Reader

DayKey = tuple[str, str]
"""(event name, UTC day ``YYYY-MM-DD``)."""
PAGE_LIMIT = 100
"""The most groups a page may hold (the contract: 1 to 100; more is a 400)."""
MAX_WINDOW = dt.timedelta(days=366)
"""The longest ``to - from`` one aggregation may ask (longer: 400)."""


def rfc3339(instant: dt.datetime) -> str:
    """An aware datetime as the contract's date-time: ``2024-01-01T00:00:00Z`` (milliseconds when it has them)."""
    utc = instant.astimezone(dt.UTC)
    return utc.isoformat(timespec="milliseconds" if utc.microsecond else "seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class AggregationPage:
    """One page of the published shape: ``{"results": [...], "nextCursor": str | null, "prevCursor", "limit"}``."""

    results: list[dict[str, Any]]
    next_cursor: str | None

    @classmethod
    def parse(cls, body: Any) -> AggregationPage:
        """The page, or ``ValueError`` naming what is not the published shape."""
        from .reads import Page

        page = Page.parse(body)
        return cls(cls.check(page.results), page.next_cursor)

    @staticmethod
    def check(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for record in results:
            if not isinstance(record.get("count"), int) or isinstance(record.get("count"), bool):
                raise ValueError(f"a record has no integer 'count': {record}")
        return results


def windows(
    since: dt.datetime, until: dt.datetime, longest: dt.timedelta = MAX_WINDOW
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """``[since, until)`` cut into consecutive windows no longer than ``longest``."""
    start = since
    while start < until:
        end = min(until, start + longest)
        yield start, end
        start = end


def spotzee_day_counts(
    api: ApiSettings,
    since: dt.datetime,
    until: dt.datetime,
    names: list[str],
    *,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> Counter[DayKey]:
    """Spotzee's counts per (event name, UTC day) of events named ``names`` with ``since <= created_at < until``,
    read in windows of at most 366 days, each paged to its end."""
    counts: Counter[DayKey] = Counter()
    if not names:
        return counts  # the contract requires a filter: with no name there is nothing to ask
    reader = Reader(api, "aggregations", limiter=limiter, sleep=sleep, clock=clock, rng=rng)
    try:
        for start, end in windows(since, until):
            query: list[tuple[str, str]] = [("from", rfc3339(start)), ("to", rfc3339(end))]
            query += [("group_by", "event_name"), ("group_by", "day"), ("limit", str(PAGE_LIMIT))]
            query += [("event_name", name) for name in names]
            for page in reader.pages("/events/aggregations", query, AggregationPage.check):
                for record in page.results:
                    counts[(str(record.get("event_name")), str(record.get("day"))[:10])] += record["count"]
    finally:
        reader.close()
    return counts
