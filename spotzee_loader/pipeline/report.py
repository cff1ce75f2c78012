"""The run report: one object for the summary line, ``--report``, the checkpoint and the DAG's XCom."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..api import Delivery


@dataclass
class RunReport:
    """Counts of one run: ``rows_read = events_sent + rejected + rows_skipped + rows_outside_window +
    rows_filtered + rows_unfinished``."""

    job: str
    """The checkpoint job: ``--job``, or a name derived from the source and mapping."""
    source: str
    """The source as given (passwords redacted)."""
    mapping: str
    """The mapping: ``preset:NAME`` or the TOML file's path."""
    checkpoint: str
    """The checkpoint store (a SQLite path or a redacted PostgreSQL URL)."""
    status: str = "running"
    """``finished``, ``nothing_to_do``, ``failed``, ``interrupted`` or ``dry_run``."""
    dry_run: bool = False
    """Mapped and checked every row, sent nothing."""
    rows_total: int | None = None
    """Rows in the source when known before reading (for the progress bar); ``None`` when not."""
    rows_read: int = 0
    """Rows read in this run (positions a skipped row group covers included)."""
    events_sent: int = 0
    """Events Spotzee acknowledged in this run (in a dry run: events that would be sent)."""
    rejected: int = 0
    """Rows of this run rejected into the dead letters."""
    rows_skipped: int = 0
    """Rows re-read but already acknowledged in an earlier run of the job."""
    rows_outside_window: int = 0
    """File rows whose ``created_at`` lies outside ``--since``/``--until`` (row groups wholly outside unread)."""
    rows_filtered: int = 0
    """Rows the mapping's ``only`` leaves out (a Segment archive's identify, page and group calls)."""
    rows_filtered_by_value: Counter[str] = field(default_factory=Counter)
    """``rows_filtered`` by the value that left each out."""
    rows_unfinished: int = 0
    """Rows read but not acknowledged when the run stopped early; the next run sends them."""
    resumed_from_row: int = 0
    """The row this run began at: 0, or where an earlier run of the job stopped."""
    rows_done_earlier: int = 0
    """Rows the job's earlier runs had finished when this one started (the plan's "already sent")."""
    requests: int = 0
    """``POST /events`` requests sent (retries included)."""
    retries: int = 0
    """Requests sent again after a retryable answer or a dropped connection."""
    retries_by_cause: Counter[str] = field(default_factory=Counter)
    """``retries`` by cause: the HTTP status (``429``, ``503``, ...) or the network failure."""
    reads: int = 0
    """GET /events requests made to settle ambiguous requests (they count against the same per-IP limit)."""
    ambiguous_requests: int = 0
    """Requests that went out whole and got no answer (a read timeout, a connection dropped after sending)."""
    ambiguous_confirmed: int = 0
    """Events of those requests that Spotzee showed recorded: checkpointed, not sent again."""
    ambiguous_resent: int = 0
    """Events of those requests not found within ``--confirm-wait`` (or not checkable), sent again."""
    maybe_doubled: list[dict[str, Any]] = field(default_factory=list)
    """Batches resent after an ambiguity that could not be checked: key, events, created_at range, names, why. Each
    of their events may be recorded twice in Spotzee."""
    blocks: int = 0
    """Times the egress IP was found blocked (a 429) during the run, by this load or another of its budget."""
    rejects_by_reason: Counter[str] = field(default_factory=Counter)
    """``rejected`` by reason code (``created_at_missing``, ...)."""
    events_by_name: Counter[str] = field(default_factory=Counter)
    """Events of this run by name."""
    first_created_at: str | None = None
    """The earliest ``created_at`` of this run's events (UTC)."""
    last_created_at: str | None = None
    """The latest ``created_at`` of this run's events (UTC)."""
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    """When the run started (UTC), for the ETA of a running job."""
    duration_s: float = 0.0
    """Seconds the run took."""
    live_journeys: list[str] | None = None
    """The project's live journeys (name, id, tags) when they could be listed; ``None`` when not."""
    journeys_unread: str | None = None
    """Why the live journeys could not be listed (no key in a dry run, a key that may not read them, ...)."""
    files_grown: list[str] = field(default_factory=list)
    """Files read by an earlier run of the job that grew since: their new rows were read in this run."""
    files_added: list[str] = field(default_factory=list)
    """Files of the source that no earlier run of the job read (none on its first run)."""
    source_empty: bool = False
    """The source held no rows at all (a quiet day's export): a finished run with nothing to send."""
    dead_letter: str | None = None
    """The job's dead-letter file, when it holds rows."""
    dead_letter_sha256: str | None = None
    """The digest of the dead letters last written for the job: a file that no longer has it was edited, and is
    never written over (carried from run to run through the stored report)."""
    job_totals: dict[str, int] = field(default_factory=dict)
    """The job's counts over all its runs (``events_sent``, ``rejected``, ...)."""
    error: str | None = None
    """The sentence that stopped the run, when it failed."""
    error_request_id: str | None = None
    """Spotzee's ``request_id`` of the answer that stopped the run, for its support."""
    source_options: dict[str, Any] = field(default_factory=dict)
    """The table, query and window read (what ``verify JOB`` needs to read the source again)."""

    def count_chunk(self, seq: int, delivery: Delivery, rejects: list[dict[str, Any]]) -> None:
        """Add one checkpointed chunk: what Spotzee took, what was refused, and what its requests came to."""
        self.events_sent += delivery.accepted
        self.rejected += len(rejects)
        self.rejects_by_reason.update(rec["reason_code"] for rec in rejects)
        self.count_attempts(delivery)
        self.ambiguous_requests += delivery.ambiguous_requests
        self.ambiguous_confirmed += delivery.confirmed
        self.ambiguous_resent += delivery.resent
        self.maybe_doubled += [{"chunk": seq, **dataclasses.asdict(u)} for u in delivery.unverified]

    def count_attempts(self, delivery: Delivery | None) -> None:
        """Add the requests, retries and reads a chunk took, delivered or not (a chunk that stopped the run
        made them too: its "attempt 3" is a retry in the summary)."""
        if delivery is None:
            return
        self.requests += delivery.requests
        self.retries += sum(delivery.retries.values())
        self.retries_by_cause.update(delivery.retries)
        self.reads += delivery.reads

    def note_unsettled(self, seq: int, start_row: int, end_row: int, events: int) -> None:
        """The run stops with a chunk's outcome unknown: the next run sends it again; say which events."""
        self.maybe_doubled.append(
            {
                "chunk": seq,
                "rows": [start_row, end_row - 1],
                "events": events,
                "why": "the run stopped before Spotzee was asked whether this batch was recorded; the next run "
                "sends it again",
            }
        )

    def note_times(self, first: str | None, last: str | None) -> None:
        if first is not None and (self.first_created_at is None or first < self.first_created_at):
            self.first_created_at = first
        if last is not None and (self.last_created_at is None or last > self.last_created_at):
            self.last_created_at = last

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, counters as plain sorted dicts."""
        out = dict(self.__dict__)
        for name in ("retries_by_cause", "rejects_by_reason", "events_by_name", "rows_filtered_by_value"):
            out[name] = dict(sorted(getattr(self, name).items()))
        out["duration_s"] = round(self.duration_s, 3)
        out["events_per_s"] = round(self.events_sent / self.duration_s, 1) if self.duration_s > 0 else None
        return out
