"""The mapping's ``[types]`` on sources whose columns have types of their own (Parquet, databases): a column held as
text (money kept as strings, flags as ``Y``/``N``, times as text) is read as the type declared, and a value that does
not fit rejects its own row with the same reason as in a CSV file (``text_types``)."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.types as pat

from ..mapping import VALUE_FAULT, Mapping, column_kind, json_array, json_safe
from .faults import Faults, with_faults
from .text_types import from_text


def as_declared(batch: pa.RecordBatch, mapping: Mapping | None) -> pa.RecordBatch:
    """``batch`` with each column ``[types]`` declares in its declared type (columns already of it untouched)."""
    declared = dict(mapping.types) if mapping is not None else {}
    todo = [n for n in batch.schema.names if n in declared and column_kind(batch.schema.field(n).type) != declared[n]]
    if mapping is None or not todo:
        return batch
    faults = Faults.of(batch)
    arrays, names = [], []
    for name, arr in zip(batch.schema.names, batch.columns, strict=True):
        if name == VALUE_FAULT:
            continue
        if name in todo:
            kind = declared[name]
            text = arr if pat.is_string(arr.type) or pat.is_large_string(arr.type) else _as_text(arr)
            if kind != "string":
                text = from_text(text, name, kind, mapping.timezone, faults, True, mapping.booleans)
            arr = text
        arrays.append(arr)
        names.append(name)
    return with_faults(pa.RecordBatch.from_arrays(arrays, names=names), faults)


def _as_text(arr: pa.Array) -> pa.Array:
    """A column of another type as the text its values spell (a number as ``12.5``, JSON as its text)."""
    try:
        return arr.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return json_array([None if v is None else orjson.dumps(json_safe(v)).decode() for v in arr.to_pylist()])
