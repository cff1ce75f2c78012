"""The same load with dlt: a Parquet resource and a ``@dlt.destination(batch_size=100)`` that posts events.

    python bench/dlt_loader.py ORDERS.parquet BASE_URL API_KEY

dlt extracts, normalizes to files and then calls the destination with 100 rows at a time; state and load
packages go to a temporary pipelines folder.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import uuid
from typing import Any

import dlt
import pyarrow.parquet as pq
import requests

path, base_url, key = sys.argv[1:4]
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
session = requests.Session()
session.headers.update({"Authorization": f"Bearer {key}", "Spotzee-Version": "2026-04-28"})


def created_at(value: Any) -> str:
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return f"{day.isoformat()}T00:00:00.000Z"


@dlt.destination(batch_size=100, name="spotzee")
def spotzee(items: list[dict[str, Any]], table: dict[str, Any]) -> None:
    events = [
        {
            "name": "order_placed",
            "external_id": str(item["o_custkey"]),
            "created_at": created_at(item["o_orderdate"]),
            "data": {
                "order_id": int(item["o_orderkey"]),
                "total": float(item["o_totalprice"]),
                "status": item["o_orderstatus"],
                "priority": item["o_orderpriority"],
                "clerk": item["o_clerk"],
                "ship_priority": int(item["o_shippriority"]),
                "comment": item["o_comment"],
            },
        }
        for item in items
    ]
    response = session.post(f"{base_url}/events", json=events, headers={"Idempotency-Key": str(uuid.uuid4())})
    response.raise_for_status()


@dlt.resource(name="orders")
def orders() -> Any:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        yield batch.to_pylist()


with tempfile.TemporaryDirectory() as folder:
    pipeline = dlt.pipeline("spotzee_bench", destination=spotzee, pipelines_dir=folder)
    pipeline.run(orders())
