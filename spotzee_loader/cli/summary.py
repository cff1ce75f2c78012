"""The lines a load ends with: what was read, sent, refused, skipped, and what may be in Spotzee twice."""

from __future__ import annotations

from ..pipeline import RunReport, journey_warning
from ..redaction import redact


def _skipped_rows(r: RunReport, separator: str) -> str:
    """The rows skipped on purpose (window, ``only``), or nothing when there are none."""
    out = f"{separator}outside the window {r.rows_outside_window:,}" if r.rows_outside_window else ""
    if r.rows_filtered:
        values = ", ".join(f"{k} {v:,}" for k, v in sorted(r.rows_filtered_by_value.items()))
        out += f"{separator}left out by the mapping's only {r.rows_filtered:,} ({values})"
    return out


def print_summary(report: RunReport) -> None:
    r = report
    if r.source_empty and r.status in ("finished", "dry_run"):
        print(f"Job {r.job}: finished. The source is empty (0 rows): nothing to send, 0 events.")
        return
    if r.dry_run:
        print(f"Dry run of job {r.job}: nothing sent, no checkpoint written.")
        outside = _skipped_rows(r, "; ")
        print(f"  rows read {r.rows_read:,}; events {r.events_sent:,}; rejected {r.rejected:,}{outside}")
        names = ", ".join(f"{n} {c:,}" for n, c in r.events_by_name.most_common())
        print(f"  events by name: {names or '-'}")
        print(f"  created_at from {r.first_created_at or '-'} to {r.last_created_at or '-'}")
        if r.rejects_by_reason:
            print("  rejects by reason: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.rejects_by_reason.items())))
        if r.dead_letter:
            print(f"  rejected rows written to {r.dead_letter}")
        print(journey_warning(r))
        return
    if r.status == "nothing_to_do":
        print(
            f"Job {r.job} already finished: nothing to send ({r.job_totals.get('events_sent', 0):,} events "
            "sent earlier). Use --restart to send everything again."
        )
        return
    print(
        f"Job {r.job}: {r.status}. rows read {r.rows_read:,} (already sent in earlier runs {r.rows_done_earlier:,}"
        + (f", of which re-read and skipped {r.rows_skipped:,}" if r.rows_skipped else "")
        + _skipped_rows(r, ", ")
        + f"), events sent "
        f"{r.events_sent:,}, rejected {r.rejected:,}, requests {r.requests:,}, retries {r.retries:,}, "
        f"{r.duration_s:.1f}s ({r.as_dict()['events_per_s'] or 0:,.0f} events/s)."
    )
    if r.rejects_by_reason:
        print("  rejects by reason: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.rejects_by_reason.items())))
    if r.dead_letter:
        print(f"  rejected rows: {r.dead_letter}")
    _print_ambiguity(r)
    t = r.job_totals
    print(
        f"  checkpoint: {redact(r.checkpoint)}; the job so far: {t.get('rows_done', 0):,} rows done, "
        f"{t.get('events_sent', 0):,} events sent, {t.get('rejected', 0):,} rejected"
    )
    if r.status == "limited":
        print(
            f"  Stopped at --limit: check the sample with `spotzee-loader verify {r.job}`, then run the same command "
            "without --limit to send the rest (nothing is sent twice)."
        )


def _print_ambiguity(r: RunReport) -> None:
    """What became of the requests whose answers were lost, and every event that may now be in Spotzee twice."""
    if r.blocks:
        print(f"  Spotzee blocked this egress IP {r.blocks:,} time(s) during the run (429); every sender waited it out")
    if not r.ambiguous_requests and not r.maybe_doubled:
        return
    print(
        f"  requests sent without an answer: {r.ambiguous_requests:,}; their events found recorded in Spotzee "
        f"{r.ambiguous_confirmed:,} (not sent again), not found and sent again {r.ambiguous_resent:,} "
        f"({r.reads:,} reads)"
    )
    for entry in r.maybe_doubled:
        span = ""
        if entry.get("first_created_at"):
            span = f", created_at {entry['first_created_at']} to {entry['last_created_at']}"
        names = f", names {', '.join(entry['names'])}" if entry.get("names") else ""
        print(
            f"  MAY BE DOUBLED: chunk {entry['chunk']} ({entry['events']:,} events{span}{names}"
            f"{', key ' + entry['key'] if entry.get('key') else ''}): {entry['why']}"
        )
