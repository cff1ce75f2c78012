"""Shared fixtures: a real mock Spotzee on loopback, the real CLI in a subprocess, Parquet writers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spotzee_loader.api.mock import MockConfig, MockSpotzee

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


class Proxy:
    """A real forwarding HTTP proxy on loopback (proxy.py) that asks for a user and password."""

    def __init__(self, tmp_path: Path, user: str, password: str) -> None:
        port_file = tmp_path / "proxy.port"
        self.log = tmp_path / "proxy.log"
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0", "--port-file"),
                *(str(port_file), "--basic-auth", f"{user}:{password}", "--num-workers", "1", "--num-acceptors"),
                *("1", "--threaded", "--log-file", str(self.log)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert self.process.poll() is None, "proxy.py exited at start"
            assert time.monotonic() < deadline, "proxy.py did not start within 30 s"
            time.sleep(0.05)
        self.port = int(port_file.read_text().strip())
        self.url = f"http://{user}:{password}@127.0.0.1:{self.port}"

    def forwarded(self, path: str) -> int:
        """How many requests for ``path`` the proxy logged as forwarded."""
        return sum(1 for line in self.log.read_text().splitlines() if "access_log" in line and path in line)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def proxy_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Proxy] = []

    def start(user: str, password: str) -> Proxy:
        started.append(Proxy(tmp_path, user, password))
        return started[-1]

    yield start
    for p in started:
        p.stop()


def role_url(pg_database: str, role: str, password: str, *, in_query: bool = False) -> str:
    """A URL of the test database for ``role``, its password in the userinfo or as ``?password=``."""
    db = pg_database.rsplit("/", 1)[1]
    if in_query:
        return f"postgresql://{role}@127.0.0.1:5432/{db}?password={password}"
    return f"postgresql://{role}:{password}@127.0.0.1:5432/{db}"


@pytest.fixture
def secret_role(pg: tuple[str, Any, str]) -> Iterator[str]:
    """A PostgreSQL login role with a password (loopback trust auth accepts it; libpq still carries it)."""
    _, conn, schema = pg
    role = f"loader_{schema}"
    conn.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'SrcPw-7f3a9c'")
    try:
        yield role
    finally:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")
