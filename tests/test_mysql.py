"""MySQL / MariaDB as a source, against the real MariaDB on 127.0.0.1:3306 (user root, database ``test``).

The same rows from MariaDB and from Parquet must give byte-identical events: DATETIME read in the mapping's
zone, TIMESTAMP as the UTC instant it stores, DECIMAL exact, BIGINT UNSIGNED whole, TINYINT(1) as a boolean,
JSON as objects, utf8mb4 text. And a killed load resumes by key.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spotzee_loader.api.mock import MockSpotzee

from .conftest import Cli, kill_once_sending

URL = "mysql://root@127.0.0.1:3306/test"
PARIS = dt.timezone(dt.timedelta(hours=1))  # Europe/Paris in January (CET)
MAPPING = """
name = "order_placed"
external_id = "customer_id"
created_at = "ordered_at"
timezone = "Europe/Paris"
key = ["order_id"]
data_json = "props"
data_columns = ["order_id", "total", "gift", "paid_at", "note"]
"""
NOTES = ("plain", "élève", "日本語", "emoji 😀", None)


def _rows(n: int) -> list[tuple[Any, ...]]:
    start = dt.datetime(2024, 1, 10, 8, 0)
    rows = []
    for i in range(1, n + 1):
        ordered = start + dt.timedelta(minutes=7 * i, milliseconds=i % 1000)
        paid = None if i % 9 == 0 else dt.datetime(2024, 1, 10, 6, 0) + dt.timedelta(minutes=11 * i)
        order_id = 2**64 - 1 - n + i if i > n - 3 else i  # the last ones past the signed 64-bit range
        props = None if i % 13 == 0 else f'{{"sku": "A{i}", "qty": {i % 4}, "tags": ["t{i % 3}"]}}'
        rows.append((order_id, 36900 + i, ordered, paid, decimal.Decimal(f"{194029 + i}.{i % 100:02d}"),
                     i % 2, props, NOTES[i % len(NOTES)]))  # fmt: skip
    return rows


def _create(conn: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    cursor = conn.cursor()
    cursor.execute(
        f"CREATE TABLE {table} (order_id BIGINT UNSIGNED PRIMARY KEY, customer_id BIGINT, ordered_at DATETIME(3), "
        "paid_at TIMESTAMP(3) NULL, total DECIMAL(12,2), gift TINYINT(1), props JSON, note VARCHAR(200)) "
        "CHARACTER SET utf8mb4"
    )
    cursor.execute("SET time_zone = '+00:00'")  # TIMESTAMP values written as the UTC instants they are
    cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)


def _parquet(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    """The same rows as a Parquet file, typed as a careful export would type them."""
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "order_id": pa.array(columns[0], pa.uint64()),
            "customer_id": pa.array(columns[1], pa.int64()),
            "ordered_at": pa.array(columns[2], pa.timestamp("ms")),  # naive: the mapping's zone applies
            "paid_at": pa.array(columns[3], pa.timestamp("ms", tz="UTC")),
            "total": pa.array(columns[4], pa.decimal128(12, 2)),
            "gift": pa.array([bool(v) for v in columns[5]], pa.bool_()),
            "props": pa.array(columns[6], pa.string()),
            "note": pa.array(columns[7], pa.string()),
        }
    )
    pq.write_table(table, path)
    return path


def test_mariadb_rows_give_the_same_events_as_parquet(cli: Cli, mariadb: tuple[Any, str], tmp_path: Path) -> None:
    conn, table = mariadb
    rows = _rows(1_500)
    _create(conn, table, rows)
    (tmp_path / "orders.toml").write_text(MAPPING)
    mapping = ["--mapping", str(tmp_path / "orders.toml")]
    from_db, from_file = tmp_path / "db.jsonl", tmp_path / "file.jsonl"

    db = cli(URL, "--table", table, *mapping, "--dry-run", "--output", str(from_db), "--page-rows", "400")
    file = cli(str(_parquet(tmp_path / "orders.parquet", rows)), *mapping, "--dry-run", "--output", str(from_file))

    assert db.returncode == 0, db.stderr[-2000:]
    assert file.returncode == 0, file.stderr[-2000:]
    assert from_db.read_bytes() == from_file.read_bytes()
    events = [json.loads(line) for line in from_db.read_text().splitlines()]
    assert len(events) == 1_500
    first = events[0]
    # 2024-01-10 08:07:00.001 in Paris (CET, +01:00) is 07:07:00.001 UTC.
    assert first["created_at"] == "2024-01-10T07:07:00.001Z"
    assert first["data"]["paid_at"] == "2024-01-10T06:11:00.000Z" and first["data"]["gift"] is True
    assert first["data"]["sku"] == "A1" and first["data"]["tags"] == ["t1"]  # the JSON object merged
    assert events[-1]["data"]["order_id"] == 2**64 - 1  # BIGINT UNSIGNED, whole
    assert {e["data"].get("note") for e in events} == {"plain", "élève", "日本語", "emoji 😀", None}


def test_mariadb_window_in_the_mappings_zone(cli: Cli, mariadb: tuple[Any, str], tmp_path: Path) -> None:
    conn, table = mariadb
    rows = _rows(600)
    _create(conn, table, rows)
    (tmp_path / "orders.toml").write_text(MAPPING)
    since, until = dt.datetime(2024, 1, 10, 12, 0, tzinfo=dt.UTC), dt.datetime(2024, 1, 11, 0, 0, tzinfo=dt.UTC)
    out = tmp_path / "window.jsonl"
    args = ["--table", table, "--mapping", str(tmp_path / "orders.toml"), "--dry-run", "--output", str(out)]
    result = cli(URL, *args, "--since", since.isoformat(), "--until", until.isoformat())
    assert result.returncode == 0, result.stderr[-2000:]
    expected = [r[0] for r in rows if since <= r[2].replace(tzinfo=PARIS) < until]
    got = [json.loads(line)["data"]["order_id"] for line in out.read_text().splitlines()]
    assert got == expected and len(expected) > 50


def test_mariadb_kill_9_then_resume_by_key(
    cli: Cli, mock: MockSpotzee, mariadb: tuple[Any, str], tmp_path: Path
) -> None:
    mock.configure({"enforce_idempotency": True})  # the chunks in flight at the kill are replayed by key
    conn, table = mariadb
    rows = _rows(12_000)
    _create(conn, table, rows)
    (tmp_path / "orders.toml").write_text(MAPPING)
    args = [URL, "--table", table, "--mapping", str(tmp_path / "orders.toml"), "--page-rows", "2000"]
    kill_once_sending(cli.popen(*args, "--rate-limit", "40"), mock, 3_000)
    assert mock.event_count < 12_000  # the kill landed mid-run
    again = cli(*args, "--rate-limit", "0")
    assert again.returncode == 0, again.stderr[-2000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == sorted(r[0] for r in rows) and set(ids.values()) == {1}
