"""The mock's HTTP side: request parsing, the edge every ``/api/*`` request crosses (the per-IP rules, the key,
the version, the announced key window), and the routes. Only the published paths answer; anything else under
``/api`` is Spotzee's 404 ``resource_missing``. ``/_mock/*`` lets tests read and steer the mock (never limited).
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

import orjson

from ...config import API_VERSION
from .aggregation_query import AggregationQuery
from .answers import AnswerNow, retry_after
from .config import API_PREFIX, problem
from .listing import EventsQuery, JourneysQuery
from .posting import post_events
from .queries import QueryError

if TYPE_CHECKING:
    from .state import MockState

_MAX_HEADERS, _MAX_LINE = 100, 65536  # http.client's limits


def make_handler(mock: MockState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # AnswerNows go out in two writes (head, body); with Nagle on, the second waits for the
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

        def via(self) -> str | None:
            """The ``Via`` a forwarding proxy set on this connection (it may set it on the first request only),
            so tests can prove each request crossed the proxy."""
            via = self.headers.get("Via") or getattr(self, "_via", None)
            self._via = via
            return via

        def send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
            body = b"" if payload is None else (payload if isinstance(payload, bytes) else orjson.dumps(payload))
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if body:
                rich = status >= 400 and not mock.config.sparse_errors
                self.send_header("Content-Type", "application/problem+json" if rich else "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def body(self) -> bytes | None:
            """The whole body, or ``None`` when the client went away before sending all of it."""
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if len(raw) < length:
                # A real server never hands a cut-off body to the API (nor binds its idempotency key).
                self.close_connection = True
                return None
            return raw

        def problem(self, status: int, code: str, message: str, rid: str, **extra: Any) -> AnswerNow:
            return AnswerNow(status, problem(status, code, message, rid, mock.config.sparse_errors, **extra))

        def edge(self, rid: str) -> dict[str, str]:
            """What every ``/api/*`` request meets first; raises the refusal, returns the key window's headers."""
            block = mock.ip_limits.admit(self.client_address[0])
            if block is not None:
                refusal = self.problem(429, "rate_limited", "too many requests from this address", rid)
                refusal.headers = retry_after(block.seconds_left, mock.config.block_retry_after)
                raise refusal
            if self.headers.get("Authorization", "") != f"Bearer {mock.config.api_key}":
                raise self.problem(401, "authentication_required", "invalid API key", rid)
            version = self.headers.get("Spotzee-Version")
            if version is not None and version != API_VERSION:
                raise self.problem(400, "version_unsupported", f"unknown version {version}", rid)
            allowed, quota = mock.key_windows.count(self.headers.get("Authorization", ""))
            if not allowed:
                refusal = self.problem(429, "rate_limited", "this API key's requests for the window are used up", rid)
                refusal.headers = {**quota, "Retry-After": quota["X-RateLimit-Reset"]}
                raise refusal
            return quota

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            control = {"/_mock/events": mock.events, "/_mock/requests": mock.requests, "/_mock/reads": mock.reads}
            if path in control:
                with mock._lock:
                    return self.send(200, list(control[path]))
            if path == "/_mock/stats":
                return self.send(200, mock.stats())
            rid = mock.next_request_id()
            entry: dict[str, Any] = {"at": time.time(), "path": path, "query": query, "request_id": rid}
            headers = {"X-Request-Id": rid}
            try:
                if not path.startswith("/api/"):
                    raise self.problem(404, "resource_missing", f"no such endpoint: GET {path}", rid)
                headers.update(self.edge(rid))
                status, payload = 200, self.read(path, urllib.parse.parse_qs(query, keep_blank_values=True), rid)
            except AnswerNow as answer:
                status, payload = answer.status, answer.payload
                headers.update(answer.headers)
            entry["status"] = status
            with mock._lock:
                mock.reads.append(entry)
            self.send(status, payload, headers)

        def read(self, path: str, query: dict[str, list[str]], rid: str) -> Any:
            routes: dict[str, tuple[Any, Any]] = {
                f"{API_PREFIX}/events": (EventsQuery, mock.events_page),
                f"{API_PREFIX}/events/aggregations": (AggregationQuery, mock.aggregations_page),
                f"{API_PREFIX}/journeys": (JourneysQuery, mock.journeys_page),
            }
            if path not in routes:
                raise self.problem(404, "resource_missing", f"no such endpoint: GET {path}", rid)
            fault = mock.draw_read_fault()
            if fault == "429":
                refusal = self.problem(429, "rate_limited", "too many requests", rid)
                refusal.headers = retry_after(mock.config.retry_after_s, "exact")
                raise refusal
            if fault == "503":
                refusal = self.problem(503, "service_unavailable", "query capacity is busy", rid)
                refusal.headers = retry_after(mock.config.retry_after_s, "exact")
                raise refusal
            if fault == "500":
                raise self.problem(500, "internal_error", "injected fault", rid)
            if fault == "403":  # a key whose role may not read this
                raise self.problem(403, "permission_denied", "this key may not read this resource", rid)
            parse, answer = routes[path]
            try:
                return answer(parse.parse(query))
            except QueryError as exc:
                raise self.problem(400, exc.code, exc.message, rid, param=exc.param) from None

        def do_POST(self) -> None:
            raw = self.body()
            if raw is None:
                return
            if self.path == "/_mock/reset":
                mock.reset()
                return self.send(204)
            if self.path == "/_mock/config":
                try:
                    mock.configure(orjson.loads(raw))
                except (KeyError, orjson.JSONDecodeError) as exc:
                    return self.send(400, {"error": f"bad config: {exc}"})
                return self.send(204)
            post_events(self, mock, raw, self.path == f"{API_PREFIX}/events")

    return Handler
