"""Types for columns of text files (CSV, JSON Lines), decided once per column and then enforced row by row.

A reader that guesses types per block crashes when a column that was numeric for a million rows holds
``N/A``. Here each column's type is what the mapping's ``[types]`` declares, or else what the column's first
rows show (decided once, from the first block that has values); every later value is converted to that type,
and one that does not fit becomes a fault on its row (the row is rejected, naming the column and the value)
instead of failing the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..mapping import json_array, json_safe, utc_timestamps
from .arrow_rows import decimals_from_text
from .faults import Faults, shown

_INTEGER = r"^[+-]?[0-9]+$"
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_CURRENCY = r"(?:[$€£¥₹]|[A-Z]{3}\b)"
_LEADING_MONEY = r"^\s*([+-]?)\s*" + _CURRENCY + r"\s*"
_TRAILING_MONEY = r"\s*(?:[$€£¥₹]|\b[A-Z]{3})\s*$"
_GROUPED = r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$"
"""``1,234,567.50``: thousands separated by commas, the decimal mark a dot."""
Words = tuple[tuple[str, ...], tuple[str, ...]]
"""Words beside ``true``/``false``/``1``/``0`` that a boolean column's text may hold: ``(true words, false words)``."""
_WHAT = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true/false)",
    "timestamp": "an ISO 8601 time",
    "json": "JSON",
    "string": "text",
}


def _fault(faults: Faults, row: int, column: str, kind: str, value: Any, declared: bool) -> None:
    origin = "declared in the mapping's [types]" if declared else "shown by its first rows; declare it under [types]"
    faults.add(
        row, "value_invalid", column, f"column {column!r} holds {shown(value)}, not {_WHAT[kind]} ({origin})", value
    )


# -- CSV: columns of text --------------------------------------------------------------------


def infer_text(arr: pa.Array) -> str | None:
    """The type a text column's values show: integer, number, boolean or string (text is the safe default);
    ``None`` while it has no value."""
    values = arr.drop_null()
    if len(values) == 0:
        return None
    if pc.all(pc.match_substring_regex(values, _INTEGER)).as_py():
        try:
            values.cast(pa.int64())
            return "integer"
        except (pa.ArrowInvalid, OverflowError):
            return "number"
    if pc.all(pc.match_substring_regex(values, _NUMBER)).as_py():
        return "number"
    if pc.all(pc.is_in(pc.utf8_lower(values), pa.array(["true", "false"]))).as_py():
        return "boolean"
    return "string"


def from_text(
    arr: pa.Array,
    column: str,
    kind: str,
    timezone: str,
    faults: Faults,
    declared: bool = False,
    words: Words = ((), ()),
) -> pa.Array:
    """A text column as ``kind``; values that do not fit are null here and a fault on their row. A declared number
    may carry a currency sign or code and thousands separators (``$1,234.50``, ``1,234.50 EUR``); a boolean, the
    mapping's ``[booleans]`` words."""
    if kind == "string":
        return arr
    if kind == "timestamp":
        typed, bad = utc_timestamps(arr, timezone)
        for row in bad:
            _fault(faults, row, column, kind, arr[row].as_py(), declared)
        return typed
    if kind == "json":
        texts: list[str | None] = []
        for row, text in enumerate(arr.to_pylist()):
            try:
                texts.append(None if text is None else orjson.dumps(orjson.loads(text)).decode())
            except orjson.JSONDecodeError:
                _fault(faults, row, column, kind, text, declared)
                texts.append(None)
        return json_array(texts)
    pattern = {"integer": _INTEGER, "number": _NUMBER}.get(kind)
    values = _plain_number(arr) if declared and kind in ("integer", "number") else arr
    if kind == "boolean":
        true_words = ["true", "1", *(w.lower() for w in words[0])]
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
        fits = pc.is_in(lowered, pa.array([*_BOOLEANS, *true_words[2:], *(w.lower() for w in words[1])]))
    else:
        fits = pc.match_substring_regex(values, pattern)
    bad = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(fits, False)))
    for row in pc.indices_nonzero(bad).to_pylist():
        _fault(faults, row, column, kind, arr[row].as_py(), declared)
    good = pc.if_else(bad, pa.scalar(None, pa.string()), values)
    if kind == "boolean":
        # Vectorised: a boolean column is read per batch of rows, not per row in Python.
        truthy = pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(good)), pa.array(true_words))
        return pc.if_else(pc.is_null(good), pa.scalar(None, pa.bool_()), truthy)
    if kind == "integer":
        try:
            return good.cast(pa.int64())
        except (pa.ArrowInvalid, OverflowError):
            return _integers_one_by_one(good, column, faults, declared)
    exact = decimals_from_text(pc.utf8_ltrim(good, "+"))  # exact as written where it fits a decimal
    return exact if exact is not None else good.cast(pa.float64())


def _plain_number(arr: pa.Array) -> pa.Array:
    """``-$1,234.50`` -> ``-1234.50``: a currency sign or code before or after, and thousands commas, taken off."""
    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(arr), _LEADING_MONEY, "\\1")
    text = pc.replace_substring_regex(text, _TRAILING_MONEY, "")
    return pc.if_else(pc.match_substring_regex(text, _GROUPED), pc.replace_substring(text, ",", ""), text)


def _integers_one_by_one(arr: pa.Array, column: str, faults: Faults, declared: bool) -> pa.Array:
    values: list[int | None] = []
    for row, text in enumerate(arr.to_pylist()):
        number = None if text is None else int(text)
        if number is not None and not -(2**63) <= number < 2**63:
            _fault(faults, row, column, "integer", text, declared)
            number = None
        values.append(number)
    return pa.array(values, pa.int64())


# -- JSON Lines: columns of parsed values ---------------------------------------------------


def infer_values(values: Sequence[Any]) -> str | None:
    """The type parsed JSON values show (objects and arrays anywhere make the column JSON); ``None`` while
    it has no value."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if any(isinstance(v, (dict, list)) for v in present):
        return "json"
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "integer"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "number"
    return "string"


def from_values(
    values: Sequence[Any],
    column: str,
    kind: str,
    timezone: str,
    faults: Faults,
    declared: bool = False,
    words: Words = ((), ()),
) -> pa.Array:
    """Parsed JSON values as ``kind``. Text that spells the type is read as it (``"42"`` in an integer column);
    scalars read as text in a text column; anything else is a fault on its row."""
    if kind == "json":
        return json_array([None if v is None else orjson.dumps(json_safe(v)).decode() for v in values])
    if kind == "string":
        if all(v is None or isinstance(v, str) for v in values):
            return pa.array(values, pa.string())
        texts: list[str | None] = []
        for row, value in enumerate(values):
            if isinstance(value, (dict, list)):
                _fault(faults, row, column, kind, value, declared)
                value = None
            texts.append(value if value is None or isinstance(value, str) else orjson.dumps(value).decode())
        return pa.array(texts, pa.string())
    typed = _native(values, kind)
    if typed is not None:
        return typed
    # Mixed: read the values as JSON text, then as the type (numbers and booleans spell themselves).
    texts = [None if v is None else v if isinstance(v, str) else orjson.dumps(json_safe(v)).decode() for v in values]
    return from_text(pa.array(texts, pa.string()), column, kind, timezone, faults, declared, words)


def _native(values: Sequence[Any], kind: str) -> pa.Array | None:
    """The values as Arrow builds them, when every one already has the type."""
    if kind == "boolean" and all(v is None or isinstance(v, bool) for v in values):
        return pa.array(values, pa.bool_())
    if kind == "integer" and all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
        try:
            return pa.array(values, pa.int64())
        except (pa.ArrowInvalid, OverflowError):
            return None
    if kind == "number" and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
        return pa.array(values, pa.float64())
    return None
