"""Nothing lost, nothing duplicated: faults of every kind, repeated kill -9, corrupt input, secrets."""

from __future__ import annotations

import dataclasses
import json
import random
import sqlite3
import ssl
import subprocess
from pathlib import Path

import pytest

from spotzee_loader.api.client import SpotzeeClient
from spotzee_loader.api.mock import MockConfig, MockSpotzee
from spotzee_loader.config import ApiSettings, NetworkSettings, Secret, plaintext_key_warning
from spotzee_loader.errors import TlsError

from .conftest import API_KEY, Cli, kill_once_sending
from .test_cli import order_ids, orders


def test_five_percent_faults_of_every_kind_deliver_each_event_once(
    cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path
) -> None:
    n = 30_000
    # Seed 3 draws all six kinds within the first 280 requests (the fault sequence is deterministic per seed).
    mock.configure(
        {
            "fail_rate": 0.05,
            "seed": 3,
            "stall_s": 1.0,
            "retry_after_s": 0.2,
            "faults": ["500", "503", "429", "drop", "stall", "ack_drop"],
        }
    )
    report_path = tmp_path / "r.json"
    result = cli(
        str(write_parquet(orders(n))),
        "--preset",
        "orders",
        "--rate-limit",
        "0",
        "--timeout",
        "0.5",
        "--confirm-wait",
        "5",
        "--report",
        str(report_path),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ids = order_ids(mock)
    assert sorted(ids) == list(range(1, n + 1)) and set(ids.values()) == {1}  # no loss, no duplicate
    report = json.loads(report_path.read_text())
    assert report["events_sent"] == mock.event_count == n  # the report matches what the server recorded
    assert report["rows_read"] == report["events_sent"] + report["rejected"]
    causes = set(report["retries_by_cause"])
    assert {"500", "503", "429"} <= causes, causes
    # Keys are ignored: every request that went out without an answer was checked in GET /events, not resent blind.
    unanswered = [r for r in mock.requests if r["status"] == 0 or r.get("dropped") or r.get("stalled")]
    recorded = [r for r in unanswered if r["status"] != 0]
    assert report["ambiguous_requests"] == len(unanswered) and len(recorded) >= 1 and len(unanswered) > len(recorded)
    assert report["ambiguous_confirmed"] == 100 * len(recorded)
    assert report["ambiguous_resent"] == 100 * (len(unanswered) - len(recorded))
    assert report["maybe_doubled"] == [] and mock.stats()["replays"] == 0


def test_answers_lost_after_the_request_went_out_are_checked_not_resent(
    cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path
) -> None:
    """Keys ignored (the Main API today): three requests recorded then their answers dropped, two dropped unrecorded.
    The recorded ones are found in GET /events and not sent again; the unrecorded ones are sent again once."""
    script = ["ok", "ack_drop", "ok", "drop", "ack_drop", "ok", "ack_drop", "drop"]
    mock.configure({"script": script, "processing_delay_s": 0.3})
    report_path = tmp_path / "r.json"
    result = cli(
        str(write_parquet(orders(2_000))),
        "--preset",
        "orders",
        "--concurrency",
        "1",
        "--confirm-wait",
        "3",
        "--report",
        str(report_path),
    )
    assert result.returncode == 0, result.stderr
    ids = order_ids(mock)
    assert sorted(ids) == list(range(1, 2_001)) and set(ids.values()) == {1}  # every event once, none twice
    report = json.loads(report_path.read_text())
    assert report["ambiguous_requests"] == 5
    assert report["ambiguous_confirmed"] == 300  # the three recorded batches, found
    assert report["ambiguous_resent"] == 200  # the two dropped unrecorded, sent again
    assert report["maybe_doubled"] == []
    # 20 chunks went to POST /events once each, and only the two unrecorded ones a second time.
    assert len(mock.requests) == 22
    assert [r["status"] for r in mock.requests if not r.get("dropped")].count(204) == 15 + 2
    assert "requests sent without an answer: 5; their events found recorded in Spotzee 300" in result.stdout


def test_twelve_kill_9_at_random_moments_then_resume(cli: Cli, mock: MockSpotzee, write_parquet) -> None:
    """Against a Spotzee that enforces keys (the contract's "once enforced"): the chunks in flight at each kill are
    replayed by key. With keys ignored, see the next test."""
    mock.configure({"enforce_idempotency": True})
    n = 200_000  # 12 runs at 100 req/s cannot finish it: every kill lands mid-job
    path = str(write_parquet(orders(n), row_group_size=3_000))
    rng = random.Random(20261122)
    for _ in range(12):
        proc = cli.popen(path, "--preset", "orders", "--rate-limit", "100", "--concurrency", "4")
        # Killed once this run has moved the job on by a random amount: proven to land mid-run, while sending
        # (kill_once_sending asserts the run was still going and died of the SIGKILL).
        kill_once_sending(proc, mock, mock.event_count + rng.randrange(300, 4_000), timeout=120)
        db = sqlite3.connect(cli.checkpoint)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
    assert mock.event_count < n  # twelve runs killed mid-job, none finished it
    final = cli(path, "--preset", "orders", "--rate-limit", "0")
    assert final.returncode == 0, final.stderr
    ids = order_ids(mock)
    assert sorted(ids) == list(range(1, n + 1)) and set(ids.values()) == {1}


def test_truncated_parquet_is_a_usage_error(cli: Cli, write_parquet) -> None:
    path = write_parquet(orders(500))
    path.write_bytes(path.read_bytes()[:-200])
    result = cli(str(path), "--preset", "orders")
    assert result.returncode == 2
    assert "is not a readable Parquet file" in result.stderr and "Traceback" not in result.stderr


def test_corrupt_data_pages_stop_with_a_clear_error_after_the_good_part(
    cli: Cli, mock: MockSpotzee, write_parquet
) -> None:
    path = write_parquet(orders(6_000), row_group_size=2_000, compression="snappy")
    raw = bytearray(path.read_bytes())
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(2).column(0)
    start = column.data_page_offset
    raw[start + 8 : start + 64] = b"\xff" * 56  # scribble over the last row group's first data page
    path.write_bytes(bytes(raw))
    dead = path.parent / "dead.jsonl"
    result = cli(str(path), "--preset", "orders", "--dead-letter", str(dead))
    assert result.returncode == 1
    assert f"cannot read row group 2 of {path} (its rows 4,000 and on" in result.stderr, result.stderr[-2000:]
    assert "Every row before that row group was delivered and checkpointed" in result.stderr
    assert "Traceback" not in result.stderr
    # Row groups 0 and 1 went out, every row exactly once; nothing of row group 2.
    ids = order_ids(mock)
    assert sorted(ids) == list(range(1, 4_001)) and set(ids.values()) == {1}
    again = cli(str(path), "--preset", "orders", "--dead-letter", str(dead))  # resumes at the bad row group
    assert again.returncode == 1 and "row group 2" in again.stderr
    assert sum(order_ids(mock).values()) == 4_000


def test_the_key_never_leaks_at_any_verbosity(cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path) -> None:
    import pyarrow as pa

    table = orders(800)
    times = ["not a time"] + [t.isoformat() for t in table.column("ordered_at").to_pylist()[1:]]
    dirty = table.set_column(table.schema.get_field_index("ordered_at"), "ordered_at", pa.array(times))
    mock.configure({"script": ["500", "ok", "429"], "retry_after_s": 0.1})
    result = cli(str(write_parquet(dirty)), "--preset", "orders", "-vv", "--report", str(tmp_path / "r.json"))
    assert result.returncode == 3
    everything = result.stdout + result.stderr
    for p in tmp_path.rglob("*"):
        if p.is_file() and p.suffix != ".parquet":
            everything += p.read_bytes().decode("utf-8", "replace")
    assert "DEBUG" in result.stderr  # really at the highest verbosity
    assert API_KEY not in everything


@pytest.mark.parametrize(
    ("url", "warns"),
    [
        ("https://apix.spotzee.com/api/client", False),
        ("http://127.0.0.1:8787/api/client", False),
        ("http://localhost/api/client", False),
        ("http://[::1]:80/api/client", False),
        ("http://spotzee.internal/api/client", True),
        ("http://10.0.0.5/api/client", True),
    ],
    ids=["https", "loopback", "localhost", "ipv6-loopback", "plain-http-host", "plain-http-ip"],
)
def test_plain_http_outside_loopback_warns(url: str, warns: bool) -> None:
    assert (plaintext_key_warning(url) is not None) == warns


def test_tls_certificates_are_verified(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl = f"openssl req -x509 -newkey rsa:2048 -nodes -keyout {key} -out {cert} -days 1 -subj /CN=127.0.0.1"
    subprocess.run([*openssl.split(), "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = MockSpotzee(MockConfig(api_key=API_KEY), tls=context).start()
    try:
        settings = ApiSettings(api_key=Secret(API_KEY), base_url=server.base_url, rate_limit=0)
        # A self-signed certificate is refused at once: no retries, no event sent, a sentence with the fix.
        with pytest.raises(TlsError, match=r"could not be verified.*REQUESTS_CA_BUNDLE or SSL_CERT_FILE"):
            SpotzeeClient(settings).deliver([b'{"name":"e","external_id":"1"}'], "k-tls")
        assert server.event_count == 0
        # Trusted through the CA bundle the edge read from the environment, the same server is accepted.
        trusted = dataclasses.replace(settings, network=NetworkSettings.from_env({"REQUESTS_CA_BUNDLE": str(cert)}))
        body = b'{"name":"e","external_id":"1","created_at":"2024-01-01T00:00:00.000Z"}'
        assert SpotzeeClient(trusted).deliver([body], "k-tls").accepted == 1
        assert server.event_count == 1
    finally:
        server.stop()


def test_user_sql_cannot_write(cli: Cli, mock: MockSpotzee, pg) -> None:
    url, conn, schema = pg
    conn.execute(f"CREATE TABLE {schema}.orders (order_id int PRIMARY KEY, customer_id int, ordered_at timestamptz)")
    conn.execute(f"INSERT INTO {schema}.orders VALUES (1, 1, now() - interval '1 day')")
    conn.execute(f"CREATE TABLE {schema}.audit (n int)")
    # A SELECT with a side effect: the query itself is legal, the write must not happen.
    conn.execute(
        f"CREATE FUNCTION {schema}.touch() RETURNS int LANGUAGE sql AS "
        f"'INSERT INTO {schema}.audit VALUES (1) RETURNING n'"
    )
    result = cli(url, "--sql", f"SELECT o.*, {schema}.touch() AS t FROM {schema}.orders o", "--preset", "orders")
    assert result.returncode == 2 and "read-only transaction" in result.stderr
    assert conn.execute(f"SELECT count(*) FROM {schema}.audit").fetchone() == (0,)
    assert mock.requests == []


def test_an_announced_key_window_holds_every_sender_until_its_reset(
    cli: Cli, mock: MockSpotzee, write_parquet, tmp_path: Path
) -> None:
    # 30 requests per 1-s window for the key, announced on every answer: four senders at 95 requests/s would
    # spend a window in a third of a second and collect 429s for the rest of it, unless all of them wait.
    mock.configure({"key_rate_limit": 30, "key_rate_window_s": 1.0})
    n = 9_000
    report_path = tmp_path / "r.json"
    source = str(write_parquet(orders(n)))

    result = cli(source, "--preset", "orders", "--concurrency", "4", "--report", str(report_path))

    assert result.returncode == 0, result.stderr[-2000:]
    ids = order_ids(mock)
    assert sorted(ids) == list(range(1, n + 1)) and set(ids.values()) == {1}
    assert mock.statuses == {204: n // 100}  # not one request over the key's window
    assert json.loads(report_path.read_text())["retries_by_cause"] == {}
    assert "Spotzee's window for this API key is used up (X-RateLimit-Remaining): every sender waits" in result.stderr
