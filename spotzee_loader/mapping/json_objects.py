"""The objects of a ``data_json`` column, merged into each event's ``data``: JSON text, structs or maps, and lists of
``{key, value}`` pairs (Google Analytics 4's ``event_params``) read as the object they spell; the mapping's
``drop_properties`` (a platform's bookkeeping: ``$*``, ``mp_*``) left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa

from . import convert

Flag = Callable[[list[int], str, "str | None", str], None]
_PARAM_VALUES = ("string_value", "int_value", "float_value", "double_value")
"""Where a GA4 parameter keeps its value: the first that is set."""


def data_objects(raw: pa.Array, column: str, drop: tuple[str, ...], flag: Flag) -> list[Any]:
    """Per row, the object to merge into ``data`` (``None`` where there is none); a value that is no object flags
    its row."""
    raw = convert.plain(raw)
    if pa.types.is_struct(raw.type) or pa.types.is_map(raw.type) or _is_list(raw.type):
        values = [convert.json_safe(v) for v in raw.to_pylist()]
    else:
        values = []
        for i, text in enumerate(raw.to_pylist()):
            if text is None or text == "":
                values.append(None)
                continue
            try:
                values.append(orjson.loads(text))
            except orjson.JSONDecodeError as exc:
                flag([i], "data_json_invalid", column, f"column {column!r} is not valid JSON ({exc})")
                values.append(None)
    # Per key of every row: a set and one startswith over a tuple, not a loop over the patterns.
    names = {d for d in drop if not d.endswith("*")}
    prefixes = tuple(d[:-1] for d in drop if d.endswith("*"))
    out: list[Any] = []
    for i, value in enumerate(values):
        if isinstance(value, list) and all(isinstance(p, dict) and "key" in p for p in value):
            value = {p["key"]: _param_value(p.get("value")) for p in value}
        if value is not None and not isinstance(value, dict):
            kind = type(value).__name__
            flag([i], "data_json_not_object", column, f"column {column!r} holds a JSON {kind}, not an object")
            value = None
        if value and drop:
            value = {k: v for k, v in value.items() if k not in names and not k.startswith(prefixes)}
        out.append(value)
    return out


def _param_value(value: Any) -> Any:
    if isinstance(value, dict):
        return next((value[k] for k in _PARAM_VALUES if value.get(k) is not None), None)
    return value


def _is_list(type_: pa.DataType) -> bool:
    return bool(pa.types.is_list(type_) or pa.types.is_large_list(type_))
