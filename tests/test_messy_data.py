"""Defects found on messy data by a new user (issue 26), each pinned by a test that failed before its fix."""

from __future__ import annotations

import json
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from spotzee_loader.api.mock import MockSpotzee

from .conftest import Cli, kill_once_sending
from .test_cli import orders

MAPPING = """
name = "order_placed"
external_id = "customer_id"
created_at = "ordered_at"
key = ["order_id"]
[data]
order_id = "order_id"
total = "total"
[types]
total = "number"
"""


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("order_id,customer_id,ordered_at,total,email\n" + "".join(r + "\n" for r in rows))
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_holding_rows_are_the_owners_alone_whatever_the_umask(
    cli: Cli, mock: MockSpotzee, tmp_path: Path
) -> None:
    cli.umask = 0  # the loosest: every mode below is set by the loader, not left to the umask
    source = _csv(
        tmp_path / "orders.csv",
        ["1,c1,2024-03-01T10:00:00Z,10.5,a@example.com", "2,c2,2024-03-01T11:00:00Z,N/A,b@example.com"],
    )
    (tmp_path / "m.toml").write_text(MAPPING)
    output, report = tmp_path / "out" / "events.jsonl", tmp_path / "run.json"
    args = ["--mapping", str(tmp_path / "m.toml"), "--job", "perm", "--report", str(report), "--max-rejected", "1"]
    rehearsal = cli(str(source), *args, "--dry-run", "--output", str(output))
    assert rehearsal.returncode == 0, rehearsal.stderr
    result = cli(str(source), *args)
    assert result.returncode == 0, result.stderr
    assert [e["data"]["order_id"] for e in mock.events] == [1]
    state = cli.checkpoint.parent
    dead_letter = state / "dead-letter" / "perm.jsonl"
    assert json.loads(dead_letter.read_text())["source"]["customer_id"] == "c2"
    files = [cli.checkpoint, dead_letter, output, report]
    assert {str(f): _mode(f) for f in files} == {str(f): 0o600 for f in files}
    folders = [state, state / "dead-letter", output.parent]
    assert {str(f): _mode(f) for f in folders} == {str(f): 0o700 for f in folders}
    kept = [state, *state.rglob("*")]  # SQLite's -wal and -shm too, when a run leaves them
    assert {str(p): _mode(p) for p in kept} == {str(p): 0o600 if p.is_file() else 0o700 for p in kept}

    dead_letter.write_text(dead_letter.read_text().replace('"total":"N/A"', '"total":"12.25"'))
    resend = cli("resend", str(dead_letter), "--mapping", str(tmp_path / "m.toml"))
    assert resend.returncode == 0, resend.stderr
    copies = sorted((state / "resend").rglob("*"))
    assert copies, "resend wrote no copy of the rows"
    assert {str(p): _mode(p) for p in copies} == {str(p): 0o600 if p.is_file() else 0o700 for p in copies}
    assert _mode(state / "resend") == 0o700


def test_lock_files_do_not_pile_up(cli: Cli, mock: MockSpotzee, write_parquet: object, tmp_path: Path) -> None:
    path = str(write_parquet(orders(3_000)))  # type: ignore[operator]
    for job in ("a", "b", "c"):  # three copies, asked for
        assert cli(path, "--preset", "orders", "--job", job, "--allow-overlap").returncode == 0
    assert sorted(cli.checkpoint.parent.glob("*.lock")) == []
    # A run killed mid-flight cannot remove its own: the next one on the store does, and finishes the job.
    killed = cli.popen(path, "--preset", "orders", "--job", "killed", "--rate-limit", "5", "--allow-overlap")
    kill_once_sending(killed, mock, 9_200)  # 9,000 from the three jobs before
    assert len(list(cli.checkpoint.parent.glob("*.lock"))) == 1
    assert cli(path, "--preset", "orders", "--job", "other", "--allow-overlap").returncode == 0
    assert sorted(cli.checkpoint.parent.glob("*.lock")) == []
    assert cli(path, "--preset", "orders", "--job", "killed", "--allow-overlap").returncode == 0
    assert sorted(cli.checkpoint.parent.glob("*.lock")) == []


ZERO_DATE_MAPPING = """
name = "order_placed"
external_id = "customer_id"
created_at = "ordered_at"
key = ["order_id"]
data_columns = ["order_id", "shipped_on", "attrs"]
"""


def _legacy_table(conn: Any, table: str) -> None:
    cursor = conn.cursor()
    cursor.execute("SET SESSION sql_mode = ''")  # legacy MySQL: zero dates allowed
    cursor.execute(
        f"CREATE TABLE {table} (order_id INT PRIMARY KEY, customer_id VARCHAR(20), ordered_at DATETIME, "
        "paid_at TIMESTAMP NULL, shipped_on DATE, attrs JSON)"
    )
    cursor.executemany(
        f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s)",
        [
            (1, "c1", "2022-03-27 01:30:00", "2022-03-27 01:30:00", "2022-03-28", '{"a": 1}'),
            (2, "c2", "0000-00-00 00:00:00", "2022-03-27 02:30:00", "2022-03-28", '{"a": 2}'),
            (3, "c3", "2022-03-27 03:30:00", "0000-00-00 00:00:00", "0000-00-00", '{"a": 3}'),
            (4, "c4", "2022-03-27 04:30:00", None, None, None),
        ],
    )


def test_a_zero_date_rejects_its_own_row_and_json_columns_arrive_as_objects_on_both_urls(
    cli: Cli, mock: MockSpotzee, mariadb: tuple[Any, str], tmp_path: Path
) -> None:
    conn, table = mariadb
    _legacy_table(conn, table)
    (tmp_path / "m.toml").write_text(ZERO_DATE_MAPPING)
    sent: dict[str, list[dict[str, Any]]] = {}
    for scheme in ("mysql", "mariadb"):
        mock.reset()
        job = f"zero-{scheme}"
        url = f"{scheme}://root@127.0.0.1:3306/test"
        args = [url, "--table", table, "--mapping", str(tmp_path / "m.toml"), "--job", job, "--max-rejected", "2"]
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        sent[scheme] = sorted(mock.events, key=lambda e: e["data"]["order_id"])
        letters = [
            json.loads(line)
            for line in (cli.checkpoint.parent / "dead-letter" / f"{job}.jsonl").read_text().splitlines()
        ]
        assert [(d["key"], d["field"], d["reason"]) for d in letters] == [
            ({"order_id": 2}, "ordered_at",
             "column 'ordered_at' holds '0000-00-00 00:00:00', not a date and time (MySQL's zero date: no real time)"),
            ({"order_id": 3}, "shipped_on",
             "column 'shipped_on' holds '0000-00-00', not a date (MySQL's zero date: no real time)"),
        ]  # fmt: skip
        assert letters[0]["source"]["ordered_at"] == "0000-00-00 00:00:00"
        assert letters[1]["source"]["shipped_on"] == "0000-00-00"
    assert sent["mysql"] == sent["mariadb"]
    assert [(e["data"]["order_id"], e["created_at"], e["data"].get("attrs")) for e in sent["mysql"]] == [
        (1, "2022-03-27T01:30:00.000Z", {"a": 1}),
        (4, "2022-03-27T04:30:00.000Z", None),
    ]
    assert sent["mysql"][0]["data"]["shipped_on"] == "2022-03-28"


def test_a_stray_value_from_a_driver_is_a_fault_on_its_row_and_mixed_json_is_not() -> None:
    import datetime as dt
    import decimal

    from spotzee_loader.mapping import VALUE_FAULT
    from spotzee_loader.sources.arrow_rows import rows_to_batch

    rows = [
        (dt.datetime(2022, 3, 27, 1, 30), decimal.Decimal("1.50"), {"a": 1}),
        ("0000-00-00 00:00:00", "N/A", [1, 2]),
        (dt.datetime(2022, 3, 27, 3, 30), decimal.Decimal("2.25"), True),
    ]
    batch = rows_to_batch(["at", "amount", "props"], rows)
    assert batch.schema.field("at").type == pa.timestamp("us")
    assert batch.column("amount").to_pylist() == [decimal.Decimal("1.50"), None, decimal.Decimal("2.25")]
    assert batch.column("props").to_pylist() == ['{"a":1}', "[1,2]", "true"]  # a JSON column's kinds are its own
    faults = [None if f is None else json.loads(f) for f in batch.column(VALUE_FAULT).to_pylist()]
    assert faults == [
        None,
        {
            "faults": [
                ["value_invalid", "at",
                 "column 'at' holds '0000-00-00 00:00:00', not a date and time (MySQL's zero date: no real time)"],
                ["value_invalid", "amount", "column 'amount' holds 'N/A', not a number"],
            ],
            "values": {"at": "0000-00-00 00:00:00", "amount": "N/A"},
        },
        None,
    ]  # fmt: skip


RESEND_MAPPING = """
name = "order_placed"
external_id = "customer_id"
created_at = "ordered_at"
key = ["order_id"]
data_columns = ["order_id", "total", "qty"]
[types]
total = "number"
"""


def test_resend_reads_a_fixed_row_as_the_original_load_would_and_refuses_what_it_refused(
    cli: Cli, mock: MockSpotzee, tmp_path: Path
) -> None:
    header = "order_id,customer_id,ordered_at,total,qty\n"
    # "1,234.5O": a letter O typed for a zero (a currency sign and thousands commas are read since issue 28)
    rows = ["1,c1,2024-03-01T10:00:00Z,10.50,1", "2,c2,2024-03-01T11:00:00Z,\"1,234.5O\",2",
            "3,c3,2024-03-01T12:00:00Z,N/A,3", "4,c4,2024-03-01T13:00:00Z,7.25,4"]  # fmt: skip
    (tmp_path / "orders.csv").write_text(header + "\n".join(rows) + "\n")
    (tmp_path / "m.toml").write_text(RESEND_MAPPING)
    mapping = ["--mapping", str(tmp_path / "m.toml")]
    first = cli(str(tmp_path / "orders.csv"), *mapping, "--job", "shop", "--max-rejected", "3")
    assert first.returncode == 0, first.stderr
    assert [e["data"]["order_id"] for e in mock.events] == [1, 4]
    dead_letter = cli.checkpoint.parent / "dead-letter" / "shop.jsonl"
    letters = [json.loads(line) for line in dead_letter.read_text().splitlines()]
    assert [(d["key"]["order_id"], d["field"], d["source"][d["field"]]) for d in letters] == [
        (2, "total", "1,234.5O"),
        (3, "total", "N/A"),
    ]  # the values as the file held them, not nulls
    assert letters[0]["types"] == {"order_id": "integer", "customer_id": "string", "ordered_at": "string",
                                   "total": "number", "qty": "integer"}  # fmt: skip
    letters[0]["source"]["total"] = "1234.50"  # fixed; line 3 keeps its N/A
    dead_letter.write_text("".join(json.dumps(d) + "\n" for d in letters))

    mock.reset()
    resent = cli("resend", str(dead_letter), "--max-rejected", "1")
    assert resent.returncode == 0, resent.stderr
    # What the original load makes of the same rows, fixed, read from a CSV file.
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(header + "2,c2,2024-03-01T11:00:00Z,1234.50,2\n")
    out = tmp_path / "fixed.jsonl"
    dry = cli(str(fixed), *mapping, "--dry-run", "--output", str(out))
    assert dry.returncode == 0, dry.stderr
    expected = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(mock.events, key=lambda e: e["data"]["order_id"]) == expected
    assert expected[0]["data"] == {"order_id": 2, "total": 1234.50, "qty": 2}
    again = [json.loads(line) for line in dead_letter.with_name("shop.resend-rows.jsonl").read_text().splitlines()]
    assert [(d["key"], d["reason"]) for d in again] == [
        ({"order_id": 3}, "column 'total' holds 'N/A', not a number (declared in the mapping's [types])")
    ]


def test_a_fixed_dead_letter_file_is_never_written_over(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    header = "order_id,customer_id,ordered_at,total,qty\n"
    rows = ["1,c1,2024-03-01T10:00:00Z,10.50,1", "2,c2,2024-03-01T11:00:00Z,N/A,2", "3,c3,2024-03-01T12:00:00Z,7,x"]
    (tmp_path / "orders.csv").write_text(header + "\n".join(rows) + "\n")
    (tmp_path / "m.toml").write_text(RESEND_MAPPING)
    report = tmp_path / "r.json"
    args = [str(tmp_path / "orders.csv"), "--mapping", str(tmp_path / "m.toml"), "--job", "shop"]
    args += ["--max-rejected", "5", "--report", str(report)]
    assert cli(*args).returncode == 0
    dead_letter = cli.checkpoint.parent / "dead-letter" / "shop.jsonl"
    fixed = dead_letter.read_text().replace('"N/A"', '"2.50"')
    dead_letter.write_text(fixed)  # the README's repair loop: fix the rows, then resend

    again = cli(*args)  # the original command again, by habit: nothing to send
    assert again.returncode == 0, again.stderr
    assert "already finished" in again.stdout
    assert dead_letter.read_text() == fixed
    assert json.loads(report.read_text())["dead_letter"] == str(dead_letter)

    # New rejects for the job (qty now must be an integer): written beside the fixed file, never over it.
    (tmp_path / "m.toml").write_text(RESEND_MAPPING + 'qty = "integer"\n')
    restarted = cli(*args, "--restart", "--yes")
    assert restarted.returncode == 0, restarted.stderr
    assert dead_letter.read_text() == fixed
    beside = Path(json.loads(report.read_text())["dead_letter"])
    assert beside.parent == dead_letter.parent and beside.name.startswith("shop.") and beside != dead_letter
    assert [json.loads(line)["key"] for line in beside.read_text().splitlines()] == [{"order_id": 2}, {"order_id": 3}]
    assert f"your edits are kept, and this job's dead letters, now 2 row(s), are written to {beside}" in (
        restarted.stderr
    )
    assert _mode(beside) == 0o600


def _empty_parquet(path: Path) -> None:
    import pyarrow.parquet as pq

    columns = {"order_id": pa.int64(), "customer_id": pa.string(), "ordered_at": pa.timestamp("ms")}
    pq.write_table(pa.table({n: pa.array([], t) for n, t in columns.items()}), path)


EMPTY_SOURCES = {
    "header-only.csv": lambda p: p.write_text("order_id,customer_id,ordered_at\n"),
    "zero-bytes.csv": lambda p: p.write_bytes(b""),
    "no-lines.jsonl": lambda p: p.write_bytes(b""),
    "blank-lines.jsonl": lambda p: p.write_bytes(b"\n\n"),
    "no-rows.parquet": _empty_parquet,
}


@pytest.mark.parametrize("name", EMPTY_SOURCES)
def test_an_empty_export_is_a_finished_run_with_nothing_sent(
    cli: Cli, mock: MockSpotzee, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    EMPTY_SOURCES[name](path)
    report = tmp_path / "r.json"
    result = cli(str(path), "--preset", "orders", "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert "The source is empty (0 rows): nothing to send, 0 events." in result.stdout
    r = json.loads(report.read_text())
    assert (r["status"], r["source_empty"], r["rows_read"], r["events_sent"]) == ("finished", True, 0, 0)
    assert mock.requests == []


def test_an_empty_file_before_others_in_a_folder_is_skipped(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "2024-03-01.csv").write_bytes(b"")
    (folder / "2024-03-02.csv").write_text("order_id,customer_id,ordered_at\n")
    (folder / "2024-03-03.csv").write_text("order_id,customer_id,ordered_at\n7,c7,2024-03-03T10:00:00Z\n")
    result = cli(str(folder), "--preset", "orders")
    assert result.returncode == 0, result.stderr
    assert [(e["external_id"], e["data"]["order_id"]) for e in mock.events] == [("c7", 7)]


def test_columns_that_become_one_property_are_a_mapping_error_naming_both(
    cli: Cli, mock: MockSpotzee, tmp_path: Path
) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(
        "order_id,customer_id,ordered_at,Order Total,order_total\n1,c1,2024-03-01T10:00:00Z,10.50,11.50\n"
    )
    (tmp_path / "m.toml").write_text(
        'name = "order_placed"\nexternal_id = "customer_id"\ncreated_at = "ordered_at"\ndata_columns = "*"\n'
    )
    result = cli(str(source), "--mapping", str(tmp_path / "m.toml"))
    assert result.returncode == 2
    assert (
        "columns 'Order Total' and 'order_total' both become the data property 'order_total'; name one yourself "
        "under [data] (say order_total_2 = 'order_total')"
    ) in result.stderr
    assert mock.requests == []
    # The fix the sentence gives: each value arrives once, under its own key.
    with (tmp_path / "m.toml").open("a") as m:
        m.write('[data]\ngross_total = "Order Total"\n')
    out = tmp_path / "events.jsonl"
    dry = cli(str(source), "--mapping", str(tmp_path / "m.toml"), "--dry-run", "--output", str(out))
    assert dry.returncode == 0, dry.stderr
    sent = out.read_text()  # the bytes a request would carry
    assert sent.count('"order_total"') == 1 and sent.count('"gross_total"') == 1
    fixed = cli(str(source), "--mapping", str(tmp_path / "m.toml"))
    assert fixed.returncode == 0, fixed.stderr
    assert mock.events[0]["data"] == {"order_id": 1, "order_total": 11.50, "gross_total": 10.50}


def test_property_names_keep_their_letters_in_any_script() -> None:
    from spotzee_loader.mapping.names import snake_case

    names = ["Ünit", "Größe", "注文番号", "E-Mail", "totalAmount", "HTTPServer", "Prix TTC (€)", "Straße 2"]
    assert [snake_case(n) for n in names] == [
        "ünit", "größe", "注文番号", "e_mail", "total_amount", "http_server", "prix_ttc", "straße_2"
    ]  # fmt: skip


@pytest.mark.parametrize("command", [[], ["status"], ["verify"], ["resend"], ["mock-server"]])
def test_every_option_of_every_command_says_what_it_does(command: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "spotzee_loader", *command, "--help"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    options = done.stdout.split("options:")[1]
    # An option line with nothing after its name and metavar (argparse puts the help beside or below it).
    lines = options.splitlines()
    bare = [
        line.strip() for i, line in enumerate(lines)
        if re.match(r"^  -", line) and not re.search(r"\S\s{2,}\S", line.strip())
        and (i + 1 == len(lines) or not re.match(r"^\s{6,}\S", lines[i + 1]))
    ]  # fmt: skip
    assert bare == []


def test_a_taken_port_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "spotzee_loader", "mock-server", "--port", str(port)],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port} (Address already in use); another process may hold the port: "
        "choose another with --port (0 picks a free one)."
    )


def test_a_dry_run_names_the_job_the_real_run_will_have(cli: Cli, mock: MockSpotzee, write_parquet: Any) -> None:
    path = str(write_parquet(orders(300)))
    dry = cli(path, "--preset", "orders", "--dry-run")
    real = cli(path, "--preset", "orders")
    assert dry.returncode == real.returncode == 0
    named = re.search(r"Dry run of job (\S+):", dry.stdout)
    assert named is not None and f"Job {named[1]}: finished." in real.stdout


def test_a_null_property_from_a_json_properties_column_is_left_out(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    line = {"action": "signed_up", "occurred_at": "2024-03-01T10:00:00Z", "user_id": "u1",
            "properties": {"coupon": None, "plan": "pro", "limits": {"seats": None}, "tags": [1, None]}}  # fmt: skip
    (tmp_path / "actions.jsonl").write_text(json.dumps(line) + "\n")
    result = cli(str(tmp_path / "actions.jsonl"), "--preset", "actions")
    assert result.returncode == 0, result.stderr
    # The property is left out; a value's own inner nulls are part of the value.
    assert mock.events[0]["data"] == {"plan": "pro", "limits": {"seats": None}, "tags": [1, None]}


@pytest.mark.parametrize("wanted", ["[0]", '["0"]', "[false]", "false", '"false"'])
def test_only_takes_numbers_and_booleans_as_the_column_holds_them(
    cli: Cli, mock: MockSpotzee, write_parquet: Any, tmp_path: Path, wanted: str
) -> None:
    table = orders(6).append_column("is_test", pa.array([False, True, False, None, True, False]))
    table = table.append_column("shop", pa.array([0, 1, 0, 0, 2, 0], pa.int64()))
    (tmp_path / "m.toml").write_text(
        'name = "order_placed"\nexternal_id = "anonymous_id"\ncreated_at = "ordered_at"\nkey = ["order_id"]\n'
        f'data_columns = ["order_id"]\n[only]\nis_test = {wanted}\nshop = [0, "2"]\n'
    )
    report = tmp_path / "r.json"
    result = cli(str(write_parquet(table)), "--mapping", str(tmp_path / "m.toml"), "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert sorted(e["data"]["order_id"] for e in mock.events) == [1, 3, 6]
    assert json.loads(report.read_text())["rows_filtered_by_value"] == {
        "is_test=(empty)": 1, "is_test=true": 2
    }  # fmt: skip


def test_an_only_value_the_column_cannot_hold_is_a_mapping_error(
    cli: Cli, mock: MockSpotzee, write_parquet: Any, tmp_path: Path
) -> None:
    table = orders(3).append_column("is_test", pa.array([False, True, False]))
    (tmp_path / "m.toml").write_text(
        'name = "order_placed"\nexternal_id = "anonymous_id"\ncreated_at = "ordered_at"\n'
        '[only]\nis_test = ["yes please"]\n'
    )
    result = cli(str(write_parquet(table)), "--mapping", str(tmp_path / "m.toml"))
    assert result.returncode == 2
    assert "only.is_test = 'yes please', but column 'is_test' holds booleans: use true or false." in result.stderr
    assert mock.requests == []


def test_a_mapping_typo_lists_every_column_and_the_one_it_meant(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text("order_id,customer_id,ordered_at,Total,currency,email,note\n1,c1,2024-03-01T10:00:00Z,1,E,e,n\n")
    (tmp_path / "m.toml").write_text(
        'name = "x"\nexternal_id = "customer_id"\ncreated_at = "ordered_at"\n[data]\ntotal = "totl"\n'
    )
    result = cli(str(source), "--mapping", str(tmp_path / "m.toml"))
    assert result.returncode == 2
    assert (
        "the source has no column(s) totl; it has order_id, customer_id, ordered_at, Total, currency, email, note. "
        "Did you mean 'Total' for 'totl'?"
    ) in result.stderr
    assert mock.requests == []


def test_a_table_named_in_another_case_is_suggested(cli: Cli, mock: MockSpotzee, pg: Any) -> None:
    url, conn, schema = pg
    conn.execute(f'CREATE TABLE {schema}."Orders" (order_id int PRIMARY KEY, customer_id int, ordered_at timestamptz)')
    result = cli(url, "--table", f"{schema}.orders", "--preset", "orders")
    assert result.returncode == 2
    assert result.stderr.rstrip().endswith(f"does not exist. Did you mean --table {schema}.Orders?")


def test_the_summary_counts_the_retries_of_the_chunk_that_stopped_the_run(
    cli: Cli, write_parquet: Any, tmp_path: Path
) -> None:
    with socket.socket() as closed:  # a port nothing listens on: every connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    report = tmp_path / "r.json"
    result = cli(str(write_parquet(orders(2))), "--preset", "orders", "--base-url", f"http://127.0.0.1:{port}/api/client",
                 "--retry-budget", "2", "--concurrency", "1", "--report", str(report))  # fmt: skip
    assert result.returncode == 1
    logged = re.findall(r"after the connection failed: attempt (\d+)", result.stderr)
    assert logged and logged == [str(n) for n in range(2, len(logged) + 2)]
    r = json.loads(report.read_text())
    assert (r["requests"], r["retries"], r["retries_by_cause"]) == (
        len(logged) + 1, len(logged), {"connection": len(logged)}
    )  # fmt: skip
    assert f"requests {len(logged) + 1}, retries {len(logged)}," in result.stdout


def test_a_member_reference_that_matches_no_row_is_warned_of(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    props = {"utm": {"source": "news", "medium": "m"}}
    lines = [{"id": i, "user_id": "u1", "at": "2024-03-01T10:00:00Z", "props": props} for i in range(3)]
    (tmp_path / "calls.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "m.toml").write_text(
        'name = "visited"\nexternal_id = "user_id"\ncreated_at = "at"\n'
        '[data]\nsrc = "props.utm.sorce"\nmedium = "props.utm.medium"\n'
    )
    result = cli(str(tmp_path / "calls.jsonl"), "--mapping", str(tmp_path / "m.toml"))
    assert result.returncode == 0, result.stderr
    assert [e["data"] for e in mock.events] == [{"medium": "m"}] * 3
    assert result.stderr.count("matched no row") == 1
    assert (
        "'props.utm.sorce' matched no row of the first 3: check its spelling, or the property will be in no event. "
        "Did you mean 'props.utm.source'? Members there: props.utm.source, props.utm.medium."
    ) in result.stderr


def test_each_arrow_type_stands_for_the_types_kind_resend_reads_it_as() -> None:
    from spotzee_loader.mapping.column_types import column_kind
    from spotzee_loader.mapping.convert import JSON_TYPE

    types = [pa.int8(), pa.uint64(), pa.float32(), pa.decimal128(12, 2), pa.bool_(), pa.timestamp("us", tz="UTC"),
             pa.date32(), pa.string(), pa.struct([("a", pa.int64())]), pa.list_(pa.int64()), JSON_TYPE,
             pa.dictionary(pa.int32(), pa.string()), pa.null()]  # fmt: skip
    assert [column_kind(t) for t in types] == [
        "integer", "integer", "number", "number", "boolean", "timestamp",
        "string", "string", "json", "json", "json", "string", None,
    ]  # fmt: skip


def test_an_earlier_export_is_told_from_an_edited_file(tmp_path: Path) -> None:
    from spotzee_loader.pipeline.deadletter import is_earlier_export

    records = [b'{"row":1,"source":{"total":"N/A"}}', b'{"row":5,"source":{"total":"x"}}', b'{"row":9}']
    path = tmp_path / "dead.jsonl"
    path.write_bytes(records[0] + b"\n" + records[2] + b"\n")  # written when the job had two rejects
    assert is_earlier_export(path, records)
    path.write_bytes(records[0].replace(b"N/A", b"2.50") + b"\n" + records[2] + b"\n")  # a fix
    assert not is_earlier_export(path, records)
    path.write_bytes(records[2] + b"\n" + records[0] + b"\n")  # lines out of the loader's order
    assert not is_earlier_export(path, records)
