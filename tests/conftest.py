"""Shared fixtures: a real mock Spotzee on loopback, the real CLI in a subprocess, Parquet writers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spotzee_loader.mock_server import MockConfig, MockSpotzee

API_KEY = "sk_test_0123456789secret"


@pytest.fixture
def mock() -> Iterator[MockSpotzee]:
    server = MockSpotzee(MockConfig(api_key=API_KEY)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def write_parquet(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(table: pa.Table | dict[str, Any], name: str = "data.parquet", **kwargs: Any) -> Path:
        if isinstance(table, dict):
            table = pa.table(table)
        path = tmp_path / name
        pq.write_table(table, path, **kwargs)
        return path

    return write


class Cli:
    """Runs ``python -m spotzee_loader`` as a user would, with a private checkpoint and state dir."""

    def __init__(self, tmp_path: Path, mock: MockSpotzee | None) -> None:
        self.tmp = tmp_path
        self.mock = mock
        self.checkpoint = tmp_path / "state" / "checkpoints.sqlite"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTZEE_")}
        self.env["XDG_STATE_HOME"] = str(tmp_path / "xdg")

    def args(self, *args: str, key: str | None = API_KEY) -> list[str]:
        cmd = [sys.executable, "-m", "spotzee_loader", *args]
        if self.mock is not None and "--base-url" not in args:
            cmd += ["--base-url", self.mock.base_url]
        if key is not None and "--api-key" not in args:
            cmd += ["--api-key", key]
        if "--checkpoint" not in args:
            cmd += ["--checkpoint", str(self.checkpoint)]
        return cmd

    def __call__(self, *args: str, key: str | None = API_KEY, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.args(*args, key=key), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.args(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


@pytest.fixture
def cli(tmp_path: Path, mock: MockSpotzee) -> Cli:
    return Cli(tmp_path, mock)


PG_ADMIN_URL = os.environ.get("SPOTZEE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; its URL. Skips outside CI when PostgreSQL is down."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({str(exc).strip()})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests (.ci/run starts the server).")
        pytest.skip(f"{reason}; start it with: pg_ctlcluster --skip-systemctl-redirect <version> main start")
    name = f"spotzee_test_{os.getpid()}"
    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def pg(pg_database: str) -> Iterator[tuple[str, Any, str]]:
    """``(database URL, autocommit connection, a fresh schema name)`` for one test."""
    import uuid

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(pg_database, autocommit=True)
    conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield pg_database, conn, schema
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()
