"""``POST /events`` in the mock: faults, idempotency (when enforced), validation, recording.

A 2xx records every event of the body; a non-2xx records none (the contract: "nothing in that request was
accepted"). ``drop`` reads the body and closes the connection without recording or answering; ``ack_drop``
records it, then closes without answering: to the client both look the same (sent, no status), which is why a
resend after either is ambiguous unless keys are enforced.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

import orjson

from .answers import AnswerNow, retry_after
from .config import problem
from .validation import count_if_all_valid, validate_event

if TYPE_CHECKING:
    from .state import MockState

# AnswerNows a ``script`` may ask for besides the fault kinds: the contract's 402, 403 and a 409 that is not about
# idempotency, with their codes.
_REFUSALS = {
    "402": (402, "quota_exceeded", "the project's event quota is used up"),
    "403": (403, "permission_denied", "this key may not send events"),
    "409": (409, "user_capacity_exhausted", "the project holds as many users as its plan allows"),
}


def post_events(handler: Any, mock: MockState, raw: bytes, known_path: bool) -> None:
    rid = mock.next_request_id()
    key = handler.headers.get("Idempotency-Key")
    entry: dict[str, Any] = {
        "at": time.time(),
        "request_id": rid,
        "key": key,
        "events": 0,
        "version": handler.headers.get("Spotzee-Version"),
        "via": handler.via(),
        "body_sha256": hashlib.sha256(raw).hexdigest(),
    }
    headers = {"X-Request-Id": rid}

    def answer(status: int, payload: Any = None, extra: dict[str, str] | None = None) -> None:
        entry["status"] = status
        mock.log(entry)
        handler.send(status, payload, {**headers, **(extra or {})})

    def refuse(status: int, code: str, message: str, **more: Any) -> None:
        answer(status, problem(status, code, message, rid, mock.config.sparse_errors, **more))

    path = handler.path.partition("?")[0]
    if not path.startswith("/api/"):
        handler.send(404, problem(404, "resource_missing", f"no such endpoint: POST {path}", rid), headers)
        return None
    try:
        headers.update(handler.edge(rid))
    except AnswerNow as refusal:
        return answer(refusal.status, refusal.payload, refusal.headers)
    if not known_path:
        return refuse(404, "resource_missing", f"no such endpoint: POST {path}")
    if key is not None and (not 1 <= len(key) <= 255 or not key.strip()):
        return refuse(
            400, "idempotency_key_invalid", "Idempotency-Key must be 1 to 255 characters", param="Idempotency-Key"
        )
    fault = mock.draw_fault()
    if fault in _REFUSALS:  # scripted only: the contract does not say what makes Spotzee answer them
        return refuse(*_REFUSALS[fault])
    if fault == "500":
        return refuse(500, "internal_error", "injected fault")
    if fault == "503":
        body = problem(503, "service_unavailable", "injected fault", rid, mock.config.sparse_errors)
        return answer(503, body, retry_after(mock.config.retry_after_s, "exact"))
    if fault == "429":
        entry["status"] = 429
        mock.log(entry)
        body = problem(429, "rate_limited", "too many requests", rid, mock.config.sparse_errors)
        handler.send(429, body, {**headers, **retry_after(mock.config.retry_after_s, "exact")})
        return None
    if fault == "drop":
        entry["status"] = 0
        mock.log(entry)
        handler.close_connection = True
        return None
    auth = handler.headers.get("Authorization", "")
    cached = mock.begin_idempotent(auth, key, entry["body_sha256"])
    if cached is not None:
        if cached["digest"] != entry["body_sha256"]:
            return refuse(409, "idempotency_key_mismatch", "this key was used with another body")
        if not cached["done"]:
            return answer(
                409,
                problem(409, "idempotency_in_progress", "the first request is running", rid, mock.config.sparse_errors),
                {"Retry-After": "1"},
            )
        entry["replayed"] = True
        return answer(cached["status"], cached["body"], {"Idempotent-Replayed": "true"})
    if fault == "stall":  # slow processing (with the key held, when keys are enforced)
        entry["stalled"] = True
        mock.stalls_released.wait(mock.config.stall_s)
    status, payload, recorded = _process(mock, raw, rid)
    mock.finish_idempotent(auth, key, status, None if payload is None else orjson.dumps(payload))
    entry["events"] = recorded
    if fault == "ack_drop":
        entry["status"] = status
        entry["dropped"] = True
        mock.log(entry)
        handler.close_connection = True
        return None
    return answer(status, payload)


def _process(mock: MockState, raw: bytes, rid: str) -> tuple[int, Any, int]:
    """Validate and record a body: ``(status, problem or None, events recorded)``."""
    sparse = mock.config.sparse_errors
    count = count_if_all_valid(raw, mock.config.reject_names)
    if count is not None:
        mock.record(raw, count)
        return 204, None, count
    try:
        events = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return 400, problem(400, "parameter_invalid_format", "the body is not JSON", rid, sparse), 0
    if not isinstance(events, list) or not 1 <= len(events) <= 100:
        message = "the body must be an array of 1 to 100 events"
        return 400, problem(400, "parameter_invalid_format", message, rid, sparse), 0
    errors = [e for i, ev in enumerate(events) for e in validate_event(i, ev)]
    errors += [
        {"param": f"[{i}].name", "code": "event_refused", "message": f"event name {ev['name']} is refused"}
        for i, ev in enumerate(events)
        if isinstance(ev, dict) and ev.get("name") in mock.config.reject_names
    ]
    if errors:
        shown = [] if mock.config.unindexed_422 else errors
        return 422, problem(422, "validation_failed", f"{len(errors)} invalid event(s)", rid, sparse, errors=shown), 0
    mock.record(raw, len(events))
    return 204, None, len(events)
