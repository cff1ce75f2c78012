"""Sources that grow (issue 27): rows appended to a file and files added to a folder go on under the same job, a touched
file is unchanged, and a file changed in place stops the job naming it. Real files changed between real runs, with
both checkpoint stores."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.sources import ResumePoint, open_source

from .conftest import Cli

HEADER = "order_id,customer_id,ordered_at,total\n"


def _lines(first: int, n: int) -> str:
    return "".join(
        f"{i},{5000 + i % 37},2024-03-01T{i % 24:02d}:{i % 60:02d}:{i % 7:02d}Z,{i}.50\n"
        for i in range(first, first + n)
    )


def _mapping(tmp_path: Path) -> str:
    path = tmp_path / "orders.toml"
    path.write_text(
        'name = "order_placed"\nexternal_id = "customer_id"\ncreated_at = "ordered_at"\nkey = ["order_id"]\n'
        'data_columns = ["order_id", "total"]\n'
    )
    return str(path)


def _ids(mock: MockSpotzee) -> Counter[int]:
    return Counter(int(e["data"]["order_id"]) for e in mock.events)


def _report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.fixture(params=["sqlite", "postgresql"])
def store_cli(request: pytest.FixtureRequest, cli: Cli) -> Cli:
    """The CLI with the embedded SQLite store, or a shared PostgreSQL one."""
    if request.param == "postgresql":
        url, _conn, _schema = request.getfixturevalue("pg")
        cli.checkpoint = url
    return cli


def test_rows_appended_to_a_csv_go_on_and_a_touch_changes_nothing(
    store_cli: Cli, mock: MockSpotzee, tmp_path: Path
) -> None:
    cli = store_cli
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + _lines(1, 300))
    report = tmp_path / "report.json"
    args = [str(path), "--mapping", _mapping(tmp_path), "--job", "growing", "--report", str(report)]
    assert cli(*args).returncode == 0
    assert _ids(mock) == Counter(range(1, 301))

    # Touched: a new modification time, the same bytes: nothing to send, nothing refused.
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    touched = cli(*args)
    assert touched.returncode == 0, touched.stderr
    assert "already finished: nothing to send" in touched.stdout
    assert len(mock.events) == 300

    # Rows appended: the next run sends them, and only them.
    with path.open("a") as out:
        out.write(_lines(301, 120))
    grown = cli(*args)
    assert grown.returncode == 0, grown.stderr
    assert _ids(mock) == Counter(range(1, 421))
    r = _report(report)
    assert (r["files_grown"], r["files_added"], r["rows_read"], r["events_sent"]) == ([str(path)], [], 120, 120)
    assert f"{path} grew by" in grown.stderr

    # An earlier row changed in place (same size): the job stops naming the file; nothing is sent.
    text = path.read_text()
    path.write_text(text.replace("\n7,", "\n8,", 1))
    changed = cli(*args)
    assert changed.returncode == 1, changed.stderr
    assert f"the source of job 'growing' changed since it was checkpointed: {path} changed in place" in changed.stderr
    assert "Traceback" not in changed.stderr
    assert len(mock.events) == 420


def test_a_folder_gains_files_and_the_next_run_loads_only_them(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    drop = tmp_path / "exports"
    drop.mkdir()
    (drop / "day-02.csv").write_text(HEADER + _lines(1, 100))
    (drop / "day-03.csv").write_text(HEADER + _lines(101, 150))
    report = tmp_path / "report.json"
    args = [str(drop), "--mapping", _mapping(tmp_path), "--job", "daily-drop", "--report", str(report)]
    assert cli(*args).returncode == 0
    assert _ids(mock) == Counter(range(1, 251))

    (drop / "day-04.csv").write_text(HEADER + _lines(251, 80))
    (drop / "day-05.csv").write_text(HEADER + _lines(331, 20))
    added = cli(*args)
    assert added.returncode == 0, added.stderr
    assert _ids(mock) == Counter(range(1, 351))
    r = _report(report)
    assert r["files_added"] == [str(drop / "day-04.csv"), str(drop / "day-05.csv")] and r["events_sent"] == 100

    # A new file that sorts before those read would shift their rows: refused, naming both files.
    (drop / "day-01.csv").write_text(HEADER + _lines(900, 10))
    early = cli(*args)
    assert early.returncode == 1
    assert f"{drop / 'day-01.csv'} is new but sorts before {drop / 'day-05.csv'}" in early.stderr
    (drop / "day-01.csv").unlink()

    # A file the job read that is gone: refused, naming it.
    (drop / "day-03.csv").rename(tmp_path / "archived.csv")
    gone = cli(*args)
    assert gone.returncode == 1
    assert f"{drop / 'day-03.csv'}, read by an earlier run, is gone" in gone.stderr
    assert len(mock.events) == 350


def test_growth_that_would_move_rows_already_sent_stops(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    drop = tmp_path / "exports"
    drop.mkdir()
    first, last = drop / "a.csv", drop / "b.csv"
    first.write_text(HEADER + _lines(1, 50))
    last.write_text(HEADER + _lines(51, 50).rstrip("\n"))  # no line end after its last row
    args = [str(drop), "--mapping", _mapping(tmp_path), "--job", "j"]
    assert cli(*args).returncode == 0
    assert _ids(mock) == Counter(range(1, 101))

    # Rows appended to a file before the last one would move the last one's rows.
    with first.open("a") as out:
        out.write(_lines(101, 5))
    moved = cli(*args)
    assert moved.returncode == 1
    assert f"{first} grew, but {last} after it was read already" in moved.stderr
    first.write_text(HEADER + _lines(1, 50))
    os.utime(first, ns=(0, 0))

    # The last file's last row had no line end when it was sent: what is appended may have finished that row.
    with last.open("a") as out:
        out.write("5\n" + _lines(101, 5))
    cut = cli(*args)
    assert cut.returncode == 1
    assert f"{last} grew, but its last line had no line end when it was read" in cut.stderr
    assert len(mock.events) == 100


def test_a_compressed_file_that_grew_stops_naming_the_file(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(gzip.compress((HEADER + _lines(1, 40)).encode()))
    args = [str(path), "--mapping", _mapping(tmp_path), "--job", "gz"]
    assert cli(*args).returncode == 0
    with path.open("ab") as out:  # a second gzip member: a valid file holding both
        out.write(gzip.compress(_lines(41, 10).encode()))
    again = cli(*args)
    assert again.returncode == 1
    assert f"{path} changed in place (a compressed file cannot be continued where it ended" in again.stderr
    assert _ids(mock) == Counter(range(1, 41))


def test_parquet_touched_is_unchanged_and_rewritten_is_named(cli: Cli, mock: MockSpotzee, write_parquet: Any) -> None:
    from .test_cli import order_ids, orders

    path = write_parquet(orders(200), name="orders.parquet")
    args = [str(path), "--preset", "orders", "--job", "pq"]
    assert cli(*args).returncode == 0
    os.utime(path, ns=(0, 10**18))
    touched = cli(*args)
    assert touched.returncode == 0 and "already finished: nothing to send" in touched.stdout
    write_parquet(orders(250), name="orders.parquet")
    rewritten = cli(*args)
    assert rewritten.returncode == 1
    assert f"{path} changed in place" in rewritten.stderr and "add new files instead" in rewritten.stderr
    assert order_ids(mock) == Counter(range(1, 201))


def test_a_run_reads_a_file_as_it_was_when_it_began(tmp_path: Path) -> None:
    """Rows appended while a run reads are left for the next run: the run reads the bytes it recorded, no more."""
    path = tmp_path / "live.csv"
    path.write_text(HEADER + _lines(1, 30))
    source = open_source(str(path))
    stock = source.take_stock({})
    assert stock is not None and [(r.name, r.size, r.line_end) for r in stock.records] == [
        (str(path), path.stat().st_size, True)
    ]
    with path.open("a") as out:
        out.write(_lines(31, 10) + "99,1,2024-03")  # a writer midway through a line
    rows = [v for b in source.batches(ResumePoint(), None) for v in b.batch.column("order_id").to_pylist()]
    assert rows == list(range(1, 31))

    later = open_source(str(path)).take_stock({r.name: r for r in stock.records})
    assert later is not None and later.grown == [(str(path), path.stat().st_size - stock.records[0].size)]
    assert later.changed == [] and later.records[0].line_end is False


def test_a_job_begun_before_file_records_resumes(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    """A store written by a loader before file records holds the old fingerprint and no files: the job resumes."""
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + _lines(1, 500))
    args = [str(path), "--mapping", _mapping(tmp_path), "--job", "old"]
    assert cli(*args, "--limit", "200").returncode == 0
    legacy = open_source(str(path)).fingerprint_before()
    with sqlite3.connect(cli.checkpoint) as db:  # as 0.1 left it
        db.execute("UPDATE spotzee_jobs SET source_fp = ? WHERE job = 'old'", (legacy,))
        db.execute("DELETE FROM spotzee_files WHERE job = 'old'")
    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert _ids(mock) == Counter(range(1, 501))
    with sqlite3.connect(cli.checkpoint) as db:
        assert db.execute("SELECT count(*) FROM spotzee_files WHERE job = 'old'").fetchone() == (1,)


def test_files_named_zstd_are_read_decompressed(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    """``.zstd`` is listed as a compression like ``.zst``; Arrow's detection knows only ``.zst`` (it read the
    compressed bytes as text)."""
    import pyarrow as pa

    with pa.CompressedOutputStream(str(tmp_path / "a.csv.zstd"), "zstd") as out:
        out.write((HEADER + _lines(1, 30)).encode())
    with pa.CompressedOutputStream(str(tmp_path / "b.jsonl.zstd"), "zstd") as out:
        for i in range(31, 41):
            row = {"order_id": i, "customer_id": 5000 + i, "ordered_at": f"2024-03-02T00:00:{i}Z", "total": 1}
            out.write(json.dumps(row).encode() + b"\n")
    for name in ("a.csv.zstd", "b.jsonl.zstd"):
        result = cli(str(tmp_path / name), "--mapping", _mapping(tmp_path), "--job", name)
        assert result.returncode == 0, result.stderr
    assert _ids(mock) == Counter(range(1, 41))
