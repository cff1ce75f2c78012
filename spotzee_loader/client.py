"""The Spotzee events client: one session per thread, explicit timeouts, retries per ``retry.py``.

Knows the API, nothing of sources or checkpoints. ``deliver`` takes serialized events and an
idempotency key and returns which events Spotzee accepted and which it rejected, and why.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests

from .config import API_VERSION, ApiSettings
from .errors import ApiError, ApiUnavailableError, AuthError, IdempotencyMismatchError
from .ratelimit import RateLimiter
from .retry import Backoff, Verdict, classify, parse_retry_after

log = logging.getLogger(__name__)
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
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(
                {
                    "Authorization": f"Bearer {self._settings.api_key.reveal()}",
                    "Content-Type": "application/json",
                    "Spotzee-Version": API_VERSION,
                    "User-Agent": "spotzee-loader",
                }
            )
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

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
        retry = self._settings.retry
        try:
            response = self._session().post(
                self._url,
                data=body,
                headers={"Idempotency-Key": key},
                timeout=(retry.connect_timeout_s, retry.timeout_s),
            )
        except requests.Timeout:
            return None, "timeout", None
        except requests.ConnectionError:
            return None, "connection", None
        self._honour_rate_headers(response)
        parsed: dict[str, Any] = {}
        if response.content:
            try:
                loaded = orjson.loads(response.content)
                parsed = loaded if isinstance(loaded, dict) else {}
            except orjson.JSONDecodeError:
                parsed = {}
        answer = _Answer(response.status_code, parsed, response.headers.get("X-Request-Id") or parsed.get("request_id"))
        cause = str(response.status_code)
        return answer, cause, parse_retry_after(response.headers.get("Retry-After"))

    def _honour_rate_headers(self, response: requests.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
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
