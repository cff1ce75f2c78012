"""DB-API rows -> an Arrow record batch, with the types warehouses really return.

``json``/``jsonb`` values (Python dicts, or lists holding dicts) become the Arrow JSON extension type
(text), so they reach Spotzee as the objects they were and work as ``data_json``; UUIDs become text;
decimals stay exact. A value of another kind than the rest of its column (MySQL's zero date
``0000-00-00`` comes back as text among datetimes) is a fault on its own row, the column keeping its type;
a column of truly mixed values (text and objects) falls back to JSON-safe values instead of failing the batch.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..mapping import json_array, json_safe
from .faults import Faults, shown, with_faults
from .mysql_types import BOOLEAN, JSON, UTC_TIME

# Kinds of value whose column has a type a stray value of another kind cannot share, and how a reason says it.
_TYPED = {"time": "a date and time", "date": "a date", "number": "a number", "boolean": "a boolean"}


def _holds_objects(values: Sequence[Any]) -> bool:
    for value in values:
        if isinstance(value, dict):
            return True
        if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
            return True
    return False


def _family(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, decimal.Decimal)):
        return "number"
    if isinstance(value, dt.datetime):
        return "time"
    if isinstance(value, dt.date):
        return "date"
    return type(value).__name__


def _strays(values: Sequence[Any], kind: str | None) -> tuple[str, list[int]]:
    """The column's kind of value and the rows holding text where the rest holds that kind (a driver's answer
    for a value it cannot build: ``'0000-00-00'``, ``'infinity'``). Values of several kinds otherwise (a JSON
    column's numbers, booleans and lists) are no strays: they are what the column holds."""
    families = [None if v is None else _family(v) for v in values]
    counts = Counter(f for f in families if f is not None)
    family = "time" if kind == UTC_TIME else counts.most_common(1)[0][0] if counts else ""
    if kind == JSON or family not in _TYPED or set(counts) - {family, "str", "bytes"}:
        return family, []
    return family, [row for row, f in enumerate(families) if f in ("str", "bytes")]


def arrow_column(
    values: Sequence[Any], kind: str | None = None, faults: Faults | None = None, column: str = ""
) -> pa.Array:
    """One column of Python values as the Arrow array a warehouse column should become (``kind``: what the
    column's declared type says the values mean, where the driver's values lose it; see ``mysql_types``).
    With ``faults``, a value of another kind than the column's (a zero date) is null here and a fault on its row."""
    if faults is None:
        return _column(values, kind, strict=False)
    try:
        return _column(values, kind, strict=True)  # the common case: one kind of value, nothing looked at twice
    except _MixedError:
        pass
    family, strays = _strays(values, kind)
    kept = list(values)
    for row in strays:
        value, kept[row] = values[row], None
        zero = " (MySQL's zero date: no real time)" if str(value).startswith("0000-00-00") else ""
        message = f"column {column!r} holds {shown(value)}, not {_TYPED[family]}{zero}"
        faults.add(row, "value_invalid", column, message, value)
    return _column(kept, kind, strict=False)


class _MixedError(Exception):
    """The column holds values of several kinds."""


def _column(values: Sequence[Any], kind: str | None, strict: bool) -> pa.Array:
    """``strict``: raise ``_MixedError`` where the values are not of one kind, instead of falling back to JSON."""
    if kind == UTC_TIME:  # naive values read in a UTC session: the instants they are
        try:
            return pa.array(values, pa.timestamp("us", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            if strict:
                raise _MixedError from None
            raise
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
        finite = [None if isinstance(v, decimal.Decimal) and not v.is_finite() else v for v in values]
        try:
            return pa.array(finite)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    if strict:
        raise _MixedError
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
    """A record batch of ``rows`` (tuples in ``names`` order); a value that does not fit its column is a fault on
    its row (the batch's fault column), never the batch's failure."""
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    kinds = kinds or [None] * len(names)
    faults = Faults(len(rows))
    arrays = [
        arrow_column(values, kind, faults, name) for values, kind, name in zip(columns, kinds, names, strict=True)
    ]
    return with_faults(pa.RecordBatch.from_arrays(arrays, names=names), faults)
