"""Operating a migration end to end: status, verify and resend against the mock server, through the CLI."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from spotzee_loader.api.mock import MockSpotzee

from .breakables import PrivateCluster
from .conftest import API_KEY, Cli
from .test_cli import orders, wait_for


def status(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "spotzee_loader", "status", "--checkpoint", str(cli.checkpoint), *args]
    return subprocess.run(cmd, env=cli.env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_cli(request: pytest.FixtureRequest, cli: Cli) -> Cli:
    """``cli`` checkpointing in the embedded SQLite file, or in a PostgreSQL store of its own (a private cluster:
    the job names here would meet other tests' in a shared database)."""
    if request.param == "postgresql":
        cli.checkpoint = request.getfixturevalue("private_pg").url  # type: ignore[assignment]
    return cli


def test_status_shows_every_job_with_its_state_progress_and_last_error(
    store_cli: Cli, mock: MockSpotzee, write_parquet
) -> None:
    cli = store_cli
    done = str(write_parquet(orders(250), "done.parquet"))
    assert cli(done, "--preset", "orders", "--job", "done").returncode == 0
    failed = cli(
        done, "--preset", "orders", "--job", "bad-key", "--restart", "--yes", "--allow-overlap", key="sk_wrong"
    )
    assert failed.returncode == 1

    slow = str(write_parquet(orders(20_000), "slow.parquet"))
    killed = cli.popen(slow, "--preset", "orders", "--job", "killed", "--rate-limit", "20")
    wait_for(lambda: mock.event_count >= 500)
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    running = cli.popen(slow, "--preset", "orders", "--job", "running", "--rate-limit", "20", "--allow-overlap")
    try:
        wait_for(lambda: mock.event_count >= 900)  # the second run is sending
        result = status(cli, "--json")
        assert result.returncode == 0, result.stderr
        jobs = {j["job"]: j for j in json.loads(result.stdout)}
        human = status(cli)
    finally:
        running.send_signal(signal.SIGTERM)
        running.wait(30)

    assert jobs["done"]["state"] == "finished"
    assert (jobs["done"]["rows_done"], jobs["done"]["rows_total"]) == (250, 250)
    assert jobs["done"]["events_sent"] + jobs["done"]["rejected"] == 250 and jobs["done"]["chunks"] == 3
    assert jobs["done"]["source"] == done and jobs["done"]["mapping"] == "preset:orders"  # absolute: any cwd

    assert jobs["bad-key"]["state"] == "failed"
    assert "API key" in jobs["bad-key"]["last_error"]
    assert jobs["bad-key"]["last_error_request_id"].startswith("req_")
    assert "sk_wrong" not in result.stdout

    assert jobs["killed"]["state"] == "stale"  # marked running, but no process holds it
    assert 0 < jobs["killed"]["rows_done"] < 20_000
    assert jobs["running"]["state"] == "running"
    assert jobs["running"]["last_moved_at"] >= jobs["killed"]["last_moved_at"]

    assert human.returncode == 0
    assert "killed" in human.stdout and "stale" in human.stdout and "re-run the same command" in human.stdout
    assert "request req_" in human.stdout


def test_status_of_a_store_that_is_away_is_one_sentence_after_a_short_wait(
    cli: Cli, private_pg: PrivateCluster
) -> None:
    private_pg.crash()
    cli.checkpoint = private_pg.url  # type: ignore[assignment]
    result = status(cli)
    assert result.returncode == 1, result.stderr
    assert (
        f"error: the checkpoint store {private_pg.url} is unreachable (connection failed: connection to server at "
        f'"127.0.0.1", port {private_pg.port} failed: Connection refused), tried for 5 s; nothing was done'
    ) in result.stderr
    assert "Traceback" not in result.stderr


def test_status_of_an_unknown_job_says_so(cli: Cli) -> None:
    result = status(cli, "nope")
    assert result.returncode == 2 and "no job 'nope'" in result.stderr


def test_verify_reconciles_per_day_and_flags_a_shortfall(
    cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path
) -> None:
    table = orders(3_000)  # one order a minute: three days
    path = str(write_parquet(table))
    assert cli(path, "--preset", "orders", "--job", "orders-2024").returncode == 0

    result = cli("verify", "orders-2024")
    assert result.returncode == 0, result.stderr
    assert "All 3 (day, event) pairs over 3 day(s) match: 3,000 events in the source and in Spotzee." in result.stdout
    as_json = cli("verify", "orders-2024", "--json")
    days = json.loads(as_json.stdout)["days"]
    # Rows without customer_id still have an anonymous_id: every row is an event.
    assert sum(d["source"] for d in days) == sum(d["spotzee"] for d in days) == 3_000 == mock.event_count
    assert [d["day"] for d in days] == sorted(d["day"] for d in days) and len(days) == 3

    # Spotzee has not processed a second load yet: the same days now show a shortfall, and verify says why.
    mock.configure({"processing_delay_s": 3600})
    more = pa.concat_tables([table, orders(500, first_id=10_000)])
    assert cli(str(write_parquet(more, "more.parquet")), "--preset", "orders", "--job", "more").returncode == 0
    late = cli("verify", "more")
    assert late.returncode == 4
    assert "differ" in late.stdout and "settling" in late.stdout
    shortfall = json.loads(cli("verify", "more", "--json").stdout)
    assert sum(d["difference"] for d in shortfall["days"]) == -500


def test_resend_sends_fixed_dead_letters_under_new_jobs(
    cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path
) -> None:
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    times = [(start + dt.timedelta(hours=i)).isoformat() for i in range(300)]
    actions = pa.table(
        {
            "action_id": [f"a{i}" for i in range(300)],
            "action": ["refuse_me" if i % 100 == 5 else "page_viewed" for i in range(300)],
            "occurred_at": ["2024-13-45" if i % 100 == 9 else times[i] for i in range(300)],
            "user_id": [f"u{i % 17}" for i in range(300)],
            "properties": ['{"plan": "pro", "seats": 3}'] * 300,
        }
    )  # fmt: skip
    mock.configure({"reject_names": ["refuse_me"]})
    dead = tmp_path / "dead.jsonl"
    first = cli(str(write_parquet(actions)), "--preset", "actions", "--dead-letter", str(dead), "--max-rejected", "9")
    assert first.returncode == 0, first.stderr
    records = [orjson.loads(line) for line in dead.read_text().splitlines()]
    assert len(records) == 6 and mock.event_count == 294
    assert {("source" in r, r["reason_code"]) for r in records} == {
        (True, "created_at_unparseable"),
        (False, "server_event_refused"),
    }

    # The user fixes the file: a real date for the loader's rejects, a new name for Spotzee's refusals.
    for r in records:
        if "source" in r and r.get("source"):
            r["source"]["occurred_at"] = "2024-03-02T10:30:00+01:00"
        else:
            r["event"]["name"] = "page_viewed_again"
    dead.write_text("".join(orjson.dumps(r).decode() + "\n" for r in records))
    mock.configure({"reject_names": []})

    result = cli("resend", str(dead), "--report", str(tmp_path / "resend.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Resending") == 2
    assert mock.event_count == 300
    resent = [e for e in mock.events if e["created_at"] == "2024-03-02T09:30:00.000Z"]
    assert len(resent) == 3 and {e["data"]["plan"] for e in resent} == {"pro"}
    renamed = [e for e in mock.events if e["name"] == "page_viewed_again"]
    fixed_events = [r["event"] for r in records if not r.get("source")]
    assert sorted(renamed, key=orjson.dumps) == sorted(fixed_events, key=orjson.dumps)  # exactly as sent, renamed
    original = {e["created_at"] for e in mock.events if e["name"] == "refuse_me"}
    assert original == set()  # never accepted under the refused name

    again = cli("resend", str(dead))
    assert again.returncode == 0 and mock.event_count == 300  # the same jobs, already finished
    assert "already finished" in again.stdout
    assert API_KEY not in result.stdout + result.stderr


def test_every_real_run_starts_with_the_plan_and_the_journeys_warning(
    cli: Cli, mock: MockSpotzee, write_parquet
) -> None:
    path = str(write_parquet(orders(1_000)))
    mock.configure({"script": ["ok"] * 3, "fail_rate": 1.0, "faults": ["503"]})
    first = cli(path, "--preset", "orders", "--retry-budget", "1", "--concurrency", "1")
    assert first.returncode == 1
    assert "Plan for job" in first.stderr and "1,000 rows in the source, 0 already sent" in first.stderr
    # created_at from the row groups' statistics, without reading the data
    assert "created_at from 2021-05-01 08:00 to 2021-05-02 00:39 UTC" in first.stderr
    assert "journeys" in first.stderr
    mock.configure({"fail_rate": 0.0})
    second = cli(path, "--preset", "orders")
    assert second.returncode == 0
    assert "300 already sent in earlier runs (resuming at row 300)" in second.stderr
    assert "rows read 700 (already sent in earlier runs 300)" in second.stdout  # the summary agrees with the plan
    assert second.stderr.count("No journey of this Spotzee project is live now (GET /journeys).") == 1
    third = cli(path, "--preset", "orders")  # nothing left to send: no warning of what it will not send
    assert third.returncode == 0 and "already finished" in third.stdout
    assert "journeys" not in third.stderr


def test_verify_job_asks_the_jobs_own_target_before_spotzee_base_url(
    cli: Cli, mock: MockSpotzee, write_parquet
) -> None:
    path = str(write_parquet(orders(500)))
    assert cli(path, "--preset", "orders", "--job", "sent-to-mock").returncode == 0
    # The shell now points elsewhere (nothing listens there): the job still verifies against where it went.
    cli.env["SPOTZEE_BASE_URL"] = "http://127.0.0.1:9/api/client"
    cmd = [sys.executable, "-m", "spotzee_loader", "verify", "sent-to-mock", "--checkpoint", str(cli.checkpoint)]
    done = subprocess.run(
        cmd, env={**cli.env, "SPOTZEE_API_KEY": API_KEY}, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"against {mock.base_url}" in done.stdout


def test_dead_letters_are_read_back_from_a_postgresql_store(
    cli: Cli, mock: MockSpotzee, write_parquet, private_pg: Any, tmp_path: Path
) -> None:
    from .test_chaos import _orders_with_gaps

    bad = {i + 1 for i in range(3_000) if i % 10 == 3}  # the rows without a time
    dead = tmp_path / "dead.jsonl"
    cli.checkpoint = private_pg.url  # type: ignore[assignment]
    args = [str(write_parquet(_orders_with_gaps(3_000))), "--preset", "orders", "--job", "gaps",
            "--dead-letter", str(dead), "--max-rejected", "1000"]  # fmt: skip
    assert cli(*args).returncode == 0
    records = [json.loads(line) for line in dead.read_text().splitlines()]
    assert sorted(r["key"]["order_id"] for r in records) == sorted(bad)
    assert {r["reason_code"] for r in records} == {"created_at_missing"}
    dead.unlink()
    # A re-run sends nothing and writes them again from the store alone.
    again = cli(*args)
    assert again.returncode == 0 and mock.event_count == 3_000 - len(bad)
    assert [json.loads(line) for line in dead.read_text().splitlines()] == records
    jobs = {j["job"]: j for j in json.loads(status(cli, "--json").stdout)}
    assert (jobs["gaps"]["state"], jobs["gaps"]["events_sent"], jobs["gaps"]["rejected"]) == (
        "finished",
        3_000 - len(bad),
        len(bad),
    )
