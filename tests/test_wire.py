"""The events connection (``wire``) over real sockets: answer framings, keep-alive, failures, proxies."""

from __future__ import annotations

import base64
import select
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from spotzee_loader.api.client import open_endpoint
from spotzee_loader.api.mock import MockConfig, MockSpotzee
from spotzee_loader.api.wire import Connection, Endpoint, WireError, WireTimeoutError, WireTlsError
from spotzee_loader.config import ApiSettings, RetrySettings, Secret
from spotzee_loader.errors import ConfigError

from .conftest import API_KEY

BODY = b'[{"name":"e","external_id":"1","created_at":"2024-01-01T00:00:00.000Z"}]'
AUTH = f"Authorization: Bearer {API_KEY}\r\n"


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        received = conn.recv(65536)
        if not received:
            raise ConnectionError("the client went away")
        data += received
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    while len(rest) < length:
        rest += conn.recv(65536)
    return head


@contextmanager
def scripted_server(answers: list[bytes | None]) -> Iterator[tuple[int, list[bytes]]]:
    """Answers each request on one connection with the next raw answer; ``None`` closes the connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    heads: list[bytes] = []
    finished = threading.Event()

    def serve() -> None:
        pending = list(answers)
        while pending:
            conn, _ = listener.accept()
            with conn:
                while pending:
                    try:
                        heads.append(_read_request(conn))
                    except ConnectionError:
                        break
                    answer = pending.pop(0)
                    if answer is None:
                        break
                    conn.sendall(answer)
                    if b"Connection: close" in answer:
                        break
                else:
                    finished.wait(10)  # the last connection stays open until the test is done

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], heads
    finally:
        finished.set()
        listener.close()


def endpoint(url: str, read_timeout_s: float = 5.0) -> Endpoint:
    return Endpoint.from_url(url, ssl.get_default_verify_paths().cafile or "", 5.0, read_timeout_s)


def test_answer_framings_and_interim_answers() -> None:
    chunked = (
        b"HTTP/1.1 422 Unprocessable\r\nTransfer-Encoding: chunked\r\nX-Request-Id: r2\r\n\r\n"
        b'5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
    )
    answers: list[bytes | None] = [
        b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nX-Request-Id: r1\r\n\r\n{}",
        chunked,
        b"HTTP/1.1 204 No Content\r\nRetry-After: 3\r\n\r\n",
    ]
    with scripted_server(answers) as (port, heads):
        connection = Connection(endpoint(f"http://127.0.0.1:{port}/api/client/events"))
        first = connection.post(AUTH + "Idempotency-Key: k1\r\n", BODY)
        assert (first.status, first.body, first.headers["x-request-id"]) == (202, b"{}", "r1")
        assert "link" not in first.headers  # the interim answer's headers are not the answer's
        second = connection.post(AUTH, BODY)
        assert (second.status, second.body, second.headers["x-request-id"]) == (422, b'{"a":1}', "r2")
        third = connection.post(AUTH, BODY)
        assert (third.status, third.body, third.headers["retry-after"]) == (204, b"", "3")
    request = heads[0].decode()
    assert request.startswith("POST /api/client/events HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}" in request and "Idempotency-Key: k1" in request
    assert f"Content-Length: {len(BODY)}" in request


def test_a_closed_connection_fails_the_request_and_the_next_one_reconnects() -> None:
    ok = b"HTTP/1.1 204 No Content\r\n\r\n"
    with scripted_server([ok, None, ok, b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", ok]) as (port, heads):
        connection = Connection(endpoint(f"http://127.0.0.1:{port}/events"))
        assert connection.post(AUTH, BODY).status == 204
        with pytest.raises(WireError, match="closed the connection"):
            connection.post(AUTH, BODY)
        assert connection.post(AUTH, BODY).status == 204  # a new connection
        assert connection.post(AUTH, BODY).status == 204  # "Connection: close": the next one reconnects
        assert connection.post(AUTH, BODY).status == 204
    assert len(heads) == 5


def test_no_answer_within_the_read_timeout() -> None:
    with scripted_server([b"HTTP/1.1 204 No Content\r\n"]) as (port, _):  # a head that never ends
        connection = Connection(endpoint(f"http://127.0.0.1:{port}/events", read_timeout_s=0.3))
        with pytest.raises(WireTimeoutError):
            connection.post(AUTH, BODY)


def test_nothing_listening_is_a_connection_failure() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(WireError, match="could not connect"):
        Connection(endpoint(f"http://127.0.0.1:{port}/events")).post(AUTH, BODY)


@contextmanager
def http_proxy(credentials: str | None = None) -> Iterator[tuple[str, list[str]]]:
    """A small HTTP proxy: ``CONNECT`` tunnels and forwarding by absolute URL; notes each request line."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[str] = []

    def pipe(a: socket.socket, b: socket.socket) -> None:
        while True:
            ready, _, _ = select.select([a, b], [], [], 10)
            if not ready:
                return
            for s in ready:
                try:
                    data = s.recv(65536)
                except ConnectionError:
                    return
                if not data:
                    return
                (b if s is a else a).sendall(data)

    def handle(client: socket.socket) -> None:
        with client:
            data = b""
            while b"\r\n\r\n" not in data:
                data += client.recv(65536)
            head = data.split(b"\r\n\r\n")[0].decode()
            line = head.split("\r\n")[0]
            seen.append(line)
            if credentials and f"Proxy-Authorization: Basic {credentials}" not in head:
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                return
            method, target, _ = line.split(" ")
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                with socket.create_connection((host, int(port))) as upstream:
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    pipe(client, upstream)
            else:  # forward the request as is to the host of the absolute URL
                host, port = target.split("/")[2].split(":")
                with socket.create_connection((host, int(port))) as upstream:
                    upstream.sendall(data)
                    pipe(client, upstream)

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(client,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    finally:
        listener.close()


def _settings(url: str) -> ApiSettings:
    return ApiSettings(api_key=Secret(API_KEY), base_url=url, rate_limit=0, retry=RetrySettings(timeout_s=5))


def _self_signed(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl = f"openssl req -x509 -newkey rsa:2048 -nodes -keyout {key} -out {cert} -days 1 -subj /CN=127.0.0.1"
    subprocess.run([*openssl.split(), "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def _post_through(mock: MockSpotzee, monkeypatch: pytest.MonkeyPatch, proxy: str) -> Callable[[], int]:
    scheme = mock.base_url.split(":")[0]
    monkeypatch.setenv(f"{scheme}_proxy", proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    connection = Connection(open_endpoint(mock.base_url + "/events", _settings(mock.base_url)))
    return lambda: connection.post(AUTH + "Idempotency-Key: p1\r\n", BODY).status


def test_https_through_a_proxy_is_tunnelled_and_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, context = _self_signed(tmp_path)
    mock = MockSpotzee(MockConfig(api_key=API_KEY), tls=context).start()
    try:
        with http_proxy(credentials=base64.b64encode(b"me:p@ss").decode()) as (proxy, seen):
            for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
                monkeypatch.delenv(variable, raising=False)
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))
            post = _post_through(mock, monkeypatch, proxy.replace("http://", "http://me:p%40ss@"))
            assert post() == 204
            port = mock.httpd.server_address[1]
            assert seen == [f"CONNECT 127.0.0.1:{port} HTTP/1.0"]  # the proxy saw no path, no key, no body
            # Without the private CA the tunnel still ends at an unverified certificate: refused.
            monkeypatch.delenv("SSL_CERT_FILE")
            with pytest.raises(WireTlsError):
                _post_through(mock, monkeypatch, proxy.replace("http://", "http://me:p%40ss@"))()
    finally:
        mock.stop()
    assert mock.event_count == 1


def test_plain_http_through_a_proxy_is_forwarded_by_absolute_url(monkeypatch: pytest.MonkeyPatch) -> None:
    mock = MockSpotzee(MockConfig(api_key=API_KEY)).start()
    try:
        with http_proxy(credentials=base64.b64encode(b"me:secret").decode()) as (proxy, seen):
            assert _post_through(mock, monkeypatch, proxy.replace("http://", "http://me:secret@"))() == 204
            assert seen == [f"POST {mock.base_url}/events HTTP/1.1"]
    finally:
        mock.stop()
    assert mock.event_count == 1


def test_an_https_proxy_url_is_refused_with_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "https://proxy.internal:3129")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    url = "https://apix.spotzee.com/api/client"
    with pytest.raises(ConfigError, match="give an http:// proxy URL"):
        open_endpoint(url + "/events", _settings(url))
