"""The ``[types]`` kind an Arrow column stands for: what a dead letter records of its row's columns, so that
``resend`` reads the fixed values back as the original load typed them, whatever the source was."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.types as pat

from .convert import JSON_TYPE


def column_kind(type_: pa.DataType) -> str | None:
    """``integer``, ``number``, ``boolean``, ``timestamp``, ``json`` or ``string``; ``None`` for an all-null column,
    whose type says nothing. A date stays text: ``2024-03-28`` is what the event carried, and a date in
    ``created_at`` is read as one again."""
    if pat.is_null(type_):
        return None
    if type_ == JSON_TYPE or pat.is_struct(type_) or pat.is_map(type_) or pat.is_list(type_):
        return "json"
    if pat.is_large_list(type_) or pat.is_fixed_size_list(type_):
        return "json"
    if pat.is_boolean(type_):
        return "boolean"
    if pat.is_integer(type_):
        return "integer"
    if pat.is_floating(type_) or pat.is_decimal(type_):
        return "number"
    if pat.is_timestamp(type_):
        return "timestamp"
    if pat.is_dictionary(type_):
        return column_kind(type_.value_type)
    return "string"


def column_kinds(schema: pa.Schema, skip: str) -> dict[str, str]:
    """Per column of ``schema`` (but ``skip``, the fault column), its kind where the type tells one."""
    kinds = {field.name: column_kind(field.type) for field in schema if field.name != skip}
    return {name: kind for name, kind in kinds.items() if kind is not None}
