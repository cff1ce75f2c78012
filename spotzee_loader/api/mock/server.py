"""The mock's HTTP server around its state."""

from __future__ import annotations

import ssl
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from .config import API_PREFIX, MockConfig
from .handler import make_handler
from .state import MockState


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed mid-request (the kill -9 tests) is routine here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class MockSpotzee(MockState):
    """The mock's state and HTTP server. ``start()`` serves on a thread; ``base_url`` is the client base."""

    def __init__(
        self,
        config: MockConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(config)
        self.httpd = _QuietServer((host, port), make_handler(self))
        self._scheme = "http"
        if tls is not None:  # HTTPS, to prove the client verifies certificates
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            self._scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}{API_PREFIX}"

    def start(self) -> MockSpotzee:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="mock-spotzee", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
