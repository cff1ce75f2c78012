"""spotzee_migration: a manually triggered, sliced migration of history into Spotzee.

    airflow dags test spotzee_migration --conf '{"path": "/data/orders.parquet", "mapping": "/cfg/orders.toml"}'

plan -> load (one mapped task per slice, pool ``spotzee_api``) -> summarize. All logic lives in
``spotzee_loader.orchestrate``; see the README's "Airflow" section for connections and the pool.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

POOL = "spotzee_api"
# A retried load task resumes its slice from the checkpoint; how long to wait first (a deployment knob).
RETRY_DELAY = dt.timedelta(seconds=float(os.environ.get("SPOTZEE_RETRY_DELAY_S", "120")))

PARAMS = {
    "path": Param(
        None,
        type=["null", "string"],
        description="Parquet, CSV or JSON Lines file, folder or glob; s3://conn_id@bucket/prefix/ uses a connection",
    ),
    "conn_id": Param("spotzee_warehouse", type="string", description="warehouse connection (with table or sql)"),
    "table": Param(None, type=["null", "string"], description="table to load, optionally schema-qualified"),
    "sql": Param(None, type=["null", "string"], description="query using :since and :until"),
    "mapping": Param(
        None,
        type=["null", "string"],
        description="TOML mapping path, or a preset: orders, actions, segment (detected if empty)",
    ),
    "since": Param(None, type=["null", "string"], format="date", description="created_at window start (UTC)"),
    "until": Param(None, type=["null", "string"], format="date", description="created_at window end, exclusive"),
    "slice_rows": Param(1_000_000, type="integer", minimum=1, description="Parquet: rows per slice"),
    "slice_days": Param(31, type="integer", minimum=1, description="tables: days of created_at per slice"),
    "dry_run": Param(False, type="boolean", description="map and validate only, send nothing"),
    "restart": Param(False, type="boolean", description="forget the checkpoints and send everything again"),
    "max_rejected": Param(0, type="integer", minimum=0, description="rejected rows tolerated"),
    "job": Param(None, type=["null", "string"], description="migration name (default: derived from the params)"),
}


@dag(
    dag_id="spotzee_migration",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["spotzee", "migration"],
    params=PARAMS,
    # Explicit: Airflow 3.3 serializes mapped tasks with a fixed 300 s when retry_delay is left to [core] config.
    default_args={"retries": 2, "retry_delay": RETRY_DELAY, "retry_exponential_backoff": 2.0},
    doc_md=__doc__,
)
def spotzee_migration() -> None:
    @task
    def plan() -> list[dict[str, Any]]:
        from spotzee_loader.orchestrate import airflow_glue as glue
        from spotzee_loader.orchestrate.plan import plan_migration

        context = get_current_context()
        settings = glue.AirflowSettings.from_env()
        conf = dict(context["dag_run"].conf or {})
        glue.pool_slots(settings)
        return glue.fail_fast(
            lambda: plan_migration(conf, dict(context["params"]), glue.warehouse_url, glue.object_storage)
        )

    @task(
        multiple_outputs=False,
        pool=POOL,
        map_index_template="{{ slice_label }}",
        execution_timeout=dt.timedelta(hours=12),
    )
    def load(part: dict[str, Any]) -> dict[str, Any]:
        from spotzee_loader.orchestrate import airflow_glue as glue
        from spotzee_loader.orchestrate.plan import MigrationParams, Slice
        from spotzee_loader.orchestrate.tasks import run_migration_slice

        context = get_current_context()
        context["slice_label"] = part["label"]  # type: ignore[typeddict-unknown-key]
        settings = glue.AirflowSettings.from_env()
        params = MigrationParams.from_conf(dict(context["params"]))
        env = glue.task_environment(settings, glue.pool_slots(settings))
        path, storage = glue.object_storage(params.path)
        params, env = dataclasses.replace(params, path=path), dataclasses.replace(env, storage=storage)
        if params.table or params.sql:
            env = glue.with_warehouse(env, params.conn_id)
        return glue.fail_fast(lambda: run_migration_slice(env, params, Slice.from_dict(part)))

    @task(multiple_outputs=False)
    def summarize(reports: list[dict[str, Any]]) -> dict[str, Any]:
        from spotzee_loader.orchestrate import airflow_glue as glue
        from spotzee_loader.orchestrate.plan import MigrationParams
        from spotzee_loader.orchestrate.tasks import summarize as reduce_reports

        params = MigrationParams.from_conf(dict(get_current_context()["params"]))
        return glue.fail_fast(lambda: reduce_reports(list(reports), params.max_rejected))

    summarize(load.expand(part=plan()))


spotzee_migration()
