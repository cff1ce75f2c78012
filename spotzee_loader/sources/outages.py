"""A source database that drops a read: reconnect and read on after the last key, inside the retry budget.

What is an outage and how long to wait is decided for every dependency in ``spotzee_loader.outages``.
"""

from __future__ import annotations

from ..errors import SourceUnavailableError
from ..outages import Outage


class TransientSourceError(Exception):
    """A read the source dropped; the reader reconnects and reads again from the last key (internal)."""


def source_outage(budget_s: float, description: str) -> Outage:
    """The backoff of one source database; past ``budget_s`` the run stops with exit 1 (re-running resumes)."""

    def give_up(waited: float, reason: str) -> Exception:
        return SourceUnavailableError(
            f"the source database ({description}) stayed unreachable for {waited:.0f} s, past the retry budget "
            f"({reason}); every acknowledged chunk is checkpointed: re-run the same command to resume."
        )

    return Outage(
        budget_s,
        f"the source database ({description})",
        give_up,
        failing="dropped the read",
        doing="reconnecting and reading on after the last key read",
    )
