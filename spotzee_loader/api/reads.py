"""GETs against Spotzee's read endpoints (``/events``, ``/events/aggregations``, ``/journeys``), paced and retried.

Reads count against the same per-IP rules as the events (``shared/spotzee-api.md``): every page goes through the
load's ``RateLimiter`` when one is given, a 429 blocks every sender of it until the block lifts, and ``503`` (query
capacity busy) or a 5xx is retried after ``Retry-After`` (seconds or an HTTP date) or a backoff, inside the retry
budget. Pages are ``{"results", "nextCursor", "prevCursor", "limit"}``; ``nextCursor`` is opaque: passed back as
it came, never parsed or built, ``null`` on the last page.
"""

from __future__ import annotations

import logging
import random
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ..config import API_VERSION, ApiSettings
from ..errors import ApiError, ApiUnavailableError
from .ratelimit import RateLimiter, announced_window
from .refusals import read_refusal
from .retry import Backoff, parse_retry_after
from .transport import Transport, TransportError, TransportTimeoutError, TransportTlsError, tls_error

log = logging.getLogger(__name__)
Check = Callable[[list[dict[str, Any]]], object]
http_log = logging.getLogger("spotzee_loader.http")


@dataclass(frozen=True)
class Page:
    """One page of the published shape."""

    results: list[dict[str, Any]]
    next_cursor: str | None

    @classmethod
    def parse(cls, body: Any) -> Page:
        """The page, or ``ValueError`` naming what is not the published shape."""
        if not isinstance(body, dict):
            raise ValueError("the answer is not a JSON object")
        results, cursor = body.get("results"), body.get("nextCursor")
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise ValueError("'results' is not a list of records")
        if "nextCursor" not in body or not (cursor is None or isinstance(cursor, str)):
            raise ValueError("'nextCursor' is missing or not a string or null")
        return cls(results, cursor)


class Reader:
    """Reads pages of one endpoint family; thread-safe when its transport is (one per thread otherwise)."""

    def __init__(
        self,
        api: ApiSettings,
        what: str,
        *,
        limiter: RateLimiter | None = None,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._api, self._what = api, what
        # Without a load's limiter (verify), one at the API's rate: pacing, the key's window and blocks alike.
        self._limiter = limiter or RateLimiter(api.rate_limit, clock=clock, sleep=sleep)
        self._own_transport = transport is None
        self._transport = transport or Transport(api.base_url, api, pool_size=1)
        self._sleep, self._clock, self._rng = sleep, clock, rng or random.Random()
        self._headers = {
            "Authorization": f"Bearer {api.api_key.reveal()}",
            "Accept": "application/json",
            "Spotzee-Version": API_VERSION,
            "User-Agent": "spotzee-loader",
        }
        self.requests = 0

    def close(self) -> None:
        if self._own_transport:
            self._transport.close()

    def pages(self, path: str, query: list[tuple[str, str]], check: Check | None = None) -> Iterator[Page]:
        """Every page of ``GET {base}{path}?query``, following ``nextCursor`` to its end; ``check`` raises
        ``ValueError`` for a record that is not of the endpoint's published shape."""
        base = self._api.base_url.rstrip("/") + path
        cursor: str | None = None
        while True:
            page = self.read(
                base + "?" + urllib.parse.urlencode(query + ([("cursor", cursor)] if cursor else [])), check
            )
            yield page
            if page.next_cursor is None:
                return
            if page.next_cursor == cursor:
                raise ApiError(f"Spotzee's {self._what} returned the same nextCursor twice ({cursor!r}); stopping.")
            cursor = page.next_cursor

    def read(self, url: str, check: Check | None = None) -> Page:
        budget = self._api.retry.budget_s
        backoff = Backoff(self._api.retry, self._rng)
        first_failure: float | None = None
        while True:
            self._limiter.acquire()
            status, body, rid, retry_after, cause = self._attempt(url)
            if status == 200:
                try:
                    page = Page.parse(body)
                    if check is not None:
                        check(page.results)
                    return page
                except ValueError as exc:
                    raise ApiError(
                        f"Spotzee's {self._what} answer is not the published page shape: {exc} (request {rid}).",
                        status=status,
                        request_id=rid,
                    ) from None
            if status is not None and status != 429 and status < 500 and status != 408:
                raise read_refusal(self._what, status, body, rid, url.split("?")[0])
            now = self._clock()
            first_failure = now if first_failure is None else first_failure
            if status == 429:
                wait = self._limiter.blocked_by_429(retry_after, rid, f"a read of {self._what}")
            else:
                wait = backoff.wait(cause, retry_after)
            if now + wait - first_failure > budget:
                raise ApiUnavailableError(
                    f"Spotzee's {self._what} kept failing ({cause}) for over {budget:.0f}s, the retry budget "
                    f"(last request {rid}).",
                    status=status,
                    request_id=rid,
                )
            if status != 429:
                log.warning(
                    "retrying a read of Spotzee's %s after %s: waiting %.2fs, request %s", self._what, cause, wait, rid
                )
            if wait > 0:
                self._sleep(wait)

    def _attempt(self, url: str) -> tuple[int | None, Any, str | None, float | None, str]:
        """``(status, parsed body, request id, Retry-After, cause)``; status ``None`` for a network failure."""
        window = None
        self.requests += 1
        try:
            response = self._transport.request("GET", url, self._headers)
            window = announced_window(response.headers)
        except TransportTlsError as exc:
            raise tls_error(url, self._transport.proxy, exc) from None
        except TransportTimeoutError:
            return None, None, None, None, "timeout"
        except TransportError as exc:
            http_log.debug("GET %s: %s", url, exc)
            return None, None, None, None, "connection"
        finally:
            self._limiter.answered(window)
        try:
            body = orjson.loads(response.body) if response.body else None
        except orjson.JSONDecodeError:
            body = None
        rid = response.headers.get("x-request-id") or (body.get("request_id") if isinstance(body, dict) else None)
        http_log.debug("GET %s: %d, request %s", url, response.status, rid)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return response.status, body, rid, retry_after, str(response.status)
