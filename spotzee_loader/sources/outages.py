"""A source that drops a read: a database reconnects and reads on after the last key, a file in object storage is
opened again; both inside the retry budget.

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


def object_store_outage(budget_s: float, url: str, doing: str) -> Outage:
    """The backoff of one file in object storage (``doing``: how the read resumes); past ``budget_s``, exit 1."""

    def give_up(waited: float, reason: str) -> Exception:
        return SourceUnavailableError(
            f"the object store stayed unreachable for {waited:.0f} s while reading {url}, past the retry budget "
            f"({reason}); every row before was delivered and checkpointed: re-run the same command to resume."
        )

    return Outage(budget_s, f"the object store ({url})", give_up, failing="dropped the read", doing=doing)
