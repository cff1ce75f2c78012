"""Rejected rows as ``Reject`` records: the row as the source held it (a value the source could not type shown as
it was), how the load read each column, and a reason that names the value or, for an event over the size
limit, its largest property."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from . import convert
from .column_types import column_kinds
from .outcome import MAX_EVENT_BYTES, VALUE_FAULT, Reject
from .spec import Mapping


def rejects(
    mapping: Mapping,
    batch: pa.RecordBatch,
    first_row: int,
    problems: dict[int, tuple[str, str | None, str]],
    faulted: dict[int, dict[str, Any]],
) -> list[Reject]:
    """The rows with ``problems`` (per row: code, field, message) as rejects. ``faulted``: per row whose values
    the source could not type, those values as it held them (the batch has them as nulls); a reason for such a
    value already names it."""
    if not problems:
        return []
    rows = sorted(problems)
    taken = pa.array(rows, pa.int64())
    shown = batch.drop_columns([VALUE_FAULT]) if VALUE_FAULT in batch.schema.names else batch
    sources = convert.readable_rows(shown.take(taken))
    types = column_kinds(batch.schema, VALUE_FAULT)
    for i, source in zip(rows, sources, strict=True):
        source.update(faulted.get(i, {}))
    return [
        Reject(
            row=first_row + i,
            code=problems[i][0],
            field=problems[i][1],
            message=problems[i][2]
            if problems[i][1] in faulted.get(i, {})
            else _with_value(problems[i][2], problems[i][1], source, mapping),
            source=source,
            types=types,
        )
        for i, source in zip(rows, sources, strict=True)
    ]


def oversized(body: str, size: int) -> tuple[str, str | None, str]:
    """The reject of an event over the size limit, naming its largest property (what to leave out or trim)."""
    message = f"the event is {size:,} bytes, over the loader's {MAX_EVENT_BYTES:,}-byte limit (the Segment spec's)"
    event = orjson.loads(body)
    sizes = {
        f"{part}.{k}": len(orjson.dumps(v)) for part in ("data", "user") for k, v in (event.get(part) or {}).items()
    }
    if not sizes:
        return "event_too_large", None, message
    largest = max(sizes, key=lambda k: sizes[k])
    return "event_too_large", largest, f"{message}; its largest property is {largest} ({sizes[largest]:,} bytes)"


def _with_value(message: str, field_: str | None, source: dict[str, Any], mapping: Mapping) -> str:
    """Add the offending value to the message where one column is at fault."""
    column = {"created_at": mapping.created_at, "name": mapping.name_column}.get(field_ or "", field_)
    if column in source and source[column] is not None:
        shown = orjson.dumps(source[column]).decode()
        return f"{message}: {shown[:80]}{'…' if len(shown) > 80 else ''}"
    return message
