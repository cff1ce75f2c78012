"""The ``spotzee_nightly_backfill`` DAG: every night, load the orders and actions of the run's data interval.

Each interval and source is its own checkpoint job (``nightly-<source>-<start>-<end>``): a retried or cleared task
resumes, a re-run of a finished interval sends nothing (unless ``restart``). Replay history with ``airflow backfill
create --dag-id spotzee_nightly_backfill --from-date ... --to-date ...``. What is loaded comes from the Airflow
Variable ``spotzee_nightly`` (README "Airflow"), by default the reference queries in ``sql/`` with the ``orders``
and ``actions`` presets.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, dag, get_current_context, task

from .assets import events_alias
from .migration_dag import POOL, retry_delay
from .operators import WAREHOUSE_CONN_ID, SpotzeeLoadOperator


def nightly_dag(sql_dir: Path, dag_id: str = "spotzee_nightly_backfill", cron: str = "0 2 * * *") -> DAG:
    """The nightly DAG reading its reference queries from ``sql_dir``."""

    @dag(
        dag_id=dag_id,
        # A data-interval timetable: a bare cron string would give empty intervals in Airflow 3.
        schedule=CronDataIntervalTimetable(cron, timezone="UTC"),
        start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=["spotzee", "nightly"],
        params={
            "conn_id": Param(WAREHOUSE_CONN_ID, type="string", description="warehouse connection"),
            "restart": Param(False, type="boolean", description="send the interval again under new idempotency keys"),
        },
        # The params as values, not text, in the load's templated arguments.
        render_template_as_native_obj=True,
        # Explicit: Airflow 3.3 serializes mapped tasks with a fixed 300 s when retry_delay is left to [core] config.
        default_args={"retries": 3, "retry_delay": retry_delay(), "retry_exponential_backoff": 2.0},
        doc_md=__doc__,
    )
    def nightly() -> None:
        @task
        def plan() -> list[dict[str, Any]]:
            from . import glue

            run = get_current_context()["dag_run"]
            glue.pool_slots(glue.AirflowSettings.from_env())
            return glue.fail_fast(lambda: glue.plan_nightly(sql_dir, run.data_interval_start, run.data_interval_end))

        load = SpotzeeLoadOperator.partial(
            task_id="load",
            warehouse_conn_id="{{ params.conn_id }}",
            restart="{{ params.restart }}",
            pool=POOL,
            map_index_template="{{ task.part['label'] }}",
            execution_timeout=dt.timedelta(hours=6),
        ).expand(part=plan())

        # The event assets are updated here, once per run, one run at a time (update_event_assets says why).
        @task(multiple_outputs=False, outlets=[events_alias()], max_active_tis_per_dag=1)
        def summarize(reports: list[dict[str, Any]]) -> dict[str, Any]:
            from . import glue

            summary = glue.summarize_nightly(sql_dir, list(reports))
            glue.update_assets_of_run(get_current_context(), list(reports))
            return summary

        summarize(load.output)  # type: ignore[arg-type]

    return nightly()
