"""``GET /events`` and ``GET /journeys`` in the mock.

``GET /events`` (published): ``to - from`` at most 31 days, at least one filter, ``limit`` 1 to 100 (default
50), ``cursor``, ``direction`` ``asc`` | ``desc`` (default newest first), ``include_payload`` (default true;
``false`` omits ``data``). A record: ``{"id", "name", "created_at", "user": {"external_id", "anonymous_id"},
"campaign_id", "data"}``. ``GET /journeys``: ``limit`` (default 25), ``cursor``, ``sort``, ``direction``, ``q``;
each journey ``{"id", "name", "description", "status", "tags", "created_at", "updated_at"}``.
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
    instant,
    matches,
    page_size,
    single,
    time_range,
)

_EVENTS_KNOWN = {"from", "to", "limit", "cursor", "direction", "include_payload", *FILTERS}
_JOURNEYS_KNOWN = {"limit", "cursor", "sort", "direction", "q"}
EVENTS_MAX_DAYS = 31
EVENTS_DEFAULT_LIMIT, JOURNEYS_DEFAULT_LIMIT = 50, 25
_JOURNEY_SORTS = ("created_at", "updated_at", "name")


def _choice(query: dict[str, list[str]], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = single(query, name)
    if value is None:
        return default
    if value not in allowed:
        raise QueryError("parameter_invalid_format", name, f"{name} must be one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class EventsQuery:
    since: dt.datetime
    until: dt.datetime
    limit: int
    cursor: str | None
    descending: bool
    payload: bool
    filters: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def parse(cls, query: dict[str, list[str]]) -> EventsQuery:
        check_known(query, _EVENTS_KNOWN)
        since, until = time_range(query, EVENTS_MAX_DAYS)
        size = page_size(query, EVENTS_DEFAULT_LIMIT)
        descending = _choice(query, "direction", ("asc", "desc"), "desc") == "desc"
        payload = _choice(query, "include_payload", ("true", "false"), "true") == "true"
        return cls(since, until, size, single(query, "cursor"), descending, payload, filters(query))

    def signature(self) -> tuple[Any, ...]:
        return ("events", self.since, self.until, self.limit, self.descending, self.payload, self.filters)


def list_events(events: Iterable[RecordedEvent], query: EventsQuery) -> list[dict[str, Any]]:
    """The matching events as records, ordered by time then id, newest first unless ``asc``."""
    wanted = dict(query.filters)
    chosen = [e for e in events if query.since <= e.at < query.until and matches(e, wanted)]
    chosen.sort(key=lambda e: (e.at, e.id), reverse=query.descending)
    records = []
    for event in chosen:
        record: dict[str, Any] = {
            "id": event.id,
            "name": event.name,
            "created_at": instant(event.at),
            "user": {"external_id": event.external_id, "anonymous_id": event.anonymous_id},
            "campaign_id": None,
        }
        if query.payload:
            record["data"] = event.data
        records.append(record)
    return records


@dataclass(frozen=True)
class JourneysQuery:
    limit: int
    cursor: str | None
    sort: str
    descending: bool
    q: str | None

    @classmethod
    def parse(cls, query: dict[str, list[str]]) -> JourneysQuery:
        check_known(query, _JOURNEYS_KNOWN)
        size = page_size(query, JOURNEYS_DEFAULT_LIMIT)
        sort = _choice(query, "sort", _JOURNEY_SORTS, "created_at")
        descending = _choice(query, "direction", ("asc", "desc"), "desc") == "desc"
        return cls(size, single(query, "cursor"), sort, descending, single(query, "q"))

    def signature(self) -> tuple[Any, ...]:
        return ("journeys", self.limit, self.sort, self.descending, self.q)


def journey_record(index: int, given: dict[str, Any]) -> dict[str, Any]:
    """A configured journey with every published field (the configuration may give only some)."""
    stamp = "2026-01-01T00:00:00.000Z"
    return {
        "id": given.get("id", index + 1),
        "name": given.get("name", f"Journey {index + 1}"),
        "description": given.get("description"),
        "status": given.get("status", "draft"),
        "tags": list(given.get("tags", [])),
        "created_at": given.get("created_at", stamp),
        "updated_at": given.get("updated_at", stamp),
    }


def list_journeys(configured: list[dict[str, Any]], query: JourneysQuery) -> list[dict[str, Any]]:
    journeys = [journey_record(i, j) for i, j in enumerate(configured)]
    if query.q:
        journeys = [j for j in journeys if query.q.lower() in str(j["name"]).lower()]
    journeys.sort(key=lambda j: (str(j[query.sort]), str(j["id"])), reverse=query.descending)
    return journeys
