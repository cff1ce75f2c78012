"""Spotzee's read-back of what it recorded: ``GET /events/aggregations``, counts per event name and UTC day.

Used by ``verify`` to reconcile a source with Spotzee; knows the API, nothing of sources or checkpoints.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import requests

from ..config import API_VERSION, ApiSettings
from ..errors import ApiError, ApiUnavailableError, AuthError

DayKey = tuple[str, str]
"""(event name, UTC day ``YYYY-MM-DD``)."""


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
