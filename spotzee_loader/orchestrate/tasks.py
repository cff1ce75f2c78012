"""What the DAGs' tasks do, as plain functions over explicit settings (no Airflow in here)."""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import (
    ApiSettings,
    BudgetSettings,
    LoadSettings,
    SourceOptions,
    StorageCredentials,
    use_compact_memory_pool,
)
from ..errors import SpotzeeLoaderError, TooManyRejectsError
from ..pipeline import Loader, LogProgress, MappingChoice
from .params import MigrationParams
from .plan import Slice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskEnvironment:
    """What a load task gets from the orchestrator: the API (key, URL, its share of the rate), the
    checkpoint store and the warehouse URL. Built from Airflow connections by ``airflow_glue``."""

    api: ApiSettings
    checkpoint: str
    warehouse_url: str | None = None
    dead_letter_dir: Path | None = None
    budget: BudgetSettings = field(default_factory=BudgetSettings)
    storage: StorageCredentials | None = None
    """Object storage credentials from an Airflow connection (``s3://conn_id@bucket/...``)."""


def _window(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def run_slice(
    env: TaskEnvironment,
    part: Slice,
    *,
    source: str | None,
    mapping: MappingChoice,
    table: str | None = None,
    sql: str | None = None,
    dry_run: bool = False,
    restart: bool = False,
    limit: int | None = None,
    stamp: str | None = None,
    no_live_journeys: bool = False,
    allow_overlap: bool = False,
) -> dict[str, Any]:
    """Load one slice as its own checkpoint job; returns the run report (with the slice's label)."""
    use_compact_memory_pool(dict(os.environ))
    options = SourceOptions(
        table=table,
        sql=sql,
        since=_window(part.since),
        until=_window(part.until),
        files=tuple(part.files),
        row_groups=(part.row_groups[0], part.row_groups[1]) if part.row_groups else None,
        storage=env.storage,
        retry_budget_s=env.api.retry.budget_s,
    )
    spec = source or env.warehouse_url
    if spec is None:
        raise SpotzeeLoaderError("no source for this slice: give a Parquet path or a warehouse connection.")
    settings = LoadSettings(
        source=spec,
        api=env.api,
        checkpoint=env.checkpoint,
        job=part.job,
        restart=restart,
        dry_run=dry_run,
        source_options=options,
        max_rejected=0,
        dead_letter=env.dead_letter_dir / f"{part.job}.jsonl" if env.dead_letter_dir else None,
        budget=env.budget,
        limit=limit,
        stamp=stamp,
        no_live_journeys=no_live_journeys,
        allow_overlap=allow_overlap,
    )
    report = Loader(settings, mapping, progress=LogProgress()).run()
    out = report.as_dict()
    out["slice"] = part.label
    return out


def run_migration_slice(env: TaskEnvironment, params: MigrationParams, part: Slice) -> dict[str, Any]:
    return run_slice(
        env,
        part,
        source=params.path,
        mapping=params.mapping_choice(),
        table=params.table,
        sql=params.sql,
        dry_run=params.dry_run,
        restart=params.restart,
        limit=params.limit,
        stamp=params.stamp,
        no_live_journeys=params.no_live_journeys,
        allow_overlap=params.allow_overlap,
    )


def budget_for_tasks(
    api: ApiSettings, total_rate: float, parallel: int, name: str
) -> tuple[ApiSettings, BudgetSettings]:
    """The whole budget (``total_rate``) for every task, shared live through the checkpoint store; where the
    store cannot hold leases, each of ``parallel`` tasks falls back to ``1 / parallel`` of it."""
    budget = BudgetSettings(name=name, fallback_share=1.0 / max(1, parallel))
    return replace(api, rate_limit=max(0.0, total_rate)), budget


_COUNTS = ("rows_read", "events_sent", "rejected", "rows_skipped", "requests", "retries")


def _wall_seconds(reports: list[dict[str, Any]]) -> float:
    """From the first slice's start to the last slice's end (slices run side by side); the longest slice where
    start times are missing."""
    spans = []
    for r in reports:
        if r.get("started_at"):
            start = dt.datetime.fromisoformat(str(r["started_at"])).timestamp()
            spans.append((start, start + float(r.get("duration_s") or 0)))
    if spans:
        return max(end for _, end in spans) - min(start for start, _ in spans)
    return max((float(r.get("duration_s") or 0) for r in reports), default=0.0)


def summarize_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-slice and total figures, and ``text``: the same as a table a person reads in the Airflow UI."""
    totals = {name: sum(int(r.get(name) or 0) for r in reports) for name in _COUNTS}
    rejected_in_jobs = sum(int((r.get("job_totals") or {}).get("rejected", r.get("rejected") or 0)) for r in reports)
    by_reason: dict[str, int] = {}
    for r in reports:
        for reason, count in (r.get("rejects_by_reason") or {}).items():
            by_reason[reason] = by_reason.get(reason, 0) + int(count)
    wall = _wall_seconds(reports)
    per_slice: list[dict[str, Any]] = [
        {
            "slice": r.get("slice"),
            "job": r.get("job"),
            **{n: r.get(n) for n in _COUNTS},
            "duration_s": r.get("duration_s"),
            "dead_letter": r.get("dead_letter"),
        }
        for r in reports
    ]
    dead_letters = [s["dead_letter"] for s in per_slice if s["dead_letter"] and s["rejected"]]
    summary: dict[str, Any] = {
        "slices": len(reports),
        "totals": totals,
        "rejected_in_jobs": rejected_in_jobs,
        "rejects_by_reason": dict(sorted(by_reason.items())),
        "statuses": sorted({str(r.get("status")) for r in reports}),
        "per_slice": per_slice,
        "longest_slice_s": max((float(r.get("duration_s") or 0) for r in reports), default=0.0),
        "duration_s": round(wall, 1),
        "events_per_s": round(totals["events_sent"] / wall, 1) if wall > 0 else None,
        "dead_letters": dead_letters,
    }
    lines = [f"{'slice':40} {'rows':>10} {'sent':>10} {'rejected':>9} {'retries':>8} {'seconds':>8}"]
    for s in per_slice:
        lines.append(
            f"{str(s['slice'])[:40]:40} {s['rows_read'] or 0:>10,} {s['events_sent'] or 0:>10,} "
            f"{s['rejected'] or 0:>9,} {s['retries'] or 0:>8,} {float(s['duration_s'] or 0):>8.1f}"
        )
    lines.append(
        f"{'total':40} {totals['rows_read']:>10,} {totals['events_sent']:>10,} {totals['rejected']:>9,} "
        f"{totals['retries']:>8,} {wall:>8.1f}"
    )
    reasons = ", ".join(f"{k} {v:,}" for k, v in summary["rejects_by_reason"].items()) or "none"
    # One paragraph: the Airflow UI shows an XCom text on one line.
    summary["text"] = (
        f"{totals['events_sent']:,} events sent from {totals['rows_read']:,} rows in {len(reports)} slices, "
        f"{wall:.1f} s ({summary['events_per_s'] or 0:,.0f} events/s). Rejected: {totals['rejected']:,} "
        f"({reasons}). Retries: {totals['retries']:,}. Dead letters: {', '.join(dead_letters) or 'none'}."
    )
    log.info("Spotzee load summary\n%s\n%s", "\n".join(lines), summary["text"])
    return summary


def check_rejects(summary: dict[str, Any], max_rejected: int) -> None:
    """TooManyRejectsError when the jobs rejected more rows than allowed (every valid row was still delivered)."""
    if summary["rejected_in_jobs"] > max_rejected:
        raise TooManyRejectsError(
            f"{summary['rejected_in_jobs']} rows were rejected, more than the {max_rejected} allowed; every valid row "
            f"was delivered. See the dead letters ({', '.join(summary['dead_letters']) or 'none written'}), fix the "
            "rows and resend them."
        )


def summarize(reports: list[dict[str, Any]], max_rejected: int) -> dict[str, Any]:
    """``summarize_reports``, then ``check_rejects``."""
    summary = summarize_reports(reports)
    check_rejects(summary, max_rejected)
    return summary
