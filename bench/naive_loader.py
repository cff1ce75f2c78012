"""The script a user would write by hand: pandas + iterrows + requests.post per 100 events.

    python bench/naive_loader.py ORDERS.parquet BASE_URL API_KEY

TPC-H orders -> the same order_placed events as bench/tpch_orders.toml (money as floats, as such scripts do).
No checkpoint, no retries, no dead letters: the baseline, not a recommendation.
"""

from __future__ import annotations

import sys
import uuid

import pandas as pd
import requests

path, base_url, key = sys.argv[1:4]
headers = {"Authorization": f"Bearer {key}", "Spotzee-Version": "2026-04-28"}
orders = pd.read_parquet(path)
batch: list[dict[str, object]] = []


def flush() -> None:
    response = requests.post(
        f"{base_url}/events", json=batch, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, timeout=30
    )
    response.raise_for_status()
    batch.clear()


for _, row in orders.iterrows():
    batch.append(
        {
            "name": "order_placed",
            "external_id": str(row["o_custkey"]),
            "created_at": pd.Timestamp(row["o_orderdate"]).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "data": {
                "order_id": int(row["o_orderkey"]),
                "total": float(row["o_totalprice"]),
                "status": row["o_orderstatus"],
                "priority": row["o_orderpriority"],
                "clerk": row["o_clerk"],
                "ship_priority": int(row["o_shippriority"]),
                "comment": row["o_comment"],
            },
        }
    )
    if len(batch) == 100:
        flush()
if batch:
    flush()
