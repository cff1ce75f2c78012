"""DB-API rows -> an Arrow record batch, with the types warehouses really return.

``json``/``jsonb`` values (Python dicts, or lists holding dicts) become the Arrow JSON extension type
(text), so they reach Spotzee as the objects they were and work as ``data_json``; UUIDs become text;
decimals stay exact; a column Arrow cannot type as a whole (NaN numerics, mixed values) falls back
to JSON-safe values instead of failing the batch.
"""

from __future__ import annotations

import decimal
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..mapping import json_array, json_safe
from .mysql_types import BOOLEAN, JSON, UTC_TIME


def _holds_objects(values: Sequence[Any]) -> bool:
    for value in values:
        if isinstance(value, dict):
            return True
        if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
            return True
    return False


def arrow_column(values: Sequence[Any], kind: str | None = None) -> pa.Array:
    """One column of Python values as the Arrow array a warehouse column should become (``kind``: what the
    column's declared type says the values mean, where the driver's values lose it; see ``mysql_types``)."""
    if kind == UTC_TIME:  # naive values read in a UTC session: the instants they are
        return pa.array(values, pa.timestamp("us", tz="UTC"))
    if kind == BOOLEAN:
        return pa.array([None if v is None else bool(v) for v in values], pa.bool_())
    sample = next((v for v in values if v is not None), None)
    if sample is None:
        return pa.nulls(len(values))
    if kind == JSON and isinstance(sample, (str, bytes)):
        return json_array([None if v is None else v if isinstance(v, str) else v.decode() for v in values])
    if isinstance(sample, (dict, list)) and _holds_objects(values):
        return json_array([None if v is None else orjson.dumps(json_safe(v)).decode() for v in values])
    if isinstance(sample, uuid.UUID):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    if isinstance(sample, decimal.Decimal):
        typed = decimals_from_text(pa.array([None if v is None else str(v) for v in values], pa.string()))
        if typed is not None:
            return typed
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        pass
    if isinstance(sample, int) and not isinstance(sample, bool):
        try:  # BIGINT UNSIGNED past the signed range
            return pa.array(values, pa.uint64())
        except (pa.ArrowInvalid, OverflowError):
            pass
    if isinstance(sample, decimal.Decimal):
        finite = [v if v is None or v.is_finite() else None for v in values]
        try:
            return pa.array(finite)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    return json_array([None if v is None else orjson.dumps(json_safe(v)).decode() for v in values])


def decimals_from_text(texts: pa.Array) -> pa.Array | None:
    """Decimal text as Arrow infers decimals (the largest scale in the column), or ``None`` to let it infer.

    Arrow's inference looks at each value in Python (~2 µs each, the cost of reading a numeric
    column); here the values' text gives every scale and Arrow's string cast does the rest (~0.4 µs).
    Text in exponent form (``1E+5``, ``1E-7``), NaN and Infinity are left to the slow path.
    """
    if pc.any(pc.match_substring_regex(texts, "[EeNnIi]")).as_py():
        return None
    dot = pc.find_substring(texts, ".")
    length = pc.utf8_length(texts)
    scales = pc.if_else(pc.greater_equal(dot, 0), pc.subtract(pc.subtract(length, dot), 1), 0)
    scale = pc.max(scales).as_py() or 0
    # Integer digits (sign aside): Arrow's string cast does not always refuse a value past the precision, it
    # can shift its digits instead (32 integer digits at scale 7 came back as 28), so the width is checked here.
    signs = pc.cast(pc.starts_with(texts, "-"), pa.int32())
    integers = pc.subtract(pc.if_else(pc.greater_equal(dot, 0), dot, length), signs)
    if (pc.max(integers).as_py() or 0) + scale > 38:
        return None  # more than 38 digits: inference picks decimal256
    try:
        return texts.cast(pa.decimal128(38, scale))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def rows_to_batch(
    names: list[str], rows: Sequence[Sequence[Any]], kinds: Sequence[str | None] | None = None
) -> pa.RecordBatch:
    """A record batch of ``rows`` (tuples in ``names`` order)."""
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    kinds = kinds or [None] * len(names)
    return pa.RecordBatch.from_arrays(
        [arrow_column(values, kind) for values, kind in zip(columns, kinds, strict=True)], names=names
    )
