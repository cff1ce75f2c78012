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
