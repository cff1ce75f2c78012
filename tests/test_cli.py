"""The real CLI in a subprocess against the mock Spotzee on loopback."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from spotzee_loader.api.mock import MockSpotzee
from spotzee_loader.config import DEFAULT_CONCURRENCY

from .conftest import API_KEY, Cli, kill_once_sending, wait_for_events

START = dt.datetime(2021, 5, 1, 8, 0, 0)


def orders(n: int, first_id: int = 1) -> pa.Table:
    """Orders as pandas would write them: customer ids with nulls become float64."""
    frame = pd.DataFrame(
        {
            "order_id": range(first_id, first_id + n),
            "customer_id": [None if i % 50 == 7 else 36901 + i for i in range(n)],
            "ordered_at": [START + dt.timedelta(minutes=i, milliseconds=i % 1000) for i in range(n)],
            "currency": ["EUR"] * n,
        }
    )
    frame.loc[frame["customer_id"].isna(), "customer_id"] = None
    frame["anonymous_id"] = [f"anon-{i}" for i in range(n)]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    totals = pa.array([decimal.Decimal(f"{194029 + i}.55") for i in range(n)], pa.decimal128(12, 2))
    return table.append_column("total", totals)


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def order_ids(mock: MockSpotzee) -> Counter[int]:
    return Counter(e["data"]["order_id"] for e in mock.events)


def test_every_row_arrives_once_with_exact_values(cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path) -> None:
    table = orders(1234)
    assert table.schema.field("customer_id").type == pa.float64()  # the trap is really there
    path = write_parquet(table, row_group_size=300)
    report_path = tmp_path / "report.json"
    started = time.monotonic()
    result = cli(str(path), "--preset", "orders", "--report", str(report_path))
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert mock.event_count == 1234
    assert mock.statuses == {204: 13}
    events = sorted(mock.events, key=lambda e: e["data"]["order_id"])
    first = events[0]
    assert first == {
        "name": "order_placed",
        "external_id": "36901",
        "anonymous_id": "anon-0",
        "created_at": "2021-05-01T08:00:00.000Z",
        "data": {"order_id": 1, "currency": "EUR", "total": 194029.55},
    }
    assert events[7].get("external_id") is None and events[7]["anonymous_id"] == "anon-7"
    assert all("." not in e.get("external_id", "") for e in events)
    assert all(e["created_at"].endswith("Z") and len(e["created_at"]) == 24 for e in events)
    report = json.loads(report_path.read_text())
    assert report["status"] == "finished"
    assert (report["rows_read"], report["events_sent"], report["rejected"], report["requests"]) == (1234, 1234, 0, 13)
    assert report["retries"] == 0 and report["job"]
    assert 0 < report["duration_s"] < wall  # the run's own time, inside the process's
    assert API_KEY not in result.stdout + result.stderr + report_path.read_text()
    assert "1,234" in result.stdout
    # The summary's job line reads like the rest of it, not like a Python dict.
    assert "the job so far: 1,234 rows done, 1,234 events sent, 0 rejected" in result.stdout
    assert "{" not in result.stdout


def test_help_names_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spotzee_loader", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    head = result.stdout.split("positional arguments")[0]
    for command in ("status [JOB]", "verify JOB|SOURCE", "resend DEAD_LETTER.jsonl", "mock-server"):
        assert command in head, command


def test_created_at_of_every_row_matches_the_source(cli: Cli, mock: MockSpotzee, write_parquet) -> None:
    path = write_parquet(orders(300))
    assert cli(str(path), "--preset", "orders").returncode == 0
    got = {e["data"]["order_id"]: e["created_at"] for e in mock.events}
    expected = {
        i + 1: (START + dt.timedelta(minutes=i, milliseconds=i % 1000)).isoformat(timespec="milliseconds") + "Z"
        for i in range(300)
    }
    assert got == expected


def test_dirty_rows_are_dead_lettered_and_counts_add_up(
    cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path
) -> None:
    table = pa.table(
        {
            "order_id": list(range(10)),
            "customer_id": ["c0", None, "c2", "c3", "c4", "c5", "x" * 300, "c7", "c8", "c9"],
            "ordered_at": [
                "2024-01-01T00:00:00Z",
                "2024-01-01",
                "not a date",
                "2024-01-02",
                None,
                "2999-01-01",
                "2024-01-03",
                "2024-01-04",
                "2024-01-05",
                "2024-01-06",
            ],
            "kind": ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "refused", "ok", "ok"],
        }
    )
    mock.configure({"reject_names": ["refused"]})
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'name_column = "kind"\nexternal_id = "customer_id"\ncreated_at = "ordered_at"\nkey = ["order_id"]\n'
    )
    dead = tmp_path / "dead.jsonl"
    report_path = tmp_path / "r.json"
    result = cli(
        str(write_parquet(table)), "--mapping", str(mapping), "--dead-letter", str(dead), "--report", str(report_path)
    )
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    records = [json.loads(line) for line in dead.read_text().splitlines()]
    by_row = {r["row"]: r for r in records}
    assert sorted(by_row) == [1, 2, 4, 5, 6, 7]
    assert by_row[1]["reason_code"] == "id_missing" and by_row[1]["key"] == {"order_id": 1}
    assert by_row[2]["field"] == "created_at" and "not a date" in by_row[2]["reason"]
    assert by_row[4]["reason_code"] == "created_at_missing"
    assert by_row[5]["reason_code"] == "created_at_future"
    assert by_row[6]["reason_code"] == "id_too_long"
    assert by_row[7]["status"] == 422 and by_row[7]["code"] == "event_refused"
    # The row's key and the event's field, not the event's place in the request ("[3].name").
    assert (by_row[7]["key"], by_row[7]["field"]) == ({"order_id": 7}, "name")
    assert by_row[7]["request_id"].startswith("req_") and by_row[7]["event"]["name"] == "refused"
    assert by_row[2]["source"]["ordered_at"] == "not a date"
    assert sorted(e["external_id"] for e in mock.events) == ["c0", "c3", "c8", "c9"]
    report = json.loads(report_path.read_text())
    assert report["rows_read"] == report["events_sent"] + report["rejected"] == 10
    assert report["rejects_by_reason"] == {
        "created_at_future": 1,
        "created_at_missing": 1,
        "created_at_unparseable": 1,
        "id_missing": 1,
        "id_too_long": 1,
        "server_event_refused": 1,
    }
    again = cli(str(write_parquet(table)), "--mapping", str(mapping), "--dead-letter", str(dead), "--max-rejected", "6")
    assert again.returncode == 0, again.stderr
    assert len(dead.read_text().splitlines()) == 6  # the finished job's rejects, not written twice


def test_dry_run_sends_nothing_and_writes_no_checkpoint(
    cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    result = cli(str(write_parquet(orders(250))), "--dry-run", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert mock.requests == []
    assert not cli.checkpoint.exists()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 250 and lines[0]["name"] == "order_placed"
    assert "order_placed 250" in result.stdout
    assert "2021-05-01T08:00:00.000Z" in result.stdout
    assert "journeys" in result.stdout
    assert "preset 'orders'" in result.stderr  # detected, and said so


def test_kill_9_mid_run_then_resume_loses_nothing_and_duplicates_nothing(
    cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path
) -> None:
    mock.configure({"enforce_idempotency": True})  # the chunks in flight at the kill are replayed by key
    n = 30_000
    path = write_parquet(orders(n), row_group_size=2_000)
    proc = cli.popen(str(path), "--preset", "orders", "--rate-limit", "100", "--concurrency", "4")
    wait_for(lambda: mock.event_count >= 8_000 or proc.poll() is not None)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    sent_before = mock.event_count
    assert 8_000 <= sent_before < n
    report_path = tmp_path / "r.json"
    result = cli(str(path), "--preset", "orders", "--rate-limit", "0", "--report", str(report_path))
    assert result.returncode == 0, result.stderr
    counts = order_ids(mock)
    assert len(counts) == n and set(counts.values()) == {1}
    report = json.loads(report_path.read_text())
    assert report["resumed_from_row"] >= 6_000  # the finished part was not re-read
    assert report["rows_read"] == n - report["resumed_from_row"]
    assert report["job_totals"] == {"rows_done": n, "events_sent": n, "rejected": 0}
    # Re-sent chunks were at most the ones in flight at the kill (2 x concurrency), replayed by key.
    assert report["rows_skipped"] + report["events_sent"] == report["rows_read"]
    assert report["events_sent"] <= n - sent_before + 8 * 100


def test_kill_9_without_idempotency_bounds_duplicates_by_chunks_in_flight(
    cli: Cli, mock: MockSpotzee, write_parquet
) -> None:
    assert not mock.config.enforce_idempotency  # keys ignored, as on Spotzee's Main API today
    n = 20_000
    path = write_parquet(orders(n), row_group_size=1_000)
    proc = cli.popen(str(path), "--preset", "orders", "--rate-limit", "100", "--concurrency", "4")
    kill_once_sending(proc, mock, 5_000)  # the kill landed mid-run: exit -9, the run still going
    recorded_before = len(mock.events)
    assert recorded_before < n
    assert cli(str(path), "--preset", "orders", "--rate-limit", "0").returncode == 0
    counts = order_ids(mock)
    assert sorted(counts) == list(range(1, n + 1))
    duplicates = sum(c - 1 for c in counts.values())
    # Without idempotency the resume re-records the chunks that were in flight at the kill, and no more.
    assert duplicates == len(mock.events) - n and duplicates <= 2 * 4 * 100


def test_sigterm_saves_the_checkpoint_and_says_how_to_resume(cli: Cli, mock: MockSpotzee, write_parquet) -> None:
    n = 20_000
    path = write_parquet(orders(n))
    proc = cli.popen(str(path), "--preset", "orders", "--rate-limit", "100")
    wait_for(lambda: mock.event_count >= 2_000 or proc.poll() is not None)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "re-run the same command to resume" in stderr and "Traceback" not in stderr
    assert cli(str(path), "--preset", "orders", "--rate-limit", "0").returncode == 0
    counts = order_ids(mock)
    assert len(counts) == n and set(counts.values()) == {1}


def test_bad_key_stops_at_once_with_a_plain_sentence(cli: Cli, mock: MockSpotzee, write_parquet) -> None:
    secret = "sk_live_do_not_print_me"
    result = cli(str(write_parquet(orders(3_000))), "--preset", "orders", key=secret)  # 30 chunks in one batch
    assert result.returncode == 1
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "did not accept the API key" in error_lines[0] and "SPOTZEE_API_KEY" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert secret not in result.stdout + result.stderr
    assert len(mock.requests) <= 2 * DEFAULT_CONCURRENCY  # stopped at once, not after the whole file
    assert mock.event_count == 0


def test_a_base_url_without_the_client_api_path_is_one_sentence_about_base_url(
    cli: Cli, mock: MockSpotzee, write_parquet
) -> None:
    """The host right, ``/api/client`` forgotten: Spotzee (and the mock) answer 404 resource_missing; the run stops at
    once with a sentence naming --base-url (the mock once took any path ending in /events)."""
    wrong = mock.base_url.removesuffix("/api/client")
    result = cli(str(write_parquet(orders(300))), "--preset", "orders", "--base-url", wrong)
    assert result.returncode == 1, result.stderr[-2000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and re.fullmatch(
        re.escape(f"error: Spotzee has no endpoint at {wrong}/events (404 resource_missing, request ")
        + r"req_mock\d{8}"
        + re.escape(
            "); check --base-url: it is Spotzee's client API, ending in /api/client (the default is "
            "https://apix.spotzee.com/api/client)."
        ),
        error_lines[0],
    ), error_lines
    assert "Traceback" not in result.stderr and mock.event_count == 0


def test_api_key_from_the_environment(cli: Cli, mock: MockSpotzee, write_parquet) -> None:
    cli.env["SPOTZEE_API_KEY"] = API_KEY
    cli.env["SPOTZEE_BASE_URL"] = mock.base_url
    cmd = [sys.executable, "-m", "spotzee_loader", str(write_parquet(orders(10))), "--checkpoint", str(cli.checkpoint)]
    result = subprocess.run(cmd, env=cli.env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert mock.event_count == 10


def test_changed_mapping_under_the_same_job_stops_until_restart(
    cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path
) -> None:
    path = str(write_parquet(orders(150)))
    assert cli(path, "--preset", "orders", "--job", "orders-2021").returncode == 0
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'name = "purchase"\nexternal_id = "customer_id"\nanonymous_id = "anonymous_id"\n'
        'created_at = "ordered_at"\ndata_columns = "*"\n'
    )
    changed = cli(path, "--mapping", str(mapping), "--job", "orders-2021")
    assert changed.returncode == 1
    assert "mapping of job 'orders-2021' changed" in changed.stderr and "--restart" in changed.stderr
    assert mock.event_count == 150
    again = cli(path, "--mapping", str(mapping), "--job", "orders-2021", "--restart", "--yes")
    assert again.returncode == 0, again.stderr
    assert Counter(e["name"] for e in mock.events) == {"order_placed": 150, "purchase": 150}


def test_changed_source_under_the_same_job_stops(cli: Cli, mock: MockSpotzee, write_parquet) -> None:
    path = write_parquet(orders(100))
    assert cli(str(path), "--preset", "orders", "--job", "j").returncode == 0
    write_parquet(orders(101))
    result = cli(str(path), "--preset", "orders", "--job", "j")
    assert result.returncode == 1 and "source of job 'j' changed" in result.stderr


def test_rerun_of_a_finished_job_sends_nothing(cli: Cli, mock: MockSpotzee, write_parquet) -> None:
    path = str(write_parquet(orders(120)))
    assert cli(path, "--preset", "orders").returncode == 0
    requests_before = len(mock.requests)
    result = cli(path, "--preset", "orders")
    assert result.returncode == 0
    assert "already finished: nothing to send" in result.stdout
    assert len(mock.requests) == requests_before


def test_outage_past_the_retry_budget_exits_1_then_resumes(cli: Cli, mock: MockSpotzee, write_parquet) -> None:
    path = str(write_parquet(orders(400)))
    mock.configure({"script": ["ok", "ok"], "fail_rate": 1.0, "faults": ["503"]})
    result = cli(path, "--preset", "orders", "--retry-budget", "2", "--concurrency", "1")
    assert result.returncode == 1
    assert "retry budget" in result.stderr and "re-run" in result.stderr
    assert "Traceback" not in result.stderr
    assert mock.event_count == 200
    mock.configure({"fail_rate": 0.0})
    assert cli(path, "--preset", "orders").returncode == 0
    counts = order_ids(mock)
    assert len(counts) == 400 and set(counts.values()) == {1}


def test_a_directory_of_files_and_a_glob(cli: Cli, mock: MockSpotzee, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    for k in range(3):
        pq.write_table(orders(70, first_id=1 + 70 * k), folder / f"part-{k}.parquet")
    assert cli(str(folder), "--preset", "orders").returncode == 0
    assert len(order_ids(mock)) == 210
    mock.reset()
    assert cli(str(folder / "part-*.parquet"), "--preset", "orders", "--restart", "--yes").returncode == 0
    assert len(order_ids(mock)) == 210


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["missing.parquet"], "does not exist"),
        (["{data}", "--concurrency", "0"], "--concurrency must be at least 1"),
        (["{data}", "--output", "x.jsonl"], "--output only goes with --dry-run"),
        (["{data}", "--preset", "actions"], "preset 'actions' needs column(s) action"),
        (["{data}", "--mapping", "nowhere.toml"], "mapping file nowhere.toml does not exist"),
    ],
    ids=["no-source", "bad-concurrency", "output-without-dry-run", "preset-mismatch", "no-mapping-file"],
)
def test_usage_and_config_errors_exit_2_with_one_sentence(
    cli: Cli, write_parquet, args: list[str], fragment: str
) -> None:
    data = str(write_parquet(orders(5)))
    result = cli(*[a.replace("{data}", data) for a in args])
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_no_api_key_is_a_usage_error(cli: Cli, write_parquet) -> None:
    result = cli(str(write_parquet(orders(5))), key=None)
    assert result.returncode == 2 and "SPOTZEE_API_KEY" in result.stderr


def test_mock_server_command_serves_the_api(write_parquet, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["mock-server", "--port", str(port), "--api-key", "sk_cmd"]
    args += ["--key-rate-limit", "5", "--key-rate-window", "600"]
    server = subprocess.Popen(
        [sys.executable, "-m", "spotzee_loader", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening" in (server.stdout.readline() if server.stdout else "")
        cli = Cli(tmp_path, None)
        result = cli(str(write_parquet(orders(42))), "--base-url", f"http://127.0.0.1:{port}/api/client", key="sk_cmd")
        assert result.returncode == 0, result.stderr
        stats = requests.get(f"http://127.0.0.1:{port}/_mock/stats", timeout=5).json()
        assert stats["events"] == 42 and stats["statuses"] == {"204": 1}
        one = [{"name": "e", "external_id": "1", "created_at": "2024-01-01T00:00:00Z"}]
        url, auth = f"http://127.0.0.1:{port}/api/client/events", {"Authorization": "Bearer sk_cmd"}
        answer = requests.post(url, json=one, headers=auth, timeout=5)
        assert answer.status_code == 204
        # The load's POST and its GET /journeys (the plan's live journeys) count in the key's window, then this one.
        assert (answer.headers["X-RateLimit-Limit"], answer.headers["X-RateLimit-Remaining"]) == ("5", "2")
        assert 599 <= int(answer.headers["X-RateLimit-Reset"]) <= 600
    finally:
        server.terminate()
        server.wait(10)


def test_rehearsal_with_the_built_in_mock_server(tmp_path: Path) -> None:
    from spotzee_loader.examples import EXAMPLE_ORDERS

    cli = Cli(tmp_path, None)
    for _ in range(2):  # a rehearsal can be repeated: it keeps no job among the real ones
        result = cli(str(EXAMPLE_ORDERS), "--mock-server", key=None)
        assert result.returncode == 0, result.stderr
        assert "The mock Spotzee recorded 1,000 events." in result.stdout
        assert f"Rehearsal state (checkpoint, dead letters) in {cli.checkpoint.parent / 'spotzee-rehearsal'}" in (
            result.stdout
        )
    assert not cli.checkpoint.exists()  # the real store: never opened by a rehearsal
    status = subprocess.run(
        [sys.executable, "-m", "spotzee_loader", "status", "--checkpoint", str(cli.checkpoint), "--json"],
        env=cli.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == []


def test_same_input_gives_the_same_keys_and_bodies(cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path) -> None:
    mock.configure({"enforce_idempotency": True})  # a Spotzee that enforces keys replays the identical bodies
    path = str(write_parquet(orders(777), row_group_size=100))
    assert cli(path, "--preset", "orders", "--job", "det", "--concurrency", "3").returncode == 0
    first = sorted((r["key"], r["body_sha256"]) for r in mock.requests)
    # A fresh checkpoint store, the same job: every chunk is cut, keyed and encoded identically,
    # so the server replays all of them and records nothing new.
    other = str(tmp_path / "other.sqlite")
    assert cli(path, "--preset", "orders", "--job", "det", "--checkpoint", other).returncode == 0
    second = sorted((r["key"], r["body_sha256"]) for r in mock.requests[len(first) :])
    assert first == second and len(first) == 8
    assert mock.event_count == 777
    assert all(r.get("replayed") for r in mock.requests[len(first) :])


def test_the_api_key_never_reaches_the_checkpoint_or_dead_letters(
    cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path
) -> None:
    table = orders(50).set_column(2, "ordered_at", pa.array(["bad"] * 50))
    result = cli(str(write_parquet(table)), "--preset", "orders", "--report", str(tmp_path / "r.json"), "-v")
    assert result.returncode == 3
    state_files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert any(p.suffix == ".jsonl" for p in state_files) and any(p.suffix == ".sqlite" for p in state_files)
    for p in state_files:
        assert API_KEY.encode() not in p.read_bytes(), p
    assert API_KEY not in result.stdout + result.stderr


def test_a_mapping_naming_a_missing_column_is_one_sentence(cli: Cli, write_parquet, tmp_path: Path) -> None:
    mapping = tmp_path / "orders.toml"
    mapping.write_text('name = "order_placed"\nexternal_id = "customer"\ncreated_at = "ordered_at"\n')
    result = cli(str(write_parquet(orders(10))), "--mapping", str(mapping))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(mapping) in lines[0] and "no column(s) customer" in lines[0]
    assert "Fix the mapping" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        (402, "Spotzee says the project's quota is spent; raise the plan's quota, then re-run to resume"),
        (403, "Spotzee says this API key may not send events; use a key with event permissions"),
    ],
)
def test_a_spent_quota_or_a_refused_permission_stops_at_once_and_the_report_says_so(
    cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path, status: int, advice: str
) -> None:
    mock.configure({"script": ["ok", "ok", str(status)]})
    report = tmp_path / "report.json"
    result = cli(str(write_parquet(orders(1_000))), "--preset", "orders", "--concurrency", "1",
                 "--report", str(report))  # fmt: skip

    assert result.returncode == 1, result.stderr[-2000:]
    refused = mock.requests[2]
    code = {402: "quota_exceeded", 403: "permission_denied"}[status]
    sentence = f"{advice} ({status} {code}, request {refused['request_id']})."
    assert result.stderr.strip().splitlines()[-1] == f"error: {sentence}"
    assert mock.statuses == {204: 2, status: 1}  # stopped at once: not one request after the refusal
    assert sorted(order_ids(mock)) == list(range(1, 201))
    # The report is written after a failed run too, with the error and Spotzee's request id.
    r = json.loads(report.read_text())
    assert (r["status"], r["events_sent"], r["error"], r["error_request_id"]) == (
        "failed",
        200,
        sentence,
        refused["request_id"],
    )
    assert r["job_totals"] == {"rows_done": 200, "events_sent": 200, "rejected": 0}


def test_ctrl_c_finishes_in_flight_requests_and_a_second_one_abandons_them(
    cli: Cli, mock: MockSpotzee, write_parquet
) -> None:
    n = 20_000
    path = str(write_parquet(orders(n)))
    proc = cli.popen(path, "--preset", "orders", "--rate-limit", "100")
    wait_for_events(proc, mock, 2_000)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Stopping: finishing the requests in flight" in stderr and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted: stopped on request; every acknowledged chunk")
    assert mock.event_count < n

    # A second signal while the first is being honoured leaves at once (the in-flight requests are abandoned):
    # a stall of 60 s holds one request, so only the second signal can end the run quickly. The abandoned request
    # is recorded once the stall ends; the resume sends it again, which only a Spotzee enforcing keys replays.
    mock.configure({"script": ["stall"], "stall_s": 60.0, "enforce_idempotency": True})
    proc = cli.popen(path, "--preset", "orders", "--rate-limit", "100", "--timeout", "120")
    wait_for(lambda: not mock.config.script or proc.poll() is not None)  # the resumed run's first POST is stalled
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert proc.poll() is None  # the first signal waits for the stalled request
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=10)
    mock.stalls_released.set()
    assert proc.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "Stopping now; acknowledged chunks are checkpointed, re-run to resume."

    assert cli(path, "--preset", "orders", "--rate-limit", "0").returncode == 0
    ids = order_ids(mock)
    assert sorted(ids) == list(range(1, n + 1)) and set(ids.values()) == {1}
