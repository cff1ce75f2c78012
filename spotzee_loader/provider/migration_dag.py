"""The ``spotzee_migration`` DAG, and more like it: a manually triggered (or asset-scheduled), sliced migration.

plan -> load (``SpotzeeLoadOperator``, one mapped task per slice, pool ``spotzee_api``) -> summarize.

    migration_dag()                                   # the shipped DAG: a trigger form, nothing scheduled
    migration_dag("orders_when_landed", schedule=[Asset("postgres://wh:5432/analytics/public/orders")],
                  table="public.orders", mapping="orders")   # runs when the upstream table's asset is updated

Keyword arguments beyond ``dag_id`` and ``schedule`` are the form's defaults (the params below), which a run started
by an asset event uses as they are.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from airflow.sdk import DAG, Param, dag, get_current_context, task

from .assets import events_alias
from .operators import SpotzeeLoadOperator

POOL = "spotzee_api"


def retry_delay() -> dt.timedelta:
    """How long a retried load task waits before it resumes its slice from the checkpoint (a deployment knob)."""
    return dt.timedelta(seconds=float(os.environ.get("SPOTZEE_RETRY_DELAY_S", "120")))


FILES = "Source: files"
WAREHOUSE = "Source: a warehouse table or query"
MAPPING = "Mapping: how rows become events"
WINDOW = "Time window (the cutover)"
RUN = "Run options"

# The trigger form, grouped in sections (Airflow renders titles, sections, suggestions and multi-line boxes; see
# its example_params_ui_tutorial). Nothing is required by the form: a files run needs none of the warehouse fields,
# and the plan task checks the combination, failing with one sentence when it does not hold.
PARAMS = {
    "path": Param(
        None,
        type=["null", "string"],
        title="Files",
        description="A Parquet, CSV or JSON Lines file, folder or glob on the workers, or in object storage: "
        "s3://bucket/prefix/, gs://..., az://...; s3://CONN_ID@bucket/prefix/ reads with that Airflow connection. "
        "Leave empty to read a warehouse table or query instead.",
        section=FILES,
    ),
    "table": Param(
        None,
        type=["null", "string"],
        title="Table",
        description="A table of the warehouse connection below, optionally schema-qualified (analytics.orders).",
        section=WAREHOUSE,
    ),
    "sql": Param(
        None,
        type=["null", "string"],
        format="multiline",
        title="Query",
        description="Instead of a table: a query that may use :since and :until (then both are required).",
        section=WAREHOUSE,
    ),
    "conn_id": Param(
        "spotzee_warehouse",
        type=["null", "string"],
        title="Warehouse connection",
        description="The Airflow connection of the warehouse (postgres, mysql, or an extra with sqlalchemy_url).",
        section=WAREHOUSE,
    ),
    "mapping": Param(
        None,
        type=["null", "string"],
        title="Mapping",
        description="A preset (orders, actions, segment, mixpanel, amplitude, ga4, posthog) or the path of a TOML "
        "mapping file on the workers; "
        "detected from the columns when empty.",
        examples=["orders", "actions", "segment", "mixpanel", "amplitude", "ga4", "posthog"],
        section=MAPPING,
    ),
    "since": Param(
        None,
        type=["null", "string"],
        format="date",
        title="Since",
        description="Load rows whose created_at is on or after this day (UTC).",
        section=WINDOW,
    ),
    "until": Param(
        None,
        type=["null", "string"],
        format="date",
        title="Until",
        description="...and before this day (UTC): the moment live tracking began. Empty: up to the last row.",
        section=WINDOW,
    ),
    "dry_run": Param(
        False,
        type=["null", "boolean"],
        title="Dry run",
        description="Map and validate every row, send nothing.",
        section=RUN,
    ),
    "slice_rows": Param(
        1_000_000,
        type=["null", "integer"],
        minimum=1,
        title="Rows per slice (files)",
        description="Parquet files are cut into slices of about this many rows (whole row groups); "
        "CSV and JSON Lines files are one slice each. Slices run side by side in the spotzee_api pool.",
        section=RUN,
    ),
    "slice_days": Param(
        31,
        type=["null", "integer"],
        minimum=1,
        title="Days per slice (tables)",
        description="A table or query is cut into windows of this many days of created_at.",
        section=RUN,
    ),
    "max_rejected": Param(
        0,
        type=["null", "integer"],
        minimum=0,
        title="Rejected rows tolerated",
        description="The run fails when more rows than this are rejected (every valid row is still delivered).",
        section=RUN,
    ),
    "restart": Param(
        False,
        type=["null", "boolean"],
        title="Restart",
        description="Forget the checkpoints of this migration and send everything again.",
        section=RUN,
    ),
    "limit": Param(
        None,
        type=["null", "integer"],
        minimum=1,
        title="Sample: rows per slice",
        description="Each slice sends the events of its next N rows and stops; check them in Spotzee (and with "
        "verify), then trigger again without it to send the rest, nothing twice.",
        section=RUN,
    ),
    "stamp": Param(
        None,
        type=["null", "string"],
        title="Stamp property",
        description="Adds this data property, valued with the slice's job name, to every event, so journeys and "
        "segments can leave replayed events out (e.g. backfill_job).",
        section=RUN,
    ),
    "allow_overlap": Param(
        False,
        type=["null", "boolean"],
        title="Allow overlap",
        description="Send rows another job (another migration, the nightly load) already sent to the same Spotzee; "
        "off, such a slice stops naming the other job.",
        section=RUN,
    ),
    "no_live_journeys": Param(
        False,
        type=["null", "boolean"],
        title="Refuse while journeys are live",
        description="Send nothing while any journey of the Spotzee project is live; the plan names them.",
        section=RUN,
    ),
    "job": Param(
        None,
        type=["null", "string"],
        title="Migration name",
        description="Names the checkpoints; empty: derived from the source, mapping and window, so re-triggering "
        "the same migration resumes it.",
        section=RUN,
    ),
}


def migration_dag(dag_id: str = "spotzee_migration", schedule: Any = None, **defaults: Any) -> DAG:
    """A migration DAG; ``schedule`` (e.g. the assets of the tables it reads) and the form's ``defaults``."""
    unknown = sorted(set(defaults) - set(PARAMS))
    if unknown:
        raise TypeError(f"unknown migration param(s) {', '.join(unknown)}; the params are {', '.join(PARAMS)}.")
    params = {name: _with_default(p, defaults[name]) if name in defaults else p for name, p in PARAMS.items()}
    # The schedule's assets are what the migration reads: OpenLineage and the asset graph show them as inputs.
    inlets = [s for s in (schedule if isinstance(schedule, list) else []) if hasattr(s, "uri")]

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=["spotzee", "migration"],
        params=params,
        # Explicit: Airflow 3.3 serializes mapped tasks with a fixed 300 s when retry_delay is left to [core] config.
        default_args={"retries": 2, "retry_delay": retry_delay(), "retry_exponential_backoff": 2.0},
        doc_md=__doc__,
    )
    def migration() -> None:
        @task
        def plan() -> list[dict[str, Any]]:
            from ..orchestrate.plan import plan_migration
            from . import glue

            context = get_current_context()
            settings = glue.AirflowSettings.from_env()
            conf = dict(context["dag_run"].conf or {})
            glue.pool_slots(settings)
            slices = glue.fail_fast(
                lambda: plan_migration(
                    conf, dict(context["params"]), glue.warehouse_url, glue.object_storage, settings.retry_budget_s
                ),
                context["ti"],
            )
            # The live journeys, named before any slice sends (a dry run too); no_live_journeys stops here.
            refuse = bool(context["params"].get("no_live_journeys")) and not context["params"].get("dry_run")
            glue.fail_fast(lambda: glue.announce_live_journeys(settings, refuse, context["ti"]), context["ti"])
            return slices

        load = SpotzeeLoadOperator.partial(
            task_id="load",
            from_params=True,  # a failed slice shows its sentence and Spotzee's request_id in its XCom tab
            pool=POOL,
            map_index_template="{{ task.part['label'] }}",
            execution_timeout=dt.timedelta(hours=12),
            inlets=inlets,
        ).expand(part=plan())

        # The event assets are updated here, once per run, one run at a time (update_event_assets says why).
        @task(multiple_outputs=False, outlets=[events_alias()], max_active_tis_per_dag=1)
        def summarize(reports: list[dict[str, Any]]) -> dict[str, Any]:
            from ..orchestrate.params import MigrationParams
            from . import glue

            context = get_current_context()
            params = MigrationParams.from_conf(dict(context["params"]))
            # The figures where a person looks: this task's XCom tab ("summary" as text, the return value as JSON).
            summary = glue.summarize_migration(list(reports), params.max_rejected, context["ti"])
            glue.update_assets_of_run(context, list(reports))
            return summary

        summarize(load.output)  # type: ignore[arg-type]

    return migration()


def _with_default(param: Param, value: Any) -> Param:
    return Param(value, description=param.description, **param.schema)
