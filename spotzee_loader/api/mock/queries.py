"""What the mock's reads share, held to the published contract (``shared/spotzee-api.md``, "Reading back"):
RFC 3339 ``from``/``to`` (``to`` exclusive), repeatable filters of which at least one is required, ``limit``,
opaque cursors, the page shape ``{"results", "nextCursor", "prevCursor", "limit"}``, and 400s naming the
parameter. Events are seen as ``RecordedEvent``: what the reads know of an event once it is processed.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FILTERS = ("event_name", "external_id", "anonymous_id", "campaign_id")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
MAX_LIMIT = 100


class QueryError(Exception):
    """A 400: ``code`` and ``param`` as Spotzee's problem body carries them."""

    def __init__(self, code: str, param: str, message: str) -> None:
        super().__init__(message)
        self.code, self.param, self.message = code, param, message


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the reads see it: its UTC time parsed once, when it was processed."""

    id: str
    at: dt.datetime
    name: str
    external_id: str | None
    anonymous_id: str | None
    data: Any


def recorded(event_id: str, event: dict[str, Any], received_at: dt.datetime) -> RecordedEvent:
    created = event.get("created_at")
    at = dt.datetime.fromisoformat(created).astimezone(dt.UTC) if created else received_at
    ids = (event.get("external_id"), event.get("anonymous_id"))
    return RecordedEvent(event_id, at, event["name"], *ids, event.get("data"))


def check_known(query: dict[str, list[str]], known: set[str]) -> None:
    unknown = sorted(set(query) - known)
    if unknown:
        raise QueryError("parameter_unknown", unknown[0], f"unknown query parameter {unknown[0]}")


def single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise QueryError("parameter_invalid_format", name, f"{name} may be given once")
    return values[0]


def date_time(query: dict[str, list[str]], name: str) -> dt.datetime:
    value = single(query, name)
    if value is None:
        raise QueryError("parameter_missing", name, f"{name} is required")
    if not _DATE_TIME.match(value):
        raise QueryError("parameter_invalid_format", name, f"{name} must be an RFC 3339 date-time")
    return dt.datetime.fromisoformat(value.replace("z", "Z").replace("t", "T")).astimezone(dt.UTC)


def time_range(query: dict[str, list[str]], max_days: int) -> tuple[dt.datetime, dt.datetime]:
    """``from`` and ``to``, ``to`` after ``from`` and at most ``max_days`` later."""
    since, until = date_time(query, "from"), date_time(query, "to")
    if until <= since:
        raise QueryError("parameter_invalid_format", "to", "to must be after from")
    if until - since > dt.timedelta(days=max_days):
        raise QueryError("parameter_invalid_format", "to", f"to - from may be at most {max_days} days")
    return since, until


def page_size(query: dict[str, list[str]], default: int) -> int:
    limit = single(query, "limit")
    if limit is None:
        return default
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise QueryError("parameter_invalid_format", "limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(limit)


def filters(query: dict[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The filters given; at least one is required."""
    given = tuple((name, tuple(query[name])) for name in FILTERS if name in query)
    if not given:
        raise QueryError("parameter_missing", "event_name", f"at least one filter is required: {', '.join(FILTERS)}")
    return given


def matches(event: RecordedEvent, wanted: dict[str, tuple[str, ...]]) -> bool:
    """Every filter given holds (values of one filter are alternatives)."""
    fields = {"event_name": event.name, "external_id": event.external_id, "anonymous_id": event.anonymous_id}
    return all(fields.get(name) in values for name, values in wanted.items())


class CursorBook:
    """Opaque cursors: random tokens the mock remembers, each bound to one query and one position."""

    def __init__(self) -> None:
        self._positions: dict[str, tuple[tuple[Any, ...], Any]] = {}
        self._lock = threading.Lock()

    def issue(self, signature: tuple[Any, ...], position: Any) -> str:
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._positions[token] = (signature, position)
        return token

    def position(self, signature: tuple[Any, ...], cursor: str) -> Any:
        with self._lock:
            known = self._positions.get(cursor)
        if known is None or known[0] != signature:
            raise QueryError("parameter_invalid_format", "cursor", "cursor is not one this query returned")
        return known[1]


def page(
    items: list[dict[str, Any]],
    signature: tuple[Any, ...],
    cursor: str | None,
    limit: int,
    cursors: CursorBook,
    after: Callable[[dict[str, Any], Any], bool] | None = None,
    position_of: Callable[[dict[str, Any]], Any] | None = None,
) -> dict[str, Any]:
    """One page of ``items``. By offset; or, given ``after`` and ``position_of``, by keyset (the cursor holds the
    last record's position, so records added meanwhile neither shift nor repeat the pages that follow)."""
    if after is not None and position_of is not None:
        start = 0
        if cursor is not None:
            last = cursors.position(signature, cursor)
            start = next((i for i, item in enumerate(items) if after(item, last)), len(items))
        chunk = items[start : start + limit]
        more = start + limit < len(items)
        return {
            "results": chunk,
            "nextCursor": cursors.issue(signature, position_of(chunk[-1])) if more and chunk else None,
            "prevCursor": None,
            "limit": limit,
        }
    start = 0 if cursor is None else int(cursors.position(signature, cursor))
    end = start + limit
    return {
        "results": items[start:end],
        "nextCursor": cursors.issue(signature, end) if end < len(items) else None,
        "prevCursor": cursors.issue(signature, max(0, start - limit)) if start > 0 else None,
        "limit": limit,
    }


def instant(at: dt.datetime) -> str:
    """A recorded time as the reads give it: UTC, milliseconds, ``Z``."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
