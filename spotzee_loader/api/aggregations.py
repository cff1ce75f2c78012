"""Spotzee's read-back of what it recorded: ``GET /events/aggregations``, counts per event name and UTC day.

Follows the published contract (``shared/spotzee-api.md``, "Reading back"): ``from`` and ``to`` are RFC 3339
date-times, ``to`` exclusive; pages of at most 100 groups in ``results``; ``nextCursor`` is opaque (passed back
as it came, never parsed or built) and ``null`` on the last page. Throttling and outages are retried with the
load's policy (``retry.py``) inside the same retry budget. Knows the API, nothing of sources or checkpoints.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ..config import API_VERSION, ApiSettings
from ..errors import ApiError, ApiUnavailableError, AuthError
from .ratelimit import announced_window
from .retry import Backoff, parse_retry_after
from .transport import Transport, TransportError, TransportTimeoutError, TransportTlsError, tls_error

log = logging.getLogger(__name__)
http_log = logging.getLogger("spotzee_loader.http")

DayKey = tuple[str, str]
"""(event name, UTC day ``YYYY-MM-DD``)."""
PAGE_LIMIT = 100
"""The most groups a page may hold (the contract: 1 to 100; more is a 400)."""


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
        if not isinstance(body, dict):
            raise ValueError("the answer is not a JSON object")
        results, cursor = body.get("results"), body.get("nextCursor")
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise ValueError("'results' is not a list of records")
        if "nextCursor" not in body or not (cursor is None or isinstance(cursor, str)):
            raise ValueError("'nextCursor' is missing or not a string or null")
        for record in results:
            if not isinstance(record.get("count"), int) or isinstance(record.get("count"), bool):
                raise ValueError(f"a record has no integer 'count': {record}")
        return cls(results, cursor)


def spotzee_day_counts(
    api: ApiSettings,
    since: dt.datetime,
    until: dt.datetime,
    names: list[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> Counter[DayKey]:
    """Spotzee's counts per (event name, UTC day) of events with ``since <= created_at < until``."""
    base = api.base_url.rstrip("/") + "/events/aggregations"
    query: list[tuple[str, str]] = [("from", rfc3339(since)), ("to", rfc3339(until))]
    query += [("group_by", "event_name"), ("group_by", "day"), ("limit", str(PAGE_LIMIT))]
    query += [("event_name", name) for name in names]
    headers = {
        "Authorization": f"Bearer {api.api_key.reveal()}",
        "Accept": "application/json",
        "Spotzee-Version": API_VERSION,
        "User-Agent": "spotzee-loader",
    }
    reader = _PageReader(api, headers, sleep, clock, rng or random.Random())
    counts: Counter[DayKey] = Counter()
    cursor: str | None = None
    try:
        while True:
            page = reader.read(base + "?" + urllib.parse.urlencode(query + ([("cursor", cursor)] if cursor else [])))
            for record in page.results:
                counts[(str(record.get("event_name")), str(record.get("day"))[:10])] += record["count"]
            if page.next_cursor is None:
                return counts
            if page.next_cursor == cursor:
                raise ApiError(f"Spotzee's aggregations returned the same nextCursor twice ({cursor!r}); stopping.")
            cursor = page.next_cursor
    finally:
        reader.close()


class _PageReader:
    """GETs one page, retrying 429 / 5xx / network failures like a load, inside the retry budget."""

    def __init__(
        self,
        api: ApiSettings,
        headers: dict[str, str],
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._api, self._headers, self._sleep, self._clock, self._rng = api, headers, sleep, clock, rng
        self._transport = Transport(api.base_url, api, pool_size=1)
        self._window_reset = 0.0
        """When the key's announced window resets, once an answer said it has no request left."""

    def close(self) -> None:
        self._transport.close()

    def read(self, url: str) -> AggregationPage:
        budget = self._api.retry.budget_s
        backoff = Backoff(self._api.retry, self._rng)
        first_failure: float | None = None
        while True:
            spent = self._window_reset - self._clock()
            if spent > 0:
                log.info("Spotzee's window for this API key is used up (X-RateLimit-Remaining): waiting %.1fs", spent)
                self._sleep(spent)
            status, body, rid, retry_after, cause = self._attempt(url)
            if status == 200:
                try:
                    return AggregationPage.parse(body)
                except ValueError as exc:
                    raise ApiError(
                        f"Spotzee's aggregations answer is not the published page shape: {exc} (request {rid}).",
                        status=status,
                        request_id=rid,
                    ) from None
            if status is not None and status != 429 and status < 500:
                raise _refusal(status, body, rid)
            now = self._clock()
            first_failure = now if first_failure is None else first_failure
            wait = backoff.wait(cause, retry_after)
            if now + wait - first_failure > budget:
                raise ApiUnavailableError(
                    f"Spotzee's aggregations kept failing ({cause}) for over {budget:.0f}s, the retry budget; "
                    f"run verify again later (last request {rid}).",
                    status=status,
                    request_id=rid,
                )
            log.warning("retrying the aggregations page after %s: waiting %.2fs, request %s", cause, wait, rid)
            self._sleep(wait)

    def _attempt(self, url: str) -> tuple[int | None, Any, str | None, float | None, str]:
        """``(status, parsed body, request id, Retry-After, cause)``; status ``None`` for a network failure."""
        try:
            response = self._transport.request("GET", url, self._headers)
        except TransportTlsError as exc:
            raise tls_error(url, self._transport.proxy, exc) from None
        except TransportTimeoutError:
            return None, None, None, None, "timeout"
        except TransportError as exc:
            http_log.debug("GET %s: %s", url, exc)
            return None, None, None, None, "connection"
        try:
            body = orjson.loads(response.body) if response.body else None
        except orjson.JSONDecodeError:
            body = None
        rid = response.headers.get("x-request-id") or (body.get("request_id") if isinstance(body, dict) else None)
        window = announced_window(response.headers)
        if window is not None and window[0] == 0:
            self._window_reset = self._clock() + window[1]
        http_log.debug("GET %s: %d, request %s", url, response.status, rid)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return response.status, body, rid, retry_after, str(response.status)


def _refusal(status: int, body: Any, rid: str | None) -> ApiError:
    """One sentence for a 4xx: which parameter Spotzee refused and why, with the request id."""
    problem = body if isinstance(body, dict) else {}
    code = problem.get("code")
    detail = f"{status} {code or 'error'}, request {rid}"
    if status in (401, 403):
        return AuthError(
            f"Spotzee did not accept the API key for reading aggregations ({detail}); check --api-key or "
            "SPOTZEE_API_KEY, and that the key may read events.",
            status=status,
            code=code,
            request_id=rid,
        )
    errors = problem.get("errors")
    errors = errors if isinstance(errors, list) else []
    param = problem.get("param") or next((e.get("param") for e in errors if isinstance(e, dict)), None)
    message = problem.get("message") or problem.get("title") or "no reason given"
    named = f"parameter '{param}': " if param else ""
    return ApiError(
        f"Spotzee refused the aggregations query: {named}{message} ({detail}).",
        status=status,
        code=code,
        request_id=rid,
    )
