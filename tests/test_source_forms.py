"""The sources people really have (issue 28): CSV dialects and encodings, and created_at in every form, each loaded
end to end through the CLI into the mock, with the exact events (ids, properties, created_at to the millisecond)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spotzee_loader.api.mock import MockSpotzee

from .conftest import Cli

BASE = 'name = "order_placed"\nexternal_id = "customer"\ncreated_at = "at"\ndata_columns = ["order_id", "city"]\n'


def _load(cli: Cli, tmp_path: Path, source: Path, mapping: str, job: str) -> Any:
    path = tmp_path / f"{job}.toml"
    path.write_text(mapping)
    return cli(str(source), "--mapping", str(path), "--job", job, "--max-rejected", "10")


def _events(mock: MockSpotzee) -> list[tuple[Any, ...]]:
    return sorted(
        (e["data"]["order_id"], e["external_id"], e["data"].get("city"), e["created_at"]) for e in mock.events
    )


def _dead(cli: Cli, job: str) -> list[dict[str, Any]]:
    path = Path(cli.checkpoint).parent / "dead-letter" / f"{job}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


EXPECTED = [
    (1, "c1", "Zürich", "2019-03-02T22:20:00.000Z"),
    (2, "c2", "Malmö", "2019-03-03T08:05:09.000Z"),
]
ROWS = [("1", "c1", "Zürich", "2019-03-02T22:20:00Z"), ("2", "c2", "Malmö", "2019-03-03T08:05:09Z")]


def _csv(rows: list[tuple[str, ...]], delimiter: str = ",", header: bool = True) -> str:
    lines = [delimiter.join(("order_id", "customer", "city", "at"))] if header else []
    return "\n".join([*lines, *(delimiter.join(r) for r in rows)]) + "\n"


# -- CSV as it comes ------------------------------------------------------------------------------


def test_a_semicolon_csv_is_read_by_its_sniffed_delimiter(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_text(_csv(ROWS, ";"))
    result = _load(cli, tmp_path, source, BASE, "semicolons")
    assert result.returncode == 0, result.stderr
    assert _events(mock) == EXPECTED
    assert "the delimiter is ';' (found from its first lines" in result.stderr


def test_a_latin_1_file_is_named_where_it_breaks_then_loads_with_its_encoding(
    cli: Cli, mock: MockSpotzee, tmp_path: Path
) -> None:
    source = tmp_path / "latin.csv"
    source.write_bytes(_csv(ROWS).encode("latin-1"))
    refused = _load(cli, tmp_path, source, BASE, "latin")
    assert refused.returncode == 2
    line_2_offset = len(b"order_id,customer,city,at\n1,c1,Z")
    assert (
        f"{source} is not a readable CSV file (line 2 (byte {line_2_offset:,}) holds b'\\xfcrich,20', which is not "
        'utf-8-sig; encoding = "cp1252" (Windows, Excel) fits it, "latin-1" if it came from elsewhere: set encoding '
        "in the mapping's [csv] table)"
    ) in refused.stderr
    assert mock.events == []
    loaded = _load(cli, tmp_path, source, BASE + '[csv]\nencoding = "latin-1"\n', "latin")
    assert loaded.returncode == 0, loaded.stderr
    assert _events(mock) == EXPECTED


def test_cp1252_pipes_without_quotes_and_a_backslash_escape(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    source = tmp_path / "pipes.csv"
    text = 'order_id|customer|city|at\n1|c1|"Zürich" \\| €|2019-03-02T22:20:00Z\n2|c2|Malmö|2019-03-03T08:05:09Z\n'
    source.write_bytes(text.encode("cp1252"))
    dialect = '[csv]\ndelimiter = "|"\nquote = ""\nescape = "\\\\"\nencoding = "cp1252"\n'
    result = _load(cli, tmp_path, source, BASE + dialect, "pipes")
    assert result.returncode == 0, result.stderr
    assert _events(mock) == [(1, "c1", '"Zürich" | €', EXPECTED[0][3]), EXPECTED[1]]


def test_a_file_without_header_after_a_banner_takes_the_mapping_s_column_names(
    cli: Cli, mock: MockSpotzee, tmp_path: Path
) -> None:
    source = tmp_path / "banner.csv"
    source.write_text("Orders export\ngenerated 2019-03-04\n" + _csv(ROWS, header=False))
    dialect = '[csv]\nheader = false\ncolumns = ["order_id", "customer", "city", "at"]\nskip_rows = 2\n'
    result = _load(cli, tmp_path, source, BASE + dialect, "banner")
    assert result.returncode == 0, result.stderr
    assert _events(mock) == EXPECTED


def test_byte_order_marks_pick_the_encoding(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    folder_8, folder_16 = tmp_path / "utf8", tmp_path / "utf16"
    folder_8.mkdir()
    folder_16.mkdir()
    (folder_8 / "a.csv").write_bytes(_csv(ROWS).encode("utf-8-sig"))
    (folder_16 / "a.csv").write_bytes(_csv(ROWS).encode("utf-16"))
    for folder in (folder_8, folder_16):
        result = _load(cli, tmp_path, folder, BASE, folder.name)
        assert result.returncode == 0, result.stderr
    assert _events(mock) == sorted(EXPECTED * 2)


def test_a_bad_csv_table_is_a_mapping_error(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text(_csv(ROWS))
    for table, message in (
        ('[csv]\ndelimiter = ";;"\n', "csv.delimiter must be one character"),
        ("[csv]\nheader = false\n", "csv.header = false needs csv.columns"),
        ('[csv]\nencoding = "klingon"\n', "csv.encoding 'klingon' is not an encoding Python knows"),
        ("[csv]\nseparator = 1\n", "unknown key(s) csv.separator"),
    ):
        result = _load(cli, tmp_path, source, BASE + table, "bad")
        assert result.returncode == 2 and message in result.stderr, result.stderr
    assert mock.events == []


# -- created_at in every form ---------------------------------------------------------------------


def _times_csv(tmp_path: Path, name: str, times: list[str], extra: str = "") -> Path:
    source = tmp_path / name
    head = "order_id,customer,city,at" + ("," + extra if extra else "")
    source.write_text("\n".join([head, *(f"{i},c{i},X,{t}" for i, t in enumerate(times, 1))]) + "\n")
    return source


def test_a_created_at_format_with_zone_names_and_a_row_that_does_not_fit(
    cli: Cli, mock: MockSpotzee, tmp_path: Path
) -> None:
    times = ["2019/03/02 22:20:00", "2019/03/02 22:20:00 UTC", "2019/07/02 22:20:00 America/New_York", "02/03/2019"]
    source = _times_csv(tmp_path, "slashes.csv", times)
    mapping = BASE + 'timezone = "Europe/Paris"\ncreated_at_format = "%Y/%m/%d %H:%M:%S"\n'
    result = _load(cli, tmp_path, source, mapping, "slashes")
    assert result.returncode == 0, result.stderr
    assert [(e[0], e[3]) for e in _events(mock)] == [
        (1, "2019-03-02T21:20:00.000Z"),  # naive: the mapping's zone, Paris (UTC+1 in March)
        (2, "2019-03-02T22:20:00.000Z"),
        (3, "2019-07-03T02:20:00.000Z"),  # New York in July: UTC-4
    ]
    (dead,) = _dead(cli, "slashes")
    assert (dead["row"], dead["reason_code"], dead["field"]) == (3, "created_at_unparseable", "created_at")
    assert dead["reason"] == "column 'at' does not fit created_at_format '%Y/%m/%d %H:%M:%S': \"02/03/2019\""


def test_iso_text_with_a_trailing_zone_name_needs_no_format(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    times = ["2019-03-02 22:20:00 UTC", "2019-03-02 22:20:00.250 Europe/Paris", "2019-03-02T22:20:00 GMT"]
    result = _load(cli, tmp_path, _times_csv(tmp_path, "zones.csv", times), BASE, "zones")
    assert result.returncode == 0, result.stderr
    assert [e[3] for e in _events(mock)] == [
        "2019-03-02T22:20:00.000Z",
        "2019-03-02T21:20:00.250Z",
        "2019-03-02T22:20:00.000Z",
    ]


def test_epoch_numbers_in_each_unit_and_as_numeric_strings(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    instant = dt.datetime(2019, 3, 2, 22, 20, 0, 123_456, tzinfo=dt.UTC)
    seconds = instant.timestamp()
    # CSV: whole seconds (int64 once read), and a JSON Lines file holding them as strings with a fraction.
    refused = _load(cli, tmp_path, _times_csv(tmp_path, "whole.csv", ["1551565200"]), BASE, "epoch-no-unit")
    assert refused.returncode == 2
    assert "created_at column 'at' has type int64" in refused.stderr
    assert 'Epoch numbers: set created_at_unit = "s"' in refused.stderr
    csv_unit = _load(
        cli, tmp_path, _times_csv(tmp_path, "epoch.csv", ["1551565200", "x"]), BASE + 'created_at_unit = "s"\n', "s"
    )
    assert csv_unit.returncode == 0, csv_unit.stderr
    (dead,) = _dead(cli, "s")
    assert dead["reason"] == (
        "column 'at' is not a number of seconds since 1970-01-01 UTC within years 1..9999 (created_at_unit): \"x\""
    )
    jsonl = tmp_path / "epoch.jsonl"
    jsonl.write_text(json.dumps({"order_id": 10, "customer": "c10", "city": "X", "at": f"{seconds:.3f}"}) + "\n")
    assert _load(cli, tmp_path, jsonl, BASE + 'created_at_unit = "s"\n', "s-text").returncode == 0
    # Parquet: milliseconds, microseconds, nanoseconds as int64 columns.
    for n, (unit, value) in enumerate(
        [("ms", int(seconds * 1000)), ("us", int(seconds * 1_000_000)), ("ns", int(seconds * 1_000_000) * 1000)], 20
    ):
        path = tmp_path / f"epoch-{unit}.parquet"
        table = {"order_id": [n], "customer": [f"c{n}"], "city": ["X"], "at": pa.array([value], pa.int64())}
        pq.write_table(pa.table(table), path)
        result = _load(cli, tmp_path, path, BASE + f'created_at_unit = "{unit}"\n', f"epoch-{unit}")
        assert result.returncode == 0, result.stderr
    assert [(e[0], e[3]) for e in _events(mock)] == [
        (1, "2019-03-02T22:20:00.000Z"),
        (10, "2019-03-02T22:20:00.123Z"),
        (20, "2019-03-02T22:20:00.123Z"),
        (21, "2019-03-02T22:20:00.123Z"),
        (22, "2019-03-02T22:20:00.123Z"),
    ]


def test_a_date_column_with_a_time_column_beside_it_and_excel_serial_dates(
    cli: Cli, mock: MockSpotzee, tmp_path: Path
) -> None:
    source = tmp_path / "split.csv"
    source.write_text("order_id,customer,city,at,clock\n1,c1,X,2019-03-02,22:20:05.123\n2,c2,X,2019-03-03,25:00\n")
    mapping = BASE + 'created_at_time = "clock"\n'
    result = _load(cli, tmp_path, source, mapping, "split")
    assert result.returncode == 0, result.stderr
    (dead,) = _dead(cli, "split")
    assert dead["row"] == 1
    assert dead["reason"] == "columns 'at' and 'clock', joined by a space, do not fit ISO 8601: \"2019-03-03\""

    wall = dt.datetime(2019, 3, 2, 22, 20, 0)
    serial = (wall - dt.datetime(1899, 12, 30)).total_seconds() / 86_400
    excel = _times_csv(tmp_path, "excel.csv", [f"{serial:.8f}"])
    result = _load(cli, tmp_path, excel, BASE + 'created_at_unit = "excel"\ntimezone = "Europe/Paris"\n', "excel")
    assert result.returncode == 0, result.stderr
    assert [(e[0], e[3]) for e in _events(mock)] == [
        (1, "2019-03-02T21:20:00.000Z"),  # Excel's wall time, in the mapping's zone
        (1, "2019-03-02T22:20:05.123Z"),
    ]


# -- [types] on every source ------------------------------------------------------------------------

TYPED = (
    'name = "order_placed"\nexternal_id = "customer"\ncreated_at = "at"\nkey = ["order_id"]\n'
    'data_columns = ["order_id", "total", "gift", "shipped"]\n'
    '[types]\ntotal = "number"\ngift = "boolean"\nshipped = "timestamp"\norder_id = "integer"\n'
    '[booleans]\ntrue = ["Y", "yes"]\nfalse = ["N", "no"]\n'
)
TEXT_ROWS = [
    ("1", "c1", "2019-03-02T22:20:00Z", "$1,234.50", "Y", "2019-03-04 10:00:00 UTC"),
    ("2", "c2", "2019-03-02T22:21:00Z", "1,234.50 EUR", "no", "2019-03-05T10:00:00+01:00"),
    ("3", "c3", "2019-03-02T22:22:00Z", "N/A", "Y", None),
    ("4", "c4", "2019-03-02T22:23:00Z", "-€ 7.25", "maybe", None),
]
TYPED_EVENTS = [
    (1, 1234.5, True, "2019-03-04T10:00:00.000Z"),
    (2, 1234.5, False, "2019-03-05T09:00:00.000Z"),
]


def _typed_events(mock: MockSpotzee) -> list[tuple[Any, ...]]:
    return sorted(
        (e["data"]["order_id"], e["data"]["total"], e["data"]["gift"], e["data"]["shipped"]) for e in mock.events
    )


def _assert_typed_rejects(cli: Cli, job: str) -> None:
    dead = {d["row"]: d for d in _dead(cli, job)}
    assert sorted(dead) == [2, 3]
    assert dead[2]["reason"] == "column 'total' holds 'N/A', not a number (declared in the mapping's [types])"
    assert (
        dead[3]["reason"]
        == "column 'gift' holds 'maybe', not a boolean (true/false) (declared in the mapping's [types])"
    )
    assert dead[3]["source"]["gift"] == "maybe" and dead[2]["types"]["total"] == "number"


def test_types_read_text_columns_of_parquet(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    names = ["order_id", "customer", "at", "total", "gift", "shipped"]
    table = pa.table({n: pa.array([r[i] for r in TEXT_ROWS], pa.string()) for i, n in enumerate(names)})
    pq.write_table(table, tmp_path / "text.parquet")
    result = _load(cli, tmp_path, tmp_path / "text.parquet", TYPED, "pq-typed")
    assert result.returncode == 0, result.stderr
    assert _typed_events(mock) == TYPED_EVENTS
    _assert_typed_rejects(cli, "pq-typed")


def test_types_read_text_columns_of_a_database_table(cli: Cli, mock: MockSpotzee, pg: Any, tmp_path: Path) -> None:
    url, conn, schema = pg
    conn.execute(
        f"CREATE TABLE {schema}.orders (order_id int PRIMARY KEY, customer text, at timestamptz, total text, "
        "gift text, shipped text)"
    )
    for row in TEXT_ROWS:
        conn.execute(f"INSERT INTO {schema}.orders VALUES (%s, %s, %s, %s, %s, %s)", row)
    path = tmp_path / "pg.toml"
    path.write_text(TYPED)
    result = cli(url, "--table", f"{schema}.orders", "--mapping", str(path), "--job", "pg-typed", "--max-rejected", "5")
    assert result.returncode == 0, result.stderr
    assert _typed_events(mock) == TYPED_EVENTS
    _assert_typed_rejects(cli, "pg-typed")


# -- verify fits the sources ------------------------------------------------------------------------


def _verify(cli: Cli, mock: MockSpotzee, *args: str) -> Any:
    return cli("verify", *args, "--base-url", mock.base_url)


def test_verify_reads_a_query_file_and_a_csv_dialect_like_the_load(
    cli: Cli, mock: MockSpotzee, pg: Any, tmp_path: Path
) -> None:
    url, conn, schema = pg
    conn.execute(f"CREATE TABLE {schema}.orders (order_id int PRIMARY KEY, customer text, city text, at timestamptz)")
    for order_id, customer, city, at in ROWS:
        conn.execute(f"INSERT INTO {schema}.orders VALUES (%s, %s, %s, %s)", (int(order_id), customer, city, at))
    query = tmp_path / "orders.sql"
    query.write_text(f"SELECT * FROM {schema}.orders WHERE city <> 'Malmö'\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text(BASE + 'key = ["order_id"]\n')
    loaded = cli(url, "--sql-file", str(query), "--mapping", str(mapping), "--job", "by-query")
    assert loaded.returncode == 0, loaded.stderr
    assert _events(mock) == EXPECTED[:1]
    by_file = _verify(cli, mock, url, "--sql-file", str(query), "--mapping", str(mapping))
    assert by_file.returncode == 0, by_file.stdout + by_file.stderr
    assert "All 1 (day, event) pairs over 1 day(s) match: 1 events in the source and in Spotzee." in by_file.stdout
    whole = _verify(cli, mock, url, "--table", f"{schema}.orders", "--mapping", str(mapping))
    assert whole.returncode == 4 and "2019-03-03   order_placed                            1          0" in whole.stdout

    source = tmp_path / "export.csv"  # no header: only the mapping's [csv] names the columns
    source.write_text(_csv(ROWS[1:], ";", header=False))
    semis = tmp_path / "semis.toml"
    semis.write_text(BASE + '[csv]\nheader = false\ncolumns = ["order_id", "customer", "city", "at"]\n')
    assert cli(str(source), "--mapping", str(semis), "--job", "semis").returncode == 0
    assert _verify(cli, mock, "semis").returncode == 0
    assert _verify(cli, mock, str(source), "--mapping", str(semis)).returncode == 0


def test_rows_without_a_key_value_are_no_repeats_of_each_other(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    """A key column left empty names no row: two such rows are two events, not a duplicate_key reject."""
    source = tmp_path / "keys.csv"
    source.write_text(
        "order_id,customer,city,at\n1,c1,X,2019-03-02T22:20:00Z\n,c2,X,2019-03-02T22:21:00Z\n"
        ",c3,X,2019-03-02T22:22:00Z\n1,c4,X,2019-03-02T22:23:00Z\n"
    )
    mapping = tmp_path / "k.toml"
    mapping.write_text(
        'name = "order_placed"\nexternal_id = "customer"\ncreated_at = "at"\nkey = ["order_id"]\n'
        'data_columns = ["city"]\n'
    )
    result = cli(str(source), "--mapping", str(mapping), "--job", "keys", "--max-rejected", "5")
    assert result.returncode == 0, result.stderr
    assert sorted(e["external_id"] for e in mock.events) == ["c1", "c2", "c3"]
    assert [(d["row"], d["reason_code"]) for d in _dead(cli, "keys")] == [(3, "duplicate_key")]
