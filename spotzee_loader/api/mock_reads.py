"""The mock's read-back endpoint, ``GET /events/aggregations``, held to the published contract.

``shared/spotzee-api.md`` ("Reading back"): ``from``/``to`` are required RFC 3339 date-times (``to``
exclusive); ``group_by`` repeatable, each of ``event_name``, ``campaign``, ``user``, ``day`` (UTC calendar
day); filters ``event_name``, ``external_id``, ``anonymous_id``, ``campaign_id``; ``limit`` 1 to 100 (default
25); ``cursor`` is the opaque ``nextCursor`` of the previous page. Anything else is a 400 naming the parameter.
The page is exactly ``{"results", "nextCursor", "prevCursor", "limit"}``; a record carries the keys of its
``group_by`` dimensions plus ``count``, ``unique_user_count``, ``first_seen_at``, ``last_seen_at``.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# group_by value -> the record key that carries it
DIMENSIONS = {"event_name": "event_name", "campaign": "campaign_id", "user": "user", "day": "day"}
FILTERS = ("event_name", "external_id", "anonymous_id", "campaign_id")
_KNOWN = {"from", "to", "group_by", "limit", "cursor", *FILTERS}
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
DEFAULT_LIMIT, MAX_LIMIT = 25, 100


class QueryError(Exception):
    """A 400: ``code`` and ``param`` as Spotzee's problem body carries them."""

    def __init__(self, code: str, param: str, message: str) -> None:
        super().__init__(message)
        self.code, self.param, self.message = code, param, message


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the read-back sees it: its UTC time parsed once, when it settled."""

    at: dt.datetime
    name: str
    external_id: str | None
    anonymous_id: str | None


def recorded(event: dict[str, Any], received_at: dt.datetime) -> RecordedEvent:
    created = event.get("created_at")
    at = dt.datetime.fromisoformat(created).astimezone(dt.UTC) if created else received_at
    return RecordedEvent(at, event["name"], event.get("external_id"), event.get("anonymous_id"))


@dataclass(frozen=True)
class AggregationQuery:
    since: dt.datetime
    until: dt.datetime
    group_by: tuple[str, ...]
    limit: int
    cursor: str | None
    filters: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def parse(cls, query: dict[str, list[str]]) -> AggregationQuery:
        unknown = sorted(set(query) - _KNOWN)
        if unknown:
            raise QueryError("parameter_unknown", unknown[0], f"unknown query parameter {unknown[0]}")
        since, until = _date_time(query, "from"), _date_time(query, "to")
        group_by = tuple(query.get("group_by", []))
        for value in group_by:
            if value not in DIMENSIONS:
                raise QueryError(
                    "parameter_invalid_format", "group_by", f"group_by must be one of {', '.join(DIMENSIONS)}"
                )
        limit = _single(query, "limit")
        if limit is None:
            size = DEFAULT_LIMIT
        elif not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise QueryError("parameter_invalid_format", "limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
        else:
            size = int(limit)
        filters = tuple((name, tuple(query[name])) for name in FILTERS if name in query)
        return cls(since, until, tuple(dict.fromkeys(group_by)), size, _single(query, "cursor"), filters)

    def signature(self) -> tuple[Any, ...]:
        """The query without its cursor: a cursor is valid only for the query that made it."""
        return (self.since, self.until, self.group_by, self.limit, self.filters)


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise QueryError("parameter_invalid_format", name, f"{name} may be given once")
    return values[0]


def _date_time(query: dict[str, list[str]], name: str) -> dt.datetime:
    value = _single(query, name)
    if value is None:
        raise QueryError("parameter_missing", name, f"{name} is required")
    if not _DATE_TIME.match(value):
        raise QueryError("parameter_invalid_format", name, f"{name} must be an RFC 3339 date-time")
    return dt.datetime.fromisoformat(value.replace("z", "Z").replace("t", "T")).astimezone(dt.UTC)


def _seen(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def aggregate(events: Iterable[RecordedEvent], query: AggregationQuery) -> list[dict[str, Any]]:
    """The groups of the events matching ``query``, in a stable order (by their dimension values)."""
    wanted = dict(query.filters)
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for event in events:
        if not query.since <= event.at < query.until:
            continue
        if any(_field(event, name) not in values for name, values in wanted.items()):
            continue
        user = event.external_id or event.anonymous_id
        key = tuple(_dimension(event, d, user) for d in query.group_by)
        group = groups.setdefault(key, [0, event.at, event.at, set()])
        group[0] += 1
        group[1], group[2] = min(group[1], event.at), max(group[2], event.at)
        group[3].add(user)
    if not query.group_by and not groups:
        return [{"count": 0, "unique_user_count": 0, "first_seen_at": None, "last_seen_at": None}]
    return [
        {
            **{DIMENSIONS[d]: v for d, v in zip(query.group_by, key, strict=True)},
            "count": count,
            "unique_user_count": len(users),
            "first_seen_at": _seen(first),
            "last_seen_at": _seen(last),
        }
        for key, (count, first, last, users) in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))
    ]


def _field(event: RecordedEvent, name: str) -> str | None:
    return {"event_name": event.name, "external_id": event.external_id, "anonymous_id": event.anonymous_id}.get(name)


def _dimension(event: RecordedEvent, dimension: str, user: str | None) -> Any:
    if dimension == "event_name":
        return event.name
    if dimension == "day":
        return event.at.date().isoformat()
    if dimension == "user":
        return user
    return None  # campaign: events sent by the API belong to no campaign


class CursorBook:
    """Opaque cursors: random tokens the mock remembers, each bound to one query and one position."""

    def __init__(self) -> None:
        self._positions: dict[str, tuple[tuple[Any, ...], int]] = {}
        self._lock = threading.Lock()

    def issue(self, query: AggregationQuery, offset: int) -> str:
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._positions[token] = (query.signature(), offset)
        return token

    def offset(self, query: AggregationQuery) -> int:
        if query.cursor is None:
            return 0
        with self._lock:
            known = self._positions.get(query.cursor)
        if known is None or known[0] != query.signature():
            raise QueryError("parameter_invalid_format", "cursor", "cursor is not one this query returned")
        return known[1]


def page(groups: list[dict[str, Any]], query: AggregationQuery, cursors: CursorBook) -> dict[str, Any]:
    start = cursors.offset(query)
    end = start + query.limit
    return {
        "results": groups[start:end],
        "nextCursor": cursors.issue(query, end) if end < len(groups) else None,
        "prevCursor": cursors.issue(query, max(0, start - query.limit)) if start > 0 else None,
        "limit": query.limit,
    }
