"""What a load read and wrote, as OpenLineage datasets (``SpotzeeLoadOperator.get_openlineage_facets_on_complete``).

Inputs: the table (namespace ``postgres://host:port`` and the like, name ``database.table``), or the files
(``file`` or the bucket, name the path); a query is reported as the job's SQL, not parsed into tables. Outputs: one
dataset per event name sent, in the namespace ``spotzee://PROJECT`` (the ``spotzee://`` assets' converter).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from .assets import SCHEME


@dataclass(frozen=True)
class Lineage:
    inputs: tuple[tuple[str, str], ...] = ()
    """``(namespace, name)`` of each dataset read."""
    outputs: tuple[tuple[str, str], ...] = ()
    sql: str | None = None
    project: str = ""

    @classmethod
    def of(cls, params: Any, warehouse_url: str | None, project: str) -> Lineage:
        inputs: list[tuple[str, str]] = []
        if params.path:
            inputs.append(_file(str(params.path)))
        elif params.table and warehouse_url:
            inputs.append(_table(warehouse_url, str(params.table)))
        return cls(tuple(inputs), (), params.sql if not params.table else None, project)

    def with_events(self, events_by_name: dict[str, int]) -> Lineage:
        namespace = f"{SCHEME}://{urllib.parse.quote(self.project, safe='')}"
        outputs = tuple((namespace, name) for name, count in sorted(events_by_name.items()) if count)
        return Lineage(self.inputs, outputs, self.sql, self.project)

    def operator_lineage(self) -> Any:
        from airflow.providers.common.compat.openlineage.facet import Dataset, SQLJobFacet
        from airflow.providers.openlineage.extractors import OperatorLineage

        return OperatorLineage(
            inputs=[Dataset(namespace=ns, name=name) for ns, name in self.inputs],
            outputs=[Dataset(namespace=ns, name=name) for ns, name in self.outputs],
            job_facets={"sql": SQLJobFacet(query=self.sql)} if self.sql else {},
        )


def _file(path: str) -> tuple[str, str]:
    parsed = urllib.parse.urlsplit(path)
    if parsed.scheme and parsed.netloc:  # s3://bucket/key, gs://..., az://...
        return f"{parsed.scheme}://{parsed.netloc}", parsed.path.lstrip("/") or "/"
    return "file", path


def _table(url: str, table: str) -> tuple[str, str]:
    """``postgresql://user:pw@host:5432/db`` -> (``postgres://host:5432``, ``db.table``): no credentials."""
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.split("+")[0]
    scheme = {"postgresql": "postgres", "mariadb": "mysql"}.get(scheme, scheme)
    host = parsed.hostname or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    database = parsed.path.strip("/")
    if scheme in ("duckdb", "sqlite"):
        return "file", f"{parsed.path}/{table}"
    return f"{scheme}://{host}{port}", f"{database}.{table}" if database else table
