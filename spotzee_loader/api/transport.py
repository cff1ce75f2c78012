"""How requests reach Spotzee: one urllib3 pool of keep-alive connections per client, shared by its threads.

Through the proxy ``NetworkSettings`` names for the base URL (``http://``: forwarded, or tunnelled with
``CONNECT`` for HTTPS; ``https://``: TLS to the proxy too, with TLS to Spotzee inside it), with TLS always
verified against the configured CA bundle (certifi's by default). Retries are not done here: one call is one
attempt, and the caller's retry policy (``retry.py``) decides what happens next.
"""

from __future__ import annotations

import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, NewConnectionError, ProxyError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from ..config import ApiSettings
from ..errors import ConfigError, TlsError
from ..redaction import redact


class TransportError(Exception):
    """No whole answer arrived. ``sent``: the whole request had gone out first, so the server may have acted on
    it (an ambiguous outcome); otherwise it cannot have (refused, unresolved, reset while sending)."""

    def __init__(self, message: str, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent


class TransportTimeoutError(TransportError):
    """Connecting or waiting for the answer took longer than the timeout."""


class TransportTlsError(TransportError):
    """A TLS certificate (Spotzee's or the proxy's) could not be verified."""


_progress = threading.local()
"""Per thread: whether the request of the attempt in progress went out whole (``urlopen`` runs on the caller's
thread, so a thread-local mark set by the connection is read back by the same attempt)."""


class _MarksSent:
    """Marks the moment the whole request (line, headers, body) has been handed to the socket."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)  # type: ignore[misc]  # the connection class it is mixed into
        _progress.sent = True


class _MarkingHTTPConnection(_MarksSent, HTTPConnection): ...


class _MarkingHTTPSConnection(_MarksSent, HTTPSConnection): ...


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _MarkingHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _MarkingHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    """Header names in lower case (a repeated header keeps its last value)."""
    body: bytes


class Transport:
    """Connections to one Spotzee base URL, pooled: ``pool_size`` stay open for reuse."""

    def __init__(self, base_url: str, settings: ApiSettings, pool_size: int) -> None:
        network = settings.network
        ca_bundle = network.ca_bundle or certifi.where()
        try:
            context = ssl.create_default_context(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot read the CA bundle {ca_bundle} ({exc}); check REQUESTS_CA_BUNDLE or SSL_CERT_FILE."
            ) from None
        self.timeout = urllib3.Timeout(connect=settings.retry.connect_timeout_s, read=settings.retry.timeout_s)
        proxy = network.proxy_for(base_url)
        self.proxy = redact(proxy) if proxy else None
        """The proxy in use, for messages (``None``: direct)."""
        self._pool: urllib3.PoolManager
        if proxy is None:
            self._pool = urllib3.PoolManager(num_pools=1, maxsize=pool_size, ssl_context=context)
            self._pool.pool_classes_by_scheme = _POOLS
            return
        parts = urllib.parse.urlsplit(proxy)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"the proxy {self.proxy} is not supported: give an http:// or https:// proxy URL in HTTPS_PROXY "
                "or HTTP_PROXY (or reach Spotzee directly by naming its host in NO_PROXY)."
            )
        headers = None
        if parts.username is not None:
            credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            headers = urllib3.make_headers(proxy_basic_auth=credentials)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._pool = urllib3.ProxyManager(
            f"{parts.scheme}://{parts.hostname}:{port}",
            num_pools=1,
            maxsize=pool_size,
            proxy_headers=headers,
            ssl_context=context,
            proxy_ssl_context=context if parts.scheme == "https" else None,
        )
        self._pool.pool_classes_by_scheme = _POOLS

    def request(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> Response:
        """One attempt; raises ``TransportError`` (or a subclass) when no whole answer arrived, saying whether the
        request had gone out whole."""
        _progress.sent = False
        try:
            answer = self._pool.urlopen(
                method,
                url,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                timeout=self.timeout,
                preload_content=True,
            )
        except SSLError as exc:
            raise TransportTlsError(str(exc)) from None
        except ProxyError as exc:
            if isinstance(exc.original_error, SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise TransportTlsError(str(exc.original_error)) from None
            raise TransportError(f"the proxy {self.proxy} failed: {exc.original_error}", _progress.sent) from None
        except NewConnectionError as exc:  # refused, unresolved: a subclass of ConnectTimeoutError in urllib3 2
            raise TransportError(str(exc), False) from None
        except Urllib3TimeoutError as exc:
            raise TransportTimeoutError(str(exc), _progress.sent) from None
        except (HTTPError, OSError) as exc:
            raise TransportError(str(exc), _progress.sent) from None
        return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.data)

    def close(self) -> None:
        self._pool.clear()


def tls_error(url: str, proxy: str | None, exc: Exception) -> TlsError:
    """The sentence for a certificate that could not be verified: whose, and which variable fixes it."""
    through = f" through the proxy {proxy}" if proxy else ""
    return TlsError(
        f"the TLS certificate of {url.split('/')[2]}{through} could not be verified ({exc}); if a proxy or a "
        "private CA signs it, point REQUESTS_CA_BUNDLE or SSL_CERT_FILE at that CA's bundle."
    )
