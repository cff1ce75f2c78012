"""What mapping a batch comes to: events and rejects (``BuiltBatch``, ``Reject``), and the bounds a row must keep."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

VALUE_FAULT = "__spotzee_value_fault__"
"""A column a source adds where values did not fit their column's type (``sources/faults``): per row ``null``, or
JSON text ``{"faults": [[code, column, message], ...], "values": {column: value as held}}``; such rows become
rejects when the mapping uses the column."""
MAX_NAME_CHARS = 200
MAX_ID_CHARS = 255
MAX_EVENT_BYTES = 32 * 1024
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
FUTURE_TOLERANCE = dt.timedelta(days=1)


@dataclass(frozen=True)
class Reject:
    """A row that did not become an event, and why."""

    row: int
    """Position of the row in the source (global across files)."""
    code: str
    """Short machine-readable reason, e.g. ``created_at_unparseable``."""
    field: str | None
    """The event field (or source column) at fault."""
    message: str
    """A sentence for humans, naming the value when that helps."""
    source: dict[str, Any] | None = None
    """The row's values (JSON-safe)."""
    types: dict[str, str] | None = None
    """Per column of ``source``, the ``[types]`` kind the load read it as (shared by the rows of a batch)."""


@dataclass
class BuiltBatch:
    """What one record batch became, in row order."""

    first_row: int
    events: list[tuple[int, bytes]]
    """``(row position, JSON bytes)`` of every valid row."""
    rejects: list[Reject]
    names: Counter[str] = field(default_factory=Counter)
    first_created_at: str | None = None
    last_created_at: str | None = None
    event_times: pa.Array | None = None
    """``created_at`` of each event, in event order (ISO strings)."""
    event_names: pa.Array | None = None
    """The name of each event, in event order; ``None`` when the mapping gives one fixed name."""
    event_keys: list[dict[str, Any]] | None = None
    """The mapping's ``key`` of each event's row, in event order (a dead letter of Spotzee's refusal names it)."""
    outside: int = 0
    """Rows whose ``created_at`` lies outside the window: skipped, neither events nor rejects."""
    notes: list[str] = field(default_factory=list)
    """Warnings for the person running the load (a column reference that matched no row), logged by the run."""
    filtered: Counter[str] = field(default_factory=Counter)
    """Rows the mapping's ``only`` leaves out, by ``column=value``: skipped, neither events nor rejects."""
