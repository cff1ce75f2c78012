"""Row keys as checkpoint text and back, keeping their types so a resumed query binds them right."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import orjson

RowKey = tuple[Any, ...]


def _tag(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        if tag == "$datetime":
            return dt.datetime.fromisoformat(text)
        if tag == "$date":
            return dt.date.fromisoformat(text)
        if tag == "$decimal":
            return decimal.Decimal(text)
        if tag == "$bytes":
            return bytes.fromhex(text)
    return value


def encode_key(key: RowKey) -> str:
    """``(datetime(...), 42)`` -> ``'[{"$datetime":"..."},42]'``."""
    return orjson.dumps([_tag(v) for v in key]).decode()


def decode_key(text: str) -> RowKey:
    """The inverse of ``encode_key``."""
    return tuple(_untag(v) for v in orjson.loads(text))
