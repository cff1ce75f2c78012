"""Arrow columns -> JSON text, one fragment per row, assembled by Arrow kernels instead of per-row Python.

A fragment is a list of pieces, literal text and ``string`` arrays, whose row-wise concatenation is each
row's JSON encoding, or null where the value is missing (the property is then left out). Pieces are
concatenated once, by ``concat``, when the whole event is known: joining every member as it is made
copied each event's text once per member. The text is byte-for-byte what ``orjson.dumps`` gives for
the value ``convert.json_values`` produces: the common types are encoded by Arrow casts, the rest
(nested values, floats, JSON columns) by orjson on the column's Python values. ``tests/test_properties.py``
compares the result with the row-by-row assembly on generated schemas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from . import convert, iso_text

Fragment = list[str | pa.Array]
"""Pieces whose concatenation, row by row, is the JSON text; a null in any array piece nulls the row."""

# What JSON must escape inside a string; orjson leaves everything else (U+2028, DEL, non-ASCII) as UTF-8.
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_NULL_TEXT = pa.scalar(None, pa.string())


def concat(fragment: Fragment) -> pa.Array:
    """The fragment's text per row, in one kernel call (adjacent literals merged first)."""
    pieces: list[str | pa.Array] = []
    for piece in fragment:
        if isinstance(piece, str) and pieces and isinstance(pieces[-1], str):
            pieces[-1] += piece
        else:
            pieces.append(piece)
    if len(pieces) == 1 and isinstance(pieces[0], pa.Array):
        return pieces[0]
    return pc.binary_join_element_wise(*pieces, "")


def _has_nulls(fragment: Fragment) -> bool:
    return any(isinstance(piece, pa.Array) and piece.null_count for piece in fragment)


def json_strings(arr: pa.Array) -> Fragment:
    """Strings as JSON string literals; only the rare values that need escaping go through orjson."""
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    if not _may_need_escape(arr):
        return ['"', arr, '"']
    quoted = pc.binary_join_element_wise('"', arr, '"', "")
    dirty = pc.fill_null(pc.match_substring_regex(arr, _NEEDS_ESCAPE), False)
    if not pc.any(dirty).as_py():
        return [quoted]
    escaped = [orjson.dumps(v).decode() for v in pc.filter(arr, dirty).to_pylist()]
    return [pc.replace_with_mask(quoted, dirty, pa.array(escaped, pa.string()))]


def _may_need_escape(arr: pa.StringArray) -> bool:
    """Whether any byte of the array's text needs escaping: one scan of the value buffer, ~20× cheaper
    than the per-value regex, which then only runs on the rare arrays that have such a byte."""
    if len(arr) == 0:
        return False
    offsets, values = arr.buffers()[1:3]
    if values is None:
        return False
    bounds = np.frombuffer(offsets, np.int32, count=arr.offset + len(arr) + 1)
    text = np.frombuffer(values, np.uint8)[bounds[arr.offset] : bounds[arr.offset + len(arr)]]
    return bool(((text < 0x20) | (text == 0x22) | (text == 0x5C)).any())


def _python_values(values: list[Any]) -> Fragment:
    """JSON of Python values, ``None`` staying null (the property is left out)."""
    return [pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())]


def _floats(values: list[float | None]) -> Fragment:
    # One orjson call for the column: a float's JSON never holds a comma, so the list splits cleanly.
    if not values:
        return [pa.array([], pa.string())]
    parts = pa.array(orjson.dumps(values)[1:-1].split(b","), pa.binary()).cast(pa.string())
    return [pc.if_else(pc.equal(parts, "null"), _NULL_TEXT, parts)]


def json_column(arr: pa.Array | pa.ChunkedArray, timezone: str) -> Fragment:
    """One column's values as JSON text (see the module docstring)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if convert.is_json_type(arr.type):
        return _python_values(convert.json_values(arr, timezone))
    arr = convert.plain(arr)
    type_ = arr.type
    if pa.types.is_null(type_):
        return [pa.nulls(len(arr), pa.string())]
    if convert.is_texty(type_):
        return json_strings(arr)
    if pa.types.is_integer(type_) or pa.types.is_boolean(type_) or pa.types.is_decimal(type_):
        return [arr.cast(pa.string())]  # "12", "true", "194029.55": already JSON, exact
    if pa.types.is_date(type_):
        return json_strings(iso_text.iso_dates(arr))
    if pa.types.is_timestamp(type_):
        return json_strings(iso_text.iso_strings(convert.utc_timestamps(arr, timezone)[0]))
    if pa.types.is_floating(type_):
        return _floats(convert.json_values(arr, timezone))
    return _python_values(convert.json_values(arr, timezone))


def json_object(members: Sequence[tuple[str, Fragment]], length: int) -> Fragment:
    """``{"key":value,...}`` per row from ``(key, fragment)``; null members are left out, and a row
    whose members are all null gives null (no empty object)."""
    if not members:
        return [pa.nulls(length, pa.string())]
    (first_key, first), rest = members[0], members[1:]
    if not _has_nulls(first):  # the first member is always there: no leading comma to drop, never empty
        return ["{" + _key(first_key) + ":", *first, *(p for k, v in rest for p in optional_member(k, v)), "}"]
    inner = concat([p for k, v in members for p in optional_member(k, v)])
    whole = pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(inner, 1), "}", "")
    return [pc.if_else(pc.equal(inner, ""), _NULL_TEXT, whole)]


def optional_member(key: str, fragment: Fragment) -> Fragment:
    """``,"key":value`` where the value exists, ``""`` where it does not."""
    prefix = "," + _key(key) + ":"
    if not _has_nulls(fragment):
        return [prefix, *fragment]
    return [pc.fill_null(concat([prefix, *fragment]), "")]


def _key(key: str) -> str:
    return orjson.dumps(key).decode()
