"""One keep-alive HTTP/1.1 connection to Spotzee, for the events hot path.

At full speed a request cost the loader ~280 µs of Python in urllib3 and http.client (header
parsing through the ``email`` package alone was a tenth of the run); here it is ~40 µs. The
standard library still opens the connection (TLS with certificate and host name checks, and the
``CONNECT`` tunnel of an ``http://`` proxy), and httptools, the C parser (llhttp) under uvicorn,
reads the answers (content length, chunked bodies, interim 1xx answers, keep-alive). Writing the
request and reading the socket is what is left to this module.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import httptools

_READ_SIZE = 1 << 16


class WireError(Exception):
    """The connection failed or broke before a whole answer arrived (nothing is known of the request)."""


class WireTimeoutError(WireError):
    """Connecting or waiting for the answer took longer than the timeout."""


class WireTlsError(WireError):
    """The server's TLS certificate (or host name) could not be verified."""


class ProxyNotSupportedError(ValueError):
    """The environment names a proxy this client cannot use."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    """Header names in lower case (a repeated header keeps its last value)."""
    body: bytes


@dataclass(frozen=True)
class Endpoint:
    """Where requests go and how to connect there; read from the URL and the environment once."""

    scheme: str
    host: str
    port: int
    target: str
    """The request target: the path, or the whole URL when a plain-HTTP proxy forwards it."""
    fixed_headers: str
    """``Host`` (and ``Proxy-Authorization`` for a forwarding proxy), as header lines."""
    connect_timeout_s: float
    read_timeout_s: float
    tls: ssl.SSLContext | None = None
    proxy: tuple[str, int] | None = None
    proxy_headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_url(cls, url: str, ca_file: str, connect_timeout_s: float, read_timeout_s: float) -> Endpoint:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL")
        port = parts.port or (443 if scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host = parts.hostname
        default_port = port == (443 if scheme == "https" else 80)
        literal = f"[{host}]" if ":" in host else host
        host_header = literal if default_port else f"{literal}:{port}"
        tls = ssl.create_default_context(cafile=ca_file) if scheme == "https" else None
        proxy_url = urllib.request.getproxies().get(scheme)
        host_line = f"Host: {host_header}\r\n"
        if not proxy_url or urllib.request.proxy_bypass(host):
            return cls(scheme, host, port, path, host_line, connect_timeout_s, read_timeout_s, tls)
        proxy = urllib.parse.urlsplit(proxy_url if "://" in proxy_url else f"http://{proxy_url}")
        if proxy.scheme != "http" or not proxy.hostname:
            raise ProxyNotSupportedError(
                f"the proxy {proxy.scheme}://{proxy.hostname} is not supported: give an http:// proxy URL "
                "(the connection to Spotzee through it stays TLS-encrypted end to end)"
            )
        headers: tuple[tuple[str, str], ...] = ()
        if proxy.username is not None:
            credentials = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password or '')}"
            headers = (("Proxy-Authorization", "Basic " + base64.b64encode(credentials.encode()).decode()),)
        # Through a proxy, HTTPS is tunnelled (CONNECT) and plain HTTP is forwarded by absolute URL.
        forwarded = tls is None
        return cls(
            scheme,
            host,
            port,
            f"{scheme}://{host_header}{path}" if forwarded else path,
            host_line + ("".join(f"{k}: {v}\r\n" for k, v in headers) if forwarded else ""),
            connect_timeout_s,
            read_timeout_s,
            tls,
            (proxy.hostname, proxy.port or 80),
            headers,
        )


class Connection:
    """A keep-alive connection, opened on first use and after any failure; one thread at a time."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._sock: socket.socket | None = None

    def post(self, headers: str, body: bytes) -> Response:
        """POST ``body`` with ``headers`` (``"Name: value\\r\\n"`` lines); the whole answer, or ``WireError``."""
        e = self.endpoint
        head = f"POST {e.target} HTTP/1.1\r\n{e.fixed_headers}{headers}Content-Length: {len(body)}\r\n\r\n"
        sock = self._sock or self._connect()
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        answer.parser = parser
        try:
            sock.sendall(head.encode("latin-1") + body)
            while not answer.complete:
                data = sock.recv(_READ_SIZE)
                if not data:
                    raise WireError("the server closed the connection before answering")
                parser.feed_data(data)
        except TimeoutError:
            self.close()
            raise WireTimeoutError(f"no answer within {e.read_timeout_s:g}s") from None
        except (OSError, httptools.HttpParserError) as exc:
            self.close()
            raise WireError(f"the connection broke: {exc}") from None
        except WireError:
            self.close()
            raise
        if not answer.keep_alive:
            self.close()
        return Response(answer.status, answer.headers, b"".join(answer.body))

    def _connect(self) -> socket.socket:
        e = self.endpoint
        host, port = e.proxy or (e.host, e.port)
        conn: http.client.HTTPConnection
        if e.tls is not None:
            conn = http.client.HTTPSConnection(host, port, timeout=e.connect_timeout_s, context=e.tls)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=e.connect_timeout_s)
        if e.proxy is not None and e.tls is not None:
            conn.set_tunnel(e.host, e.port, headers=dict(e.proxy_headers))
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise WireTlsError(exc.verify_message or str(exc)) from None
        except ssl.SSLError as exc:
            conn.close()
            raise WireTlsError(exc.reason or str(exc)) from None
        except TimeoutError:
            conn.close()
            raise WireTimeoutError(f"could not connect within {e.connect_timeout_s:g}s") from None
        except OSError as exc:
            conn.close()
            raise WireError(f"could not connect: {exc}") from None
        sock = conn.sock
        assert sock is not None
        # The request leaves in one write, the answer is awaited: no reason to let Nagle hold anything.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(e.read_timeout_s)
        self._sock = sock
        return sock

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


class _Answer:
    """httptools' callbacks, collecting one final (non-1xx) answer."""

    def __init__(self) -> None:
        self.parser: Any = None
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.complete = False
        self.keep_alive = False

    def on_message_begin(self) -> None:  # again after an interim 1xx answer
        self.headers, self.body = {}, []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, chunk: bytes) -> None:
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.complete = self.status >= 200
        # Asked here: once the message is done the parser no longer knows.
        self.keep_alive = bool(self.parser.should_keep_alive())
