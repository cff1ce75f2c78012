"""``created_at`` in the forms exports hold it besides ISO 8601: a ``strftime`` format, epoch numbers with their unit,
Excel serial days, and a date column with a time column beside it; with a trailing ``UTC``, ``GMT`` or IANA zone name
on any text form. Vectorised with Arrow: a million rows are parsed without a Python loop.

The mapping says which form (``created_at_format``, ``created_at_unit``, ``created_at_time``); a value that does not
fit rejects its own row, naming the form it was held to.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MappingError
from .convert import ZONE_NAME, utc_timestamps

UTC_MS = pa.timestamp("ms", tz="UTC")
UNITS = {"s": 1_000.0, "ms": 1.0, "us": 0.001, "ns": 0.000_001, "excel": 86_400_000.0}
"""Milliseconds per unit; ``excel``: days since 1899-12-30 (Excel's serial dates, wall time, no zone)."""
_UNIT_WORDS = {
    "s": "seconds since 1970-01-01 UTC",
    "ms": "milliseconds since 1970-01-01 UTC",
    "us": "microseconds since 1970-01-01 UTC",
    "ns": "nanoseconds since 1970-01-01 UTC",
    "excel": "an Excel serial date (days since 1899-12-30)",
}
_EXCEL_EPOCH_DAYS = 25_569  # 1970-01-01 as an Excel serial date
_MS_RANGE = (-62_135_596_800_000, 253_402_300_799_999)  # years 1..9999
_NUMBER = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"


@dataclass(frozen=True)
class TimeForm:
    """How ``created_at`` is written when it is not a timestamp, a date or ISO 8601 text."""

    format: str | None = None
    """``created_at_format``: a ``strftime`` format (``%Y/%m/%d %H:%M:%S``; ``%z`` for an offset)."""
    unit: str | None = None
    """``created_at_unit``: epoch numbers in ``s``, ``ms``, ``us`` or ``ns``, or ``excel`` serial days."""
    time_column: str | None = None
    """``created_at_time``: a column holding the time of day for the date in ``created_at``."""

    @classmethod
    def from_dict(cls, raw: dict[str, Any], origin: str) -> TimeForm:
        def text(key: str) -> str | None:
            value = raw.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise MappingError(f"{origin}: '{key}' must be a non-empty string, got {value!r}.")
            return value

        form = cls(text("created_at_format"), text("created_at_unit"), text("created_at_time"))
        if form.unit is not None and form.unit not in UNITS:
            raise MappingError(f"{origin}: created_at_unit {form.unit!r} is not one of {', '.join(UNITS)}.")
        if form.unit is not None and (form.format or form.time_column):
            raise MappingError(f"{origin}: created_at_unit is for numbers; it goes with no format or time column.")
        if form.format is not None and "%" not in form.format:
            raise MappingError(f"{origin}: created_at_format {form.format!r} has no %-directive (say '%Y/%m/%d').")
        return form

    def __bool__(self) -> bool:
        return bool(self.format or self.unit or self.time_column)

    def as_dict(self) -> dict[str, str]:
        out = {"created_at_format": self.format, "created_at_unit": self.unit, "created_at_time": self.time_column}
        return {k: v for k, v in out.items() if v is not None}

    def unfit(self, column: str) -> str:
        """The reject message of a value that does not fit."""
        if self.unit is not None:
            return (
                f"column {column!r} is not a number of {_UNIT_WORDS[self.unit]} within years 1..9999 (created_at_unit)"
            )
        what = f"created_at_format {self.format!r}" if self.format else "ISO 8601"
        if self.time_column is not None:
            return f"columns {column!r} and {self.time_column!r}, joined by a space, do not fit {what}"
        return f"column {column!r} does not fit {what}"

    def accepts(self, type_: pa.DataType) -> bool:
        """Whether a ``created_at`` column of this type can be read in this form."""
        texty = pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_null(type_)
        if self.unit is not None:
            numeric = pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)
            return bool(texty or numeric)
        return bool(texty or pa.types.is_date(type_) or (self.time_column is not None and pa.types.is_timestamp(type_)))


def form_timestamps(
    arr: pa.Array, time_of_day: pa.Array | None, timezone: str, form: TimeForm
) -> tuple[pa.Array, list[int]]:
    """``created_at`` in ``form`` -> ``timestamp[ms, UTC]``, and the rows whose value does not fit (null there)."""
    if form.unit is not None:
        utc = _from_numbers(arr, form.unit, timezone)
    else:
        text = _as_text(arr)
        if time_of_day is not None:
            text = pc.binary_join_element_wise(text, _as_text(time_of_day), " ")
        utc = _from_text(text, form.format, timezone)
    bad = pc.and_(pc.is_valid(arr), pc.is_null(utc))
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        bad = pc.and_(bad, pc.not_equal(pc.utf8_trim_whitespace(arr), ""))  # empty text is a missing time
    return utc, pc.indices_nonzero(pc.fill_null(bad, False)).to_pylist()


def _as_text(arr: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(arr.type):  # a date held as a timestamp: its date part
        arr = arr.cast(pa.date32())
    return arr.cast(pa.string())


def _from_numbers(arr: pa.Array, unit: str, timezone: str) -> pa.Array:
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type):
        numeric = pc.match_substring_regex(arr, _NUMBER)
        arr = pc.if_else(numeric, pc.utf8_trim_whitespace(arr), pa.scalar(None, pa.string())).cast(pa.float64())
    if pa.types.is_integer(arr.type) and unit != "excel":  # exact: no detour through floats
        ints = arr.cast(pa.int64())
        if unit != "ns":  # every int64 of nanoseconds lies in years 1677..2262
            scale = {"s": 0.001, "ms": 1, "us": 1_000}[unit]
            low, high = int(_MS_RANGE[0] * scale), int(_MS_RANGE[1] * scale)
            inside = pc.and_(pc.greater_equal(ints, low), pc.less_equal(ints, high))
            ints = pc.if_else(inside, ints, pa.scalar(None, pa.int64()))
        return ints.cast(pa.timestamp(unit)).cast(pa.timestamp("ms"), safe=False).cast(UTC_MS)
    values = arr.cast(pa.float64())
    if unit == "excel":
        values = pc.subtract(values, _EXCEL_EPOCH_DAYS)
    ms = pc.round(pc.multiply(values, UNITS[unit]))
    inside = pc.and_(pc.greater_equal(ms, _MS_RANGE[0]), pc.less_equal(ms, _MS_RANGE[1]))
    ms = pc.if_else(inside, ms, pa.scalar(None, pa.float64())).cast(pa.int64())
    if unit == "excel":  # wall time where the export was made
        naive = ms.cast(pa.timestamp("ms"))
        return pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="latest").cast(UTC_MS)
    return ms.cast(UTC_MS)


def _from_text(text: pa.Array, time_format: str | None, timezone: str) -> pa.Array:
    """Text in ``time_format`` (ISO 8601 when ``None``), with an optional trailing zone name."""
    if time_format is None:
        return utc_timestamps(text, timezone)[0]  # ISO 8601 as every source's text is read, zone names included
    parts = pc.extract_regex(text, ZONE_NAME.pattern)
    has_zone = pc.is_valid(parts)
    values = pc.if_else(has_zone, pc.struct_field(parts, "value"), text)
    parsed = pc.strptime(values, format=time_format, unit="ms", error_is_null=True)
    if parsed.type.tz is not None:  # %z: every value carries its offset
        return parsed.cast(UTC_MS)
    zones = pc.utf8_trim_whitespace(pc.struct_field(parts, "zone"))
    result = pa.nulls(len(text), UTC_MS)
    for zone in [None, *pc.unique(zones.drop_null()).to_pylist()]:
        rows = pc.invert(has_zone) if zone is None else pc.fill_null(pc.equal(zones, zone), False)
        where = timezone if zone is None else "UTC" if zone in ("UTC", "GMT") else zone
        try:
            zoneinfo.ZoneInfo(where)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue  # not a zone: those rows stay null, rejected as not fitting
        part = pc.assume_timezone(parsed, where, ambiguous="earliest", nonexistent="latest").cast(UTC_MS)
        result = pc.if_else(rows, part, result)
    return result
