"""The migration DAG in a real Airflow deployment (PostgreSQL metadata DB, LocalExecutor, api-server, scheduler,
dag-processor: ``tests/airflow_deployment.py``) against the mock Spotzee enforcing the published per-IP rules (8,000
requests in any 60 s, else a 120-s block): a 1-slice and a 2-slice migration of the same rows.

Prints, per run, the events/s between the first and the last request the mock saw, requests/s and the share of
429 answers. Targets (issue 14): each >= 8,500 events/s (90% of the budget), <= 1% 429.

    ../.venv/bin/python airflow_migration.py [--rows 150000]      # needs '.[test]' and PostgreSQL on 127.0.0.1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import fresh_database, pace

from spotzee_loader.api.mock import MockConfig, MockSpotzee
from spotzee_loader.examples import example_orders
from tests.airflow_deployment import deployed

KEY = "sk_bench"
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
STORE = "spotzee_bench_store"  # the checkpoint store (and its budget leases)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=150_000)
    args = parser.parse_args()
    fresh_database(ADMIN, STORE)
    mock = MockSpotzee(MockConfig(api_key=KEY, store_events=False)).start()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.parquet"
        pq.write_table(example_orders(args.rows, seed=7), path, row_group_size=args.rows // 6)
        with deployed(ADMIN, Path(tmp) / "airflow", mock, STORE, KEY) as airflow:
            for slices in (1, 2):
                mock.reset()
                conf = {"path": str(path), "mapping": "orders", "slice_rows": args.rows // slices, "restart": True}
                run_id = f"bench-{slices}-slice"
                airflow.cli("dags", "trigger", "spotzee_migration", "--run-id", run_id, "--conf", json.dumps(conf))
                state = airflow.wait_for_run(run_id, timeout=1800)
                print(f"{slices}-slice migration ({state}): {pace(mock.stats())}", flush=True)
    mock.stop()


if __name__ == "__main__":
    main()
