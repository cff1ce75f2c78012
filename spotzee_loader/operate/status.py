"""Where every job of a checkpoint store stands: what ``spotzee-loader status`` prints."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..checkpoint import CheckpointStore


def job_statuses(store: CheckpointStore) -> list[dict[str, Any]]:
    """One JSON-ready record per job, newest activity first.

    ``state`` is the stored one (``finished``, ``failed``, ``interrupted``, ``running``), except that a
    ``running`` job no process holds is ``stale``: its runner died (kill -9, lost worker) and re-running
    the same command resumes it.
    """
    out = []
    for job in store.jobs():
        state = job["state"]
        if state == "running" and not store.is_running(job["job"]):
            state = "stale"
        last_run = job["report"] or {}
        eta = _eta_s(job, last_run) if state == "running" else None
        out.append(
            {
                "job": job["job"],
                "state": state,
                "source": job["source"],
                "mapping": job["mapping"],
                "target": job["target"],
                "rows_done": job["rows_done"],
                "rows_total": last_run.get("rows_total"),
                "eta_s": eta,
                "chunks": job["chunks"],
                "events_sent": job["events_sent"],
                "rejected": job["rejected"],
                "last_error": job["last_error"],
                "last_error_request_id": last_run.get("error_request_id") if job["last_error"] else None,
                "created_at": job["created_at"],
                "last_moved_at": job["updated_at"],
                "checkpoint": store.location,
                "last_run": last_run or None,
            }
        )
    return out


def _eta_s(job: dict[str, Any], run: dict[str, Any]) -> float | None:
    """Seconds left at the pace of the running run so far (rows acknowledged since it started), as the
    progress bar computes it; ``None`` before the first acknowledgement or without a total."""
    total, started = run.get("rows_total"), run.get("started_at")
    if not total or not started:
        return None
    elapsed = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(started)).total_seconds()
    done = int(job["rows_done"]) - int(run.get("resumed_from_row") or 0)
    if done <= 0 or elapsed <= 0:
        return None
    return round(max(0, int(total) - int(job["rows_done"])) / (done / elapsed), 1)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def format_statuses(statuses: list[dict[str, Any]]) -> list[str]:
    """A table for people: one line per job, then its source, mapping and last error."""
    if not statuses:
        return ["No jobs in this checkpoint store yet."]
    head = f"{'JOB':<40} {'STATE':<11} {'ROWS':>12} {'CHUNKS':>8} {'SENT':>12} {'REJECTED':>9}  LAST MOVED (UTC)"
    lines = [head]
    for s in statuses:
        rows = f"{s['rows_done']:,}" + (f"/{s['rows_total']:,}" if s["rows_total"] else "")
        lines.append(
            f"{s['job']:<40} {s['state']:<11} {rows:>12} {s['chunks']:>8,} {s['events_sent']:>12,} "
            f"{s['rejected']:>9,}  {s['last_moved_at']}"
        )
        lines.append(f"    source {s['source']}; mapping {s['mapping']}")
        if s.get("eta_s") is not None:
            lines.append(f"    ETA {_duration(s['eta_s'])} at this run's pace so far")
        if s["last_error"]:
            rid = f" (request {s['last_error_request_id']})" if s["last_error_request_id"] else ""
            lines.append(f"    last error{rid}: {s['last_error']}")
        if s["state"] == "stale":
            lines.append("    its runner is gone: re-run the same command to resume.")
    return lines
