"""``spotzee://PROJECT/events/EVENT``: the asset a load updates for each event name it sends, so a downstream DAG
can be scheduled on "order_placed history landed". Registered with Airflow through the provider info."""

from __future__ import annotations

import urllib.parse
from typing import Any
from urllib.parse import SplitResult

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
