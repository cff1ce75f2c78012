"""The shipped example: ``orders.parquet``, 1,000 historical orders in the ``orders`` preset's shape.

Regenerate it with ``python -m spotzee_loader.examples`` (deterministic).
"""

from __future__ import annotations

import datetime as dt
import decimal
import random
from pathlib import Path

import pyarrow as pa

EXAMPLE_ORDERS = Path(__file__).with_name("orders.parquet")


def example_orders(rows: int = 1000, seed: int = 7) -> pa.Table:
    """Orders from 2019 to 2024: decimal totals, naive UTC timestamps, some guest orders (null email)."""
    rng = random.Random(seed)
    start = dt.datetime(2019, 1, 1)
    span = int((dt.datetime(2024, 12, 31) - start).total_seconds())
    ordered = sorted(start + dt.timedelta(seconds=rng.randrange(span)) for _ in range(rows))
    return pa.table(
        {
            "order_id": pa.array(range(100_001, 100_001 + rows), pa.int64()),
            "customer_id": pa.array([rng.randrange(1, 400) for _ in range(rows)], pa.int64()),
            "ordered_at": pa.array(ordered, pa.timestamp("us")),
            "total": pa.array(
                [decimal.Decimal(rng.randrange(500, 50_000)) / 100 for _ in range(rows)], pa.decimal128(12, 2)
            ),
            "currency": pa.array([rng.choice(["EUR", "USD", "AUD"]) for _ in range(rows)]),
            "items": pa.array([rng.randrange(1, 6) for _ in range(rows)], pa.int32()),
            "email": pa.array(
                [None if rng.random() < 0.1 else f"customer{rng.randrange(1, 400)}@example.com" for _ in range(rows)]
            ),
        }
    )
