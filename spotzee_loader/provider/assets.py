"""``spotzee://PROJECT/events/EVENT``: the asset a load updates for each event name it sends, so a downstream DAG
can be scheduled on "order_placed history landed". Registered with Airflow through the provider info."""

from __future__ import annotations

import os
import urllib.parse
from typing import Any
from urllib.parse import SplitResult

from . import DEFAULT_CONN_ID

SCHEME = "spotzee"


def event_uri(project: str, event: str) -> str:
    """The stable URI of ``event`` in ``project`` (both quoted: event names may hold spaces, as Segment's do)."""
    return f"{SCHEME}://{urllib.parse.quote(project, safe='')}/events/{urllib.parse.quote(event, safe='')}"


def event_of(uri: str) -> tuple[str, str]:
    """``(project, event)`` of an event URI."""
    parsed = urllib.parse.urlsplit(uri)
    return urllib.parse.unquote(parsed.netloc), urllib.parse.unquote(parsed.path.split("/", 2)[2])


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's check of a ``spotzee://`` URI written by hand in a DAG (``Asset("spotzee://...")``)."""
    parts = uri.path.split("/")
    if not uri.netloc:
        raise ValueError("A spotzee:// asset URI names the project: spotzee://PROJECT/events/EVENT")
    if len(parts) != 3 or parts[1] != "events" or not parts[2]:
        raise ValueError("A spotzee:// asset URI has the form spotzee://PROJECT/events/EVENT")
    return uri


def create_asset(*, project: str, event: str, extra: dict[str, Any] | None = None) -> Any:
    """The asset of ``event`` in ``project``: what a downstream DAG's ``schedule`` names."""
    from airflow.sdk import Asset

    return Asset(uri=event_uri(project, event), name=event_uri(project, event), extra=extra or {})


def convert_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """The OpenLineage dataset of an event asset: namespace ``spotzee://PROJECT``, name the event."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    project, event = event_of(str(asset.uri))
    return Dataset(namespace=f"{SCHEME}://{urllib.parse.quote(project, safe='')}", name=event)


def default_conn_id() -> str:
    """The Spotzee connection of the deployment: ``SPOTZEE_API_CONN_ID``, else ``spotzee_default``."""
    return os.environ.get("SPOTZEE_API_CONN_ID") or DEFAULT_CONN_ID


def events_alias(spotzee_conn_id: str | None = None) -> Any:
    """The alias through which loads over ``spotzee_conn_id`` update their event assets."""
    from airflow.sdk import AssetAlias

    return AssetAlias(name=f"spotzee-events:{spotzee_conn_id or default_conn_id()}")


def update_event_assets(context: Any, project: str, reports: list[dict[str, Any]], conn_id: str) -> None:
    """One asset event per event name the reports sent (``spotzee://PROJECT/events/NAME``), through the task's
    alias, with the jobs, the events sent and their span as its extra.

    One task per DAG run does this (a plan's summarize task, not its slices), and that task runs one at a time
    (``max_active_tis_per_dag=1``): Airflow 3.3 fails a task whose alias event creates an asset that another task
    creates at the same instant (a unique-key race in the api-server, seen with three backfill runs)."""
    sent: dict[str, int] = {}
    for report in reports:
        if not report.get("dry_run"):
            for name, count in (report.get("events_by_name") or {}).items():
                sent[name] = sent.get(name, 0) + int(count)
    firsts = [r["first_created_at"] for r in reports if r.get("first_created_at")]
    lasts = [r["last_created_at"] for r in reports if r.get("last_created_at")]
    extra = {
        "job": ", ".join(sorted({str(r["job"]) for r in reports})),
        "status": ", ".join(sorted({str(r["status"]) for r in reports})),
        "first_created_at": min(firsts, default=None),
        "until": max(lasts, default=None),
    }
    events = context["outlet_events"][events_alias(conn_id)]
    for name, count in sorted(sent.items()):
        if count:
            events.add(create_asset(project=project, event=name), extra={**extra, "events": count})
