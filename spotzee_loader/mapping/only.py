"""The mapping's ``[only]``: which values of a column keep a row, compared as the column's type holds them.

A TOML value is text, a number or a boolean; a column is text, numbers or booleans. ``is_test = [0]``,
``is_test = ["0"]`` and ``is_test = [false]`` all mean the same on a boolean column, ``1`` and ``"1.0"`` the same
on a numeric one; a value the column's type cannot hold (``"yes"`` for a boolean) is a mapping error rather than
a filter that silently keeps nothing.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MappingError
from .convert import plain

_TRUE, _FALSE = ("true", "1", "t", "yes"), ("false", "0", "f", "no")


def only_text(value: object) -> str | None:
    """A TOML ``[only]`` value as the text the mapping keeps (``None``: not a value ``[only]`` takes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


def matches(column: pa.Array | pa.ChunkedArray, name: str, values: tuple[str, ...], origin: str) -> pa.Array:
    """Per row, whether the column holds one of ``values`` (nulls never do)."""
    arr = plain(column)
    kind = arr.type
    if pa.types.is_boolean(kind):
        wanted = [_boolean(v, name, origin) for v in values]
        found = pc.is_in(arr, pa.array(wanted, pa.bool_()))
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        numbers = [_number(v, name, origin) for v in values]
        found = pc.is_in(arr.cast(pa.float64()), pa.array(numbers, pa.float64()))
    else:
        found = pc.is_in(arr.cast(pa.string()), pa.array(values, pa.string()))
    return pc.fill_null(found, False)


def _boolean(value: str, column: str, origin: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise MappingError(f"{origin}: only.{column} = {value!r}, but column {column!r} holds booleans: use true or false.")


def _number(value: str, column: str, origin: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise MappingError(f"{origin}: only.{column} = {value!r}, but column {column!r} holds numbers.") from None
