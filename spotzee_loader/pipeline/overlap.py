"""No second copy by accident: a job about to send rows that another job of the store already sent to the same
target (a renamed job, an overlapping window) stops before its first request, naming the other job.

Two jobs overlap when they have the same target and the same source (a file's absolute path, or one database), and
their selections intersect: the files they read, the row groups of those files, the ``[since, until)`` windows and,
on a database, the tables read: a table, or the tables a query reads (parsed by sqlglot), so that a migration over a
table meets the nightly query over the nights it already loaded. Slices of one migration (disjoint row groups or
windows) and the nights of a nightly load never overlap; a job resumed, or restarted, is the same job, not another.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any

from ..checkpoint import CheckpointStore, JobIdentity, open_checkpoint_store
from ..config import SourceOptions
from ..errors import ConfigError, SpotzeeLoaderError
from ..sources import database_of

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


_DIALECTS = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def _place(source: str) -> str:
    """Where the rows live: a file source as described, a database source without its table or query."""
    return database_of(source) or source


def _dialect(place: str) -> str | None:
    scheme = place.split("://", 1)[0].split("+", 1)[0]
    return _DIALECTS.get(scheme, scheme if scheme in ("snowflake", "duckdb", "sqlite") else None)


def tables_read(options: SourceOptions, dialect: str | None = None) -> frozenset[tuple[str, ...]] | None:
    """The tables a database selection reads, each as its lower-cased name parts (``("analytics", "orders")``);
    ``None`` when not a database selection, or a query that names no table or that the parser cannot read."""
    if options.table:
        return _tables(options.table, dialect, table=True)
    return _tables(options.sql, dialect, table=False) if options.sql else None


# Cached: a nightly load leaves a job per night holding the same query, each compared with the new job.
@functools.lru_cache(maxsize=256)
def _tables(text: str, dialect: str | None, table: bool) -> frozenset[tuple[str, ...]] | None:
    import sqlglot
    from sqlglot import exp

    try:
        tree = exp.to_table(text, dialect=dialect) if table else sqlglot.parse_one(text, read=dialect)
    except sqlglot.errors.SqlglotError:
        return None
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    tables = {tuple(p.name.lower() for p in t.parts) for t in tree.find_all(exp.Table) if t.name}
    return frozenset(t for t in tables if not (len(t) == 1 and t[0] in ctes)) or None


def _same_table(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """``orders`` is ``analytics.orders`` (the default schema is not known here); ``a.orders`` is not ``b.orders``."""
    n = min(len(a), len(b))
    return a[-n:] == b[-n:]


def overlapping(mine: SourceOptions, theirs: SourceOptions, dialect: str | None = None) -> bool:
    """Whether two selections of one source share rows."""
    if not (_windows_meet(mine, theirs) and _files_meet(mine, theirs)):
        return False
    if (mine.table, mine.sql) == (theirs.table, theirs.sql):
        return True
    a, b = tables_read(mine, dialect), tables_read(theirs, dialect)
    return a is not None and b is not None and any(_same_table(x, y) for x in a for y in b)


def _shown(options: SourceOptions) -> str:
    def when(t: dt.datetime | None) -> str:
        return t.isoformat() if t else "-"

    what = f"table {options.table} " if options.table else "query " if options.sql else ""
    window = f"[{when(options.since)}, {when(options.until)})" if options.since or options.until else "all rows"
    groups = f", row groups {options.row_groups[0]}-{options.row_groups[1] - 1}" if options.row_groups else ""
    return f"{what}{window}{groups}"


def refuse_overlap(store: CheckpointStore, identity: JobIdentity, options: SourceOptions) -> None:
    """Raise when other jobs of the store sent rows this one is about to send to the same target (naming the one
    that moved last, and how many others)."""
    place = _place(identity.source)
    met: list[tuple[dict[str, Any], SourceOptions]] = []
    for job in store.jobs():
        if job["job"] == identity.name or job["target"] != identity.target or _place(job["source"]) != place:
            continue
        if not job["events_sent"]:
            continue
        report: dict[str, Any] = job["report"] or {}
        theirs = SourceOptions.from_record(report.get("source_options") or {})
        if overlapping(options, theirs, _dialect(place)):
            met.append((job, theirs))
    if not met:
        return
    (job, theirs), others = met[0], len(met) - 1
    more = f" (and {others} other job{'s' if others > 1 else ''}: `spotzee-loader status` lists them)" if others else ""
    raise ConfigError(
        f"job {identity.name!r} would send rows that job {job['job']!r}{more} already sent to {identity.target} "
        f"({job['events_sent']:,} events; same source {place}, its rows {_shown(theirs)}, these "
        f"{_shown(options)}): resume that job with --job {job['job']}, choose rows apart from theirs (a window that "
        "ends where theirs begins), or pass --allow-overlap to send them again under this one, knowingly (Spotzee "
        "keeps both copies)."
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
