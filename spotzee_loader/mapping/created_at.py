"""``created_at`` of a batch, checked: the time each row's event really happened, in UTC, as the ISO 8601 text
Spotzee takes; a row whose time is missing, unparseable or out of the accepted range is rejected with the reason.
And the window (``--since``/``--until``) applied to it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import convert, iso_text
from .outcome import EARLIEST
from .spec import Mapping
from .time_forms import form_timestamps


def mask_rows(mask: pa.Array) -> list[int]:
    """The positions where ``mask`` is true (null is false)."""
    return pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()  # type: ignore[no-any-return]


def outside_window(created: pa.Array, window: tuple[str | None, ...]) -> pa.Array | None:
    """Rows with a valid ``created_at`` before ``since`` or at/after ``until`` (ISO text, as ``created_at`` is
    written); ``None`` without a window."""
    since, until = window
    if since is None and until is None:
        return None
    times = created.cast(pa.string())  # a column of nulls only may come typed null
    before = pc.less(times, since) if since is not None else None
    after = pc.greater_equal(times, until) if until is not None else None
    out = after if before is None else before if after is None else pc.or_(before, after)
    return pc.fill_null(out, False)


def created_at_strings(batch: pa.RecordBatch, m: Mapping, latest_accepted: dt.datetime, flag: Any) -> pa.Array:
    """The batch's ``created_at`` as ISO 8601 text in UTC; ``flag`` rejects each row whose time is missing,
    unparseable, out of range, too old, or later than ``latest_accepted`` (and null there)."""
    raw = convert.plain(batch.column(m.created_at))
    form = m.created_at_form
    if form:
        time_of_day = convert.plain(batch.column(form.time_column)) if form.time_column else None
        utc, unparseable = form_timestamps(raw, time_of_day, m.timezone, form)
        unfit = form.unfit(m.created_at)
    else:
        utc, unparseable = convert.utc_timestamps(raw, m.timezone)
        unfit = f"column {m.created_at!r} is not an ISO 8601 timestamp or date"
    future = f"column {m.created_at!r} is more than a day in the future (after {latest_accepted:%Y-%m-%dT%H:%M:%SZ})"
    too_old = f"column {m.created_at!r} is before {EARLIEST:%Y-%m-%d}, the earliest time accepted"
    flag(unparseable, "created_at_unparseable", "created_at", unfit)

    def out_of_bounds(times: pa.Array, earliest: Any, latest: Any) -> None:
        flag(mask_rows(pc.greater(times, pa.scalar(latest, times.type))), "created_at_future", "created_at", future)
        flag(mask_rows(pc.less(times, pa.scalar(earliest, times.type))), "created_at_too_old", "created_at", too_old)

    if not form and (pa.types.is_timestamp(raw.type) or pa.types.is_date(raw.type)):
        # Times past the convertible range are still times: say which bound they break first.
        aware = pa.types.is_timestamp(raw.type) and raw.type.tz is not None
        latest: Any = latest_accepted if aware else latest_accepted.replace(tzinfo=None)
        earliest: Any = EARLIEST if aware else EARLIEST.replace(tzinfo=None)
        if pa.types.is_date(raw.type):  # a date is the whole day: compare days, in the date's own type
            latest, earliest = latest.date(), earliest.date()
        out_of_bounds(raw, earliest, latest)
    if not form and not convert.is_texty(raw.type):
        flag(
            mask_rows(pc.and_(pc.is_valid(raw), pc.is_null(utc))),
            "created_at_out_of_range",
            "created_at",
            f"column {m.created_at!r} is outside years 1..9999",
        )
    # Whatever else left no time (null, empty string): an event without created_at would be stamped "now".
    flag(mask_rows(pc.is_null(utc)), "created_at_missing", "created_at", f"column {m.created_at!r} is empty")
    out_of_bounds(utc, EARLIEST, latest_accepted)  # utc is iso_text.UTC_MS
    return iso_text.iso_strings(utc)
