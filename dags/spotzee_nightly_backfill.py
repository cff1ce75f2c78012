"""spotzee_nightly_backfill: every night, load the orders and actions of the run's data interval.

Each interval and source is its own checkpoint job (``nightly-<source>-<start>-<end>``): a retried or
cleared task resumes, a re-run of a finished interval sends nothing (unless ``restart``). Replay history
with ``airflow backfill create --dag-id spotzee_nightly_backfill --from-date ... --to-date ...``.
What is loaded comes from the Airflow Variable ``spotzee_nightly`` (README "Airflow"), by default the
reference queries in ``sql/`` with the ``orders`` and ``actions`` presets.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

POOL = "spotzee_api"
# A retried load task resumes its slice from the checkpoint; how long to wait first (a deployment knob).
RETRY_DELAY = dt.timedelta(seconds=float(os.environ.get("SPOTZEE_RETRY_DELAY_S", "120")))
SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@dag(
    dag_id="spotzee_nightly_backfill",
    # A data-interval timetable: a bare cron string would give empty intervals in Airflow 3.
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["spotzee", "nightly"],
    params={
        "conn_id": Param("spotzee_warehouse", type="string", description="warehouse connection"),
        "restart": Param(False, type="boolean", description="send the interval again under new idempotency keys"),
    },
    # Explicit: Airflow 3.3 serializes mapped tasks with a fixed 300 s when retry_delay is left to [core] config.
    default_args={"retries": 3, "retry_delay": RETRY_DELAY, "retry_exponential_backoff": 2.0},
    doc_md=__doc__,
)
def spotzee_nightly_backfill() -> None:
    @task
    def plan() -> list[dict[str, Any]]:
        from spotzee_loader.orchestrate import airflow_glue as glue

        context = get_current_context()
        glue.pool_slots(glue.AirflowSettings.from_env())
        run = context["dag_run"]
        return glue.fail_fast(lambda: glue.plan_nightly(SQL_DIR, run.data_interval_start, run.data_interval_end))

    @task(
        multiple_outputs=False,
        pool=POOL,
        map_index_template="{{ slice_label }}",
        execution_timeout=dt.timedelta(hours=6),
    )
    def load(part: dict[str, Any]) -> dict[str, Any]:
        from spotzee_loader.orchestrate import airflow_glue as glue

        context = get_current_context()
        context["slice_label"] = part["label"]  # type: ignore[typeddict-unknown-key]
        params = context["params"]
        return glue.load_nightly_slice(SQL_DIR, part, str(params["conn_id"]), bool(params["restart"]))

    @task(multiple_outputs=False)
    def summarize(reports: list[dict[str, Any]]) -> dict[str, Any]:
        from spotzee_loader.orchestrate import airflow_glue as glue

        return glue.summarize_nightly(SQL_DIR, list(reports))

    summarize(load.expand(part=plan()))


spotzee_nightly_backfill()
