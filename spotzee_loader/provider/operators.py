"""``SpotzeeLoadOperator`` and ``SpotzeeVerifyOperator``: thin shells over the package for DAGs of one's own.

    load = SpotzeeLoadOperator(task_id="orders", table="analytics.orders", mapping="orders",
                               since="{{ data_interval_start }}", until="{{ data_interval_end }}")

Each returns its report to XCom and fails with the loader's sentence (no retry for what a retry cannot fix). A load
updates one asset per event name it sent (``spotzee://PROJECT/events/NAME``, through the alias
``spotzee-events:<conn id>``), and tells OpenLineage, when its provider is installed, what it read and wrote.
Nothing of the loader is imported when a DAG file is parsed: only when a task runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context

from .assets import default_conn_id, events_alias, update_event_assets
from .lineage import Lineage

WAREHOUSE_CONN_ID = "spotzee_warehouse"
_OPTIONS = ("table", "sql", "mapping")  # what a slice of a nightly plan may set beside its bounds


class SpotzeeLoadOperator(BaseOperator):
    """Load a source into Spotzee as one checkpoint job: a file, folder, glob or object-storage URL (``source``), or
    a warehouse ``table`` or ``sql`` query through ``warehouse_conn_id``; ``mapping`` is a preset or a TOML path.

    ``since`` / ``until`` bound ``created_at`` (templated: ``{{ data_interval_start }}``). ``job`` names the
    checkpoint; by default ``<dag_id>.<task_id>`` and the window, so a retried or cleared task resumes and a re-run of
    a finished window sends nothing. ``part``: one slice of a plan (mapped with ``.expand(part=...)``).
    ``from_params``: take the source and options from the run's params (the ``spotzee_migration`` trigger form).
    ``spotzee_conn_id``: default ``SPOTZEE_API_CONN_ID``, else ``spotzee_default``.
    """

    template_fields: Sequence[str] = (
        "source", "table", "sql", "mapping", "since", "until", "job", "stamp", "warehouse_conn_id", "restart",
    )  # fmt: skip
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql"}
    ui_color = "#fde68a"

    def __init__(
        self,
        *,
        source: str | None = None,
        table: str | None = None,
        sql: str | None = None,
        mapping: str | None = None,
        since: str | dt.datetime | None = None,
        until: str | dt.datetime | None = None,
        job: str | None = None,
        spotzee_conn_id: str | None = None,
        warehouse_conn_id: str = WAREHOUSE_CONN_ID,
        dry_run: bool = False,
        restart: bool = False,
        limit: int | None = None,
        stamp: str | None = None,
        allow_overlap: bool = False,
        no_live_journeys: bool = False,
        max_rejected: int = 0,
        part: dict[str, Any] | None = None,
        from_params: bool = False,
        **kwargs: Any,
    ) -> None:
        spotzee_conn_id = spotzee_conn_id or default_conn_id()
        outlets = list(kwargs.pop("outlets", None) or [])
        if not (part or from_params):  # a slice of a plan: its DAG's summarize task updates the assets, once
            outlets.append(events_alias(spotzee_conn_id))
        super().__init__(outlets=outlets, **kwargs)
        self.source, self.table, self.sql, self.mapping = source, table, sql, mapping
        self.since, self.until, self.job, self.stamp = since, until, job, stamp
        self.spotzee_conn_id, self.warehouse_conn_id = spotzee_conn_id, warehouse_conn_id
        # Not self.dry_run: BaseOperator.dry_run() is a method of its own.
        self.send_nothing, self.restart, self.limit = dry_run, restart, limit
        self.allow_overlap, self.no_live_journeys, self.max_rejected = allow_overlap, no_live_journeys, max_rejected
        self.part, self.from_params = part, from_params
        self._lineage: Lineage | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        from . import glue

        return glue.fail_fast(lambda: self._load(context), context["ti"])

    def _load(self, context: Context) -> dict[str, Any]:
        from ..orchestrate.params import MigrationParams
        from ..orchestrate.plan import Slice
        from ..orchestrate.tasks import check_rejects, run_migration_slice, summarize_reports
        from . import glue

        settings = glue.AirflowSettings.from_env()
        spotzee = glue.spotzee_connection(self.spotzee_conn_id)
        part = dict(self.part or {})
        options = part.pop("options", None) or {}
        if self.from_params:
            params = MigrationParams.from_conf(dict(context["params"]))
        else:
            params = MigrationParams.from_conf(self._own_params(options, part))
        # The deployment's pool sizes the fallback share of the budget; a task of one's own shares it whole.
        parallel = glue.pool_slots(settings) if self.pool == settings.pool else 1
        env = glue.task_environment(settings, parallel, spotzee)
        path, storage = glue.object_storage(params.path)
        params, env = dataclasses.replace(params, path=path), dataclasses.replace(env, storage=storage)
        if params.table or params.sql:
            env = glue.with_warehouse(env, params.conn_id)
        piece = Slice.from_dict(part) if part else self._whole(context, params)
        self._lineage = Lineage.of(params, env.warehouse_url, spotzee.project)
        report = run_migration_slice(env, params, piece)
        self._lineage = self._lineage.with_events(report.get("events_by_name") or {})
        if not (self.from_params or self.part):  # a plan's slices are counted together by its summarize task
            update_event_assets(context, spotzee.project, [report], self.spotzee_conn_id)
            check_rejects(summarize_reports([report]), params.max_rejected)
        return report

    def _own_params(self, options: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
        """The operator's arguments as migration params; a slice of a plan brings its window and options."""
        since, until = _instant(self.since) or part.get("since"), _instant(self.until) or part.get("until")
        own = {
            "path": self.source, "conn_id": self.warehouse_conn_id, "table": self.table, "sql": self.sql,
            "mapping": self.mapping, "since": since, "until": until,
            "dry_run": self.send_nothing, "restart": self.restart, "max_rejected": self.max_rejected, "job": self.job,
            "limit": self.limit, "stamp": self.stamp, "no_live_journeys": self.no_live_journeys,
            "allow_overlap": self.allow_overlap,
        }  # fmt: skip
        own.update({k: v for k, v in options.items() if k in _OPTIONS})
        return own

    def _whole(self, context: Context, params: Any) -> Any:
        """The whole source as one slice: its job named by the task (and window), stable across tries."""
        from ..orchestrate.plan import Slice

        since = params.since.isoformat() if params.since else None
        until = params.until.isoformat() if params.until else None
        job = params.job or f"{context['dag'].dag_id}.{self.task_id}"
        if not params.job and (params.since or params.until):
            job += "-" + "-".join(f"{t:%Y%m%dT%H%M%SZ}" if t else "open" for t in (params.since, params.until))
        return Slice(label=job, job=job, since=since, until=until)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """What this load read and wrote, for the OpenLineage provider (called only when it is installed)."""
        return (self._lineage or Lineage()).operator_lineage()


class SpotzeeVerifyOperator(BaseOperator):
    """Compare events per name and day in a job's source (or a ``source``) with Spotzee's counts.

    ``target``: a job name of the checkpoint store (its source, mapping and window) or a source. Returns every
    (day, event) pair to XCom; fails when any differs and ``fail_on_difference`` (the default). Spotzee shows events
    some time after it accepts them: by default the task is retried 3 times, 2 minutes apart, while Spotzee has
    fewer events than the source; more events than the source (a second copy) fail at once.
    """

    template_fields: Sequence[str] = ("target", "mapping", "table", "sql", "since", "until")

    def __init__(
        self,
        *,
        target: str,
        mapping: str | None = None,
        table: str | None = None,
        sql: str | None = None,
        since: str | dt.datetime | None = None,
        until: str | dt.datetime | None = None,
        spotzee_conn_id: str | None = None,
        fail_on_difference: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 3)
        kwargs.setdefault("retry_delay", dt.timedelta(minutes=2))
        super().__init__(**kwargs)
        self.target, self.mapping, self.table, self.sql = target, mapping, table, sql
        self.since, self.until = since, until
        self.spotzee_conn_id, self.fail_on_difference = spotzee_conn_id or default_conn_id(), fail_on_difference

    def execute(self, context: Context) -> dict[str, Any]:
        from . import glue

        return glue.fail_fast(lambda: self._verify(context), context["ti"])

    def _verify(self, context: Context) -> dict[str, Any]:
        from ..errors import VerifyDifferenceError
        from ..operate import VerifyRequest, verify_target
        from ..orchestrate.params import MigrationParams, param_instant
        from . import glue

        settings = glue.AirflowSettings.from_env()
        spotzee = glue.spotzee_connection(self.spotzee_conn_id)
        choice = MigrationParams(mapping=self.mapping).mapping_choice() if self.mapping else None
        request = VerifyRequest(
            target=self.target,
            checkpoint=glue.checkpoint_location(settings.checkpoint_conn_id),
            choice=choice,
            table=self.table,
            sql=self.sql,
            since=param_instant(_instant(self.since), "since"),
            until=param_instant(_instant(self.until), "until"),
            budget=spotzee.budget or settings.budget,
        )
        done = verify_target(request, lambda _target: spotzee.api)
        differing = done.differing
        result = {
            "target": self.target, "source": done.source, "days": done.rows, "differences": len(differing),
            "source_events": sum(r["source"] for r in done.rows),
            "spotzee_events": sum(r["spotzee"] for r in done.rows),
        }  # fmt: skip
        context["ti"].xcom_push(key="verification", value=result)
        if differing and self.fail_on_difference:
            first = max(differing, key=lambda r: r["difference"])  # a surplus first: it will not settle
            surplus = first["difference"] > 0
            raise VerifyDifferenceError(
                f"{len(differing):,} of {len(done.rows):,} (day, event) pairs differ between {done.source} and "
                f"Spotzee, first {first['day']} {first['event_name']}: {first['source']:,} in the source, "
                f"{first['spotzee']:,} in Spotzee ("
                + ("more than the source: events sent twice, by two jobs or a replay" if surplus else
                   "Spotzee shows events some time after it accepts them: a retry reads again")
                + "; see the verification XCom).",
                settling=not surplus,
            )  # fmt: skip
        return result


def _instant(value: str | dt.datetime | None) -> str | None:
    """A window bound as the migration params take it (an ISO date or time), from a rendered template."""
    if value is None or value == "" or value == "None":
        return None
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)
