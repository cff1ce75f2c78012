"""The ``[types]`` kind an Arrow column stands for: what a dead letter records of its row's columns, so that
``resend`` reads the fixed values back as the original load typed them, whatever the source was."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.types as pat

from ..errors import MappingError
from .convert import JSON_TYPE

_KINDS = (
    ((pat.is_struct, pat.is_map, pat.is_list, pat.is_large_list, pat.is_fixed_size_list), "json"),
    ((pat.is_boolean,), "boolean"),
    ((pat.is_integer,), "integer"),
    ((pat.is_floating, pat.is_decimal), "number"),
    ((pat.is_timestamp,), "timestamp"),
)


def column_kind(type_: pa.DataType) -> str | None:
    """``integer``, ``number``, ``boolean``, ``timestamp``, ``json`` or ``string``; ``None`` for an all-null column,
    whose type says nothing. A date stays text: ``2024-03-28`` is what the event carried, and a date in
    ``created_at`` is read as one again."""
    if pat.is_null(type_):
        return None
    if pat.is_dictionary(type_):
        return column_kind(type_.value_type)
    if type_ == JSON_TYPE:
        return "json"
    return next((kind for tests, kind in _KINDS if any(test(type_) for test in tests)), "string")


def column_kinds(schema: pa.Schema, skip: str) -> dict[str, str]:
    """Per column of ``schema`` (but ``skip``, the fault column), its kind where the type tells one."""
    kinds = {field.name: column_kind(field.type) for field in schema if field.name != skip}
    return {name: kind for name, kind in kinds.items() if kind is not None}


def boolean_words(raw: Any, origin: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ``[booleans]`` table: ``true = ["yes", "y"]``, ``false = ["no", "n"]``; every problem a MappingError."""
    if not isinstance(raw, dict) or set(raw) - {"true", "false"}:
        raise MappingError(f'{origin}: [booleans] holds true = ["yes", ...] and false = ["no", ...], got {raw!r}.')
    words: list[tuple[str, ...]] = []
    for side in ("true", "false"):
        listed = raw.get(side, [])
        if not isinstance(listed, list) or not all(isinstance(w, str) and w.strip() for w in listed):
            raise MappingError(f"{origin}: booleans.{side} must be a list of words, got {listed!r}.")
        words.append(tuple(w.strip().lower() for w in listed))
    if set(words[0]) & set(words[1]):
        raise MappingError(f"{origin}: [booleans] lists {sorted(set(words[0]) & set(words[1]))} as true and false.")
    return words[0], words[1]
