"""What every source is to the pipeline: the ``Source`` protocol, its batches and where a run resumes.

The pipeline only sees this protocol, so Parquet files and warehouse tables look the same to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from .keys import RowKey

if TYPE_CHECKING:
    from ..mapping import Mapping
    from .stock import FileRecord, Stock


@dataclass(frozen=True)
class ResumePoint:
    """Where a run starts: the position of the first unfinished row and, for sources read in key
    order, the key of the last finished row (encoded, see ``keys.encode_key``)."""

    row: int = 0
    key: str | None = None


@dataclass(frozen=True)
class SourceBatch:
    """Rows ``first_row .. first_row + len(batch)`` of the source, with their keys when the source
    is read in key order (``None`` for files, whose position is their identity)."""

    first_row: int
    batch: pa.RecordBatch
    keys: list[RowKey] | None = None


class Source(Protocol):
    """A finite, ordered stream of rows."""

    description: str
    """Human label for messages and the checkpoint (never a password)."""
    stable: bool
    """True when rows already read cannot change between runs unnoticed (files: ``take_stock`` checks them)."""

    def schema(self) -> pa.Schema:
        """Columns and types of the rows (the first file's schema for a set of files)."""
        ...

    def prepare(self, mapping: Mapping) -> None:
        """Bind the mapping (key order, time window); raise ConfigError if they cannot work."""
        ...

    def fingerprint(self) -> str:
        """An identity that changes when the selection does (a query, a window, a file's row groups); files' content
        is checked file by file (``take_stock``), so a file that grows keeps its job."""
        ...

    def fingerprint_before(self) -> str | None:
        """The fingerprint loaders before file records (0.1) kept for these rows, so a job they began resumes
        instead of stopping as changed; ``None`` where it is the same."""
        ...

    def take_stock(self, earlier: dict[str, FileRecord]) -> Stock | None:
        """Files: each as this run reads it (reads stop at that size), against ``earlier``, what the job's earlier
        runs read; ``None`` for a database."""
        ...

    def total_rows(self) -> int | None:
        """Row count if known up front (for the progress bar)."""
        ...

    def locate(self, row: int) -> tuple[str, int]:
        """Where a row position lives, for dead letters: ``(file or table, row within it)``."""
        ...

    def batches(self, start: ResumePoint, columns: list[str] | None) -> Iterator[SourceBatch]:
        """Batches from ``start`` on, in source order."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
