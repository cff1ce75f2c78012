"""The first lines of a real run: what will be sent and from where; and the journeys warning, which the run logs
before its first request."""

from __future__ import annotations

import logging

from ..api import RateLimiter, live_journeys
from ..checkpoint import JobState
from ..config import ApiSettings, SourceOptions
from ..errors import ConfigError
from ..mapping import Mapping
from ..sources import Source
from .report import RunReport

log = logging.getLogger(__name__)
JOURNEY_WARNING = (
    "Warning: Spotzee journeys triggered by these event names will see the events as they arrive; "
    "a live journey may message customers about old activity. Pause or exclude such journeys first."
)


def journey_warning(report: RunReport) -> str:
    """The warning before the first event leaves, with the live journeys when they could be listed."""
    if report.live_journeys is None:
        return f"{JOURNEY_WARNING} (The live journeys could not be listed: {report.journeys_unread}.)"
    unsaid = (
        "The API does not say which event enters which journey, nor which trigger campaigns fire on these events: "
        "check each; --stamp marks replayed events so a journey or segment can leave them out."
    )
    if not report.live_journeys:
        return f"No journey of this Spotzee project is live now (GET /journeys). {unsaid}"
    live = "; ".join(report.live_journeys)
    return (
        f"Warning: {len(report.live_journeys)} journey(s) of this Spotzee project are live: {live}. One whose "
        f"entrance is one of these event names will see the replayed events as they arrive and may message "
        f"customers about old activity. {unsaid}"
    )


def read_journeys(report: RunReport, api: ApiSettings, limiter: RateLimiter | None, refuse_live: bool) -> None:
    """Note the live journeys in the report (or why they could not be read); ``refuse_live``: stop if any is."""
    if not api.api_key.reveal():
        report.journeys_unread = "no API key was given"
        return
    found = live_journeys(api, limiter)
    if isinstance(found, str):
        report.journeys_unread = found
        log.debug("journeys not listed: %s", found)
    else:
        report.live_journeys = [journey.shown() for journey in found]
    if refuse_live and report.live_journeys:
        raise ConfigError(
            f"{len(report.live_journeys)} journey(s) are live: {'; '.join(report.live_journeys)}; --no-live-journeys "
            "refuses to send while any is. Pause them in Spotzee (or drop the option), then run the same command."
        )
    if refuse_live and report.live_journeys is None:
        raise ConfigError(
            f"--no-live-journeys cannot tell whether a journey is live: {report.journeys_unread}. Give a key that "
            "may read journeys, or drop the option."
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
