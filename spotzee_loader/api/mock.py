"""A local stand-in for Spotzee's events API, for tests, demos and rehearsals of a migration.

Follows ``spotzee-api.md``: bearer auth, ``Spotzee-Version``, 1-100 events per body, per-event
validation answered with 422 ``errors[]``, idempotency replay / mismatch / in-progress, optional
per-window rate limiting, and fault injection (error statuses, dropped connections, stalls, and a
batch recorded before the connection drops). ``/_mock/*`` lets tests read and steer it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import http.client
import itertools
import math
import random
import ssl
import sys
import threading
import time
import urllib.parse
from collections import Counter, deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import msgspec
import orjson

from ..config import API_VERSION
from .mock_reads import AggregationQuery, CursorBook, QueryError, RecordedEvent, aggregate, page, recorded

FAULT_KINDS = ("500", "503", "429", "drop", "stall", "ack_drop")
# Answers a ``script`` may ask for besides the fault kinds: the contract's 402 and 403, with its codes.
_REFUSALS = {
    "402": (402, "quota_exceeded", "the project's event quota is used up"),
    "403": (403, "permission_denied", "this key may not send events"),
}
_USER_KEYS = {"email", "phone", "timezone", "locale", "data"}
_EVENT_KEYS = {"name", "external_id", "anonymous_id", "data", "user", "created_at"}


@dataclass
class MockConfig:
    """How the mock behaves; every field can be changed at run time via ``POST /_mock/config``."""

    api_key: str = "sk_test"
    fail_rate: float = 0.0
    """Fraction of event POSTs answered with a fault drawn from ``faults``."""
    faults: tuple[str, ...] = FAULT_KINDS
    script: list[str] = field(default_factory=list)
    """Exact outcomes for the next POSTs (``"ok"`` or a fault kind), consumed in order."""
    seed: int = 0
    stall_s: float = 2.0
    retry_after_s: float = 1.0
    rate_limit: int = 0
    """Requests allowed per ``rate_window_s`` (0: unlimited), answered 429 beyond."""
    rate_window_s: float = 10.0
    key_rate_limit: int = 0
    """Requests per ``key_rate_window_s`` for one API key (0: none), events and reads together: the per-key limit
    the contract announces. Every answer to the key carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``
    (whole seconds until the window resets, rounded up); beyond the limit, 429 ``rate_limited``."""
    key_rate_window_s: float = 60.0
    ignore_idempotency: bool = False
    """Behave like an API that ignores Idempotency-Key (duplicates become possible)."""
    reject_names: list[str] = field(default_factory=list)
    """Event names refused with 422, to rehearse server-side rejects."""
    unindexed_422: bool = False
    """Answer 422 without saying which events are at fault."""
    store_events: bool = True
    """Keep every event (tests); off for long benchmarks, which only need counts."""
    aggregation_delay_s: float = 0.0
    """Seconds before a recorded event shows in ``GET /events/aggregations`` (Spotzee processes asynchronously)."""
    read_script: list[str] = field(default_factory=list)
    """Exact outcomes for the next aggregation GETs (``"ok"``, ``"429"`` or ``"500"``), consumed in order."""


def _problem(status: int, code: str, message: str, request_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "code": code,
        "title": HTTPStatus(status).phrase,
        "message": message,
        "type": f"https://docs.spotzee.com/errors/{code}",
        "request_id": request_id,
        **extra,
    }


def validate_event(index: int, event: Any) -> list[dict[str, str]]:
    """The API's per-event rules, as ``errors[]`` entries."""

    def err(param: str, code: str, message: str) -> dict[str, str]:
        return {"param": f"[{index}].{param}" if param else f"[{index}]", "code": code, "message": message}

    if not isinstance(event, dict):
        return [err("", "parameter_invalid_format", "each event must be an object")]
    errors = [err(k, "parameter_unknown", f"unknown field {k}") for k in event if k not in _EVENT_KEYS]
    name = event.get("name")
    if not isinstance(name, str) or not name:
        errors.append(err("name", "parameter_missing", "name must be a non-empty string"))
    ids = [event.get(k) for k in ("external_id", "anonymous_id")]
    if any(v is not None and not isinstance(v, str) for v in ids):
        errors.append(err("external_id", "parameter_invalid_format", "ids must be strings"))
    if not any(isinstance(v, str) and v for v in ids):
        errors.append(err("external_id", "parameter_missing", "external_id or anonymous_id is required"))
    if event.get("data") is not None and not isinstance(event["data"], dict):
        errors.append(err("data", "parameter_invalid_format", "data must be an object"))
    user = event.get("user")
    if user is not None and (not isinstance(user, dict) or set(user) - _USER_KEYS):
        errors.append(err("user", "parameter_invalid_format", "user allows email, phone, timezone, locale, data"))
    created = event.get("created_at")
    if created is not None:
        try:
            parsed = dt.datetime.fromisoformat(created) if isinstance(created, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            errors.append(err("created_at", "parameter_invalid_format", "created_at must be ISO 8601 with an offset"))
    return errors


_NULL = msgspec.Raw(b"null")
_MAX_HEADERS, _MAX_LINE = 100, 65536  # http.client's limits


class _User(msgspec.Struct, forbid_unknown_fields=True):
    email: msgspec.Raw = _NULL
    phone: msgspec.Raw = _NULL
    timezone: msgspec.Raw = _NULL
    locale: msgspec.Raw = _NULL
    data: msgspec.Raw = _NULL


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    external_id: str | None = None
    anonymous_id: str | None = None
    data: msgspec.Raw = _NULL
    user: _User | None = None
    created_at: str | None = None


_EVENTS = msgspec.json.Decoder(list[_Event])


def count_if_all_valid(raw: bytes, refused_names: list[str]) -> int | None:
    """The number of events when the body passes every rule of ``validate_event``, else ``None``.

    A fast path, so the mock keeps up with the loader in benchmarks: msgspec checks the structure in C
    and leaves property values undecoded. It accepts only what ``validate_event`` accepts; any doubt
    returns ``None`` and the body takes the detailed path, which words the errors.
    """
    try:
        events = _EVENTS.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if not 1 <= len(events) <= 100:
        return None
    parse_time = dt.datetime.fromisoformat
    for event in events:
        if not (event.external_id or event.anonymous_id) or event.name in refused_names:
            return None
        data = memoryview(event.data)
        if data[:1].tobytes() != b"{" and data.tobytes() != b"null":
            return None
        if event.created_at is not None:
            try:
                if parse_time(event.created_at).tzinfo is None:
                    return None
            except ValueError:
                return None
    return len(events)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed mid-request (the kill -9 tests) is routine here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class MockSpotzee:
    """The mock's state and HTTP server. ``start()`` serves on a thread; ``base_url`` is the client base."""

    def __init__(
        self,
        config: MockConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config or MockConfig()
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.event_count = 0
        self.requests: list[dict[str, Any]] = []
        self.statuses: Counter[int] = Counter()
        self._idem: dict[tuple[str, str], dict[str, Any]] = {}
        self._window: deque[float] = deque()
        self._key_windows: dict[str, tuple[float, int]] = {}
        """Per API key: when its fixed window opened and how many requests it counted since."""
        self.reads: list[dict[str, Any]] = []
        """Every aggregation GET: its query string and status."""
        self.stalls_released = threading.Event()
        """Set to end every stall now (and the next ones at once): a test ends a stall on an event, not a clock."""
        # Events visible to the read-back (fed from _pending once processed), the groups of the last query
        # asked (pages of one query read one computation), and the opaque cursors handed out.
        self._settled: list[RecordedEvent] = []
        self._pending: deque[tuple[float, dt.datetime, list[dict[str, Any]]]] = deque()
        self._groups: tuple[tuple[Any, ...], int, list[dict[str, Any]]] | None = None
        self.cursors = CursorBook()
        self.httpd = _QuietServer((host, port), _make_handler(self))
        self._scheme = "http"
        if tls is not None:  # HTTPS, to prove the client verifies certificates
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            self._scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}/api/client"

    def start(self) -> MockSpotzee:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="mock-spotzee", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.requests.clear()
            self.statuses.clear()
            self._idem.clear()
            self._window.clear()
            self._key_windows.clear()
            self._settled.clear()
            self._pending.clear()
            self._groups = None
            self.reads.clear()
            self.event_count = 0

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
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "replays": sum(1 for r in self.requests if r.get("replayed")),
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

    def throttled(self) -> float | None:
        """Seconds until the window frees a slot, if this request is over the limit."""
        c = self.config
        if not c.rate_limit:
            return None
        now = time.monotonic()
        with self._lock:
            while self._window and self._window[0] <= now - c.rate_window_s:
                self._window.popleft()
            if len(self._window) >= c.rate_limit:
                return self._window[0] + c.rate_window_s - now
            self._window.append(now)
        return None

    def key_window(self, api_key: str) -> tuple[bool, dict[str, str]]:
        """Counts a request against its key's window: ``(allowed, the X-RateLimit headers)``; no headers when
        no per-key limit is set."""
        c = self.config
        if not c.key_rate_limit:
            return True, {}
        now = time.monotonic()
        with self._lock:
            opened, count = self._key_windows.get(api_key, (now, 0))
            if now >= opened + c.key_rate_window_s:
                opened, count = now, 0
            allowed = count < c.key_rate_limit
            count += allowed
            self._key_windows[api_key] = (opened, count)
        reset = max(1, math.ceil(opened + c.key_rate_window_s - now))
        headers = {
            "X-RateLimit-Limit": str(c.key_rate_limit),
            "X-RateLimit-Remaining": str(c.key_rate_limit - count),
            "X-RateLimit-Reset": str(reset),
        }
        return allowed, headers

    def log(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)
            self.statuses[entry["status"]] += 1

    def begin_idempotent(self, api_key: str, key: str | None, digest: str) -> dict[str, Any] | None:
        """The cached entry for a known key, or ``None`` after claiming a new one."""
        if key is None or self.config.ignore_idempotency:
            return None
        with self._lock:
            entry = self._idem.get((api_key, key))
            if entry is None:
                self._idem[(api_key, key)] = {"digest": digest, "done": False}
                return None
            return entry

    def finish_idempotent(self, api_key: str, key: str | None, status: int, body: bytes | None) -> None:
        if key is None or self.config.ignore_idempotency:
            return
        with self._lock:
            if status >= 500 or status == 429:
                self._idem.pop((api_key, key), None)  # not cached: the client may retry
            else:
                self._idem[(api_key, key)].update(done=True, status=status, body=body)

    def record(self, raw: bytes, count: int) -> None:
        with self._lock:
            self.event_count += count
            if self.config.store_events:  # off (benchmarks): no events, no aggregations, flat memory
                events = orjson.loads(raw)
                self.events.extend(events)
                self._pending.append((time.monotonic(), dt.datetime.now(dt.UTC), events))

    # -- the read-back endpoint --------------------------------------------------------------

    def aggregations(self, query: AggregationQuery) -> list[dict[str, Any]]:
        """Every group ``query`` selects among the events processed so far (``aggregation_delay_s``)."""
        with self._lock:
            settled = time.monotonic() - self.config.aggregation_delay_s
            while self._pending and self._pending[0][0] <= settled:
                _, received_at, events = self._pending.popleft()
                self._settled.extend(recorded(event, received_at) for event in events)
            cached = self._groups
            if cached is None or cached[0] != query.signature() or cached[1] != len(self._settled):
                cached = self._groups = (query.signature(), len(self._settled), aggregate(self._settled, query))
            return cached[2]

    def draw_read_fault(self) -> str | None:
        with self._lock:
            if self.config.read_script:
                outcome = self.config.read_script.pop(0)
                return None if outcome == "ok" else outcome
        return None


def _make_handler(mock: MockSpotzee) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Answers go out in two writes (head, body); with Nagle on, the second waits for the
        # client's delayed ACK: 40 ms per request on one keep-alive connection.
        disable_nagle_algorithm = True
        raw_requestline: bytes  # set by handle_one_request

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def parse_request(self) -> bool:
            """The stdlib's request parsing without its email-package header parser, which cost a quarter
            of the mock's CPU under load; the mock speaks HTTP/1.0 and 1.1 with plain ``Name: value`` lines."""
            self.command, self.close_connection = None, True  # type: ignore[assignment]  # as the stdlib does
            self.request_version = self.default_request_version
            self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
            words = self.requestline.split()
            if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
                self.request_version = "HTTP/1.0"  # an HTTP/0.9 answer would have no status line
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request line ({self.requestline!r})")
                return False
            self.command, self.path, self.request_version = words
            headers = http.client.HTTPMessage()
            for _ in range(_MAX_HEADERS + 1):
                line = self.rfile.readline(_MAX_LINE + 1)
                if line in (b"\r\n", b"\n", b""):
                    break
                name, colon, value = str(line, "iso-8859-1").partition(":")
                if len(line) > _MAX_LINE or not colon:
                    self.send_error(HTTPStatus.BAD_REQUEST, "Bad header line")
                    return False
                headers[name.strip()] = value.strip()
            else:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
                return False
            self.headers = headers
            connection = headers.get("Connection", "").lower()
            self.close_connection = connection == "close" or (
                self.request_version == "HTTP/1.0" and connection != "keep-alive"
            )
            return True

        def _via(self) -> str | None:
            """The ``Via`` a forwarding proxy set on this connection (it may set it on the first request only),
            so tests can prove each request crossed the proxy."""
            via = self.headers.get("Via") or getattr(self, "via", None)
            self.via = via
            return via

        def _send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
            body = b"" if payload is None else (payload if isinstance(payload, bytes) else orjson.dumps(payload))
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if body:
                ctype = "application/problem+json" if status >= 400 else "application/json"
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes | None:
            """The whole body, or ``None`` when the client went away before sending all of it."""
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if len(raw) < length:
                # A real server never hands a cut-off body to the API (nor binds its idempotency key).
                self.close_connection = True
                return None
            return raw

        def do_GET(self) -> None:
            if self.path == "/_mock/events":
                with mock._lock:
                    self._send(200, list(mock.events))
            elif self.path == "/_mock/stats":
                self._send(200, mock.stats())
            elif self.path == "/_mock/requests":
                with mock._lock:
                    self._send(200, list(mock.requests))
            elif self.path.split("?")[0].rstrip("/").endswith("/events/aggregations"):
                self._aggregations()
            else:
                rid = mock.next_request_id()
                self._send(404, _problem(404, "not_found", "no such endpoint", rid), {"X-Request-Id": rid})

        def _aggregations(self) -> None:
            rid = mock.next_request_id()
            entry: dict[str, Any] = {"at": time.time(), "query": urllib.parse.urlsplit(self.path).query}

            quota: dict[str, str] = {}

            def answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                entry["status"] = status
                with mock._lock:
                    mock.reads.append(entry)
                self._send(status, payload, {"X-Request-Id": rid, **quota, **(headers or {})})

            if self.headers.get("Authorization", "") != f"Bearer {mock.config.api_key}":
                return answer(401, _problem(401, "authentication_required", "invalid API key", rid))
            version = self.headers.get("Spotzee-Version")
            if version is not None and version != API_VERSION:
                return answer(400, _problem(400, "version_unsupported", f"unknown version {version}", rid))
            allowed, quota = mock.key_window(self.headers.get("Authorization", ""))
            if not allowed:
                return answer(
                    429,
                    _problem(429, "rate_limited", "this API key's requests for the window are used up", rid),
                    {"Retry-After": quota["X-RateLimit-Reset"]},
                )
            fault = mock.draw_read_fault()
            wait = mock.throttled()
            if fault == "429" or wait is not None:
                retry_after = str(max(1, round(wait or mock.config.retry_after_s)))
                return answer(
                    429, _problem(429, "rate_limited", "too many requests", rid), {"Retry-After": retry_after}
                )
            if fault == "500":
                return answer(500, _problem(500, "internal_error", "injected fault", rid))
            try:
                query = AggregationQuery.parse(urllib.parse.parse_qs(entry["query"], keep_blank_values=True))
                body = page(mock.aggregations(query), query, mock.cursors)
            except QueryError as exc:
                return answer(400, _problem(400, exc.code, exc.message, rid, param=exc.param))
            return answer(200, body)

        def do_POST(self) -> None:
            raw = self._body()
            if raw is None:
                return
            if self.path == "/_mock/reset":
                mock.reset()
                return self._send(204)
            if self.path == "/_mock/config":
                try:
                    mock.configure(orjson.loads(raw))
                except (KeyError, orjson.JSONDecodeError) as exc:
                    return self._send(400, {"error": f"bad config: {exc}"})
                return self._send(204)
            if not self.path.rstrip("/").endswith("/events"):
                rid = mock.next_request_id()
                return self._send(404, _problem(404, "not_found", "no such endpoint", rid), {"X-Request-Id": rid})
            self._events(raw)

        def _events(self, raw: bytes) -> None:
            rid = mock.next_request_id()
            key = self.headers.get("Idempotency-Key")
            entry: dict[str, Any] = {
                "at": time.time(),
                "request_id": rid,
                "key": key,
                "events": 0,
                "version": self.headers.get("Spotzee-Version"),
                "via": self._via(),
            }
            entry["body_sha256"] = digest = hashlib.sha256(raw).hexdigest()

            quota: dict[str, str] = {}

            def answer(status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
                entry["status"] = status
                mock.log(entry)
                self._send(status, payload, {"X-Request-Id": rid, **quota, **(headers or {})})

            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {mock.config.api_key}":
                return answer(401, _problem(401, "authentication_required", "invalid API key", rid))
            version = self.headers.get("Spotzee-Version")
            if version is not None and version != API_VERSION:
                return answer(400, _problem(400, "version_unsupported", f"unknown version {version}", rid))
            if key is not None and not 1 <= len(key) <= 255:
                invalid = _problem(400, "idempotency_key_invalid", "Idempotency-Key must be 1 to 255 characters", rid)
                return answer(400, {**invalid, "param": "Idempotency-Key"})
            allowed, quota = mock.key_window(auth)
            if not allowed:
                return answer(
                    429,
                    _problem(429, "rate_limited", "this API key's requests for the window are used up", rid),
                    {"Retry-After": quota["X-RateLimit-Reset"]},
                )
            wait = mock.throttled()
            if wait is not None:
                return answer(
                    429,
                    _problem(429, "rate_limited", "too many requests", rid),
                    {"Retry-After": str(max(1, round(wait)))},
                )
            fault = mock.draw_fault()
            if fault in _REFUSALS:  # scripted only: the contract does not say what makes Spotzee answer them
                status, code, message = _REFUSALS[fault]
                return answer(status, _problem(status, code, message, rid))
            if fault in ("500", "503"):
                code = "internal_error" if fault == "500" else "service_unavailable"
                return answer(int(fault), _problem(int(fault), code, "injected fault", rid))
            if fault == "429":
                return answer(
                    429,
                    _problem(429, "rate_limited", "too many requests", rid),
                    {"Retry-After": str(mock.config.retry_after_s)},
                )
            if fault == "drop":
                entry["status"] = 0
                mock.log(entry)
                self.close_connection = True
                return None
            cached = mock.begin_idempotent(auth, key, digest)
            if cached is not None:
                if cached["digest"] != digest:
                    return answer(
                        409, _problem(409, "idempotency_key_mismatch", "this key was used with another body", rid)
                    )
                if not cached["done"]:
                    return answer(
                        409,
                        _problem(409, "idempotency_in_progress", "the first request is running", rid),
                        {"Retry-After": "1"},
                    )
                entry["replayed"] = True
                return answer(cached["status"], cached["body"], {"Idempotent-Replayed": "true"})
            if fault == "stall":  # slow processing, with the key held: a retry now meets "in progress"
                mock.stalls_released.wait(mock.config.stall_s)
            status, payload, recorded = self._process(raw, rid)
            mock.finish_idempotent(auth, key, status, None if payload is None else orjson.dumps(payload))
            entry["events"] = recorded
            if fault == "ack_drop":
                entry["status"] = status
                entry["dropped"] = True
                mock.log(entry)
                self.close_connection = True
                return None
            return answer(status, payload)

        def _process(self, raw: bytes, rid: str) -> tuple[int, Any, int]:
            """Validate and record a body: ``(status, problem or None, events recorded)``."""
            count = count_if_all_valid(raw, mock.config.reject_names)
            if count is not None:
                mock.record(raw, count)
                return 204, None, count
            try:
                events = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return 400, _problem(400, "parameter_invalid_format", "the body is not JSON", rid), 0
            if not isinstance(events, list) or not 1 <= len(events) <= 100:
                return (
                    400,
                    _problem(400, "parameter_invalid_format", "the body must be an array of 1 to 100 events", rid),
                    0,
                )
            errors = [e for i, ev in enumerate(events) for e in validate_event(i, ev)]
            errors += [
                {"param": f"[{i}].name", "code": "event_refused", "message": f"event name {ev['name']} is refused"}
                for i, ev in enumerate(events)
                if isinstance(ev, dict) and ev.get("name") in mock.config.reject_names
            ]
            if errors:
                shown = [] if mock.config.unindexed_422 else errors
                return 422, _problem(422, "validation_failed", f"{len(errors)} invalid event(s)", rid, errors=shown), 0
            mock.record(raw, len(events))
            return 204, None, len(events)

    return Handler
