"""Reconcile a source with what Spotzee reports: events per name and UTC day, side by side.

The source side maps every row exactly as a load would and counts the valid events (rejected rows are
never sent, so they are not expected). The Spotzee side is ``api.spotzee_day_counts``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..api import DayKey, RateLimiter, spotzee_day_counts
from ..checkpoint import open_checkpoint_store
from ..config import ApiSettings, BudgetSettings, SourceOptions
from ..mapping import BatchMapper, Mapping
from ..pipeline import MappingChoice, share_budget
from ..redaction import redact
from ..sources import ResumePoint, Source, is_database_url, open_source

STORE_PATIENCE_S = 5.0
"""How long the operating commands, which a person waits for at a terminal, try a checkpoint store that is away (a
load waits up to its retry budget)."""


@dataclass(frozen=True)
class VerifyRequest:
    """What to verify: a job of the checkpoint store (its source, mapping and window), or a source."""

    target: str
    checkpoint: str
    choice: MappingChoice | None = None
    """The mapping; default: the job's (or detected from a source's columns)."""
    table: str | None = None
    sql: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    budget: str = BudgetSettings.name
    """The API budget the reads share with the loads sending through this egress IP."""


@dataclass(frozen=True)
class Verification:
    source: str
    api: ApiSettings
    rows: list[dict[str, Any]]
    """One per (day, event name): ``day``, ``event_name``, ``source``, ``spotzee``, ``difference``."""
    days: list[str]
    names: list[str]
    upto: int | None
    """A job stopped at ``--limit``: the rows it had done, which are all that was verified."""

    @property
    def differing(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["difference"]]


def verify_target(request: VerifyRequest, api_for: Callable[[str | None], ApiSettings]) -> Verification:
    """Counts per (day, event) in the source against Spotzee's; ``api_for(target)`` gives the API settings for the
    job's recorded target (``None`` for a source given directly)."""
    spec, options, choice, target = request.target, SourceOptions(table=request.table, sql=request.sql), None, None
    upto: int | None = None
    store = open_checkpoint_store(request.checkpoint, STORE_PATIENCE_S)
    try:
        job = next((j for j in store.jobs() if j["job"] == request.target), None)
    finally:
        store.close()
    if job is not None:
        recorded = (job["report"] or {}).get("source_options") or {}
        options = SourceOptions.from_record(recorded) if recorded else options
        spec = job["source"].split(" ")[0] if "://" in job["source"] else job["source"]
        origin = job["mapping"]
        if job["state"] == "limited":  # a sample so far: the rows it has done, not the whole source
            upto = int(job["rows_done"])
        choice = MappingChoice(preset=origin.split(":", 1)[1]) if origin.startswith("preset:") else None
        choice = choice or MappingChoice(file=Path(origin))
        target = job["target"]
    choice = request.choice or choice
    api = api_for(target)
    if choice is not None:
        options = choice.read_as_written(options)

    source = open_source(spec, options)
    try:
        mapping = (choice or MappingChoice()).resolve(list(source.schema().names))
        source.prepare(mapping)
        # A job's window on files is applied while mapping, as the load did (databases select it in SQL).
        files = not is_database_url(spec)
        since = request.since or (options.since if files else None)
        until = request.until or (options.until if files else None)
        expected = source_day_counts(source, mapping, since, until, upto)
    finally:
        source.close()
    if not expected:
        return Verification(redact(spec), api, [], [], [], upto)
    days = sorted(day for _, day in expected)
    names = sorted({name for name, _ in expected})
    # The days the source spans (or the window asked for), as the contract's half-open date-time range.
    since = since or dt.datetime.fromisoformat(days[0]).replace(tzinfo=dt.UTC)
    until = until or dt.datetime.fromisoformat(days[-1]).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    found = _paced_day_counts(api, request, since, until, names)
    return Verification(redact(spec), api, reconcile(expected, found), days, names, upto)


def _paced_day_counts(
    api: ApiSettings, request: VerifyRequest, since: dt.datetime, until: dt.datetime, names: list[str]
) -> Counter[DayKey]:
    """Spotzee's counts, read at this egress IP's pace: the pages count against the same per-IP limit as the loads
    sending now, so verify takes its live share of their budget (and honours a block one of them met)."""
    limiter = RateLimiter(api.rate_limit)
    checkpoint = request.checkpoint
    budget = share_budget(checkpoint, BudgetSettings(name=request.budget), api.rate_limit, limiter, redact(checkpoint))
    try:
        return spotzee_day_counts(api, since, until, names, limiter=limiter)
    finally:
        if budget is not None:
            budget.close()


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
