"""A migration's slices: what each mapped load task handles (its parameters, validated: ``params``).

A slice is a small JSON-able dict (XCom carries metadata, never rows or secrets): Parquet files or a
row-group range of one file, or a ``created_at`` window of a table or query. Its checkpoint job name
derives from the parameters and the slice's bounds, never from the run id, so re-triggering the same
migration resumes it and a finished slice sends nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..config import RetrySettings, SourceOptions, StorageCredentials
from ..errors import ConfigError
from ..sources import list_parquet_files, parquet_metadata, source_files
from .params import MigrationParams

MAX_SLICES = 1000  # Airflow's max_map_length is 1024: stay well under it


@dataclass(frozen=True)
class Slice:
    """One mapped load task's share of the work."""

    label: str
    job: str
    files: list[str] = field(default_factory=list)
    row_groups: list[int] | None = None
    since: str | None = None
    until: str | None = None
    rows: int | None = None
    source: str | None = None
    """The nightly source this slice belongs to."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Slice:
        return cls(**raw)


def _job(base: str, bounds: Any) -> str:
    return f"{base}-{hashlib.sha256(orjson.dumps(bounds)).hexdigest()[:10]}"


def file_slices(
    params: MigrationParams,
    credentials: StorageCredentials | None = None,
    max_slices: int = MAX_SLICES,
    retry_budget_s: float = RetrySettings.budget_s,
) -> list[Slice]:
    """Parquet: see ``parquet_slices``. CSV and JSON Lines have no row groups to cut at: one slice per file."""
    assert params.path is not None
    options = SourceOptions(storage=credentials, retry_budget_s=retry_budget_s)
    file_format, files = source_files(params.path, options)
    if file_format == "parquet":
        return parquet_slices(params, credentials, max_slices, retry_budget_s)
    base = params.base_job()
    since = params.since.isoformat() if params.since else None
    until = params.until.isoformat() if params.until else None
    slices = [
        Slice(f.url.rsplit("/", 1)[-1], _job(base, [f.url.rsplit("/", 1)[-1]]), [f.url], since=since, until=until)
        for f in files
    ]
    _check_count(slices, max_slices, "merge the files, or point path at fewer of them")
    return slices


def parquet_slices(
    params: MigrationParams,
    credentials: StorageCredentials | None = None,
    max_slices: int = MAX_SLICES,
    retry_budget_s: float = RetrySettings.budget_s,
) -> list[Slice]:
    """Whole small files packed together, big files cut into row-group ranges of ``slice_rows``."""
    assert params.path is not None
    base = params.base_job()
    # The window (the cutover) applies to every file slice; row groups wholly outside it are skipped unread.
    since = params.since.isoformat() if params.since else None
    until = params.until.isoformat() if params.until else None
    slices: list[Slice] = []
    pack: list[tuple[str, int]] = []

    def flush() -> None:
        if pack:
            files = [p for p, _ in pack]
            label = Path(files[0]).name + (f" +{len(files) - 1} files" if len(files) > 1 else "")
            # Named by its first file: a retrigger after new files joined the pack is the same job, which sends
            # only the new files (files may be added, sorting last; sources.stock).
            job = _job(base, [Path(files[0]).name])
            slices.append(Slice(label, job, files, rows=sum(n for _, n in pack), since=since, until=until))
            pack.clear()

    for stored in list_parquet_files(params.path, credentials, retry_budget_s):
        meta, name = parquet_metadata(stored), stored.url.rsplit("/", 1)[-1]
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        if meta.num_rows <= params.slice_rows:
            if pack and sum(n for _, n in pack) + meta.num_rows > params.slice_rows:
                flush()
            pack.append((stored.url, meta.num_rows))
            continue
        flush()
        first, rows = 0, 0
        for i, n in enumerate(groups):
            rows += n
            if rows >= params.slice_rows or i == len(groups) - 1:
                bounds = [name, first, i + 1]
                slices.append(
                    Slice(
                        f"{name} row groups {first}-{i}",
                        _job(base, bounds),
                        [stored.url],
                        [first, i + 1],
                        rows=rows,
                        since=since,
                        until=until,
                    )
                )
                first, rows = i + 1, 0
    flush()
    _check_count(slices, max_slices, "raise slice_rows")
    return slices


def window_slices(
    params: MigrationParams, since: dt.datetime, until: dt.datetime, max_slices: int = MAX_SLICES
) -> list[Slice]:
    """``[since, until)`` cut into windows of ``slice_days``."""
    base = params.base_job()
    step = dt.timedelta(days=params.slice_days)
    if (until - since) / step > max_slices:
        raise ConfigError(
            f"the window {since:%Y-%m-%d}..{until:%Y-%m-%d} makes more than {max_slices} slices of "
            f"{params.slice_days} days; raise slice_days."
        )
    slices = []
    start = since
    while start < until:
        end = min(start + step, until)
        bounds = [start.isoformat(), end.isoformat()]
        slices.append(
            Slice(f"{start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M}", _job(base, bounds), since=bounds[0], until=bounds[1])
        )
        start = end
    return slices


def _check_count(slices: list[Slice], max_slices: int, advice: str) -> None:
    if len(slices) > max_slices:
        raise ConfigError(f"the plan has {len(slices)} slices, over the {max_slices} Airflow can map; {advice}.")
    if not slices:
        raise ConfigError("the plan has no slices: the source holds no rows.")


def plan_migration(
    conf: dict[str, Any],
    params: dict[str, Any],
    warehouse_url: Any,
    object_storage: Any = None,
    retry_budget_s: float = RetrySettings.budget_s,
) -> list[dict[str, Any]]:
    """The slices of a triggered migration, as XCom-ready dicts.

    ``conf`` is what the user passed (unknown keys are refused: Airflow accepts them silently), ``params``
    the resolved params, ``warehouse_url`` a callable from a connection id to a database URL,
    ``object_storage`` one from ``path`` to ``(path without a connection id, its credentials)``;
    ``retry_budget_s`` bounds the wait for a database that is away, as in the loads.
    """
    unknown = sorted(set(conf) - set(params))
    if unknown:
        raise ConfigError(f"unknown param(s) {', '.join(unknown)}; the migration takes {', '.join(sorted(params))}.")
    p = MigrationParams.from_conf(params)
    if p.path:
        path, credentials = object_storage(p.path) if object_storage else (p.path, None)
        located = dataclasses.replace(p, path=path)
        return [s.as_dict() for s in file_slices(located, credentials, retry_budget_s=retry_budget_s)]
    since, until = p.since, p.until
    if since is None or until is None:
        low, high = table_bounds(warehouse_url(p.conn_id), p, retry_budget_s)
        if low is None or high is None:
            raise ConfigError(f"table {p.table} has no rows with a created_at: nothing to migrate.")
        since = since or low
        until = until or high + dt.timedelta(microseconds=1)
    return [s.as_dict() for s in window_slices(p, since, until)]


def table_bounds(
    url: str, params: MigrationParams, retry_budget_s: float = RetrySettings.budget_s
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The first and last ``created_at`` of a table, in UTC (to slice a migration without a window)."""
    from ..sources import open_warehouse

    source = open_warehouse(url, SourceOptions(table=params.table, retry_budget_s=retry_budget_s))
    try:
        mapping = params.mapping_choice().resolve(list(source.schema().names))
        source.prepare(mapping)
        return source.created_at_bounds()
    finally:
        source.close()
