"""Spotzee's API as the loader uses it: the events client, its HTTP/1.1 connection, retry policy and pacing,
the aggregations read-back, and ``mock`` (a local Spotzee held to the same published contract).

Knows nothing of sources or checkpoints. ``mock`` is imported on first use: a load never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .aggregations import DayKey, spotzee_day_counts
from .client import SpotzeeClient
from .delivery import Delivery, ItemRejection, item_field
from .journeys import Journey, check_key, live_journeys
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from .mock import FAULT_KINDS, RETRY_AFTER_FORMS, MockConfig, MockSpotzee

__all__ = [
    "FAULT_KINDS",
    "RETRY_AFTER_FORMS",
    "DayKey",
    "Delivery",
    "ItemRejection",
    "Journey",
    "MockConfig",
    "MockSpotzee",
    "RateLimiter",
    "SpotzeeClient",
    "check_key",
    "item_field",
    "live_journeys",
    "spotzee_day_counts",
]
_MOCK_NAMES = ("FAULT_KINDS", "RETRY_AFTER_FORMS", "MockConfig", "MockSpotzee")


def __getattr__(name: str) -> Any:
    if name in _MOCK_NAMES:
        from . import mock

        return getattr(mock, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
