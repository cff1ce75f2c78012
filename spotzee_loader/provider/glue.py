"""Airflow connections, pools and errors -> the package's explicit settings, for the operators and DAGs.

Connections (README "Airflow"): ``spotzee_default`` (type Spotzee, ``hooks.py``), the warehouse
(``spotzee_warehouse`` unless a param names another), and optionally ``spotzee_checkpoint``
(PostgreSQL) for a store shared by workers; without it the embedded store lives under ``AIRFLOW_HOME``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from ..config import DEFAULT_RATE_LIMIT, RetrySettings, Secret, StorageCredentials
from ..errors import (
    ApiError,
    ApiUnavailableError,
    CheckpointMismatchError,
    ConfigError,
    SpotzeeLoaderError,
    TooManyRejectsError,
    VerifyDifferenceError,
)
from ..orchestrate.nightly import NightlyConfig, nightly_slices
from ..orchestrate.tasks import TaskEnvironment, budget_for_tasks, check_rejects, summarize_reports
from ..pipeline import RunReport, journey_warning, read_journeys
from ..redaction import install_log_redaction
from ..sources import is_object_storage
from .assets import default_conn_id, update_event_assets
from .hooks import SpotzeeConnection, SpotzeeHook

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class AirflowSettings:
    """Deployment choices, read from ``SPOTZEE_*`` environment variables when a task starts."""

    api_conn_id: str = "spotzee_default"
    checkpoint_conn_id: str = "spotzee_checkpoint"
    pool: str = "spotzee_api"
    pool_slots: int = 4
    """Used to share the rate when the pool's real size cannot be read (no metadata DB access)."""
    total_rate: float = DEFAULT_RATE_LIMIT
    """Requests per second for all loads sharing the budget together (Spotzee allows ~100 per source IP)."""
    budget: str = "default"
    """The API budget's name: one per egress IP (``SPOTZEE_BUDGET``), shared with CLI runs of the same name."""
    retry_budget_s: float = RetrySettings.budget_s
    """How long one batch may keep failing before the task fails (and Airflow retries it, resuming)."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AirflowSettings:
        env = dict(os.environ) if env is None else env
        return cls(
            api_conn_id=env.get("SPOTZEE_API_CONN_ID", cls.api_conn_id),
            checkpoint_conn_id=env.get("SPOTZEE_CHECKPOINT_CONN_ID", cls.checkpoint_conn_id),
            pool=env.get("SPOTZEE_POOL", cls.pool),
            pool_slots=int(env.get("SPOTZEE_POOL_SLOTS", cls.pool_slots)),
            total_rate=float(env.get("SPOTZEE_RATE_LIMIT", cls.total_rate)),
            retry_budget_s=float(env.get("SPOTZEE_RETRY_BUDGET", cls.retry_budget_s)),
            budget=env.get("SPOTZEE_BUDGET", cls.budget),
        )


def _connection(conn_id: str) -> Any:
    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def spotzee_connection(conn_id: str) -> SpotzeeConnection:
    """The Spotzee connection, read once (``SpotzeeHook``)."""
    return SpotzeeHook(conn_id).connection


def warehouse_url(conn_id: str) -> str:
    """A SQLAlchemy-style URL from a warehouse connection (``sqlalchemy_url`` in extra wins)."""
    conn = _connection(conn_id)
    if conn is None:
        raise AirflowFailException(f"Airflow connection {conn_id!r} does not exist; create it for the warehouse.")
    explicit = conn.extra_dejson.get("sqlalchemy_url")
    if explicit:
        return str(explicit)
    if conn.conn_type == "duckdb":
        return f"duckdb:///{conn.host}"
    uri = str(conn.get_uri())
    scheme, _, rest = uri.partition("://")
    return ("postgresql" if scheme in ("postgres", "postgresql") else scheme) + "://" + rest.split("?")[0]


def checkpoint_location(conn_id: str) -> str:
    """The shared PostgreSQL store when its connection exists, else a SQLite file under AIRFLOW_HOME."""
    conn = _connection(conn_id)
    if conn is not None:
        return warehouse_url(conn_id)
    return str(_spotzee_home() / "checkpoints.sqlite")


def _spotzee_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow") / "spotzee"


def pool_slots(settings: AirflowSettings) -> int:
    """The pool's size, after checking it exists: a task in a missing pool would wait forever, silently.

    Reading pools needs the metadata database; where a worker may not touch it, the check is skipped with a
    warning and ``SPOTZEE_POOL_SLOTS`` is trusted.
    """
    try:
        from airflow.models.pool import Pool

        pool = Pool.get_pool(settings.pool)
    except Exception as exc:  # noqa: BLE001 - no metadata DB access from this worker: cannot check
        log.warning(
            "could not read pool %r (%s); assuming it exists with %d slots",
            settings.pool,
            type(exc).__name__,
            settings.pool_slots,
        )
        return settings.pool_slots
    if pool is None:
        raise AirflowFailException(
            f"Airflow pool {settings.pool!r} does not exist, so the load tasks would wait forever: create it with "
            f'`airflow pools set {settings.pool} {settings.pool_slots} "Spotzee API requests"`.'
        )
    return int(pool.slots)


def task_environment(
    settings: AirflowSettings, parallel: int, spotzee: SpotzeeConnection | None = None
) -> TaskEnvironment:
    """What one load task needs: the API with its share of the rate, and the checkpoint store. The Spotzee
    connection's budget name and rate, when it sets them, win over the deployment's ``SPOTZEE_*`` variables."""
    # Airflow masks the passwords of the connections it hands out, not one inside a URL in an extra
    # (sqlalchemy_url), a proxy variable or a driver's error text: the loader's own redaction covers those.
    install_log_redaction()
    spotzee = spotzee or spotzee_connection(settings.api_conn_id)
    rate = spotzee.rate_limit if spotzee.rate_limit is not None else settings.total_rate
    api, budget = budget_for_tasks(spotzee.api, rate, parallel, spotzee.budget or settings.budget)
    api = dataclasses.replace(api, retry=dataclasses.replace(api.retry, budget_s=settings.retry_budget_s))
    checkpoint = checkpoint_location(settings.checkpoint_conn_id)
    # Beside the embedded store; with a shared one, under AIRFLOW_HOME: never the worker's working directory.
    dead = (Path(checkpoint).parent if "://" not in checkpoint else _spotzee_home()) / "dead-letter"
    return TaskEnvironment(api=api, checkpoint=checkpoint, dead_letter_dir=dead, budget=budget)


# Errors a retry cannot fix: fail the task at once instead of burning its retries.
_NO_RETRY = (ConfigError, CheckpointMismatchError, TooManyRejectsError)


def announce_live_journeys(settings: AirflowSettings, refuse: bool, ti: Any = None) -> list[str] | None:
    """The plan task's word on the project's live journeys (logged, and its XCom ``live_journeys``); ``refuse``
    (the ``no_live_journeys`` param): fail the plan while any is live. ``None`` when they could not be listed."""
    report = RunReport(job="plan", source="-", mapping="-", dry_run=True, checkpoint="-")
    read_journeys(report, spotzee_connection(settings.api_conn_id).api, None, refuse)
    log.warning("%s", journey_warning(report))
    if ti is not None and report.live_journeys is not None:
        ti.xcom_push(key="live_journeys", value="; ".join(report.live_journeys) or "none")
    return report.live_journeys


def fail_fast(action: Callable[[], T], ti: Any = None) -> T:
    """Run ``action``; turn the loader's final errors into AirflowFailException (no retries), keep the rest
    (an outage past the retry budget, a kill) retryable: the checkpoint makes the retry resume. With the task
    instance ``ti``, an error is also kept as its XComs ``outcome`` (the sentence) and ``request_id`` (Spotzee's,
    when it answered), which the Airflow UI shows without opening a log."""
    try:
        return action()
    except SpotzeeLoaderError as exc:
        if ti is not None:  # text: the UI shows a text XCom in its table, a JSON one folded
            ti.xcom_push(key="outcome", value=str(exc))
            request_id = getattr(exc, "request_id", None)
            if request_id:
                ti.xcom_push(key="request_id", value=request_id)
        _classify(exc)
        raise


def _classify(exc: SpotzeeLoaderError) -> None:
    """Raise AirflowFailException for errors a retry cannot fix; return for the retryable ones."""
    if isinstance(exc, ApiUnavailableError):
        return  # an outage past the retry budget: Airflow's retry resumes from the checkpoint
    if isinstance(exc, VerifyDifferenceError) and not exc.settling:
        raise AirflowFailException(str(exc)) from None  # a surplus does not settle
    if isinstance(exc, (ApiError, *_NO_RETRY)):  # bad key, quota, permission, mismatch, config, rejects
        raise AirflowFailException(str(exc)) from None


def summarize_migration(reports: list[dict[str, Any]], max_rejected: int, ti: Any) -> dict[str, Any]:
    """The migration's figures as the summarize task's XCom: ``summary`` (a table to read) and the return value
    (JSON), pushed before the rejects check so a run failed by it still shows them."""
    summary = summarize_reports(reports)
    ti.xcom_push(key="summary", value=summary["text"])
    fail_fast(lambda: check_rejects(summary, max_rejected), ti)
    return summary


def update_assets_of_run(context: Any, reports: list[dict[str, Any]]) -> None:
    """The event assets of a plan's run, from its slices' reports (``operators.update_event_assets``)."""
    conn_id = default_conn_id()
    update_event_assets(context, spotzee_connection(conn_id).project, reports, conn_id)


def with_warehouse(env: TaskEnvironment, conn_id: str) -> TaskEnvironment:
    return dataclasses.replace(env, warehouse_url=warehouse_url(conn_id))


def object_storage(path: str | None) -> tuple[str | None, StorageCredentials | None]:
    """Airflow's ``ObjectStoragePath`` idiom: ``s3://aws_default@bucket/prefix/`` reads the bucket with the
    credentials of connection ``aws_default`` (login = access key id, password = secret access key; extra:
    ``region_name``, ``endpoint_url``, ``aws_session_token``). Returns the URL without the connection id and
    the credentials; a path without one reads the worker's standard chain."""
    if not path or "://" not in path:
        return path, None
    scheme, _, rest = path.partition("://")
    netloc, slash, key = rest.partition("/")
    if not is_object_storage(path) or "@" not in netloc:
        return path, None
    conn_id, _, bucket = netloc.rpartition("@")
    conn = _connection(conn_id)
    if conn is None:
        raise AirflowFailException(
            f"Airflow connection {conn_id!r} (named in path {scheme}://{conn_id}@{bucket}/...) does not exist: "
            "create it with conn type aws, login = access key id, password = secret access key."
        )
    extra = conn.extra_dejson
    endpoint = extra.get("endpoint_url") or extra.get("service_config", {}).get("s3", {}).get("endpoint_url")
    secret = conn.password or extra.get("aws_secret_access_key")
    token = extra.get("aws_session_token")
    credentials = StorageCredentials(
        access_key=conn.login or extra.get("aws_access_key_id"),
        secret_key=Secret(secret) if secret else None,
        session_token=Secret(token) if token else None,
        region=extra.get("region_name"),
        endpoint_url=endpoint,
    )
    return f"{scheme}://{bucket}{slash}{key}", credentials


def nightly_config(sql_dir: Path) -> NightlyConfig:
    """From the Airflow Variable ``spotzee_nightly`` (JSON) when set, else the reference queries."""
    from airflow.sdk import Variable

    raw = Variable.get("spotzee_nightly", default=None)
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise AirflowFailException(f"Airflow Variable spotzee_nightly is not valid JSON ({exc}).") from None
    return fail_fast(lambda: NightlyConfig.from_dict(parsed, sql_dir))


def plan_nightly(sql_dir: Path, start: dt.datetime | None, end: dt.datetime | None) -> list[dict[str, Any]]:
    """One slice per nightly source, each carrying what ``SpotzeeLoadOperator`` reads (table or query, mapping)."""
    config = nightly_config(sql_dir)
    parts = []
    for piece in fail_fast(lambda: nightly_slices(config, start, end)):
        source = config.source(str(piece.source))
        options = {"table": source.table, "sql": fail_fast(source.sql), "mapping": source.mapping}
        parts.append({**piece.as_dict(), "options": options})
    return parts


def summarize_nightly(sql_dir: Path, reports: list[dict[str, Any]]) -> dict[str, Any]:
    config = nightly_config(sql_dir)
    summary = summarize_reports(reports)
    fail_fast(lambda: check_rejects(summary, config.max_rejected))
    return summary
