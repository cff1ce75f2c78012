"""The Spotzee events client: one keep-alive connection per thread (``wire``), explicit timeouts, retries per
``retry.py``.

Knows the API, nothing of sources or checkpoints. ``deliver`` takes serialized events and an
idempotency key and returns which events Spotzee accepted and which it rejected, and why.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import certifi
import orjson

from ..config import API_VERSION, ApiSettings
from ..errors import ApiError, ApiUnavailableError, AuthError, ConfigError, IdempotencyMismatchError, TlsError
from .ratelimit import RateLimiter
from .retry import Backoff, Verdict, classify, parse_retry_after
from .wire import Connection, Endpoint, ProxyNotSupportedError, Response, WireError, WireTimeoutError, WireTlsError

log = logging.getLogger(__name__)
http_log = logging.getLogger("spotzee_loader.http")  # every exchange, shown by -vv
_INDEX = re.compile(r"^\[?(\d+)\]?")
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
    """Posts event batches to ``{base_url}/events``; thread-safe (one session per thread)."""

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
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._connections_lock = threading.Lock()
        self._endpoint = open_endpoint(self._url, settings)
        self._headers = (
            f"Authorization: Bearer {settings.api_key.reveal()}\r\n"
            "Content-Type: application/json\r\n"
            f"Spotzee-Version: {API_VERSION}\r\n"
            "User-Agent: spotzee-loader\r\n"
        )

    def _connection(self) -> Connection:
        """This thread's keep-alive connection to Spotzee (through a proxy when the environment names one)."""
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = Connection(self._endpoint)
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

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
        try:
            response = self._connection().post(f"{self._headers}Idempotency-Key: {key}\r\n", body)
        except WireTlsError as exc:
            raise TlsError(
                f"the TLS certificate of {self._endpoint.host} could not be verified ({exc}); "
                "if a proxy or private CA signs it, point SSL_CERT_FILE or REQUESTS_CA_BUNDLE at its CA bundle."
            ) from None
        except WireTimeoutError:
            http_log.debug("POST %s key %s: timeout", self._endpoint.target, key)
            return None, "timeout", None
        except WireError as exc:
            http_log.debug("POST %s key %s: %s", self._endpoint.target, key, exc)
            return None, "connection", None
        http_log.debug("POST %s key %s: %d", self._endpoint.target, key, response.status)
        self._honour_rate_headers(response)
        parsed: dict[str, Any] = {}
        if response.body:
            try:
                loaded = orjson.loads(response.body)
                parsed = loaded if isinstance(loaded, dict) else {}
            except orjson.JSONDecodeError:
                parsed = {}
        answer = _Answer(response.status, parsed, response.headers.get("x-request-id") or parsed.get("request_id"))
        cause = str(response.status)
        return answer, cause, parse_retry_after(response.headers.get("retry-after"))

    def _honour_rate_headers(self, response: Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining")
        reset = response.headers.get("x-ratelimit-reset")
        if remaining is None or reset is None:
            return
        try:
            if int(remaining) > 0:
                return
            seconds = float(reset)
        except ValueError:
            return
        if seconds > 1e9:  # an epoch timestamp rather than a delta
            seconds = max(0.0, seconds - time.time())
        self._limiter.pause_until(self._clock() + seconds)

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
            match = _INDEX.match(str((error or {}).get("param") or ""))
            if match and int(match.group(1)) < len(indexes):
                bad.setdefault(int(match.group(1)), error)
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


def open_endpoint(url: str, settings: ApiSettings) -> Endpoint:
    """Where ``url`` is and how to reach it, honouring the environment as requests would.

    Read once: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``, and the CA bundle from ``REQUESTS_CA_BUNDLE``,
    ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE`` (else certifi's). TLS verification is always on.
    """
    ca = next(
        (os.environ[v] for v in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE") if os.environ.get(v)),
        certifi.where(),
    )
    retry = settings.retry
    try:
        return Endpoint.from_url(url, ca, retry.connect_timeout_s, retry.timeout_s)
    except ProxyNotSupportedError as exc:
        raise ConfigError(f"{exc}.") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot use {url} ({exc}).") from None
