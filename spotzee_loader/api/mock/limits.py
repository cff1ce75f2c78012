"""The mock's rate limits: the two published per-IP rules with their blocks, and the announced per-key window.

Per IP (``shared/spotzee-api.md``, "Rate limits"): every ``/api/*`` request from one address counts, authenticated
or not, reads included. The client API rule allows ``client_limit`` requests in any ``client_window_s`` (8,000 a
minute) and the general rule ``general_limit`` in any ``general_window_s`` (4,000 per 10 s); the request one over
either blocks the address for that rule's block length (120 s, 10 s), and while it is blocked every request is
answered 429. The windows slide (the strictest reading of "per minute"); requests made during a block are counted
apart (``blocked_requests``), so a test can tell a client that waits from one that hammers. The contract does not
say whether requests during a block extend it: here they do not.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from .config import MockConfig


@dataclass
class _Address:
    client: deque[float] = field(default_factory=deque)
    general: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


@dataclass(frozen=True)
class Block:
    """An address is blocked: for how long still, by which rule, and whether this request started the block."""

    seconds_left: float
    rule: str
    started: bool


class IpLimits:
    """Counts requests per address against both rules; thread-safe."""

    def __init__(self, config: MockConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._addresses: dict[str, _Address] = {}
        self.blocks: list[tuple[float, str, str]] = []
        """Every block started: ``(wall time, address, rule)``."""
        self.blocked_requests = 0
        """Requests that arrived while their address was blocked."""

    def reset(self) -> None:
        with self._lock:
            self._addresses.clear()
            self.blocks.clear()
            self.blocked_requests = 0

    def admit(self, address: str) -> Block | None:
        """Counts one request; ``None`` when it may go on, else the block it met (or started)."""
        c = self._config
        if not c.ip_limits:
            return None
        now = time.monotonic()
        with self._lock:
            state = self._addresses.setdefault(address, _Address())
            if now < state.blocked_until:
                self.blocked_requests += 1
                return Block(state.blocked_until - now, "blocked", False)
            for window, span in ((state.client, c.client_window_s), (state.general, c.general_window_s)):
                while window and window[0] <= now - span:
                    window.popleft()
            rule = None
            if len(state.client) >= c.client_limit:
                rule, block_s = "client", c.client_block_s
            elif len(state.general) >= c.general_limit:
                rule, block_s = "general", c.general_block_s
            if rule is not None:
                state.blocked_until = now + block_s
                state.client.clear()
                state.general.clear()
                self.blocks.append((time.time(), address, rule))
                return Block(block_s, rule, True)
            state.client.append(now)
            state.general.append(now)
        return None


class KeyWindows:
    """The announced per-key window: a fixed window per API key, its state in ``X-RateLimit-*`` headers."""

    def __init__(self, config: MockConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def count(self, api_key: str) -> tuple[bool, dict[str, str]]:
        """Counts a request against its key's window: ``(allowed, the X-RateLimit headers)``; no headers when no
        per-key limit is set."""
        c = self._config
        if not c.key_rate_limit:
            return True, {}
        now = time.monotonic()
        with self._lock:
            opened, count = self._windows.get(api_key, (now, 0))
            if now >= opened + c.key_rate_window_s:
                opened, count = now, 0
            allowed = count < c.key_rate_limit
            count += allowed
            self._windows[api_key] = (opened, count)
        reset = max(1, math.ceil(opened + c.key_rate_window_s - now))
        headers = {
            "X-RateLimit-Limit": str(c.key_rate_limit),
            "X-RateLimit-Remaining": str(c.key_rate_limit - count),
            "X-RateLimit-Reset": str(reset),
        }
        return allowed, headers
