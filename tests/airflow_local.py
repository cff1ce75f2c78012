"""Airflow 3 on this machine without services: a SQLite metadata database migrated once per session, copied into
each test's own AIRFLOW_HOME, and Airflow run in subprocesses (``airflow dags test``, ``dag.test()``, scripts)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spotzee_loader.api.mock import MockSpotzee

from .conftest import API_KEY

ROOT = Path(__file__).resolve().parent.parent


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SPOTZEE_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "SPOTZEE_RETRY_DELAY_S": "1",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        }
    )
    return env


@pytest.fixture(scope="session")
def airflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow-template")
    env = _base_env(home)
    for cmd in (["db", "migrate"], ["pools", "set", "spotzee_api", "4", "Spotzee API requests"]):
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *cmd], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return home


class Airflow:
    """One test's Airflow: its home, its environment, and ways to run the DAGs."""

    def __init__(self, home: Path, mock: MockSpotzee) -> None:
        self.home = home
        self.env = _base_env(home)
        self.connect_spotzee(mock.base_url, API_KEY)

    def connect_spotzee(self, base_url: str, key: str) -> None:
        self.env["AIRFLOW_CONN_SPOTZEE_DEFAULT"] = json.dumps(
            {"conn_type": "spotzee", "password": key, "extra": {"base_url": base_url}}
        )

    def dags_test(
        self, dag_id: str, *args: str, conf: dict[str, Any] | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "airflow", "dags", "test", dag_id, *args]
        if conf is not None:
            cmd += ["--conf", json.dumps(conf)]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300, check=False)

    def dag_test_without_interval(self, dag_id: str) -> subprocess.CompletedProcess[str]:
        """``dag.test(logical_date=None)``: a run without a data interval, as a manual trigger makes."""
        script = (
            "from airflow.dag_processing.dagbag import DagBag\n"
            f"bag = DagBag(dag_folder={str(ROOT / 'dags')!r})\n"
            f"run = bag.dags[{dag_id!r}].test(logical_date=None)\n"
            "print('RUN STATE', run.state)\n"
        )
        return subprocess.run(
            [sys.executable, "-c", script], env=self.env, capture_output=True, text=True, timeout=300, check=False
        )


@pytest.fixture
def airflow(airflow_template: Path, tmp_path: Path, mock: MockSpotzee) -> Airflow:
    home = tmp_path / "airflow"
    shutil.copytree(airflow_template, home)
    return Airflow(home, mock)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr
