"""How requests reach Spotzee from this machine: proxies and CAs, read from the environment as requests and curl
read them."""

from __future__ import annotations

import ipaddress
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..redaction import redact


@dataclass(frozen=True)
class NetworkSettings:
    """How requests reach Spotzee from this machine: proxies and the CAs to trust, read from the environment at
    the edge (CLI, DAG task) with the names and precedence requests and curl use."""

    http_proxy: str | None = None
    """Proxy for ``http://`` base URLs (``HTTP_PROXY``)."""
    https_proxy: str | None = None
    """Proxy for ``https://`` base URLs (``HTTPS_PROXY``); ``http://`` (CONNECT) or ``https://`` (TLS to it too)."""
    no_proxy: str | None = None
    """Hosts reached directly (``NO_PROXY``): names, ``.domain`` suffixes, ``host:port``, IPs, CIDR blocks, ``*``."""
    ca_bundle: str | None = None
    """PEM file of the CAs to trust (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE``); certifi's
    bundle when ``None``. Verification itself is never off."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NetworkSettings:
        def first(*names: str) -> str | None:
            # Lower case first, as urllib and requests read them.
            return next((env[n] for name in names for n in (name.lower(), name.upper()) if env.get(n)), None)

        return cls(
            http_proxy=first("http_proxy", "all_proxy"),
            https_proxy=first("https_proxy", "all_proxy"),
            no_proxy=first("no_proxy"),
            ca_bundle=first("requests_ca_bundle", "curl_ca_bundle", "ssl_cert_file"),
        )

    def __repr__(self) -> str:  # a proxy URL may carry a password
        shown = ", ".join(f"{k}={redact(v) if v else v!r}" for k, v in self.__dict__.items())
        return f"NetworkSettings({shown})"

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL to reach ``url`` through, or ``None`` to connect directly."""
        parts = urlsplit(url)
        proxy = self.https_proxy if parts.scheme == "https" else self.http_proxy
        if not proxy or self._bypassed(parts.hostname or "", parts.port):
            return None
        return proxy if "://" in proxy else f"http://{proxy}"

    def _bypassed(self, host: str, port: int | None) -> bool:
        entries = [e.strip() for e in (self.no_proxy or "").split(",") if e.strip()]
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        for entry in entries:
            if address is not None and "/" in entry:
                try:
                    if address in ipaddress.ip_network(entry, strict=False):
                        return True
                except ValueError:
                    continue
        where = f"{host}:{port}" if port else host
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed
        return bool(entries) and bool(bypass(where, {"no": ",".join(entries)}))
