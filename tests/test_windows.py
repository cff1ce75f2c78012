"""--since/--until on files: the cutover. Rows outside [since, until) on the mapped created_at are skipped and
counted (never rejected, never sent); row groups wholly outside it, by their statistics, are not even read."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spotzee_loader.api.mock import MockSpotzee

from .conftest import Cli, kill_once_sending

DAY0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
PER_DAY = 1_000


def four_days(path: Path) -> list[tuple[int, dt.datetime]]:
    """Four days of orders, one row group per day, a row every 86.4 s; the last row in the far future."""
    rows = [(d * PER_DAY + i, DAY0 + dt.timedelta(days=d, seconds=86.4 * i)) for d in range(4) for i in range(PER_DAY)]
    rows[-1] = (rows[-1][0], dt.datetime(2999, 1, 1, tzinfo=dt.UTC))  # past the cutover: skipped, not rejected
    ids, times = zip(*rows, strict=True)
    table = pa.table(
        {
            "order_id": pa.array(ids, pa.int64()),
            "customer_id": pa.array([f"c{i % 50}" for i in ids]),
            "ordered_at": pa.array(times, pa.timestamp("ms", tz="UTC")),
        }
    )
    pq.write_table(table, path, row_group_size=PER_DAY)
    return list(rows)


MAPPING = 'name = "order_placed"\nexternal_id = "customer_id"\ncreated_at = "ordered_at"\ndata_columns = ["order_id"]\n'


def _mapping(tmp_path: Path) -> str:
    (tmp_path / "orders.toml").write_text(MAPPING)
    return str(tmp_path / "orders.toml")


def test_a_window_on_a_parquet_file_loads_only_its_rows(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    rows = four_days(tmp_path / "orders.parquet")
    since, until = DAY0 + dt.timedelta(days=1, hours=12), DAY0 + dt.timedelta(days=3)
    report = tmp_path / "report.json"
    window = ["--since", since.isoformat(), "--until", until.isoformat()]
    result = cli(str(tmp_path / "orders.parquet"), "--mapping", _mapping(tmp_path), *window, "--report", str(report))

    assert result.returncode == 0, result.stderr[-2000:]
    expected = [i for i, t in rows if since <= t < until]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == expected and set(ids.values()) == {1}
    r = json.loads(report.read_text())
    assert (r["rows_read"], r["events_sent"], r["rejected"]) == (4 * PER_DAY, len(expected), 0)
    assert r["rows_outside_window"] == 4 * PER_DAY - len(expected) and r["rows_unfinished"] == 0
    # Day 0 and day 3 lie wholly outside: only the two row groups of days 1 and 2 can hold rows of the window.
    assert f"keeps at most {2 * PER_DAY:,} of these rows" in result.stderr
    assert f"outside the window {4 * PER_DAY - len(expected):,}" in result.stdout

    again = cli(str(tmp_path / "orders.parquet"), "--mapping", _mapping(tmp_path), *window)
    assert again.returncode == 0 and len(mock.events) == len(expected)  # finished: nothing more is sent


def test_row_groups_outside_the_window_are_not_read(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    four_days(path)
    # Break the data pages of the first row group (day 0): a reader that touched it would fail.
    meta = pq.ParquetFile(path).metadata.row_group(0)
    start = min(meta.column(c).data_page_offset for c in range(meta.num_columns))
    end = max(meta.column(c).data_page_offset + meta.column(c).total_compressed_size for c in range(meta.num_columns))
    data = bytearray(path.read_bytes())
    data[start + 16 : end - 16] = b"\xff" * (end - start - 32)
    path.write_bytes(bytes(data))
    since = (DAY0 + dt.timedelta(days=2)).isoformat()
    result = cli(str(path), "--mapping", _mapping(tmp_path), "--since", since, "--max-rejected", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    # Days 2 and 3; the far-future row is inside this open-ended window, so it is judged, and rejected.
    assert len(mock.events) == 2 * PER_DAY - 1 and "created_at_future 1" in result.stdout
    whole = cli(str(path), "--mapping", _mapping(tmp_path), "--job", "whole", "--allow-overlap")
    assert whole.returncode == 1 and "cannot read" in whole.stderr  # the broken group is really broken


def test_a_windowed_load_killed_midway_resumes(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    mock.configure({"enforce_idempotency": True})  # the chunks in flight at the kill are replayed by key
    rows = four_days(tmp_path / "orders.parquet")
    since = DAY0 + dt.timedelta(days=1)
    until = DAY0 + dt.timedelta(days=5)  # the far-future row stays outside: skipped, not rejected
    args = [str(tmp_path / "orders.parquet"), "--mapping", _mapping(tmp_path), "--since", since.isoformat()]
    args += ["--until", until.isoformat()]
    kill_once_sending(cli.popen(*args, "--rate-limit", "20", "--concurrency", "2"), mock, 600)
    assert mock.event_count < 3 * PER_DAY - 1
    assert cli(*args, "--rate-limit", "0").returncode == 0
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == [i for i, t in rows if since <= t < until] and set(ids.values()) == {1}


def test_verify_reads_the_jobs_window(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    four_days(tmp_path / "orders.parquet")
    until = DAY0 + dt.timedelta(days=1, hours=12)  # mid-way through day 1's row group
    job = cli(str(tmp_path / "orders.parquet"), "--mapping", _mapping(tmp_path), "--until", until.isoformat(),
              "--job", "cutover")  # fmt: skip
    assert job.returncode == 0, job.stderr[-2000:]
    verified = cli("verify", "cutover", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    days: list[dict[str, Any]] = json.loads(verified.stdout)["days"]
    assert [d["day"] for d in days] == ["2024-03-01", "2024-03-02"]
    assert sum(d["source"] for d in days) == PER_DAY + PER_DAY // 2 == sum(d["spotzee"] for d in days)
