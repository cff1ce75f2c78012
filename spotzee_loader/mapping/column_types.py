"""The ``[types]`` kind an Arrow column stands for: what a dead letter records of its row's columns, so that
``resend`` reads the fixed values back as the original load typed them, whatever the source was."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.types as pat

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
