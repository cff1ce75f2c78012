"""The chaos suite (issue 17): the loader's dependencies fail mid-run, on real services, at moments the test proves
are mid-run, several times. Outages are ridden through in the same run; what a person must fix (a full disk) stops
the run with the exit code and sentence the README promises. Every case ends with every row delivered or
dead-lettered exactly once and the counts adding up.

(The source database's connection cut five times is in ``test_outages.py``.) Dead letters are written once, at
the end of a run, so their disk fills at that one moment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pyarrow as pa
import pytest

from spotzee_loader.api.mock import MockSpotzee

from .breakables import FlakyTcp, PrivateCluster
from .conftest import Cli, s3_client, wait_for_events
from .test_cli import order_ids, orders, wait_for

ROWS = 150_000


def _job_row(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as db:
        cursor = db.execute("SELECT state, prefix_row, rows_done, events_sent, rejected FROM spotzee_jobs")
        names = [c.name for c in cursor.description or ()]
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


def test_the_checkpoint_postgresql_restarted_twice_is_one_run(
    cli: Cli, mock: MockSpotzee, write_parquet: Any, private_pg: PrivateCluster, tmp_path: Path
) -> None:
    source = write_parquet(orders(ROWS), row_group_size=20_000)
    report = tmp_path / "report.json"
    proc = cli.popen(str(source), "--preset", "orders", "--checkpoint", private_pg.url, "--rate-limit", "300",
                     "--report", str(report))  # fmt: skip
    rng = random.Random()
    for restart in range(2):
        # A random moment in each half of the load, proven to be mid-run (the load still running, events flowing).
        wait_for_events(proc, mock, rng.randrange(20_000, 60_000) + restart * 70_000, timeout=120)
        private_pg.restart(mode=("fast", "immediate")[restart])  # a maintenance restart, then a crash
        assert proc.poll() is None, "the load ended before the store came back: the restart did not land mid-run"
    _, stderr = proc.communicate(timeout=300)

    assert proc.returncode == 0, stderr[-3000:]
    ids = order_ids(mock)
    assert sorted(ids) == list(range(1, ROWS + 1)) and set(ids.values()) == {1}
    # Each chunk went out once: the chunks acknowledged while the store was away were held and committed, not
    # resent (a resend would be an extra request, answered from Spotzee's replay).
    assert mock.statuses == {204: ROWS // 100}, mock.statuses
    assert stderr.count("is back after") == 2, stderr[-3000:]  # two outages of the store, each ridden through
    assert "internal error" not in stderr
    r = json.loads(report.read_text())
    assert (r["status"], r["events_sent"], r["rows_read"], r["rejected"]) == ("finished", ROWS, ROWS, 0)
    assert r["job_totals"] == {"rows_done": ROWS, "events_sent": ROWS, "rejected": 0}
    assert _job_row(private_pg.url) == {
        "state": "finished",
        "prefix_row": ROWS,
        "rows_done": ROWS,
        "events_sent": ROWS,
        "rejected": 0,
    }


def test_the_checkpoint_store_away_past_the_budget_stops_and_says_what_replays(
    cli: Cli, mock: MockSpotzee, write_parquet: Any, private_pg: PrivateCluster, tmp_path: Path
) -> None:
    source = write_parquet(orders(ROWS), row_group_size=20_000)
    args = [str(source), "--preset", "orders", "--checkpoint", private_pg.url, "--rate-limit", "200"]
    proc = cli.popen(*args, "--retry-budget", "3")
    wait_for_events(proc, mock, 30_000, timeout=120)
    private_pg.crash()  # the store goes away and stays away past the budget
    _, stderr = proc.communicate(timeout=120)

    assert proc.returncode == 1, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: the checkpoint store {private_pg.url} stayed unreachable for "), last
    assert "past the retry budget" in last and "could not be checkpointed" in last, last
    assert "Traceback" not in stderr and "internal error" not in stderr
    held = int(last.split(" chunks Spotzee acknowledged")[0].rsplit(" ", 1)[1].replace(",", ""))
    assert held > 0 and "may be recorded twice: source rows " in last and "more spans" not in last
    named = _named_ids(last)
    assert len(named) == 100 * held

    # Back up, the same command resumes: the held chunks are sent again. Spotzee's Main API ignores keys, so
    # exactly the events the sentence named arrive twice, and every other id once.
    private_pg.start()
    again = cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    ids = order_ids(mock)
    assert sorted(ids) == list(range(1, ROWS + 1))
    assert {i for i, count in ids.items() if count == 2} == named and set(ids.values()) <= {1, 2}
    assert _job_row(private_pg.url)["events_sent"] == ROWS


def _named_ids(sentence: str) -> set[int]:
    """The order ids of the source rows a stop sentence names as maybe recorded twice (ids are row positions + 1)."""
    named: set[int] = set()
    for span in sentence.split("source rows ")[1].rstrip(".").split(", "):
        first, final = (int(x.replace(",", "")) for x in span.split("-"))
        named |= set(range(first + 1, final + 2))
    return named


def _orders_with_gaps(rows: int) -> pa.Table:
    """Orders whose every tenth row has no time: those rows are rejects (dead letters), the rest are events."""
    table = orders(rows)
    times = table.column("ordered_at").to_pylist()
    gaps = pa.array([None if i % 10 == 3 else t for i, t in enumerate(times)], table.schema.field("ordered_at").type)
    return table.set_column(table.schema.get_field_index("ordered_at"), "ordered_at", gaps)


def test_a_full_dead_letter_disk_stops_with_one_sentence_and_the_rerun_writes_them(
    cli: Cli, mock: MockSpotzee, write_parquet: Any, small_disk: Any, tmp_path: Path
) -> None:
    rows, bad = 20_000, {i + 1 for i in range(20_000) if i % 10 == 3}  # order ids of the rows without a time
    source = write_parquet(_orders_with_gaps(rows))
    disk = small_disk(256)  # the 2,000 dead letters take about 1 MiB
    dead, report = disk.path / "dead.jsonl", tmp_path / "report.json"
    args = [str(source), "--preset", "orders", "--dead-letter", str(dead), "--max-rejected", "5000"]
    result = cli(*args, "--report", str(report))

    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"error: cannot write the dead letters to {dead} (No space left on device); they are kept in the checkpoint "
        f"store {cli.checkpoint}: free space (or choose another --dead-letter), then re-run the same command to "
        "write them."
    ), last
    assert "Traceback" not in result.stderr
    assert sorted(disk.path.iterdir()) == []  # no half-written file left behind
    ids = order_ids(mock)
    assert sorted(ids) == sorted(set(range(1, rows + 1)) - bad) and set(ids.values()) == {1}
    r = json.loads(report.read_text())
    assert (r["status"], r["rows_read"], r["events_sent"], r["rejected"]) == ("failed", rows, rows - len(bad), len(bad))
    assert r["error"] == last.removeprefix("error: ")

    disk.grow(4096)
    requests = len(mock.requests)
    again = cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(mock.requests) == requests  # nothing sent again
    records = [json.loads(line) for line in dead.read_text().splitlines()]
    assert sorted(r["key"]["order_id"] for r in records) == sorted(bad)


def test_a_full_checkpoint_disk_stops_the_run_and_the_rerun_sends_each_row_once(
    cli: Cli, mock: MockSpotzee, write_parquet: Any, small_disk: Any, tmp_path: Path
) -> None:
    rows, bad = ROWS, {i + 1 for i in range(ROWS) if i % 10 == 3}
    source = write_parquet(_orders_with_gaps(rows), row_group_size=20_000)
    disk = small_disk(2048)  # the 15,000 rejects take about 8 MiB in the store: it fills mid-run
    checkpoint, dead = disk.path / "checkpoints.sqlite", tmp_path / "dead.jsonl"
    args = [str(source), "--preset", "orders", "--checkpoint", str(checkpoint), "--dead-letter", str(dead),
            "--max-rejected", "20000"]  # fmt: skip
    result = cli(*args)

    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: the checkpoint store {checkpoint} refused a write or read (database or disk is "
                           "full); fix it (free space, permissions), then re-run"), last  # fmt: skip
    assert "could not be checkpointed" in last and "Traceback" not in result.stderr
    sent_before = mock.event_count
    assert 0 < sent_before < rows - len(bad)  # it really stopped mid-run
    named = _named_ids(last) - bad  # the events that may be recorded twice (keys are ignored)

    disk.grow(65536)
    again = cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    ids = order_ids(mock)
    assert sorted(ids) == sorted(set(range(1, rows + 1)) - bad)
    assert {i for i, count in ids.items() if count == 2} == named and set(ids.values()) <= {1, 2}
    records = [json.loads(line) for line in dead.read_text().splitlines()]
    assert sorted(r["key"]["order_id"] for r in records) == sorted(bad)


def _behind_a_relay(cli: Cli, s3: dict[str, str], local: Path, key: str) -> FlakyTcp:
    """``local`` uploaded as ``s3://chaos/<key>``, and ``cli`` reaching the S3 server through a relay that can cut."""
    client = s3_client(s3)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket="chaos")
    client.upload_file(str(local), "chaos", key)
    host, port = s3["AWS_ENDPOINT_URL"].removeprefix("http://").split(":")
    relay = FlakyTcp((host, int(port)))
    cli.env.update({**s3, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{relay.port}"})
    return relay


def test_the_object_store_cut_three_times_mid_file_is_one_run(
    cli: Cli, mock: MockSpotzee, write_parquet: Any, s3: dict[str, str], tmp_path: Path
) -> None:
    rows = 60_000
    relay = _behind_a_relay(cli, s3, write_parquet(orders(rows), row_group_size=5_000), "orders.parquet")
    report = tmp_path / "report.json"
    rng = random.Random()
    # A row group is read every ~0.25 s at this pace.
    moments = [rng.randrange(5_000, 15_000) + cut * 17_000 for cut in range(3)]
    args = ["--rate-limit", "200", "--report", str(report)]
    _load_through_cuts(cli, mock, relay, "s3://chaos/orders.parquet", rows, moments, *args)
    r = json.loads(report.read_text())
    assert (r["status"], r["events_sent"], r["rows_read"]) == ("finished", rows, rows)


def _load_through_cuts(
    cli: Cli, mock: MockSpotzee, relay: FlakyTcp, url: str, rows: int, moments: list[int], *args: str
) -> str:
    """Loads ``url`` (ids 1..rows) while ``relay`` is cut once Spotzee has each of ``moments`` events, for 8 s
    from the loader's next read; asserts one run delivered every id once in one request per chunk, and saw and
    came back from each cut; returns stderr."""
    try:
        proc = cli.popen(url, "--preset", "orders", *args)
        for moment in moments:
            wait_for_events(proc, mock, moment, timeout=120)
            # Held 8 s from the first read that meets it: longer than the S3 SDK's own retries (they give up after
            # ~6 s of resets), so the loader's own retry must open the file again. Timed from the cut instead, a
            # reader with a few seconds of rows in hand met only its tail, which the SDK absorbed (failed in CI).
            relay.cut(8.0, from_first_try=True)
            assert proc.poll() is None, "the load ended before the cut"
        _, stderr = proc.communicate(timeout=300)
    finally:
        relay.close()
    assert proc.returncode == 0, stderr[-3000:]
    ids = order_ids(mock)
    assert sorted(ids) == list(range(1, rows + 1)) and set(ids.values()) == {1}
    assert mock.statuses == {204: rows // 100}, mock.statuses  # no chunk sent twice
    # Every cut is a dropped read the loader retried, ending in exactly one "is back".
    episodes, away = 0, False
    for line in stderr.splitlines():
        if f"the object store ({url}) dropped the read" in line and not away:
            episodes, away = episodes + 1, True
        elif f"the object store ({url}) is back after" in line:
            assert away, "back without having been away"
            away = False
    assert not away and episodes == len(moments), stderr[-3000:]
    return stderr


def test_gzipped_json_lines_in_object_storage_cut_mid_file_is_one_run(
    cli: Cli, mock: MockSpotzee, tmp_path: Path, s3: dict[str, str]
) -> None:
    # JSON Lines are read 1 MiB at a time as the load goes (Arrow's CSV reader reads ~32 MiB ahead, which a
    # test file would have to outgrow); the retry is the same for both: read the stream again from its start.
    rows = 200_000
    local = tmp_path / "orders.jsonl.gz"
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    lines = (
        orjson.dumps({"order_id": i, "customer_id": i % 97, "ordered_at": start + dt.timedelta(seconds=i),
                      "note": f"order {i:08d} of the chaos suite"})
        for i in range(1, rows + 1)
    )  # fmt: skip
    local.write_bytes(gzip.compress(b"\n".join(lines)))
    relay = _behind_a_relay(cli, s3, local, "orders.jsonl.gz")
    # The rows read twice are handed on once.
    url, moments = "s3://chaos/orders.jsonl.gz", [random.randrange(20_000, 100_000)]
    _load_through_cuts(cli, mock, relay, url, rows, moments, "--rate-limit", "400")


def test_an_object_store_down_when_the_run_starts_is_waited_for(
    cli: Cli, mock: MockSpotzee, write_parquet: Any, s3: dict[str, str]
) -> None:
    relay = _behind_a_relay(cli, s3, write_parquet(orders(3_000)), "start.parquet")
    try:
        # Down for 9 s from the loader's first try: past the S3 SDK's own retries (~6 s), so the loader must wait.
        # (Timed from the cut, a loader slow to start on a busy machine met a store already back.)
        relay.cut(9.0, from_first_try=True)
        result = cli("s3://chaos/start.parquet", "--preset", "orders")
    finally:
        relay.close()

    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(order_ids(mock)) == list(range(1, 3_001)) and mock.statuses == {204: 30}
    assert "the object store (s3://chaos/start.parquet) is unreachable: " in result.stderr
    assert "the object store (s3://chaos/start.parquet) is back after" in result.stderr


def _orders_table(url: str, rows: int) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE orders (order_id bigint PRIMARY KEY, customer_id bigint, ordered_at timestamptz)")
        db.execute(
            "INSERT INTO orders SELECT i, i % 97, timestamptz '2024-01-01 00:00+00' + i * interval '1 minute' "
            f"FROM generate_series(1, {rows}) AS i"
        )


def test_databases_down_when_the_run_starts_are_waited_for(
    cli: Cli, mock: MockSpotzee, private_pg: PrivateCluster
) -> None:
    # The warehouse and the checkpoint store (one cluster) are restarting as the nightly run starts.
    _orders_table(private_pg.url, 5_000)
    private_pg.crash()
    args = [private_pg.url, "--table", "orders", "--preset", "orders", "--checkpoint", private_pg.url]
    proc = cli.popen(*args)
    # The databases come back once the loader has met them down (not after a fixed time: a loader slow to start on
    # a busy machine would meet them already back).
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    wait_for(lambda: any("is unreachable" in line for line in lines) or proc.poll() is not None, timeout=60)
    assert proc.poll() is None and mock.event_count == 0, "the run did not wait for its databases"
    private_pg.start()
    proc.wait(timeout=120)
    reader.join(timeout=10)
    stderr = "".join(lines)

    assert proc.returncode == 0, stderr[-3000:]
    ids = order_ids(mock)
    assert sorted(ids) == list(range(1, 5_001)) and set(ids.values()) == {1}
    assert f"the source database (postgresql+psycopg://postgres@127.0.0.1:{private_pg.port}/postgres) is " \
        "unreachable: connection failed" in stderr  # fmt: skip
    assert stderr.count("is back after") == 1, stderr[-3000:]
    assert _job_row(private_pg.url)["state"] == "finished"


def test_a_database_still_down_after_the_first_tries_is_exit_1_not_a_configuration_error(
    cli: Cli, mock: MockSpotzee, private_pg: PrivateCluster, write_parquet: Any
) -> None:
    _orders_table(private_pg.url, 500)
    private_pg.crash()
    port = private_pg.port
    store = ["--checkpoint", private_pg.url, "--retry-budget", "2"]

    source_down = cli(private_pg.url, "--table", "orders", "--preset", "orders", *store[2:])
    store_down = cli(str(write_parquet(orders(500))), "--preset", "orders", *store)

    for result, what, done in (
        (source_down, f"the source database postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", "sent"),
        (store_down, f"the checkpoint store postgresql://postgres@127.0.0.1:{port}/postgres", "done"),
    ):
        assert result.returncode == 1, result.stderr[-2000:]
        assert (
            f"error: {what} is unreachable (connection failed: connection to server at "
            f'"127.0.0.1", port {port} failed: Connection refused), tried for 2 s; nothing was {done}: run again '
            "once it is back (Airflow retries the task)."
        ) in result.stderr
    assert mock.requests == []

    private_pg.start()
    again = cli(private_pg.url, "--table", "orders", "--preset", "orders", *store)
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(order_ids(mock)) == list(range(1, 501))


@pytest.mark.parametrize("meanwhile", ["sending", "api-outage"])
def test_a_server_cutting_idle_sessions_never_frees_the_job_for_a_second_runner(
    cli: Cli, mock: MockSpotzee, write_parquet: Any, private_pg: PrivateCluster, meanwhile: str
) -> None:
    # PostgreSQL ends sessions idle for 2 s. The run's lock connection does nothing but hold the job's lock; through
    # an API outage (503s) nothing is acknowledged, so nothing is committed and the run sends the store no query.
    with psycopg.connect(private_pg.url, autocommit=True) as db:
        db.execute("ALTER SYSTEM SET idle_session_timeout = '2s'")
        db.execute("SELECT pg_reload_conf()")
    rows = 60_000
    args = [str(write_parquet(orders(rows))), "--preset", "orders", "--checkpoint", private_pg.url]
    first = cli.popen(*args, "--rate-limit", "60")
    wait_for_events(first, mock, 3_000, timeout=120)
    if meanwhile == "api-outage":
        mock.configure({"fail_rate": 1.0, "faults": ["503"]})
    time.sleep(4.5)  # over twice the timeout: an unkept lock connection is gone by now
    assert first.poll() is None, "the first run ended before the second started"

    # A retry budget of 3 s: a second runner that got the job would give up on the 503s quickly, not hang.
    second = cli(*args, "--retry-budget", "3")
    mock.configure({"fail_rate": 0.0})
    _, stderr = first.communicate(timeout=300)

    assert second.returncode == 1, second.stderr[-2000:]
    assert "is being run by another worker right now (PostgreSQL advisory lock held)" in second.stderr
    assert first.returncode == 0, stderr[-3000:]
    ids = order_ids(mock)
    assert sorted(ids) == list(range(1, rows + 1)) and set(ids.values()) == {1}
    assert mock.statuses[204] == rows // 100, mock.statuses
