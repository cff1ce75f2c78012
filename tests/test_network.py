"""The user's network: proxies (http:// and https://, with a password), NO_PROXY, private CAs, failures.

Real parts only: proxy.py on loopback, the mock Spotzee over HTTPS with a certificate from a CA made in the
test (trustme), the real CLI with the variables a company sets (HTTPS_PROXY, REQUESTS_CA_BUNDLE, SSL_CERT_FILE).
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.api.transport import Transport, TransportError, TransportTimeoutError, TransportTlsError
from spotzee_loader.config import ApiSettings, NetworkSettings, RetrySettings, Secret
from spotzee_loader.errors import ConfigError
from spotzee_loader.examples import example_orders

from .conftest import API_KEY, Cli, PrivateCa

BODY = b'[{"name":"e","external_id":"1","created_at":"2024-01-01T00:00:00.000Z"}]'
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
# The machine's own CA variables must not leak into a test that sets its own.
NETWORK_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")


def _settings(url: str, network: NetworkSettings, read_timeout_s: float = 5.0) -> ApiSettings:
    retry = RetrySettings(timeout_s=read_timeout_s, connect_timeout_s=2.0)
    return ApiSettings(api_key=Secret(API_KEY), base_url=url, rate_limit=0, retry=retry, network=network)


def _post(url: str, network: NetworkSettings) -> int:
    transport = Transport(url, _settings(url, network), pool_size=1)
    try:
        return transport.request("POST", url + "/events", HEADERS, BODY).status
    finally:
        transport.close()


def _clean_env(cli: Cli) -> None:
    for name in NETWORK_VARIABLES:
        cli.env.pop(name, None)
        cli.env.pop(name.lower(), None)


# -- the transport over real sockets ------------------------------------------------------------------


def test_https_with_a_private_ca_is_verified(tls_mock: MockSpotzee, private_ca: PrivateCa) -> None:
    assert _post(tls_mock.base_url, NetworkSettings(ca_bundle=str(private_ca.bundle))) == 204
    with pytest.raises(TransportTlsError):  # certifi's CAs do not know the private one
        _post(tls_mock.base_url, NetworkSettings())
    assert tls_mock.event_count == 1


@pytest.mark.parametrize("proxy_tls", [False, True], ids=["http-proxy", "https-proxy"])
def test_https_through_a_proxy_with_a_password_is_tunnelled(
    tls_mock: MockSpotzee, private_ca: PrivateCa, proxy_factory: Any, proxy_tls: bool
) -> None:
    tls = (private_ca.cert_file, private_ca.key_file) if proxy_tls else None
    proxy = proxy_factory("me", "p@ss-w0rd", tls=tls)
    # A password with an '@' is percent-encoded in a proxy URL, as curl and requests expect it.
    url = proxy.url.replace("p@ss-w0rd", "p%40ss-w0rd")
    network = NetworkSettings(https_proxy=url, ca_bundle=str(private_ca.bundle))
    assert _post(tls_mock.base_url, network) == 204
    port = tls_mock.httpd.server_address[1]
    assert proxy.forwarded(f"CONNECT 127.0.0.1:{port}") == 1  # the proxy saw no path, no key, no body
    assert tls_mock.event_count == 1


def test_a_wrong_proxy_password_is_not_a_success(
    tls_mock: MockSpotzee, private_ca: PrivateCa, proxy_factory: Any
) -> None:
    proxy = proxy_factory("me", "right")
    network = NetworkSettings(https_proxy=proxy.url.replace("right", "wrong"), ca_bundle=str(private_ca.bundle))
    with pytest.raises(TransportError, match="proxy"):
        _post(tls_mock.base_url, network)
    assert tls_mock.event_count == 0


def test_plain_http_through_a_proxy_is_forwarded(mock: MockSpotzee, proxy_factory: Any) -> None:
    proxy = proxy_factory("me", "secret")
    assert _post(mock.base_url, NetworkSettings(http_proxy=proxy.url)) == 204
    assert [r["via"] for r in mock.requests] == ["1.1 proxy.py v2.4.10"]
    assert mock.event_count == 1


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.0/8", "*", "localhost,127.0.0.1"])
def test_no_proxy_reaches_the_host_directly(mock: MockSpotzee, no_proxy: str) -> None:
    nowhere = "http://127.0.0.1:9"  # the discard port: a proxy there would fail the request
    assert _post(mock.base_url, NetworkSettings(http_proxy=nowhere, no_proxy=no_proxy)) == 204
    assert [r["via"] for r in mock.requests] == [None]


def test_no_proxy_matches_a_host_and_port_and_a_name(mock: MockSpotzee) -> None:
    nowhere = "http://127.0.0.1:9"
    port = mock.httpd.server_address[1]
    assert _post(mock.base_url, NetworkSettings(http_proxy=nowhere, no_proxy=f"127.0.0.1:{port}")) == 204
    by_name = mock.base_url.replace("127.0.0.1", "localhost")
    for entry in ("localhost", ".localhost", f"other.example, localhost:{port}"):
        assert _post(by_name, NetworkSettings(http_proxy=nowhere, no_proxy=entry)) == 204, entry
    assert [r["via"] for r in mock.requests] == [None] * 4


def test_a_no_proxy_that_does_not_name_the_host_leaves_the_proxy_in_place(
    mock: MockSpotzee, proxy_factory: Any
) -> None:
    proxy = proxy_factory(None, None)
    # Another name, another address, a block without it, another port, an address it prefixes, empty entries.
    entries = ["example.com", "127.0.0.2", "10.0.0.0/8", "127.0.0.1:1", "127.0.0.10", " , "]
    for entry in entries:
        assert _post(mock.base_url, NetworkSettings(http_proxy=proxy.url, no_proxy=entry)) == 204, entry
    assert [r["via"] for r in mock.requests] == ["1.1 proxy.py v2.4.10"] * len(entries)


def test_an_unsupported_proxy_scheme_is_one_sentence() -> None:
    with pytest.raises(ConfigError, match="give an http:// or https:// proxy URL"):
        socks = NetworkSettings(https_proxy="socks5://p:1080")
        Transport("https://apix.spotzee.com/api/client", _settings("x", socks), 1)


@contextmanager
def _server(behaviour: str) -> Iterator[int]:
    """A TCP server that accepts and then either closes at once or never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if behaviour == "close":
                conn.close()
            else:
                held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for conn in held:
            conn.close()


def test_failures_map_to_the_kinds_the_retry_policy_knows() -> None:
    with _server("close") as port:
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(TransportError) as closed:
            Transport(url, _settings(url, NetworkSettings()), 1).request("POST", url, HEADERS, BODY)
        assert not isinstance(closed.value, TransportTimeoutError)
    with _server("silent") as port:
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(TransportTimeoutError):
            Transport(url, _settings(url, NetworkSettings(), read_timeout_s=0.3), 1).request("POST", url, HEADERS, BODY)
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(TransportError):
        Transport(url, _settings(url, NetworkSettings()), 1).request("POST", url, HEADERS, BODY)


def test_the_environment_is_read_as_requests_reads_it() -> None:
    env = {
        "HTTPS_PROXY": "http://upper:1",
        "https_proxy": "http://lower:1",
        "NO_PROXY": "internal",
        "SSL_CERT_FILE": "/ssl.pem",
        "REQUESTS_CA_BUNDLE": "/requests.pem",
    }
    network = NetworkSettings.from_env(env)
    assert network == NetworkSettings(https_proxy="http://lower:1", no_proxy="internal", ca_bundle="/requests.pem")
    assert NetworkSettings.from_env({"SSL_CERT_FILE": "/ssl.pem"}).ca_bundle == "/ssl.pem"
    assert "p4ss" not in repr(NetworkSettings(https_proxy="http://u:p4ss@proxy:3128"))


# -- the whole loader, as a company runs it -----------------------------------------------------------


@pytest.mark.parametrize("ca_variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_load_and_verify_through_an_https_proxy_with_a_private_ca(
    tmp_path: Path,
    tls_mock: MockSpotzee,
    private_ca: PrivateCa,
    proxy_factory: Any,
    write_parquet: Any,
    ca_variable: str,
) -> None:
    proxy = proxy_factory("corp", "pr0xy-pw", tls=(private_ca.cert_file, private_ca.key_file))
    cli = Cli(tmp_path, tls_mock)
    _clean_env(cli)
    cli.env.update({"HTTPS_PROXY": proxy.url, ca_variable: str(private_ca.bundle)})
    path = write_parquet(example_orders(1_000))

    load = cli(str(path), "--preset", "orders")
    verify = cli("verify", str(path), "--preset", "orders")

    assert load.returncode == 0, load.stderr[-2000:]
    ids = Counter(e["data"]["order_id"] for e in tls_mock.events)
    assert len(ids) == 1_000 and set(ids.values()) == {1}
    port = tls_mock.httpd.server_address[1]
    assert proxy.forwarded(f"CONNECT 127.0.0.1:{port}") >= 1  # the connections were tunnelled
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "pr0xy-pw" not in load.stdout + load.stderr + verify.stdout + verify.stderr


def test_a_load_reaches_spotzee_directly_when_no_proxy_names_it(
    tmp_path: Path, mock: MockSpotzee, proxy_factory: Any, write_parquet: Any
) -> None:
    # The company's proxy is set for everything; NO_PROXY (as the environment spells it) exempts Spotzee's host.
    proxy = proxy_factory("corp", "pr0xy-pw")
    cli = Cli(tmp_path, mock)
    _clean_env(cli)
    path = str(write_parquet(example_orders(1_000)))
    cli.env.update({"HTTP_PROXY": proxy.url, "NO_PROXY": "intranet.example,127.0.0.0/8"})

    direct = cli(path, "--preset", "orders", "--job", "direct")
    cli.env["NO_PROXY"] = "intranet.example"
    proxied = cli(path, "--preset", "orders", "--job", "proxied", "--allow-overlap")  # a second copy, asked for

    assert direct.returncode == 0 and proxied.returncode == 0, direct.stderr[-2000:] + proxied.stderr[-2000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == sorted(example_orders(1_000).column("order_id").to_pylist()) and set(ids.values()) == {2}
    assert [r["via"] for r in mock.requests] == [None] * 10 + ["1.1 proxy.py v2.4.10"] * 10


def test_an_unknown_ca_stops_the_load_with_the_fix(tmp_path: Path, tls_mock: MockSpotzee, write_parquet: Any) -> None:
    cli = Cli(tmp_path, tls_mock)
    _clean_env(cli)
    result = cli(str(write_parquet(example_orders(50))), "--preset", "orders")
    assert result.returncode == 1
    assert "could not be verified" in result.stderr and "REQUESTS_CA_BUNDLE" in result.stderr
    assert "Traceback" not in result.stderr
    assert tls_mock.event_count == 0
