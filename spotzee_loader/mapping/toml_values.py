"""The values of a TOML mapping document, each checked as it is read: a problem is a ``MappingError`` naming the
key and the file (``spec.Mapping.from_dict`` assembles the mapping from them)."""

from __future__ import annotations

from typing import Any

from ..errors import MappingError
from .only import only_text

USER_FIELDS = ("email", "phone", "timezone", "locale")
TOP_KEYS = frozenset(
    {
        "name", "name_column", "external_id", "anonymous_id", "created_at", "timezone", "key", "data_json",
        "data_columns", "exclude_columns", "data", "user", "types", "only", "csv", "created_at_format",
        "created_at_unit", "created_at_time", "booleans", "drop_properties",
    }
)  # fmt: skip
"""The keys a mapping file may hold at its top level; any other is refused, naming it."""


def check_top_keys(raw: dict[str, Any], origin: str) -> None:
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise MappingError(
            f"{origin}: unknown key(s) {', '.join(unknown)}; allowed keys are {', '.join(sorted(TOP_KEYS))}."
        )


def text_value(raw: dict[str, Any], key: str, origin: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise MappingError(f"{origin}: '{key}' must be a non-empty string, got {value!r}.")
    return value


def column_list(raw: dict[str, Any], key: str, origin: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise MappingError(f"{origin}: '{key}' must be a list of column names, got {value!r}.")
    return tuple(value)


def property_pairs(table: Any, where: str, origin: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(table, dict):
        raise MappingError(f'{origin}: [{where}] must be a table of property = "column".')
    out = []
    for prop, column in table.items():
        if not isinstance(column, str) or not column:
            raise MappingError(f"{origin}: {where}.{prop} must name a column as a string, got {column!r}.")
        out.append((prop, column))
    return tuple(out)


def declared_types(raw: dict[str, Any], allowed: tuple[str, ...], origin: str) -> tuple[tuple[str, str], ...]:
    types = property_pairs(raw.get("types", {}), "types", origin)
    for column, type_ in types:
        if type_ not in allowed:
            raise MappingError(f"{origin}: types.{column} = {type_!r}; a column type is one of {', '.join(allowed)}.")
    return types


def only_values(raw: dict[str, Any], origin: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    only_raw = raw.get("only", {})
    if not isinstance(only_raw, dict):
        raise MappingError(f'{origin}: [only] must be a table of column = ["value", ...].')
    only = []
    for column, values in only_raw.items():
        kept = values if isinstance(values, list) else [values]
        texts = [only_text(v) for v in kept]
        if not texts or any(t is None for t in texts):
            raise MappingError(
                f"{origin}: only.{column} must be a value (text, number, true/false) or a list of them, got {values!r}."
            )
        only.append((column, tuple(t for t in texts if t is not None)))
    return tuple(only)


def user_tables(raw: dict[str, Any], origin: str) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """``[user]`` (the profile fields) and ``[user.data]`` (its other traits)."""
    user_raw = dict(raw.get("user", {}))
    if not isinstance(user_raw, dict):
        raise MappingError(f"{origin}: [user] must be a table.")
    user_data_raw = user_raw.pop("data", {})
    bad_user = sorted(set(user_raw) - set(USER_FIELDS))
    if bad_user:
        raise MappingError(
            f"{origin}: [user] allows only {', '.join(USER_FIELDS)} and [user.data]; "
            f"move {', '.join(bad_user)} under [user.data]."
        )
    return property_pairs(user_raw, "user", origin), property_pairs(user_data_raw, "user.data", origin)
