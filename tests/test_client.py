"""The client against the mock server over real HTTP; waits are recorded, not slept."""

from __future__ import annotations

import random
import socket
import threading
import time

import orjson
import pytest

from spotzee_loader.api.client import SpotzeeClient
from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.api.ratelimit import RateLimiter
from spotzee_loader.config import ApiSettings, RetrySettings, Secret
from spotzee_loader.errors import ApiError, ApiUnavailableError, AuthError, IdempotencyMismatchError

from .conftest import API_KEY


def events(n: int, name: str = "order_placed") -> list[bytes]:
    return [
        orjson.dumps({"name": name, "external_id": str(i), "created_at": "2024-01-01T00:00:00.000Z"}) for i in range(n)
    ]


class Clock:
    """A fake clock whose sleeps advance time instantly (or ``real`` of each wait for real), recording each."""

    def __init__(self, real: float = 0.0) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self.real = real

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        time.sleep(seconds * self.real)

    def __call__(self) -> float:
        return self.now


def make_client(
    mock: MockSpotzee, key: str = API_KEY, budget: float = 600.0, timeout: float = 5.0, real: float = 0.0
) -> tuple[SpotzeeClient, Clock]:
    clock = Clock(real)
    settings = ApiSettings(
        api_key=Secret(key),
        base_url=mock.base_url,
        rate_limit=0,
        retry=RetrySettings(budget_s=budget, timeout_s=timeout, jitter_s=0.0),
    )
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    return SpotzeeClient(settings, limiter=limiter, sleep=clock.sleep, clock=clock, rng=random.Random(1)), clock


def test_delivers_a_chunk_with_headers(mock: MockSpotzee) -> None:
    client, clock = make_client(mock)
    delivery = client.deliver(events(100), "k-1")
    assert (delivery.accepted, delivery.requests, delivery.rejected) == (100, 1, [])
    assert mock.event_count == 100 and clock.waits == []
    assert mock.requests[0]["key"] == "k-1"
    assert mock.requests[0]["version"] == "2026-04-28"


@pytest.mark.parametrize(
    ("fault", "waits"), [("500", [0.5, 1.0]), ("503", [3.0, 3.0])], ids=["500-backoff", "503-retry-after"]
)
def test_transient_failures_are_retried_with_the_same_key(mock: MockSpotzee, fault: str, waits: list[float]) -> None:
    mock.configure({"script": [fault, fault, "ok"], "retry_after_s": 3})
    client, clock = make_client(mock)
    delivery = client.deliver(events(10), "k-2")
    assert delivery.accepted == 10 and delivery.requests == 3
    assert delivery.retries == {fault: 2}
    assert mock.event_count == 10
    assert {r["key"] for r in mock.requests} == {"k-2"}
    assert clock.waits == waits  # the backoff, or Retry-After (3 s) when the 503 gives one


@pytest.mark.parametrize(
    ("form", "expected"),
    [("seconds", 7.0), ("date", 7.0), ("none", 120.0)],
    ids=["retry-after-seconds", "retry-after-date", "no-retry-after"],
)
def test_a_blocked_address_waits_out_the_block_once_per_429(mock: MockSpotzee, form: str, expected: float) -> None:
    """The third request goes over a 2-per-minute rule: the address is blocked for 7 s. The client waits exactly what
    Retry-After says (seconds or an HTTP date) or, without it, the published 120 s, then goes on: no request in
    between, none doubled."""
    mock.configure({"client_limit": 2, "client_block_s": 7.0, "block_retry_after": form})
    client, clock = make_client(mock)
    assert client.deliver(events(5), "k-a").accepted == 5
    assert client.deliver(events(5), "k-b").accepted == 5
    clock.real = 1.0 if form != "none" else 0.07  # the block must really pass (7 s); 120 s * 0.07 = 8.4 s
    third = client.deliver(events(5), "k-c")
    assert third.accepted == 5 and third.retries == {"429": 1}
    assert len(clock.waits) == 1 and abs(clock.waits[0] - expected) <= 1.0  # a date is rounded up to the second
    assert mock.stats()["blocked_requests"] == 0 and mock.stats()["ip_blocks"] == 1
    assert mock.event_count == 15


def test_a_request_sent_whole_without_an_answer_is_ambiguous_and_settled_by_reading_back(mock: MockSpotzee) -> None:
    """Keys ignored: a recorded batch whose answer was dropped is found in GET /events, not sent again; a batch
    dropped unrecorded is not found and is sent again, once."""
    mock.configure({"script": ["ack_drop", "drop"], "processing_delay_s": 0.5})
    client, _ = make_client(mock, real=1.0)
    first, second = events(50), events(30, name="order_paid")
    recorded, lost = client.deliver(first, "k-3"), client.deliver(second, "k-3b")
    for delivery in (recorded, lost):
        assert delivery.accepted == 0 and delivery.ambiguous_requests == 1 and delivery.retries == {}
        assert [(len(a.indexes), a.cause) for a in delivery.ambiguous] in ([(50, "connection")], [(30, "connection")])
    client.settle(first, recorded, wait_s=10)
    client.settle(second, lost, wait_s=2)
    assert (recorded.accepted, recorded.confirmed, recorded.resent, recorded.unverified) == (50, 50, 0, [])
    assert (lost.accepted, lost.confirmed, lost.resent, lost.unverified) == (30, 0, 30, [])
    assert mock.event_count == 80  # each event recorded once
    assert [r["key"] for r in mock.requests] == ["k-3", "k-3b", "k-3b"]
    reads = [r for r in mock.reads if r["path"].endswith("/events")]
    assert reads and all("include_payload=false" in r["query"] and "event_name=" in r["query"] for r in reads)


def test_a_refused_connection_is_certain_and_retried(mock: MockSpotzee) -> None:
    """Nothing listens: the request never left, so it is retried (not checked) until the budget ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ApiSettings(
        api_key=Secret(API_KEY),
        base_url=f"http://127.0.0.1:{port}/api/client",
        rate_limit=0,
        retry=RetrySettings(budget_s=5.0, jitter_s=0.0),
    )
    clock = Clock()
    client = SpotzeeClient(
        settings, limiter=RateLimiter(0, clock=clock, sleep=clock.sleep), sleep=clock.sleep, clock=clock
    )
    with pytest.raises(ApiUnavailableError, match=r"the connection failed\) for over 5s"):
        client.deliver(events(3), "k-refused")
    assert clock.waits == [0.5, 1.0, 2.0]


def test_once_spotzee_replays_a_key_an_unanswered_request_is_resent_under_it(mock: MockSpotzee) -> None:
    """Keys enforced (the contract's "once enforced"): the first attempt stalls past the timeout with the key held; the
    client, knowing keys are enforced, resends under the same key, meets 409 idempotency_in_progress, and gets the
    replay once the stall ends (released only after that 409, so the order does not depend on this machine's speed)."""
    mock.configure({"enforce_idempotency": True, "script": ["ok", "ok", "stall"], "stall_s": 60.0})
    client, _ = make_client(mock, timeout=0.5, real=0.1)
    client.deliver(events(2, name="warm_up"), "k-warm")
    assert client.deliver(events(2, name="warm_up"), "k-warm").accepted == 2  # replayed: keys are enforced
    assert client.keys_enforced

    def release_after_a_409() -> None:
        while not any(r["status"] == 409 for r in list(mock.requests)):
            time.sleep(0.01)
        mock.stalls_released.set()

    releaser = threading.Thread(target=release_after_a_409, daemon=True)
    releaser.start()
    delivery = client.deliver(events(5), "k-4")
    releaser.join(5)
    assert delivery.accepted == 5 and delivery.ambiguous_requests == 0
    assert mock.event_count == 2 + 5  # recorded once: by the stalled attempt, replayed to the retry
    assert delivery.retries["timeout"] == 1 and delivery.retries["409"] >= 1
    assert [r["status"] for r in mock.requests][-1] == 204 and mock.requests[-1].get("replayed") is True


@pytest.mark.parametrize("status", [401])
def test_bad_key_stops_at_once_without_leaking_it(mock: MockSpotzee, status: int) -> None:
    client, clock = make_client(mock, key="sk_wrong_secret_value")
    with pytest.raises(AuthError) as info:
        client.deliver(events(3), "k-5")
    assert info.value.status == 401 and info.value.code == "authentication_required"
    assert info.value.request_id and info.value.request_id.startswith("req_")
    assert "sk_wrong_secret_value" not in str(info.value)
    assert len(mock.requests) == 1 and clock.waits == []


def test_outage_past_the_budget_is_fatal_not_endless(mock: MockSpotzee) -> None:
    mock.configure({"fail_rate": 1.0, "faults": ["503"]})
    client, clock = make_client(mock, budget=30.0)
    with pytest.raises(ApiUnavailableError, match="re-run the same command later to resume"):
        client.deliver(events(3), "k-6")
    assert sum(clock.waits) <= 30.0
    assert len(mock.requests) == 6  # waits 0.5+1+2+4+8 = 15.5; the next (16) would pass 30 s


def test_422_isolates_the_invalid_events_and_delivers_the_rest(mock: MockSpotzee) -> None:
    mock.configure({"reject_names": ["bad_one"]})
    batch = events(10)
    batch[3] = events(1, name="bad_one")[0]
    batch[7] = events(1, name="bad_one")[0]
    client, _ = make_client(mock)
    delivery = client.deliver(batch, "k-7")
    assert delivery.accepted == 8
    assert [(r.index, r.status, r.code) for r in delivery.rejected] == [
        (3, 422, "event_refused"),
        (7, 422, "event_refused"),
    ]
    assert all(r.request_id for r in delivery.rejected)
    assert mock.event_count == 8
    assert [r["key"] for r in mock.requests] == ["k-7", "k-7-r"]


def test_422_without_indexes_is_bisected(mock: MockSpotzee) -> None:
    mock.configure({"reject_names": ["bad_one"], "unindexed_422": True})
    batch = events(8)
    batch[5] = events(1, name="bad_one")[0]
    client, _ = make_client(mock)
    delivery = client.deliver(batch, "k-8")
    assert delivery.accepted == 7
    assert [r.index for r in delivery.rejected] == [5]
    assert mock.event_count == 7


def test_same_key_with_another_body_is_a_mismatch(mock: MockSpotzee) -> None:
    mock.configure({"enforce_idempotency": True})
    client, _ = make_client(mock)
    client.deliver(events(2), "k-9")
    with pytest.raises(IdempotencyMismatchError, match="--restart"):
        client.deliver(events(3), "k-9")


def test_unsupported_version_is_fatal(mock: MockSpotzee) -> None:
    client, _ = make_client(mock)
    client._headers["Spotzee-Version"] = "1999-01-01"
    with pytest.raises(ApiError, match="version_unsupported"):
        client.deliver(events(1), "k-10")


def test_a_body_cut_short_by_a_killed_client_does_not_bind_the_key(mock: MockSpotzee) -> None:
    # A client killed mid-upload leaves a short body; a real server never hands it to the API, so
    # the key stays free and the resumed run's full body is accepted (not a 409 mismatch).

    body = b"[" + b",".join(events(5)) + b"]"
    host, port = mock.httpd.server_address[:2]
    head = (
        f"POST /api/client/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nIdempotency-Key: k-cut\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port)) as sock:
        sock.sendall(head + body[: len(body) // 2])
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1024)
    client, _ = make_client(mock)
    assert client.deliver(events(5), "k-cut").accepted == 5
    assert mock.event_count == 5


def _exchange(mock: MockSpotzee, *requests: bytes) -> tuple[list[bytes], bool]:
    """Send raw requests on one connection; the status lines answered, and whether the server then closed it."""
    host, port = mock.httpd.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=5) as sock:
        statuses = []
        for request in requests:
            sock.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                assert data, f"closed without an answer to {request[:40]!r}"
                answer += data
            head, _, body = answer.partition(b"\r\n\r\n")
            length = next(
                int(v)
                for k, _, v in (h.partition(b": ") for h in head.split(b"\r\n"))
                if k.lower() == b"content-length"
            )
            while len(body) < length:
                body += sock.recv(65536)
            statuses.append(head.split(b"\r\n")[0])
        sock.settimeout(0.5)
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
    return statuses, closed


def _post(headers: str, body: bytes = b"[]") -> bytes:
    return (
        f"POST /api/client/events HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body
    )


EVENT = orjson.dumps([{"name": "n", "external_id": "1", "created_at": "2024-01-01T00:00:00Z"}])


def test_the_mocks_own_request_parsing_keeps_http_semantics(mock: MockSpotzee) -> None:
    # Header names in any case, two requests on one keep-alive connection.
    auth = f"authorization: Bearer {API_KEY}\r\nidempotency-key: k1\r\n"
    assert _exchange(mock, _post(auth, EVENT), _post(auth.replace("k1", "k2"), EVENT)) == (
        [b"HTTP/1.1 204 No Content"] * 2,
        False,
    )
    assert mock.event_count == 2 and [r["key"] for r in mock.requests] == ["k1", "k2"]
    # Connection: close, and HTTP/1.0 without keep-alive, end the connection after the answer.
    assert _exchange(mock, _post(f"Connection: close\r\n{auth}", EVENT))[1] is True
    http10 = _post(f"Authorization: Bearer {API_KEY}\r\n", EVENT).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    assert _exchange(mock, http10) == ([b"HTTP/1.1 204 No Content"], True)
    assert _exchange(mock, http10.replace(b"\r\n", b"\r\nConnection: keep-alive\r\n", 1))[1] is False
    # Malformed requests are refused, not guessed at.
    assert _exchange(mock, b"HELLO\r\n\r\n")[0] == [b"HTTP/1.1 400 Bad request line ('HELLO')"]
    assert _exchange(mock, b"GET /_mock/stats HTTP/2.0\r\n\r\n")[0][0].startswith(b"HTTP/1.1 400")
    assert _exchange(mock, _post("no colon here\r\n"))[0][0].startswith(b"HTTP/1.1 400")
    many = "".join(f"X-H{i}: v\r\n" for i in range(101))
    assert _exchange(mock, _post(many))[0][0].startswith(b"HTTP/1.1 431")


def test_the_event_field_an_errors_param_names_without_its_place() -> None:
    from spotzee_loader.api import item_field

    params = ["[5].name", "5.name", "events[5].data.total", "[5]", "[12][data]", "name"]
    assert [item_field(p) for p in params] == ["name", "name", "data.total", None, "data", "name"]
