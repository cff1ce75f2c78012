"""Reconcile a source with what Spotzee reports: events per name and UTC day, side by side.

The source side maps every row exactly as a load would and counts the valid events (rejected rows are
never sent, so they are not expected). The Spotzee side pages through ``GET /events/aggregations``
grouped by event name and day over the same days.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import requests

from .config import API_VERSION, ApiSettings
from .errors import ApiError, ApiUnavailableError, AuthError
from .mapping import BatchMapper, Mapping
from .sources import ResumePoint, Source

DayKey = tuple[str, str]
"""(event name, UTC day ``YYYY-MM-DD``)."""


def source_day_counts(source: Source, mapping: Mapping) -> Counter[DayKey]:
    """Valid events per (name, day) that the source gives under ``mapping``, streamed batch by batch."""
    counts: Counter[DayKey] = Counter()
    mapper = BatchMapper(mapping, dt.datetime.now(dt.UTC))
    columns = None if mapping.data_columns == "*" else mapping.required_columns()
    for part in source.batches(ResumePoint(), columns):
        built = mapper.build(part.batch, part.first_row)
        if built.event_times is not None and len(built.event_times):
            days = pc.utf8_slice_codeunits(built.event_times, 0, 10)
            names = built.event_names if built.event_names is not None else pa.repeat(mapping.name, len(days))
            grouped = pa.table({"name": names, "day": days}).group_by(["name", "day"]).aggregate([([], "count_all")])
            for name, day, count in zip(
                *(grouped.column(c).to_pylist() for c in ("name", "day", "count_all")), strict=True
            ):
                counts[(name, day)] += count
    return counts


def spotzee_day_counts(api: ApiSettings, first_day: str, last_day: str, names: list[str]) -> Counter[DayKey]:
    """Spotzee's counts per (name, day) for days ``first_day``..``last_day`` (inclusive)."""
    until = (dt.date.fromisoformat(last_day) + dt.timedelta(days=1)).isoformat()
    url = api.base_url.rstrip("/") + "/events/aggregations"
    headers = {"Authorization": f"Bearer {api.api_key.reveal()}", "Spotzee-Version": API_VERSION}
    params: dict[str, Any] = {"from": first_day, "to": until, "group_by": ["event_name", "day"], "limit": 1000}
    if names:
        params["event_name"] = names
    counts: Counter[DayKey] = Counter()
    with requests.Session() as session:
        while True:
            try:
                response = session.get(url, params=params, headers=headers, timeout=api.retry.timeout_s)
            except requests.RequestException as exc:
                raise ApiUnavailableError(
                    f"could not reach Spotzee's aggregations at {url} ({type(exc).__name__}); try again later."
                ) from None
            body = response.json() if response.content else {}
            rid = body.get("request_id") or response.headers.get("X-Request-Id")
            if response.status_code in (401, 403):
                raise AuthError(
                    f"Spotzee did not accept the API key for reading aggregations ({response.status_code}, request "
                    f"{rid}); check --api-key or SPOTZEE_API_KEY.",
                    status=response.status_code,
                    request_id=rid,
                )
            if response.status_code != 200:
                raise ApiError(
                    f"Spotzee refused the aggregations query: {body.get('message') or response.reason} "
                    f"({response.status_code}, request {rid}).",
                    status=response.status_code,
                    code=body.get("code"),
                    request_id=rid,
                )
            for group in body.get("data") or []:
                counts[(group["event_name"], str(group["day"])[:10])] += int(group["count"])
            cursor = body.get("nextCursor")
            if not cursor:
                return counts
            params["cursor"] = cursor


def reconcile(source: Counter[DayKey], spotzee: Counter[DayKey]) -> list[dict[str, Any]]:
    """One row per (day, name) seen on either side, with the difference (Spotzee minus source)."""
    return [
        {"day": day, "event_name": name, "source": source[(name, day)], "spotzee": spotzee[(name, day)],
         "difference": spotzee[(name, day)] - source[(name, day)]}
        for name, day in sorted(set(source) | set(spotzee), key=lambda k: (k[1], k[0]))
    ]  # fmt: skip
