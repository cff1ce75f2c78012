"""A real Airflow deployment on this machine, for the end-to-end tests and bench/airflow_migration.py.

PostgreSQL metadata database, LocalExecutor, and ``airflow api-server``, ``scheduler`` and ``dag-processor``
as separate processes (``shared/airflow3-notes.md``, "A real deployment on one machine").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from spotzee_loader.api.mock import MockSpotzee

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW = [sys.executable, "-m", "airflow"]
DAGS = ("spotzee_migration", "spotzee_nightly_backfill")
# The dags_folder a user of the installed package writes: one line (README "Airflow").
ONE_LINE = "from spotzee_loader.dags import *  # noqa: F403 - the Airflow DAGs of spotzee-loader\n"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Deployment:
    """One Airflow deployment on this machine; every component its own process group."""

    def __init__(
        self,
        home: Path,
        metadata_url: str,
        mock: MockSpotzee,
        celery_workers: int = 0,
        own_dags: dict[str, str] | None = None,
    ) -> None:
        """LocalExecutor, or with ``celery_workers`` CeleryExecutor and that many ``airflow celery worker``
        processes (Redis on 127.0.0.1:6379 as the broker, the metadata database as the result backend).

        The dags_folder holds the one-line file that picks up the shipped DAGs, and ``own_dags`` (DAG id -> the
        source of a DAG file of one's own). OpenLineage writes its events to ``lineage.jsonl`` in ``home``."""
        self.home, self.metadata_url, self.mock, self.celery_workers = home, metadata_url, mock, celery_workers
        self.dags_folder = home / "dags"
        self.dags_folder.mkdir(exist_ok=True)
        (self.dags_folder / "spotzee.py").write_text(ONE_LINE)
        for dag_id, source in (own_dags or {}).items():
            (self.dags_folder / f"{dag_id}.py").write_text(source)
        self.dag_ids = (*DAGS, *(own_dags or {}))
        self.lineage = home / "lineage.jsonl"
        port = _free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SPOTZEE_"))}
        self.env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url.replace("postgresql://", "postgresql+psycopg2://"),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                    {"type": "file", "log_file_path": str(self.lineage), "append": True}
                ),
                "AIRFLOW__OPENLINEAGE__NAMESPACE": "spotzee-tests",
                # The UI's Test button on the connection form (off by default in Airflow 3).
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                # The UI without a login page (the browser test drives it as the admin).
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
                "SPOTZEE_RETRY_DELAY_S": "2",  # read when the dag-processor parses the DAGs
            }
        )
        if celery_workers:
            self.env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                    "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/0",
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
                }
            )
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ui_url = f"http://127.0.0.1:{port}"

    def cli(self, *args: str, fails: bool = False) -> subprocess.CompletedProcess[str]:
        """``airflow ARGS``, asserting it succeeded (or with ``fails``, that it failed)."""
        done = subprocess.run([*AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=180, check=False)
        assert (done.returncode != 0) == fails, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done

    def start(self) -> None:
        self.cli("db", "migrate")
        components = [["api-server"], ["scheduler"], ["dag-processor"]]
        components += [["celery", "worker", "--celery-hostname", f"worker{n}@%h"] for n in range(self.celery_workers)]
        for n, component in enumerate(components):
            log = (self.home / f"{n}-{'-'.join(component[:2])}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    [*AIRFLOW, *component], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        parsed = "SELECT dag_id FROM serialized_dag WHERE dag_id = ANY(%s)"
        self.wait(lambda: len(self.query(parsed, list(self.dag_ids))) == len(self.dag_ids),
                  timeout=120, what="the dag-processor to parse the DAGs")  # fmt: skip

    def stop(self) -> None:
        for process in self.processes:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(timeout=15)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.metadata_url, autocommit=True) as db:
            return db.execute(sql, params).fetchall()

    def wait(self, ready: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            for process in self.processes:
                assert process.poll() is None, f"an Airflow process exited while waiting for {what}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(1)

    def run_state(self, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE run_id = %s", run_id)
        return str(rows[0][0]) if rows else None

    def wait_for_run(self, run_id: str, timeout: float = 240) -> str:
        self.wait(lambda: self.run_state(run_id) in ("success", "failed"), timeout, f"run {run_id}")
        return str(self.run_state(run_id))

    def task_logs(self, run_id: str) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in (self.home / "logs").rglob("*") if p.is_file() and run_id in str(p)
        )


@contextmanager
def deployed(
    admin_url: str,
    home: Path,
    mock: MockSpotzee,
    store_db: str,
    api_key: str,
    celery_workers: int = 0,
    own_dags: dict[str, str] | None = None,
) -> Iterator[Deployment]:
    """A running deployment with a fresh metadata database, the connections (Spotzee = ``mock``; checkpoint store
    and warehouse = database ``store_db``), the ``spotzee_api`` pool of 4, and every DAG unpaused."""
    name = f"spotzee_airflow_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    deployment = Deployment(home, admin_url.rsplit("/", 1)[0] + "/" + name, mock, celery_workers, own_dags)
    try:
        deployment.start()
        deployment.cli("connections", "add", "spotzee_default", "--conn-type", "spotzee", "--conn-password", api_key,
                       "--conn-extra", json.dumps({"base_url": mock.base_url}))  # fmt: skip
        for conn_id in ("spotzee_checkpoint", "spotzee_warehouse"):
            deployment.cli("connections", "add", conn_id, "--conn-type", "postgres", "--conn-host", "127.0.0.1",
                           "--conn-port", "5432", "--conn-login", "postgres", "--conn-schema", store_db)  # fmt: skip
        deployment.cli("pools", "set", "spotzee_api", "4", "Spotzee API requests")
        for dag_id in deployment.dag_ids:
            deployment.cli("dags", "unpause", dag_id)
        yield deployment
    finally:
        deployment.stop()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
