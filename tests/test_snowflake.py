"""Snowflake tables and queries (issue 28), through the real Snowflake connector against fakesnow's standalone
server on loopback (DuckDB underneath): exact events, windows, a query, and a keyset resume across pages; and a
postgresql:// URL to Redshift, which cannot run here, shown by a PostgreSQL that answers version() as Redshift."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spotzee_loader.api.mock import MockSpotzee

from .conftest import Cli

ROWS = 1_000
START = dt.datetime(2019, 3, 1, 0, 0, 0)
MAPPING = (
    'name = "order_placed"\nexternal_id = "customer_id"\ncreated_at = "ordered_at"\nkey = ["order_id"]\n'
    'data_columns = ["order_id", "total"]\n'
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def snowflake() -> Iterator[str]:
    """A fakesnow server with ``db1.s1.orders`` (1,000 orders, one a minute, totals as NUMBER(12,2)); its URL."""
    pytest.importorskip("snowflake.connector", reason="the Snowflake tests need pip install -e '.[test]'")
    import snowflake.connector

    executable = shutil.which("fakesnow", path=str(Path(sys.executable).parent))
    assert executable is not None, "fakesnow is in the test extra"
    port = _free_port()
    server = subprocess.Popen([executable, "-s", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = snowflake.connector.connect(
                    user="loader", password="pw", account="fakesnow", host="127.0.0.1", port=port, protocol="http"
                )
                break
            except snowflake.connector.errors.Error:
                assert server.poll() is None and time.monotonic() < deadline, "fakesnow did not start"
                time.sleep(0.2)
        cur = conn.cursor()
        for statement in (
            "CREATE DATABASE db1",
            "USE DATABASE db1",
            "CREATE SCHEMA s1",
            "USE SCHEMA s1",
            "CREATE TABLE orders (order_id INT, customer_id VARCHAR, ordered_at TIMESTAMP_NTZ, total NUMBER(12,2))",
        ):
            cur.execute(statement)
        rows = [
            (i, f"c{i % 37}", (START + dt.timedelta(minutes=i, milliseconds=i % 1000)).isoformat(sep=" "), f"{i}.25")
            for i in range(1, ROWS + 1)
        ]
        values = ", ".join(f"({i}, '{c}', '{t}', {v})" for i, c, t, v in rows)
        cur.execute(f"INSERT INTO orders VALUES {values}")
        conn.close()
        yield f"snowflake://loader:s3cret-pw@fakesnow/db1/s1?host=127.0.0.1&port={port}&protocol=http"
    finally:
        server.terminate()
        server.wait(10)


def _mapping(tmp_path: Path) -> str:
    path = tmp_path / "orders.toml"
    path.write_text(MAPPING)
    return str(path)


def _ids(mock: MockSpotzee) -> Counter[int]:
    return Counter(e["data"]["order_id"] for e in mock.events)


def test_a_snowflake_table_arrives_exactly(cli: Cli, mock: MockSpotzee, snowflake: str, tmp_path: Path) -> None:
    result = cli(snowflake, "--table", "orders", "--mapping", _mapping(tmp_path), "--job", "sf")
    assert result.returncode == 0, result.stderr
    assert _ids(mock) == Counter(range(1, ROWS + 1))
    first = next(e for e in mock.events if e["data"]["order_id"] == 1)
    assert first == {
        "name": "order_placed",
        "external_id": "c1",
        "created_at": "2019-03-01T00:01:00.001Z",
        "data": {"order_id": 1, "total": 1.25},
    }
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_a_window_a_query_and_a_resume_across_pages(
    cli: Cli, mock: MockSpotzee, snowflake: str, tmp_path: Path
) -> None:
    window = ["--since", "2019-03-01T01:00:00Z", "--until", "2019-03-01T10:00:00Z"]
    args = [snowflake, "--table", "orders", "--mapping", _mapping(tmp_path), *window, "--page-rows", "150"]
    sample = cli(*args, "--job", "sf-window", "--limit", "200")
    assert sample.returncode == 0, sample.stderr
    assert _ids(mock) == Counter(range(60, 260))  # minute 60 is 01:00:00.060, the first inside the window
    rest = cli(*args, "--job", "sf-window")
    assert rest.returncode == 0, rest.stderr
    assert _ids(mock) == Counter(range(60, 600))  # minute 600 is 10:00: outside [since, until)

    mock.reset()
    query = tmp_path / "big.sql"
    query.write_text("SELECT * FROM orders WHERE total >= 990\n")
    by_query = [snowflake, "--sql-file", str(query), "--mapping", _mapping(tmp_path), "--job", "sf-query"]
    # The query reads the table sf-window read; that its WHERE leaves those rows out is not seen: asked to be sure.
    refused = cli(*by_query)
    assert refused.returncode == 2 and "would send rows that job 'sf-window' already sent" in refused.stderr
    assert cli(*by_query, "--allow-overlap").returncode == 0
    assert _ids(mock) == Counter(range(990, ROWS + 1))


def test_a_wrong_table_is_one_sentence(cli: Cli, mock: MockSpotzee, snowflake: str, tmp_path: Path) -> None:
    result = cli(snowflake, "--table", "ordres", "--mapping", _mapping(tmp_path), "--job", "sf-typo")
    assert result.returncode == 2
    assert "Snowflake refused the query" in result.stderr and "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr and mock.events == []


def test_a_postgresql_url_to_redshift_takes_the_row_path(cli: Cli, mock: MockSpotzee, pg: Any, tmp_path: Path) -> None:
    """Redshift has no COPY ... TO STDOUT. A PostgreSQL whose version() answers as Redshift's does (a function ahead
    of pg_catalog on the search path) is read through the cursor, and the load is exact."""
    from .test_warehouse import make_orders, mapping_file

    url, conn, schema = pg
    make_orders(conn, f"{schema}.orders", 300)
    conn.execute(
        f"CREATE FUNCTION {schema}.version() RETURNS text LANGUAGE sql AS $$ SELECT 'PostgreSQL 8.0.2 on "
        "i686-pc-linux-gnu, compiled by GCC gcc (GCC) 3.4.2 20041017 (Red Hat 3.4.2-6.fc3), Redshift 1.0.77467' $$"
    )
    redshift = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema},pg_catalog"
    result = cli(redshift, "--table", f"{schema}.orders", "--mapping", mapping_file(tmp_path), "--job", "redshift")
    assert result.returncode == 0, result.stderr
    assert "is Amazon Redshift: rows are read through the cursor" in result.stderr
    assert Counter(e["data"]["order_id"] for e in mock.events) == Counter(range(1, 301))
