"""What the mock can be told to do, and the shape of its refusals.

Every field of ``MockConfig`` can be changed while it runs (``POST /_mock/config``). The defaults follow the
published contract as corrected in September 2026 (``shared/spotzee-api.md``): idempotency keys ignored like the
Main API today, the two per-IP rules with their blocks, events visible to reads only once processed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

API_PREFIX = "/api/client"
"""Where the published endpoints live; the base URL a client is given ends with it."""
FAULT_KINDS = ("500", "503", "429", "drop", "stall", "ack_drop")
"""``drop``: the body is read, nothing recorded, the connection closed without an answer. ``ack_drop``: the body is
recorded, then the connection closed without an answer. ``stall``: the answer waits ``stall_s``."""
READ_FAULTS = ("429", "500", "503")
RETRY_AFTER_FORMS = ("seconds", "date", "none")


@dataclass
class MockConfig:
    """How the mock behaves; every field can be changed at run time via ``POST /_mock/config``."""

    api_key: str = "sk_test"
    fail_rate: float = 0.0
    """Fraction of event POSTs answered with a fault drawn from ``faults``."""
    faults: tuple[str, ...] = FAULT_KINDS
    script: list[str] = field(default_factory=list)
    """Exact outcomes for the next POSTs (``"ok"``, a fault kind, ``"402"``, ``"403"``, ``"409"``), in order."""
    seed: int = 0
    stall_s: float = 2.0
    retry_after_s: float = 1.0
    """Retry-After of an injected 429 / 503 / read fault."""
    # -- the published per-IP rules (both count every /api/* request from one address) -----------------
    ip_limits: bool = True
    """Enforce the two per-IP rules below (off only for raw-throughput benchmarks)."""
    client_limit: int = 8_000
    client_window_s: float = 60.0
    client_block_s: float = 120.0
    """The client API rule: ``client_limit`` requests per sliding ``client_window_s``; one more blocks the IP."""
    general_limit: int = 4_000
    general_window_s: float = 10.0
    general_block_s: float = 10.0
    """The general API rule: ``general_limit`` per ``general_window_s``; one more blocks the IP this long."""
    block_retry_after: str = "seconds"
    """How a 429 of a block says when it lifts: ``seconds``, an HTTP ``date``, or ``none`` (no header)."""
    # -- the announced per-key window (not live at Spotzee; honoured by the client when present) -------
    key_rate_limit: int = 0
    """Requests per ``key_rate_window_s`` for one API key (0: none), events and reads together. Every answer to the
    key carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (whole seconds, rounded up); beyond, 429."""
    key_rate_window_s: float = 60.0
    enforce_idempotency: bool = False
    """Replay a known key + body with ``Idempotent-Replayed: true`` (the contract's "once enforced" rules). Off by
    default: the Main API ignores ``Idempotency-Key`` today, so a resent request is recorded again."""
    reject_names: list[str] = field(default_factory=list)
    """Event names refused with 422, to rehearse server-side rejects."""
    unindexed_422: bool = False
    """Answer 422 without saying which events are at fault."""
    sparse_errors: bool = False
    """Error bodies with only ``status``, ``code`` and ``message``, as ``application/json`` (both published)."""
    store_events: bool = True
    """Keep every event (tests); off for long benchmarks, which only need counts."""
    processing_delay_s: float = 0.2
    """Seconds before a recorded event shows in the reads (Spotzee processes events asynchronously)."""
    read_script: list[str] = field(default_factory=list)
    """Exact outcomes for the next reads (``"ok"``, ``"403"``, ``"429"``, ``"500"``, ``"503"``), consumed in order."""
    journeys: list[dict[str, Any]] = field(default_factory=list)
    """What ``GET /journeys`` lists: ``{"id", "name", "status", "tags", ...}``; missing fields are filled in."""


def problem(
    status: int, code: str, message: str, request_id: str, sparse: bool = False, **extra: Any
) -> dict[str, Any]:
    """Spotzee's error body: ``status``, ``code`` and ``message`` always; the rest only when not ``sparse``."""
    if sparse:
        return {"status": "error", "code": code, "message": message, **extra}
    return {
        "status": "error",
        "code": code,
        "title": HTTPStatus(status).phrase,
        "message": message,
        "type": f"https://docs.spotzee.com/errors/{code}",
        "request_id": request_id,
        "error": message,
        **extra,
    }
