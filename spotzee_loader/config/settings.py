"""Typed, frozen settings for one load: the API and its pace, retries, the budget, what selects the source's rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .network import NetworkSettings

DEFAULT_BASE_URL = "https://apix.spotzee.com/api/client"
API_VERSION = "2026-04-28"
MAX_EVENTS_PER_REQUEST = 100
# Spotzee allows 8,000 requests per minute per egress IP (reads included), and blocks the IP for 120 s on the first
# request over. 125/s is 7,500 a minute: 500 a minute (8/s) left for the company's live traffic on the same egress.
DEFAULT_RATE_LIMIT = 125.0
PUBLISHED_BLOCK_S = 120.0
"""How long Spotzee blocks an IP that went over the minute rule: the wait after a 429 without Retry-After."""
# 125 requests/s need latency x 125 requests in flight: 12 keeps the pace up to ~95 ms round trips.
DEFAULT_CONCURRENCY = 12


class Secret:
    """A string that never shows itself in ``repr``, ``str``, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value, for the Authorization header only."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class RetrySettings:
    """How hard the client tries before a failure becomes fatal."""

    budget_s: float = 600.0
    """Longest time one chunk may keep failing (outage, throttling) before the run stops with exit 1."""
    backoff_base_s: float = 0.5
    """First wait after a 5xx or network error; doubles on each further failure."""
    backoff_cap_s: float = 60.0
    """Longest single wait, whatever the backoff or Retry-After says."""
    jitter_s: float = 0.5
    """Random 0..jitter seconds added to every wait, so parallel workers do not retry in step."""
    timeout_s: float = 30.0
    """Read timeout of one request; connecting has its own shorter timeout."""
    connect_timeout_s: float = 10.0
    """Connect timeout of one request."""
    confirm_wait_s: float = 60.0
    """How long to wait for Spotzee to show the events of a request that went out but got no answer, before taking
    the missing ones as not recorded and sending them again (events show up in the reads once processed)."""


@dataclass(frozen=True)
class ApiSettings:
    """Where events go and with which key."""

    api_key: Secret
    """The project's secret key (``sk_...``); never logged."""
    base_url: str = DEFAULT_BASE_URL
    """Base of the client API, without the trailing ``/events``."""
    concurrency: int = DEFAULT_CONCURRENCY
    """Requests in flight at once."""
    rate_limit: float = DEFAULT_RATE_LIMIT
    """Requests per second across all workers of this run; 0 means unthrottled."""
    retry: RetrySettings = field(default_factory=RetrySettings)
    """Retry and timeout policy."""
    network: NetworkSettings = field(default_factory=NetworkSettings)
    """Proxies and CA bundle."""


@dataclass(frozen=True)
class BudgetSettings:
    """How sending loads share Spotzee's per-egress-IP request budget (``ApiSettings.rate_limit`` is all of it)."""

    name: str = "default"
    """Loads with the same name share one budget: give each egress IP (or worker queue) its own name."""
    fallback_share: float = 1.0
    """Fraction of the budget taken when the checkpoint store cannot hold leases (Airflow: 1 / pool slots)."""
    renew_s: float = 0.25
    """How often a load renews its lease and recomputes its share (a newcomer waits two of these to start)."""
    ttl_s: float = 10.0
    """A lease not renewed for this long belongs to a load that is gone."""


@dataclass(frozen=True)
class StorageCredentials:
    """S3 credentials given explicitly (an Airflow connection's), instead of the SDK's standard chain."""

    access_key: str | None = None
    secret_key: Secret | None = None
    session_token: Secret | None = None
    region: str | None = None
    endpoint_url: str | None = None
    """An S3-compatible store (MinIO, R2, Ceph): ``http://host:port``."""


FILE_FORMATS = ("parquet", "csv", "jsonl")
"""Formats of file sources (``--format``; otherwise told by the file names)."""


@dataclass(frozen=True)
class SourceOptions:
    """What selects the rows of a database source (ignored by files, refused when set for them)."""

    table: str | None = None
    """Table name, optionally schema-qualified (``analytics.orders``)."""
    sql: str | None = None
    """A query; may use ``:since`` and ``:until``."""
    since: dt.datetime | None = None
    """Start of the half-open ``created_at`` window (inclusive)."""
    until: dt.datetime | None = None
    """End of the window (exclusive)."""
    batch_size: int = 10_000
    """Rows per record batch."""
    page_rows: int = 100_000
    """Rows per keyset page of a database source (one query each)."""
    files: tuple[str, ...] = ()
    """Parquet: exactly these files instead of listing the source (a slice of a migration)."""
    row_groups: tuple[int, int] | None = None
    """Parquet: read only row groups ``[first, end)`` of a single file (a slice of a migration)."""
    file_format: str | None = None
    """Files: ``parquet``, ``csv`` or ``jsonl``; from the file names when ``None``."""
    storage: StorageCredentials | None = None
    """Object storage: explicit credentials (never recorded); the cloud's standard chain when ``None``."""
    retry_budget_s: float = 600.0
    """How long a database source may stay unreachable (reconnecting) before the run stops (``--retry-budget``)."""
    csv: tuple[tuple[str, Any], ...] = ()
    """CSV files: how they are written, the mapping's ``[csv]`` as far as it differs from the defaults (its items;
    ``mapping.CsvDialect``)."""

    def as_record(self) -> dict[str, Any]:
        """JSON-ready, only what was set (kept in the report, read back by ``verify JOB``)."""
        record = {
            "table": self.table,
            "sql": self.sql,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "files": list(self.files) or None,
            "row_groups": list(self.row_groups) if self.row_groups else None,
            "file_format": self.file_format,
            "csv": dict(self.csv) or None,
        }
        return {k: v for k, v in record.items() if v is not None}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SourceOptions:
        return cls(
            table=record.get("table"),
            sql=record.get("sql"),
            since=dt.datetime.fromisoformat(record["since"]) if record.get("since") else None,
            until=dt.datetime.fromisoformat(record["until"]) if record.get("until") else None,
            files=tuple(record.get("files") or ()),
            row_groups=tuple(record["row_groups"]) if record.get("row_groups") else None,
            file_format=record.get("file_format"),
            csv=tuple((record.get("csv") or {}).items()),
        )


@dataclass(frozen=True)
class LoadSettings:
    """Everything one load needs, apart from the mapping (see ``mapping.Mapping``)."""

    source: str
    """Parquet file, directory or glob, or a database URL."""
    api: ApiSettings
    """The Spotzee endpoint, key and pacing."""
    checkpoint: str
    """Checkpoint store location: a SQLite file path."""
    job: str | None = None
    """Checkpoint job name; derived from source, mapping and target when ``None``."""
    restart: bool = False
    """Forget the job's checkpoint and send everything again under fresh idempotency keys."""
    dead_letter: Path | None = None
    """JSON Lines file of rejected rows; next to the checkpoint when ``None``."""
    report: Path | None = None
    """JSON run report, written at the end of every run (also after a fatal stop)."""
    dry_run: bool = False
    """Map and validate everything, send nothing, keep no checkpoint."""
    output: Path | None = None
    """With ``dry_run``: write the events that would be sent as JSON Lines."""
    max_rejected: int = 0
    """Rejected rows tolerated before the exit status says so."""
    chunk_size: int = MAX_EVENTS_PER_REQUEST
    """Events per request (the API maximum is 100)."""
    source_options: SourceOptions = field(default_factory=lambda: SourceOptions())
    """Table or query, and time window, for database sources."""
    target: str | None = None
    """What the checkpoint binds the job to; ``api.base_url`` when ``None``."""
    budget: BudgetSettings = field(default_factory=BudgetSettings)
    """Which API budget this load shares with the others running now."""
    limit: int | None = None
    """Read at most this many rows in this run, then stop with everything checkpointed (a sample first)."""
    stamp: str | None = None
    """A ``data`` property naming the job on every event, so journeys and segments can tell replayed events."""
    allow_overlap: bool = False
    """Send rows another job of the store already sent to the same target (refused otherwise)."""
    no_live_journeys: bool = False
    """Refuse to send while any journey of the project is live (teams that pause everything before a backfill)."""
