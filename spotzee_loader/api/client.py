"""The Spotzee events client: a pool of keep-alive connections (``transport``), explicit timeouts, retries per
``retry.py``.

Knows the API, nothing of sources or checkpoints. ``deliver`` takes serialized events and an
idempotency key and returns which events Spotzee accepted and which it rejected, and why.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..config import API_VERSION, ApiSettings
from ..errors import ApiError, ApiUnavailableError, AuthError, IdempotencyMismatchError
from .ratelimit import RateLimiter, announced_window
from .retry import Backoff, Verdict, classify, parse_retry_after
from .transport import Transport, TransportError, TransportTimeoutError, TransportTlsError, tls_error

log = logging.getLogger(__name__)
http_log = logging.getLogger("spotzee_loader.http")  # every exchange, shown by -vv
# errors[].param names an event of the batch; the contract does not fix the spelling: "[1].name", "1.name",
# "events[1].name" and a bare "[1]" are all read as event 1.
_INDEX = re.compile(r"^(?:[A-Za-z_]\w*\[|\[)?(\d+)\]?(?:[.\[]|$)")
_AUTH_ADVICE = {
    401: "Spotzee did not accept the API key; check the project secret key (sk_...) given by --api-key, "
    "SPOTZEE_API_KEY or the Airflow connection's password",
    402: "Spotzee says the project's quota is spent; raise the plan's quota, then re-run to resume",
    403: "Spotzee says this API key may not send events; use a key with event permissions",
}


@dataclass(frozen=True)
class ItemRejection:
    """One event Spotzee refused, with what it said."""

    index: int
    status: int
    code: str | None
    param: str | None
    message: str
    request_id: str | None


@dataclass
class Delivery:
    """The outcome of delivering one chunk (possibly over several requests)."""

    accepted: int = 0
    rejected: list[ItemRejection] = field(default_factory=list)
    requests: int = 0
    retries: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any]
    request_id: str | None


class SpotzeeClient:
    """Posts event batches to ``{base_url}/events``; thread-safe (the connections are pooled)."""

    def __init__(
        self,
        settings: ApiSettings,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._url = settings.base_url.rstrip("/") + "/events"
        self._limiter = limiter or RateLimiter(settings.rate_limit)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._transport = Transport(self._url, settings, pool_size=max(1, settings.concurrency))
        self._headers = {
            "Authorization": f"Bearer {settings.api_key.reveal()}",
            "Content-Type": "application/json",
            "Spotzee-Version": API_VERSION,
            "User-Agent": "spotzee-loader",
        }

    def close(self) -> None:
        self._transport.close()

    # -- one request, retried ------------------------------------------------------------

    def _post(self, body: bytes, key: str, delivery: Delivery) -> _Answer:
        retry = self._settings.retry
        backoff = Backoff(retry, self._rng)
        first_failure: float | None = None
        while True:
            self._limiter.acquire()
            delivery.requests += 1
            answer, cause, retry_after = self._attempt(body, key)
            if answer is not None:
                verdict = classify(answer.status, answer.body.get("code"))
                if verdict is Verdict.ACCEPTED or verdict is Verdict.ITEMS:
                    return answer
                if verdict is not Verdict.RETRY:
                    raise self._fatal(verdict, answer)
            now = self._clock()
            first_failure = now if first_failure is None else first_failure
            wait = backoff.wait(cause, retry_after)
            if now + wait - first_failure > retry.budget_s:
                rid = answer.request_id if answer else None
                raise ApiUnavailableError(
                    f"Spotzee kept failing ({cause}) for over {retry.budget_s:.0f}s, the retry budget; "
                    "nothing is lost: re-run the same command later to resume"
                    + (f" (last request {rid})" if rid else "")
                    + ".",
                    status=answer.status if answer else None,
                    request_id=rid,
                )
            delivery.retries[cause] += 1
            log.warning(
                "retrying batch %s after %s: attempt %d, waiting %.2fs%s",
                key,
                cause,
                delivery.requests,
                wait,
                f", request {answer.request_id}" if answer and answer.request_id else "",
            )
            self._sleep(wait)

    def _attempt(self, body: bytes, key: str) -> tuple[_Answer | None, str, float | None]:
        """One POST. Returns the answer, or ``None`` with the cause of a network failure."""
        window = None
        try:
            response = self._transport.request("POST", self._url, {**self._headers, "Idempotency-Key": key}, body)
            window = announced_window(response.headers)
        except TransportTlsError as exc:
            raise tls_error(self._url, self._transport.proxy, exc) from None
        except TransportTimeoutError:
            http_log.debug("POST %s key %s: timeout", self._url, key)
            return None, "timeout", None
        except TransportError as exc:
            http_log.debug("POST %s key %s: %s", self._url, key, exc)
            return None, "connection", None
        finally:
            self._limiter.answered(window)
        parsed: dict[str, Any] = {}
        if response.body:
            try:
                loaded = orjson.loads(response.body)
                parsed = loaded if isinstance(loaded, dict) else {}
            except orjson.JSONDecodeError:
                parsed = {}
        answer = _Answer(response.status, parsed, response.headers.get("x-request-id") or parsed.get("request_id"))
        http_log.debug("POST %s key %s: %d, request %s", self._url, key, response.status, answer.request_id)
        cause = str(response.status)
        return answer, cause, parse_retry_after(response.headers.get("retry-after"))

    def _fatal(self, verdict: Verdict, answer: _Answer) -> ApiError:
        code = answer.body.get("code")
        rid = answer.request_id
        detail = f"{answer.status} {code or 'error'}" + (f", request {rid}" if rid else "")
        if verdict is Verdict.AUTH:
            return AuthError(
                f"{_AUTH_ADVICE[answer.status]} ({detail}).", status=answer.status, code=code, request_id=rid
            )
        if verdict is Verdict.MISMATCH:
            return IdempotencyMismatchError(
                "Spotzee already received a different body under this batch's idempotency key: the source "
                "or mapping changed since a run within the last 24 hours; use --restart or a new --job "
                f"({detail}).",
                status=answer.status,
                code=code,
                request_id=rid,
            )
        message = answer.body.get("message") or answer.body.get("title") or "request refused"
        return ApiError(
            f"Spotzee refused the request: {message} ({detail}).", status=answer.status, code=code, request_id=rid
        )

    # -- a chunk, with invalid events isolated -------------------------------------------

    def deliver(self, events: list[bytes], key: str) -> Delivery:
        """Send ``events`` under ``key``; invalid events are isolated and reported, the rest delivered."""
        delivery = Delivery()
        self._deliver(list(range(len(events))), events, key, delivery)
        return delivery

    def _deliver(self, indexes: list[int], events: list[bytes], key: str, delivery: Delivery) -> None:
        body = b"[" + b",".join(events[i] for i in indexes) + b"]"
        answer = self._post(body, key, delivery)
        if 200 <= answer.status < 300:
            delivery.accepted += len(indexes)
            return
        errors = answer.body.get("errors") or []
        bad: dict[int, dict[str, Any]] = {}
        for error in errors if isinstance(errors, list) else []:
            index = item_index(str((error or {}).get("param") or ""))
            if index is not None and index < len(indexes):
                bad.setdefault(index, error)
        if len(indexes) == 1 and not bad:
            bad = {0: {"code": answer.body.get("code"), "message": answer.body.get("message")}}
        if bad:
            for local, error in sorted(bad.items()):
                delivery.rejected.append(
                    ItemRejection(
                        index=indexes[local],
                        status=answer.status,
                        code=error.get("code") or answer.body.get("code"),
                        param=error.get("param"),
                        message=str(error.get("message") or answer.body.get("message") or ""),
                        request_id=answer.request_id,
                    )
                )
            rest = [idx for local, idx in enumerate(indexes) if local not in bad]
            if rest:
                # A new key: the original one is now bound to the refused body.
                self._deliver(rest, events, key + "-r", delivery)
            return
        # The server did not say which events are at fault: halve until it does.
        half = len(indexes) // 2
        self._deliver(indexes[:half], events, key + "-a", delivery)
        self._deliver(indexes[half:], events, key + "-b", delivery)


def item_index(param: str) -> int | None:
    """The position in the batch of the event an ``errors[].param`` names, or ``None`` for a request-level one."""
    match = _INDEX.match(param)
    return int(match.group(1)) if match else None
