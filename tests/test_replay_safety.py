"""A replay that cannot hurt (issue 27): a real sample first, replayed events marked."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from spotzee_loader.api.mock import MockSpotzee

from .conftest import API_KEY, Cli
from .test_cli import order_ids, orders


def _command(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "spotzee_loader", *args, "--checkpoint", str(cli.checkpoint)]
    env = {**cli.env, "SPOTZEE_API_KEY": API_KEY}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_sample_first_then_the_rest_nothing_twice(cli: Cli, mock: MockSpotzee, write_parquet: Any) -> None:
    path = str(write_parquet(orders(1_000), row_group_size=300))
    args = [path, "--preset", "orders", "--job", "sampled"]
    sample = cli(*args, "--limit", "250")
    assert sample.returncode == 0, sample.stderr
    assert order_ids(mock) == Counter(range(1, 251))
    assert "Stopped at --limit: check the sample with `spotzee-loader verify sampled`" in sample.stdout
    status = _command(cli, "status", "sampled", "--json")
    (job,) = json.loads(status.stdout)
    assert (job["state"], job["rows_done"], job["events_sent"]) == ("limited", 250, 250)

    # verify checks what the sample sent, not the whole source.
    verified = _command(cli, "verify", "sampled", "--base-url", mock.base_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verifying its first 250 rows" in verified.stdout
    assert "differ" not in verified.stdout

    rest = cli(*args)
    assert rest.returncode == 0, rest.stderr
    assert order_ids(mock) == Counter(range(1, 1_001))  # every order once
    assert "Stopped at --limit" not in rest.stdout


def test_a_sample_of_a_database_source_resumes_by_key(cli: Cli, mock: MockSpotzee, pg: Any, tmp_path: Path) -> None:
    from .test_warehouse import make_orders, mapping_file

    url, conn, schema = pg
    make_orders(conn, f"{schema}.orders", 700)
    args = [url, "--table", f"{schema}.orders", "--mapping", mapping_file(tmp_path), "--job", "pg-sample"]
    assert cli(*args, "--limit", "120").returncode == 0
    assert Counter(e["data"]["order_id"] for e in mock.events) == Counter(range(1, 121))
    assert cli(*args, "--limit", "300").returncode == 0
    assert Counter(e["data"]["order_id"] for e in mock.events) == Counter(range(1, 421))
    assert cli(*args).returncode == 0
    assert Counter(e["data"]["order_id"] for e in mock.events) == Counter(range(1, 701))


def test_replayed_events_carry_the_job_stamp(cli: Cli, mock: MockSpotzee, write_parquet: Any) -> None:
    path = str(write_parquet(orders(300)))
    result = cli(path, "--preset", "orders", "--job", "history-2019", "--stamp", "backfill_job")
    assert result.returncode == 0, result.stderr
    assert len(mock.events) == 300
    assert {e["data"]["backfill_job"] for e in mock.events} == {"history-2019"}
    # The stamp is part of the job: another stamp is another mapping, refused as such.
    other = cli(path, "--preset", "orders", "--job", "history-2019", "--stamp", "replayed_by")
    assert other.returncode == 1
    assert "the mapping of job 'history-2019' changed since it was checkpointed" in other.stderr
    # A stamp that a column already becomes is a mapping error before anything is sent.
    clash = cli(path, "--preset", "orders", "--job", "clash", "--stamp", "currency")
    assert clash.returncode == 2
    assert "the stamp property 'currency' is also the data property of column 'currency'" in clash.stderr
    assert len(mock.events) == 300


JOURNEYS = [
    {"id": 7, "name": "Win-back", "status": "live", "tags": ["retention"]},
    {"id": 8, "name": "Welcome", "status": "off", "tags": []},
    {"id": 9, "name": "Order follow-up", "status": "live", "tags": []},
    {"id": 10, "name": "Draft idea", "status": "draft", "tags": []},
]
LIVE = "'Order follow-up' (id 9); 'Win-back' (id 7, tags retention)"  # in the API's order


def test_the_live_journeys_are_named_before_the_first_event_leaves(
    cli: Cli, mock: MockSpotzee, write_parquet: Any
) -> None:
    mock.configure({"journeys": JOURNEYS})
    path = str(write_parquet(orders(300)))
    dry = cli(path, "--preset", "orders", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"Warning: 2 journey(s) of this Spotzee project are live: {LIVE}." in dry.stdout
    assert "The API does not say which event enters which journey, nor which trigger campaigns fire" in dry.stdout
    real = cli(path, "--preset", "orders")
    assert real.returncode == 0, real.stderr
    assert real.stderr.count(f"2 journey(s) of this Spotzee project are live: {LIVE}") == 1
    assert len(mock.events) == 300
    assert [r["path"] for r in mock.reads] == ["/api/client/journeys"] * 2  # one read each, paced like the rest


def test_no_live_journeys_refuses_to_send_while_any_is_live(cli: Cli, mock: MockSpotzee, write_parquet: Any) -> None:
    mock.configure({"journeys": JOURNEYS})
    path = str(write_parquet(orders(300)))
    refused = cli(path, "--preset", "orders", "--no-live-journeys")
    assert refused.returncode == 2
    assert f"2 journey(s) are live: {LIVE}; --no-live-journeys refuses to send while any is." in refused.stderr
    assert mock.requests == []
    mock.configure({"journeys": [j for j in JOURNEYS if j["status"] != "live"]})  # paused in Spotzee
    sent = cli(path, "--preset", "orders", "--no-live-journeys")
    assert sent.returncode == 0, sent.stderr
    assert len(mock.events) == 300


def test_a_key_that_may_not_read_journeys_degrades_to_the_warning(
    cli: Cli, mock: MockSpotzee, write_parquet: Any
) -> None:
    mock.configure({"journeys": JOURNEYS, "read_script": ["403"]})
    path = str(write_parquet(orders(300)))
    result = cli(path, "--preset", "orders")
    assert result.returncode == 0, result.stderr
    assert len(mock.events) == 300
    assert "Warning: Spotzee journeys triggered by these event names will see the events as they arrive" in (
        result.stderr
    )
    assert "(The live journeys could not be listed: " in result.stderr and "403" in result.stderr
    # And the option that needs them says it cannot tell, before sending anything.
    mock.configure({"read_script": ["403"]})
    strict = cli(path, "--preset", "orders", "--job", "strict", "--no-live-journeys", "--allow-overlap")
    assert strict.returncode == 2 and "--no-live-journeys cannot tell whether a journey is live" in strict.stderr
    assert len(mock.events) == 300


def test_a_key_that_repeats_in_a_file_is_rejected_not_sent_twice(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    header = "order_id,customer_id,ordered_at,total\n"
    rows = [f"{i},c{i},2024-03-01T10:{i:02d}:00Z,{i}.50" for i in range(1, 41)]
    rows[24] = "7,c7,2024-03-01T10:25:00Z,99.00"  # row 24 repeats order 7 (row 6)
    rows[39] = "12,c12,2024-03-01T10:40:00Z,1.00"  # row 39 repeats order 12 (row 11), in a later run
    source = tmp_path / "orders.csv"
    source.write_text(header + "\n".join(rows) + "\n")
    args = [str(source), "--preset", "orders", "--job", "dupes", "--max-rejected", "5"]
    dry = cli(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "duplicate_key 2" in dry.stdout
    first = cli(*args, "--limit", "30")  # the sample holds the first repeat; the rest holds the second
    assert first.returncode == 0, first.stderr
    rest = cli(*args)
    assert rest.returncode == 0, rest.stderr
    assert order_ids(mock) == Counter(
        i for i in range(1, 40) if i != 25
    )  # each order once: 7 and 12 from their first row
    assert {e["data"]["total"] for e in mock.events if e["data"]["order_id"] in (7, 12)} == {7.5, 12.5}
    dead_letter = cli.checkpoint.parent / "dead-letter" / "dupes.jsonl"
    letters = [json.loads(line) for line in dead_letter.read_text().splitlines()]
    assert [(d["row"], d["reason_code"], d["field"], d["key"]) for d in letters] == [
        (24, "duplicate_key", "order_id", {"order_id": 7}), (39, "duplicate_key", "order_id", {"order_id": 12})
    ]  # fmt: skip
    assert letters[0]["reason"].startswith('key {"order_id":7} repeats the key of row 6 (row 6 of ')


def test_a_second_copy_under_another_job_is_refused_unless_allowed(
    cli: Cli, mock: MockSpotzee, write_parquet: Any
) -> None:
    path = str(write_parquet(orders(1_440)))  # one order a minute over a day (2021-05-01 08:00 on)
    assert cli(path, "--preset", "orders", "--job", "first").returncode == 0
    assert len(mock.events) == 1_440
    renamed = cli(path, "--preset", "orders", "--job", "renamed")
    assert renamed.returncode == 2
    assert (
        "job 'renamed' would send rows that job 'first' already sent to " + mock.base_url.rstrip("/")
    ) in renamed.stderr
    assert (
        "resume that job with --job first, choose rows apart from theirs (a window that ends where theirs begins), "
        "or pass --allow-overlap"
    ) in renamed.stderr
    dry = cli(path, "--preset", "orders", "--job", "renamed", "--dry-run")
    assert dry.returncode == 0 and "The real run would stop here: job 'renamed' would send rows" in dry.stderr
    assert len(mock.events) == 1_440
    allowed = cli(path, "--preset", "orders", "--job", "renamed", "--allow-overlap")
    assert allowed.returncode == 0, allowed.stderr
    assert order_ids(mock) == Counter({i: 2 for i in range(1, 1_441)})  # asked for: two copies


def test_windows_that_meet_overlap_and_windows_apart_do_not(cli: Cli, mock: MockSpotzee, write_parquet: Any) -> None:
    path = str(write_parquet(orders(1_440)))
    morning = ["--since", "2021-05-01T08:00:00Z", "--until", "2021-05-01T12:00:00Z"]
    assert cli(path, "--preset", "orders", "--job", "morning", *morning).returncode == 0
    later = ["--since", "2021-05-01T12:00:00Z"]
    assert cli(path, "--preset", "orders", "--job", "later", *later).returncode == 0  # [12:00, ...): apart
    assert order_ids(mock) == Counter(range(1, 1_441))
    wide = cli(path, "--preset", "orders", "--job", "wide", "--since", "2021-05-01T11:00:00Z")
    assert wide.returncode == 2
    # Both overlap it; the job named is the one that moved last.
    assert (
        "job 'wide' would send rows that job 'later' (and 1 other job: `spotzee-loader status` lists them) already sent"
    ) in wide.stderr
    assert "its rows [2021-05-01T12:00:00+00:00, -), these [2021-05-01T11:00:00+00:00, -)" in wide.stderr
    assert order_ids(mock) == Counter(range(1, 1_441))


def test_a_migration_over_nights_a_nightly_query_loaded_is_refused(
    cli: Cli, mock: MockSpotzee, pg: Any, tmp_path: Path
) -> None:
    """The nightly job reads a query, the migration a table: the (shared PostgreSQL) store still sees they read the
    same rows. (The SQLite store answers the same jobs() the other tests here refuse from.)"""
    from .test_warehouse import make_orders, mapping_file

    url, conn, schema = pg
    make_orders(conn, f"{schema}.orders", 600)  # one order a minute from 2024-01-01 00:00 (ids 1..600)
    make_orders(conn, f"{schema}.archive", 60)
    mapping = ["--mapping", mapping_file(tmp_path), "--checkpoint", url]
    query = tmp_path / "nightly.sql"
    query.write_text(f"SELECT o.* FROM {schema}.orders AS o WHERE o.ordered_at >= :since AND o.ordered_at < :until")
    for night, (since, until) in enumerate((("04:00", "06:00"), ("06:00", "08:00"))):
        window = ["--since", f"2024-01-01T{since}:00Z", "--until", f"2024-01-01T{until}:00Z"]
        nightly = cli(url, "--sql-file", str(query), *mapping, "--job", f"nightly-{night}", *window)
        assert nightly.returncode == 0, nightly.stderr
    assert order_ids(mock) == Counter(range(241, 481))

    migration = [url, "--table", f"{schema}.orders", *mapping]
    refused = cli(*migration, "--job", "migration-all")
    assert refused.returncode == 2, refused.stderr
    assert (
        "job 'migration-all' would send rows that job 'nightly-1' (and 1 other job: `spotzee-loader status` lists "
        "them) already sent to " + mock.base_url.rstrip("/")
    ) in refused.stderr
    assert "its rows query [2024-01-01T06:00:00+00:00, 2024-01-01T08:00:00+00:00), these table " in refused.stderr
    other_table = cli(url, "--table", f"{schema}.archive", *mapping, "--job", "archive")
    assert other_table.returncode == 0, other_table.stderr  # another table of the same database: not refused
    assert len(mock.events) == 240 + 60
    before = cli(*migration, "--job", "migration-before", "--until", "2024-01-01T04:00:00Z")
    after = cli(*migration, "--job", "migration-after", "--since", "2024-01-01T08:00:00Z")
    assert before.returncode == 0 and after.returncode == 0, before.stderr + after.stderr
    assert order_ids(mock) == Counter(range(1, 601)) + Counter(range(1, 61))  # every order once, the archive's once


def test_restart_says_how_many_events_it_sends_again_and_wants_yes_off_a_terminal(
    cli: Cli, mock: MockSpotzee, write_parquet: Any
) -> None:
    path = str(write_parquet(orders(500)))
    assert cli(path, "--preset", "orders", "--job", "again").returncode == 0
    unasked = cli(path, "--preset", "orders", "--job", "again", "--restart")  # no terminal: stdin is not one
    assert unasked.returncode == 2
    assert (
        "--restart sends the 500 events job 'again' already sent again, under new keys (Spotzee keeps both); not "
        "confirmed, nothing sent (pass --yes to confirm without a terminal)."
    ) in unasked.stderr
    assert len(mock.events) == 500
    confirmed = cli(path, "--preset", "orders", "--job", "again", "--restart", "--yes")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "--restart sends the 500 events job 'again' already sent again" in confirmed.stderr
    assert order_ids(mock) == Counter({i: 2 for i in range(1, 501)})


def test_selections_meet_only_where_they_share_rows() -> None:
    import datetime as dt

    from spotzee_loader.config import SourceOptions
    from spotzee_loader.pipeline.overlap import overlapping, tables_read

    def day(d: int) -> dt.datetime:
        return dt.datetime(2024, 1, d, tzinfo=dt.UTC)

    slices = [
        SourceOptions(files=("a.parquet",), row_groups=(0, 2)),
        SourceOptions(files=("a.parquet",), row_groups=(2, 4)),
    ]
    assert not overlapping(*slices)  # a migration's slices: end to start
    assert overlapping(slices[0], SourceOptions(files=("a.parquet",), row_groups=(1, 3)))
    assert not overlapping(SourceOptions(files=("a.parquet",)), SourceOptions(files=("b.parquet",)))
    assert overlapping(SourceOptions(), SourceOptions(files=("b.parquet",)))  # the whole source holds b
    nights = [SourceOptions(since=day(1), until=day(2)), SourceOptions(since=day(2), until=day(3))]
    assert not overlapping(*nights)
    assert overlapping(nights[0], SourceOptions(until=day(5)))
    assert overlapping(SourceOptions(since=day(1)), SourceOptions(until=day(9)))
    assert not overlapping(SourceOptions(sql="SELECT 1"), SourceOptions(sql="SELECT 2"))  # no table read

    # A database: the table, or the tables a query reads (CTE names are not tables), by the parts both name.
    nightly = SourceOptions(
        sql="WITH o AS (SELECT * FROM shop.orders) SELECT * FROM o WHERE o.t >= :since AND o.t < :until",
        since=day(3), until=day(4),
    )  # fmt: skip
    assert tables_read(nightly, "postgres") == {("shop", "orders")}
    assert overlapping(SourceOptions(table="orders"), nightly, "postgres")
    assert overlapping(SourceOptions(table='shop."Orders"'), nightly, "postgres")
    assert not overlapping(
        SourceOptions(table="shop.orders", until=day(3)), nightly, "postgres"
    )  # ends where it begins
    assert not overlapping(SourceOptions(table="archive.orders"), nightly, "postgres")
    assert not overlapping(SourceOptions(table="o"), nightly, "postgres")  # the CTE
    joined = SourceOptions(sql="SELECT a.* FROM actions a JOIN (SELECT id FROM customers) c ON a.user_id = c.id")
    assert tables_read(joined, "postgres") == {("actions",), ("customers",)}
    assert overlapping(joined, SourceOptions(table="public.customers"), "postgres")
    assert tables_read(SourceOptions(sql="SELEKT nonsense ((("), "postgres") is None
    assert not overlapping(SourceOptions(sql="SELEKT nonsense((("), SourceOptions(table="orders"), "postgres")
