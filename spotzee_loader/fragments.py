"""Arrow columns -> JSON text, one fragment per row, assembled by Arrow kernels instead of per-row Python.

Every function returns a ``string`` array with the JSON encoding of each row's value, or null where the
value is missing (the property is then left out). The text is byte-for-byte what ``orjson.dumps`` gives
for the value ``convert.json_values`` produces: the common types are encoded by Arrow casts, the rest
(nested values, floats, JSON columns) by orjson on the column's Python values. ``tests/test_properties.py``
compares the result with the row-by-row assembly on generated schemas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from . import convert

# What JSON must escape inside a string; orjson leaves everything else (U+2028, DEL, non-ASCII) as UTF-8.
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_NULL_TEXT = pa.scalar(None, pa.string())


def json_strings(arr: pa.Array) -> pa.Array:
    """Strings as JSON string literals; only the rare values that need escaping go through orjson."""
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    quoted = pc.binary_join_element_wise('"', arr, '"', "")
    dirty = pc.fill_null(pc.match_substring_regex(arr, _NEEDS_ESCAPE), False)
    if not pc.any(dirty).as_py():
        return quoted
    escaped = [orjson.dumps(v).decode() for v in pc.filter(arr, dirty).to_pylist()]
    return pc.replace_with_mask(quoted, dirty, pa.array(escaped, pa.string()))


def _python_values(values: list[Any]) -> pa.Array:
    """JSON of Python values, ``None`` staying null (the property is left out)."""
    return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())


def _floats(values: list[float | None]) -> pa.Array:
    # One orjson call for the column: a float's JSON never holds a comma, so the list splits cleanly.
    if not values:
        return pa.array([], pa.string())
    parts = pa.array(orjson.dumps(values)[1:-1].split(b","), pa.binary()).cast(pa.string())
    return pc.if_else(pc.equal(parts, "null"), _NULL_TEXT, parts)


def json_column(arr: pa.Array | pa.ChunkedArray, timezone: str) -> pa.Array:
    """One column's values as JSON text (see the module docstring)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if convert.is_json_type(arr.type):
        return _python_values(convert.json_values(arr, timezone))
    arr = convert.plain(arr)
    type_ = arr.type
    if pa.types.is_null(type_):
        return pa.nulls(len(arr), pa.string())
    if convert.is_texty(type_):
        return json_strings(arr)
    if pa.types.is_integer(type_) or pa.types.is_boolean(type_) or pa.types.is_decimal(type_):
        return arr.cast(pa.string())  # "12", "true", "194029.55": already JSON, exact
    if pa.types.is_date(type_):
        return json_strings(arr.cast(pa.string()))
    if pa.types.is_timestamp(type_):
        return json_strings(convert.iso_strings(convert.utc_timestamps(arr, timezone)[0]))
    if pa.types.is_floating(type_):
        return _floats(convert.json_values(arr, timezone))
    return _python_values(convert.json_values(arr, timezone))


def json_object(members: Sequence[tuple[str, pa.Array]], length: int) -> pa.Array:
    """``{"key":value,...}`` per row from ``(key, fragments)``; null members are left out, and a row
    whose members are all null gives null (no empty object)."""
    if not members:
        return pa.nulls(length, pa.string())
    pieces = [optional_member(k, v) for k, v in members]
    inner = pc.binary_join_element_wise(*pieces, "") if len(pieces) > 1 else pieces[0]
    whole = pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(inner, 1), "}", "")
    return pc.if_else(pc.equal(inner, ""), _NULL_TEXT, whole)


def optional_member(key: str, fragments: pa.Array) -> pa.Array:
    """``,"key":value`` where the value exists, ``""`` where it does not."""
    return pc.fill_null(pc.binary_join_element_wise(f",{orjson.dumps(key).decode()}:", fragments, ""), "")
