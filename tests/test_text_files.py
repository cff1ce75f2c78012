"""CSV and JSON Lines files (plain, gzip, zstd) as a source: the same events as the same rows from Parquet,
one type per column (a value that does not fit is one rejected row), a kill then a resume, and a Segment
archive loaded as is."""

from __future__ import annotations

import decimal
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.examples import example_orders

from .conftest import Cli, kill_once_sending

NOTES = ("plain", 'comma, "quoted"', "two\nlines", "élève 日本語 😀", None, "")


def _orders(rows: int, seed: int = 7) -> pa.Table:
    """Example orders with text that CSV must quote (commas, quotes, newlines, non-ASCII, empty and null)."""
    table = example_orders(rows, seed=seed)
    notes = pa.array([NOTES[i % len(NOTES)] for i in range(rows)], pa.string())
    gift = pa.array([i % 3 == 0 for i in range(rows)], pa.bool_())
    return table.append_column("note", notes).append_column("gift", gift)


def _write_csv(table: pa.Table, path: Path, compression: str | None = None, delimiter: str = ",") -> Path:
    options = pacsv.WriteOptions(delimiter=delimiter)
    if compression is None:
        pacsv.write_csv(table, path, write_options=options)
    else:
        with pa.CompressedOutputStream(str(path), compression) as out:
            pacsv.write_csv(table, out, write_options=options)
    return path


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in row.items():
        if isinstance(value, decimal.Decimal):
            value = float(value)  # JSON has numbers, not decimals
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        out[name] = value
    return out


def _write_jsonl(table: pa.Table, path: Path, compression: str | None = None) -> Path:
    text = b"".join(orjson.dumps(_json_row(row)) + b"\n" for row in table.to_pylist())
    if compression is None:
        path.write_bytes(text)
    else:
        with pa.CompressedOutputStream(str(path), compression) as out:
            out.write(text)
    return path


def _bodies(path: Path, exact_numbers: bool = True) -> list[Any]:
    """Event bodies of a dry run's output: parsed with decimals kept, so 299.50 and 299.5 are the same number."""
    lines = path.read_text().splitlines()
    return [json.loads(line, parse_float=decimal.Decimal) for line in lines] if not exact_numbers else lines


def test_csv_and_json_lines_give_the_same_events_as_parquet(cli: Cli, tmp_path: Path) -> None:
    table = _orders(3_000)
    files = {
        "parquet": tmp_path / "orders.parquet",
        "csv": _write_csv(table, tmp_path / "orders.csv"),
        "csv.gz": _write_csv(table, tmp_path / "orders.csv.gz", "gzip"),
        "csv.zst": _write_csv(table, tmp_path / "orders.csv.zst", "zstd"),
        "tsv": _write_csv(table, tmp_path / "orders.tsv", delimiter="\t"),
        "jsonl": _write_jsonl(table, tmp_path / "orders.jsonl"),
        "jsonl.gz": _write_jsonl(table, tmp_path / "orders.jsonl.gz", "gzip"),
        "ndjson.zst": _write_jsonl(table, tmp_path / "orders.ndjson.zst", "zstd"),
    }
    pq.write_table(table, files["parquet"])
    outputs = {}
    for kind, path in files.items():
        out = tmp_path / f"{kind}.events"
        result = cli(str(path), "--preset", "orders", "--dry-run", "--output", str(out))
        assert result.returncode == 0, (kind, result.stderr[-2000:])
        assert "rows read 3,000; events 3,000; rejected 0" in result.stdout, (kind, result.stdout)
        outputs[kind] = out

    parquet = outputs["parquet"].read_text().splitlines()
    assert len(parquet) == 3_000
    for kind in ("csv", "csv.gz", "csv.zst", "tsv"):
        assert outputs[kind].read_text().splitlines() == parquet, kind  # byte for byte
    # JSON has no decimals: 299.50 arrives as the number 299.5, the same value; everything else byte for byte.
    as_values = [json.loads(line, parse_float=decimal.Decimal) for line in parquet]
    for kind in ("jsonl", "jsonl.gz", "ndjson.zst"):
        got = [json.loads(line, parse_float=decimal.Decimal) for line in outputs[kind].read_text().splitlines()]
        assert got == as_values, kind
    first = json.loads(parquet[0])
    assert first["data"]["note"] == NOTES[0] and first["data"]["gift"] is True and first["user"]["email"]
    assert {json.loads(line)["data"].get("note") for line in parquet} == set(NOTES)  # "" stays, null is left out


def _numbers_then_text(path: Path, rows: int, bad: int) -> None:
    """A CSV whose ``total`` is numeric for ``bad`` rows (well past Arrow's first block), then ``N/A`` once."""
    lines = ["order_id,customer_id,ordered_at,total"]
    for i in range(rows):
        total = "N/A" if i == bad else f"{i % 500}.{i % 100:02d}"
        lines.append(f"{i},{1000 + i % 97},2024-02-01T{i % 24:02d}:{i % 60:02d}:00Z,{total}")
    path.write_text("\n".join(lines) + "\n")


def test_a_value_that_does_not_fit_its_column_is_one_rejected_row(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    _numbers_then_text(source, 60_000, 55_555)
    assert source.stat().st_size > 3 * (1 << 20) // 2  # the bad value sits past the first 1 MiB block
    dead = tmp_path / "dead.jsonl"
    result = cli(str(source), "--preset", "orders", "--dead-letter", str(dead), "--max-rejected", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == [i for i in range(60_000) if i != 55_555] and set(ids.values()) == {1}
    (reject,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert reject["row"] == 55_555 and reject["file_row"] == 55_555 and reject["file"] == str(source)
    assert reject["reason_code"] == "value_invalid" and reject["field"] == "total"
    assert "column 'total' holds 'N/A', not a number" in reject["reason"]
    by_id = {e["data"]["order_id"]: e["data"]["total"] for e in mock.events}
    assert by_id[0] == 0.0 and by_id[1] == 1.01 and by_id[55_556] == 56.56  # numbers, not text


def test_json_lines_values_and_lines_that_do_not_fit_are_rejected_rows(cli: Cli, tmp_path: Path) -> None:
    lines = [orjson.dumps({"action": "viewed", "user_id": f"u{i}", "occurred_at": "2024-03-01T10:00:00Z",
                           "score": i}).decode() for i in range(20_000)]  # fmt: skip
    lines[15_000] = lines[15_000].replace('"score":15000', '"score":"high"')
    lines[16_000] = "{not json"
    lines[17_000] = "[1, 2]"
    lines.insert(18_000, "   ")  # a blank line is no row
    source = tmp_path / "actions.jsonl.gz"
    source.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    out, dead = tmp_path / "events.jsonl", tmp_path / "dead.jsonl"
    result = cli(str(source), "--preset", "actions", "--dry-run", "--output", str(out), "--dead-letter", str(dead))
    assert result.returncode == 3, result.stderr[-2000:]  # rejects past --max-rejected 0
    assert "rows read 20,000; events 19,997; rejected 3" in result.stdout
    rejects = {r["row"]: r for r in map(json.loads, dead.read_text().splitlines())}
    assert sorted(rejects) == [15_000, 16_000, 17_000]
    assert rejects[15_000]["reason_code"] == "value_invalid" and rejects[15_000]["field"] == "score"
    assert rejects[16_000]["reason_code"] == "line_invalid"
    assert rejects[17_000]["reason_code"] == "line_not_object"
    users = [json.loads(line)["external_id"] for line in out.read_text().splitlines()]
    assert users == [f"u{i}" for i in range(20_000) if i not in (15_000, 16_000, 17_000)]


def test_declared_types_win_over_what_the_first_rows_show(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(
        "order_id,customer_id,ordered_at,zip,flag,shipped\n"
        "1,007,2024-01-02 10:00:00,01234,1,2024-01-03 08:00:00\n"
        "2,008,2024-01-02 11:00:00,99501,0,\n"
    )
    mapping = tmp_path / "orders.toml"
    mapping.write_text(
        'name = "order_placed"\nexternal_id = "customer_id"\ncreated_at = "ordered_at"\ntimezone = "Europe/Paris"\n'
        'data_columns = "*"\n[types]\ncustomer_id = "string"\nzip = "string"\nflag = "boolean"\n'
        'shipped = "timestamp"\n'
    )
    out = tmp_path / "events.jsonl"
    result = cli(str(source), "--mapping", str(mapping), "--dry-run", "--output", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert first["external_id"] == "007" and first["data"]["zip"] == "01234" and first["data"]["flag"] is True
    assert first["created_at"] == "2024-01-02T09:00:00.000Z"  # naive, read in the mapping's zone
    assert first["data"]["shipped"] == "2024-01-03T07:00:00.000Z" and "shipped" not in second["data"]
    assert second["data"] == {"order_id": 2, "zip": "99501", "flag": False}


def test_a_killed_csv_load_resumes_without_a_duplicate(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    mock.configure({"enforce_idempotency": True})  # the chunks in flight at the kill are replayed by key
    table = _orders(12_000)
    source = _write_csv(table, tmp_path / "orders.csv.gz", "gzip")
    args = [str(source), "--preset", "orders", "--job", "csv-resume"]
    kill_once_sending(cli.popen(*args, "--rate-limit", "40"), mock, 3_000)
    assert mock.event_count < 12_000  # the kill landed mid-run
    again = cli(*args, "--rate-limit", "0")
    assert again.returncode == 0, again.stderr[-2000:]
    ids = Counter(e["data"]["order_id"] for e in mock.events)
    assert sorted(ids) == sorted(table.column("order_id").to_pylist()) and set(ids.values()) == {1}


SEGMENT_CALLS: list[dict[str, Any]] = [
    {"type": "track", "event": "Invoice Sent", "userId": "abc123", "messageId": "m1",
     "timestamp": "2024-03-01T10:00:00.120Z", "properties": {"total amount": 123.45, "currency": "usd"},
     "context": {"groupId": "xyz789", "ip": "192.0.2.1"}},
    {"type": "identify", "userId": "abc123", "messageId": "m2", "timestamp": "2024-03-01T10:00:01Z",
     "traits": {"email": "elon@example.com"}},
    {"type": "track", "event": "Page Viewed", "anonymousId": "anon-1", "messageId": "m3",
     "timestamp": "2024-03-02T10:00:00+02:00", "properties": {"path": "/pricing"}, "context": {}},
    {"type": "page", "userId": 42, "messageId": "m4", "timestamp": "2024-03-03T10:00:00Z", "name": "Home"},
    {"type": "group", "userId": "abc123", "groupId": "xyz789", "messageId": "m5", "timestamp": "2024-03-03T11:00:00Z"},
    {"type": "track", "event": "Order Completed", "userId": 42, "anonymousId": "anon-2", "messageId": "m6",
     "timestamp": "2024-03-04T09:30:00Z", "properties": {"order_id": "o-9", "revenue": 10}},
    {"type": "track", "event": "Order Completed", "messageId": "m7", "timestamp": "2024-03-04T09:31:00Z"},
]  # fmt: skip


def test_a_segment_archive_loads_as_is(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    archive = tmp_path / "segment-logs" / "src" / "1709251200000"
    archive.mkdir(parents=True)
    # Segment's archive: gzipped JSON Lines whose names say nothing of the format.
    (archive / "1709251200000.0b1c.gz").write_bytes(gzip.compress(b"\n".join(map(orjson.dumps, SEGMENT_CALLS[:4]))))
    (archive / "1709337600000.9f2e.gz").write_bytes(gzip.compress(b"\n".join(map(orjson.dumps, SEGMENT_CALLS[4:]))))
    report, dead = tmp_path / "report.json", tmp_path / "dead.jsonl"
    args = ["--format", "jsonl", "--preset", "segment", "--report", str(report), "--dead-letter", str(dead)]
    result = cli(str(tmp_path / "segment-logs"), *args, "--max-rejected", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert mock.events == [
        {"name": "Invoice Sent", "external_id": "abc123", "created_at": "2024-03-01T10:00:00.120Z",
         "data": {"total amount": 123.45, "currency": "usd", "group_id": "xyz789"}},
        {"name": "Page Viewed", "anonymous_id": "anon-1", "created_at": "2024-03-02T08:00:00.000Z",
         "data": {"path": "/pricing"}},
        {"name": "Order Completed", "external_id": "42", "anonymous_id": "anon-2",
         "created_at": "2024-03-04T09:30:00.000Z", "data": {"order_id": "o-9", "revenue": 10}},
    ]  # fmt: skip
    r = json.loads(report.read_text())
    assert r["rows_read"] == 7 and r["events_sent"] == 3 and r["rejected"] == 1
    assert r["rows_filtered"] == 3
    assert r["rows_filtered_by_value"] == {"type=group": 1, "type=identify": 1, "type=page": 1}
    (reject,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert reject["reason_code"] == "id_missing" and reject["key"] == {"messageId": "m7"}
    assert "left out by the mapping's only 3 (type=group 1, type=identify 1, type=page 1)" in result.stdout


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["a.parquet", "b.csv"], "holds csv and parquet files; name one kind with a glob or --format"),
        (["a.txt"], "cannot tell the format of"),
    ],
)
def test_a_folder_of_unclear_format_is_one_sentence(
    cli: Cli, write_parquet: Any, tmp_path: Path, names: list[str], expected: str
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    for name in names:
        if name.endswith(".parquet"):
            pq.write_table(example_orders(10), folder / name)
        else:
            (folder / name).write_text("order_id,customer_id,ordered_at\n1,2,2024-01-01\n")
    result = cli(str(folder), "--preset", "orders", "--dry-run")
    assert result.returncode == 2 and expected in result.stderr, result.stderr[-1000:]
    assert "Traceback" not in result.stderr


def test_a_csv_line_with_the_wrong_number_of_fields_is_one_rejected_row(cli: Cli, tmp_path: Path) -> None:
    lines = ["order_id,customer_id,ordered_at"] + [f"{i},{i % 50},2024-01-01T00:{i % 60:02d}:00Z" for i in range(9_000)]
    lines[4_001] = "4000,7"  # a field short
    lines[8_001] = "8000,7,2024-01-01T00:00:00Z,extra"  # one too many
    source = tmp_path / "orders.csv"
    source.write_text("\n".join(lines) + "\n")
    out, dead = tmp_path / "events.jsonl", tmp_path / "dead.jsonl"
    result = cli(str(source), "--preset", "orders", "--dry-run", "--output", str(out), "--dead-letter", str(dead))
    assert result.returncode == 3, result.stderr[-2000:]
    assert "rows read 9,000; events 8,998; rejected 2" in result.stdout and "Traceback" not in result.stderr
    rejects = sorted((json.loads(line) for line in dead.read_text().splitlines()), key=lambda r: r["reason"])
    assert [r["reason_code"] for r in rejects] == ["row_malformed", "row_malformed"]
    assert rejects[0]["reason"] == "line 4,002 has 2 fields where the header has 3: '4000,7'"
    assert rejects[1]["reason"].startswith("line 8,002 has 4 fields where the header has 3")
    sent = [json.loads(line)["data"]["order_id"] for line in out.read_text().splitlines()]
    assert sorted(sent) == [i for i in range(9_000) if i not in (4_000, 8_000)]


def test_a_file_that_is_not_what_its_name_says_is_one_sentence(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "orders.csv.gz"
    source.write_bytes(b"order_id,customer_id,ordered_at\n1,2,2024-01-01\n")  # named .gz, not compressed
    result = cli(str(source), "--preset", "orders")
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{source} is not a readable CSV file (" in result.stderr and "Traceback" not in result.stderr
    assert cli.mock is not None and cli.mock.event_count == 0


def test_the_window_applies_to_csv_and_json_lines_rows(cli: Cli, tmp_path: Path) -> None:
    table = _orders(2_000)
    times = table.column("ordered_at").to_pylist()
    since, until = sorted(times)[500], sorted(times)[1_500]
    expected = sorted(oid for oid, t in zip(table.column("order_id").to_pylist(), times, strict=True)
                      if since <= t < until)  # fmt: skip
    for path in (_write_csv(table, tmp_path / "orders.csv.zst", "zstd"), _write_jsonl(table, tmp_path / "o.jsonl")):
        out = tmp_path / f"{path.name}.events"
        window = ["--since", since.isoformat() + "Z", "--until", until.isoformat() + "Z"]
        result = cli(str(path), "--preset", "orders", *window, "--dry-run", "--output", str(out))
        assert result.returncode == 0, result.stderr[-2000:]
        assert "rows read 2,000; events 1,000; rejected 0; outside the window 1,000" in result.stdout
        assert sorted(json.loads(line)["data"]["order_id"] for line in out.read_text().splitlines()) == expected
