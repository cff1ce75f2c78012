"""Arrow columns -> the JSON values Spotzee receives. Vectorised where rows are many.

Rules (see README "What arrives at Spotzee"): ids become strings without float artefacts, times become
``YYYY-MM-DDTHH:MM:SS.sssZ`` in UTC, decimals stay exact JSON numbers, and NaN, ±Infinity and nulls
disappear (JSON has no NaN).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import re
import uuid
import zoneinfo
from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .iso_text import UTC_MS, iso_dates, iso_strings

ZONE_NAME = re.compile(r"^(?P<value>.*?\S)\s*(?P<zone>\b(?:UTC|GMT)|\s[A-Za-z]+/[A-Za-z0-9_+\-/]+)$")
"""A trailing ``UTC``, ``GMT`` or IANA zone name after a time written without an offset."""
_NULL_STRING = pa.scalar(None, pa.string())


def plain(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Undo dictionary encoding and chunking, so every conversion sees one plain array."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if isinstance(arr.type, pa.BaseExtensionType):
        arr = arr.storage if not _is_uuid(arr.type) else arr
    return arr


def _is_uuid(type_: pa.DataType) -> bool:
    return bool(isinstance(type_, pa.BaseExtensionType) and type_.extension_name == "arrow.uuid")


def is_json_type(type_: pa.DataType) -> bool:
    """Arrow's JSON extension type (JSON text that should arrive as the object it encodes)."""
    return bool(isinstance(type_, pa.BaseExtensionType) and type_.extension_name == "arrow.json")


JSON_TYPE = pa.json_(pa.string())


def json_array(texts: Sequence[str | None]) -> pa.Array:
    """JSON texts as Arrow's JSON extension type, which reaches Spotzee as the values they spell."""
    return pa.ExtensionArray.from_storage(JSON_TYPE, pa.array(texts, pa.string()))


def is_texty(type_: pa.DataType) -> bool:
    return bool(pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_string_view(type_))


def as_strings(arr: pa.Array) -> pa.Array:
    """Any string flavour (large, view) as a plain ``string`` array; empty strings become null."""
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    return pc.if_else(pc.equal(arr, ""), _NULL_STRING, arr)


def id_strings(arr: pa.Array) -> pa.Array:
    """Ids as strings: ``36901``, ``36901.0`` (a float column with nulls) and ``36901.00`` -> ``"36901"``."""
    arr = plain(arr)
    type_ = arr.type
    if _is_uuid(type_) or (pa.types.is_fixed_size_binary(type_) and type_.byte_width == 16):
        values = arr.storage if _is_uuid(type_) else arr
        return pa.array([None if b is None else str(uuid.UUID(bytes=b)) for b in values.to_pylist()], pa.string())
    if pa.types.is_floating(type_):
        finite = pc.is_finite(arr)
        integral = pc.and_(finite, pc.and_(pc.equal(pc.floor(arr), arr), pc.less(pc.abs(arr), 2.0**63)))
        as_int = pc.if_else(integral, arr, 0).cast(pa.int64()).cast(pa.string())
        as_text = pc.if_else(finite, arr.cast(pa.string()), _NULL_STRING)
        return pc.if_else(integral, as_int, as_text)
    if pa.types.is_decimal(type_):
        return pc.replace_substring_regex(arr.cast(pa.string()), r"\.0+$", "")
    if pa.types.is_integer(type_) or pa.types.is_boolean(type_):
        return arr.cast(pa.string())
    if pa.types.is_null(type_):
        return pa.nulls(len(arr), pa.string())
    if is_texty(type_) or pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
        return as_strings(arr)
    raise TypeError(f"type {type_} cannot hold an id; use a string, integer or UUID column")


def utc_instant(value: Any, timezone: str) -> dt.datetime | None:
    """A date or datetime from a query or Parquet statistics as a UTC instant (naive ones and dates read
    in ``timezone``); anything else (strings, numbers) gives ``None``."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if not isinstance(value, dt.datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=zoneinfo.ZoneInfo(timezone))).astimezone(dt.UTC)


def is_time_type(type_: pa.DataType) -> bool:
    """Types ``created_at`` may have (``null``: a batch where every value is missing)."""
    return bool(pa.types.is_timestamp(type_) or pa.types.is_date(type_) or is_texty(type_) or pa.types.is_null(type_))


def utc_timestamps(arr: pa.Array, timezone: str) -> tuple[pa.Array, list[int]]:
    """Timestamps, dates or ISO 8601 strings -> ``timestamp[ms, UTC]``.

    Naive values and dates are read in ``timezone`` (a date is midnight there; an ambiguous
    wall time takes the earlier instant, a skipped one moves forward). Returns the array and the
    row indexes of strings that could not be parsed (they are null in the result).
    """
    arr = plain(arr)
    type_ = arr.type
    if pa.types.is_null(type_):
        return pa.nulls(len(arr), UTC_MS), []
    if is_texty(type_):
        return _parse_iso_strings(arr, timezone)
    if pa.types.is_date(type_):
        arr = arr.cast(pa.timestamp("ms"))
    if not pa.types.is_timestamp(type_) and not pa.types.is_date(type_):
        raise TypeError(f"type {type_} is not a timestamp, date or ISO 8601 string")
    # Bound the values in their own unit first: casting an extreme 's' value to 'ms' would wrap.
    unit = arr.type.unit
    naive = arr.type.tz is None
    bare = arr if naive else arr.cast(pa.timestamp(unit))
    if unit != "ns":  # nanoseconds cannot leave years 1677..2262 anyway
        low = pa.scalar(dt.datetime(1, 1, 2), pa.timestamp(unit))
        high = pa.scalar(dt.datetime(9999, 12, 30), pa.timestamp(unit))
        in_range = pc.and_(pc.greater_equal(bare, low), pc.less_equal(bare, high))
        bare = pc.if_else(in_range, bare, pa.scalar(None, bare.type))
    if naive:
        zoned = pc.assume_timezone(bare, timezone, ambiguous="earliest", nonexistent="latest")
    else:
        zoned = bare.cast(pa.timestamp(unit, tz="UTC"))
    return zoned.cast(UTC_MS, safe=False), []


def _parse_iso_strings(arr: pa.Array, timezone: str) -> tuple[pa.Array, list[int]]:
    strings = as_strings(arr)
    try:  # fast path: every value carries its offset
        return strings.cast(UTC_MS), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    aware: list[dt.datetime | None] = []
    naive: list[dt.datetime | None] = []
    bad: list[int] = []
    for i, text in enumerate(strings.to_pylist()):
        parsed = None
        if text is not None:
            parsed = _iso_with_zone_name(text.strip())
            if parsed is None:
                bad.append(i)
        if parsed is None:
            aware.append(None)
            naive.append(None)
        elif parsed.tzinfo is None:
            aware.append(None)
            naive.append(parsed)
        else:
            aware.append(parsed.astimezone(dt.UTC).replace(tzinfo=None))
            naive.append(None)
    zoned = pc.assume_timezone(
        pa.array(naive, pa.timestamp("us")), timezone, ambiguous="earliest", nonexistent="latest"
    ).cast(pa.timestamp("us", tz="UTC"))
    utc = pa.array(aware, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
    merged = pc.if_else(pc.is_valid(utc), utc, zoned)
    return merged.cast(UTC_MS, safe=False), bad


def _iso_with_zone_name(text: str) -> dt.datetime | None:
    """ISO 8601, also with a trailing zone name instead of an offset (``2019-03-02 22:20:00 UTC``,
    ``2019-03-02T22:20:00 Europe/Paris``); ``None`` when it is neither."""
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    found = ZONE_NAME.match(text)
    if found is None:
        return None
    zone = found["zone"].strip()
    try:
        parsed = dt.datetime.fromisoformat(found["value"])
        where = dt.UTC if zone in ("UTC", "GMT") else zoneinfo.ZoneInfo(zone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None
    if parsed.tzinfo is not None:
        return None  # an offset and a zone name: which one is meant cannot be told
    return parsed.replace(tzinfo=where)  # an ambiguous wall time takes its first instant (fold 0)


def json_values(arr: pa.Array, timezone: str) -> list[Any]:
    """One column as JSON-ready Python values; ``None`` means "leave the property out"."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if is_json_type(arr.type):
        return [None if text is None else orjson.loads(text) for text in arr.storage.cast(pa.string()).to_pylist()]
    arr = plain(arr)
    type_ = arr.type
    values: list[Any]
    if pa.types.is_null(type_):
        values = [None] * len(arr)
    elif pa.types.is_floating(type_):
        if pa.types.is_float16(type_):
            arr = arr.cast(pa.float32())
        values = pc.if_else(pc.is_finite(arr), arr, pa.scalar(None, arr.type)).to_pylist()
    elif pa.types.is_decimal(type_):
        values = [None if s is None else orjson.Fragment(s) for s in arr.cast(pa.string()).to_pylist()]
    elif pa.types.is_integer(type_) or pa.types.is_boolean(type_) or is_texty(type_):
        values = arr.to_pylist()
    elif pa.types.is_date(type_):
        values = iso_dates(arr).to_pylist()
    elif pa.types.is_timestamp(type_):
        values = iso_strings(utc_timestamps(arr, timezone)[0]).to_pylist()
    else:
        values = [json_safe(v) for v in arr.to_pylist()]
    return values


def readable_rows(table: pa.RecordBatch) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts, for dead letters: values Python cannot hold (a timestamp in year
    50,000) are shown as their raw storage instead of failing the whole row."""
    columns: dict[str, list[Any]] = {}
    for name, column in zip(table.schema.names, table.columns, strict=True):
        try:
            columns[name] = [json_safe(v) for v in column.to_pylist()]
        except (OverflowError, ValueError, pa.ArrowException):
            columns[name] = [_raw_scalar(column[i]) for i in range(len(column))]
    return [{name: values[i] for name, values in columns.items()} for i in range(table.num_rows)]


def _raw_scalar(scalar: pa.Scalar) -> Any:
    try:
        return json_safe(scalar.as_py())
    except (OverflowError, ValueError, pa.ArrowException):
        if pa.types.is_temporal(scalar.type):
            raw = pa.array([scalar], scalar.type).view(pa.int32() if scalar.type.bit_width == 32 else pa.int64())
            return f"{raw[0]} ({scalar.type})"
        return f"{scalar} ({scalar.type})"


def json_safe(value: Any) -> Any:
    """Any value ``to_pylist`` can return, made JSON-safe (nested lists, structs and maps too)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        # orjson stops at 64 bits; JSON from a database (json.loads) can hold any integer, kept exact as text.
        return value if -(2**63) <= value < 2**64 else orjson.Fragment(str(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return orjson.Fragment(str(value)) if value.is_finite() else None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.isoformat(timespec="milliseconds")
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        return {str(k): json_safe(v) for k, v in value}  # an Arrow map
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)
