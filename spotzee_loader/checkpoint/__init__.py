"""The checkpoint store: which chunks of a job Spotzee acknowledged, the job's rejected rows, and the leases
of loads sharing an API budget. A SQLite file serves one host, PostgreSQL workers on many hosts.
"""

from __future__ import annotations

from functools import partial

from ..config import RetrySettings
from .base import CheckpointStore, StoreAwayError
from .holding import CommitQueue
from .leases import LeaseBook, PostgresLeaseBook, SQLiteLeaseBook
from .records import RESTART_OR_RENAME, AckedChunk, JobIdentity, JobState
from .sqlite import SQLiteCheckpointStore

__all__ = [
    "RESTART_OR_RENAME",
    "AckedChunk",
    "CheckpointStore",
    "CommitQueue",
    "JobIdentity",
    "JobState",
    "LeaseBook",
    "SQLiteCheckpointStore",
    "StoreAwayError",
    "open_checkpoint_store",
    "open_lease_book",
]
_POSTGRES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def open_checkpoint_store(location: str, retry_budget_s: float = RetrySettings.budget_s) -> CheckpointStore:
    """A SQLite file path (or ``:memory:``), or a ``postgresql://`` URL for a shared store; an outage of the
    store is waited out for up to ``retry_budget_s`` seconds."""
    if location.startswith(_POSTGRES):
        from .postgres import PostgresCheckpointStore  # psycopg only when asked for

        return PostgresCheckpointStore(location, retry_budget_s)
    return SQLiteCheckpointStore(location, retry_budget_s)


def open_lease_book(location: str) -> LeaseBook:
    """The budget leases of the store at ``location``, on a connection of their own."""
    if location.startswith(_POSTGRES):
        from .postgres import connect

        return PostgresLeaseBook(location, partial(connect, purpose="budget"))
    return SQLiteLeaseBook(location)
