"""No second copy by accident: a job about to send rows that another job of the store already sent to the same
target (a renamed job, an overlapping window) stops before its first request, naming the other job.

Two jobs overlap when they have the same target and the same source (a file's absolute path, a database with its
table or query), and their selections intersect: the files they read, the row groups of those files, and the
``[since, until)`` windows. Slices of one migration (disjoint row groups or windows) and the nights of a nightly
load never overlap; a job resumed, or restarted, is the same job, not another.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from ..checkpoint import CheckpointStore, JobIdentity, open_checkpoint_store
from ..config import SourceOptions
from ..errors import ConfigError, SpotzeeLoaderError

log = logging.getLogger(__name__)


def _windows_meet(a: SourceOptions, b: SourceOptions) -> bool:
    low = max((t for t in (a.since, b.since) if t is not None), default=None)
    high = min((t for t in (a.until, b.until) if t is not None), default=None)
    return low is None or high is None or low < high


def _files_meet(a: SourceOptions, b: SourceOptions) -> bool:
    if a.files and b.files and not set(a.files) & set(b.files):
        return False
    if a.row_groups and b.row_groups:  # [first, end): slices of one file meet end to start
        return a.row_groups[0] < b.row_groups[1] and b.row_groups[0] < a.row_groups[1]
    return True


def overlapping(mine: SourceOptions, theirs: SourceOptions) -> bool:
    """Whether two selections of one source share rows."""
    return mine.sql == theirs.sql and _windows_meet(mine, theirs) and _files_meet(mine, theirs)


def _shown(options: SourceOptions) -> str:
    def when(t: dt.datetime | None) -> str:
        return t.isoformat() if t else "-"

    window = f"[{when(options.since)}, {when(options.until)})" if options.since or options.until else "all rows"
    groups = f", row groups {options.row_groups[0]}-{options.row_groups[1] - 1}" if options.row_groups else ""
    return f"{window}{groups}"


def refuse_overlap(store: CheckpointStore, identity: JobIdentity, options: SourceOptions) -> None:
    """Raise when another job of the store sent rows this one is about to send to the same target."""
    for job in store.jobs():
        if job["job"] == identity.name or job["target"] != identity.target or job["source"] != identity.source:
            continue
        if not job["events_sent"]:
            continue
        report: dict[str, Any] = job["report"] or {}
        theirs = SourceOptions.from_record(report.get("source_options") or {})
        if overlapping(options, theirs):
            raise ConfigError(
                f"job {identity.name!r} would send rows that job {job['job']!r} already sent to {identity.target} "
                f"({job['events_sent']:,} events; same source {identity.source}, its rows {_shown(theirs)}, these "
                f"{_shown(options)}): resume that job with --job {job['job']}, or pass --allow-overlap to send them "
                "again under this one, knowingly (Spotzee keeps both copies)."
            )


def warn_of_overlap(checkpoint: str, identity: JobIdentity, options: SourceOptions) -> None:
    """A dry run's word on what its real run would refuse, from the real store (left alone when it is not there)."""
    if "://" not in checkpoint and not Path(checkpoint).exists():
        return
    try:
        store = open_checkpoint_store(checkpoint, 5.0)
    except SpotzeeLoaderError as exc:
        log.debug("no overlap check for the dry run: %s", exc)
        return
    try:
        refuse_overlap(store, identity, options)
    except ConfigError as exc:
        log.warning("The real run would stop here: %s", exc)
    finally:
        store.close()
