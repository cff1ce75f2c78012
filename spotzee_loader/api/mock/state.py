"""The mock's state: what it recorded, what it was asked, its idempotency cache and limits, and its reads."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
import threading
import time
from collections import Counter, deque
from typing import Any

import orjson

from .aggregation_query import AggregationQuery, aggregate
from .config import MockConfig
from .limits import IpLimits, KeyWindows
from .listing import EventsQuery, JourneysQuery, list_events, list_journeys
from .queries import CursorBook, RecordedEvent, page, recorded


class MockState:
    """Everything the mock knows; thread-safe. ``MockSpotzee`` serves it over HTTP."""

    def __init__(
        self,
        config: MockConfig | None = None,
    ) -> None:
        self.config = config or MockConfig()
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._ids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.event_count = 0
        self.requests: list[dict[str, Any]] = []
        """Every event POST: its key, body digest, status, events recorded."""
        self.statuses: Counter[int] = Counter()
        self.reads: list[dict[str, Any]] = []
        """Every read (events, aggregations, journeys): its path, query string and status."""
        self.ip_limits = IpLimits(self.config)
        self.key_windows = KeyWindows(self.config)
        self._idem: dict[tuple[str, str], dict[str, Any]] = {}
        self.stalls_released = threading.Event()
        """Set to end every stall now (and the next ones at once): a test ends a stall on an event, not a clock."""
        # Events visible to the reads (fed from _pending once processed), the results of the last query asked
        # (pages of one query read one computation), and the opaque cursors handed out.
        self._settled: list[RecordedEvent] = []
        self._pending: deque[tuple[float, dt.datetime, list[tuple[str, dict[str, Any]]]]] = deque()
        self._results: dict[str, tuple[tuple[Any, ...], int, list[dict[str, Any]]]] = {}
        self.cursors = CursorBook()

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.requests.clear()
            self.statuses.clear()
            self._idem.clear()
            self._settled.clear()
            self._pending.clear()
            self._results.clear()
            self.reads.clear()
            self.event_count = 0
        self.ip_limits.reset()
        self.key_windows.reset()

    def configure(self, changes: dict[str, Any]) -> None:
        with self._lock:
            known = {f.name for f in dataclasses.fields(MockConfig)}
            for key, value in changes.items():
                if key not in known:
                    raise KeyError(key)
                setattr(self.config, key, tuple(value) if key == "faults" else value)
            if "seed" in changes:
                self._rng = random.Random(self.config.seed)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "events": self.event_count,
                "requests": len(self.requests),
                "reads": len(self.reads),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "replays": sum(1 for r in self.requests if r.get("replayed")),
                "ip_blocks": len(self.ip_limits.blocks),
                "blocked_requests": self.ip_limits.blocked_requests,
                # Wall-clock span of the event POSTs, for measuring a sustained send rate.
                "first_request_at": self.requests[0]["at"] if self.requests else None,
                "last_request_at": self.requests[-1]["at"] if self.requests else None,
            }

    # -- the events endpoint -----------------------------------------------------------------

    def next_request_id(self) -> str:
        return f"req_mock{next(self._ids):08d}"

    def draw_fault(self) -> str | None:
        with self._lock:
            if self.config.script:
                outcome = self.config.script.pop(0)
                return None if outcome == "ok" else outcome
            if self.config.fail_rate and self._rng.random() < self.config.fail_rate:
                return self._rng.choice(self.config.faults)
        return None

    def log(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)
            self.statuses[entry["status"]] += 1

    def begin_idempotent(self, api_key: str, key: str | None, digest: str) -> dict[str, Any] | None:
        """The cached entry for a known key, or ``None`` after claiming a new one (keys enforced only)."""
        if key is None or not self.config.enforce_idempotency:
            return None
        with self._lock:
            entry = self._idem.get((api_key, key))
            if entry is None:
                self._idem[(api_key, key)] = {"digest": digest, "done": False}
                return None
            return entry

    def finish_idempotent(self, api_key: str, key: str | None, status: int, body: bytes | None) -> None:
        if key is None or not self.config.enforce_idempotency:
            return
        with self._lock:
            if status >= 500 or status == 429:
                self._idem.pop((api_key, key), None)  # not cached: the client may retry
            elif (api_key, key) in self._idem:
                self._idem[(api_key, key)].update(done=True, status=status, body=body)

    def record(self, raw: bytes, count: int) -> None:
        with self._lock:
            self.event_count += count
            if self.config.store_events:  # off (benchmarks): no events, no reads, flat memory
                events = orjson.loads(raw)
                self.events.extend(events)
                ids = [(f"evt_{next(self._event_ids):010d}", event) for event in events]
                self._pending.append((time.monotonic(), dt.datetime.now(dt.UTC), ids))

    # -- the reads -------------------------------------------------------------------------------

    def _settle(self) -> int:
        """Moves the events processed by now (``processing_delay_s`` after they were recorded) into the reads."""
        settled = time.monotonic() - self.config.processing_delay_s
        while self._pending and self._pending[0][0] <= settled:
            _, received_at, events = self._pending.popleft()
            self._settled.extend(recorded(event_id, event, received_at) for event_id, event in events)
        return len(self._settled)

    def _cached(self, kind: str, signature: tuple[Any, ...], compute: Any) -> list[dict[str, Any]]:
        with self._lock:
            size = self._settle()
            cached = self._results.get(kind)
            if cached is None or cached[0] != signature or cached[1] != size:
                cached = self._results[kind] = (signature, size, compute(self._settled))
            return cached[2]

    def aggregations_page(self, query: AggregationQuery) -> dict[str, Any]:
        groups = self._cached("aggregations", query.signature(), lambda events: aggregate(events, query))
        return page(groups, query.signature(), query.cursor, query.limit, self.cursors)

    def events_page(self, query: EventsQuery) -> dict[str, Any]:
        records = self._cached("events", query.signature(), lambda events: list_events(events, query))

        def position_of(record: dict[str, Any]) -> tuple[str, str]:
            return (record["created_at"], record["id"])

        def after(record: dict[str, Any], last: Any) -> bool:
            here = position_of(record)
            return here < tuple(last) if query.descending else here > tuple(last)

        return page(records, query.signature(), query.cursor, query.limit, self.cursors, after, position_of)

    def journeys_page(self, query: JourneysQuery) -> dict[str, Any]:
        with self._lock:
            journeys = list_journeys(self.config.journeys, query)
        return page(journeys, query.signature(), query.cursor, query.limit, self.cursors)

    def draw_read_fault(self) -> str | None:
        with self._lock:
            if self.config.read_script:
                outcome = self.config.read_script.pop(0)
                return None if outcome == "ok" else outcome
        return None
