"""The DAGs in a real Airflow deployment, as a user runs them: PostgreSQL metadata database, LocalExecutor,
``airflow api-server``, ``scheduler`` and ``dag-processor`` as separate processes, connections, variables and
the pool created through the CLI, runs started with ``airflow dags trigger`` and ``airflow backfill create``,
and the mock Spotzee refusing more than 1,000 requests in any 10 seconds (the published per-IP limit).

What ``airflow dags test`` cannot show is checked here: slices running side by side in the pool under one
shared API budget, a load task killed with SIGKILL and retried by the scheduler, backfilled intervals.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.examples import example_orders

from .airflow_deployment import Deployment
from .test_dags import NIGHTLY_ACTIONS, NIGHTLY_ORDERS


def _orders(path: Path, first_id: int, rows: int) -> str:
    table = example_orders(rows, seed=first_id)
    table = table.set_column(0, "order_id", pa.array(range(first_id, first_id + rows), pa.int64()))
    pq.write_table(table, path, row_group_size=rows // 4)
    return str(path)


def _ids(mock: MockSpotzee, low: int, high: int) -> Counter[int]:
    return Counter(e["data"]["order_id"] for e in mock.events if low <= e["data"].get("order_id", -1) < high)


def test_a_migration_runs_its_slices_side_by_side_under_one_budget(
    deployment: Deployment, edge: MockSpotzee, tmp_path: Path
) -> None:
    path = _orders(tmp_path / "orders.parquet", 1_000_000, 60_000)
    requests_before = len(edge.requests)
    conf = {"path": path, "mapping": "orders", "slice_rows": 30_000}
    deployment.cli("dags", "trigger", "spotzee_migration", "--run-id", "two-slices", "--conf", json.dumps(conf))

    assert deployment.wait_for_run("two-slices") == "success", deployment.task_logs("two-slices")[-3000:]
    ids = _ids(edge, 1_000_000, 1_060_000)
    assert len(ids) == 60_000 and set(ids.values()) == {1}
    answered = [r["status"] for r in edge.requests[requests_before:]]
    assert answered.count(429) <= 0.01 * len(answered), Counter(answered)
    # The two slices ran at the same time, in the pool, each sending its live share of the one budget.
    spans = deployment.query(
        "SELECT start_date, end_date FROM task_instance WHERE run_id = 'two-slices' AND task_id = 'load'"
    )
    assert len(spans) == 2 and max(s for s, _ in spans) < min(e for _, e in spans)
    logs = deployment.task_logs("two-slices")
    assert logs.count("is shared live through the checkpoint store postgresql://postgres@127.0.0.1") == 2
    assert "2 load(s) running" in logs


def test_a_load_task_killed_mid_slice_is_retried_and_resumes(
    deployment: Deployment, edge: MockSpotzee, tmp_path: Path
) -> None:
    path = _orders(tmp_path / "orders.parquet", 2_000_000, 60_000)
    conf = {"path": path, "mapping": "orders", "slice_rows": 30_000}
    deployment.cli("dags", "trigger", "spotzee_migration", "--run-id", "killed", "--conf", json.dumps(conf))
    deployment.wait(lambda: len(_ids(edge, 2_000_000, 2_030_000)) >= 5_000, 180, "the first slice to be sending")
    (pid,) = deployment.query(
        "SELECT pid FROM task_instance WHERE run_id = 'killed' AND task_id = 'load' AND map_index = 0"
    )[0]
    delivered_before_kill = len(_ids(edge, 2_000_000, 2_030_000))
    os.kill(pid, signal.SIGKILL)

    assert deployment.wait_for_run("killed") == "success", deployment.task_logs("killed")[-3000:]
    tries = deployment.query(
        "SELECT map_index, try_number FROM task_instance WHERE run_id = 'killed' AND task_id = 'load' ORDER BY 1"
    )
    assert tries == [(0, 2), (1, 1)]  # the killed slice ran again, the other once
    assert delivered_before_kill < 30_000  # the kill landed mid-slice
    ids = _ids(edge, 2_000_000, 2_060_000)
    assert len(ids) == 60_000 and set(ids.values()) == {1}  # nothing lost, nothing recorded twice


def test_a_nightly_backfill_loads_each_interval_once(
    deployment: Deployment, edge: MockSpotzee, pg: tuple[str, Any, str], tmp_path: Path
) -> None:
    _, conn, schema = pg
    conn.execute(f"CREATE TABLE {schema}.orders (order_id int PRIMARY KEY, customer_id int, ordered_at timestamptz)")
    conn.execute(
        f"INSERT INTO {schema}.orders SELECT 5000000 + i, i % 40, timestamptz '2024-01-01 02:00+00' + "
        "(i - 1) * interval '10 minutes' FROM generate_series(1, 600) i"
    )
    conn.execute(
        f"CREATE TABLE {schema}.actions (action_id int PRIMARY KEY, user_id text, action text, "
        "occurred_at timestamptz, properties jsonb)"
    )
    conn.execute(
        f"INSERT INTO {schema}.actions SELECT i, 'u' || (i % 9), 'backfilled', timestamptz "
        "'2024-01-01 02:00+00' + (i - 1) * interval '30 minutes', jsonb_build_object('n', i) "
        "FROM generate_series(1, 200) i"
    )
    sources = []
    for name, sql in (("orders", NIGHTLY_ORDERS), ("actions", NIGHTLY_ACTIONS)):
        (tmp_path / f"{name}.sql").write_text(sql.format(s=schema))
        sources.append({"name": name, "mapping": name, "sql_file": str(tmp_path / f"{name}.sql")})
    deployment.cli("variables", "set", "spotzee_nightly", json.dumps({"sources": sources}))
    days = ["--from-date", "2024-01-01", "--to-date", "2024-01-04"]  # logical dates Jan 1, 2, 3 at 02:00

    first = _backfill(deployment, *days)
    assert first == ["success"] * 3, first
    # Three nights, [Jan 1 02:00, Jan 4 02:00): 432 orders (every 10 min, of 600) and 144 actions (every 30 min).
    orders = _ids(edge, 5_000_000, 5_001_000)
    assert len(orders) == 432 and set(orders.values()) == {1}
    assert sum(1 for e in edge.events if e["name"] == "backfilled") == 144

    # The same nights again (the completed runs reprocessed): every interval's job is finished, nothing is sent.
    sent_before = len(edge.requests)
    again = _backfill(deployment, *days, "--reprocess-behavior", "completed")
    assert again == ["success"] * 3, again
    assert len(edge.requests) == sent_before


def _backfill(deployment: Deployment, *args: str) -> list[str]:
    """``airflow backfill create`` for the nightly DAG; the states of its runs once they all ended."""
    (before,) = deployment.query("SELECT coalesce(max(id), 0) FROM backfill")[0]
    deployment.cli("backfill", "create", "--dag-id", "spotzee_nightly_backfill", *args)
    (backfill,) = deployment.query("SELECT max(id) FROM backfill")[0]
    assert backfill > before, "no backfill was created"

    def states() -> list[str]:
        rows = deployment.query(
            "SELECT dr.state FROM backfill_dag_run b JOIN dag_run dr ON dr.id = b.dag_run_id "
            "WHERE b.backfill_id = %s ORDER BY b.logical_date",
            backfill,
        )
        return [str(state) for (state,) in rows]

    def completed() -> bool:  # the scheduler marks the backfill done a moment after its last run
        return deployment.query("SELECT completed_at FROM backfill WHERE id = %s", backfill)[0][0] is not None

    deployment.wait(completed, 240, "the backfill")
    return states()
