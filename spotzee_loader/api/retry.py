"""The retry policy, as data, in one place: which answers are retried, fatal or item-level.

Follows the error table of the Spotzee API contract: switch on the string ``code`` where it
matters, on the status class otherwise.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import random
import time
from collections.abc import Callable
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
    NOT_FOUND = "not_found"
    """404: the base URL does not lead to Spotzee's client API."""
    THROTTLED = "throttled"
    """429: the egress IP (or the key's window) is over its limit; every sender waits for the block to lift."""
    FATAL = "fatal"
    """The request itself is wrong and retrying will not help."""


# 400 codes that describe the request, not one of its events.
_REQUEST_LEVEL_400 = {"idempotency_key_invalid", "version_unsupported", "version_required"}


def classify(status: int, code: str | None) -> Verdict:
    """What to do with one HTTP answer: by ``code`` where the contract switches on it, else by the status (an
    unknown code is keyed off its status)."""
    if 200 <= status < 300:
        return Verdict.ACCEPTED
    if status in (401, 402, 403):
        return Verdict.AUTH
    if status == 404:
        return Verdict.NOT_FOUND
    if status == 409:
        # Only "in progress" is worth another try; any other 409 (state_conflict, user_capacity_exhausted, ...)
        # is not retryable as is.
        if code == "idempotency_in_progress":
            return Verdict.RETRY
        return Verdict.MISMATCH if code == "idempotency_key_mismatch" else Verdict.FATAL
    if status == 429:
        return Verdict.THROTTLED
    if status >= 500 or status in (408, 425):
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


def parse_retry_after(value: str | None, wall_clock: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` in seconds from now: delta-seconds or an HTTP date (both published); ``None`` when absent
    or unreadable. A date in the past is 0."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT; a form without a zone is read as such
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - wall_clock())
