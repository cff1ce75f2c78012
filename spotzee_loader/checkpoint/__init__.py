"""The checkpoint store: which chunks of a job Spotzee acknowledged, and the job's rejected rows.

``open_checkpoint_store`` picks the backend: a SQLite file (one host) or PostgreSQL (workers on many hosts).
"""

from __future__ import annotations

from .base import AckedChunk, CheckpointStore, JobIdentity, JobState
from .sqlite import SQLiteCheckpointStore

__all__ = ["AckedChunk", "CheckpointStore", "JobIdentity", "JobState", "SQLiteCheckpointStore", "open_checkpoint_store"]


def open_checkpoint_store(location: str) -> CheckpointStore:
    """A SQLite file path (or ``:memory:``), or a ``postgresql://`` URL for a shared store."""
    if location.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from .postgres import PostgresCheckpointStore  # psycopg only when asked for

        return PostgresCheckpointStore(location)
    return SQLiteCheckpointStore(location)
