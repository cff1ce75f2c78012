"""Members of object columns as columns of their own: ``context.groupId`` from a ``context`` column.

A Segment archive keeps the B2B account in ``context.groupId``; a Parquet export keeps it in a struct. The
mapping names such members with a dotted reference, and they become columns before the batch is mapped,
so every other rule (ids, properties, rejects) treats them like any column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa

from .convert import is_json_type, json_array, json_safe, plain
from .names import nested_path


def with_members(batch: pa.RecordBatch, references: Sequence[str]) -> pa.RecordBatch:
    """``batch`` plus one column per dotted reference that names a member of an object column."""
    present = set(batch.schema.names)
    for reference in references:
        found = nested_path(reference, present)
        if found is None:
            continue
        column, path = found
        values = [_dig(value, path) for value in _objects(batch.column(column))]
        batch = batch.append_column(reference, _column(values))
        present.add(reference)
    return batch


def members_beside(batch: pa.RecordBatch, reference: str) -> list[str]:
    """The members found where ``reference``'s last member should be (its siblings in the batch's objects),
    for the hint of a misspelt reference: ``props.utm.sorce`` -> ``props.utm.source``, ``props.utm.medium``."""
    found = nested_path(reference, set(batch.schema.names) - {reference})
    if found is None:
        return []
    column, path = found
    seen: dict[str, None] = {}
    for value in _objects(batch.column(column)):
        parent = _dig(value, path[:-1]) if path[:-1] else value
        if isinstance(parent, dict):
            seen.update(dict.fromkeys(parent))
    head = ".".join(reference.split(".")[:-1])
    return [f"{head}.{member}" for member in seen]


def _objects(arr: pa.Array) -> list[Any]:
    """The column's values as Python objects: JSON text parsed, structs and maps as dicts."""
    if is_json_type(arr.type) or pa.types.is_string(plain(arr).type) or pa.types.is_large_string(plain(arr).type):
        out: list[Any] = []
        for text in plain(arr).cast(pa.string()).to_pylist():
            try:
                out.append(None if not text else orjson.loads(text))
            except orjson.JSONDecodeError:
                out.append(None)  # not an object: it has no members (a data_json column reports the text)
        return out
    return [json_safe(value) for value in arr.to_pylist()]


def _dig(value: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _column(values: list[Any]) -> pa.Array:
    """Scalars keep their type where the column agrees (all text, all integers...); anything else as JSON."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, str) for v in present):
        return pa.array(values, pa.string())
    if not any(isinstance(v, (dict, list)) for v in present):
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return json_array([None if v is None else orjson.dumps(v).decode() for v in values])
