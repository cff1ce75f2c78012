"""The Spotzee events client: a pool of keep-alive connections (``transport``), explicit timeouts, retries per
``retry.py``, pacing per ``ratelimit.py``.

Knows the API, nothing of sources or checkpoints. ``deliver`` takes serialized events and an idempotency key and
returns which events Spotzee accepted and which it rejected, and why. A request that went out whole but got no
answer (a read timeout, a connection dropped after sending) may have been recorded: Spotzee's Main API ignores
``Idempotency-Key`` today, so it is not resent blindly. ``deliver`` hands it back as ``ambiguous`` and ``settle``
(run apart, so the other chunks go on) asks ``GET /events`` whether its events were recorded, and resends only
those that were not. Once an answer says ``Idempotent-Replayed: true``, Spotzee enforces keys: from then on an
ambiguous request is simply resent under its key, and Spotzee replays it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ..config import API_VERSION, ApiSettings
from ..errors import ApiUnavailableError, SpotzeeLoaderError
from .delivery import Ambiguity, Delivery, ItemRejection, item_index, unverified
from .ratelimit import RateLimiter, announced_window
from .readback import ReadBack, SentEvent
from .reads import Reader
from .refusals import write_refusal
from .retry import Backoff, Verdict, classify, parse_retry_after
from .transport import Transport, TransportError, TransportTimeoutError, TransportTlsError, tls_error

log = logging.getLogger(__name__)
http_log = logging.getLogger("spotzee_loader.http")  # every exchange, shown by -vv


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
        self.keys_enforced = False
        """Set once an answer said ``Idempotent-Replayed: true``: Spotzee replays a known key, resending is safe."""
        self._unreadable: str | None = None
        """Why the reads cannot be used to settle ambiguities (a key that may not read events), once known."""
        self._headers = {
            "Authorization": f"Bearer {settings.api_key.reveal()}",
            "Content-Type": "application/json",
            "Spotzee-Version": API_VERSION,
            "User-Agent": "spotzee-loader",
        }

    def close(self) -> None:
        self._transport.close()

    # -- one request, retried ------------------------------------------------------------

    def _post(self, body: bytes, key: str, delivery: Delivery) -> _Answer | str:
        """The answer, or the cause (``timeout``, ``connection``) when the request went out whole and no answer
        came: then Spotzee may have recorded it, and resending is for ``settle`` to decide."""
        retry = self._settings.retry
        backoff = Backoff(retry, self._rng)
        first_failure: float | None = None
        while True:
            self._limiter.acquire()
            delivery.requests += 1
            answer, cause, retry_after, sent = self._attempt(body, key)
            if answer is not None:
                verdict = classify(answer.status, answer.body.get("code"))
                if verdict is Verdict.ACCEPTED or verdict is Verdict.ITEMS:
                    return answer
                if verdict not in (Verdict.RETRY, Verdict.THROTTLED):
                    raise write_refusal(answer.status, answer.body, answer.request_id, self._url)
            elif sent and not self.keys_enforced:
                return cause
            now = self._clock()
            first_failure = now if first_failure is None else first_failure
            if answer is not None and answer.status == 429:
                # Every sender stops until the block lifts; this request goes again behind them, in its turn.
                wait = self._limiter.blocked_by_429(retry_after, answer.request_id)
            else:
                wait = backoff.wait(cause, retry_after)
            if now + wait - first_failure > retry.budget_s:
                rid = answer.request_id if answer else None
                raise ApiUnavailableError(
                    f"Spotzee kept failing ({_said(cause)}) for over {retry.budget_s:.0f}s, the retry budget; "
                    "nothing is lost: re-run the same command later to resume"
                    + (f" (last request {rid})" if rid else "")
                    + ".",
                    status=answer.status if answer else None,
                    request_id=rid,
                )
            delivery.retries[cause] += 1
            if cause == "429":
                continue  # the limiter holds this sender with the others; the block was logged once
            log.warning(
                "retrying batch %s after %s: attempt %d, waiting %.2fs%s",
                key,
                _said(cause),
                delivery.requests + 1,
                wait,
                f", request {answer.request_id}" if answer and answer.request_id else "",
            )
            self._sleep(wait)

    def _attempt(self, body: bytes, key: str) -> tuple[_Answer | None, str, float | None, bool]:
        """One POST: the answer, or ``None`` with the cause of a network failure and whether the request had gone
        out whole."""
        window = None
        try:
            response = self._transport.request("POST", self._url, {**self._headers, "Idempotency-Key": key}, body)
            window = announced_window(response.headers)
        except TransportTlsError as exc:
            raise tls_error(self._url, self._transport.proxy, exc) from None
        except TransportTimeoutError as exc:
            http_log.debug("POST %s key %s: timeout (sent: %s)", self._url, key, exc.sent)
            return None, "timeout", None, exc.sent
        except TransportError as exc:
            http_log.debug("POST %s key %s: %s (sent: %s)", self._url, key, exc, exc.sent)
            return None, "connection", None, exc.sent
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
        if response.headers.get("idempotent-replayed", "").lower() == "true" and not self.keys_enforced:
            self.keys_enforced = True
            log.info(
                "Spotzee replayed a request by its Idempotency-Key (request %s): it enforces keys, so a request whose "
                "answer is lost is resent under its key from now on.",
                answer.request_id,
            )
        http_log.debug("POST %s key %s: %d, request %s", self._url, key, response.status, answer.request_id)
        return answer, str(response.status), parse_retry_after(response.headers.get("retry-after")), True

    # -- a chunk, with invalid events isolated -------------------------------------------

    def deliver(self, events: list[bytes], key: str) -> Delivery:
        """Send ``events`` under ``key``; invalid events are isolated and reported, the rest delivered."""
        delivery = Delivery()
        try:
            self._deliver(list(range(len(events))), events, key, delivery)
        except SpotzeeLoaderError as exc:
            exc.partial = delivery  # the requests and retries made before it stopped, for the run's counts
            raise
        return delivery

    def _deliver(self, indexes: list[int], events: list[bytes], key: str, delivery: Delivery) -> None:
        body = b"[" + b",".join(events[i] for i in indexes) + b"]"
        answer = self._post(body, key, delivery)
        if isinstance(answer, str):
            delivery.ambiguous.append(Ambiguity(indexes, key, answer))
            delivery.ambiguous_requests += 1
            log.warning(
                "batch %s (%d events) went out but no answer came (%s): Spotzee may have recorded it; checking its "
                "events before sending any again.",
                key,
                len(indexes),
                answer,
            )
            return
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

    # -- ambiguous requests, settled ---------------------------------------------------------

    def settle(self, events: list[bytes], delivery: Delivery, wait_s: float) -> None:
        """Resolve every ambiguous request of ``delivery``: events Spotzee shows recorded (within ``wait_s``) are
        accepted as they are; the rest are sent again (which may be ambiguous in turn, and is settled the same
        way). Where the reads cannot be used, the request is resent whole and named in ``unverified``."""
        reader = Reader(self._settings, "events", limiter=self._limiter, transport=self._transport, sleep=self._sleep)
        check = ReadBack(reader, wait_s, sleep=self._sleep, clock=self._clock)
        try:
            rounds = 0
            while delivery.ambiguous:
                ambiguity = delivery.ambiguous.pop(0)
                rounds += 1
                if rounds > 12:
                    raise ApiUnavailableError(
                        f"Spotzee took batch {ambiguity.key} twelve times without answering; the run stops (every "
                        "acknowledged chunk is checkpointed): re-run the same command later to resume."
                    )
                if self.keys_enforced:
                    self._deliver(ambiguity.indexes, events, ambiguity.key, delivery)  # Spotzee replays a known key
                    continue
                self._settle_one(check, events, ambiguity, delivery, rounds > 10)
        finally:
            delivery.reads += reader.requests

    def _settle_one(
        self, check: ReadBack, events: list[bytes], ambiguity: Ambiguity, delivery: Delivery, tired: bool
    ) -> None:
        sent = [SentEvent.parse(events[i]) for i in ambiguity.indexes]
        why = self._unreadable or ("an event has no created_at" if any(e is None for e in sent) else None)
        if tired:
            why = "ten resends of this batch in a row went without an answer"
        if why is None:
            try:
                found = check.found([e for e in sent if e is not None])
            except SpotzeeLoaderError as exc:
                if getattr(exc, "status", None) in (401, 403):
                    self._unreadable = "this API key may not read events"
                    log.warning("%s: ambiguous batches are resent unchecked and named in the report.", exc)
                why = f"GET /events failed: {exc}"
        if why is not None:
            delivery.unverified.append(unverified(ambiguity, [e for e in sent if e is not None], why))
            delivery.resent += len(ambiguity.indexes)
            self._deliver(ambiguity.indexes, events, ambiguity.key, delivery)
            return
        missing = [i for i, seen in zip(ambiguity.indexes, found, strict=True) if not seen]
        delivery.accepted += len(ambiguity.indexes) - len(missing)
        delivery.confirmed += len(ambiguity.indexes) - len(missing)
        if not missing:
            log.info("batch %s: Spotzee shows all %d events recorded; none is sent again.", ambiguity.key, len(found))
            return
        log.warning(
            "batch %s: %d of %d events not found in Spotzee after waiting up to %.0fs; sending those again.",
            ambiguity.key,
            len(missing),
            len(found),
            check.wait_s,
        )
        delivery.resent += len(missing)
        # The same key when the body is the same (once Spotzee enforces keys, it replays instead of recording).
        key = ambiguity.key if len(missing) == len(ambiguity.indexes) else ambiguity.key + "-m"
        self._deliver(missing, events, key, delivery)


def _said(cause: str) -> str:
    return {"connection": "the connection failed", "timeout": "no answer within the timeout"}.get(cause, cause)
