"""The first lines of a real run: what will be sent and from where; and the journeys warning, which the run logs
before its first request."""

from __future__ import annotations

import logging

from ..checkpoint import JobState
from ..config import SourceOptions
from ..mapping import Mapping
from ..report import RunReport
from ..sources import Source

log = logging.getLogger(__name__)
JOURNEY_WARNING = (
    "Warning: Spotzee journeys triggered by these event names will see the events as they arrive; "
    "a live journey may message customers about old activity. Pause or exclude such journeys first."
)


def announce_plan(
    job: str, report: RunReport, state: JobState, mapping: Mapping, source: Source, options: SourceOptions
) -> None:
    """The first lines of a real run: what will be sent."""
    total, done, m = report.rows_total, state.rows_done, mapping
    rows = f"{total:,} rows in the source" if total is not None else "the source's rows"
    names = f"named {m.name!r}" if m.name else f"named by column {m.name_column!r}"
    bounds_of = getattr(source, "created_at_bounds", None)
    first = last = None
    if bounds_of is not None:
        try:
            first, last = bounds_of()
        except Exception as exc:  # noqa: BLE001 - the plan is informative; the load reports real errors
            log.debug("no created_at bounds for the plan: %s", exc)
    span = f"created_at from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC" if first and last else ""
    log.info(
        "Plan for job %s: %s, %s already sent in earlier runs (resuming at row %s); events %s%s.",
        job,
        rows,
        f"{done:,}",
        f"{state.prefix_row:,}",
        names,
        f"; {span}" if span else "",
    )
    kept = getattr(source, "rows_in_window", lambda: None)()
    if kept is not None:
        log.info(
            "The window [%s, %s) on created_at keeps at most %s of these rows: row groups wholly outside it "
            "(by their statistics) are skipped unread, other rows outside it are skipped as they are read.",
            options.since or "-",
            options.until or "-",
            f"{kept:,}",
        )
    log.info("Rejects are counted as rows are read: rehearse with --dry-run for events per name and rejects.")
