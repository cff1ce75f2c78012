"""The retry policy, as data, in one place: which answers are retried, fatal or item-level.

Follows the error table of the Spotzee API contract: switch on the string ``code`` where it
matters, on the status class otherwise.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from ..config import RetrySettings


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    RETRY = "retry"
    """Transient: same key, same body, after a wait."""
    ITEMS = "items"
    """Some events are invalid: isolate them and send the rest."""
    AUTH = "auth"
    """401/402/403: stop the run at once."""
    MISMATCH = "mismatch"
    """409 idempotency_key_mismatch: the job's bodies changed under the same keys."""
    FATAL = "fatal"
    """The request itself is wrong and retrying will not help."""


# 400 codes that describe the request, not one of its events.
_REQUEST_LEVEL_400 = {"idempotency_key_invalid", "version_unsupported"}


def classify(status: int, code: str | None) -> Verdict:
    """What to do with one HTTP answer."""
    if 200 <= status < 300:
        return Verdict.ACCEPTED
    if status in (401, 402, 403):
        return Verdict.AUTH
    if status == 409:
        return Verdict.MISMATCH if code == "idempotency_key_mismatch" else Verdict.RETRY
    if status == 429 or status >= 500 or status == 408:
        return Verdict.RETRY
    if status == 422 or (status == 400 and code not in _REQUEST_LEVEL_400):
        return Verdict.ITEMS
    return Verdict.FATAL


@dataclass
class Backoff:
    """Wait times for one request's retries: exponential for failures, Retry-After when given."""

    settings: RetrySettings
    rng: random.Random
    failures: int = 0
    throttles: int = 0

    def wait(self, cause: str, retry_after: float | None) -> float:
        """Seconds to wait before the next attempt, jitter included, capped."""
        s = self.settings
        jitter = self.rng.uniform(0, s.jitter_s)
        if cause == "429":
            # Spotzee's advice: honour Retry-After first, double the delay on repeated 429s (up to the cap), add
            # jitter. With Retry-After: 3 the waits are 3, 6, 12, 24, 48, 60 s (each + up to jitter_s).
            self.throttles += 1
            first = retry_after if retry_after is not None else s.backoff_base_s
            base = max(retry_after or 0.0, first * 2 ** (self.throttles - 1))
            return float(min(s.backoff_cap_s, base) + jitter)
        if cause == "409":
            return float(min(s.backoff_cap_s, retry_after if retry_after is not None else 1.0) + jitter)
        self.failures += 1
        base = s.backoff_base_s * 2 ** (self.failures - 1)
        if retry_after is not None:
            base = max(base, retry_after)
        return float(min(s.backoff_cap_s, base) + jitter)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (Spotzee sends delta-seconds); ``None`` when absent or odd."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
