"""``GET /events/aggregations`` in the mock: counts per group of the processed events.

Published rules: ``group_by`` repeatable, each of ``event_name``, ``campaign``, ``user``, ``day`` (UTC calendar
day); ``to - from`` at most 366 days; at least one filter; ``limit`` 1 to 100, default 50. A record carries the
keys of its ``group_by`` dimensions plus ``count``, ``unique_user_count``, ``first_seen_at``, ``last_seen_at``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .queries import (
    FILTERS,
    QueryError,
    RecordedEvent,
    check_known,
    filters,
    matches,
    page_size,
    single,
    time_range,
)

# group_by value -> the record key that carries it
DIMENSIONS = {"event_name": "event_name", "campaign": "campaign_id", "user": "user", "day": "day"}
_KNOWN = {"from", "to", "group_by", "limit", "cursor", *FILTERS}
DEFAULT_LIMIT = 50
MAX_DAYS = 366


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
        check_known(query, _KNOWN)
        since, until = time_range(query, MAX_DAYS)
        group_by = tuple(query.get("group_by", []))
        for value in group_by:
            if value not in DIMENSIONS:
                raise QueryError(
                    "parameter_invalid_format", "group_by", f"group_by must be one of {', '.join(DIMENSIONS)}"
                )
        size = page_size(query, DEFAULT_LIMIT)
        return cls(since, until, tuple(dict.fromkeys(group_by)), size, single(query, "cursor"), filters(query))

    def signature(self) -> tuple[Any, ...]:
        """The query without its cursor: a cursor is valid only for the query that made it."""
        return ("aggregations", self.since, self.until, self.group_by, self.limit, self.filters)


def _seen(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def aggregate(events: Iterable[RecordedEvent], query: AggregationQuery) -> list[dict[str, Any]]:
    """The groups of the events matching ``query``, in a stable order (by their dimension values)."""
    wanted = dict(query.filters)
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for event in events:
        if not query.since <= event.at < query.until or not matches(event, wanted):
            continue
        user = event.external_id or event.anonymous_id
        key = tuple(_dimension(event, d) for d in query.group_by)
        group = groups.setdefault(key, [0, event.at, event.at, set()])
        group[0] += 1
        group[1], group[2] = min(group[1], event.at), max(group[2], event.at)
        group[3].add(user)
    if not query.group_by and not groups:
        return [{"count": 0, "unique_user_count": 0, "first_seen_at": None, "last_seen_at": None}]
    return [
        {
            **{DIMENSIONS[d]: _shown(d, v) for d, v in zip(query.group_by, key, strict=True)},
            "count": count,
            "unique_user_count": len(users),
            "first_seen_at": _seen(first),
            "last_seen_at": _seen(last),
        }
        for key, (count, first, last, users) in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))
    ]


def _shown(dimension: str, value: Any) -> Any:
    if dimension == "user":
        return {"external_id": value[0], "anonymous_id": value[1]}
    return value


def _dimension(event: RecordedEvent, dimension: str) -> Any:
    if dimension == "event_name":
        return event.name
    if dimension == "day":
        return event.at.date().isoformat()
    if dimension == "user":
        return (event.external_id, event.anonymous_id)
    return None  # campaign: events sent by the API belong to no campaign
