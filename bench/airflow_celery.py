"""The migration DAG spread over two machines' worth of workers: CeleryExecutor (Redis as the broker) with two
``airflow celery worker`` processes, the shared PostgreSQL checkpoint store and one live API budget, against
the mock Spotzee enforcing the published per-IP rules (``tests/airflow_deployment.py``).

Prints the events/s between the first and last request, the 429 share, and which worker ran each slice.

    ../.venv/bin/python airflow_celery.py [--rows 300000]   # needs '.[test,scale]', PostgreSQL and Redis
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import fresh_database, pace

from spotzee_loader.api.mock import MockConfig, MockSpotzee
from spotzee_loader.examples import example_orders
from tests.airflow_deployment import deployed

KEY = "sk_bench"
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
STORE = "spotzee_bench_store"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--slices", type=int, default=4)
    args = parser.parse_args()
    fresh_database(ADMIN, STORE)
    mock = MockSpotzee(MockConfig(api_key=KEY, store_events=False)).start()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.parquet"
        pq.write_table(example_orders(args.rows, seed=8), path, row_group_size=args.rows // (2 * args.slices))
        home = Path(tmp) / "airflow"
        with deployed(ADMIN, home, mock, STORE, KEY, celery_workers=2) as airflow:
            conf = {"path": str(path), "mapping": "orders", "slice_rows": args.rows // args.slices}
            airflow.cli("dags", "trigger", "spotzee_migration", "--run-id", "celery", "--conf", json.dumps(conf))
            state = airflow.wait_for_run("celery", timeout=1800)
            print(f"{args.slices}-slice migration on 2 Celery workers ({state}): {pace(mock.stats())}")
            logs = {log.name: log.read_text(errors="replace") for log in home.glob("*-celery-worker.log")}
            # Celery logs "Task ... received" when a worker takes a task: both workers should have taken some.
            ran = Counter({name: text.count("] received") for name, text in logs.items()})
            print(f"'received' lines per worker log: {dict(ran)}")
            spans = airflow.query(
                "SELECT map_index, hostname, start_date, end_date FROM task_instance "
                "WHERE run_id = 'celery' AND task_id = 'load' ORDER BY map_index"
            )
            for index, host, start, end in spans:
                print(f"  slice {index}: {host}, {start:%H:%M:%S}-{end:%H:%M:%S}")
    mock.stop()


if __name__ == "__main__":
    main()
