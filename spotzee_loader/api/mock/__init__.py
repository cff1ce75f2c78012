"""A local stand-in for Spotzee's events API, for tests, demos and rehearsals of a migration.

Held to ``shared/spotzee-api.md`` as corrected in September 2026: bearer auth, ``Spotzee-Version``, 1-100 events
per body, per-event validation answered with 422 ``errors[]``; idempotency keys ignored by default (a resent
request is recorded again, as on the Main API today; ``enforce_idempotency`` turns on replay / mismatch /
in-progress); the two per-IP rules with their blocks; events visible to the reads only after a processing delay;
``GET /events``, ``GET /events/aggregations`` and ``GET /journeys`` as published; fault injection (error statuses,
dropped connections, stalls, a batch recorded before the connection drops). ``/_mock/*`` lets tests read and
steer it.

``config`` (what it can be told), ``limits`` (per-IP rules, key window), ``validation`` (event rules), ``posting``
(``POST /events``), ``queries`` / ``aggregation_query`` / ``listing`` (the reads), ``handler`` (HTTP, the edge,
routes), ``server`` (state and server).
"""

from __future__ import annotations

from .config import API_PREFIX, FAULT_KINDS, READ_FAULTS, RETRY_AFTER_FORMS, MockConfig
from .server import MockSpotzee
from .validation import count_if_all_valid, validate_event

__all__ = [
    "API_PREFIX",
    "FAULT_KINDS",
    "READ_FAULTS",
    "RETRY_AFTER_FORMS",
    "MockConfig",
    "MockSpotzee",
    "count_if_all_valid",
    "validate_event",
]
