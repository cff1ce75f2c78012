"""Did Spotzee record a request whose answer never came? Asked of ``GET /events``, since the Main API ignores
``Idempotency-Key`` today and a blind resend would record the events twice.

The events of the request are looked for by what identifies them: name, ``external_id``, ``anonymous_id`` and
``created_at`` (to the millisecond, or to the second when Spotzee gives seconds), with their multiplicity. The
query filters by the request's event names and, when every event carries one, its ids; its window covers the
events' ``created_at`` in pieces of at most 31 days (the published limit), without the payload. Events show up
only once processed, so a look that misses some is repeated (after 1, 2, 4, ... s) until all are found or
``wait_s`` has passed; what is still missing then is taken as not recorded.

The one false "found": an event with the same name, user and ``created_at`` to the millisecond already in
Spotzee from elsewhere (another job loading the same rows). It is then the same event, and is not sent again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from .aggregations import rfc3339, windows
from .reads import Reader

log = logging.getLogger(__name__)

EVENTS_WINDOW = dt.timedelta(days=31)
"""The longest ``to - from`` of one ``GET /events``."""
_URL_BUDGET = 6_000
"""Characters of ids a query may carry before it filters by names alone (the contract sets no URL limit; common
servers refuse lines past 8 KiB)."""

Identity = tuple[str, str | None, str | None, dt.datetime]


@dataclass(frozen=True)
class SentEvent:
    """What identifies one sent event in the reads."""

    name: str
    external_id: str | None
    anonymous_id: str | None
    created_at: dt.datetime

    @classmethod
    def parse(cls, body: bytes) -> SentEvent | None:
        event = orjson.loads(body)
        created = event.get("created_at")
        if not created:
            return None  # stamped by the server on arrival: no window to look in
        at = dt.datetime.fromisoformat(created).astimezone(dt.UTC)
        return cls(event["name"], event.get("external_id"), event.get("anonymous_id"), at)


def _truncate(at: dt.datetime, to_seconds: bool) -> dt.datetime:
    return at.replace(microsecond=0) if to_seconds else at.replace(microsecond=at.microsecond // 1000 * 1000)


class ReadBack:
    """Looks for sent events in Spotzee's reads, waiting up to ``wait_s`` for processing."""

    def __init__(
        self,
        reader: Reader,
        wait_s: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader, self.wait_s, self._sleep, self._clock = reader, wait_s, sleep, clock

    def found(self, events: list[SentEvent]) -> list[bool]:
        """For each event, whether Spotzee shows it recorded, within ``wait_s``."""
        deadline = self._clock() + self.wait_s
        pause = 1.0
        while True:
            seen = self._look(events)
            left = deadline - self._clock()
            if all(seen) or left <= 0:
                return seen
            self._sleep(min(pause, left))
            pause *= 2

    def _look(self, events: list[SentEvent]) -> list[bool]:
        wanted: Counter[Identity] = Counter()
        recorded: Counter[Identity] = Counter()
        recorded_seconds: Counter[Identity] = Counter()
        for records in self._records(events):
            for record in records:
                key = _identity(record)
                if key is None:
                    continue
                name, ext, anon, at, to_seconds = key
                (recorded_seconds if to_seconds else recorded)[(name, ext, anon, at)] += 1
        seen = []
        for event in events:
            ids = (event.name, event.external_id, event.anonymous_id)
            exact = (*ids, _truncate(event.created_at, False))
            coarse = (*ids, _truncate(event.created_at, True))
            wanted[exact] += 1
            if recorded[exact] >= wanted[exact]:
                seen.append(True)
            elif recorded_seconds[coarse] > 0:
                recorded_seconds[coarse] -= 1
                seen.append(True)
            else:
                seen.append(False)
        return seen

    def _records(self, events: list[SentEvent]) -> Iterator[list[dict[str, Any]]]:
        names = sorted({e.name for e in events})
        filters = [("event_name", name) for name in names]
        for field in ("external_id", "anonymous_id"):
            values = [getattr(e, field) for e in events]
            if all(values):
                distinct = sorted(set(values))
                if sum(len(v) + len(field) + 2 for v in distinct) <= _URL_BUDGET:
                    filters += [(field, v) for v in distinct]
                break
        for since, until in _spans(sorted(e.created_at for e in events)):
            query = [("from", rfc3339(since)), ("to", rfc3339(until)), ("limit", "100"), ("direction", "asc")]
            query += [("include_payload", "false"), *filters]
            for page in self._reader.pages("/events", query):
                yield page.results


def _spans(times: list[dt.datetime]) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Windows of at most 31 days that cover every time in ``times`` (sorted), each starting at its first."""
    i = 0
    while i < len(times):
        start = times[i].replace(microsecond=times[i].microsecond // 1000 * 1000)
        end = start + EVENTS_WINDOW
        while i < len(times) and times[i] < end:
            i += 1
        last = times[i - 1]
        yield from windows(start, min(end, last + dt.timedelta(milliseconds=1)), EVENTS_WINDOW)


def _identity(record: dict[str, Any]) -> tuple[str, str | None, str | None, dt.datetime, bool] | None:
    """``(name, external_id, anonymous_id, created_at, given to the second only)`` of a record, else ``None``."""
    given = record.get("user")
    user: dict[str, Any] = given if isinstance(given, dict) else {}
    created = record.get("created_at")
    if not isinstance(record.get("name"), str) or not isinstance(created, str):
        return None
    try:
        at = dt.datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return None
    to_seconds = "." not in created.split("T")[-1]
    return record["name"], user.get("external_id"), user.get("anonymous_id"), _truncate(at, to_seconds), to_seconds
