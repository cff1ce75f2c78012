"""Reconcile a source with what Spotzee reports: events per name and UTC day, side by side.

The source side maps every row exactly as a load would and counts the valid events (rejected rows are
never sent, so they are not expected). The Spotzee side is ``api.spotzee_day_counts``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..api import DayKey
from ..mapping import BatchMapper, Mapping
from ..sources import ResumePoint, Source


def source_day_counts(
    source: Source,
    mapping: Mapping,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    upto: int | None = None,
) -> Counter[DayKey]:
    """Valid events per (name, UTC day of ``created_at``) that the source gives under ``mapping``, streamed
    batch by batch; only events with ``since <= created_at < until`` when a window is given, and of the rows
    before ``upto`` when given (a job stopped at ``--limit``: what it sent so far)."""
    counts: Counter[DayKey] = Counter()
    # The mapper applies the window exactly as a windowed load does: rows outside it are no events.
    mapper = BatchMapper(mapping, dt.datetime.now(dt.UTC), (since, until))
    columns = mapping.read_columns()
    for part in source.batches(ResumePoint(), columns):
        if upto is not None and part.first_row >= upto:
            break
        batch = part.batch if upto is None else part.batch.slice(0, upto - part.first_row)
        built = mapper.build(batch, part.first_row)
        if built.event_times is not None and len(built.event_times):
            times = built.event_times
            names = built.event_names if built.event_names is not None else pa.repeat(mapping.name, len(times))
            days = pc.utf8_slice_codeunits(times, 0, 10)
            grouped = pa.table({"name": names, "day": days}).group_by(["name", "day"]).aggregate([([], "count_all")])
            for name, day, count in zip(
                *(grouped.column(c).to_pylist() for c in ("name", "day", "count_all")), strict=True
            ):
                counts[(name, day)] += count
    return counts


def reconcile(source: Counter[DayKey], spotzee: Counter[DayKey]) -> list[dict[str, Any]]:
    """One row per (day, name) seen on either side, with the difference (Spotzee minus source)."""
    return [
        {"day": day, "event_name": name, "source": source[(name, day)], "spotzee": spotzee[(name, day)],
         "difference": spotzee[(name, day)] - source[(name, day)]}
        for name, day in sorted(set(source) | set(spotzee), key=lambda k: (k[1], k[0]))
    ]  # fmt: skip
